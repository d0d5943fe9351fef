"""The event catalogue: one typed, versioned pydantic model per event name (schema v1).

Every line of a session's JSONL is one *envelope* (see ``ENVELOPE_KEYS``) whose remaining keys are the
fields of the event model named by ``event``::

    {"v":1,"ts":"2026-01-02T03:04:05.123456+00:00","session_id":"<uuid>","seq":42,"level":"info",
     "logger":"bot.strategy","event":"position.opened","category":"execution",
     "message":"Opened BTC hyperliquid long / binance short","market_ts":"2026-03-01T08:00:00+00:00", ...fields}

Conventions (DESIGN.md, "Event envelope"):

* money, prices, quantities and rates are ``Decimal`` and travel as JSON *strings*;
* a funding ``rate`` is a fraction per funding interval (``0.0001`` = 1 bp) and always comes with ``interval_s``;
  an ``*_apr`` field is a fraction per year (``0.1095`` = 10.95 % APR, 365-day year);
* a ``*_pct`` field is a percentage (``0.25`` = 0.25 %);
* payments are signed from the bot's point of view: positive = received, negative = paid;
* every datetime is timezone-aware UTC; ``ts`` is the wall clock at emission, ``market_ts`` the simulated
  market clock (absent for events not tied to the market, e.g. third-party log lines).

Unknown events (a newer producer) are not an error for readers: ``model_for`` returns ``None`` and the reducer
shows them as info lines.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

#: Keys every event carries, in the order they are written.
ENVELOPE_KEYS = ("v", "ts", "session_id", "seq", "level", "logger", "event", "category", "message", "market_ts")

Category = Literal["stage", "execution", "funding", "market", "warning", "error", "info", "metric", "checkpoint"]
Level = Literal["debug", "info", "warning", "error", "critical"]
Health = Literal["starting", "running", "idle", "degraded", "error", "stopping", "stopped"]
Lifecycle = Literal[
    "initializing",
    "scanning",
    "opening_position",
    "monitoring_position",
    "rebalancing",
    "closing_position",
    "cycle_complete",
]
Side = Literal["long", "short"]
OrderSide = Literal["buy", "sell"]

#: Exit reason codes used in events, the DB and the dashboard (DESIGN.md). ``LIQUIDATION_<VENUE>`` and
#: ``LIQUIDATION_RISK_<VENUE>`` are formed with the upper-cased venue name.
EXIT_REASONS = (
    "PROFIT_EROSION",
    "DIVERGENCE_FLIPPED",
    "TIME_LIMIT",
    "SEVERE_EROSION",
    "SEVERE_IMBALANCE",
    "LEG_LIQUIDATED",
    "ALL_LEGS_CLOSED",
    "SESSION_END",
)
HOLD_CODES = ("MIN_HOLD_ACTIVE", "HOLD_TOP_OPPORTUNITY")


class EventFields(BaseModel):
    """Base of every event's typed fields. Extra keys are kept (forward compatible), never dropped."""

    model_config = ConfigDict(extra="allow", frozen=True)


# --- session / lifecycle -------------------------------------------------------------------------------------


class SessionStarted(EventFields):
    """A bot session began. Limits are the strategy config's, exposure in USD."""

    strategy: str
    strategy_version: str
    config_path: str | None = None
    dry_run: bool = True
    venues: list[str]
    symbols: list[str]
    max_positions: int
    max_total_exposure_usd: Decimal
    target_margin: Decimal
    market_start: AwareDatetime | None = None
    market_end: AwareDatetime | None = None
    speed: Decimal | None = None  # market seconds per wall second, 0 = as fast as possible
    data_note: str | None = None  # modelling caveats shown to the operator (e.g. proxy marks)


class SessionStopped(EventFields):
    """The session ended; ``health`` is the final health (``stopped`` or ``error``)."""

    reason: str
    health: Health = "stopped"


class SessionHealth(EventFields):
    """Session health changed (e.g. ``running`` → ``degraded`` when a sink fails)."""

    health: Health
    reason: str | None = None
    component: str | None = None


class StageChanged(EventFields):
    """A stage banner: ``"{stage_id}. {icon} {title}"`` plus the lifecycle stage it puts the bot in."""

    stage_id: str
    icon: str = ""
    title: str
    lifecycle: Lifecycle | None = None
    symbol: str | None = None
    position_id: str | None = None


class VenueConnected(EventFields):
    """A venue is reachable. ``funding_interval_s`` is the venue's funding interval in seconds."""

    venue: str
    quote: str
    funding_interval_s: int
    taker_fee_rate: Decimal
    maker_fee_rate: Decimal


class VenueDisconnected(EventFields):
    venue: str
    reason: str


# --- opportunities and execution -------------------------------------------------------------------------------


class OpportunityFound(EventFields):
    """A ranked funding spread: long the cheaper-funding venue, short the dearer one.

    ``spread_apr`` = short leg APR − long leg APR (fraction/yr); ``net_apr`` subtracts the round-trip taker fees
    amortised over the expected hold (see ``helpers.formulas.net_spread_apr``).
    """

    symbol: str
    long_venue: str
    short_venue: str
    long_rate: Decimal
    short_rate: Decimal
    long_interval_s: int
    short_interval_s: int
    spread_apr: Decimal
    net_apr: Decimal
    rank: int


class OpportunitySkipped(EventFields):
    """An opportunity was not taken; ``reason`` is a code (``BELOW_MIN_PROFIT``, ``MAX_POSITIONS``, ...)."""

    symbol: str
    long_venue: str | None = None
    short_venue: str | None = None
    reason: str
    net_apr: Decimal | None = None


class OrderPlaced(EventFields):
    """An order was sent. ``ref_price`` is the venue mark at placement; ``qty`` in base units."""

    order_id: str
    position_id: str
    venue: str
    symbol: str
    side: OrderSide
    qty: Decimal
    ref_price: Decimal
    order_type: Literal["market", "limit"] = "market"
    reduce_only: bool = False


class OrderFilled(EventFields):
    """An order filled (fully). ``price`` is the average fill price including slippage; ``fee`` is in USD
    (always ≥ 0, a cost); ``slippage_bps`` = (price/ref_price − 1)·10⁴ signed against the taker."""

    order_id: str
    position_id: str
    venue: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_rate: Decimal
    liquidity: Literal["taker", "maker"] = "taker"
    slippage_bps: Decimal = Decimal(0)
    reduce_only: bool = False


class OrderPartiallyFilled(OrderFilled):
    """Part of an order filled; ``remaining_qty`` is still open."""

    remaining_qty: Decimal


class OrderCancelled(EventFields):
    order_id: str
    position_id: str
    venue: str
    symbol: str
    reason: str


class OrderRejected(EventFields):
    order_id: str
    position_id: str
    venue: str
    symbol: str
    side: OrderSide
    qty: Decimal
    reason: str


class ExecutionRollback(EventFields):
    """One leg failed, so the filled leg(s) were closed again. The rollback's own fills are ``order.filled``
    events with ``reduce_only`` true; this event names the cause."""

    position_id: str
    symbol: str
    failed_venue: str
    rolled_back_venues: list[str]
    reason: str


# --- positions -----------------------------------------------------------------------------------------------


class LegOpen(BaseModel):
    """One leg of a delta-neutral position as filled. ``margin`` = notional / leverage (USD)."""

    model_config = ConfigDict(frozen=True)
    venue: str
    side: Side
    qty: Decimal
    entry_price: Decimal
    notional: Decimal
    fee: Decimal
    leverage: Decimal
    margin: Decimal


class PositionOpened(EventFields):
    """A two-leg position is open. Exposures in USD; ``entry_spread_apr`` as in ``OpportunityFound``."""

    position_id: str
    symbol: str
    long_venue: str
    short_venue: str
    legs: list[LegOpen]
    target_exposure_usd: Decimal
    filled_exposure_usd: Decimal
    entry_spread_apr: Decimal
    entry_long_rate: Decimal
    entry_short_rate: Decimal


class PositionUpdated(EventFields):
    """The position manager's periodic view of a position: the inputs of its exit decision.

    ``current_spread_apr`` from the latest funding rates, ``profit_erosion_pct`` = (1 − current/entry spread)·100,
    ``divergence_pct`` = (short mark / long mark − 1)·100, ``hold_code`` why it keeps holding (``MIN_HOLD_ACTIVE`` …).
    """

    position_id: str
    symbol: str | None = None  # optional in v1 (older logs lack it)
    current_spread_apr: Decimal
    profit_erosion_pct: Decimal
    divergence_pct: Decimal
    rebalance_pending: bool = False
    hold_code: str | None = None


class PositionRebalanced(EventFields):
    position_id: str
    venue: str
    qty_delta: Decimal
    reason: str


class PositionClosing(EventFields):
    """An exit was decided; ``reason`` is an exit code from ``EXIT_REASONS`` (or ``LIQUIDATION_<VENUE>``)."""

    position_id: str
    symbol: str | None = None  # optional in v1 (older logs lack it)
    reason: str
    detail: str | None = None


class PositionClosed(EventFields):
    """Both legs are flat. Figures as the bot booked them (USD): the reducer recomputes them from fills and
    payments and the two must agree."""

    position_id: str
    symbol: str | None = None  # optional in v1 (older logs lack it)
    reason: str
    realized_pnl: Decimal  # price PnL of both legs, before fees and funding
    fees: Decimal
    funding: Decimal
    net_pnl: Decimal  # realized_pnl + funding − fees
    hold_s: int


# --- market and funding --------------------------------------------------------------------------------------


class MarkPrice(EventFields):
    """A venue's mark (and index) price for a symbol, in the venue's quote (USDT or USDC, treated as USD)."""

    venue: str
    symbol: str
    mark_price: Decimal
    index_price: Decimal


class FundingRate(EventFields):
    """The funding rate a venue will settle next (fraction per interval) and when."""

    venue: str
    symbol: str
    rate: Decimal
    interval_s: int
    apr: Decimal
    next_funding_ts: AwareDatetime


class FundingPayment(EventFields):
    """A venue settled funding on one leg of a position.

    ``payment`` = −side_sign · qty · mark_price · rate (side_sign +1 long, −1 short): a long pays a positive rate,
    a short receives it (venue convention on Binance, Bybit and Hyperliquid). ``expected_payment`` is the same
    formula with the rate observed at entry (``entry_rate``), i.e. what the entry spread promised.
    """

    position_id: str
    symbol: str
    venue: str
    side: Side
    rate: Decimal
    entry_rate: Decimal
    interval_s: int
    qty: Decimal
    mark_price: Decimal
    notional: Decimal
    payment: Decimal
    expected_payment: Decimal


class FundingSettlement(EventFields):
    """One funding time of one position, both legs together (the bot's funding payment record).

    ``long_payment`` / ``short_payment``: the legs' ``funding.payment`` amounts at this time (USD, + = received;
    0 for a leg whose venue did not settle now — venues settle at their own intervals); ``net_payment`` = their
    sum; ``long_rate`` / ``short_rate``: the rates applied (absent for a leg that did not settle);
    ``divergence_pct`` = (short mark / long mark − 1)·100 at this time (``helpers.formulas.divergence_pct``).
    A summary of the per-leg ``funding.payment`` events, which stay the source of the dashboard's totals.
    """

    position_id: str
    symbol: str
    long_venue: str
    short_venue: str
    long_payment: Decimal
    short_payment: Decimal
    net_payment: Decimal
    long_rate: Decimal | None = None
    short_rate: Decimal | None = None
    divergence_pct: Decimal | None = None


class RiskLimitHit(EventFields):
    """A limit stopped an action: ``limit`` is the config key (``max_positions``, ``max_total_exposure_usd``)."""

    limit: str
    value: Decimal
    limit_value: Decimal
    symbol: str | None = None


# --- plain logging, metrics, housekeeping -------------------------------------------------------------------


class LogMessage(EventFields):
    """A plain log line (bot ``info/warning/error`` or a third-party stdlib record). ``exc`` holds a formatted
    traceback when one was attached."""

    exc: str | None = None


class Metric(EventFields):
    """A named measurement: ``value`` in ``unit`` (e.g. ``events_per_s``, ``ms``, ``USD``)."""

    name: str
    value: Decimal
    unit: str = ""


class Heartbeat(EventFields):
    """Emitted about once per wall second so time-derived figures (uptime, countdowns) advance without trades."""

    open_positions: int = 0


class DashboardCheckpoint(EventFields):
    """The full reducer state (``DashboardState`` as JSON), for readers that seek instead of replaying."""

    state: dict[str, Any]


class _Catalogue:
    """Maps event names to their model and category. Read-only after import."""

    def __init__(self, entries: dict[str, tuple[type[EventFields], Category]]) -> None:
        self._entries = entries
        self._names = {model: name for name, (model, _) in entries.items()}

    def name_for(self, model: type[EventFields]) -> str:
        """The event name of a model class (exact type). Raises ``KeyError`` for a class not in the catalogue."""
        return self._names[model]

    def model_for(self, event: str) -> type[EventFields] | None:
        entry = self._entries.get(event)
        return entry[0] if entry else None

    def category_for(self, event: str, level: str = "info") -> Category:
        entry = self._entries.get(event)
        if entry is None or event == "log.message":
            if level in ("warning",):
                return "warning"
            if level in ("error", "critical"):
                return "error"
            return "info"
        return entry[1]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, event: object) -> bool:
        return event in self._entries


CATALOGUE = _Catalogue(
    {
        "session.started": (SessionStarted, "stage"),
        "session.stopped": (SessionStopped, "stage"),
        "session.health": (SessionHealth, "info"),
        "stage.changed": (StageChanged, "stage"),
        "venue.connected": (VenueConnected, "info"),
        "venue.disconnected": (VenueDisconnected, "warning"),
        "opportunity.found": (OpportunityFound, "execution"),
        "opportunity.skipped": (OpportunitySkipped, "info"),
        "order.placed": (OrderPlaced, "execution"),
        "order.filled": (OrderFilled, "execution"),
        "order.partially_filled": (OrderPartiallyFilled, "execution"),
        "order.cancelled": (OrderCancelled, "execution"),
        "order.rejected": (OrderRejected, "warning"),
        "execution.rollback": (ExecutionRollback, "warning"),
        "position.opened": (PositionOpened, "execution"),
        "position.updated": (PositionUpdated, "info"),
        "position.rebalanced": (PositionRebalanced, "execution"),
        "position.closing": (PositionClosing, "execution"),
        "position.closed": (PositionClosed, "execution"),
        "market.mark_price": (MarkPrice, "market"),
        "funding.rate": (FundingRate, "funding"),
        "funding.payment": (FundingPayment, "funding"),
        "funding.settlement": (FundingSettlement, "funding"),
        "risk.limit_hit": (RiskLimitHit, "warning"),
        "log.message": (LogMessage, "info"),
        "metric": (Metric, "metric"),
        "heartbeat": (Heartbeat, "info"),
        "dashboard.checkpoint": (DashboardCheckpoint, "checkpoint"),
    }
)


class Envelope(BaseModel):
    """The fixed part of every event (schema v1). Used to validate lines read back from a file or the DB."""

    model_config = ConfigDict(extra="allow")

    v: int = Field(ge=1)
    ts: AwareDatetime
    session_id: str
    seq: int = Field(ge=0)
    level: Level
    logger: str = ""
    event: str
    category: Category
    message: str = ""
    market_ts: datetime | None = None
