"""The figures an operator decides with (issue 14 item 2), each from events, checked against the events of a real
paper run (``real_log``) or built ones, and on screen:

* hold code and when the minimum hold ends (``position.updated.hold_until``, = entry + ``min_hold_hours``);
* the spread APR now beside the spread at entry; ROI % on the margin posted at entry; the open time;
* the best current spread per symbol against the entry threshold ``min_profit_rate`` (announced by the
  scanner's verdicts): the same pair and net APR the scanner found at the same moment;
* wins / losses and the average hold (``position.closed``); the wall clock (the last event's ``ts``);
* PostgreSQL's health (``session.health`` of component ``postgres``);
* a legend explaining every column header and colour; a closed position's time is "Held".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_builder import Events, build, started
from rich.console import Console
from support_moments import first_position_alone, hour_with_open

from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import LEGEND, legend_text, plain_summary
from arbdash.dashboard.render_rich import (
    ACCRUAL_COLUMNS,
    BEST_COLUMNS,
    CLOSED_COLUMNS,
    POSITION_COLUMNS,
    RATE_COLUMNS,
    TIMELINE_COLUMNS,
    frame_text,
    legend,
)
from arbdash.dashboard.sources.jsonl import read_file
from arbdash.dashboard.text import fmt_apr, fmt_duration, fmt_pct, fmt_ts, fmt_usd
from arbdash.helpers import formulas
from arbdash.logging_pipeline.events import SessionHealth

ROOT = Path(__file__).resolve().parent.parent
MIN_HOLD = timedelta(hours=48)  # configs/funding_arb_paper.yml
MIN_PROFIT = D("0.20")
SCANNER_REASONS = ("BELOW_MIN_PROFIT", "NO_POSITIVE_SPREAD")


def _events(log: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines()]


def _at(log: Path, at: str | None) -> DashboardSnapshot:
    r = Reducer()
    lines = log.read_bytes().splitlines()
    if at is None:
        r.feed_lines(lines)
    else:
        r.feed_lines_until(lines, datetime.fromisoformat(at), "market")
    return r.snapshot()


@pytest.fixture(scope="module")
def events(real_log: Path) -> list[dict[str, Any]]:
    return _events(real_log)


def test_the_hold_code_and_when_the_hold_ends(real_log: Path, events: list[dict[str, Any]]) -> None:
    opened = {e["position_id"]: e["market_ts"] for e in events if e["event"] == "position.opened"}
    held = [e for e in events if e["event"] == "position.updated" and e.get("hold_code") == "MIN_HOLD_ACTIVE"]
    assert held
    for e in held:  # the strategy says when the hold ends: entry + min_hold_hours
        start = datetime.fromisoformat(opened[e["position_id"]])
        assert datetime.fromisoformat(e["hold_until"]) == start + MIN_HOLD
    first = first_position_alone(real_log, MIN_HOLD)  # the run's first position, alone through its hold
    snap = _at(real_log, (first.opened + timedelta(hours=16)).isoformat())  # 16 h in: 32 h of hold left
    (p,) = snap.positions
    assert p.position_id == first.position_id and p.hold_code == "MIN_HOLD_ACTIVE"
    assert p.hold_until == first.opened + MIN_HOLD
    assert p.hold_left_s == 32 * 3600
    for width, height in ((80, 24), (120, 45)):
        frame = frame_text(snap, width, height)
        assert "MIN_HOLD_ACTIVE" in frame and "ends in 1d08h" in frame
    assert "MIN_HOLD_ACTIVE (ends in 1d08h)" in plain_summary(snap)
    after = _at(
        real_log, (first.opened + MIN_HOLD).isoformat()
    )  # hold over: the bot checks and drops the code
    assert after.positions[0].hold_code is None and "ends in" not in frame_text(after, 120, 45)


def test_spread_now_and_at_entry_roi_and_open_time(real_log: Path, events: list[dict[str, Any]]) -> None:
    snap = _at(real_log, hour_with_open(real_log, 2).isoformat())
    live = [p for p in snap.positions if p.lifecycle == "open"]
    assert len(live) == 2
    frame = frame_text(snap, 200, 60)
    for p in live:
        opened = next(
            e for e in events if e["event"] == "position.opened" and e["position_id"] == p.position_id
        )
        assert p.entry_ts == datetime.fromisoformat(opened["market_ts"])
        assert p.entry_spread_apr == D(opened["entry_spread_apr"])
        margin = sum(D(leg["margin"]) for leg in opened["legs"])
        assert p.entry_margin == margin
        assert p.roi_pct == p.net_pnl / margin * 100
        rates = {}
        for e in events:  # the latest rate of each venue at that moment
            at = datetime.fromisoformat(e["market_ts"]) if e.get("market_ts") else None
            if e["event"] == "funding.rate" and e["symbol"] == p.symbol and at <= snap.session.market_now:
                rates[e["venue"]] = (D(e["rate"]), e["interval_s"])
        lr, sr = rates[p.long_venue], rates[p.short_venue]
        assert p.current_spread_apr == formulas.spread_apr(lr[0], lr[1], sr[0], sr[1])
        for text in (
            fmt_apr(p.current_spread_apr),
            fmt_apr(p.entry_spread_apr),
            fmt_pct(p.roi_pct, 2, signed=True),
            fmt_ts(p.entry_ts, short=True),
            fmt_duration(p.age_s),
        ):
            assert text in frame, text


def test_best_spread_per_symbol_is_what_the_scanner_found(real_log: Path) -> None:
    """At every scanner verdict with a pair, the snapshot at that moment shows the same pair and net APR, and
    ``vs min`` = net − ``min_profit_rate``: the funding pane says what the bot is about to do."""
    r = Reducer()
    checked = 0
    for raw in real_log.read_bytes().splitlines():
        e = orjson.loads(raw)
        r.feed_line(raw)  # the verdict itself moves no rate; it announces the threshold (the first one too)
        # the scanner's verdicts (the strategy's own skips, e.g. ALREADY_OPEN, are not verdicts on the rule)
        verdict = e["event"] == "opportunity.found" or e.get("reason") in SCANNER_REASONS
        if verdict:
            assert D(e["min_profit_rate"]) == MIN_PROFIT  # the verdict carries its threshold
            if e.get("long_venue"):
                snap = r.snapshot(closed_rows=0)
                (best,) = [b for b in snap.funding.best if b.symbol == e["symbol"]]
                assert (best.long_venue, best.short_venue) == (e["long_venue"], e["short_venue"])
                assert best.net_apr == D(e["net_apr"])
                assert best.vs_min == best.net_apr - MIN_PROFIT
                assert (best.vs_min >= 0) == (e["event"] == "opportunity.found")
                checked += 1
    assert checked > 50
    snap = r.snapshot()
    assert snap.funding.min_profit_rate == MIN_PROFIT
    frame = frame_text(snap, 120, 45)
    assert "entry ≥ 20.00% net APR" in frame
    for b in snap.funding.best:
        assert fmt_apr(b.vs_min) in frame


def test_wins_losses_average_hold_and_the_wall_clock(real_log: Path, events: list[dict[str, Any]]) -> None:
    closed = [e for e in events if e["event"] == "position.closed"]
    wins = sum(1 for e in closed if D(e["net_pnl"]) > 0)
    avg = sum(e["hold_s"] for e in closed) // len(closed)
    snap = _at(real_log, None)
    p = snap.portfolio
    assert (p.wins, p.losses, p.avg_hold_s) == (wins, len(closed) - wins, avg)
    frame = frame_text(snap, 120, 45)
    assert (
        f"closed {len(closed)}: wins {wins} · losses {len(closed) - wins} · avg hold {fmt_duration(avg)}"
        in frame
    )
    # the wall clock is the last event's, never the reader's: the same frame whenever it is drawn
    last_ts = datetime.fromisoformat(events[-1]["ts"])
    assert snap.generated_at == last_ts
    assert f"wall now {fmt_ts(last_ts, date=True)} UTC" in frame
    assert frame_text(_at(real_log, None), 120, 45) == frame


def test_closed_positions_say_how_long_they_were_held(real_log: Path, events: list[dict[str, Any]]) -> None:
    snap = _at(real_log, "2026-03-12T22:00:00+00:00")
    frame = frame_text(snap, 200, 60)
    closed_pane = frame[frame.index("╭─ closed") :]
    header = closed_pane.splitlines()[1]
    assert "Held" in header and "Age" not in header
    booked = {e["position_id"]: e["hold_s"] for e in events if e["event"] == "position.closed"}
    for p in snap.positions:
        if p.lifecycle == "closed":
            assert p.age_s == booked[p.position_id]  # held for: open → close, as the bot booked it
            row = next(x for x in closed_pane.splitlines() if p.position_id in x)
            assert fmt_duration(p.age_s) in row


def _pg_health(*reports: tuple[str, str]) -> DashboardSnapshot:
    e = Events()
    r = Reducer()
    r.feed(started(e))
    for health, reason in reports:
        r.feed(e.emit(build(SessionHealth, health=health, reason=reason, component="postgres"), reason))
    return r.snapshot()


def test_postgres_health_is_shown_when_the_sink_reports() -> None:
    none = _pg_health()
    assert none.session.postgres_health is None and "postgres" not in frame_text(none, 120, 30)
    down = _pg_health(("degraded", "connection refused"))
    assert down.session.postgres_health == "degraded"
    assert "postgres DEGRADED" in frame_text(down, 120, 30)
    assert "postgres DEGRADED" in plain_summary(down)
    back = _pg_health(("degraded", "connection refused"), ("running", "postgres caught up"))
    assert back.session.postgres_health == "running" and back.session.health == "running"
    assert "postgres OK" in frame_text(back, 120, 30)


def test_the_legend_explains_every_header_and_colour() -> None:
    keys = " | ".join(h for _, rows in LEGEND for h, _ in rows)
    for cols in (
        POSITION_COLUMNS,
        CLOSED_COLUMNS,
        BEST_COLUMNS,
        RATE_COLUMNS,
        ACCRUAL_COLUMNS,
        TIMELINE_COLUMNS,
    ):
        for col in cols:
            first = col.header[0].split()[0]
            assert first in keys, col.header
    for asked in ("Eros", "Int", "Expo USD tgt/fill", "Held"):
        assert asked in keys
    text = legend_text()
    assert "MIN_HOLD_ACTIVE" in text and "min_profit_rate" in text and "green / red" in text
    buf = StringIO()
    Console(file=buf, width=100, color_system=None).print(legend())
    drawn = buf.getvalue()
    for _, rows in LEGEND:
        for header, _meaning in rows:
            assert header in drawn


def test_an_old_log_without_the_new_fields_still_draws(tmp_path: Path) -> None:
    """The v1 fixture predates ``hold_until``, the scanner's threshold fields and the entry margin in use: the
    figures that need them are placeholders, the rest is there."""
    r = Reducer()
    read_file(ROOT / "tests/fixtures/v1_session.jsonl", r)
    snap = r.snapshot()
    assert snap.funding.min_profit_rate is None and all(b.vs_min is None for b in snap.funding.best)
    (live,) = [p for p in snap.positions if p.lifecycle == "open"]
    assert live.hold_code == "MIN_HOLD_ACTIVE" and live.hold_until is None
    frame = frame_text(snap, 120, 45)
    assert "entry rule not announced" in frame and "ends in" not in frame
    assert f"net {fmt_usd(snap.portfolio.net_pnl, signed=True)} USD" in frame
