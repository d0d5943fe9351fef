"""The reducer's fold state: plain mutable dataclasses (slots), mutated in place by the folds (``dashboard.folds``).

Kept deliberately cheap (no validation, no pydantic): the hot events touch one dict entry each. Derived
figures (unrealized PnL, divergence, erosion, countdowns, totals) are *not* stored here; they are computed by
``dashboard.snapshot.build_snapshot`` from these inputs, in one place.

``state_to_dict`` / ``state_from_dict`` give the JSON form carried by the ``dashboard.checkpoint`` event,
encoded and decoded by msgspec (the library that reads the events) from these declarations: ``Decimal`` and
decimal text as strings, datetimes as RFC 3339. The round trip is exact. The form is versioned
(``STATE_FORM``): a checkpoint of another form is refused, and a reader replays from the start instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, NewType

import msgspec

from arbdash.dashboard.models import IngestTotals
from arbdash.logging_pipeline.catalogue import DecimalText

#: ``DecimalText`` (``logging_pipeline.catalogue``) of a price the mark fold accepted: positive, finite, within
#: the magnitude bound. The fold keeps high-rate values as text and the snapshot turns the few it shows into
#: ``Decimal`` (``Decimal(text)`` is exact). ``state_from_dict`` re-validates it.
PriceText = NewType("PriceText", str)
#: An aware datetime (a naive one is refused when a checkpoint is read).
UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
#: The version of the checkpoint form; bump it when a field of the state changes meaning or shape (a new field
#: with a default is read from an older checkpoint as its default, and ignored by an older reader).
STATE_FORM = 7  # 7: strategy instances (roll-up, hourly PnL samples), a position's and a timeline row's strategy; 6: venue accounts, liquidation prices, hourly risk history; 5: entries paused by the operator; 4: wins / losses / hold totals, entry margin, hold end, …
#: The skip reason of an event of another session than the one folded: ``f"{OTHER_SESSION}:{session id}"``
#: (``dashboard.reducer.other_session_key``).
OTHER_SESSION = "other_session"
#: Decimal inputs beyond 10^±MAX_DECIMAL_EXP are refused by the fold (a rate within the open range; a price up
#: to it): products of a few such values stay far from the Decimal context's overflow.
MAX_DECIMAL_EXP = 60


def _finite(text: str) -> Decimal | None:
    """``Decimal(text)`` if that is a finite decimal, else ``None``."""
    try:
        d = Decimal(text)
    except (ArithmeticError, TypeError):
        return None
    return d if d.is_finite() else None


def decimal_text_ok(text: str) -> bool:
    """Whether ``text`` is a decimal the folds accept for a rate or an amount: finite, with
    ``-MAX_DECIMAL_EXP < adjusted exponent < MAX_DECIMAL_EXP`` (zero included).

    Fast path as in ``price_text_ok``: a ``float`` with 1e-58 < |value| < 1e58 implies it (zero and the edges are
    decided by ``Decimal``)."""
    try:
        if 1e-58 < abs(float(text)) < 1e58:
            return True
    except ValueError:
        pass
    d = _finite(text)
    return d is not None and -MAX_DECIMAL_EXP < d.adjusted() < MAX_DECIMAL_EXP


def price_text_ok(text: str) -> bool:
    """Whether ``text`` is a price the mark fold accepts: positive, finite, adjusted exponent ≤ ``MAX_DECIMAL_EXP``.

    Fast path: a ``float`` in (0, 1e59) implies it (every string ``float`` parses is a valid ``Decimal`` of the
    same value's sign and magnitude class — same grammar, plus underscores and Unicode digits on both sides; see
    ``tests/test_reducer_fastpath.py``); anything else is decided by ``Decimal``."""
    try:
        if 0.0 < float(text) < 1e59:
            return True
    except ValueError:
        pass
    d = _finite(text)
    return d is not None and d > 0 and d.adjusted() <= MAX_DECIMAL_EXP


#: How many strategy instances are kept by name (a hostile log may name a new one on every line): the events of
#: any further name are refused (``dashboard.folds.strategies.admit``).
MAX_STRATEGIES = 16
#: Hourly net PnL samples a strategy keeps for its sparkline (two market days).
PNL_SAMPLES = 48

#: One timeline row: (ts, market_ts, seq, category, level, event, message, strategy) — text unescaped;
#: ``strategy``: the envelope's (``None``: a session-, venue- or market-wide event, or an older log).
TimelineRow = tuple[UtcDatetime, UtcDatetime | None, int, str, str, str, str, str | None]


@dataclass(slots=True)
class IngestStats(IngestTotals):
    """Counters of what the reducer did with its input.

    ``skipped``: lines/events dropped before folding, by reason (``not_json``, ``invalid_utf8``, ``not_object``,
    ``missing_envelope``, ``naive_timestamp``, ``bad_timestamp``, ``out_of_order_seq``, ``duplicate_seq``,
    ``empty_line``, ``too_long``, ``nul_bytes`` and a reader's own reasons such as ``torn_line``) — and the
    events of *another session* than the one folded, by session: ``other_session:<its id>`` (``OTHER_SESSION``;
    not bad input: a log holding two sessions, see ``DashboardState.fold_session``);
    ``rejected``: envelope-valid events whose fields were missing or wrong-typed (``bad_field``), state unchanged;
    ``unknown``: events kept as info lines only (``unknown_event``, ``newer_version``);
    ``last_problem``: a one-line description of the most recent skip/reject (for the operator);
    ``fed_bytes``: the length of the log text fed — every line counted with its newline, whatever became of it
    (blank lines a file reader drops, and lines it could not read, are not fed). A checkpoint carries the live
    reducer's count, so a reader knows whether the file's bytes before the checkpoint are exactly the lines
    that state folded (``dashboard.sources.jsonl.load``).
    """

    applied: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    last_problem: str = ""
    fed_bytes: int = 0


@dataclass(slots=True)
class VenueState:
    """A venue as announced by ``session.started`` / ``venue.connected``; fee rates are fractions."""

    name: str
    connected: bool | None = None  # None = announced, not yet connected
    reason: str | None = None
    funding_interval_s: int | None = None
    taker_fee_rate: Decimal | None = None
    maker_fee_rate: Decimal | None = None
    slippage_bps: Decimal | None = None  # per fill, bp (None: not carried by the log)


@dataclass(slots=True)
class LegState:
    """One venue leg of a position, rebuilt from fills. ``qty`` ≥ 0 in base units; ``entry_price`` is the
    qty-weighted average of the increasing fills; money in USD."""

    venue: str
    side: str  # "long" | "short"
    qty: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    opened_qty: Decimal = Decimal(0)  # cumulative qty of increasing fills
    fees: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    funding_accrued: Decimal = Decimal(0)
    funding_expected: Decimal = Decimal(0)
    leverage: Decimal | None = None
    last_funding_rate: Decimal | None = None
    # where the venue liquidates this leg (USD per base unit; position.updated), None when not announced or
    # when no finite price can (the venue's formula gives none)
    liquidation_price: Decimal | None = None
    # the bot said no price can liquidate this leg (its venue's cross-margined account covers any move): its
    # position.updated left the price out (or gave one ≤ 0) while the position's updates report liquidation
    # prices (PositionState.liquidation_reported) and the venue's account is logged (account.updated: the bot
    # solves LPs on it); False while nothing was said, for a strategy that reports none, or an older bot
    no_liquidation_price: bool = False
    # position.liquidated: the price the venue closed the leg at and the fee it charged (USD, also in ``fees``)
    liquidated_at: Decimal | None = None
    liquidation_fee: Decimal = Decimal(0)


@dataclass(slots=True)
class PositionState:
    """A position's inputs as folded from events. Totals (fees, realized, funding) are the sums of its legs'."""

    position_id: str
    symbol: str
    lifecycle: str = "opening"  # opening | open | closing | closed | rolled_back
    long_venue: str | None = None
    short_venue: str | None = None
    legs: dict[str, LegState] = field(default_factory=dict)
    entry_ts: UtcDatetime | None = None
    last_update_ts: UtcDatetime | None = None
    closed_ts: UtcDatetime | None = None
    target_exposure_usd: Decimal | None = None
    filled_exposure_usd: Decimal | None = None
    entry_spread_apr: Decimal | None = None
    entry_long_rate: Decimal | None = None
    entry_short_rate: Decimal | None = None
    rebalance_pending: bool = False
    # a position.updated of this position carried a liquidation price: its strategy reports them (a two-leg
    # funding-arbitrage pair does; a strategy that never does, e.g. settlement_timing, leaves every leg unknown)
    liquidation_reported: bool = False
    hold_code: str | None = None
    hold_until: UtcDatetime | None = None  # position.updated with MIN_HOLD_ACTIVE: when the min hold ends
    entry_margin: Decimal | None = None  # Σ legs' margin in position.opened (USD): the base of ROI %
    # from position.updated, as validated text (a fallback the snapshot reads only without marks / rates)
    bot_current_spread_apr: DecimalText | None = None
    bot_divergence_pct: DecimalText | None = None
    # a strategy's own figures for the position (position.updated ``figures``: name → value), as they came
    figures: dict[str, Decimal] = field(default_factory=dict)
    exit_reason: str | None = None
    booked_net_pnl: Decimal | None = None  # position.closed, as the bot booked it
    # collateral moved between its venues (position.rebalanced with ``amount_usd``): the sum moved (USD) and the
    # last move as (amount text, from venue, to venue)
    collateral_moved_usd: Decimal = Decimal(0)
    last_transfer: tuple[str, str, str] | None = None
    # the strategy instance it belongs to: the envelope's ``strategy`` of the event that made it known (its first
    # fill, or ``position.opened`` …), fixed from then on; ``None``: no strategy (an older log)
    strategy: str | None = None


@dataclass(slots=True)
class AccountState:
    """A venue's collateral account as the bot's last ``account.updated`` gave it (USD; ``margin_ratio`` a
    fraction = maintenance / equity, ``None`` when equity ≤ 0). ``transfers_in`` / ``transfers_out``: collateral
    moved into / out of it by ``position.rebalanced`` (USD, sums)."""

    venue: str
    collateral: Decimal
    wallet: Decimal
    unrealized: Decimal
    equity: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    margin_ratio: Decimal | None
    available: Decimal
    updated_ts: UtcDatetime | None = None
    transfers_in: Decimal = Decimal(0)
    transfers_out: Decimal = Decimal(0)


@dataclass(slots=True)
class HourSeries:
    """The hourly history of one venue × symbol the VaR is computed from (``dashboard.risk``): ``marks[i]`` is
    the last ``market.mark_price`` folded whose ``market_ts`` lies in the hour ``start + i`` (hours since the
    Unix epoch, UTC; ``None``: no mark that hour), as its validated text; ``rates``: every change of the
    venue's funding rate as ``(hour, rate text, interval_s)``, oldest first (the last one folded in an hour
    wins) — the rate in force at hour h is the last entry with hour ≤ h. Bounded: ``risk.HISTORY_HOURS``
    hours are kept (trimmed ``risk.TRIM_SLACK_HOURS`` at a time, the rate in force at the start kept)."""

    start: int
    marks: list[PriceText | None] = field(default_factory=list)
    rates: list[tuple[int, DecimalText, int]] = field(default_factory=list)


@dataclass(slots=True)
class RateState:
    """Latest ``funding.rate`` of a venue × symbol: ``rate_text`` (fraction per ``interval_s``, as logged),
    next settlement time."""

    rate_text: DecimalText
    interval_s: int
    next_funding_ts: UtcDatetime

    @property
    def rate(self) -> Decimal:
        """The rate as a ``Decimal`` fraction per ``interval_s`` (exact: built from the logged text)."""
        return Decimal(self.rate_text)


@dataclass(slots=True)
class StrategyState:
    """One strategy instance of the session (``strategy.started``, or the first event naming it), and the running
    totals of the positions attributed to it (``PositionState.strategy``), USD, over every one ever seen (closed
    ones evicted from ``DashboardState.closed`` included) — the same sums ``DashboardState`` keeps for the
    session. ``DashboardState.unattributed`` is the bucket of the positions of no (known) strategy, so the
    buckets add up to the session's totals exactly.

    ``stage_banner`` / ``lifecycle``: its last ``stage.changed``; limits and thresholds from its
    ``strategy.started`` (``None`` until announced); ``pnl_hours``: ``(hour since the Unix epoch, net PnL)``, its
    net PnL (realized + unrealized at the marks folded + funding − fees) as it stood when the market clock left
    that hour, oldest first, at most ``PNL_SAMPLES``."""

    name: str
    type: str | None = None
    #: how it enters (``strategy.started.entry_rule``: ``events.NET_APR_ENTRY`` or another rule); ``None``: not said
    entry_rule: str | None = None
    version: str | None = None
    venues: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    max_positions: int | None = None
    max_total_exposure_usd: Decimal | None = None
    target_margin: Decimal | None = None
    erosion_threshold_pct: Decimal | None = None  # profit_erosion_threshold · 100
    divergence_limit_pct: Decimal | None = None  # max_entry_price_divergence_pct
    stage_banner: str | None = None
    lifecycle: str | None = None
    # its entry rule, as its scanner's verdicts announce it (``opportunity.found`` / ``skipped``): net APR
    # (fraction/yr), hold the fees are amortised over (hours), the venue every pair must include
    min_profit_rate: Decimal | None = None
    expected_hold_hours: Decimal | None = None
    mandatory_exchange: str | None = None
    positions: int = 0  # positions attributed to it
    positions_opened: int = 0
    positions_closed: int = 0
    realized_total: Decimal = Decimal(0)
    fees_total: Decimal = Decimal(0)
    funding_total: Decimal = Decimal(0)
    funding_expected_total: Decimal = Decimal(0)
    pnl_hours: list[tuple[int, Decimal]] = field(default_factory=list)
    # its own timeline rows (the session's timeline holds the latest of every strategy), oldest first, at most
    # ``DashboardState.timeline_size``: what a view focused on it shows
    timeline: list[TimelineRow] = field(default_factory=list)


@dataclass(slots=True)
class SessionInfo:
    """From ``session.started`` / ``session.health`` / ``stage.changed``."""

    session_id: str | None = None
    strategy: str | None = None
    strategy_version: str | None = None
    config_path: str | None = None
    dry_run: bool | None = None
    symbols: list[str] = field(default_factory=list)
    health: str = "starting"
    health_reason: str | None = None
    degraded: dict[str, str] = field(default_factory=dict)  # component (sink) → reason, while it is not ok
    lifecycle: str | None = None
    stage_banner: str | None = None
    started_ts: UtcDatetime | None = None  # wall clock (envelope ts)
    market_start: UtcDatetime | None = None
    max_positions: int | None = None
    max_total_exposure_usd: Decimal | None = None
    target_margin: Decimal | None = None
    data_note: str | None = None
    stop_reason: str | None = None
    erosion_threshold_pct: Decimal | None = (
        None  # optional session.started ``profit_erosion_threshold`` · 100
    )
    divergence_limit_pct: Decimal | None = None  # optional session.started ``max_entry_price_divergence_pct``
    # the entry rule, from the scanner's opportunity.found / skipped (optional fields: None until announced)
    min_profit_rate: Decimal | None = None  # min net spread APR, fraction/yr
    expected_hold_hours: Decimal | None = None  # the hold the round-trip fees are amortised over
    mandatory_exchange: str | None = None
    # the last health each component (sink) reported in session.health: name → (health, reason)
    components: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # the latest value of each ``metric`` event: name → (decimal text, unit); at most ``MAX_METRICS`` names
    metrics: dict[str, tuple[str, str]] = field(default_factory=dict)
    # operator commands (``command.executed``): new entries paused; the limits above follow ``set_limit``
    entries_paused: bool = False
    # risk settings (session.started): the liquidation-distance threshold (percent) the strategy acts below,
    # and the confidence (fraction) of the 1-day VaR / ES; None when the session does not say
    min_liquidation_distance_pct: Decimal | None = None
    var_confidence: Decimal | None = None


@dataclass(slots=True)
class DashboardState:
    """Everything the dashboard knows. Mutated in place by ``apply``; see the module docstring."""

    timeline_size: int = 20
    session: SessionInfo = field(default_factory=SessionInfo)
    venues: dict[str, VenueState] = field(default_factory=dict)
    positions: dict[str, PositionState] = field(default_factory=dict)  # not closed, insertion (= open) order
    closed: dict[str, PositionState] = field(default_factory=dict)  # closed / rolled back, most recent last
    marks: dict[str, dict[str, PriceText]] = field(default_factory=dict)  # venue → symbol → mark price
    rates: dict[str, dict[str, RateState]] = field(default_factory=dict)  # venue → symbol → latest rate
    timeline: list[TimelineRow] = field(default_factory=list)  # oldest first, at most ``timeline_size`` rows
    last_seq: dict[str, int] = field(default_factory=dict)  # session_id → last folded seq
    # the one session folded: the reader's choice, else the session of the first event; another session's events
    # are counted (``IngestStats.skipped``, ``other_session:<id>``) and never folded, so figures never mix
    fold_session: str | None = None
    last_ts: UtcDatetime | None = None  # envelope ts of the last folded event
    market_now: UtcDatetime | None = None  # latest (max) market_ts folded
    positions_opened: int = 0
    positions_closed: int = 0
    # running totals over every position ever seen (incl. closed ones evicted from ``closed``), USD
    realized_total: Decimal = Decimal(0)
    fees_total: Decimal = Decimal(0)
    funding_total: Decimal = Decimal(0)
    funding_expected_total: Decimal = Decimal(0)
    # closed positions by the sign of their booked net PnL (position.closed): > 0 a win, else a loss, and the
    # sum of their ``hold_s`` (market seconds)
    wins: int = 0
    losses: int = 0
    held_s_total: int = 0
    warnings: int = 0  # reducer-generated warnings (e.g. booked vs recomputed PnL mismatch)
    stats: IngestStats = field(default_factory=IngestStats)
    accounts: dict[str, AccountState] = field(default_factory=dict)  # venue → its account (account.updated)
    history: dict[str, dict[str, HourSeries]] = field(default_factory=dict)  # venue → symbol → hourly series
    # strategy instances by name, in the order they became known (at most ``MAX_STRATEGIES``), the bucket of the
    # positions of no strategy, and when the market clock next enters a new hour (the PnL samples are taken then)
    strategies: dict[str, StrategyState] = field(default_factory=dict)
    unattributed: StrategyState = field(default_factory=lambda: StrategyState(name=""))
    pnl_sample_due: UtcDatetime | None = None

    def mark(self, venue: str | None, symbol: str) -> PriceText | None:
        """The latest mark price text of ``venue`` × ``symbol`` (``None`` if none was folded)."""
        by_symbol = self.marks.get(venue) if venue is not None else None
        return by_symbol.get(symbol) if by_symbol is not None else None

    def rate(self, venue: str | None, symbol: str) -> RateState | None:
        """The latest funding rate of ``venue`` × ``symbol`` (``None`` if none was folded)."""
        by_symbol = self.rates.get(venue) if venue is not None else None
        return by_symbol.get(symbol) if by_symbol is not None else None

    def add_timeline(self, row: TimelineRow) -> None:
        """Append a timeline row, dropping the oldest beyond ``timeline_size``; a row of a known strategy also
        goes into that strategy's own timeline (as bounded)."""
        size = self.timeline_size
        for timeline in (self.timeline, *((st.timeline,) if (st := self.strategies.get(row[7])) else ())):
            timeline.append(row)
            if len(timeline) > size:
                del timeline[: len(timeline) - size]


# --- JSON form (the checkpoint) ----------------------------------------------------------------------------


def state_to_dict(state: DashboardState) -> dict[str, Any]:
    """The JSON-serialisable form of ``state`` (str/int/bool/None/list/dict only), tagged with ``STATE_FORM``."""
    data: dict[str, Any] = msgspec.to_builtins(state)
    data["form"] = STATE_FORM
    return data


def state_from_dict(data: dict[str, Any]) -> DashboardState:
    """Inverse of ``state_to_dict``. Raises ``ValueError`` on malformed input, another form's payload (no or
    another ``form``), a naive datetime, or a mark / rate the folds would not have accepted."""
    if type(data) is not dict or data.get("form") != STATE_FORM:
        raise ValueError(f"not a checkpoint of state form {STATE_FORM}")
    try:
        state = msgspec.convert({k: v for k, v in data.items() if k != "form"}, DashboardState)
    except msgspec.ValidationError as e:
        raise ValueError(str(e)) from None
    for venue, by_symbol in state.marks.items():
        for symbol, price in by_symbol.items():
            if not price_text_ok(price):
                raise ValueError(f"mark {venue} {symbol}: not a price the fold accepts: {price[:40]!r}")
    for venue, by_symbol in state.rates.items():
        for symbol, rate in by_symbol.items():
            if not decimal_text_ok(rate.rate_text):
                raise ValueError(
                    f"rate {venue} {symbol}: not a rate the fold accepts: {rate.rate_text[:40]!r}"
                )
    for pos in (*state.positions.values(), *state.closed.values()):
        for text in (pos.bot_current_spread_apr, pos.bot_divergence_pct):
            if text is not None and not decimal_text_ok(text):
                raise ValueError(
                    f"position {pos.position_id[:40]}: not a figure the fold accepts: {text[:40]!r}"
                )
    for venue, by_symbol in state.history.items():
        for symbol, series in by_symbol.items():
            for price in series.marks:
                if price is not None and not price_text_ok(price):
                    raise ValueError(
                        f"history {venue} {symbol}: not a price the fold accepts: {price[:40]!r}"
                    )
            for _, rate_text, interval in series.rates:
                if not decimal_text_ok(rate_text) or interval <= 0:
                    raise ValueError(
                        f"history {venue} {symbol}: not a rate the fold accepts: {rate_text[:40]!r}"
                    )
    if len(state.timeline) > state.timeline_size:
        raise ValueError("timeline longer than its size")
    if len(state.strategies) > MAX_STRATEGIES:
        raise ValueError(f"more than {MAX_STRATEGIES} strategies")
    for st in (*state.strategies.values(), state.unattributed):
        if len(st.pnl_hours) > PNL_SAMPLES:
            raise ValueError(f"strategy {st.name[:40]!r}: more than {PNL_SAMPLES} PnL samples")
        if len(st.timeline) > state.timeline_size:
            raise ValueError(f"strategy {st.name[:40]!r}: timeline longer than its size")
    return state
