"""Several strategies in one bot (issue 13 items 1 and 2): ``configs/strategies_paper.yml`` runs two
funding-arbitrage instances with different universes and thresholds, and a settlement-timing one, over the real
data. Every event an instance
writes carries its name (the envelope's ``strategy``, bound with structlog's context variables), each position
belongs to one instance, and the instances' own limits and the session's ``limits:`` hold at every moment."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from support_runs import ROOT, Run, run_bot_in_process

from arbdash.bot.config import ConfigError, load_config

TWO = ROOT / "configs" / "strategies_paper.yml"
#: Events only a strategy writes (its cycle, scan, orders, positions, funding of its positions, its limits).
STRATEGY_EVENTS = {
    "stage.changed",
    "opportunity.found",
    "opportunity.skipped",
    "order.placed",
    "order.filled",
    "order.rejected",
    "execution.rollback",
    "position.opened",
    "position.updated",
    "position.closing",
    "position.closed",
    "position.liquidated",
    "position.rebalanced",
    "funding.payment",
    "funding.settlement",
    "risk.limit_hit",
    "strategy.started",
}
#: Events of the session, the venues and the market: no strategy (``session.started`` names them all).
SESSION_EVENTS = {
    "session.health",
    "session.stopped",
    "venue.connected",
    "account.updated",
    "market.mark_price",
    "funding.rate",
    "heartbeat",
    "dashboard.checkpoint",
}


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_bot_in_process(tmp_path_factory.mktemp("two"), config=load_config(TWO))


def _owner() -> dict[str, str]:
    cfg = load_config(TWO)
    return {sym: inst.name for inst in cfg.instances for sym in inst.symbols}


def test_every_strategy_event_carries_its_strategy(two: Run) -> None:
    assert two.code == 0
    owner = _owner()
    names = set(owner.values())
    started = [e for e in two.events if e["event"] == "strategy.started"]
    assert sorted(e["strategy"] for e in started) == sorted(names)
    assert two.of("session.started")[0]["strategy"] == "+".join(i.name for i in load_config(TWO).instances)
    for e in two.events:
        if e["event"] in STRATEGY_EVENTS:
            assert e.get("strategy") in names, e
            if e.get("symbol") is not None:
                assert e["strategy"] == owner[e["symbol"]], e  # the instance that trades the symbol
        elif e["event"] in SESSION_EVENTS:
            assert "strategy" not in e, e
    # both instances traded, and each position's events all name the same instance
    by_position: dict[str, set[str]] = {}
    for e in two.events:
        if "position_id" in e and e["event"] != "command.executed":
            by_position.setdefault(e["position_id"], set()).add(e["strategy"])
    assert all(len(s) == 1 for s in by_position.values()), by_position
    assert {next(iter(s)) for s in by_position.values()} == names


def test_position_ids_are_unique_across_instances(two: Run) -> None:
    opened = [e["position_id"] for e in two.of("position.opened")]
    assert len(opened) == len(set(opened)) and len(opened) >= 4


def test_own_and_session_limits_hold_at_every_moment(two: Run) -> None:
    cfg = load_config(TWO)
    own = {i.name: (i.max_positions, i.max_total_exposure_usd) for i in cfg.instances}
    open_: dict[str, tuple[str, Decimal]] = {}  # position id -> (strategy, exposure USD)
    for e in two.events:
        if e["event"] == "position.opened":
            open_[e["position_id"]] = (e["strategy"], Decimal(e["filled_exposure_usd"]))
        elif e["event"] == "position.closed":
            open_.pop(e["position_id"], None)
        else:
            continue
        assert len(open_) <= cfg.max_positions
        assert sum(x for _, x in open_.values()) <= cfg.max_total_exposure_usd
        for name, (max_positions, max_exposure) in own.items():
            mine = [x for s, x in open_.values() if s == name]
            assert len(mine) <= max_positions and sum(mine, Decimal(0)) <= max_exposure


def test_the_session_limit_stops_an_entry_an_instance_would_make(tmp_path: Path) -> None:
    """``limits.max_positions: 1``: whichever instance holds the one position, the others skip their entries
    with ``SESSION_MAX_POSITIONS`` (and a ``risk.limit_hit`` naming the session's limit)."""
    from datetime import timedelta

    from arbdash.bot.config import LimitsConfig
    from arbdash.bot.runner import market_window

    cfg = load_config(TWO)
    start, _ = market_window(cfg)
    market = cfg.market.model_copy(update={"start": start, "end": start + timedelta(days=30)})
    cfg = cfg.model_copy(update={"market": market, "limits": LimitsConfig(max_positions=1)})
    run = run_bot_in_process(tmp_path, config=cfg)
    open_: set[str] = set()
    for e in run.events:
        if e["event"] == "position.opened":
            open_.add(e["position_id"])
            assert len(open_) == 1
        elif e["event"] == "position.closed":
            open_.discard(e["position_id"])
    skipped = [e for e in run.of("opportunity.skipped") if e["reason"] == "SESSION_MAX_POSITIONS"]
    assert skipped
    hits = [e for e in run.of("risk.limit_hit") if e["limit"] == "limits.max_positions"]
    assert hits and all(Decimal(e["limit_value"]) == 1 for e in hits)


def test_the_positions_reconcile_per_strategy(two: Run) -> None:
    """The live reducer found no booked figure off its own recomputation, and each instance's closed
    positions add up (net = realized + funding − fees) to the last digit."""
    snap = two.reducer.snapshot()
    assert not any(r.event == "dashboard.pnl_mismatch" for r in snap.recent_events)
    for name in set(_owner().values()):
        closed = [e for e in two.of("position.closed") if e["strategy"] == name]
        assert closed
        for e in closed:
            net = Decimal(e["realized_pnl"]) + Decimal(e["funding"]) - Decimal(e["fees"])
            assert Decimal(e["net_pnl"]) == net
        paid = {e["position_id"] for e in two.of("funding.payment") if e["strategy"] == name}
        assert paid <= {e["position_id"] for e in closed}


def _config_with(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load(TWO.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d["strategies"][1].update(name="majors"), "more than one strategy is named 'majors'"),
        (lambda d: d["strategies"][1].update(type="grid_bot"), "'grid_bot'"),
        (lambda d: d["strategies"][1].update(symbols=["SOL", "BTC"]), "BTC also traded by strategy 'majors'"),
        (
            lambda d: d.update(
                strategy={k: v for k, v in d["strategies"][0].items() if k not in ("name", "type")}
            ),
            "not both",
        ),
        (lambda d: d["strategies"][0].update(name="no spaces"), "strategies.0.name"),
        (
            lambda d: d.update(
                alerts={"rules": [{"name": "dd", "figure": "net_pnl_usd", "below": -5, "strategy": "minors"}]}
            ),
            "alerts.rules.0.strategy: rule 'dd' watches strategy 'minors', which this config does not run",
        ),
        (
            lambda d: d.update(
                alerts={
                    "rules": [{"name": "pg", "figure": "sink_degraded", "above": 0, "strategy": "majors"}]
                }
            ),
            "sink_degraded is the session's own health: a rule on it takes no strategy",
        ),
    ],
)
def test_bad_strategies_are_refused_before_the_run(tmp_path: Path, change: Any, says: str) -> None:
    path = _config_with(tmp_path, change)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert says in str(err.value)


def test_the_command_line_says_so_in_one_line(tmp_path: Path) -> None:
    path = _config_with(tmp_path, lambda d: d["strategies"][1].update(name="majors"))
    out = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.runbot_cli", "--config", str(path), "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "bad.yml" in line and "more than one strategy is named 'majors'" in line


# --- the second strategy type: settlement timing -----------------------------------------------------------


def _timing(two: Run, event: str) -> list[dict[str, Any]]:
    return [e for e in two.events if e["event"] == event and e.get("strategy") == "timing"]


def test_settlement_timing_enters_the_hour_before_and_leaves_right_after_a_settlement(two: Run) -> None:
    """Entries only at the hour before an 8-hourly settlement (07:00, 15:00, 23:00 UTC), announced by an
    ``enter`` window; exits by the strategy's own rules only right after one; three legs each, delta-neutral in
    base units (short one side on Binance and Bybit, the sum the other way on Hyperliquid)."""
    opened = _timing(two, "position.opened")
    assert opened, "the shipped config's timing instance trades"
    windows = {
        (w["symbol"], w["market_ts"]) for w in _timing(two, "settlement.window") if w["decision"] == "enter"
    }
    for e in opened:
        assert e["market_ts"][11:13] in ("07", "15", "23")
        assert (e["symbol"], e["market_ts"]) in windows
        legs = e["legs"]
        assert sorted(lg["venue"] for lg in legs) == ["binance", "bybit", "hyperliquid"]
        sign = {"long": 1, "short": -1}
        assert sum(sign[lg["side"]] * Decimal(lg["qty"]) for lg in legs) == 0
        hedge = next(lg for lg in legs if lg["venue"] == "hyperliquid")
        assert all(lg["side"] != hedge["side"] for lg in legs if lg is not hedge)
        assert "long_venue" not in e and "entry_spread_apr" not in e  # not a two-leg pair
    for e in _timing(two, "position.closing"):
        if e["reason"] in ("CARRY_FADED", "MAX_SETTLEMENTS"):
            assert e["market_ts"][11:13] in ("00", "08", "16")


def test_settlement_timing_positions_reconcile_to_the_last_digit(two: Run) -> None:
    """Each closed position's booked figures, recomputed here from its own fills and funding payments:
    realized = Σ legs side·(exit − entry)·qty, fees = Σ fill fees, funding = Σ payments."""
    closed = _timing(two, "position.closed")
    assert closed
    rolled_back = {e["position_id"] for e in two.of("execution.rollback")}
    for c in closed:
        pid = c["position_id"]
        assert pid not in rolled_back
        fills = [e for e in two.of("order.filled") if e["position_id"] == pid]
        by_venue: dict[str, list[dict[str, Any]]] = {}
        for f in fills:
            by_venue.setdefault(f["venue"], []).append(f)
        realized = Decimal(0)
        for venue_fills in by_venue.values():
            entry, exit_ = venue_fills  # one opening and one closing fill per leg
            assert exit_["reduce_only"] and not entry.get("reduce_only", False)
            side = 1 if entry["side"] == "buy" else -1
            realized += side * (Decimal(exit_["price"]) - Decimal(entry["price"])) * Decimal(entry["qty"])
        fees = sum((Decimal(f["fee"]) for f in fills), Decimal(0))
        funding = sum(
            (Decimal(e["payment"]) for e in two.of("funding.payment") if e["position_id"] == pid), Decimal(0)
        )
        assert Decimal(c["realized_pnl"]) == realized
        assert Decimal(c["fees"]) == fees
        assert Decimal(c["funding"]) == funding
        assert Decimal(c["net_pnl"]) == realized + funding - fees


async def test_operator_commands_reach_every_instance_or_the_one_that_holds_the_position() -> None:
    """``pause_entries`` / ``resume_entries`` apply to every instance, ``set_limit`` to the session's limits,
    ``close_position`` to the instance that holds it (an id no instance knows is ``UNKNOWN_POSITION``)."""
    from datetime import UTC, datetime

    from arbdash.bot.strategies.instances import Instances
    from arbdash.bot.venues.market_data import load_market_data
    from arbdash.bot.venues.paper import REFERENCE_VENUE, PaperMarket
    from arbdash.control.commands import ClosePosition, PauseEntries, ResumeEntries, SetLimit

    cfg = load_config(TWO)
    venues = sorted(set(cfg.all_venues) | {REFERENCE_VENUE})
    market = PaperMarket(load_market_data(cfg.market.data_dir, venues=venues, symbols=cfg.all_symbols), cfg)
    market.advance_to(market.start)
    runs = Instances(cfg, market.venues, cfg.risk, market.start)
    now = datetime(2026, 2, 1, tzinfo=UTC)

    out = await runs.execute(PauseEntries(id="p"), now)
    assert out.status == "executed" and out.entries_paused is True
    assert all(i.strategy.entries_paused for i in runs.all)
    await runs.execute(ResumeEntries(id="r"), now)
    assert not any(i.strategy.entries_paused for i in runs.all)

    assert runs.limits is not None and runs.limits.max_positions == cfg.limits.max_positions
    out = await runs.execute(SetLimit(id="l", limit="max_positions", value=Decimal(2)), now)
    assert (
        out.status == "executed"
        and out.previous_value == cfg.limits.max_positions
        and runs.limits.max_positions == 2
    )
    bad = await runs.execute(SetLimit(id="b", limit="max_positions", value=Decimal("1.5")), now)
    assert bad.status == "rejected" and bad.reason == "BAD_VALUE" and runs.limits.max_positions == 2

    unknown = await runs.execute(ClosePosition(id="c", position_id="P9999-NOPE"), now)
    assert unknown.status == "rejected" and unknown.reason == "UNKNOWN_POSITION"


def test_the_strategies_section_equals_each_strategys_own_events(two: Run) -> None:
    """The live reducer's strategies section against the figures recomputed here from each strategy's events:
    fees = Σ its fill fees (+ liquidation fees), funding = Σ its payments, realized = Σ its closed positions'
    booked price PnL + its rolled-back attempts' round trips (from their fills); every position is closed at the
    end of the data, so net = realized + funding − fees. Σ over strategies = the portfolio, to the last digit."""
    snap = two.reducer.snapshot()
    views = {v.name: v for v in snap.strategies}
    assert set(views) == set(_owner().values())
    for name, view in views.items():
        mine = [e for e in two.events if e.get("strategy") == name]
        fees = sum((Decimal(e["fee"]) for e in mine if e["event"] == "order.filled"), Decimal(0))
        fees += sum(
            (Decimal(e["liquidation_fee"]) for e in mine if e["event"] == "position.liquidated"), Decimal(0)
        )
        funding = sum((Decimal(e["payment"]) for e in mine if e["event"] == "funding.payment"), Decimal(0))
        realized = sum(
            (Decimal(e["realized_pnl"]) for e in mine if e["event"] == "position.closed"), Decimal(0)
        )
        for rb in (e for e in mine if e["event"] == "execution.rollback"):
            fills = [
                e for e in mine if e["event"] == "order.filled" and e["position_id"] == rb["position_id"]
            ]
            for venue in rb["rolled_back_venues"]:
                entry, exit_ = [f for f in fills if f["venue"] == venue]
                side = 1 if entry["side"] == "buy" else -1
                realized += side * (Decimal(exit_["price"]) - Decimal(entry["price"])) * Decimal(entry["qty"])
        assert (view.fees, view.funding, view.realized_pnl) == (fees, funding, realized), name
        assert view.unrealized_pnl == 0 and view.net_pnl == realized + funding - fees
        assert view.positions_closed == sum(1 for e in mine if e["event"] == "position.closed")
    p = snap.portfolio
    for figure in ("realized_pnl", "fees", "funding", "unrealized_pnl", "net_pnl"):
        assert sum((getattr(v, figure) for v in views.values()), Decimal(0)) == getattr(p, figure), figure


def test_a_position_of_three_legs_shows_its_legs_and_its_strategys_figures(two: Run) -> None:
    """No special case for the second strategy: its positions carry their three legs, each side's venues, its
    own figures (``position.updated``) and no pair spread; the frame shows them in the positions table."""
    from arbdash.dashboard.reducer import Reducer
    from arbdash.dashboard.render_rich import frame_text

    updated = _timing(two, "position.updated")[0]  # the first position held for more than an hour
    (first,) = [e for e in _timing(two, "position.opened") if e["position_id"] == updated["position_id"]]
    reducer = Reducer(timeline_size=20)
    reducer.feed_lines(line for line in two.lines if orjson.loads(line)["seq"] <= updated["seq"])
    snap = reducer.snapshot()
    (pos,) = [p for p in snap.positions if p.position_id == first["position_id"]]
    assert len(pos.legs) == 3 and pos.lifecycle == "open" and pos.strategy == "timing"
    assert {pos.long_venue, pos.short_venue} == {"binance+bybit", "hyperliquid"}
    assert pos.entry_spread_apr is None and pos.profit_erosion_pct is None and pos.divergence_pct is None
    assert pos.figures == {k: Decimal(v) for k, v in updated["figures"].items()}
    assert snap.session.ingest.rejected_total == 0  # every event of every strategy folded
    text = frame_text(snap, width=220)
    assert "Figures" in text and f"captured {updated['figures']['captured']}" in text


def test_focus_shows_one_strategys_positions_and_its_own_stage(two: Run) -> None:
    from arbdash.dashboard.focus import focus_snapshot

    snap = two.reducer.snapshot()
    for name in _owner().values():
        focused = focus_snapshot(snap, name)
        last_stage = [e for e in two.events if e["event"] == "stage.changed" and e.get("strategy") == name][
            -1
        ]
        assert focused.session.stage_banner == last_stage["message"]
        assert all(p.strategy == name for p in focused.positions)
        # its own most recently closed positions and timeline, not what is left of them in the session's lists
        done = [
            e["position_id"] for e in two.events if e["event"] in ("position.closed", "execution.rollback")
        ]
        mine = [pid for pid in done if pid in {p.position_id for p in snap.focus_rows[name].closed}]
        newest = [e["position_id"] for e in two.events if e.get("strategy") == name and e["event"] in
                  ("position.closed", "execution.rollback")][::-1][:5]  # fmt: skip
        assert [
            p.position_id for p in focused.positions if p.lifecycle in ("closed", "rolled_back")
        ] == newest
        assert len(mine) == len(newest)
        assert focused.recent_events and all(r.strategy == name for r in focused.recent_events)
        view = next(v for v in snap.strategies if v.name == name)
        assert (focused.funding.total_actual, focused.funding.total_expected) == (
            view.funding,
            view.funding_expected,
        )


def test_limits_belong_to_several_instances(tmp_path: Path) -> None:
    """``limits:`` with the single ``strategy:`` block would announce limits nobody applies: refused."""
    data = yaml.safe_load((ROOT / "configs" / "funding_arb_paper.yml").read_text(encoding="utf-8"))
    data["limits"] = {"max_positions": 50}
    path = tmp_path / "single.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="limits: caps the instances of strategies: together"):
        load_config(path)


def test_each_symbols_best_pair_is_measured_against_its_own_strategys_entry_rule(two: Run) -> None:
    """Strategies with different ``min_profit_rate``: the funding pane says the rule is per strategy, each
    symbol's best pair is measured against the rule of the strategy that trades it (none for a strategy without
    one), and a view focused on one strategy shows its rule and its symbols."""
    from arbdash.dashboard.focus import focus_snapshot

    cfg = load_config(TWO)
    rule = {s: getattr(i, "min_profit_rate", None) for i in cfg.instances for s in i.symbols}
    snap = two.reducer.snapshot()
    assert snap.funding.per_strategy_rules and snap.funding.min_profit_rate is None
    measured = [b for b in snap.funding.best if b.net_apr is not None]
    assert measured
    for b in snap.funding.best:
        if rule[b.symbol] is None:
            assert b.vs_min is None
        elif b.net_apr is not None:
            assert b.vs_min == b.net_apr - rule[b.symbol]
    majors = next(i for i in cfg.instances if i.name == "majors")
    focused = focus_snapshot(snap, "majors")
    assert (
        focused.funding.min_profit_rate == majors.min_profit_rate and not focused.funding.per_strategy_rules
    )
    assert {b.symbol for b in focused.funding.best} <= set(majors.symbols)


def test_the_timeline_says_whose_event_it_is(two: Run) -> None:
    from arbdash.dashboard.render_plain import plain_summary
    from arbdash.dashboard.render_rich import frame_text

    snap = two.reducer.snapshot()
    text = frame_text(snap, width=160)
    timeline = text[text.index("─ timeline") :]
    assert "Strategy" in timeline.splitlines()[1]
    last_of_a_strategy = next(e for e in reversed(snap.recent_events) if e.strategy is not None)
    row = next(line for line in timeline.splitlines() if last_of_a_strategy.message[:40] in line)
    assert f" {last_of_a_strategy.strategy} " in row
    plain = plain_summary(snap)
    assert f"[{last_of_a_strategy.strategy}] {last_of_a_strategy.message[:40]}" in plain


def test_metrics_carry_each_strategys_figures_and_add_up_to_the_session(two: Run) -> None:
    """``/metrics`` per strategy instance (label ``strategy``), at a moment with positions of several instances
    open: each sample is its strategies-pane figure, and over the instances they add up to the session family."""
    from prometheus_client.parser import text_string_to_metric_families

    from arbdash.control.metrics import ArbdashCollector, exposition, make_registry
    from arbdash.control.snapshots import SnapshotSource
    from arbdash.dashboard.reducer import Reducer

    holders: dict[str, str] = {}
    moment = None
    for e in two.events:  # the first event after which two instances hold open positions
        if e["event"] == "position.opened":
            holders[e["position_id"]] = e["strategy"]
        elif e["event"] == "position.closed":
            holders.pop(e["position_id"], None)
        if len(set(holders.values())) >= 2 and e["event"] == "position.updated":
            moment = e["seq"]
            break
    assert moment is not None
    reducer = Reducer(timeline_size=20)
    reducer.feed_lines(line for line in two.lines if orjson.loads(line)["seq"] <= moment)
    views = {v.name: v for v in reducer.snapshot().strategies}
    text = exposition(make_registry(ArbdashCollector(SnapshotSource(reducer)), process=False)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    pairs = {
        "arbdash_strategy_pnl_net_usd": ("net_pnl", "arbdash_pnl_net_usd"),
        "arbdash_strategy_pnl_unrealized_usd": ("unrealized_pnl", "arbdash_pnl_unrealized_usd"),
        "arbdash_strategy_pnl_realized_usd": ("realized_pnl", "arbdash_pnl_realized_usd"),
        "arbdash_strategy_fees_usd": ("fees", "arbdash_fees_usd"),
        "arbdash_strategy_positions_open": ("positions_open", "arbdash_positions_open"),
        "arbdash_strategy_exposure_usd": ("exposure_used_usd", "arbdash_exposure_usd"),
    }
    for family, (attr, session_family) in pairs.items():
        got = {s.labels["strategy"]: s.value for s in families[family].samples}
        assert got == {name: float(getattr(v, attr)) for name, v in views.items()}, family
        (total,) = [s.value for s in families[session_family].samples]
        assert sum(got.values()) == pytest.approx(total, abs=1e-6), family
    open_by = {s.labels["strategy"]: s.value for s in families["arbdash_strategy_positions_open"].samples}
    assert sum(1 for n in open_by.values() if n > 0) >= 2
    # the risk families: each account's figures, each open leg's signed distance, the book's VaR (or no sample)
    snap = reducer.snapshot()
    equity = {x.labels["venue"]: x.value for x in families["arbdash_account_equity_usd"].samples}
    assert equity == {a.venue: float(a.equity) for a in snap.accounts} and equity
    distances = {
        (x.labels["position_id"], x.labels["venue"]): x.value
        for x in families["arbdash_leg_liquidation_distance_ratio"].samples
    }
    assert distances == {
        (p.position_id, v): float(leg.liquidation_distance_pct / 100)
        for p in snap.positions
        if p.lifecycle != "closed"
        for v, leg in p.legs.items()
        if leg.liquidation_distance_pct is not None
    }
    var = [x.value for x in families["arbdash_var_usd"].samples]
    risk = snap.portfolio.risk
    assert var == ([float(risk.var)] if risk is not None and risk.var is not None else [])


# --- alerts per strategy ---------------------------------------------------------------------------------------


def test_alert_rules_watch_one_strategy_each(two: Run) -> None:
    """Rules scoped to a strategy read only its figures: a drawdown rule per instance, evaluated every market
    hour of the two-strategy run, fires and resolves exactly where that instance's own net PnL (its row of the
    strategies pane) says, independently of the others and of the session's; a position rule sees only the
    instance's positions."""
    from arbdash.alerts.config import AlertRule
    from arbdash.alerts.engine import AlertEngine
    from arbdash.dashboard.reducer import Reducer

    names = sorted(set(_owner().values()))
    threshold = Decimal(2)
    rules = [
        *(
            AlertRule(
                name=f"dd-{n}", figure="net_pnl_drawdown_usd", above=threshold, strategy=n, cooldown_s=0
            )
            for n in names
        ),
        AlertRule(name="dd", figure="net_pnl_drawdown_usd", above=threshold, cooldown_s=0),
        AlertRule(
            name="timing-div", figure="divergence_pct", above=Decimal(-1), strategy="timing", cooldown_s=0
        ),
    ]
    engine, reducer = AlertEngine(rules), Reducer(timeline_size=20)
    got: dict[str, list[tuple[str, Decimal | None]]] = {r.name: [] for r in rules}
    want: dict[str, list[tuple[str, Decimal | None]]] = {r.name: [] for r in rules}
    peak: dict[str | None, Decimal] = {}
    active: dict[str | None, bool] = {}
    hour = None
    for raw in two.lines:
        ts = orjson.loads(raw).get("market_ts")
        if ts is not None and hour is not None and ts[:13] != hour:
            snap = reducer.snapshot()
            assert snap.generated_at is not None
            for t in engine.evaluate(snap, snap.generated_at):
                got[t.rule.name].append((t.kind, t.value))
                if t.rule.name == "timing-div":  # every open position it reads is the timing instance's
                    pid = t.key
                    assert next(p for p in snap.positions if p.position_id == pid).strategy == "timing"
            # the drawdowns, recomputed here from each scope's net PnL
            nets = {v.name: v.net_pnl for v in snap.strategies if v.name is not None}
            nets[None] = snap.portfolio.net_pnl
            for scope, net in nets.items():
                peak[scope] = max(peak.get(scope, net), net)
                dd = peak[scope] - net
                rule = "dd" if scope is None else f"dd-{scope}"
                if dd > threshold and not active.get(scope):
                    want[rule].append(("fired", dd))
                    active[scope] = True
                elif dd <= threshold and active.get(scope):
                    want[rule].append(("resolved", dd))
                    active[scope] = False
        hour = ts[:13] if ts is not None else hour
        reducer.feed_line(raw)
    for n in [*names, None]:
        rule = "dd" if n is None else f"dd-{n}"
        assert got[rule] == want[rule], rule
    assert got["dd-timing"], "the timing instance's losses fire its own drawdown rule"
    assert got["dd-timing"] != got["dd"]  # not the session's alerts under another name
    assert all(kind in ("fired", "resolved") for kind, _ in got["timing-div"])


def test_a_strategys_alert_event_carries_its_strategy(tmp_path: Path) -> None:
    """In the bot, an alert of a rule on one strategy is that strategy's event (its envelope's ``strategy``), so
    the timeline, ``arbtail --strategy`` and focus show it with the instance's own events; the session's rules
    stay the session's."""
    from datetime import timedelta

    from arbdash.alerts.config import AlertRule, AlertsConfig
    from arbdash.bot.runner import market_window

    cfg = load_config(TWO)
    start, _ = market_window(cfg)
    market = cfg.market.model_copy(update={"start": start, "end": start + timedelta(days=20)})
    rules = [
        AlertRule(name="timing-net", figure="net_pnl_usd", below=Decimal(0), strategy="timing", cooldown_s=0),
        AlertRule(name="net", figure="net_pnl_usd", below=Decimal(0), cooldown_s=0),
    ]
    cfg = cfg.model_copy(update={"market": market, "alerts": AlertsConfig(rules=rules)})
    run = run_bot_in_process(tmp_path, config=cfg)
    fired = {e["alert"]: e for e in run.of("alert.fired")}
    assert "timing-net" in fired, [e["alert"] for e in run.of("alert.fired")]
    assert fired["timing-net"]["strategy"] == "timing" and "timing" in fired["timing-net"]["message"]
    if "net" in fired:
        assert "strategy" not in fired["net"]
