"""Reducer tests: hand-worked PnL / fees / funding, lifecycle, timeline, checkpoints, determinism.

Every expected figure is worked out by hand in a comment from the events written in the test, and the reducer
must match it to the last Decimal digit.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import orjson
import pytest
from events_builder import Events, build, fill, mark, round_trip, started

from arbdash.dashboard.reducer import NOISE_EVENTS, Reducer, apply, build_snapshot
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.state import DashboardState, state_from_dict, state_to_dict
from arbdash.logging_pipeline.events import (
    ExecutionRollback,
    FundingRate,
    Heartbeat,
    OrderPartiallyFilled,
    OrderRejected,
    PositionClosed,
    PositionUpdated,
    SessionHealth,
)


def fold(events: list[dict[str, Any]], **kw: Any) -> Reducer:
    r = Reducer(**kw)
    for ev in events:
        r.feed(ev)
    return r


# --- hand-worked figures ------------------------------------------------------------------------------------


def test_open_position_figures_match_hand_computation() -> None:
    e = Events()
    opening, _ = round_trip(e)
    r = fold(opening)
    snap = r.snapshot()
    assert r.stats.applied == len(opening)
    (p,) = snap.positions
    assert p.lifecycle == "open" and p.symbol == "BTC"
    b, y = p.legs["binance"], p.legs["bybit"]
    # unrealized: long 0.5·(101.00−100.00) = 0.5 ; short −0.5·(101.10−100.20) = −0.45
    assert b.unrealized_pnl == D("0.500") and y.unrealized_pnl == D("-0.450")
    assert p.unrealized_pnl == D("0.050")
    assert p.fees == D("0.05005")  # 0.025 + 0.02505
    assert p.funding_accrued == D("0.010115")  # −0.00505 + 0.015165
    assert p.funding_expected == D("0.00506")  # −0.00505 + 0.01011
    # net = 0 + 0.05 + 0.010115 − 0.05005 = 0.010065
    assert p.net_pnl == D("0.010065")
    # notional at mark: 0.5·101.00 = 50.5 and 0.5·101.10 = 50.55; margin at the mark (as the venues compute it)
    # = notional/2: 25.25 and 25.275 (at the entry prices it would be 25.00 and 25.05)
    assert b.notional == D("50.500") and y.notional == D("50.550")
    assert b.margin == D("25.250") and y.margin == D("25.275")
    assert snap.portfolio.total_notional == D("101.050")
    assert snap.portfolio.margin_used == D("50.525")
    # divergence = (101.10/101.00 − 1)·100
    assert p.divergence_pct == (D("101.10") / D("101.00") - 1) * 100
    # headroom = 1000 − 50 (filled exposure) = 950 USD = 95 %
    assert snap.portfolio.exposure_headroom_usd == D("950") and snap.portfolio.exposure_headroom_pct == D(
        "95"
    )
    assert snap.session.open_positions == 1 and snap.session.exposure_used_usd == D("50")
    assert snap.session.lifecycle == "opening_position"
    assert snap.session.stage_banner == "3. 🧨 Atomic Multi-Order Execution"
    assert [v.connected for v in snap.session.venues] == [True, True]


def test_closed_position_realized_fees_funding_net() -> None:
    e = Events()
    opening, closing = round_trip(e)
    r = fold(opening + closing)
    snap = r.snapshot()
    (p,) = snap.positions
    assert p.lifecycle == "closed" and p.exit_reason == "PROFIT_EROSION"
    assert p.realized_pnl == D("0.200")
    assert p.fees == D("0.12645")
    assert p.funding_accrued == D("0.010115")
    assert p.unrealized_pnl == 0
    assert p.net_pnl == D("0.083665")
    pf = snap.portfolio
    assert (pf.realized_pnl, pf.fees, pf.funding, pf.unrealized_pnl) == (
        D("0.200"),
        D("0.12645"),
        D("0.010115"),
        0,
    )
    assert pf.net_pnl == D("0.083665")
    assert (pf.positions_open, pf.positions_opened, pf.positions_closed) == (0, 1, 1)
    assert pf.exposure_headroom_usd == D("1000")
    assert not any(t.event == "dashboard.pnl_mismatch" for t in snap.recent_events)


def test_booked_mismatch_adds_warning_line() -> None:
    e = Events()
    opening, closing = round_trip(e, booked_net="0.09")
    snap = fold(opening + closing).snapshot()
    warn = [t for t in snap.recent_events if t.event == "dashboard.pnl_mismatch"]
    assert len(warn) == 1 and warn[0].category == "warning"
    assert "net_pnl booked 0.09 vs recomputed 0.083665" in warn[0].message


def test_weighted_entry_partial_reduce_and_flip() -> None:
    e = Events()
    r = fold(
        [
            started(e),
            fill(e, "P2", "binance", "buy", "1", "100", "0.05"),
            fill(e, "P2", "binance", "buy", "1", "110", "0.055"),  # entry (100 + 110)/2 = 105
            fill(e, "P2", "binance", "sell", "0.5", "120", "0.03"),  # realized 0.5·(120 − 105) = 7.5
        ]
    )
    leg_ = r.state.positions["P2"].legs["binance"]
    assert (leg_.qty, leg_.entry_price, leg_.realized_pnl, leg_.fees) == (
        D("1.5"),
        D("105"),
        D("7.5"),
        D("0.135"),
    )
    # sell 2 @ 104: closes 1.5 → realized 1.5·(104 − 105) = −1.5, flips 0.5 short at 104
    r.feed(fill(e, "P2", "binance", "sell", "2", "104", "0.104"))
    assert (leg_.side, leg_.qty, leg_.entry_price, leg_.realized_pnl) == (
        "short",
        D("0.5"),
        D("104"),
        D("6.0"),
    )
    assert r.state.realized_total == D("6.0") and r.state.fees_total == D("0.239")


def test_rollback_books_fees_and_loss() -> None:
    e = Events()
    r = fold(
        [
            started(e),
            fill(e, "P3", "binance", "buy", "1", "100", "0.05"),
            e.emit(
                build(
                    OrderRejected,
                    order_id="o9",
                    position_id="P3",
                    venue="bybit",
                    symbol="BTC",
                    side="sell",
                    qty="1",
                    reason="INSUFFICIENT_MARGIN",
                ),
                "bybit rejected",
            ),
            fill(e, "P3", "binance", "sell", "1", "99.5", "0.04975", reduce_only=True),  # realized −0.5
            e.emit(
                ExecutionRollback(
                    position_id="P3",
                    symbol="BTC",
                    failed_venue="bybit",
                    rolled_back_venues=["binance"],
                    reason="INSUFFICIENT_MARGIN",
                ),
                "rolled back",
            ),
        ]
    )
    snap = r.snapshot()
    (p,) = snap.positions
    assert p.lifecycle == "rolled_back"
    assert p.fees == D("0.09975") and p.realized_pnl == D("-0.5")
    # net = −0.5 − 0.09975 = −0.59975
    assert snap.portfolio.net_pnl == D("-0.59975")
    assert snap.portfolio.positions_opened == 0 and snap.session.open_positions == 0


def test_funding_rates_apr_and_countdown() -> None:
    e = Events()
    r = fold(
        [
            started(e),
            e.emit(
                build(
                    FundingRate,
                    venue="binance",
                    symbol="BTC",
                    rate="0.0001",
                    interval_s=28800,
                    apr="0.1095",
                    next_funding_ts="2026-03-01T16:00:00+00:00",
                )
            ),
        ]
    )
    e.market = "2026-03-01T15:30:00+00:00"
    r.feed(e.emit(Heartbeat(open_positions=0)))
    (row,) = r.snapshot().funding.rates
    # APR = 0.0001 · 31,536,000 / 28,800 = 0.1095 ; countdown 16:00 − 15:30 = 1800 s
    assert row.apr == D("0.1095") and row.countdown_s == 1800
    s = r.snapshot().session
    assert s.market_uptime_s == 7.5 * 3600  # 08:00 → 15:30


# --- ingest: bad input, ordering -----------------------------------------------------------------------------


def test_bad_lines_counted_by_reason_never_raise() -> None:
    e = Events()
    r = Reducer()
    r.feed(started(e))
    r.feed_line(b"{oops")  # not_json
    r.feed_line(b'{"v":1,"ts":"\xff"}')  # invalid_utf8
    r.feed_line(b"[1,2]")  # not_object
    r.feed_line(b"42")  # not_object
    r.feed_line(b"")  # empty_line
    r.feed_line(b"\x00\x00")  # nul_bytes (NUL bytes: what copytruncate leaves)
    r.feed_line(orjson.dumps({"v": 1, "event": "heartbeat"}))  # missing_envelope
    r.note_skip("torn_line", "last line without newline")
    naive = e.emit(Heartbeat())
    naive["ts"] = "2026-03-10T12:00:00"
    r.feed(naive)  # naive_timestamp
    r.feed(e("wormhole.opened", "from the future", "info"))  # unknown_event
    newer = e.emit(Heartbeat(), "v2 heartbeat")
    newer["v"] = 2
    r.feed(newer)  # newer_version
    dup = e.emit(Heartbeat())
    r.feed(dup)
    r.feed(dup)  # duplicate_seq
    old = dict(dup, seq=1)
    r.feed(old)  # out_of_order_seq
    st = r.stats
    assert st.skipped == {
        "not_json": 1,
        "nul_bytes": 1,
        "invalid_utf8": 1,
        "not_object": 2,
        "empty_line": 1,
        "missing_envelope": 1,
        "torn_line": 1,
        "naive_timestamp": 1,
        "duplicate_seq": 1,
        "out_of_order_seq": 1,
    }
    assert st.unknown == {"unknown_event": 1, "newer_version": 1}
    assert st.applied == 2  # session.started + one heartbeat
    msgs = [t.message for t in r.snapshot().recent_events]
    assert "unknown event wormhole.opened: from the future" in msgs
    assert "unknown event heartbeat (v2): v2 heartbeat" in msgs
    text = frame_text(r.snapshot(), 160)
    assert "skipped lines: 11 (" in text and "torn_line 1" in text and "nul_bytes 1" in text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"mark_price": "abc"}, "bad_field"),
        ({"mark_price": "NaN"}, "bad_field"),
        ({"mark_price": "Infinity"}, "bad_field"),
        ({"mark_price": 1.5}, "bad_field"),  # a float is never money
        ({"mark_price": None}, "bad_field"),
        ({"venue": 7}, "bad_field"),
    ],
)
def test_wrong_typed_field_rejected_state_unchanged(change: dict[str, Any], reason: str) -> None:
    e = Events()
    r = fold([started(e), mark(e, "binance", "100")])
    before = state_to_dict(r.state)
    r.feed(dict(mark(e, "binance", "101"), **change))
    after = state_to_dict(r.state)
    assert r.stats.rejected == {reason: 1}
    for key in ("stats", "last_seq"):
        before.pop(key), after.pop(key)
    assert before == after
    assert (
        r.state.marks["binance"]["BTC"] == "100"
    )  # the validated text as logged; the snapshot makes it Decimal


def test_missing_fields_on_each_handled_event_are_rejected_not_raised() -> None:
    e = Events()
    r = fold([started(e)])
    for name in (
        "order.filled",
        "position.opened",
        "funding.rate",
        "funding.payment",
        "position.closed",
        "session.started",
        "venue.connected",
        "stage.changed",
        "position.updated",
    ):
        r.feed(e(name, "broken"))
    assert r.stats.rejected_total == 9
    assert r.stats.applied == 1
    assert r.state.positions == {}


def test_unknown_position_update_counted() -> None:
    e = Events()
    r = fold(
        [
            started(e),
            e.emit(
                build(
                    PositionUpdated,
                    position_id="nope",
                    current_spread_apr="0.1",
                    profit_erosion_pct="1",
                    divergence_pct="0.1",
                )
            ),
        ]
    )
    assert r.stats.rejected == {"unknown_position": 1}


# --- timeline --------------------------------------------------------------------------------------------


def test_timeline_excludes_noise_and_is_bounded() -> None:
    e = Events()
    opening, closing = round_trip(e)
    r = fold(opening + closing, timeline_size=5)
    tl = r.snapshot().recent_events
    assert len(tl) == 5
    assert not any(t.event in NOISE_EVENTS for t in tl)
    assert tl[-1].event == "position.closed" and tl[-1].category == "execution"
    r2 = fold(opening + closing, timeline_size=50)
    events = [t.event for t in r2.snapshot().recent_events]
    assert "stage.changed" in events and "market.mark_price" not in events


# --- determinism, checkpoints ---------------------------------------------------------------------------


def test_feed_and_feed_line_give_the_same_frame() -> None:
    e = Events()
    opening, closing = round_trip(e)
    a = fold(opening + closing)
    b = Reducer()
    for ev in opening + closing:
        b.feed_line(orjson.dumps(ev) + b"\n")
    assert a.snapshot() == b.snapshot()
    assert frame_text(a.snapshot(), 120) == frame_text(b.snapshot(), 120)


def test_checkpoint_round_trip_and_resume() -> None:
    e = Events()
    opening, closing = round_trip(e)
    full = fold(opening + closing)
    half = fold(opening)
    data = orjson.loads(orjson.dumps(state_to_dict(half.state)))
    resumed = Reducer()
    resumed.load_checkpoint(data)
    assert build_snapshot(resumed.state) == half.snapshot()
    for ev in closing:
        resumed.feed(ev)
    assert frame_text(resumed.snapshot(), 140) == frame_text(full.snapshot(), 140)


def test_apply_is_a_fold_returning_the_state() -> None:
    e = Events()
    s = DashboardState()
    for ev in round_trip(e)[0]:
        s = apply(s, ev)
    assert s.stats.applied == 11 and s.positions["P1"].lifecycle == "open"


def test_state_from_dict_rejects_naive_datetimes() -> None:
    e = Events()
    data = state_to_dict(fold([started(e)]).state)
    data["session"]["started_ts"] = "2026-03-10T12:00:00"
    with pytest.raises(ValueError):
        state_from_dict(data)


# --- more hostile input, model consistency ------------------------------------------------------------------


def test_snapshot_built_without_validation_validates() -> None:
    """The snapshot is built without validation; its values must still satisfy the models: encoded as JSON and
    decoded strictly it is the same snapshot (money as decimal text, aware times)."""
    import msgspec

    from arbdash.dashboard.models import DashboardSnapshot

    e = Events()
    opening, closing = round_trip(e)
    for events in (opening, opening + closing, []):
        snap = fold(events).snapshot()
        again = msgspec.json.decode(msgspec.json.encode(snap), type=DashboardSnapshot)
        assert again == snap


def test_huge_nan_binary_lines_are_skipped() -> None:
    r = Reducer(max_line_bytes=1000)
    r.feed_line(b'{"v":1,"pad":"' + b"x" * 2000 + b'"}')  # too_long
    r.feed_line(b'{"v":1,"ts":NaN}')  # NaN literal is not JSON
    r.feed_line(bytes(range(256)))  # binary
    r.feed("not a dict")  # type: ignore[arg-type]
    assert r.stats.skipped == {"too_long": 1, "not_json": 1, "invalid_utf8": 1, "not_object": 1}
    assert r.version == 4


def test_partial_fills_are_incremental() -> None:
    e = Events()
    r = fold([started(e)])
    r.feed(
        e.emit(
            build(
                OrderPartiallyFilled,
                position_id="P4",
                order_id="o1",
                venue="binance",
                symbol="ETH",
                side="buy",
                qty="0.3",
                price="2000",
                fee="0.3",
                fee_rate="0.0005",
                remaining_qty="0.7",
            )
        )
    )
    r.feed(fill(e, "P4", "binance", "buy", "0.7", "2010", "0.7035", symbol="ETH"))
    leg_ = r.state.positions["P4"].legs["binance"]
    # entry = (0.3·2000 + 0.7·2010) / 1.0 = 2007 ; fees 0.3 + 0.7035 = 1.0035
    assert (leg_.qty, leg_.entry_price, leg_.fees) == (D("1.0"), D("2007"), D("1.0035"))


def test_events_without_message_are_described() -> None:
    e = Events()
    r = fold([started(e), e.emit(SessionHealth(health="degraded", reason="pg down"))])
    assert r.snapshot().recent_events[-1].message == "session.health health=degraded reason=pg down"
    assert r.snapshot().session.health == "degraded"


def test_close_of_unknown_position_is_rejected() -> None:
    e = Events()
    r = fold(
        [
            started(e),
            e.emit(
                build(
                    PositionClosed,
                    position_id="ghost",
                    reason="TIME_LIMIT",
                    realized_pnl="0",
                    fees="0",
                    funding="0",
                    net_pnl="0",
                    hold_s=1,
                )
            ),
        ]
    )
    assert r.stats.rejected == {"unknown_position": 1}
    assert r.snapshot().portfolio.positions_closed == 0


def test_feed_lines_equals_feed_line_and_counts() -> None:
    e = Events()
    opening, closing = round_trip(e)
    lines = [orjson.dumps(ev) + b"\n" for ev in opening + closing] + [b"{torn"]
    a = Reducer()
    for line in lines:
        a.feed_line(line)
    b = Reducer()
    assert b.feed_lines(iter(lines)) == len(lines)
    assert a.snapshot() == b.snapshot() and b.stats.skipped == {"not_json": 1}
    assert b.version == len(lines)


def test_naive_market_ts_skipped() -> None:
    e = Events()
    r = fold([started(e)])
    e.market = "2026-03-01T09:00:00"
    r.feed(mark(e, "binance", "100"))
    assert r.stats.skipped == {"naive_timestamp": 1} and r.state.marks == {}


def test_bad_checkpoint_is_counted_and_timeline_size_kept() -> None:
    e = Events()
    opening, _ = round_trip(e)
    small = fold(opening, timeline_size=3)
    r = Reducer(timeline_size=7)
    assert not r.load_checkpoint({"session": 42})
    assert r.stats.skipped == {"bad_checkpoint": 1}
    assert r.load_checkpoint(state_to_dict(small.state))
    assert r.state.timeline_size == 7 and len(r.state.timeline) == 3
