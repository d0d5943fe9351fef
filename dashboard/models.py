"""Snapshot models: what a renderer sees (frozen ``msgspec.Struct``s, built only by ``Reducer.snapshot``; seed §7).

msgspec rather than pydantic: the snapshot is built from values the fold already validated, so construction
needs no validation, and a reader (``arbtail --once``) starts ~45 ms sooner without pydantic. ``msgspec.json``
encodes a snapshot as JSON (money as decimal strings, times as ISO 8601) and ``msgspec.convert`` checks one
decoded back (``AwareDatetime`` requires an offset).

Units: money in USD (``Decimal``), prices in the venue's quote (USDT/USDC = USD), quantities in base units,
rates as fractions per funding interval, ``*_apr`` as fractions per 365-day year, ``*_pct`` in percent,
durations in seconds, datetimes timezone-aware UTC. ``None`` means the events carry no value for it yet.

Imports no renderer and no reducer; renderers import only this module (and ``dashboard.text``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

PositionLifecycle = Literal["opening", "open", "closing", "closed", "rolled_back"]
#: A timezone-aware datetime (checked when a snapshot is decoded or converted).
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Frozen, no unknown fields when decoded; each subclass is keyword-only (msgspec does not inherit it)."""


class VenueStatus(_Model, kw_only=True):
    """A venue's connectivity and terms. ``funding_interval_s`` seconds; fee rates are fractions."""

    name: str
    connected: bool | None = None  # None = announced by session.started, no venue.connected yet
    reason: str | None = None
    funding_interval_s: int | None = None
    taker_fee_rate: Decimal | None = None
    maker_fee_rate: Decimal | None = None


class MetricReading(_Model, kw_only=True):
    """The latest value of a ``metric`` event: ``value`` in ``unit`` (``ms``, ``events/s``, ``events``…)."""

    name: str
    value: Decimal
    unit: str = ""


class IngestTotals:
    """Totals over the ``skipped`` / ``rejected`` / ``unknown`` counters (by reason) of an ingest summary; shared
    by the snapshot model below and the fold state ``dashboard.state.IngestStats``."""

    __slots__ = ()

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())  # type: ignore[attr-defined]

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())  # type: ignore[attr-defined]

    @property
    def unknown_total(self) -> int:
        return sum(self.unknown.values())  # type: ignore[attr-defined]


class IngestSummary(IngestTotals, _Model, kw_only=True):
    """Counts of what the reducer did with its input (see ``dashboard.state.IngestStats``)."""

    applied: int = 0
    skipped: dict[str, int] = msgspec.field(default_factory=dict)
    rejected: dict[str, int] = msgspec.field(default_factory=dict)
    unknown: dict[str, int] = msgspec.field(default_factory=dict)
    last_problem: str = ""


class SessionState(_Model, kw_only=True):
    """The session pane.

    ``wall_uptime_s`` = last event ``ts`` − ``started_ts``; ``market_uptime_s`` = ``market_now`` −
    ``market_start`` (both from events, never the wall clock). ``exposure_used_usd`` = Σ ``filled_exposure_usd``
    of positions not closed (the quantity ``max_total_exposure_usd`` limits).
    """

    session_id: str | None = None
    strategy: str | None = None
    strategy_version: str | None = None
    config_path: str | None = None
    dry_run: bool | None = None
    health: str = "starting"
    health_reason: str | None = None
    lifecycle: str | None = None
    stage_banner: str | None = None
    started_ts: AwareDatetime | None = None
    market_start: AwareDatetime | None = None
    market_now: AwareDatetime | None = None
    wall_uptime_s: int | None = None
    market_uptime_s: int | None = None
    venues: list[VenueStatus] = msgspec.field(default_factory=list)
    max_positions: int | None = None
    max_total_exposure_usd: Decimal | None = None
    open_positions: int = 0
    exposure_used_usd: Decimal = Decimal(0)
    data_note: str | None = None
    stop_reason: str | None = None
    erosion_threshold_pct: Decimal | None = None  # exit threshold on profit erosion, percent (if announced)
    divergence_limit_pct: Decimal | None = None  # max entry price divergence, percent (if announced)
    min_profit_rate: Decimal | None = None  # entry threshold: min net spread APR, fraction/yr (if announced)
    #: PostgreSQL's last ``session.health`` (component ``postgres``: running / degraded / error) and its reason;
    #: ``None`` while the sink has reported nothing (persistence off, or on and never degraded)
    postgres_health: str | None = None
    postgres_reason: str | None = None
    ingest: IngestSummary = msgspec.field(default_factory=IngestSummary)
    events_applied: int = 0
    #: events of other sessions in the same log, counted and never folded (``dashboard.reducer``): id → count
    #: (``*``: the sessions beyond the few counted by name)
    other_sessions: dict[str, int] = msgspec.field(default_factory=dict)
    #: the latest ``metric`` events, by name (wall-clock measurements: they differ between two runs)
    metrics: list[MetricReading] = msgspec.field(default_factory=list)
    #: new entries paused by an operator command (``pause_entries`` / ``flatten_all`` until ``resume_entries``)
    entries_paused: bool = False
    #: the liquidation-distance threshold (percent) the strategy acts below (``session.started``, if announced)
    min_liquidation_distance_pct: Decimal | None = None


class VenueLeg(_Model, kw_only=True):
    """One venue leg. ``notional`` = qty · mark (entry price if no mark yet), USD; ``unrealized_pnl`` =
    ``formulas.unrealized_pnl(side, qty, entry_price, mark_price)``; ``margin`` = ``formulas.margin_for(notional,
    leverage)``, initial margin at the current mark as the venues compute it (entry price only until a mark is
    known); ``fees``/``funding_accrued``/``realized_pnl`` are this leg's sums."""

    venue: str
    side: str
    qty: Decimal
    entry_price: Decimal | None = None
    mark_price: Decimal | None = None
    notional: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding_accrued: Decimal = Decimal(0)
    funding_expected: Decimal = Decimal(0)
    leverage: Decimal | None = None
    margin: Decimal | None = None
    #: where the venue liquidates the leg (``position.updated``; USD per base unit) and the signed distance to it
    #: from the latest mark of the leg's venue × symbol (percent; ``None`` without a mark or a price): a long
    #: ``(mark − liquidation_price) / mark · 100``, a short ``(liquidation_price − mark) / mark · 100`` — ≤ 0: the
    #: mark is at or past the liquidation price (shown negative, red, plain text ``PAST LIQ``);
    #: ``liquidation_level``: ``"danger"`` at or past it (even without the threshold) or below the session's
    #: ``min_liquidation_distance_pct``, ``"warn"`` below twice it, else ``None`` (also without the threshold)
    liquidation_price: Decimal | None = None
    liquidation_distance_pct: Decimal | None = None
    liquidation_level: Literal["warn", "danger"] | None = None
    #: an open leg no price can liquidate: its venue's cross-margined account covers any move (the bot, which
    #: logs that account, gave no liquidation price); shown ``none``. ``False`` with no price: not known (``—``)
    no_liquidation_price: bool = False
    #: ``position.liquidated``: the price the venue closed the leg at, and its fee (USD, included in ``fees``)
    liquidated_at: Decimal | None = None
    liquidation_fee: Decimal = Decimal(0)


class RiskSnapshot(_Model, kw_only=True):
    """1-day value at risk of a book by historical simulation (``dashboard.risk.historical_var``: formula,
    quantile rule and source there), USD, a loss > 0: ``var`` and ``es`` (expected shortfall) at
    ``confidence`` (a fraction) over ``scenarios`` hourly 1-day scenarios, ``stress`` = the worst of them: the
    worst 1-day loss over the history its scenarios span (the last ``history_hours`` hours: the history seen so
    far, at most the 30 days kept — not the whole session; shown ``stress (worst day, last 8 d)``). ``None`` while ``scenarios`` < ``needed``; ``needed_hours``: the hours of
    history those ``needed`` scenarios take (each 1-day scenario also needs the marks a day before it: ``needed``
    + 24; shown ``n/a (needs N h)``); ``empty``: no open leg."""

    confidence: Decimal
    scenarios: int = 0
    needed: int = 0
    needed_hours: int
    history_hours: int
    var: Decimal | None = None
    es: Decimal | None = None
    stress: Decimal | None = None
    empty: bool = False


class AccountSnapshot(_Model, kw_only=True):
    """A venue's collateral account (``account.updated``, USD): ``equity`` = wallet + unrealized;
    ``margin_ratio`` = maintenance / equity (a fraction; the venue liquidates at ≥ 1; ``None`` when equity ≤ 0,
    shown ``equity ≤ 0`` in red — the account has no equity left, never a neutral ``n/a``);
    ``mm_headroom_usd`` = equity − maintenance margin (what the account may still lose before liquidation);
    ``mm_headroom_pct`` = that / equity · 100 (``None`` when equity ≤ 0); ``transfers_in`` / ``transfers_out``:
    collateral moved by rebalances (``position.rebalanced``)."""

    venue: str
    collateral: Decimal
    wallet: Decimal
    unrealized: Decimal
    equity: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    margin_ratio: Decimal | None = None
    available: Decimal
    mm_headroom_usd: Decimal
    mm_headroom_pct: Decimal | None = None
    transfers_in: Decimal = Decimal(0)
    transfers_out: Decimal = Decimal(0)


class PositionSnapshot(_Model, kw_only=True):
    """A position row. Figures (USD) recomputed from fills, marks and funding payments:

    * ``fees`` = Σ ``order.filled.fee`` of the position (entries, rollbacks, rebalances, exits);
    * ``realized_pnl`` = Σ ``formulas.realized_pnl`` of each reducing fill vs its leg's average entry price;
    * ``unrealized_pnl`` = Σ legs' unrealized (open legs at the latest ``market.mark_price``);
    * ``funding_accrued`` / ``funding_expected`` = Σ ``funding.payment.payment`` / ``expected_payment``;
    * ``net_pnl`` = realized + unrealized + funding_accrued − fees;
    * ``divergence_pct`` = ``formulas.divergence_pct(long mark, short mark)``;
    * ``current_spread_apr`` = ``formulas.spread_apr`` of the latest funding rates of the two venues;
    * ``profit_erosion_pct`` = ``formulas.profit_erosion_pct(entry_spread_apr, current_spread_apr)``;
    * ``age_s`` = market now (or close time) − ``entry_ts`` (market clock): held so far, or held for;
    * ``hold_code`` = the bot's reason to keep holding (``position.updated``); with ``MIN_HOLD_ACTIVE``,
      ``hold_until`` = when the minimum hold ends and ``hold_left_s`` = ``hold_until`` − market now (the time
      until the exit rules on erosion / a flipped spread apply);
    * ``margin_used`` = Σ legs' ``margin``: initial margin at the current mark (moves with the price);
    * ``entry_margin`` = Σ legs' margin in ``position.opened`` (at the entry fills; fixed for the position's life);
      ``roi_pct`` = ``net_pnl`` / ``entry_margin`` · 100 (``None`` without a margin): ROI's denominator stays the
      capital committed at entry, not the margin at today's mark.
    """

    position_id: str
    symbol: str
    lifecycle: PositionLifecycle
    long_venue: str | None = None
    short_venue: str | None = None
    legs: dict[str, VenueLeg] = msgspec.field(default_factory=dict)
    entry_ts: AwareDatetime | None = None
    last_update_ts: AwareDatetime | None = None
    closed_ts: AwareDatetime | None = None
    target_exposure_usd: Decimal | None = None
    filled_exposure_usd: Decimal | None = None
    divergence_pct: Decimal | None = None
    entry_spread_apr: Decimal | None = None
    current_spread_apr: Decimal | None = None
    profit_erosion_pct: Decimal | None = None
    unrealized_pnl: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding_accrued: Decimal = Decimal(0)
    funding_expected: Decimal = Decimal(0)
    net_pnl: Decimal = Decimal(0)
    booked_net_pnl: Decimal | None = None
    rebalance_pending: bool = False
    hold_code: str | None = None
    hold_until: AwareDatetime | None = None
    hold_left_s: int | None = None
    exit_reason: str | None = None
    age_s: int | None = None
    margin_used: Decimal | None = None
    entry_margin: Decimal | None = None
    roi_pct: Decimal | None = None
    #: collateral moved between its venues (``position.rebalanced`` with an amount, USD) and the last move as
    #: ``"500 bybit→binance"``; ``collateral_imbalance_usd`` = equity of the long leg's venue − the short leg's
    #: (``None`` without both accounts); ``rebalance_flag``: collateral moved or a rebalance pending (shown
    #: ``REBALANCE``); ``near_liquidation``: a leg within 2× the liquidation-distance threshold or past its
    #: liquidation price (shown ``NEAR LIQ`` / ``PAST LIQ``: the events do not say whether the bot then closes or
    #: rebalances, ``risk.on_liquidation_risk``)
    collateral_moved_usd: Decimal = Decimal(0)
    last_transfer: str | None = None
    collateral_imbalance_usd: Decimal | None = None
    rebalance_flag: bool = False
    near_liquidation: bool = False
    #: the position's own 1-day VaR (its open legs; ``None`` once closed)
    risk: RiskSnapshot | None = None
    #: the strategy instance it belongs to (the envelope's ``strategy`` of the event that made it known; ``None``:
    #: no strategy, an older log)
    strategy: str | None = None
    #: the strategy's own figures for it (``position.updated``'s ``figures``: name → value, as given). A position
    #: of more than two legs has no long / short pair: ``long_venue`` / ``short_venue`` then join each side's
    #: venues (``binance+bybit``), and its spread, erosion and divergence are ``None``
    figures: dict[str, Decimal] = msgspec.field(default_factory=dict)


class FundingRateRow(_Model, kw_only=True):
    """Latest funding rate of a venue × symbol: ``rate`` is the **last settled** rate (realised history, the one
    the bot decides on), not a prediction of the settlement at ``next_funding_ts``. ``apr`` =
    ``formulas.rate_to_apr(rate, interval_s)``; ``countdown_s`` = ``next_funding_ts`` − market now (may be ≤ 0
    until the next rate event)."""

    venue: str
    symbol: str
    rate: Decimal
    interval_s: int
    apr: Decimal
    next_funding_ts: AwareDatetime
    countdown_s: int | None = None


class FundingAccrual(_Model, kw_only=True):
    """Funding of one position: actual (Σ payments) vs expected (Σ expected payments at the entry rates), USD."""

    position_id: str
    symbol: str
    actual: Decimal
    expected: Decimal
    difference: Decimal  # actual − expected
    strategy: str | None = None  # the position's strategy (``PositionSnapshot.strategy``)


class BestSpread(_Model, kw_only=True):
    """The best venue pair of a symbol now, as the bot's scanner ranks them (``helpers.formulas``): long the
    cheaper-funding venue, short the dearer one, ``spread_apr`` = ``formulas.spread_apr`` of their latest rates
    (only positive spreads are candidates), ``net_apr`` = ``formulas.net_spread_apr`` (round-trip taker fees
    amortised over ``expected_hold_hours``; ``None`` until the entry rule is announced), ``vs_min`` =
    ``net_apr`` − ``min_profit_rate`` (≥ 0: the bot enters at its next check, unless a limit stops it).
    ``long_venue`` ``None``: no pair of this symbol has a positive spread. ``position_open``: a position in this
    symbol is already open (the bot does not open a second one)."""

    symbol: str
    long_venue: str | None = None
    short_venue: str | None = None
    spread_apr: Decimal | None = None
    net_apr: Decimal | None = None
    vs_min: Decimal | None = None
    position_open: bool = False
    #: the strategy instance trading the symbol has no net-APR entry rule (its ``strategy.started`` announced
    #: another, e.g. ``settlement_timing``'s settlement window): ``net_apr`` / ``vs_min`` stay ``None`` and
    #: the views say ``no rule`` in place of the gap
    no_entry_rule: bool = False


class FundingSnapshot(_Model, kw_only=True):
    """The funding pane: rates (sorted by symbol, venue), per-position accruals (positions not closed first)
    and session totals (all positions ever, USD); ``best``: the best pair per symbol now against the entry
    threshold ``min_profit_rate`` (best ``vs_min`` first)."""

    rates: list[FundingRateRow] = msgspec.field(default_factory=list)
    best: list[BestSpread] = msgspec.field(default_factory=list)
    min_profit_rate: Decimal | None = None
    #: strategies with different entry rules: each symbol's best pair is measured against the rule of the
    #: strategy that trades it (``min_profit_rate`` is then ``None``)
    per_strategy_rules: bool = False
    #: no strategy in view has a net-APR entry rule (each announced another: ``StrategyView.no_apr_rule``, e.g. a
    #: ``settlement_timing`` instance focused on): the pane's title says so instead of "not announced"
    no_entry_rule: bool = False
    accruals: list[FundingAccrual] = msgspec.field(default_factory=list)
    total_actual: Decimal = Decimal(0)
    total_expected: Decimal = Decimal(0)


class PortfolioSnapshot(_Model, kw_only=True):
    """Portfolio totals, USD.

    * ``total_notional`` = Σ over open legs of qty · mark (entry price if no mark yet), both legs counted;
    * ``realized_pnl``, ``fees``, ``funding`` = sums over every position of the session (closed ones included);
    * ``unrealized_pnl`` = Σ over positions not closed;
    * ``net_pnl`` = realized + unrealized + funding − fees;
    * ``margin_used`` = Σ open legs' initial margin at the current mark (qty · mark / leverage, as the venues
      compute it; entry price until a mark is known);
    * ``exposure_headroom_usd`` (shown as *limit headroom*) = ``max_total_exposure_usd`` − exposure used (Σ ``filled_exposure_usd`` of
      positions not closed): the exposure the strategy may still open under its own limit — *limit* headroom,
      not margin headroom (that is ``mm_headroom_usd`` below, from the venues' accounts);
      ``exposure_headroom_pct`` = headroom / limit · 100. ``None`` until ``session.started`` gives the limit.
    """

    total_notional: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    funding_expected: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    net_pnl: Decimal = Decimal(0)
    margin_used: Decimal = Decimal(0)
    exposure_used_usd: Decimal = Decimal(0)
    exposure_headroom_usd: Decimal | None = None
    exposure_headroom_pct: Decimal | None = None
    positions_open: int = 0
    positions_opened: int = 0
    positions_closed: int = 0
    #: closed positions by the sign of their booked net PnL (> 0 a win, else a loss) and their mean hold
    #: (``position.closed.hold_s``, market seconds; ``None`` before the first close)
    wins: int = 0
    losses: int = 0
    avg_hold_s: int | None = None
    #: maintenance-margin headroom across the venues' accounts: Σ (equity − maintenance margin), USD, and that
    #: / Σ equity · 100; ``None`` without ``account.updated`` (an older log)
    mm_headroom_usd: Decimal | None = None
    mm_headroom_pct: Decimal | None = None
    #: the venue account nearest liquidation (collateral is not shared between venues, so the sum above can hide
    #: one): an account with equity ≤ 0 first, else the lowest ``mm_headroom_pct``; its ``mm_headroom_usd`` (USD)
    #: and ``mm_headroom_pct`` (percent; ``None`` when its equity ≤ 0); all ``None`` without accounts and while no
    #: account holds a position (every one at 100 %)
    mm_headroom_worst_venue: str | None = None
    mm_headroom_worst_usd: Decimal | None = None
    mm_headroom_worst_pct: Decimal | None = None
    #: the 1-day VaR / ES / stress of the whole current book (every open leg)
    risk: RiskSnapshot | None = None


class TimelineEvent(_Model, kw_only=True):
    """A timeline row. ``message`` is raw log text: renderers must show it through ``dashboard.text.safe_text``
    inside ``rich.text.Text`` (never as markup)."""

    ts: AwareDatetime
    market_ts: datetime | None = None
    seq: int
    category: str
    level: str
    event: str
    message: str
    strategy: str | None = None  # the envelope's (``None``: a session-, venue- or market-wide event)


class StrategyView(_Model, kw_only=True):
    """One strategy instance's roll-up (a row of the strategies pane), USD, computed exactly as
    ``PortfolioSnapshot`` computes the session's figures but over the positions of this strategy (rolled-back
    entry attempts included, as the portfolio includes them):

    * ``realized_pnl``, ``fees``, ``funding``, ``funding_expected`` = sums over every position of the strategy
      (closed ones included; ``dashboard.state.StrategyState`` keeps the running totals);
    * ``unrealized_pnl`` = Σ over its positions not closed; ``net_pnl`` = realized + unrealized + funding − fees;
    * ``exposure_used_usd`` = Σ ``filled_exposure_usd`` of its positions not closed (and not still opening), the
      quantity its ``max_total_exposure_usd`` limits; ``positions_open`` counts the same positions;
    * ``pnl_history``: its net PnL at the end of each market hour (the last ``PNL_SAMPLES`` − 1 hours
      sampled, oldest first), then ``net_pnl`` now — the sparkline.

    ``name`` ``None``: the row of the positions of no strategy (shown when the session has both). Over every
    row, each figure adds up to the portfolio's exactly."""

    name: str | None
    type: str | None = None
    version: str | None = None
    #: it announced an entry rule that is not a net funding APR (``strategy.started.entry_rule``): its symbols
    #: have no APR gap to show
    no_apr_rule: bool = False
    stage_banner: str | None = None
    lifecycle: str | None = None
    symbols: list[str] = msgspec.field(default_factory=list)
    venues: list[str] = msgspec.field(default_factory=list)
    positions_open: int = 0
    max_positions: int | None = None
    positions_opened: int = 0
    positions_closed: int = 0
    exposure_used_usd: Decimal = Decimal(0)
    max_total_exposure_usd: Decimal | None = None
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    funding_expected: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    net_pnl: Decimal = Decimal(0)
    pnl_history: list[Decimal] = msgspec.field(default_factory=list)
    #: its entry rule (net APR fraction/yr), as its scanner announced it; ``None``: not announced
    min_profit_rate: Decimal | None = None


class FocusRows(_Model, kw_only=True):
    """One strategy's rows for a view focused on it: ``closed`` its most recently closed (or rolled-back)
    positions, newest first, as many as the snapshot carries for the session; ``recent_events`` its own timeline
    rows, oldest first, as many as the session's timeline keeps."""

    closed: list[PositionSnapshot] = msgspec.field(default_factory=list)
    recent_events: list[TimelineEvent] = msgspec.field(default_factory=list)


class DashboardSnapshot(_Model, kw_only=True):
    """One frame's worth of data. ``generated_at`` = the last folded event's ``ts`` (``None`` before any): the
    frame's wall clock (never the reader's clock, so a replay draws the same frame)."""

    session: SessionState
    positions: list[PositionSnapshot]
    funding: FundingSnapshot
    portfolio: PortfolioSnapshot
    recent_events: list[TimelineEvent]
    generated_at: AwareDatetime | None = None
    #: the venues' collateral accounts (``account.updated``), by venue name; empty in an older log
    accounts: list[AccountSnapshot] = msgspec.field(default_factory=list)
    #: the session's strategy instances in the order they became known, then (when both exist) the row of the
    #: positions of no strategy; empty in an older log
    strategies: list[StrategyView] = msgspec.field(default_factory=list)
    #: the strategy a view focuses on (``dashboard.focus.focus_snapshot``: positions, closed positions, funding
    #: accruals and timeline limited to it); ``None``: the whole session
    focus: str | None = None
    #: per strategy (a session of two or more), the rows a view focused on it shows that the session's lists may
    #: not hold: its most recently closed positions and its own timeline
    focus_rows: dict[str, FocusRows] = msgspec.field(default_factory=dict)
