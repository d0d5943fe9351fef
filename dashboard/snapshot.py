"""The snapshot: ``DashboardState`` → ``DashboardSnapshot`` (msgspec), every derived figure in one place.

Deterministic: the result depends on the state only (no wall clock), so live, JSONL and PostgreSQL replays of
the same events draw the same frame. All money is ``Decimal`` (USD), all datetimes aware UTC. Formulas live in
``helpers.formulas``; each figure's definition is in the docstring of the model field it fills
(``dashboard.models``). Models are built from values the fold already validated (no validation at construction).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import overload

from arbdash.dashboard.models import (
    AccountSnapshot,
    BestSpread,
    DashboardSnapshot,
    FocusRows,
    FundingAccrual,
    FundingRateRow,
    FundingSnapshot,
    IngestSummary,
    MetricReading,
    PortfolioSnapshot,
    PositionSnapshot,
    RiskSnapshot,
    SessionState,
    StrategyView,
    TimelineEvent,
    VenueLeg,
    VenueStatus,
)
from arbdash.dashboard.risk import (
    HISTORY_HOURS,
    HORIZON_HOURS,
    MIN_HISTORY_HOURS,
    MIN_SCENARIOS,
    book_risk,
    hour_of,
)
from arbdash.dashboard.state import (
    OTHER_SESSION,
    PNL_SAMPLES,
    DashboardState,
    LegState,
    PositionState,
    StrategyState,
    TimelineRow,
)
from arbdash.helpers import formulas
from arbdash.logging_pipeline.events import NET_APR_ENTRY

__all__ = ["build_snapshot"]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


#: Closed positions a live view's snapshot carries (``Reducer.snapshot(closed_rows=)``): a big terminal shows
#: more of them, and the page keys reach every one (``arbtail --once`` keeps the default few).
LIVE_CLOSED_ROWS = 50

OTHER_PREFIX = OTHER_SESSION + ":"


@overload
def _utc(dt: datetime) -> datetime: ...
@overload
def _utc(dt: None) -> None: ...
def _utc(dt: datetime | None) -> datetime | None:
    """An aware datetime in UTC (a line may carry another offset; the frame shows UTC)."""
    return dt if dt is None or dt.tzinfo is UTC else dt.astimezone(UTC)


def _seconds(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    return int((later - earlier).total_seconds())


def _liquidation(
    side: str, lp: Decimal | None, mark: Decimal | None, threshold: Decimal | None
) -> tuple[Decimal | None, str | None]:
    """Signed distance to the liquidation price ``lp`` from ``mark`` (percent): a ``"long"`` leg
    ``(mark − lp) / mark · 100``, a short one ``(lp − mark) / mark · 100`` — ≤ 0 once the mark is at or past
    ``lp`` — and its level against the session's ``min_liquidation_distance_pct`` (``threshold``, percent):
    ``"danger"`` at or past the price (with or without a threshold) or below the threshold, ``"warn"`` below
    twice it, else ``None`` (``None`` too without a threshold; both ``None`` without a price or a mark)."""
    if lp is None or mark is None or mark <= 0:
        return None, None
    distance = formulas.liquidation_distance_pct(side, mark, lp)
    if distance <= 0:
        return distance, "danger"
    if threshold is None:
        return distance, None
    return distance, "danger" if distance < threshold else "warn" if distance < 2 * threshold else None


def _closest_to_liquidation(a: AccountSnapshot) -> tuple[int, Decimal, Decimal, str]:
    """The order of venue accounts from the nearest liquidation: equity ≤ 0 first (no headroom % exists), then
    the lowest maintenance headroom % (= 1 − margin ratio: the venue liquidates at 0 %), then the lowest headroom
    in USD, then the venue's name (a stable pick)."""
    if a.mm_headroom_pct is None:
        return 0, a.mm_headroom_usd, _ZERO, a.venue
    return 1, a.mm_headroom_pct, a.mm_headroom_usd, a.venue


def _risk(
    state: DashboardState, legs: list[tuple[str, str, str, Decimal]], now_hour: int | None
) -> RiskSnapshot:
    """The VaR figures of ``legs`` (``dashboard.risk.book_risk``) as a snapshot model."""
    r = book_risk(state, legs, now_hour)
    return RiskSnapshot(
        confidence=r.confidence,
        scenarios=r.scenarios,
        needed=MIN_SCENARIOS,
        needed_hours=MIN_HISTORY_HOURS,
        # the hours the scenarios span (each also needs the day before it), at most the history kept
        history_hours=min(HISTORY_HOURS, r.scenarios + HORIZON_HOURS) if r.scenarios else HISTORY_HOURS,
        var=r.var,
        es=r.es,
        stress=r.stress,
        empty=r.empty,
    )


def _leg_snapshot(leg: LegState, mark: Decimal | None, threshold: Decimal | None = None) -> VenueLeg:
    """Leg figures: unrealized = ``formulas.unrealized_pnl``; notional = qty · (mark or entry);
    margin = ``formulas.margin_for(notional, leverage)`` (USD): initial margin at the mark, as the venues compute
    it (at the entry price only until a mark is known)."""
    is_open = leg.qty > 0
    entry = leg.entry_price if leg.opened_qty > 0 else None
    unrealized = notional = margin = None
    # liquidation distance (``_liquidation``) against ``threshold`` (percent), while the leg is open
    distance, level = (
        _liquidation(leg.side, leg.liquidation_price, mark, threshold) if is_open else (None, None)
    )
    if is_open:
        unrealized = (
            formulas.unrealized_pnl(leg.side, leg.qty, leg.entry_price, mark) if mark is not None else None
        )
        notional = leg.qty * (mark if mark is not None else leg.entry_price)
        if leg.leverage is not None and leg.leverage > 0:
            margin = formulas.margin_for(notional, leg.leverage)
    return VenueLeg(
        venue=leg.venue,
        side=leg.side,
        qty=leg.qty,
        entry_price=entry,
        mark_price=mark,
        notional=notional,
        unrealized_pnl=unrealized,
        realized_pnl=leg.realized_pnl,
        fees=leg.fees,
        funding_accrued=leg.funding_accrued,
        funding_expected=leg.funding_expected,
        leverage=leg.leverage,
        margin=margin,
        liquidation_price=leg.liquidation_price if is_open else None,
        liquidation_distance_pct=distance,
        liquidation_level=level,  # type: ignore[arg-type]
        no_liquidation_price=is_open and leg.liquidation_price is None and leg.no_liquidation_price,
        liquidated_at=leg.liquidated_at,
        liquidation_fee=leg.liquidation_fee,
    )


def _opt_decimal(text: str | None) -> Decimal | None:
    """A figure the fold kept as validated decimal text, as a ``Decimal`` (exact)."""
    return Decimal(text) if text is not None else None


def _mark(state: DashboardState, venue: str | None, symbol: str) -> Decimal | None:
    """The latest mark price of ``venue`` × ``symbol`` as a ``Decimal`` (the fold keeps it as validated text)."""
    text = state.mark(venue, symbol)
    return Decimal(text) if text is not None else None


def _book_legs(pos: PositionState) -> list[tuple[str, str, str, Decimal]]:
    """The open legs of ``pos`` as ``dashboard.risk`` books them: (venue, symbol, side, qty)."""
    return [(v, pos.symbol, leg.side, leg.qty) for v, leg in pos.legs.items() if leg.qty > 0]


def _position_snapshot(
    state: DashboardState, pos: PositionState, now_hour: int | None = None
) -> PositionSnapshot:
    """Formulas: see ``PositionSnapshot``; all via ``helpers.formulas`` (VaR: ``dashboard.risk``)."""
    sym = pos.symbol
    is_live = pos.lifecycle in ("opening", "open", "closing")
    legs = {}
    unrealized = realized = fees = funding = expected = _ZERO
    margin_used: Decimal | None = None
    for venue, leg in pos.legs.items():
        snap = _leg_snapshot(
            leg, _mark(state, venue, sym) if is_live else None, state.session.min_liquidation_distance_pct
        )
        legs[venue] = snap
        if snap.unrealized_pnl is not None:
            unrealized += snap.unrealized_pnl
        if snap.margin is not None:
            margin_used = snap.margin if margin_used is None else margin_used + snap.margin
        realized += leg.realized_pnl
        fees += leg.fees
        funding += leg.funding_accrued
        expected += leg.funding_expected
    divergence = current = erosion = None
    # a funding-arbitrage pair (its opening gave the entry spread; before it, fills of at most two legs) has the
    # spread figures; any other position (more legs, another strategy's) has its strategy's own figures
    pair = pos.entry_spread_apr is not None or (pos.entry_ts is None and len(pos.legs) <= 2)
    if is_live and pair:
        lm = _mark(state, pos.long_venue, sym)
        sm = _mark(state, pos.short_venue, sym)
        divergence = (
            formulas.divergence_pct(lm, sm)
            if lm is not None and sm is not None
            else _opt_decimal(pos.bot_divergence_pct)
        )
        lr = state.rate(pos.long_venue, sym)
        sr = state.rate(pos.short_venue, sym)
        if lr is not None and sr is not None:
            current = formulas.spread_apr(lr.rate, lr.interval_s, sr.rate, sr.interval_s)
        else:
            current = _opt_decimal(pos.bot_current_spread_apr)
        if current is not None and pos.entry_spread_apr is not None:
            erosion = formulas.profit_erosion_pct(pos.entry_spread_apr, current)
    end = pos.closed_ts if pos.closed_ts is not None else state.market_now
    net = realized + unrealized + funding - fees
    hold_until = pos.hold_until if pos.hold_code is not None and is_live else None
    roi = None
    if pos.entry_margin is not None and pos.entry_margin > 0:
        roi = net / pos.entry_margin * _HUNDRED
    imbalance = risk = None
    flag = near = False
    if is_live:
        la = state.accounts.get(pos.long_venue) if pos.long_venue is not None else None
        sa = state.accounts.get(pos.short_venue) if pos.short_venue is not None else None
        if la is not None and sa is not None:
            imbalance = la.equity - sa.equity
        # the session's ``on_liquidation_risk`` (close / rebalance) is not in the events: a leg near its
        # liquidation price is flagged as such, a rebalance only when one is pending or collateral was moved
        flag = pos.rebalance_pending or pos.collateral_moved_usd > 0
        near = any(leg.liquidation_level is not None for leg in legs.values())
        risk = _risk(state, _book_legs(pos), now_hour)
    transfer = None
    if pos.last_transfer is not None:
        amount, src, dst = pos.last_transfer
        transfer = f"{amount} {src}→{dst}"
    long_v, short_v = pos.long_venue, pos.short_venue
    if not pair:  # each side's venues, joined: "binance+bybit" / "hyperliquid"
        long_v = "+".join(v for v, leg in pos.legs.items() if leg.side == "long") or None
        short_v = "+".join(v for v, leg in pos.legs.items() if leg.side == "short") or None
    return PositionSnapshot(
        position_id=pos.position_id,
        symbol=sym,
        lifecycle=pos.lifecycle,
        long_venue=long_v,
        short_venue=short_v,
        legs=legs,
        entry_ts=_utc(pos.entry_ts),
        last_update_ts=_utc(pos.last_update_ts),
        closed_ts=_utc(pos.closed_ts),
        target_exposure_usd=pos.target_exposure_usd,
        filled_exposure_usd=pos.filled_exposure_usd,
        divergence_pct=divergence,
        entry_spread_apr=pos.entry_spread_apr,
        current_spread_apr=current,
        profit_erosion_pct=erosion,
        unrealized_pnl=unrealized,
        realized_pnl=realized,
        fees=fees,
        funding_accrued=funding,
        funding_expected=expected,
        net_pnl=net,
        booked_net_pnl=pos.booked_net_pnl,
        rebalance_pending=pos.rebalance_pending,
        hold_code=pos.hold_code if is_live else None,
        hold_until=_utc(hold_until),
        hold_left_s=_seconds(hold_until, state.market_now),
        exit_reason=pos.exit_reason,
        age_s=_seconds(end, pos.entry_ts),
        margin_used=margin_used,
        entry_margin=pos.entry_margin,
        roi_pct=roi,
        collateral_moved_usd=pos.collateral_moved_usd,
        last_transfer=transfer,
        collateral_imbalance_usd=imbalance,
        rebalance_flag=flag,
        near_liquidation=near,
        risk=risk,
        strategy=pos.strategy,
        figures=dict(pos.figures),
    )


def _best_spreads(state: DashboardState, open_symbols: set[str]) -> list[BestSpread]:
    """The best pair per symbol now, ranked as ``bot.strategies.funding_arbitrage.scanner.rank_opportunities``
    ranks them: every ordered venue pair with both rates known (and, with a ``mandatory_exchange``, including it),
    positive ``formulas.spread_apr`` only, best ``formulas.net_spread_apr`` (taker fees and slippage from
    ``venue.connected``, amortised over ``expected_hold_hours``) — or best spread while the rule is unknown. Symbols: the session's,
    then any other with a rate; sorted by ``vs_min`` (then net, spread) best first, no positive pair last."""
    s = state.session
    symbols = list(s.symbols)
    for by_symbol in state.rates.values():
        for symbol in by_symbol:
            if symbol not in symbols:
                symbols.append(symbol)
    venues = sorted(state.rates)
    session_rule = (s.expected_hold_hours, s.min_profit_rate, s.mandatory_exchange)
    # each symbol measured against the rule of the strategy that trades it (none announced: no rule); a symbol
    # two instances trade takes the rule of one with an APR rule (those last: they win)
    instances = sorted(state.strategies.values(), key=lambda st: not _no_apr_rule(st))
    rules = {
        symbol: (st.expected_hold_hours, st.min_profit_rate, st.mandatory_exchange)
        for st in instances
        for symbol in st.symbols
    }
    # the symbols whose strategy has no APR entry rule at all (not merely one not announced yet)
    no_rule = {
        symbol for st in instances for symbol in st.symbols if _no_apr_rule(st) and st.min_profit_rate is None
    } - {symbol for st in instances if not _no_apr_rule(st) for symbol in st.symbols}
    out = []
    for symbol in symbols:
        hold, rule_min, must = rules.get(symbol, session_rule)
        best: tuple[tuple[Decimal, Decimal, str, str], BestSpread] | None = None
        for long_v in venues:
            lr = state.rate(long_v, symbol)
            if lr is None:
                continue
            for short_v in venues:
                if short_v == long_v or (must is not None and must not in (long_v, short_v)):
                    continue
                sr = state.rate(short_v, symbol)
                if sr is None:
                    continue
                spread = formulas.spread_apr(lr.rate, lr.interval_s, sr.rate, sr.interval_s)
                if spread <= 0:
                    continue
                net = None
                fl, fs = state.venues.get(long_v), state.venues.get(short_v)
                if (
                    hold is not None
                    and fl is not None
                    and fs is not None
                    and fl.taker_fee_rate is not None
                    and fs.taker_fee_rate is not None
                ):
                    net = formulas.net_spread_apr(
                        spread,
                        fl.taker_fee_rate,
                        fs.taker_fee_rate,
                        hold,
                        long_slippage_bps=fl.slippage_bps or _ZERO,
                        short_slippage_bps=fs.slippage_bps or _ZERO,
                    )
                key = (net if net is not None else spread, spread, long_v, short_v)
                if best is None or key[0] > best[0][0]:  # ties: the first in venue-name order, as the bot
                    best = (
                        key,
                        BestSpread(
                            symbol=symbol,
                            long_venue=long_v,
                            short_venue=short_v,
                            spread_apr=spread,
                            net_apr=net,
                            vs_min=net - rule_min if net is not None and rule_min is not None else None,
                            position_open=symbol in open_symbols,
                            no_entry_rule=symbol in no_rule,
                        ),
                    )
        if best is not None:
            out.append(best[1])
        elif any(state.rate(v, symbol) is not None for v in venues):
            out.append(
                BestSpread(
                    symbol=symbol, position_open=symbol in open_symbols, no_entry_rule=symbol in no_rule
                )
            )

    def rank(b: BestSpread) -> tuple[int, Decimal, str]:
        if b.spread_apr is None:
            return (2, _ZERO, b.symbol)
        if b.vs_min is not None:  # measured against a rule: first (a symbol of a strategy without one after)
            return (0, -b.vs_min, b.symbol)
        return (1, -(b.net_apr if b.net_apr is not None else b.spread_apr), b.symbol)

    return sorted(out, key=rank)


def _exposure(live: list[PositionSnapshot]) -> tuple[Decimal, int]:
    """Exposure used (Σ ``filled_exposure_usd``, USD) and the count of the positions of ``live`` past opening:
    what ``max_total_exposure_usd`` / ``max_positions`` limit."""
    counted = [p for p in live if p.lifecycle != "opening"]
    return sum((p.filled_exposure_usd or _ZERO for p in counted), _ZERO), len(counted)


def _strategy_view(st: StrategyState, name: str | None, live: list[PositionSnapshot]) -> StrategyView:
    """One strategy's roll-up (``StrategyView``): its running totals, and the unrealized PnL and exposure of
    ``live`` (its positions not closed), as the portfolio computes them."""
    unrealized = sum((p.unrealized_pnl for p in live), _ZERO)
    exposure, open_count = _exposure(live)
    net = st.realized_total + unrealized + st.funding_total - st.fees_total
    return StrategyView(
        name=name,
        type=st.type,
        version=st.version,
        no_apr_rule=_no_apr_rule(st),
        stage_banner=st.stage_banner,
        lifecycle=st.lifecycle,
        symbols=list(st.symbols),
        venues=list(st.venues),
        positions_open=open_count,
        max_positions=st.max_positions,
        positions_opened=st.positions_opened,
        positions_closed=st.positions_closed,
        exposure_used_usd=exposure,
        max_total_exposure_usd=st.max_total_exposure_usd,
        realized_pnl=st.realized_total,
        unrealized_pnl=unrealized,
        funding=st.funding_total,
        funding_expected=st.funding_expected_total,
        fees=st.fees_total,
        net_pnl=net,
        pnl_history=[v for _, v in st.pnl_hours[-(PNL_SAMPLES - 1) :]] + [net] if name is not None else [],
        min_profit_rate=st.min_profit_rate,
    )


def _no_apr_rule(st: StrategyState) -> bool:
    """Whether the instance announced an entry rule other than a net funding APR (``strategy.started``); an
    instance that said nothing (an older log) is not assumed to have none."""
    return st.entry_rule is not None and st.entry_rule != NET_APR_ENTRY


def _strategies(state: DashboardState, live: list[PositionSnapshot]) -> list[StrategyView]:
    """Each strategy's roll-up, in the order they became known, then the positions of no (known) strategy when
    the session has both (the buckets of ``dashboard.folds.strategies``: they add up to the portfolio)."""
    if not state.strategies:
        return []
    by: dict[str | None, list[PositionSnapshot]] = {}
    for p in live:
        by.setdefault(p.strategy if p.strategy in state.strategies else None, []).append(p)
    views = [_strategy_view(st, name, by.get(name, [])) for name, st in state.strategies.items()]
    if state.unattributed.positions:
        views.append(_strategy_view(state.unattributed, None, by.get(None, [])))
    return views


def build_snapshot(state: DashboardState, *, closed_rows: int = 5) -> DashboardSnapshot:
    """``state`` → ``DashboardSnapshot``. Deterministic: depends on the state only (no wall clock).

    Positions: not closed first (opening order), then the ``closed_rows`` most recently closed (newest first).
    Models are built from already-typed values (the fold validated its inputs).
    """
    now = _utc(state.market_now)
    now_hour = hour_of(now.timestamp()) if now is not None else None
    s = state.session
    live = [_position_snapshot(state, p, now_hour) for p in state.positions.values()]
    closed = (
        [_position_snapshot(state, p) for p in list(state.closed.values())[::-1][:closed_rows]]
        if closed_rows
        else []
    )

    exposure_used, open_count = _exposure(live)
    notional = unrealized = margin_used = _ZERO
    for p in live:
        unrealized += p.unrealized_pnl
        if p.margin_used is not None:
            margin_used += p.margin_used
        for leg in p.legs.values():
            if leg.notional is not None:
                notional += leg.notional
    headroom = headroom_pct = None
    if s.max_total_exposure_usd is not None:
        headroom = s.max_total_exposure_usd - exposure_used
        if s.max_total_exposure_usd > 0:
            headroom_pct = headroom / s.max_total_exposure_usd * 100
    accounts = [
        AccountSnapshot(
            venue=a.venue,
            collateral=a.collateral,
            wallet=a.wallet,
            unrealized=a.unrealized,
            equity=a.equity,
            initial_margin=a.initial_margin,
            maintenance_margin=a.maintenance_margin,
            margin_ratio=a.margin_ratio,
            available=a.available,
            mm_headroom_usd=a.equity - a.maintenance_margin,
            mm_headroom_pct=(a.equity - a.maintenance_margin) / a.equity * _HUNDRED if a.equity > 0 else None,
            transfers_in=a.transfers_in,
            transfers_out=a.transfers_out,
        )
        for a in sorted(state.accounts.values(), key=lambda a: a.venue)
    ]
    mm_headroom = mm_headroom_pct = worst = None
    if accounts:  # across venues: Σ (equity − maintenance) and that / Σ equity · 100
        mm_headroom = sum((a.mm_headroom_usd for a in accounts), _ZERO)
        equity = sum((a.equity for a in accounts), _ZERO)
        mm_headroom_pct = mm_headroom / equity * _HUNDRED if equity > 0 else None
        # collateral is not shared between venues: the one nearest liquidation, by ``_closest_to_liquidation``
        # (none while no account holds a position: all are at 100 %, and naming one would say nothing)
        if any(a.maintenance_margin > 0 or a.equity <= 0 for a in accounts):
            worst = min(accounts, key=_closest_to_liquidation)
    portfolio = PortfolioSnapshot(
        total_notional=notional,
        realized_pnl=state.realized_total,
        unrealized_pnl=unrealized,
        funding=state.funding_total,
        funding_expected=state.funding_expected_total,
        fees=state.fees_total,
        net_pnl=state.realized_total + unrealized + state.funding_total - state.fees_total,
        margin_used=margin_used,
        exposure_used_usd=exposure_used,
        exposure_headroom_usd=headroom,
        exposure_headroom_pct=headroom_pct,
        positions_open=open_count,
        positions_opened=state.positions_opened,
        positions_closed=state.positions_closed,
        wins=state.wins,
        losses=state.losses,
        avg_hold_s=(state.held_s_total // (state.wins + state.losses) if state.wins + state.losses else None),
        mm_headroom_usd=mm_headroom,
        mm_headroom_pct=mm_headroom_pct,
        mm_headroom_worst_venue=worst.venue if worst is not None else None,
        mm_headroom_worst_usd=worst.mm_headroom_usd if worst is not None else None,
        mm_headroom_worst_pct=worst.mm_headroom_pct if worst is not None else None,
        risk=_risk(
            state,
            [leg for p in state.positions.values() if p.lifecycle != "rolled_back" for leg in _book_legs(p)],
            now_hour,
        ),
    )

    rates = []
    flat = [(venue, symbol, r) for venue, by_symbol in state.rates.items() for symbol, r in by_symbol.items()]
    for venue, symbol, r in sorted(flat, key=lambda row: (row[1], row[0])):
        rates.append(
            FundingRateRow(
                venue=venue,
                symbol=symbol,
                rate=r.rate,
                interval_s=r.interval_s,
                apr=formulas.rate_to_apr(r.rate, r.interval_s),
                next_funding_ts=_utc(r.next_funding_ts),
                countdown_s=_seconds(r.next_funding_ts, now),
            )
        )
    accruals = [
        FundingAccrual(
            position_id=p.position_id,
            symbol=p.symbol,
            actual=p.funding_accrued,
            expected=p.funding_expected,
            difference=p.funding_accrued - p.funding_expected,
            strategy=p.strategy,
        )
        for p in (*live, *closed)
        if p.lifecycle != "rolled_back"
    ]
    per_strategy = (
        len({st.min_profit_rate for st in state.strategies.values() if st.min_profit_rate is not None}) > 1
    )
    funding = FundingSnapshot(
        rates=rates,
        best=_best_spreads(state, {p.symbol for p in live if p.lifecycle != "rolled_back"}),
        min_profit_rate=None if per_strategy else s.min_profit_rate,
        per_strategy_rules=per_strategy,
        no_entry_rule=bool(state.strategies) and all(_no_apr_rule(st) for st in state.strategies.values()),
        accruals=accruals,
        total_actual=state.funding_total,
        total_expected=state.funding_expected_total,
    )

    st = state.stats
    last_ts = _utc(state.last_ts)
    pg = s.components.get("postgres")
    session = SessionState(
        session_id=s.session_id,
        strategy=s.strategy,
        strategy_version=s.strategy_version,
        config_path=s.config_path,
        dry_run=s.dry_run,
        health=s.health,
        health_reason=s.health_reason,
        lifecycle=s.lifecycle,
        stage_banner=s.stage_banner,
        started_ts=_utc(s.started_ts),
        market_start=_utc(s.market_start),
        market_now=now,
        wall_uptime_s=_seconds(last_ts, s.started_ts),
        market_uptime_s=_seconds(now, s.market_start),
        venues=[
            VenueStatus(
                name=v.name,
                connected=v.connected,
                reason=v.reason,
                funding_interval_s=v.funding_interval_s,
                taker_fee_rate=v.taker_fee_rate,
                maker_fee_rate=v.maker_fee_rate,
            )
            for v in state.venues.values()
        ],
        max_positions=s.max_positions,
        max_total_exposure_usd=s.max_total_exposure_usd,
        entries_paused=s.entries_paused,
        open_positions=open_count,
        exposure_used_usd=exposure_used,
        data_note=s.data_note,
        stop_reason=s.stop_reason,
        erosion_threshold_pct=s.erosion_threshold_pct,
        divergence_limit_pct=s.divergence_limit_pct,
        min_profit_rate=s.min_profit_rate,
        postgres_health=pg[0] if pg is not None else None,
        postgres_reason=pg[1] if pg is not None else None,
        ingest=IngestSummary(
            applied=st.applied,
            skipped={k: v for k, v in st.skipped.items() if not k.startswith(OTHER_PREFIX)},
            rejected=dict(st.rejected),
            unknown=dict(st.unknown),
            last_problem=st.last_problem,
        ),
        events_applied=st.applied,
        other_sessions={
            k[len(OTHER_PREFIX) :]: v for k, v in st.skipped.items() if k.startswith(OTHER_PREFIX)
        },
        metrics=[MetricReading(name=k, value=Decimal(v), unit=u) for k, (v, u) in sorted(s.metrics.items())],
        min_liquidation_distance_pct=s.min_liquidation_distance_pct,
    )
    timeline = _timeline(state.timeline)
    return DashboardSnapshot(
        session=session,
        positions=live + closed,
        funding=funding,
        portfolio=portfolio,
        recent_events=timeline,
        generated_at=last_ts,
        accounts=accounts,
        strategies=_strategies(state, live),
        focus_rows=_focus_rows(state, closed_rows) if len(state.strategies) >= 2 else {},
    )


def _timeline(rows: list[TimelineRow]) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            ts=_utc(ts),
            market_ts=_utc(mts),
            seq=seq,
            category=cat,
            level=level,
            event=name,
            message=msg,
            strategy=strategy,
        )
        for ts, mts, seq, cat, level, name, msg, strategy in rows
    ]


def _focus_rows(state: DashboardState, closed_rows: int) -> dict[str, FocusRows]:
    """Per strategy: its ``closed_rows`` most recently closed positions (of those ``state.closed`` keeps) and its
    own timeline."""
    newest: dict[str, list[PositionState]] = {name: [] for name in state.strategies}
    for pos in reversed(state.closed.values()):
        mine = newest.get(pos.strategy) if pos.strategy is not None else None
        if mine is not None and len(mine) < closed_rows:
            mine.append(pos)
    return {
        name: FocusRows(
            closed=[_position_snapshot(state, p) for p in newest[name]],
            recent_events=_timeline(st.timeline),
        )
        for name, st in state.strategies.items()
    }
