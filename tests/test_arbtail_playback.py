"""``--speed`` playback: events before ``--from`` fold at once, later ones wait their ``ts`` gap / speed, ``--to``
stops; the final state equals ``--at`` of the same moment."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from pathlib import Path

import orjson
from rich.console import Console

from dashboard.reducer import Reducer
from dashboard.render_rich import frame_text
from dashboard.sources.jsonl import load
from test_reducer import Events, round_trip
from tools.arbtail_view import playback


def test_playback_paces_by_ts_and_stops_at_to(tmp_path: Path, capsys: object) -> None:
    e = Events()
    opening, closing = round_trip(e)
    evs = opening + closing
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in evs))
    ts = [datetime.fromisoformat(x["ts"]) for x in evs]
    start, end = ts[3], ts[10]
    waits: list[float] = []

    async def fake_sleep(s: float) -> None:
        waits.append(s)

    r = Reducer()
    console = Console(file=io.StringIO(), width=120)  # not a terminal: plain frames
    asyncio.run(playback(path, r, console, 120, speed=4, start=start, end=end, sleep=fake_sleep))
    assert waits == [(ts[i + 1] - ts[i]).total_seconds() / 4 for i in range(3, 10)]
    at = Reducer()
    load(path, at, until=end)
    assert frame_text(r.snapshot(), 120) == frame_text(at.snapshot(), 120)
    assert r.stats.applied == 11
