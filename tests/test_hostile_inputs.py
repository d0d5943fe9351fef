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
from events_builder import SID, Events, mark, round_trip, started
from typer.testing import CliRunner

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.sources.jsonl import read_file
from arbdash.dashboard.sources.lines import LineSplitter
from arbdash.tools.arbtail import app

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
        (b"\x00\x00\x00\x00\n", "nul_bytes"),  # NUL bytes (what copytruncate leaves)
        (b"[1,2,3]\n", "not_object"),  # a JSON array
        (b"42\n", "not_object"),  # a JSON number
        (b'{"v":1,"ts":NaN}\n', "not_json"),  # NaN is not JSON
        (b'{"v":1,"price":Infinity}\n', "not_json"),
        (b'{"v":1,"event":"heartbeat"}\n', "missing_envelope"),  # missing fields
        (
            b'{"v":1,"ts":"2026-03-10T12:59:00","session_id":"s","seq":999,"event":"heartbeat"}\n',
            "naive_timestamp",
        ),
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
    assert "no event in it (it is empty)" in result.stderr


@pytest.mark.parametrize("kind", ["missing", "directory", "unreadable", "bad_gzip"])
def test_unreadable_paths_are_refused_with_exit_2(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.jsonl"
    expect = {
        "missing": "no such file",
        "directory": "is a directory",
        "unreadable": "permission denied",
        "bad_gzip": "cannot read",
    }[kind]
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
    evs = [
        started(e, strategy=HOSTILE),
        e("log.message", HOSTILE, "info"),
        e("risk.limit_hit", HOSTILE, "warning", limit="x", value="1"),
    ]
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


# --- issue 10, item 6: reader defects found with hostile files ----------------------------------------------


def _heartbeat(seq: int) -> dict[str, Any]:
    return {**Events()("heartbeat", "", "info"), "seq": seq}


def test_a_copytruncate_hole_before_a_record_costs_only_the_nuls(tmp_path: Path) -> None:
    """A run of NULs directly followed by a record (no newline between: what ``copytruncate`` leaves) costs the
    NULs, counted as one ``nul_bytes`` skip, not the record after them — a short run and one longer than the
    reader's longest line (a real hole is as long as the file was), read in blocks and by ``arbtail --once``."""
    path = tmp_path / "s.jsonl"
    with open(path, "wb") as fh:
        fh.write(good_log())
        fh.write(b"\x00" * 4096 + lines_of([_heartbeat(1000)]))
        fh.write(b"\x00" * (17 * 1024 * 1024) + lines_of([_heartbeat(1001)]))
        fh.write(lines_of([_heartbeat(1002)]))
    r = Reducer()
    read_file(path, r)
    assert r.stats.skipped == {"nul_bytes": 2}
    assert r.stats.applied == 18 and r.state.last_seq == {SID: 1002}
    out = once(path).stdout
    assert "skipped lines: 2 (nul_bytes 2)" in out


def test_splitter_keeps_the_line_after_an_overlong_nul_run() -> None:
    """The splitter drops an over-long line as it streams, but a line that is an over-long run of NULs and then a
    line of sane length keeps that line (the NULs are reported as ``nul_bytes``), whatever the chunking."""
    data = b"ok\n" + b"\x00" * 40 + b"line1\n" + b"\x00" * 25 + b"line2\n" + b"long" * 5 + b"\nnext\n"
    for feed in ("feed", "feed_block"):
        for step in (1, 3, 7):  # pieces shorter than the limit, as a file's blocks are
            skips: list[tuple[str, str]] = []
            s = LineSplitter(
                lambda reason, detail, skips=skips: skips.append((reason, detail)), max_line_bytes=10
            )
            got = b""
            for i in range(0, len(data), step):
                out = getattr(s, feed)(data[i : i + step])
                got += out if feed == "feed_block" else b"".join(x + b"\n" for x in out)
                assert s.pending <= len(data)
            s.finish("t")
            assert got == b"ok\nline1\nline2\nnext\n", (feed, step)
            assert [r for r, _ in skips] == ["nul_bytes", "nul_bytes", "too_long"], (feed, step)
            assert skips[0][1].startswith("40 NUL bytes") and skips[1][1].startswith("25 NUL bytes")


def test_a_byte_order_mark_does_not_cost_the_first_line(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark at the start of a file (an editor adds one) is not a line's first bytes: the
    first event (``session.started``) folds — a plain file, a rotated set's first member (also ``.gz``) and the
    newest member, by ``read_file``, ``arbtail --once`` and ``arbtail stats``."""
    bom = b"\xef\xbb\xbf"
    data = good_log()
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(data)
    want = Reducer()
    read_file(plain, want)
    cut = data.index(b"\n", len(data) // 2) + 1
    cases = {
        "one.jsonl": [("one.jsonl", bom + data)],
        "rot.jsonl": [("rot.jsonl.1", bom + data[:cut]), ("rot.jsonl", bom + data[cut:])],
        "gz.jsonl": [("gz.jsonl.1.gz", gzip.compress(bom + data[:cut])), ("gz.jsonl", data[cut:])],
    }
    for name, files in cases.items():
        for fname, content in files:
            (tmp_path / fname).write_bytes(content)
        r = Reducer()
        read_file(tmp_path / name, r)
        assert r.stats.skipped == {}, name
        assert r.snapshot().session.session_id == SID, name
        assert r.stats.applied == want.stats.applied, name
        assert once(tmp_path / name).stdout == once(plain).stdout
        stats = arbtail("stats", tmp_path / name).stdout
        assert "skipped    0" in stats and "session.started" in stats, name


def test_stats_counts_an_empty_object_as_a_skipped_line_not_an_event(tmp_path: Path) -> None:
    """``{}`` (or any object without the envelope) is a bad line in ``arbtail stats``, not an event with a blank
    name."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(good_log() + b"{}\n" + b'{"event":"heartbeat"}\n')
    out = arbtail("stats", path).stdout
    assert "17 lines, 15 events" in out
    assert "skipped    2, missing_envelope 2" in out
    events = out.split("events:\n", 1)[1].split("positions")[0]
    assert all(row.split() and not row.split()[0].isdigit() for row in events.splitlines()), events


def test_stats_reports_seq_running_backwards(tmp_path: Path) -> None:
    """A log whose ``seq`` steps backwards is not a log without gaps: ``arbtail stats`` says how many times
    ``seq`` went back (and where), next to the gaps."""
    evs = [_heartbeat(s) for s in (1, 2, 3, 10, 4, 5, 2)]
    path = tmp_path / "s.jsonl"
    path.write_bytes(lines_of(evs))
    out = arbtail("stats", path).stdout
    gaps = next(x for x in out.splitlines() if x.startswith("seq gaps"))
    assert gaps.startswith("seq gaps   1 (6 seqs missing): 3→10")
    assert "seq backwards 2: 10→4, 5→2" in gaps
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(good_log())
    assert "seq gaps   0 (0 seqs missing), seq backwards 0" in arbtail("stats", clean).stdout
