"""``arbtail grep``: ``--since``/``--until`` on the clock chosen by ``--clock`` (default market, as ``show`` and
``export``), inclusive bounds, events without a time on that clock left out by a time filter, and the wall clock
standing in (with the source's ``time_axis`` notice) for a log without market times. The expected sets are computed
from the log's own lines, never written down."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from arbdash.tools.arbtail import app


def events(path: Path) -> list[dict[str, Any]]:
    """The log's events, checkpoints left out (as ``grep`` does unless asked for them)."""
    evs = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    return [e for e in evs if e["event"] != "dashboard.checkpoint"]


def when(ev: dict[str, Any], field: str) -> datetime | None:
    raw = ev.get(field)
    return datetime.fromisoformat(raw) if raw else None


def grep(*args: str | Path) -> Any:
    result = CliRunner().invoke(app, ["grep", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def seqs(stdout: str) -> list[int]:
    return [orjson.loads(line)["seq"] for line in stdout.splitlines()]


def test_since_is_on_the_market_clock_by_default(real_log: Path) -> None:
    """A paper run's wall span is ~1 s, so ``--since`` on ``ts`` (the old behaviour) returned every event."""
    evs = events(real_log)
    timed = sorted({t for e in evs if (t := when(e, "market_ts")) is not None})
    since = timed[len(timed) // 2]
    want = [e["seq"] for e in evs if (t := when(e, "market_ts")) is not None and t >= since]
    out = grep(real_log, "--since", since.isoformat())
    assert out.exit_code == 0, out.output
    assert seqs(out.stdout) == want
    assert 0 < len(want) < len(evs)
    assert out.stderr == ""  # the log has market times: no fallback notice


def test_until_is_an_inclusive_upper_bound_on_the_same_clock(real_log: Path) -> None:
    evs = events(real_log)
    timed = sorted({t for e in evs if (t := when(e, "market_ts")) is not None})
    lo, hi = timed[len(timed) // 3], timed[len(timed) // 2]
    out = grep(real_log, "--since", lo.isoformat(), "--until", hi.isoformat())
    assert out.exit_code == 0, out.output
    assert seqs(out.stdout) == [
        e["seq"] for e in evs if (t := when(e, "market_ts")) is not None and lo <= t <= hi
    ]
    exact = grep(real_log, "--since", hi.isoformat(), "--until", hi.isoformat())
    assert seqs(exact.stdout) == [e["seq"] for e in evs if when(e, "market_ts") == hi] != []


def test_clock_wall_filters_on_ts(real_log: Path) -> None:
    evs = events(real_log)
    walls = sorted(when(e, "ts") for e in evs)
    since, until = walls[len(walls) // 4], walls[len(walls) // 2]
    out = grep(real_log, "--clock", "wall", "--since", since.isoformat(), "--until", until.isoformat())
    assert out.exit_code == 0, out.output
    assert seqs(out.stdout) == [e["seq"] for e in evs if since <= when(e, "ts") <= until]


def test_a_time_filter_leaves_out_events_without_a_time_on_its_clock(real_log: Path, tmp_path: Path) -> None:
    """Events without a ``market_ts`` (``dashboard.timeaxis``: session start/stop, health) are neither before
    nor after a market time: a market-clock filter leaves them out; without a time filter, or on the wall
    clock, they are there."""
    lines = []
    for raw in real_log.read_bytes().splitlines():
        ev = orjson.loads(raw)
        if ev["event"].startswith("session."):
            ev.pop("market_ts", None)
        lines.append(orjson.dumps(ev))
    path = tmp_path / real_log.name
    path.write_bytes(b"\n".join(lines) + b"\n")
    evs = events(path)
    untimed = [e["seq"] for e in evs if when(e, "market_ts") is None]
    assert untimed
    first = min(t for e in evs if (t := when(e, "market_ts")) is not None)
    out = grep(path, "--since", first.isoformat())
    assert out.exit_code == 0, out.output
    assert seqs(out.stdout) == [e["seq"] for e in evs if when(e, "market_ts") is not None]
    assert set(untimed) <= set(seqs(grep(path).stdout))
    assert set(untimed) <= set(seqs(grep(path, "--clock", "wall", "--since", "2000-01-01").stdout))


def test_no_market_time_in_range_is_exit_1(real_log: Path) -> None:
    """Just after the last market time nothing matches (the wall ``ts`` of a replay of past history is later)."""
    last = max(t for e in events(real_log) if (t := when(e, "market_ts")) is not None)
    after = last + timedelta(seconds=1)
    out = grep(real_log, "--since", after.isoformat())
    assert out.exit_code == 1
    assert out.stdout == ""


def test_a_log_without_market_times_falls_back_to_the_wall_clock_with_its_notice(tmp_path: Path) -> None:
    """With no ``market_ts`` at all the filter is on ``ts``, and stderr has the source's ``time_axis`` notice."""
    from pg_fixtures import make_events

    from arbdash.dashboard.sources.file_source import JsonlSource

    sid = str(uuid.uuid4())
    lines = [line for line, _ in make_events(sid, 300)]
    path = tmp_path / f"{sid}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    evs = events(path)
    assert all(when(e, "market_ts") is None for e in evs)
    since = when(evs[150], "ts")
    out = grep(path, "--since", since.isoformat())
    assert out.exit_code == 0, out.output
    assert seqs(out.stdout) == [e["seq"] for e in evs if when(e, "ts") >= since]
    clock, notice = asyncio.run(JsonlSource(path).time_axis("market"))
    assert clock == "wall" and notice
    assert out.stderr.strip() == f"arbtail: {notice}"
    assert grep(path).stderr == ""  # no time filter: no clock, no notice


def test_bad_bounds_are_one_clear_error(real_log: Path) -> None:
    out = grep(real_log, "--since", "2026-05-02", "--until", "2026-05-01")
    assert out.exit_code == 2
    assert "--since" in out.stderr and "after --until" in out.stderr
    out = grep(real_log, "--until", "yesterday")
    assert out.exit_code == 2
    assert "--until" in out.stderr and "bad time 'yesterday'" in out.stderr
    out = grep(real_log, "--clock", "sun", "--since", "2026-05-01")
    assert out.exit_code == 2


def test_unreadable_log_with_a_time_filter_is_exit_2(tmp_path: Path) -> None:
    out = grep(tmp_path / "missing.jsonl", "--since", "2026-05-01")
    assert out.exit_code == 2
    assert out.stderr.strip() == f"arbtail: {tmp_path / 'missing.jsonl'}: no such file"


def test_help_describes_the_clock() -> None:
    out = CliRunner().invoke(app, ["grep", "--help"], terminal_width=200)
    assert out.exit_code == 0
    assert "--clock" in out.stdout and "market" in out.stdout and "wall" in out.stdout
    assert "ts ≥" not in out.stdout and "ts ≤" not in out.stdout
