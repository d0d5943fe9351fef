"""Time travel on the market clock (``market_ts``) as well as the wall clock (``ts``): ``load(until=T, clock=…)``
folds exactly the events before the first one later than T on that clock, with or without a checkpoint seek,
and events without a market time never end a market-clock replay."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.jsonl import load
from arbdash.dashboard.state import state_to_dict
from arbdash.dashboard.timeaxis import TIME_FIELD, Clock


def _reference(lines: list[bytes], until: datetime, clock: Clock) -> Reducer:
    """The definition, written out: feed lines one by one until the first event later than ``until``."""
    r = Reducer()
    for raw in lines:
        ev = orjson.loads(raw)
        t = ev.get(TIME_FIELD[clock])
        if t is not None and datetime.fromisoformat(t) > until:
            break
        r.feed_line(raw)
    return r


def _times(lines: list[bytes], clock: Clock) -> list[datetime]:
    return [datetime.fromisoformat(t) for x in lines if (t := orjson.loads(x).get(TIME_FIELD[clock]))]


@pytest.mark.parametrize("clock", ["market", "wall"])
def test_until_on_each_clock_equals_the_definition(real_log: Path, clock: Clock) -> None:
    lines = real_log.read_bytes().splitlines()
    times = _times(lines, clock)
    for at in (times[len(times) // 5], times[len(times) // 2], times[-30]):
        want = _reference(lines, at, clock)
        for kw in ({"seek": False}, {"seek_min_bytes": 0}):
            got = Reducer()
            load(real_log, got, until=at, clock=clock, **kw)  # type: ignore[arg-type]
            assert state_to_dict(got.state) == state_to_dict(want.state), (clock, at, kw)
            assert frame_text(got.snapshot(), 120) == frame_text(want.snapshot(), 120)


def test_market_clock_reaches_into_the_replayed_history(real_log: Path) -> None:
    """A paper run logs ~1 s of wall time but months of market time: a market-clock moment in the middle of the
    history gives a partial state (some positions closed, not all), while the same moment on the wall clock is
    before the log began."""
    lines = real_log.read_bytes().splitlines()
    market = _times(lines, "market")
    mid = market[0] + (market[-1] - market[0]) / 2
    r = Reducer()
    res = load(real_log, r, until=mid, clock="market", seek_min_bytes=0)
    final = Reducer()
    load(real_log, final)
    assert res.stopped_at_time
    assert 0 < r.state.positions_closed < final.state.positions_closed
    assert r.state.market_now is not None and r.state.market_now <= mid
    wall = Reducer()
    load(real_log, wall, until=mid, clock="wall")
    assert wall.state.stats.applied == 0


def test_a_checkpoint_covering_a_later_market_time_is_not_used(real_log: Path, tmp_path: Path) -> None:
    """Market times from several venues need not be in order: a checkpoint whose own ``market_ts`` is ≤ T but
    whose state has seen a later one (``market_now`` > T) would skip a stop a full replay makes."""
    lines = real_log.read_bytes().splitlines()
    j = max(k for k, x in enumerate(lines) if b'"dashboard.checkpoint"' in x)
    cp = orjson.loads(lines[j])
    at = datetime.fromisoformat(orjson.loads(lines[-5])["market_ts"])
    assert datetime.fromisoformat(cp["market_ts"]) <= at
    r = Reducer()
    assert load(real_log, r, until=at, clock="market", seek_min_bytes=0).checkpoint_seq == cp["seq"]
    cp["state"]["market_now"] = "2099-01-01T00:00:00+00:00"
    moved = tmp_path / "moved.jsonl"
    moved.write_bytes(b"\n".join([*lines[:j], orjson.dumps(cp), *lines[j + 1 :]]) + b"\n")
    r = Reducer()
    assert load(moved, r, until=at, clock="market", seek_min_bytes=0).checkpoint_seq != cp["seq"]


def test_cli_at_defaults_to_the_market_clock(real_log: Path) -> None:
    from typer.testing import CliRunner

    from arbdash.tools.arbtail import app

    lines = real_log.read_bytes().splitlines()
    market = _times(lines, "market")
    at = market[len(market) // 2]
    want = Reducer()
    load(real_log, want, until=at, clock="market")
    out = CliRunner().invoke(app, [str(real_log), "--at", at.isoformat(), "--once", "--width", "120"])
    assert out.exit_code == 0, out.output
    assert out.stdout == frame_text(want.snapshot(), 120)
    wall = CliRunner().invoke(app, [str(real_log), "--at", at.isoformat(), "--once", "--clock", "wall"])
    assert wall.exit_code == 2 and "on the wall clock" in wall.output
