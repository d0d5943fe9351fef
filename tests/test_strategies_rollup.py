"""The per-strategy roll-up (issue 13 item 3): reducer state, snapshot, checkpoints, renderers and the ``s`` key.

The session is ``tests.support_strategies.two_strategy_session``; every expected figure is recomputed here from the
raw events (``recompute``) or from the portfolio the same snapshot gives, never written down."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from events_builder import Events, build, fill, round_trip
from support_strategies import recompute, two_strategy_session

from arbdash.dashboard.focus import focus_snapshot
from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.pane_keys import PANE_KEYS_LINES, PaneKeys
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import plain_summary
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.state import MAX_STRATEGIES, state_from_dict, state_to_dict
from arbdash.logging_pipeline.events import StrategyStarted

FIGURES = ("realized_pnl", "unrealized_pnl", "funding", "funding_expected", "fees", "net_pnl")


def fold(events: list[dict[str, Any]]) -> Reducer:
    r = Reducer()
    for ev in events:
        r.feed(ev)
    return r


@pytest.mark.parametrize("unattributed", [False, True])
def test_each_strategy_is_its_events_recomputed(unattributed: bool) -> None:
    events = two_strategy_session(unattributed=unattributed)
    r = fold(events)
    assert not r.stats.rejected and not r.stats.skipped
    snap = r.snapshot()
    want = recompute(events)
    got = {v.name: v for v in snap.strategies}
    assert list(got) == ["alpha", "beta"] + ([None] if unattributed else [])
    assert set(want) == set(got)
    for name, figures in want.items():
        v = got[name]
        assert v.realized_pnl == figures["realized"], name
        assert v.unrealized_pnl == figures["unrealized"], name
        assert v.funding == figures["funding"], name
        assert v.fees == figures["fees"], name
        assert v.net_pnl == figures["net"], name
    alpha, beta = got["alpha"], got["beta"]
    assert (alpha.type, beta.type) == ("funding_arbitrage", "carry")
    assert alpha.stage_banner == "4. Monitoring Position" and beta.lifecycle == "cycle_complete"
    assert (alpha.max_positions, beta.max_positions) == (2, 1)
    # exposure as the portfolio defines it, over each strategy's open positions
    open_alpha = [p for p in snap.positions if p.strategy == "alpha" and p.lifecycle == "open"]
    assert alpha.exposure_used_usd == sum(p.filled_exposure_usd for p in open_alpha)
    assert alpha.positions_open == len(open_alpha) and beta.positions_open == 0


@pytest.mark.parametrize("unattributed", [False, True])
def test_strategies_add_up_to_the_portfolio_to_the_last_digit(unattributed: bool) -> None:
    events = two_strategy_session(unattributed=unattributed)
    r = Reducer()
    for ev in events:  # at every step, not only at the end
        r.feed(ev)
        snap = r.snapshot()
        if not snap.strategies:
            continue
        p = snap.portfolio
        for field in FIGURES:
            total = sum((getattr(v, field) for v in snap.strategies), Decimal(0))
            assert total == getattr(p, field), (ev["seq"], field)
        assert sum((v.exposure_used_usd for v in snap.strategies), Decimal(0)) == p.exposure_used_usd
        assert sum(v.positions_open for v in snap.strategies) == p.positions_open


def test_sparkline_samples_are_the_net_at_each_hours_end() -> None:
    events = two_strategy_session()
    snap = fold(events).snapshot()
    hours = sorted({ev["market_ts"][:13] for ev in events})
    expected: dict[str, list[Decimal]] = {"alpha": [], "beta": []}
    for hour in hours[:-1]:  # every hour the clock left; the last one is "now"
        upto = [ev for ev in events if ev["market_ts"][:13] <= hour]
        figures = recompute(upto)
        for name in expected:
            expected[name].append(figures[name]["net"] if name in figures else Decimal(0))
    for v in snap.strategies:
        assert v.pnl_history == [*expected[v.name], v.net_pnl]


def test_a_checkpoint_keeps_the_strategies() -> None:
    events = two_strategy_session(unattributed=True)
    cut = len(events) // 2
    first = fold(events[:cut])
    data = state_to_dict(first.state)
    restored = Reducer()
    assert restored.load_checkpoint(data, count_bad=False)
    assert restored.state.strategies == first.state.strategies
    assert restored.state.unattributed == first.state.unattributed
    assert state_from_dict(data).pnl_sample_due == first.state.pnl_sample_due
    for ev in events[cut:]:
        restored.feed(ev)
    whole = fold(events)
    assert restored.snapshot().strategies == whole.snapshot().strategies
    assert [p.strategy for p in restored.snapshot().positions] == [
        p.strategy for p in whole.snapshot().positions
    ]


def test_an_older_checkpoint_form_is_refused() -> None:
    data = state_to_dict(fold(two_strategy_session()).state)
    data["form"] = 6
    assert not Reducer().load_checkpoint(data, count_bad=False)


def _frames(snap: DashboardSnapshot) -> list[str]:
    return [frame_text(snap, 160), frame_text(snap, 160, 50), plain_summary(snap)]


def test_the_strategies_pane_shows_only_with_two_or_more() -> None:
    two = fold(two_strategy_session()).snapshot()
    for text in _frames(two):
        assert "strategies" in text
        for v in two.strategies:
            assert f"{v.net_pnl:+.2f}" in text
    rich = frame_text(two, 160)
    assert "Strategy" in rich and "Net by hour" in rich
    assert any(c in rich for c in "▁▂▃▄▅▆▇█")
    # one strategy instance: every frame as without any (no strategies pane, no Strategy column)
    e = Events()
    events = [e.emit(build(StrategyStarted, **_started()), strategy="solo")]
    e.strategy = "solo"
    pre, post = round_trip(e)
    folded = fold([*events, *pre, *post])  # strategy.started first: its seq comes first
    assert not folded.stats.skipped and not folded.stats.rejected
    one = folded.snapshot()
    assert [v.name for v in one.strategies] == ["solo"] and one.strategies[0].type == "funding_arbitrage"
    assert {p.strategy for p in one.positions} == {"solo"}
    bare = msgspec.structs.replace(
        one,
        strategies=[],
        positions=[msgspec.structs.replace(p, strategy=None) for p in one.positions],
        recent_events=[msgspec.structs.replace(ev, strategy=None) for ev in one.recent_events],
    )
    for a, b in zip(_frames(one), _frames(bare), strict=True):
        assert "Strategy" not in a and "strategies" not in a
        assert a == b


def _started(**kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        type="funding_arbitrage",
        version="1.0.0",
        venues=["binance", "bybit"],
        symbols=["BTC"],
        max_positions=1,
        max_total_exposure_usd="100",
    )
    fields.update(kw)
    return fields


def test_more_than_the_bound_of_strategies_is_refused_and_counted() -> None:
    e = Events()
    events = [e.emit(build(StrategyStarted, **_started()), strategy=f"s{i}") for i in range(MAX_STRATEGIES)]
    e.strategy = "one-too-many"
    extra = fill(e, "PX", "binance", "buy", "1", "100", "0.1")
    r = fold([*events, extra])
    assert len(r.state.strategies) == MAX_STRATEGIES
    assert r.stats.rejected == {"too_many_strategies": 1}
    assert r.snapshot().portfolio.fees == 0 and "PX" not in r.state.positions


def test_a_refused_event_leaves_no_strategy_behind() -> None:
    e = Events()
    bad = e.emit(build(StrategyStarted, **_started()), strategy="ghost")
    bad["max_total_exposure_usd"] = "NaN"
    r = fold([bad])
    assert r.stats.rejected == {"bad_field": 1}
    assert r.state.strategies == {}


def test_session_started_names_no_instance() -> None:
    events = two_strategy_session()
    r = fold(events[:1])
    assert events[0]["strategy"] == "alpha+beta"
    assert r.state.strategies == {}


def test_focus_limits_positions_accruals_and_timeline() -> None:
    snap = fold(two_strategy_session(unattributed=True)).snapshot(closed_rows=10)
    beta = focus_snapshot(snap, "beta")
    assert beta.focus == "beta"
    assert {p.position_id for p in beta.positions} == {
        p.position_id for p in snap.positions if p.strategy == "beta"
    }
    assert beta.positions and all(p.strategy == "beta" for p in beta.positions)
    assert all(a.strategy == "beta" for a in beta.funding.accruals) and beta.funding.accruals
    assert beta.recent_events and all(ev.strategy == "beta" for ev in beta.recent_events)
    assert beta.portfolio == snap.portfolio and beta.strategies == snap.strategies
    text = frame_text(beta, 160)
    assert "focus beta" in text and "P1 " not in text


def test_the_s_key_cycles_the_focus() -> None:
    snap = fold(two_strategy_session()).snapshot()
    keys = PaneKeys()
    seen = []
    for _ in range(3):
        assert keys.press("s", snap)
        seen.append(keys.strategy)
    assert seen == ["alpha", "beta", None]
    keys.press("s", snap)
    assert keys.status() == ["strategy alpha"]
    assert "s" in [k for k, _ in PANE_KEYS_LINES]  # on the ? help page of every view
    one = fold(round_trip(Events())[0]).snapshot()
    keys = PaneKeys()
    assert keys.press("s", one) and keys.strategy is None
