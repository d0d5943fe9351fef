"""Whole runs on the shipped config at speed 0: determinism, coverage of the strategy paths, no float money."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from arbdash.bot.config import BotConfig, load_config
from arbdash.bot.runner import RunResult, make_clock, run_bot

SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "funding_arb_paper.yml"
WALL_ONLY = {"heartbeat", "metric"}  # wall-clock events (heartbeats, timings): they must not affect trading


def _run(cfg: BotConfig) -> tuple[RunResult, list[dict[str, Any]]]:
    with capture_logs() as events:
        result = asyncio.run(run_bot(cfg, config_path=str(SHIPPED), speed=Decimal(0)))
    return result, [e for e in events if e["event"] not in WALL_ONLY]


@pytest.fixture(scope="module")
def shipped_run() -> tuple[RunResult, list[dict[str, Any]]]:
    return _run(load_config(SHIPPED))


def test_same_seed_gives_identical_event_sequence(shipped_run) -> None:
    _, first = shipped_run
    _, second = _run(load_config(SHIPPED))
    assert len(first) == len(second)
    assert first == second


def test_other_seed_changes_the_run(shipped_run) -> None:
    cfg = load_config(SHIPPED)
    other = cfg.model_copy(update={"market": cfg.market.model_copy(update={"seed": cfg.market.seed + 1})})
    _, events = _run(other)
    _, base = shipped_run
    assert events != base


def test_shipped_run_exercises_the_strategy(shipped_run) -> None:
    result, events = shipped_run
    counts = Counter(e["event"] for e in events)
    assert counts["session.started"] == 1
    assert counts["venue.connected"] == 3
    assert "session.stopped" not in counts  # the caller (CLI) emits it
    opened = [e for e in events if e["event"] == "position.opened"]
    closed = [e for e in events if e["event"] == "position.closed"]
    assert len(opened) == len(closed) >= 3
    assert {e["position_id"] for e in opened} == {e["position_id"] for e in closed}
    assert len({e["symbol"] for e in opened}) >= 2
    assert counts["execution.rollback"] >= 1
    assert len({e["reason"] for e in closed}) >= 3
    assert result.positions_opened == len(opened) and result.positions_closed == len(closed)
    assert len(events) < 150_000
    # every closed position's figures add up: net = realized + funding − fees
    for e in closed:
        assert e["net_pnl"] == e["realized_pnl"] + e["funding"] - e["fees"]
    # the run's net PnL is the full figure (as on the dashboard): closed positions plus the rolled-back attempts'
    # fills (their price PnL minus their fees), all computed here from the events
    rolled_back = {e["position_id"] for e in events if e["event"] == "execution.rollback"}
    rb_fills = [e for e in events if e["event"] == "order.filled" and e["position_id"] in rolled_back]
    rb_price = Decimal(0)
    for pid in rolled_back:
        legs = [f for f in rb_fills if f["position_id"] == pid]
        (entry,) = [f for f in legs if not f["reduce_only"]]
        (exit_,) = [f for f in legs if f["reduce_only"]]
        assert exit_["side"] != entry["side"] and exit_["qty"] == entry["qty"]
        sign = 1 if entry["side"] == "buy" else -1
        rb_price += sign * (exit_["price"] - entry["price"]) * entry["qty"]
    rb_fees = sum((f["fee"] for f in rb_fills), Decimal(0))
    assert rb_fees > 0
    expected = sum((e["net_pnl"] for e in closed), Decimal(0)) + rb_price - rb_fees
    assert result.net_pnl == expected
    assert result.summary.rollback_realized_pnl == rb_price and result.summary.rollback_fees == rb_fees
    # ... and the bot's own "Run complete" line says the same, in cents
    (done,) = [e for e in events if e["event"] == "log.message" and e["message"].startswith("Run complete")]
    cents = expected.quantize(Decimal("0.01"))
    assert done["net_pnl"] == cents and f"net PnL {cents} USD" in done["message"]
    assert done["rollback_net_pnl"] == (rb_price - rb_fees).quantize(Decimal("0.01"))
    assert all(v.as_tuple().exponent == -2 for k, v in done.items() if isinstance(v, Decimal))


def test_scan_lines_come_under_a_scanning_or_monitoring_banner(shipped_run) -> None:
    """``opportunity.found/skipped`` follow a ``0. 🔎 Scanning`` (or, with positions open, ``4. 👀 Monitoring
    Position``) banner shown since the previous ``6. ✅ Cycle Complete``; the scanner's own lines come while that
    banner is the last one shown (not under an earlier cycle's exit or execution banners)."""
    _, events = shipped_run
    last: str | None = None
    resting_seen = False  # a Scanning/Monitoring banner since the previous Cycle Complete
    checked = 0
    for e in events:
        if e["event"] == "stage.changed":
            last = e["stage_id"]
            if last == "6":
                resting_seen = False
            elif last in ("0", "4"):
                resting_seen = True
        elif e["event"] in ("opportunity.found", "opportunity.skipped"):
            checked += 1
            assert resting_seen, (e["message"], last)
            if e["event"] == "opportunity.found" or e["reason"] in ("BELOW_MIN_PROFIT", "NO_POSITIVE_SPREAD"):
                assert last in ("0", "4"), (e["message"], last)
    assert checked > 50
    stages = [e for e in events if e["event"] == "stage.changed"]
    assert stages[0]["stage_id"] == "0" and stages[0]["lifecycle"] == "scanning"


def test_quiet_cycles_emit_no_banner(shipped_run) -> None:
    """No per-hour banner spam: banners come only with something happening (an exit, an entry attempt, a
    change of the resting stage); a resting banner is never shown twice in a row."""
    _, events = shipped_run
    stages = [e["stage_id"] for e in events if e["event"] == "stage.changed"]
    for a, b in zip(stages, stages[1:], strict=False):
        assert not (a == b and a in ("0", "4")), stages
    cycles = sum(1 for e in events if e["event"] == "market.mark_price") // 9  # 3 venues × 3 symbols per hour
    assert len(stages) < cycles / 5


def test_funding_payment_per_open_leg_per_settlement(shipped_run) -> None:
    _, events = shipped_run
    open_legs: dict[tuple[str, str], str] = {}  # (venue, symbol) -> position_id
    seen: dict[tuple[str, str], int] = Counter()
    for e in events:
        if e["event"] == "position.opened":
            for leg in e["legs"]:
                open_legs[(leg["venue"], e["symbol"])] = e["position_id"]
        elif e["event"] == "position.closed":
            open_legs = {k: v for k, v in open_legs.items() if v != e["position_id"]}
        elif e["event"] == "funding.payment":
            assert open_legs[(e["venue"], e["symbol"])] == e["position_id"]
            seen[(e["position_id"], e["venue"])] += 1
            assert (
                e["payment"] == -(1 if e["side"] == "long" else -1) * e["qty"] * e["mark_price"] * e["rate"]
            )
    assert seen, "no funding booked"


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _walk(v)]
    return [value]


def test_no_float_anywhere(shipped_run) -> None:
    _, events = shipped_run
    floats = [(e["event"], v) for e in events for v in _walk(e) if isinstance(v, float)]
    assert floats == []


def test_make_clock_starts_at_window_and_is_used(shipped_run) -> None:
    cfg = load_config(SHIPPED)
    clock = make_clock(cfg, Decimal(0))
    result, _ = shipped_run
    assert clock.now() == result.market_start
    with capture_logs():
        one_day = cfg.market.model_copy(update={"end": result.market_start + timedelta(days=1)})
        asyncio.run(run_bot(cfg.model_copy(update={"market": one_day}), clock=clock))
    assert clock.now() == result.market_start + timedelta(days=1)


def test_cancellation_propagates_and_stops_heartbeat() -> None:
    cfg = load_config(SHIPPED)

    async def main() -> None:
        task = asyncio.create_task(run_bot(cfg, speed=Decimal(3600)))
        await asyncio.sleep(1.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        leftovers = [t for t in asyncio.all_tasks() if t.get_name() == "bot-heartbeat" and not t.done()]
        assert leftovers == []

    with capture_logs() as events:
        asyncio.run(main())
    names = [e["event"] for e in events]
    assert "heartbeat" in names  # ~1 per wall second while running
    assert "session.stopped" not in names
    assert names.count("market.mark_price") <= 3 * 3 * 3  # at most ~2 market hours at 1 h per wall second


def test_each_settlement_record_sums_its_legs_payments(shipped_run) -> None:
    """``funding.settlement`` (the per-position funding record) equals the ``funding.payment`` events just before it."""
    _, events = shipped_run
    pending: dict[str, dict[str, dict[str, Any]]] = {}  # position_id -> side -> payment event
    records = 0
    for e in events:
        if e["event"] == "funding.payment":
            assert e["side"] not in pending.setdefault(e["position_id"], {}), (
                "one payment per leg per settlement"
            )
            pending[e["position_id"]][e["side"]] = e
        elif e["event"] == "funding.settlement":
            legs = pending.pop(e["position_id"])
            zero = Decimal(0)
            long_pay = legs["long"]["payment"] if "long" in legs else zero
            short_pay = legs["short"]["payment"] if "short" in legs else zero
            assert (e["long_payment"], e["short_payment"]) == (long_pay, short_pay)
            assert e["net_payment"] == long_pay + short_pay
            assert e.get("long_rate") == (legs["long"]["rate"] if "long" in legs else None)
            assert e.get("short_rate") == (legs["short"]["rate"] if "short" in legs else None)
            records += 1
    assert pending == {}, "every payment is summarised by a settlement record"
    assert records > 0
