"""``arbtail`` options as an operator combines them: combinations that cannot mean anything are refused with one
line (exit 2); a time past the log's end says so; a playback window with nothing in it is an error naming the
log's span; ``--follow`` on a file that does not exist yet waits for it, like ``tail -F``."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from arbdash.tools.arbtail import app

ROOT = Path(__file__).resolve().parent.parent


def _market_span(path: Path) -> tuple[datetime, datetime]:
    times = [
        datetime.fromisoformat(t)
        for x in path.read_bytes().splitlines()
        if (t := orjson.loads(x).get("market_ts"))
    ]
    return min(times), max(times)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--once", "--follow"], "choose one"),
        (["--once", "--speed", "10"], "choose one"),
        (["--follow", "--at", "2026-03-01T00:00Z"], "choose one"),
        (["--from", "2026-03-01T00:00Z", "--once"], "add --speed"),
        (["--from", "2026-05-01T00:00Z", "--to", "2026-04-01T00:00Z", "--speed", "10"], "is after --to"),
    ],
)
def test_meaningless_combinations_are_refused(real_log: Path, args: list[str], says: str) -> None:
    out = CliRunner().invoke(app, [str(real_log), *args])
    assert out.exit_code == 2 and out.stdout == ""
    assert says in out.stderr and "Traceback" not in out.output


def test_a_moment_after_the_end_is_the_end_and_says_so(real_log: Path) -> None:
    _, last = _market_span(real_log)
    after = (last + timedelta(days=30)).isoformat()
    out = CliRunner().invoke(app, [str(real_log), "--at", after, "--once", "--width", "120"])
    end = CliRunner().invoke(app, [str(real_log), "--once", "--width", "120"])
    assert out.exit_code == 0 and out.stdout == end.stdout
    assert (
        "is after the last event on the market clock" in out.stderr
        and last.strftime("%Y-%m-%dT%H:%M") in out.stderr
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_playback_window_with_nothing_in_it_is_an_error(real_log: Path, where: str) -> None:
    first, last = _market_span(real_log)
    if where == "before":
        args = [
            "--from",
            (first - timedelta(days=60)).isoformat(),
            "--to",
            (first - timedelta(days=30)).isoformat(),
        ]
    else:
        args = ["--from", (last + timedelta(days=1)).isoformat()]
    out = CliRunner().invoke(app, [str(real_log), *args, "--speed", "1000000", "--no-keys"])
    assert out.exit_code == 2 and out.stdout == ""  # no frame of a state nobody asked for before the error
    assert "no event to play" in out.stderr and first.strftime("%Y-%m-%dT%H:%M") in out.stderr


def test_follow_waits_for_a_file_that_does_not_exist_yet(real_log: Path, tmp_path: Path) -> None:
    target = tmp_path / "later" / "s.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbdash.tools.arbtail", str(target), "--follow", "--poll", "0.05"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""  # still waiting, not refused
        target.parent.mkdir()
        target.write_bytes(b"".join(x + b"\n" for x in real_log.read_bytes().splitlines()[:40]))
        deadline = time.monotonic() + 15
        seen = b""
        assert proc.stdout is not None
        while b"session" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.read1(65536)  # type: ignore[attr-defined]
        assert b"session" in seen  # a frame of the file, once it appeared
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert b"waiting for" in err and b"Traceback" not in err


def test_an_empty_playback_window_names_the_logs_real_span(real_log: Path) -> None:
    """The span in the message is the whole log's (read from its end), not where the fold stopped."""
    first, last = _market_span(real_log)
    out = CliRunner().invoke(
        app,
        [
            str(real_log),
            "--from",
            (first + timedelta(days=5, minutes=30)).isoformat(),
            "--to",
            (first + timedelta(days=5, minutes=31)).isoformat(),
            "--speed",
            "1",
            "--no-keys",
        ],
    )
    assert out.exit_code == 2
    assert last.strftime("%Y-%m-%dT%H:%M") in out.stderr and first.strftime("%Y-%m-%dT%H:%M") in out.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--once", "--at", "2026-03-01T00:00Z", "--to", "2026-02-26T00:00Z"], "give one"),
        (["--once", "--session", "abc"], "no session 'abc' in this log"),
    ],
)
def test_more_meaningless_combinations(real_log: Path, args: list[str], says: str) -> None:
    out = CliRunner().invoke(app, [str(real_log), *args])
    assert out.exit_code == 2 and says in out.stderr


def test_export_before_the_log_is_an_error(real_log: Path, tmp_path: Path) -> None:
    first, _ = _market_span(real_log)
    svg = tmp_path / "x.svg"
    out = CliRunner().invoke(
        app, ["export", str(real_log), "--svg", str(svg), "--at", (first - timedelta(days=3)).isoformat()]
    )
    assert out.exit_code == 2 and "no event at or before" in out.stderr and not svg.exists()
