"""Hostile and broken input through ``arbtail`` end to end: every case is skipped and counted, or refused with a
clear one-line message and exit 2 — never a traceback. Log text with markup or control sequences is inert.
"""

from __future__ import annotations

import builtins
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from dashboard.reducer import Reducer
from dashboard.sources.jsonl import read_file
from dashboard.sources.lines import LineSplitter
from test_reducer import Events, mark, round_trip, started
from tools.arbtail import app

runner = CliRunner()


def lines_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def good_log() -> bytes:
    e = Events()
    opening, closing = round_trip(e)
    return lines_of(opening + closing)


def arbtail(*args: str | Path) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def once(path: Path) -> Any:
    return arbtail(path, "--once", "--width", "160")


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (b'{"v":1,"ts":"2026-03-10T12:00:59', "torn_line"),  # torn last line (no newline)
        (b"this is not json\n", "not_json"),
        (b'{"v":1,"message":"caf\xe9 \xff"}\n', "invalid_utf8"),
        (b"\x00\x00\x00\x00\n", "not_json"),  # NUL bytes
        (b"[1,2,3]\n", "not_object"),  # a JSON array
        (b"42\n", "not_object"),  # a JSON number
        (b'{"v":1,"ts":NaN}\n', "not_json"),  # NaN is not JSON
        (b'{"v":1,"price":Infinity}\n', "not_json"),
        (b'{"v":1,"event":"heartbeat"}\n', "missing_envelope"),  # missing fields
        (b'{"v":1,"ts":"2026-03-10T12:59:00","session_id":"s","seq":999,"event":"heartbeat"}\n',
         "naive_timestamp"),
    ],
)
def test_bad_line_is_skipped_counted_and_shown(tmp_path: Path, tail: bytes, reason: str) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(good_log() + tail)
    r = Reducer()
    read_file(path, r)
    assert r.stats.skipped == {reason: 1}
    assert r.stats.applied == 15  # the good lines all folded
    result = once(path)
    assert result.exit_code == 0
    assert "skipped lines: 1 (" in result.stdout and f"{reason} 1" in result.stdout


def test_wrong_typed_fields_unknown_event_newer_version_duplicates(tmp_path: Path) -> None:
    e = Events()
    evs = [started(e), mark(e, "binance", "100")]
    bad = mark(e, "binance", "101")
    bad["mark_price"] = 101.5  # a float is never money
    future = e("wormhole.opened", "from the future", "info")
    newer = e("heartbeat", "v2 heartbeat", "info")
    newer["v"] = 2
    dup = mark(e, "bybit", "100.1")
    older = dict(dup, seq=2)
    path = tmp_path / "s.jsonl"
    path.write_bytes(lines_of([*evs, bad, future, newer, dup, dup, older]))
    r = Reducer()
    read_file(path, r)
    assert r.stats.rejected == {"bad_field": 1}
    assert r.stats.unknown == {"unknown_event": 1, "newer_version": 1}
    assert r.stats.skipped == {"duplicate_seq": 1, "out_of_order_seq": 1}
    out = once(path).stdout
    assert "unknown event wormhole.opened" in out


def test_fifty_megabyte_line_is_skipped_without_buffering_it(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with open(path, "wb") as fh:
        fh.write(good_log())
        fh.write(b'{"v":1,"message":"' + b"x" * (50 * 1024 * 1024) + b'"}\n')
        fh.write(lines_of([{**Events()("heartbeat", "", "info"), "seq": 1000}]))
    r = Reducer()
    read_file(path, r)
    assert r.stats.skipped == {"too_long": 1}
    assert r.stats.applied == 16


def test_splitter_drops_an_overlong_line_as_it_streams() -> None:
    skips: list[tuple[str, str]] = []
    s = LineSplitter(lambda reason, detail: skips.append((reason, detail)), max_line_bytes=10)
    assert s.feed(b"ok\n" + b"y" * 30) == [b"ok"]
    assert s.pending == 30 and s.feed(b"z" * 30) == []  # still dropping, nothing buffered
    assert s.feed(b"zz\nnext\n") == [b"next"]
    assert [r for r, _ in skips] == ["too_long"]


def test_a_file_of_nothing_but_bad_lines_is_refused(tmp_path: Path) -> None:
    """A binary file (or any file without a single event, e.g. a README) has nothing to show: a clear message
    naming what was skipped, exit 2, no empty dashboard. A log with some good lines still draws (above)."""
    for name, data in (("binary.jsonl", bytes(range(256)) * 64), ("README.md", b"# title\n\nsome text\n")):
        path = tmp_path / name
        path.write_bytes(data)
        result = once(path)
        assert result.exit_code == 2 and result.stdout == ""
        assert "no event in it" in result.stderr and "lines skipped" in result.stderr
        assert "session log" in result.stderr


def test_an_empty_file_is_refused_but_followed(tmp_path: Path) -> None:
    """Nothing to show in an empty file: one line, exit 2 (``--follow`` would wait for its events)."""
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    result = once(path)
    assert result.exit_code == 2 and result.stdout == ""
    assert "no event in it (the file is empty)" in result.stderr


@pytest.mark.parametrize("kind", ["missing", "directory", "unreadable", "bad_gzip"])
def test_unreadable_paths_are_refused_with_exit_2(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.jsonl"
    expect = {"missing": "no such file", "directory": "is a directory", "unreadable": "permission denied",
              "bad_gzip": "cannot read"}[kind]
    if kind == "directory":
        path.mkdir()
    elif kind == "unreadable":
        path.write_bytes(good_log())
        real_open = builtins.open

        def deny(file: Any, *a: Any, **kw: Any) -> Any:  # tests run as root: chmod 000 would not stop a read
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *a, **kw)

        monkeypatch.setattr(builtins, "open", deny)
    elif kind == "bad_gzip":
        path = tmp_path / "s.jsonl.gz"
        path.write_bytes(b"not gzip at all\n")
    result = once(path)
    assert result.exit_code == 2
    assert result.stderr.startswith("arbtail: ") and expect in result.stderr
    assert result.stdout == ""


def test_gzip_member_reads_like_plain(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(gzip.compress(good_log()))
    plain = tmp_path / "p.jsonl"
    plain.write_bytes(good_log())
    assert once(path).stdout == once(plain).stdout


HOSTILE = "[bold red]x[/] \x1b[2J\x1b]0;pwned\x07 bell\x07 cr\rover \x1b[31mred"


def test_markup_and_control_sequences_are_inert_in_every_output(tmp_path: Path) -> None:
    e = Events()
    evs = [started(e, strategy=HOSTILE), e("log.message", HOSTILE, "info"),
           e("risk.limit_hit", HOSTILE, "warning", limit="x", value="1")]
    path = tmp_path / "s.jsonl"
    path.write_bytes(lines_of(evs))
    out = once(path).stdout
    assert "[bold red]x[/]" in out  # shown literally, not styled
    for raw in ("\x1b", "\x07", "\r"):
        assert raw not in out
    assert "\\x1b" in out and "\\x07" in out
    grep = arbtail("grep", path, "--event", "log.message").stdout
    assert "\x1b" not in grep and "\x07" not in grep  # JSON escapes them
    assert orjson.loads(grep.splitlines()[0])["message"] == HOSTILE
    stats = arbtail("stats", path).stdout
    assert "\x1b" not in stats


def test_non_tty_output_has_no_cursor_control(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(good_log())
    for env in ({"TERM": "dumb"}, {"NO_COLOR": "1"}, {}):
        result = runner.invoke(app, [str(path)], env=env)  # CliRunner's stdout is not a TTY
        assert result.exit_code == 0
        assert "\x1b" not in result.stdout
        assert "P1" in result.stdout
