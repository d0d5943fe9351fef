"""A two-strategy session for the per-strategy roll-up tests, built with ``tests.events_builder``, and an
independent recomputation of each strategy's figures from the raw events (not the reducer's code).

``two_strategy_session(unattributed=...)``: ``session.started`` (strategy ``alpha+beta``), a ``strategy.started``
per instance, then over five market hours: alpha opens P1 (BTC) and has an entry attempt rolled back (P3), beta
opens P2 (ETH) and closes it; funding payments, marks every hour, stage banners of each. With
``unattributed``: one more position P4 written with no strategy (an event of no instance).
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import orjson
from events_builder import Events, build, fill, leg, mark, opened, payment, started

from arbdash.logging_pipeline.events import (
    ExecutionRollback,
    FundingPayment,
    Heartbeat,
    PositionClosed,
    PositionClosing,
    StageChanged,
    StrategyStarted,
)

__all__ = ["recompute", "two_strategy_session", "write_jsonl"]


def _hour(h: int, minute: int = 0) -> str:
    return f"2026-03-01T{8 + h:02d}:{minute:02d}:00+00:00"


def _strategy_started(e: Events, name: str, type_: str, max_pos: int, max_exp: str) -> dict[str, Any]:
    return e.emit(
        build(
            StrategyStarted,
            type=type_,
            version="1.0.0",
            venues=["binance", "bybit"],
            symbols=["BTC", "ETH"],
            max_positions=max_pos,
            max_total_exposure_usd=max_exp,
            profit_erosion_threshold="0.8",
        ),
        f"strategy {name} started",
        strategy=name,
    )


def _stage(e: Events, stage_id: str, title: str, lifecycle: str, strategy: str) -> dict[str, Any]:
    return e.emit(
        build(StageChanged, stage_id=stage_id, title=title, lifecycle=lifecycle),
        f"{stage_id}. {title}",
        strategy=strategy,
    )


def two_strategy_session(*, unattributed: bool = False) -> list[dict[str, Any]]:
    """The events of the session (module doc), in order."""
    e = Events()
    e.market = _hour(0)
    out = [started(e, strategy="alpha+beta", max_total_exposure_usd="500")]
    out.append(_strategy_started(e, "alpha", "funding_arbitrage", 2, "200"))
    out.append(_strategy_started(e, "beta", "carry", 1, "100"))
    out += [mark(e, "binance", "100.00"), mark(e, "bybit", "100.10")]
    out += [mark(e, "binance", "2000", "ETH"), mark(e, "bybit", "2001", "ETH")]
    # alpha opens P1 (BTC)
    e.strategy = "alpha"
    out.append(_stage(e, "3", "Atomic Multi-Order Execution", "opening_position", "alpha"))
    out.append(fill(e, "P1", "binance", "buy", "0.5", "100.00", "0.025"))
    out.append(fill(e, "P1", "bybit", "sell", "0.5", "100.20", "0.02505"))
    out.append(
        opened(
            e,
            "P1",
            [
                leg("binance", "long", "0.5", "100.00", "0.025"),
                leg("bybit", "short", "0.5", "100.20", "0.02505"),
            ],
            filled_exposure_usd="50",
        )
    )
    out.append(_stage(e, "4", "Monitoring Position", "monitoring_position", "alpha"))
    # beta opens P2 (ETH)
    e.strategy = "beta"
    out.append(fill(e, "P2", "bybit", "buy", "0.02", "2001", "0.02001", symbol="ETH"))
    out.append(fill(e, "P2", "binance", "sell", "0.02", "2000.5", "0.0200050", symbol="ETH"))
    out.append(
        opened(
            e,
            "P2",
            [
                leg("bybit", "long", "0.02", "2001", "0.02001"),
                leg("binance", "short", "0.02", "2000.5", "0.020005"),
            ],
            symbol="ETH",
            long_venue="bybit",
            short_venue="binance",
            filled_exposure_usd="40",
        )
    )
    out.append(_stage(e, "4", "Monitoring Position", "monitoring_position", "beta"))
    e.strategy = None
    # hour 1: marks move, funding paid
    e.market = _hour(1)
    out += [mark(e, "binance", "101.00"), mark(e, "bybit", "101.30")]
    out += [mark(e, "binance", "1990", "ETH"), mark(e, "bybit", "1992", "ETH")]
    e.strategy = "alpha"
    out.append(
        payment(e, "P1", "binance", "long", "0.0001", "0.0001", "0.5", "101.00", "-0.00505", "-0.00505")
    )
    out.append(payment(e, "P1", "bybit", "short", "0.0003", "0.0002", "0.5", "101.30", "0.015195", "0.01013"))
    e.strategy = "beta"
    pay = build(
        FundingPayment,
        position_id="P2",
        symbol="ETH",
        venue="binance",
        side="short",
        rate="0.0002",
        entry_rate="0.0002",
        interval_s=28800,
        qty="0.02",
        mark_price="1990",
        notional=D("39.8"),
        payment="0.00796",
        expected_payment="0.008",
    )
    out.append(e.emit(pay))
    e.strategy = None
    out.append(e.emit(Heartbeat(open_positions=2)))
    # hour 2: alpha tries P3 and rolls it back (one leg filled, then unwound)
    e.market = _hour(2)
    out += [mark(e, "binance", "102.00"), mark(e, "bybit", "101.90")]
    e.strategy = "alpha"
    out.append(fill(e, "P3", "binance", "buy", "0.3", "102.00", "0.0153"))
    out.append(fill(e, "P3", "binance", "sell", "0.3", "101.80", "0.01527", reduce_only=True))
    out.append(
        e.emit(
            build(
                ExecutionRollback,
                position_id="P3",
                symbol="BTC",
                failed_venue="bybit",
                rolled_back_venues=["binance"],
                reason="REJECTED",
            ),
            "rollback P3",
        )
    )
    e.strategy = None
    # hour 3: beta closes P2
    e.market = _hour(3)
    out += [mark(e, "binance", "1980", "ETH"), mark(e, "bybit", "1985", "ETH")]
    e.strategy = "beta"
    out.append(e.emit(PositionClosing(position_id="P2", reason="PROFIT_EROSION"), "Closing P2"))
    out.append(fill(e, "P2", "bybit", "sell", "0.02", "1985", "0.01985", symbol="ETH", reduce_only=True))
    out.append(fill(e, "P2", "binance", "buy", "0.02", "1980", "0.0198", symbol="ETH", reduce_only=True))
    # realized: long 0.02·(1985−2001) = −0.32 ; short −0.02·(1980−2000.5) = +0.41 → 0.09
    # fees 0.02001 + 0.020005 + 0.01985 + 0.0198 = 0.079665 ; funding 0.00796 → net 0.018295
    out.append(
        e.emit(
            build(
                PositionClosed,
                position_id="P2",
                reason="PROFIT_EROSION",
                realized_pnl="0.09",
                fees="0.079665",
                funding="0.00796",
                net_pnl="0.018295",
                hold_s=10800,
            ),
            "Closed P2",
        )
    )
    out.append(_stage(e, "6", "Cycle Complete", "cycle_complete", "beta"))
    e.strategy = None
    if unattributed:  # a position of no instance (an older bot's event among the others)
        out.append(fill(e, "P4", "binance", "buy", "0.1", "101.50", "0.005"))
    # hour 4: marks again
    e.market = _hour(4)
    out += [mark(e, "binance", "103.00"), mark(e, "bybit", "102.70")]
    e.market = _hour(4, 30)
    out.append(e.emit(Heartbeat(open_positions=1)))
    return out


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    """The events as a JSONL log at ``path``."""
    path.write_bytes(b"".join(orjson.dumps(ev) + b"\n" for ev in events))
    return path


def recompute(events: list[dict[str, Any]]) -> dict[str | None, dict[str, D]]:
    """Each strategy's realized, unrealized, funding, fees and net PnL (USD), recomputed here from the raw events
    by the textbook rules (the test's own arithmetic, not the reducer's): a position belongs to the strategy of
    its first event; fills build each leg (average entry on increase, realized on decrease); funding is the sum of
    payments; unrealized = side · qty · (last mark − entry) for each open leg of a position not closed."""
    owner: dict[str, str | None] = {}
    legs: dict[tuple[str, str], dict[str, Any]] = {}
    symbol: dict[str, str] = {}
    closed: set[str] = set()
    marks: dict[tuple[str, str], D] = {}
    out: dict[str | None, dict[str, D]] = {}

    def totals(pid: str) -> dict[str, D]:
        return out.setdefault(
            owner[pid], {k: D(0) for k in ("realized", "unrealized", "funding", "fees", "net")}
        )

    for ev in events:
        name = ev["event"]
        pid = ev.get("position_id")
        if pid is not None and pid not in owner:
            owner[pid] = ev.get("strategy")
            symbol[pid] = ev.get("symbol", "BTC")
        if name == "market.mark_price":
            marks[(ev["venue"], ev["symbol"])] = D(ev["mark_price"])
        elif name == "order.filled":
            t = totals(pid)
            side = 1 if ev["side"] == "buy" else -1
            qty, price = D(ev["qty"]), D(ev["price"])
            lg = legs.setdefault((pid, ev["venue"]), {"q": D(0), "e": D(0)})  # q signed
            t["fees"] += D(ev["fee"])
            if lg["q"] == 0 or (lg["q"] > 0) == (side > 0):
                new = abs(lg["q"]) + qty
                lg["e"] = (abs(lg["q"]) * lg["e"] + qty * price) / new
                lg["q"] += side * qty
            else:
                shut = min(qty, abs(lg["q"]))
                t["realized"] += (price - lg["e"]) * shut * (1 if lg["q"] > 0 else -1)
                lg["q"] += side * shut
        elif name == "funding.payment":
            totals(pid)["funding"] += D(ev["payment"])
        elif name in ("position.closed", "execution.rollback"):
            closed.add(pid)
    for (pid, venue), lg in legs.items():
        if pid in closed or lg["q"] == 0:
            continue
        m = marks.get((venue, symbol[pid]))
        if m is not None:
            totals(pid)["unrealized"] += (m - lg["e"]) * lg["q"]
    for t in out.values():
        t["net"] = t["realized"] + t["unrealized"] + t["funding"] - t["fees"]
    return out
