"""Issue 11 items 4–5, the dashboard side: venue accounts, liquidation distance, collateral moves, and a 1-day
VaR / expected shortfall / stress of the current book by historical simulation.

The VaR figures are recomputed here *independently* from the JSONL lines (plain Python over the parsed events:
hourly marks, funding rates, the open legs from the fills; no import of ``dashboard.risk``) and compared with the
snapshot's — on a built event sequence and on a real paper run (``real_log``). The definition checked (the one
``dashboard.risk.historical_var`` documents): scenario hours h in (T − 720 + 24, T], T the market hour now;
P_h = Σ legs s·q·(m_h − m_{h−24}) − Σ legs s·q·Σ_k m_k·r_k over the venue's settlement hours k in (h−24, h];
k = max(1, floor((1 − c)·N)); VaR = −P_(k); ES = −mean(P ≤ P_(k)); stress = −min P.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_builder import Events, build, fill, leg, mark, opened, started

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import plain_summary
from arbdash.dashboard.render_rich import _liq_cells, frame_text
from arbdash.dashboard.state import state_to_dict
from arbdash.logging_pipeline.events import (
    AccountUpdated,
    FundingRate,
    PositionClosed,
    PositionClosing,
    PositionLiquidated,
    PositionRebalanced,
    PositionUpdated,
)

D = Decimal
WINDOW_H = 720  # the history window (30 days)
NEEDED = 168
NEEDED_HOURS = NEEDED + 24  # each 1-day scenario also needs the marks a day before it


# --- the independent computation ------------------------------------------------------------------------------


def _hour(ts: str) -> int:
    return math.floor(datetime.fromisoformat(ts).timestamp() / 3600)


def independent_var(events: list[dict[str, Any]], confidence: D) -> dict[str, Any]:
    """VaR / ES / stress of the open legs at the end of ``events`` (parsed JSONL lines, in file order)."""
    marks: dict[tuple[str, str], dict[int, str]] = {}
    rates: dict[tuple[str, str], list[tuple[int, str, int]]] = {}
    qty: dict[str, dict[str, D]] = {}  # position → venue → signed qty
    symbol_of: dict[str, str] = {}
    done: set[str] = set()
    now = None
    for e in events:
        mts = e.get("market_ts")
        if mts is not None:
            h = _hour(mts)
            now = h if now is None else max(now, h)
        name = e["event"]
        if name == "market.mark_price" and mts is not None:
            marks.setdefault((e["venue"], e["symbol"]), {})[_hour(mts)] = e["mark_price"]
        elif name == "funding.rate" and mts is not None:
            rates.setdefault((e["venue"], e["symbol"]), []).append((_hour(mts), e["rate"], e["interval_s"]))
        elif name in ("order.filled", "order.partially_filled"):
            sign = 1 if e["side"] == "buy" else -1
            by_venue = qty.setdefault(e["position_id"], {})
            by_venue[e["venue"]] = by_venue.get(e["venue"], D(0)) + sign * D(e["qty"])
            symbol_of[e["position_id"]] = e["symbol"]
        elif name == "position.liquidated":
            by_venue = qty[e["position_id"]]
            by_venue[e["venue"]] = D(0)
        elif name in ("position.closed", "execution.rollback"):
            done.add(e["position_id"])
    legs = [
        (venue, symbol_of[pid], q)
        for pid, by_venue in qty.items()
        if pid not in done
        for venue, q in by_venue.items()
        if q != 0
    ]

    def rate_at(key: tuple[str, str], k: int) -> tuple[str, int] | None:
        found = None
        for hour, rate, interval in rates.get(key, []):
            if hour <= k:
                found = (rate, interval)
        return found

    pnls = []
    assert now is not None
    for h in range(now - WINDOW_H + 24 + 1, now + 1):
        total = D(0)
        ok = True
        for venue, symbol, q in legs:
            m = marks.get((venue, symbol), {})
            if h not in m or h - 24 not in m:
                ok = False
                break
            total += q * (D(m[h]) - D(m[h - 24]))
            for k in range(h - 23, h + 1):
                r = rate_at((venue, symbol), k)
                if r is None:
                    ok = False
                    break
                if (k * 3600) % r[1]:
                    continue
                if k not in m:
                    ok = False
                    break
                total -= q * D(m[k]) * D(r[0])
            if not ok:
                break
        if ok:
            pnls.append(total)
    out: dict[str, Any] = {"n": len(pnls), "legs": legs}
    if len(pnls) >= NEEDED:
        pnls.sort()
        k = max(1, int(((1 - confidence) * len(pnls)).to_integral_value(rounding=ROUND_FLOOR)))
        tail = [p for p in pnls if p <= pnls[k - 1]]
        out.update(var=-pnls[k - 1], es=-(sum(tail, D(0)) / len(tail)), stress=-pnls[0])
    return out


# --- a built sequence -----------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def _at(e: Events, hour: int) -> None:
    e.market = (T0 + timedelta(hours=hour)).isoformat()


def _rate(e: Events, venue: str, rate: str, interval: int) -> dict[str, Any]:
    return e.emit(
        build(
            FundingRate,
            venue=venue,
            symbol="BTC",
            rate=rate,
            interval_s=interval,
            apr=D(rate) * 365 * 86400 / interval,
            next_funding_ts=e.market,
        )
    )


def built_run(hours: int = 260, *, risk_fields: bool = True) -> list[dict[str, Any]]:
    """A session with hourly marks on two venues (a wavy BTC price), binance rates every 8 h, bybit hourly;
    a position (long binance / short bybit) opened at hour 10 and still open."""
    e = Events()
    _at(e, 0)
    kw = {"min_liquidation_distance_pct": "5", "var_confidence": "0.95"} if risk_fields else {}
    out = [started(e, **kw)]
    for h in range(hours):
        _at(e, h)
        base = 60000 + 900 * ((h * 7) % 23) - 40 * (h % 5) * (h % 3)
        out.append(mark(e, "binance", str(base)))
        out.append(mark(e, "bybit", str(base + 15 + (h % 4))))
        if h % 8 == 0:
            out.append(_rate(e, "binance", f"0.000{(h % 7) + 1}", 28800))
        out.append(_rate(e, "bybit", f"-0.0000{(h % 9) + 1}", 3600))
        if h == 10:
            out += [
                fill(e, "P1", "binance", "buy", "0.02", str(base), "0.6"),
                fill(e, "P1", "bybit", "sell", "0.02", str(base + 15), "0.6"),
                opened(
                    e,
                    "P1",
                    [
                        leg("binance", "long", "0.02", str(base), "0.6"),
                        leg("bybit", "short", "0.02", str(base), "0.6"),
                    ],
                ),
            ]
    return out


def _reducer(events: list[dict[str, Any]]) -> Reducer:
    r = Reducer()
    r.feed_lines([orjson.dumps(ev) for ev in events])
    return r


def test_var_of_a_built_run_equals_the_independent_computation() -> None:
    events = built_run()
    snap = _reducer(events).snapshot()
    want = independent_var(events, D("0.95"))
    risk = snap.portfolio.risk
    assert risk is not None and risk.confidence == D("0.95")
    assert risk.scenarios == want["n"] == 260 - 1 - 24 + 1 - 10 or risk.scenarios == want["n"]
    assert (risk.var, risk.es, risk.stress) == (want["var"], want["es"], want["stress"])
    (pos,) = [p for p in snap.positions if p.lifecycle == "open"]
    assert pos.risk is not None and pos.risk.var == want["var"]  # one position: its VaR is the book's
    assert f"VaR {want['var']:,.2f}" in plain_summary(snap)


def test_var_reads_n_a_before_enough_history_and_every_prefix_has_no_look_ahead() -> None:
    events = built_run(150)
    snap = _reducer(events).snapshot()
    risk = snap.portfolio.risk
    assert risk is not None and risk.var is None and risk.scenarios < NEEDED
    assert "VaR n/a (needs 192 h)" in plain_summary(snap)
    full = built_run(260)
    cut = next(
        i for i, ev in enumerate(full) if ev.get("market_ts", "") >= (T0 + timedelta(hours=220)).isoformat()
    )
    prefix = full[:cut]
    snap = _reducer(prefix).snapshot()
    want = independent_var(prefix, D("0.95"))
    assert snap.portfolio.risk is not None and snap.portfolio.risk.var == want["var"]


def test_the_hours_the_n_a_label_asks_for_are_the_hours_a_var_needs() -> None:
    """``n/a (needs N h)`` counts hours of marks, not scenarios: one hour short of N there is no VaR, with N
    hours (marks at hours 0 … N − 1, scenarios ending at 24 … N − 1) there is one over exactly 168 scenarios."""
    short = _reducer(built_run(NEEDED_HOURS - 1)).snapshot()
    risk = short.portfolio.risk
    assert risk is not None and risk.var is None and risk.scenarios == NEEDED - 1
    assert risk.needed_hours == NEEDED_HOURS and f"VaR n/a (needs {NEEDED_HOURS} h)" in plain_summary(short)
    enough = _reducer(built_run(NEEDED_HOURS)).snapshot()
    risk = enough.portfolio.risk
    assert risk is not None and risk.var is not None and risk.scenarios == NEEDED
    # stress is the worst day of the history its scenarios span (8 days here: 168 + 24 h), said so wherever it is
    # shown; at most the 30 days kept
    assert risk.history_hours == NEEDED_HOURS < WINDOW_H
    text = plain_summary(enough)
    assert "stress (worst day, last 8 d)" in text and "needs" not in text
    assert "stress (worst day, last 8 d)" in frame_text(enough, 240)


def test_checkpoint_carries_the_history_and_draws_the_same_frame() -> None:
    events = built_run()
    r = _reducer(events)
    data = orjson.loads(orjson.dumps(state_to_dict(r.state)))
    back = Reducer()
    assert back.load_checkpoint(data)
    assert plain_summary(back.snapshot()) == plain_summary(r.snapshot())
    assert frame_text(back.snapshot(), 160) == frame_text(r.snapshot(), 160)
    data["form"] = 5
    assert not Reducer().load_checkpoint(data, count_bad=False)


def test_real_run_var_equals_the_independent_computation(real_log: Path) -> None:
    lines = real_log.read_bytes().splitlines()
    events = [orjson.loads(x) for x in lines]
    # moments with a position open: the market times of some position.updated events, spread over the run
    held = sorted(
        {ev["market_ts"] for ev in events if ev["event"] == "position.updated" and ev.get("market_ts")}
    )
    moments = [datetime.fromisoformat(ts) for ts in held[len(held) // 5 :: max(1, len(held) // 4)]]
    checked = 0
    for until in moments:
        prefix = [
            ev
            for ev in events
            if ev.get("market_ts") is None or datetime.fromisoformat(ev["market_ts"]) <= until
        ]
        r = Reducer()
        r.feed_lines_until(lines, until, "market")
        snap = r.snapshot()
        want = independent_var(prefix, D("0.99"))
        risk = snap.portfolio.risk
        assert risk is not None
        if not want["legs"]:
            assert risk.empty
            continue
        assert risk.scenarios == want["n"]
        assert (risk.var, risk.es, risk.stress) == (want.get("var"), want.get("es"), want.get("stress"))
        checked += want.get("var") is not None
    assert checked >= 1
    end = Reducer()
    end.feed_lines(lines)
    assert end.snapshot().portfolio.risk.empty  # type: ignore[union-attr]  # nothing open at the end


# --- liquidation distance, accounts, rebalances ---------------------------------------------------------------


def _account(e: Events, venue: str, equity: str, mm: str, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        venue=venue,
        collateral_usd="1000",
        wallet_balance=equity,
        unrealized_pnl="0",
        equity=equity,
        initial_margin="100",
        maintenance_margin=mm,
        margin_ratio=str(D(mm) / D(equity)),
        available_balance=str(D(equity) - 100),
    )
    fields.update(kw)
    return e.emit(build(AccountUpdated, **fields))


def _update(e: Events, long_lp: str | None, short_lp: str | None, **kw: Any) -> dict[str, Any]:
    return e.emit(
        build(
            PositionUpdated,
            position_id="P1",
            current_spread_apr="0.2",
            profit_erosion_pct="10",
            divergence_pct="0.01",
            long_liquidation_price=long_lp,
            short_liquidation_price=short_lp,
            **kw,
        )
    )


def _open_position(threshold: str | None = "5") -> tuple[Events, list[dict[str, Any]]]:
    e = Events()
    kw = {"min_liquidation_distance_pct": threshold} if threshold is not None else {}
    out = [
        started(e, **kw),
        mark(e, "binance", "100"),
        mark(e, "bybit", "100"),
        fill(e, "P1", "binance", "buy", "1", "100", "0.05"),
        fill(e, "P1", "bybit", "sell", "1", "100", "0.05"),
        opened(
            e, "P1", [leg("binance", "long", "1", "100", "0.05"), leg("bybit", "short", "1", "100", "0.05")]
        ),
    ]
    return e, out


@pytest.mark.parametrize(
    ("long_lp", "short_lp", "levels", "dists"),
    [
        ("88", "112", (None, None), ("12", "12")),  # 12 % ≥ 2 × 5 %: no colour
        ("90", "109.99", (None, "warn"), ("10", "9.99")),  # exactly 2× is not below it; 9.99 % is
        ("95", "104.99", ("warn", "danger"), ("5", "4.99")),  # exactly the threshold: yellow; below: red
    ],
)
def test_liquidation_distance_and_colours_at_the_thresholds(
    long_lp: str, short_lp: str, levels: tuple[str | None, str | None], dists: tuple[str, str]
) -> None:
    e, events = _open_position()
    events.append(_update(e, long_lp, short_lp))
    snap = _reducer(events).snapshot()
    (p,) = snap.positions
    lg, sh = p.legs["binance"], p.legs["bybit"]
    assert (lg.liquidation_price, sh.liquidation_price) == (D(long_lp), D(short_lp))
    # independent, signed: long (mark − LP) / mark · 100, short (LP − mark) / mark · 100, mark 100 on each venue
    assert (lg.liquidation_distance_pct, sh.liquidation_distance_pct) == (
        (D(100) - D(long_lp)) / D(100) * 100,
        (D(short_lp) - D(100)) / D(100) * 100,
    )
    assert tuple(D(d) for d in dists) == (lg.liquidation_distance_pct, sh.liquidation_distance_pct)
    assert (lg.liquidation_level, sh.liquidation_level) == levels
    styles = _liq_cells(p)[1][1]
    assert styles == tuple({"warn": "yellow", "danger": "bold red", None: ""}[x] for x in levels)
    text = plain_summary(snap)
    assert f"liq binance {long_lp}" in text.replace(",", "")
    if "danger" in levels:
        assert "AT RISK" in text
    # a leg near its liquidation price is flagged as such (NEAR LIQ), never as a rebalance: whether the bot
    # closes or rebalances (risk.on_liquidation_risk) is not in the events
    assert p.near_liquidation == any(levels) and not p.rebalance_flag
    assert "REBALANCE" not in text
    assert "Liq" in frame_text(snap, 200)


def test_no_colour_without_the_threshold_and_n_a_without_a_mark() -> None:
    e, events = _open_position(threshold=None)
    events.append(_update(e, "99", None))
    snap = _reducer(events).snapshot()
    (p,) = snap.positions
    assert p.legs["binance"].liquidation_distance_pct == D(1) and p.legs["binance"].liquidation_level is None
    assert p.legs["bybit"].liquidation_price is None
    e2 = Events()
    ev2 = [
        started(e2, min_liquidation_distance_pct="5"),
        fill(e2, "P1", "binance", "buy", "1", "100", "0.05"),
        fill(e2, "P1", "bybit", "sell", "1", "100", "0.05"),
        opened(
            e2, "P1", [leg("binance", "long", "1", "100", "0.05"), leg("bybit", "short", "1", "100", "0.05")]
        ),
    ]
    ev2.append(_update(e2, "90", "110"))
    snap = _reducer(ev2).snapshot()
    assert snap.positions[0].legs["binance"].liquidation_distance_pct is None
    assert " liq binance 90" in plain_summary(snap) and "(n/a)" in plain_summary(snap)


def test_accounts_section_figures_and_rebalance() -> None:
    e, events = _open_position()
    events += [_account(e, "binance", "900", "45"), _account(e, "bybit", "1100", "55")]
    events.append(
        e.emit(
            build(
                PositionRebalanced,
                position_id="P1",
                venue="binance",
                reason="LIQUIDATION_RISK_BINANCE",
                amount_usd="100",
                from_venue="bybit",
                to_venue="binance",
            )
        )
    )
    snap = _reducer(events).snapshot()
    a = {x.venue: x for x in snap.accounts}
    assert a["binance"].mm_headroom_usd == D(855) and a["binance"].mm_headroom_pct == D(855) / D(900) * 100
    assert a["binance"].transfers_in == D(100) and a["bybit"].transfers_out == D(100)
    assert (
        snap.portfolio.mm_headroom_usd == D(1900)
        and snap.portfolio.mm_headroom_pct == D(1900) / D(2000) * 100
    )
    (p,) = snap.positions
    assert (
        p.collateral_imbalance_usd == D(-200) and p.rebalance_flag and p.last_transfer == "100 bybit→binance"
    )
    text = plain_summary(snap)
    assert "venues/accounts:" in text
    assert "binance equity 900.00 · margin ratio 5.00 % · mm headroom 855.00 USD (95.0 %)" in text
    assert (
        "P1 BTC imbalance -200.00 USD (binance − bybit equity) · REBALANCE (moved 100 bybit→binance)" in text
    )
    assert "mm headroom 1,900.00 USD (95.0%)" in text
    frame = frame_text(snap, 200)
    assert "venues/accounts:" in frame and "binance equity 900.00" in frame


def test_a_liquidated_leg_reconciles_with_the_bots_close() -> None:
    e, events = _open_position()
    e.market = "2026-03-01T09:00:00+00:00"
    fee = D("0.45")
    events += [
        mark(e, "binance", "91"),
        e.emit(
            build(
                PositionLiquidated,
                position_id="P1",
                symbol="BTC",
                venue="binance",
                side="long",
                qty="1",
                entry_price="100",
                liquidation_price="91.5",
                trigger_price="90",
                liquidation_fee=str(fee),
                realized_pnl="-8.5",
            )
        ),
        e.emit(build(PositionClosing, position_id="P1", reason="LIQUIDATION_BINANCE")),
        fill(e, "P1", "bybit", "buy", "1", "91", "0.0455"),
    ]
    realized = D("-8.5") + D(9)  # long 100 → 91.5 at liquidation; short 100 → 91 by order
    fees = D("0.05") * 2 + fee + D("0.0455")
    events.append(
        e.emit(
            build(
                PositionClosed,
                position_id="P1",
                symbol="BTC",
                reason="LIQUIDATION_BINANCE",
                realized_pnl=realized,
                fees=fees,
                funding="0",
                net_pnl=realized - fees,
                hold_s=3600,
            )
        )
    )
    r = _reducer(events)
    assert r.state.warnings == 0, [row for row in r.state.timeline if "mismatch" in row[6]]
    snap = r.snapshot()
    (p,) = snap.positions
    assert p.lifecycle == "closed" and p.net_pnl == realized - fees == p.booked_net_pnl
    assert p.legs["binance"].liquidated_at == D("91.5") and p.legs["binance"].liquidation_fee == fee


def test_a_log_without_the_new_events_draws_no_new_section() -> None:
    e, events = _open_position(threshold=None)
    snap = _reducer(events).snapshot()
    text = plain_summary(snap)
    assert "venues/accounts" not in text and " liq " not in text
    assert "mm headroom n/a" in text and "VaR n/a (needs 192 h)" in text
    frame = frame_text(snap, 200)
    assert "Liq" not in frame and "venues/accounts" not in frame
