"""The event catalogue: every event of schema v1 declared once, as a ``msgspec.Struct`` tagged by its name.

Every line of a session's JSONL is one *envelope* (``Envelope``) whose remaining keys are the fields of the
event named by ``event``::

    {"v":1,"ts":"2026-01-02T03:04:05.123456+00:00","session_id":"<uuid>","seq":42,"level":"info",
     "logger":"bot.strategy","event":"position.opened","category":"execution",
     "message":"Opened BTC hyperliquid long / binance short","market_ts":"2026-03-01T08:00:00+00:00", ...fields}

A declaration gives an event's name (``tag``), its fields in line order with their types and defaults, and
three facts about it as class attributes: ``CATEGORY`` (the envelope's ``category``), ``TIMELINE`` (whether the
dashboard's timeline shows it) and ``CONSOLE`` (whether the human console prints it below warning level).
Everything else derives from this module (``logging_pipeline.catalogue``): the writer's validation, the JSONL
field order, the readers' typed decoders, the PostgreSQL key order, the reducer's input types and the tests'
event builders. Adding an event is one class here (plus, if the dashboard shows it, one fold in ``dashboard``).

Conventions (DESIGN.md, "Event envelope"):

* money, prices, quantities and rates are ``Decimal`` and travel as JSON *strings*; never a float;
* a funding ``rate`` is a fraction per funding interval (``0.0001`` = 1 bp) and always comes with ``interval_s``;
  an ``*_apr`` field is a fraction per year (``0.1095`` = 10.95 % APR, 365-day year);
* a ``*_pct`` field is a percentage (``0.25`` = 0.25 %);
* payments are signed from the bot's point of view: positive = received, negative = paid;
* every datetime is timezone-aware UTC; ``ts`` is the wall clock at emission, ``market_ts`` the simulated
  market clock (absent for events not tied to the market, e.g. third-party log lines).

Readers keep keys they do not know (a newer producer's fields) and show unknown events as info lines.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

import msgspec

#: The public names (``arbdash.events`` re-exports them for bots on the pipeline).
__all__ = [
    "NET_APR_ENTRY",
    "AccountUpdated",
    "AlertFired",
    "AlertResolved",
    "CommandExecuted",
    "CommandReceived",
    "CommandRejected",
    "DashboardCheckpoint",
    "Envelope",
    "Event",
    "ExecutionRollback",
    "FundingPayment",
    "FundingRate",
    "FundingSettlement",
    "Heartbeat",
    "LegOpen",
    "LogMessage",
    "MarkPrice",
    "Metric",
    "OpportunityFound",
    "OpportunitySkipped",
    "OrderCancelled",
    "OrderFilled",
    "OrderPartiallyFilled",
    "OrderPlaced",
    "OrderRejected",
    "PositionClosed",
    "PositionClosing",
    "PositionLiquidated",
    "PositionOpened",
    "PositionRebalanced",
    "PositionUpdated",
    "RiskLimitHit",
    "SessionHealth",
    "SessionStarted",
    "SessionStopped",
    "SettlementWindow",
    "StageChanged",
    "StrategyStarted",
    "VenueConnected",
    "VenueDisconnected",
    "COMMANDS",
    "COMMAND_REJECTIONS",
    "EVENTS",
    "EXIT_REASONS",
    "HOLD_CODES",
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 1

Category = Literal[
    "stage", "execution", "funding", "market", "warning", "error", "info", "metric", "checkpoint", "command"
]
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
#: An aware datetime (a naive one is refused when a line is read).
UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
#: A sequence number or count that fits the int64 the readers and PostgreSQL hold.
Int64 = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]

#: Exit reason codes used in events, the DB and the dashboard (DESIGN.md). ``LIQUIDATION_<VENUE>`` and
#: ``LIQUIDATION_RISK_<VENUE>`` are formed with the upper-cased venue name. ``SPREAD_FLIPPED``: the *funding spread*
#: changed sign (it has nothing to do with the price divergence, Div %); logs written before issue 11 call it
#: ``DIVERGENCE_FLIPPED`` (``LEGACY_EXIT_REASONS``), which still replays and displays as written.
EXIT_REASONS = (
    "PROFIT_EROSION",
    "SPREAD_FLIPPED",
    "TIME_LIMIT",
    "SEVERE_EROSION",
    "SEVERE_IMBALANCE",
    "LEG_LIQUIDATED",
    "ALL_LEGS_CLOSED",
    "SESSION_END",
    "OPERATOR_CLOSE",
    "CARRY_FADED",  # settlement timing: the next settlement no longer pays for the hourly leg
    "MAX_SETTLEMENTS",  # settlement timing: held through its configured number of settlements
)
#: Old exit codes still found in logs → the code that replaced them.
LEGACY_EXIT_REASONS = {"DIVERGENCE_FLIPPED": "SPREAD_FLIPPED"}
#: Operator commands (``control.commands``; ``POST /api/commands``, the live view's keys, ``runbot command``).
COMMANDS = ("close_position", "pause_entries", "resume_entries", "flatten_all", "set_limit")
#: Why a command was refused (``command.rejected``'s ``reason``).
COMMAND_REJECTIONS = (
    "UNKNOWN_POSITION",  # close_position: no such position in this session
    "ALREADY_CLOSING",  # close_position: its exit is under way (a leg is being retried); no second order
    "ALREADY_CLOSED",  # close_position: it is flat already
    "BAD_VALUE",  # set_limit: a value the limit cannot take
    "ID_REUSED",  # the command id was used before for a different command
    "STOPPING",  # the bot is stopping: no command runs any more
    "BUSY",  # too many commands queued already
    "FAILED",  # carrying it out raised an error (the text says which)
)
HOLD_CODES = ("MIN_HOLD_ACTIVE", "HOLD_TOP_OPPORTUNITY")


class Envelope(msgspec.Struct, kw_only=True):
    """The fixed part of every line, in the order it is written (``seq`` is assigned by the pipeline's tee)."""

    v: Literal[1] = SCHEMA_VERSION
    ts: UtcDatetime
    session_id: str
    seq: Int64
    level: Level = "info"
    logger: str = ""
    event: str
    category: Category
    message: str = ""
    market_ts: UtcDatetime | None = None
    # the strategy instance the event belongs to (``strategies[].name``; bound by the runner with structlog's
    # context variables around everything a strategy does); absent for session-, venue- and market-wide events
    strategy: str | None = None


#: Keys every event carries, in the order they are written.
ENVELOPE_KEYS: tuple[str, ...] = Envelope.__struct_fields__


class Event(msgspec.Struct, kw_only=True, frozen=True, tag_field="event"):
    """Base of every event's fields. A subclass names its event with ``tag=...`` and sets ``CATEGORY``;
    ``TIMELINE`` / ``CONSOLE`` default to shown. Instances are built by the bot and passed to
    ``UnifiedLogger.emit``, which validates them (``logging_pipeline.catalogue.check``)."""

    CATEGORY: ClassVar[Category]
    #: the category follows the level the event is logged at (``warning`` / ``error``, else ``info``) instead of
    #: ``CATEGORY``: an event whose level carries its weight (an alert's severity)
    CATEGORY_BY_LEVEL: ClassVar[bool] = False
    TIMELINE: ClassVar[bool] = True
    CONSOLE: ClassVar[bool] = True


# --- session / lifecycle -------------------------------------------------------------------------------------


class SessionStarted(Event, kw_only=True, tag="session.started"):
    """A bot session began. Limits are the strategy config's, exposure in USD. ``strategy``: the strategy's name
    (the envelope's field): with several instances (``strategies:``) their names joined with ``+``, each then
    announced by a ``strategy.started``, and the limits are the session-wide ones."""

    CATEGORY = "stage"

    strategy: str
    strategy_version: str
    config_path: str | None = None
    dry_run: bool = True
    venues: list[str]
    symbols: list[str]
    max_positions: int
    max_total_exposure_usd: Decimal
    target_margin: Decimal | None = (
        None  # USD margin per leg (the paper bot's); None: the bot sizes otherwise
    )
    market_start: UtcDatetime | None = None
    market_end: UtcDatetime | None = None
    speed: Decimal | None = None  # market seconds per wall second, 0 = as fast as possible
    data_note: str | None = None  # modelling caveats shown to the operator (e.g. proxy marks)
    # the exit and entry thresholds the strategy runs with, so the dashboard colours against the real ones
    profit_erosion_threshold: Decimal | None = (
        None  # fraction (0.8 = exit at 80 % erosion of the entry spread)
    )
    max_entry_price_divergence_pct: Decimal | None = None  # percent (0.05 = 0.05 %)
    host: str | None = None  # the machine the bot runs on (a fleet of bots writing to one PostgreSQL)
    # risk settings the dashboard colours and computes against (config ``risk``)
    min_liquidation_distance_pct: Decimal | None = None  # percent: below it the strategy acts
    var_confidence: Decimal | None = None  # fraction (0.99) for the 1-day VaR / expected shortfall


class StrategyStarted(Event, kw_only=True, tag="strategy.started"):
    """One strategy instance of the session is ready (after ``session.started``, one per ``strategies[]`` entry;
    the envelope's ``strategy`` is its name). ``type``: which strategy code (``funding_arbitrage`` …); its
    universe, limits (exposure in USD) and the thresholds the dashboard colours its positions against (as in
    ``session.started``)."""

    CATEGORY = "stage"

    type: str
    version: str
    venues: list[str]
    symbols: list[str]
    max_positions: int
    max_total_exposure_usd: Decimal
    target_margin: Decimal | None = None
    profit_erosion_threshold: Decimal | None = None  # fraction (0.8 = exit at 80 % erosion)
    max_entry_price_divergence_pct: Decimal | None = None  # percent
    #: how the instance decides to enter: ``NET_APR_ENTRY`` (a net funding APR at or above the ``min_profit_rate``
    #: its scanner's verdicts carry) or another rule's name (``settlement_window`` …: the funding pane then has no
    #: APR gap to show for its symbols); ``None``: not said (an older log)
    entry_rule: str | None = None


#: ``strategy.started.entry_rule`` of a strategy that enters on a net funding APR above its ``min_profit_rate``.
NET_APR_ENTRY = "net_apr"


class SessionStopped(Event, kw_only=True, tag="session.stopped"):
    """The session ended; ``health`` is the final health (``stopped`` or ``error``)."""

    CATEGORY = "stage"

    reason: str
    health: Health = "stopped"


class SessionHealth(Event, kw_only=True, tag="session.health"):
    """Session health changed (e.g. ``running`` → ``degraded`` when a sink fails)."""

    CATEGORY = "info"

    health: Health
    reason: str | None = None
    component: str | None = None


class StageChanged(Event, kw_only=True, tag="stage.changed"):
    """A stage banner: ``"{stage_id}. {icon} {title}"`` plus the lifecycle stage it puts the bot in."""

    CATEGORY = "stage"

    stage_id: str
    icon: str = ""
    title: str
    lifecycle: Lifecycle | None = None
    symbol: str | None = None
    position_id: str | None = None


class VenueConnected(Event, kw_only=True, tag="venue.connected"):
    """A venue is reachable. ``funding_interval_s`` is the venue's funding interval in seconds;
    ``slippage_bps`` the slippage per fill (bp) the entry rule counts as cost (``None`` in logs written before it
    was carried: the dashboard then counts 0, as the bot that wrote them did)."""

    CATEGORY = "info"

    venue: str
    quote: str
    funding_interval_s: int
    taker_fee_rate: Decimal
    maker_fee_rate: Decimal
    slippage_bps: Decimal | None = None


class VenueDisconnected(Event, kw_only=True, tag="venue.disconnected"):
    """A venue became unreachable; ``reason`` says why."""

    CATEGORY = "warning"

    venue: str
    reason: str


# --- opportunities and execution -------------------------------------------------------------------------------


class OpportunityFound(Event, kw_only=True, tag="opportunity.found"):
    """A ranked funding spread: long the cheaper-funding venue, short the dearer one.

    ``spread_apr`` = short leg APR − long leg APR (fraction/yr); ``net_apr`` subtracts the round-trip taker fees
    amortised over the expected hold (see ``helpers.formulas.net_spread_apr``).
    """

    CATEGORY = "execution"

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
    # the entry rule this verdict was made against (optional: older logs lack them): ``min_profit_rate`` (net APR
    # fraction/yr), the ``expected_hold_hours`` the fees are amortised over, and ``mandatory_exchange``
    min_profit_rate: Decimal | None = None
    expected_hold_hours: Decimal | None = None
    mandatory_exchange: str | None = None


class OpportunitySkipped(Event, kw_only=True, tag="opportunity.skipped"):
    """An opportunity was not taken; ``reason`` is a code (``BELOW_MIN_PROFIT``, ``MAX_POSITIONS``, ...)."""

    CATEGORY = "info"

    symbol: str
    long_venue: str | None = None
    short_venue: str | None = None
    reason: str
    net_apr: Decimal | None = None
    # the entry rule, as in ``OpportunityFound`` (optional; the scanner's verdicts carry them)
    min_profit_rate: Decimal | None = None
    expected_hold_hours: Decimal | None = None
    mandatory_exchange: str | None = None


class OrderPlaced(Event, kw_only=True, tag="order.placed"):
    """An order was sent. ``ref_price`` is the venue mark at placement; ``qty`` in base units."""

    CATEGORY = "execution"

    order_id: str
    position_id: str
    venue: str
    symbol: str
    side: OrderSide
    qty: Decimal
    ref_price: Decimal
    order_type: Literal["market", "limit"] = "market"
    reduce_only: bool = False


class OrderFilled(Event, kw_only=True, tag="order.filled"):
    """An order filled (fully). ``price`` is the average fill price including slippage; ``fee`` is in USD
    (always ≥ 0, a cost); ``slippage_bps`` = (price/ref_price − 1)·10⁴ signed against the taker."""

    CATEGORY = "execution"

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


class OrderPartiallyFilled(OrderFilled, kw_only=True, tag="order.partially_filled"):
    """Part of an order filled; ``remaining_qty`` is still open."""

    CATEGORY = "execution"

    remaining_qty: Decimal


class OrderCancelled(Event, kw_only=True, tag="order.cancelled"):
    """An order was cancelled before it filled (``reason`` a code or text)."""

    CATEGORY = "execution"

    order_id: str
    position_id: str
    venue: str
    symbol: str
    reason: str


class OrderRejected(Event, kw_only=True, tag="order.rejected"):
    """A venue refused an order (``reason``, e.g. ``PRICE_BAND_EXCEEDED``); ``qty`` in base units."""

    CATEGORY = "warning"

    order_id: str
    position_id: str
    venue: str
    symbol: str
    side: OrderSide
    qty: Decimal
    reason: str


class SettlementWindow(Event, kw_only=True, tag="settlement.window"):
    """The settlement-timing strategy (``bot.strategies.settlement_timing``) looked at the hour before a
    settlement of the 8-hourly venues: ``settles_at``; ``rates`` the rate each settling venue will pay
    (fraction per 8 h), ``hourly_rate`` the hourly venue's (fraction per hour); ``direction`` ``short_settling``
    (short the settling venues, long the hourly one: they pay shorts) or ``long_settling``; ``edge_usd`` what one
    settlement is expected to bring on ``notional_usd`` after the hourly leg's eight payments, ``fees_usd`` the
    round trip of every leg (taker fees and slippage); ``decision`` ``enter`` or ``skip`` with ``reason``."""

    CATEGORY = "funding"

    symbol: str
    settles_at: UtcDatetime
    direction: Literal["short_settling", "long_settling"]
    rates: dict[str, Decimal]
    hourly_rate: Decimal
    notional_usd: Decimal
    edge_usd: Decimal
    fees_usd: Decimal
    decision: Literal["enter", "skip"]
    reason: str | None = None


class ExecutionRollback(Event, kw_only=True, tag="execution.rollback"):
    """One leg failed, so the filled leg(s) were closed again. The rollback's own fills are ``order.filled``
    events with ``reduce_only`` true; this event names the cause."""

    CATEGORY = "warning"

    position_id: str
    symbol: str
    failed_venue: str
    rolled_back_venues: list[str]
    reason: str


# --- positions -----------------------------------------------------------------------------------------------


class LegOpen(msgspec.Struct, kw_only=True, frozen=True):
    """One leg of a delta-neutral position as filled. ``margin`` = notional / leverage (USD)."""

    venue: str
    side: Side
    qty: Decimal
    entry_price: Decimal
    notional: Decimal
    fee: Decimal
    leverage: Decimal
    margin: Decimal


class PositionOpened(Event, kw_only=True, tag="position.opened"):
    """A position is open: ``legs``, any number of them (each on its own venue), as filled. Exposures in USD.
    A two-leg funding-arbitrage pair also names its ``long_venue`` / ``short_venue`` and its entry spread
    (``entry_spread_apr`` as in ``OpportunityFound``; the legs' entry rates per interval); a strategy whose
    position is not one such pair leaves them out."""

    CATEGORY = "execution"

    position_id: str
    symbol: str
    long_venue: str | None = None
    short_venue: str | None = None
    legs: list[LegOpen]
    target_exposure_usd: Decimal
    filled_exposure_usd: Decimal
    entry_spread_apr: Decimal | None = None
    entry_long_rate: Decimal | None = None
    entry_short_rate: Decimal | None = None


class PositionUpdated(Event, kw_only=True, tag="position.updated"):
    """The position manager's periodic view of a position: the inputs of its exit decision.

    ``current_spread_apr`` from the latest funding rates, ``profit_erosion_pct`` = (1 − current/entry spread)·100,
    ``divergence_pct`` = (short mark / long mark − 1)·100, ``hold_code`` why it keeps holding (``MIN_HOLD_ACTIVE`` …);
    ``hold_until`` (optional, with ``MIN_HOLD_ACTIVE``): the market time the minimum hold ends (entry +
    ``min_hold_hours``), from which the exit rules on erosion and a flipped spread apply. The spread, erosion
    and divergence are a two-leg pair's; another strategy leaves them out and gives its own ``figures`` (name →
    ``Decimal``, e.g. ``{"captured": Decimal(3), "edge_usd": Decimal("0.42")}``), shown as they are.
    """

    CATEGORY = "info"
    TIMELINE = False
    CONSOLE = False

    position_id: str
    symbol: str | None = None  # optional in v1 (older logs lack it)
    current_spread_apr: Decimal | None = None
    profit_erosion_pct: Decimal | None = None
    divergence_pct: Decimal | None = None
    figures: dict[str, Decimal] | None = None
    rebalance_pending: bool = False
    hold_code: str | None = None
    hold_until: UtcDatetime | None = None
    # where each leg's venue would liquidate it (USD per base unit; None: no price can, e.g. a well-collateralised
    # short whose formula gives no finite price), from the venue's own formula on its account (bot.venues)
    long_liquidation_price: Decimal | None = None
    short_liquidation_price: Decimal | None = None


class PositionRebalanced(Event, kw_only=True, tag="position.rebalanced"):
    """A position was rebalanced. Either a leg was resized to restore delta neutrality (``venue``, ``qty_delta``
    in base units: + bought, − sold), or collateral moved between the two venues' accounts because a leg came
    too near its liquidation price (``amount_usd`` USD from ``from_venue`` to ``to_venue``; ``venue`` is the
    receiving one). ``reason``: why (e.g. ``LIQUIDATION_RISK_<VENUE>``, ``SEVERE_IMBALANCE``)."""

    CATEGORY = "execution"

    position_id: str
    venue: str
    qty_delta: Decimal | None = None
    reason: str
    amount_usd: Decimal | None = None
    from_venue: str | None = None
    to_venue: str | None = None


class PositionLiquidated(Event, kw_only=True, tag="position.liquidated"):
    """The venue liquidated one leg of a position: its mark crossed ``liquidation_price`` during the hour
    (``trigger_price``: the hour's low for a long, high for a short). The leg is closed at ``liquidation_price``
    and ``liquidation_fee`` (USD) is charged on top of the price loss; ``realized_pnl`` (USD) is the leg's price
    PnL at that price. The strategy closes the other leg in the same cycle (``position.closing`` with reason
    ``LIQUIDATION_<VENUE>``), and ``position.closed`` books both."""

    CATEGORY = "error"

    position_id: str
    symbol: str
    venue: str
    side: Side
    qty: Decimal
    entry_price: Decimal
    liquidation_price: Decimal
    trigger_price: Decimal
    liquidation_fee: Decimal
    realized_pnl: Decimal


class PositionClosing(Event, kw_only=True, tag="position.closing"):
    """An exit was decided; ``reason`` is an exit code from ``EXIT_REASONS`` (or ``LIQUIDATION_<VENUE>``)."""

    CATEGORY = "execution"

    position_id: str
    symbol: str | None = None  # optional in v1 (older logs lack it)
    reason: str
    detail: str | None = None


class PositionClosed(Event, kw_only=True, tag="position.closed"):
    """Both legs are flat. Figures as the bot booked them (USD): the reducer recomputes them from fills and
    payments and the two must agree."""

    CATEGORY = "execution"

    position_id: str
    symbol: str | None = None  # optional in v1 (older logs lack it)
    reason: str
    realized_pnl: Decimal  # price PnL of both legs, before fees and funding
    fees: Decimal
    funding: Decimal
    net_pnl: Decimal  # realized_pnl + funding − fees
    hold_s: int


# --- venue accounts ------------------------------------------------------------------------------------------


class AccountUpdated(Event, kw_only=True, tag="account.updated"):
    """A venue account's figures (USD) at a market hour, when they changed. One collateral account per venue,
    cross margined: it backs every leg the bot holds on that venue (``bot.venues``).

    ``collateral_usd``: deposited (config) plus transfers in, minus transfers out; ``wallet_balance`` =
    collateral + realized price PnL − fees (trading and liquidation) + funding; ``unrealized_pnl`` at the venue's
    mark; ``equity`` = wallet + unrealized; ``initial_margin`` = Σ notional at mark / leverage;
    ``maintenance_margin`` = Σ (notional at mark · MMR − maintenance amount) from the venue's tiers;
    ``margin_ratio`` = maintenance / equity (a fraction; the venue liquidates at ≥ 1; None when equity ≤ 0);
    ``available_balance`` = equity − initial margin (what a new position or a transfer out may use)."""

    CATEGORY = "market"
    TIMELINE = False
    CONSOLE = False

    venue: str
    collateral_usd: Decimal
    wallet_balance: Decimal
    unrealized_pnl: Decimal
    equity: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    margin_ratio: Decimal | None = None
    available_balance: Decimal


# --- market and funding --------------------------------------------------------------------------------------


class MarkPrice(Event, kw_only=True, tag="market.mark_price"):
    """A venue's mark (and index) price for a symbol, in the venue's quote (USDT or USDC, treated as USD)."""

    CATEGORY = "market"
    TIMELINE = False
    CONSOLE = False

    venue: str
    symbol: str
    mark_price: Decimal
    index_price: Decimal


class FundingRate(Event, kw_only=True, tag="funding.rate"):
    """The funding rate a venue will settle next (fraction per interval) and when."""

    CATEGORY = "funding"
    TIMELINE = False
    CONSOLE = False

    venue: str
    symbol: str
    rate: Decimal
    interval_s: int
    apr: Decimal
    next_funding_ts: UtcDatetime


class FundingPayment(Event, kw_only=True, tag="funding.payment"):
    """A venue settled funding on one leg of a position.

    ``payment`` = −side_sign · qty · mark_price · rate (side_sign +1 long, −1 short): a long pays a positive rate,
    a short receives it (venue convention on Binance, Bybit and Hyperliquid). ``expected_payment`` is the same
    formula with the rate observed at entry (``entry_rate``), i.e. what the entry spread promised.
    """

    CATEGORY = "funding"
    TIMELINE = False

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


class FundingSettlement(Event, kw_only=True, tag="funding.settlement"):
    """One funding time of one position, both legs together (the bot's funding payment record).

    ``long_payment`` / ``short_payment``: the legs' ``funding.payment`` amounts at this time (USD, + = received;
    0 for a leg whose venue did not settle now — venues settle at their own intervals); ``net_payment`` = their
    sum; ``long_rate`` / ``short_rate``: the rates applied (absent for a leg that did not settle);
    ``divergence_pct`` = (short mark / long mark − 1)·100 at this time (``helpers.formulas.divergence_pct``).
    A summary of the per-leg ``funding.payment`` events, which stay the source of the dashboard's totals.
    """

    CATEGORY = "funding"
    TIMELINE = False

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


class RiskLimitHit(Event, kw_only=True, tag="risk.limit_hit"):
    """A limit stopped an action: ``limit`` is the config key (``max_positions``, ``max_total_exposure_usd``)."""

    CATEGORY = "warning"

    limit: str
    value: Decimal
    limit_value: Decimal
    symbol: str | None = None


# --- operator commands (the audit trail) -----------------------------------------------------------------------


class CommandReceived(Event, kw_only=True, tag="command.received"):
    """An operator command reached the bot. ``command_id``: the client's id (its idempotency key); ``command``:
    one of ``COMMANDS``; ``source``: ``http`` (``POST /api/commands``) or ``terminal`` (a key in the live view).
    Arguments: ``position_id`` (close_position); ``limit`` and ``value`` (set_limit: ``max_positions`` as a
    whole number, ``max_total_exposure_usd`` in USD). Always followed by ``command.executed`` or
    ``command.rejected`` with the same ``command_id`` (a repeated id is answered from the first outcome and
    logs nothing again)."""

    CATEGORY = "command"

    command_id: str
    command: str
    source: str
    position_id: str | None = None
    limit: str | None = None
    value: Decimal | None = None


class CommandExecuted(Event, kw_only=True, tag="command.executed"):
    """The strategy carried a command out at a safe point (between cycles, never inside a two-leg execution).
    ``position_ids``: the positions it closed (close_position, flatten_all; a close whose leg could not be filled
    stays open with exit code ``OPERATOR_CLOSE`` and is retried every check); ``entries_paused``: whether new
    entries are paused afterwards; ``limit`` / ``value`` / ``previous_value``: set_limit's change."""

    CATEGORY = "command"

    command_id: str
    command: str
    position_ids: list[str] = []
    entries_paused: bool | None = None
    limit: str | None = None
    value: Decimal | None = None
    previous_value: Decimal | None = None


class CommandRejected(Event, kw_only=True, tag="command.rejected"):
    """A command understood but not carried out: ``reason`` from ``COMMAND_REJECTIONS``, ``detail`` in words."""

    CATEGORY = "command"

    command_id: str
    command: str
    reason: str
    detail: str | None = None


# --- alerts (alerts.engine) ---------------------------------------------------------------------------------


class AlertFired(Event, kw_only=True, tag="alert.fired"):
    """An alert rule's figure crossed its threshold (``alerts.config``): ``alert`` the rule's name, ``key`` the
    position (or ``position/venue`` leg; ``""`` for the session), ``value`` the figure then (its unit: ``unit``),
    ``threshold`` and ``direction`` (``above`` / ``below``). The event's level follows ``severity``, and its
    category the level (a critical alert is an ``error`` row of the timeline, an info one ``info``)."""

    CATEGORY = "warning"
    CATEGORY_BY_LEVEL = True

    alert: str
    key: str = ""
    figure: str
    severity: str
    value: Decimal
    threshold: Decimal
    direction: str
    unit: str = ""


class AlertResolved(Event, kw_only=True, tag="alert.resolved"):
    """A fired alert's figure is back within its threshold (``value``), or its key is gone (``value`` None: the
    position closed)."""

    CATEGORY = "info"

    alert: str
    key: str = ""
    figure: str
    value: Decimal | None = None


# --- plain logging, metrics, housekeeping -------------------------------------------------------------------


class LogMessage(Event, kw_only=True, tag="log.message"):
    """A plain log line (bot ``info/warning/error`` or a third-party stdlib record). ``exc`` holds a formatted
    traceback when one was attached."""

    CATEGORY = "info"

    exc: str | None = None


class Metric(Event, kw_only=True, tag="metric"):
    """A named measurement: ``value`` in ``unit`` (e.g. ``events_per_s``, ``ms``, ``USD``)."""

    CATEGORY = "metric"
    TIMELINE = False
    CONSOLE = False

    name: str
    value: Decimal
    unit: str = ""


class Heartbeat(Event, kw_only=True, tag="heartbeat"):
    """Emitted about once per wall second so time-derived figures (uptime, countdowns) advance without trades."""

    CATEGORY = "info"
    TIMELINE = False
    CONSOLE = False

    open_positions: int = 0


class DashboardCheckpoint(Event, kw_only=True, tag="dashboard.checkpoint"):
    """The full reducer state (``dashboard.state.state_to_dict`` form), for readers that seek instead of replaying."""

    CATEGORY = "checkpoint"
    TIMELINE = False
    CONSOLE = False

    state: dict[str, Any]


def _declared(base: type[Event]) -> list[type[Event]]:
    out: list[type[Event]] = []
    for cls in base.__subclasses__():
        out.append(cls)
        out.extend(_declared(cls))
    return out


#: Every event of schema v1, in declaration order: each ``Event`` subclass above (no list to keep in step).
EVENTS: tuple[type[Event], ...] = tuple(_declared(Event))
