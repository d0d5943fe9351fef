"""``--speed`` playback: events before ``--from`` fold at once, later ones wait their ``ts`` gap / speed, ``--to``
stops; the final state equals ``--at`` of the same moment."""

from __future__ import annotations

import asyncio
import io
import itertools
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from events_builder import Events, round_trip
from rich.console import Console

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.file_source import JsonlSource
from arbdash.dashboard.sources.jsonl import load
from arbdash.tools.arbtail_view import playback


def test_playback_paces_by_ts_and_stops_at_to(tmp_path: Path, capsys: object) -> None:
    e = Events()
    opening, closing = round_trip(e)
    evs = opening + closing
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in evs))
    ts = [datetime.fromisoformat(x["ts"]) for x in evs]
    start, end = ts[3], ts[10]
    waits: list[float] = []
    clock = [100.0]

    async def fake_sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    r = Reducer()
    console = Console(file=io.StringIO(), width=120)  # not a terminal: plain frames
    asyncio.run(
        playback(
            JsonlSource(path),
            r,
            console,
            120,
            speed=4,
            start=start,
            end=end,
            sleep=fake_sleep,
            now=lambda: clock[0],
        )
    )
    assert waits == pytest.approx([(ts[i + 1] - ts[i]).total_seconds() / 4 for i in range(3, 10)])
    at = Reducer()
    load(path, at, until=end)
    assert frame_text(r.snapshot(), 120) == frame_text(at.snapshot(), 120)
    assert r.stats.applied == 11


def test_playback_makes_up_time_lost_folding(tmp_path: Path) -> None:
    """Pacing is anchored: when folding or drawing took wall time, the next wait is shorter by as much, and an
    event already overdue folds without waiting (the pace does not drift behind ``speed``)."""
    e = Events()
    opening, closing = round_trip(e)
    evs = opening + closing
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in evs))
    ts = [datetime.fromisoformat(x["ts"]) for x in evs]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ts)]
    lost = gaps[1] / 2  # every fold "costs" half of the second gap (at speed 1)
    clock = [0.0]
    waits: list[float] = []

    async def fake_sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    def now() -> float:
        return clock[0]

    class SlowReducer(Reducer):
        def feed_line(self, raw: bytes) -> None:
            super().feed_line(raw)
            clock[0] += lost

    r = SlowReducer()
    asyncio.run(
        playback(
            JsonlSource(path),
            r,
            Console(file=io.StringIO(), width=120),
            120,
            speed=1,
            start=None,
            end=None,
            sleep=fake_sleep,
            now=now,
        )
    )
    # pacing is anchored after the first fold: the first wait is a whole gap, each later one the gap minus the
    # time the previous fold took
    assert waits == pytest.approx([gaps[0]] + [g - lost for g in gaps[1:]])
    # so the last event folds on schedule: first fold + the log's span + last fold
    assert clock[0] == pytest.approx(lost + (ts[-1] - ts[0]).total_seconds() + lost)
    assert r.stats.applied == len(evs)
