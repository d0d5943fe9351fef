"""Session health with several components: one sink recovering must not hide another still degraded."""

from __future__ import annotations

from arbdash.dashboard.reducer import Reducer


def _health(seq: int, health: str, component: str | None = None, reason: str | None = None) -> dict:
    ev = {
        "v": 1,
        "ts": f"2026-03-01T00:00:{seq:02d}+00:00",
        "session_id": "s",
        "seq": seq,
        "level": "warning",
        "logger": "t",
        "event": "session.health",
        "category": "info",
        "message": "",
        "health": health,
    }
    if component:
        ev["component"] = component
    if reason:
        ev["reason"] = reason
    return ev


def test_worst_component_wins_until_each_recovers() -> None:
    r = Reducer()
    r.feed(_health(1, "running"))
    r.feed(_health(2, "degraded", "jsonl", "OSError: No space left on device"))
    r.feed(_health(3, "degraded", "postgres", "connection refused"))
    r.feed(_health(4, "running", "postgres", "postgres caught up"))
    s = r.snapshot().session
    assert s.health == "degraded"
    assert s.health_reason == "jsonl: OSError: No space left on device"
    r.feed(_health(5, "running", "jsonl"))
    s = r.snapshot().session
    assert (s.health, s.health_reason) == ("running", None)


def test_stopping_is_not_masked_by_a_degraded_component() -> None:
    r = Reducer()
    r.feed(_health(1, "degraded", "postgres", "down"))
    r.feed(_health(2, "stopping", reason="completed"))
    assert r.snapshot().session.health == "stopping"


def test_rejected_payment_for_an_unknown_position_leaves_no_phantom() -> None:
    r = Reducer()
    r.feed(
        {
            "v": 1,
            "ts": "2026-03-01T00:00:01+00:00",
            "session_id": "s",
            "seq": 1,
            "level": "info",
            "logger": "t",
            "event": "funding.payment",
            "category": "funding",
            "message": "",
            "position_id": "P0001-BTC",
            "symbol": "BTC",
            "venue": "binance",
            "side": "sideways",
            "rate": "0.0001",
            "entry_rate": "0.0001",
            "interval_s": 28800,
            "qty": "1",
            "mark_price": "100",
            "notional": "100",
            "payment": "-0.01",
            "expected_payment": "-0.01",
        }
    )
    assert r.stats.rejected == {"bad_field": 1}
    assert r.state.positions == {} and r.state.closed == {}
    assert r.snapshot().positions == []
