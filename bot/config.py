"""The bot's configuration schema (pydantic), loaded from YAML and validated before anything runs.

Top-level blocks: ``strategy`` (the funding-arbitrage parameters; key names kept from the original bot),
``venues`` (per-exchange fees, leverage, slippage, simulated rejection rate and collateral), ``risk``
(liquidation guard, VaR confidence, maintenance-margin tiers), ``market`` (replay data and
window, seed, speed, lot/tick sizes), ``dashboard`` and ``logging``. Unknown keys are errors (typos must not
pass silently). Money, rates and prices are ``Decimal``; wall-clock intervals are seconds.

``load_config(path)`` raises ``ConfigError`` (naming the file and every bad field) on any problem.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from arbdash.alerts.config import AlertsConfig
from arbdash.control.address import DEFAULT_HOST, is_loopback

STRATEGY_NAME = "funding_arbitrage"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_duplicates(v: list[str]) -> list[str]:
    """A list of names (symbols, venues) each given once; ``ValueError`` otherwise."""
    if len(set(v)) != len(v):
        raise ValueError(f"duplicates in {v}")
    return v


class StrategyConfig(_Model):
    """Funding-arbitrage parameters.

    Units: ``target_margin`` USD margin per leg (leg notional = target_margin × leverage); exposure of a position
    = its long-leg notional (USD), summed over open positions for ``max_total_exposure_usd``;
    ``min_profit_rate`` minimum *net* spread APR (fraction/yr, after round-trip taker fees and slippage amortised over
    ``expected_hold_hours``, see ``helpers.formulas.net_spread_apr``); ``profit_erosion_threshold`` and
    ``severe_erosion_threshold`` fractions of the entry spread lost (0.5 = 50 %);
    ``max_entry_price_divergence_pct`` percent (0.1 = 0.1 %) between the two venues' marks.

    Every figure is checked for sign and a plausible range (a negative ``min_profit_rate`` would trade at a loss
    by design; hours are at most a year; leverage at most 125×, the highest any venue offers).
    """

    scan_exchanges: list[str] = Field(min_length=2)
    mandatory_exchange: str | None = None
    symbols: list[str] = Field(min_length=1)
    target_margin: Decimal = Field(gt=0, le=Decimal(10_000_000))
    max_positions: int = Field(ge=1)
    max_total_exposure_usd: Decimal = Field(gt=0, le=Decimal(1_000_000_000))
    min_profit_rate: Decimal = Field(ge=0, le=10)  # a net APR (fraction/yr): 0 ≤ rate ≤ 1000 %
    profit_erosion_threshold: Decimal = Field(gt=0, le=10)
    severe_erosion_threshold: Decimal = Field(default=Decimal("1.5"), gt=0, le=10)
    min_hold_hours: Decimal = Field(ge=0, le=8760)
    max_position_age_hours: Decimal = Field(gt=0, le=8760)
    max_new_positions_per_cycle: int = Field(ge=1)
    check_interval_seconds: int = Field(ge=60)
    dry_run: bool = True
    max_entry_price_divergence_pct: Decimal = Field(ge=0, le=100)
    expected_hold_hours: Decimal = Field(default=Decimal(72), gt=0, le=8760)
    max_leverage: Decimal = Field(default=Decimal(5), gt=0, le=125)

    _unique = field_validator("symbols", "scan_exchanges")(_no_duplicates)

    @model_validator(mode="after")
    def _consistent(self) -> StrategyConfig:
        if self.mandatory_exchange is not None and self.mandatory_exchange not in self.scan_exchanges:
            raise ValueError(f"mandatory_exchange {self.mandatory_exchange!r} is not in scan_exchanges")
        if self.max_position_age_hours <= self.min_hold_hours:
            raise ValueError("max_position_age_hours must be greater than min_hold_hours")
        if self.severe_erosion_threshold < self.profit_erosion_threshold:
            raise ValueError("severe_erosion_threshold must be >= profit_erosion_threshold")
        if not self.dry_run:
            raise ValueError("dry_run: false is not supported: this bot only trades paper venues")
        return self


#: The strategy types a ``strategies[]`` entry can name (``type``), each a class in ``bot.strategies``.
STRATEGY_TYPES = ("funding_arbitrage", "settlement_timing")


class StrategyInstanceConfig(StrategyConfig):
    """One entry of ``strategies:``: a strategy instance with its own universe, capital and limits. ``name``:
    its id in every event it writes (the envelope's ``strategy``), 1–32 characters of letters, digits, ``_``,
    ``.``, ``-``; ``type``: which strategy code runs it (``STRATEGY_TYPES``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    type: Literal["funding_arbitrage"]


class SettlementTimingConfig(_Model):
    """One ``settlement_timing`` instance (``bot.strategies.settlement_timing``): carry the 8-hourly venues'
    funding through their settlements, hedged on the hourly venue, entering only in the hour before a
    settlement and leaving only right after one.

    Units: ``notional_usd`` the hourly leg's notional per position (USD; the settling legs split it equally);
    ``min_settlement_rate`` a fraction per 8 h every settling venue's next rate must reach in the carried
    direction (0.00005 = 0.5 bp); ``expected_settlements`` how many settlements the entry amortises the round
    trip's fees over; ``max_settlements`` the most it holds through; ``max_entry_price_divergence_pct`` percent
    between a settling venue's mark and the hourly venue's. The cycle is hourly (``check_interval_seconds``
    3600) so it meets the hour before each settlement."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    type: Literal["settlement_timing"]
    symbols: list[str] = Field(min_length=1)
    settling_venues: list[str] = Field(min_length=1, max_length=4)
    hourly_venue: str = "hyperliquid"
    notional_usd: Decimal = Field(gt=0, le=Decimal(100_000_000))
    max_leverage: Decimal = Field(default=Decimal(3), gt=0, le=125)
    max_positions: int = Field(ge=1)
    max_total_exposure_usd: Decimal = Field(gt=0, le=Decimal(1_000_000_000))
    min_settlement_rate: Decimal = Field(ge=0, le=Decimal("0.05"))
    expected_settlements: int = Field(default=6, ge=1, le=1000)
    max_settlements: int = Field(default=21, ge=1, le=10_000)
    max_entry_price_divergence_pct: Decimal = Field(default=Decimal("0.1"), ge=0, le=100)
    check_interval_seconds: Literal[3600] = 3600
    dry_run: Literal[True] = True

    _unique = field_validator("symbols", "settling_venues")(_no_duplicates)

    @model_validator(mode="after")
    def _consistent(self) -> SettlementTimingConfig:
        if self.hourly_venue in self.settling_venues:
            raise ValueError(f"hourly_venue {self.hourly_venue!r} is also one of settling_venues")
        return self

    @property
    def scan_exchanges(self) -> list[str]:
        """Every venue it trades: the settling venues, then the hourly one."""
        return [*self.settling_venues, self.hourly_venue]

    # what session.started / strategy.started ask of every instance and this one does not have
    target_margin: ClassVar[None] = None
    profit_erosion_threshold: ClassVar[None] = None


#: One ``strategies[]`` entry, told apart by its ``type``.
InstanceConfig = Annotated[StrategyInstanceConfig | SettlementTimingConfig, Field(discriminator="type")]


class LimitsConfig(_Model):
    """Session-wide limits over every strategy instance (``limits:``): open positions and exposure in USD (the
    sum of open positions' long-leg notional). ``None``: the sum of the instances' own limits."""

    max_positions: int | None = Field(default=None, ge=1)
    max_total_exposure_usd: Decimal | None = Field(default=None, gt=0, le=Decimal(1_000_000_000))


class VenueConfig(_Model):
    """One paper venue: taker/maker fee (fraction of notional), leverage, market-order slippage in bp (paid by
    the taker), the probability that a position-increasing order is rejected (seeded), and ``collateral_usd``:
    the USD deposited in the venue's cross-margined account (> 0; default 10,000).

    ``api_key``/``api_secret``: credentials for a live venue (unused by paper venues). ``SecretStr``: ``repr`` and
    ``str`` show ``**********``; the CLI registers the values with the log redactor (``BotConfig.secret_values``).
    """

    taker_fee: Decimal = Field(ge=0, lt=Decimal("0.01"))
    maker_fee: Decimal = Field(default=Decimal("0.0002"), ge=0, lt=Decimal("0.01"))
    leverage: Decimal = Field(gt=0, le=100)
    slippage_bps: Decimal = Field(default=Decimal(2), ge=0, le=100)
    order_failure_rate: Decimal = Field(default=Decimal("0.03"), ge=0, le=1)
    # the venue's collateral account (USD, cross margined: ``bot.venues.accounts``); must be > 0
    collateral_usd: Decimal = Field(default=Decimal(10_000), gt=0, le=Decimal(1_000_000_000))
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None


class InstrumentConfig(_Model):
    """Order-size step (base units) and price tick (USD) of a symbol, same on every venue."""

    lot_size: Decimal = Field(gt=0)
    tick_size: Decimal = Field(gt=0)


def _default_instruments() -> dict[str, InstrumentConfig]:
    return {
        "BTC": InstrumentConfig(lot_size=Decimal("0.001"), tick_size=Decimal("0.1")),
        "ETH": InstrumentConfig(lot_size=Decimal("0.01"), tick_size=Decimal("0.01")),
        "SOL": InstrumentConfig(lot_size=Decimal("0.1"), tick_size=Decimal("0.001")),
        # Binance USDⓈ-M exchangeInfo (XRPUSDT / DOGEUSDT: LOT_SIZE stepSize, PRICE_FILTER tickSize); the shipped
        # klines carry 4 and 5 decimals respectively, matching these ticks.
        "XRP": InstrumentConfig(lot_size=Decimal("0.1"), tick_size=Decimal("0.0001")),
        "DOGE": InstrumentConfig(lot_size=Decimal("1"), tick_size=Decimal("0.00001")),
    }


class MarketConfig(_Model):
    """Replay data and pacing. ``start``/``end`` (aware, on the hour) default to the data's full window;
    ``speed`` market seconds per wall second (0 = as fast as possible); ``mark_noise_bps`` half-width of the
    seeded uniform noise on modelled (non-Binance) marks."""

    data_dir: Path | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    seed: int = 7
    speed: Decimal = Field(default=Decimal(3600), ge=0)
    mark_noise_bps: Decimal = Field(default=Decimal("0.3"), ge=0, le=100)
    instruments: dict[str, InstrumentConfig] = Field(default_factory=_default_instruments)

    @field_validator("start", "end")
    @classmethod
    def _on_the_hour(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return v
        v = v.astimezone(UTC)
        if v.minute or v.second or v.microsecond:
            raise ValueError(f"must be on the hour (UTC), got {v.isoformat()}")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> MarketConfig:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("market.end must be after market.start")
        return self


class PersistenceConfig(_Model):
    """PostgreSQL persistence of events and snapshots (opt-in). ``dsn`` may carry a password: it is left out of
    ``repr`` and its password is registered with the log redactor."""

    enabled: bool = False
    dsn: str | None = Field(default=None, repr=False)
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=1.0, gt=0)
    snapshot_interval_s: float = Field(default=30.0, gt=0)
    retention_days: int | None = Field(default=None, ge=1)  # at start, prune sessions idle longer than this
    retention_keep_last: int | None = Field(default=None, ge=1)  # ... but always keep the N newest sessions


#: The shortest ``dashboard.server.token`` accepted (characters): a bearer token is the only lock on the API.
MIN_TOKEN_CHARS = 16
#: The environment variable that gives ``dashboard.server.token`` when the config has none.
TOKEN_ENV = "ARBDASH_TOKEN"


class ServerConfig(_Model):
    """The read-only control server inside the bot (``control``; opt-in). ``runbot --serve [HOST:]PORT``
    enables it and overrides ``host``/``port``.

    ``host``: where it listens (default loopback only); ``port``: 0 asks the system for a free one; ``token``:
    when set, every endpoint but ``/healthz`` needs ``Authorization: Bearer <token>`` (at least
    ``MIN_TOKEN_CHARS`` characters; redacted from the logs like the other secrets; ``$ARBDASH_TOKEN`` when the
    config has none). With a token, ``POST /api/commands`` acts (``control.commands``); without one, every
    command is refused. A host that is not loopback
    (``control.address.is_loopback``) without a token is an error, whether or not ``enabled`` is set, so
    ``--serve`` can never expose an open API."""

    enabled: bool = False
    host: str = DEFAULT_HOST
    port: int = Field(default=8765, ge=0, le=65535)
    token: SecretStr | None = None

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip()
        if not v or any(c.isspace() for c in v):
            raise ValueError("host must be an address or a name without spaces")
        return v

    @model_validator(mode="before")
    @classmethod
    def _token_from_env(cls, data: Any) -> Any:
        """No ``token`` in the config: ``$ARBDASH_TOKEN`` if set (a secret is better kept out of the file)."""
        if isinstance(data, dict) and data.get("token") is None:
            env = os.environ.get(TOKEN_ENV, "").strip()
            if env:
                return {**data, "token": env}
        return data

    @model_validator(mode="after")
    def _safe(self) -> ServerConfig:
        if self.token is not None and len(self.token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"token (dashboard.server.token or ${TOKEN_ENV}) must be at least {MIN_TOKEN_CHARS} characters"
            )
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is not a loopback address: serving beyond this machine needs a token "
                f"(set dashboard.server.token or ${TOKEN_ENV}; clients send Authorization: Bearer <token>)"
            )
        return self


#: The dashboard mode each of the seed's names implies (``enabled: false`` is the classic console log).
_RENDERER_MODE = {"rich": "live", "plain": "plain"}


class DashboardConfig(_Model):
    """How the live dashboard is shown; the CLI's ``--dashboard-mode`` overrides ``mode`` and ``--theme``
    overrides ``theme``.

    ``mode``: ``live`` (Rich, in place), ``plain`` (periodic text), ``silent`` (nothing on screen), ``off`` (the
    classic console log). The seed's names are accepted as written: ``enabled: false`` means ``off`` and
    ``renderer: rich | plain`` means ``live`` / ``plain``; given together with ``mode`` they must agree (a
    config error names the disagreement). ``theme``: ``dark`` (colours for a dark terminal), ``light`` (darker
    colours for a light one) or ``none`` (no colour; ``NO_COLOR`` in the environment means the same).
    Refresh intervals are seconds (``refresh_interval_s`` when something visible changed,
    ``idle_refresh_interval_s`` otherwise)."""

    enabled: bool | None = None
    renderer: Literal["rich", "plain"] | None = None
    mode: Literal["live", "plain", "silent", "off"] = "live"
    theme: Literal["dark", "light", "none"] = "dark"
    refresh_interval_s: float = Field(default=1.0, gt=0)
    idle_refresh_interval_s: float = Field(default=5.0, gt=0)
    max_event_rows: int = Field(default=20, ge=1)
    width: int | None = Field(default=None, ge=40)
    persistence: PersistenceConfig = Field(default_factory=PersistenceConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)

    @model_validator(mode="before")
    @classmethod
    def _seed_names(cls, data: object) -> object:
        """``enabled`` / ``renderer`` → ``mode``, refusing a combination that disagrees."""
        if not isinstance(data, dict):
            return data
        enabled, renderer, mode = data.get("enabled"), data.get("renderer"), data.get("mode")
        implied: str | None = None
        if enabled is False:
            if renderer is not None:
                raise ValueError(
                    f"enabled: false turns the dashboard off, but renderer: {renderer} asks for one"
                )
            implied = "off"
        elif renderer in _RENDERER_MODE:
            implied = _RENDERER_MODE[renderer]
        if enabled is True and mode == "off":
            raise ValueError("enabled: true asks for a dashboard, but mode: off turns it off")
        if implied is not None and mode is not None and mode != implied:
            said = "enabled: false" if enabled is False else f"renderer: {renderer}"
            raise ValueError(f"{said} means mode: {implied}, but mode: {mode} is given; keep one of them")
        if implied is not None and mode is None:
            data = {**data, "mode": implied}
        return data


class LoggingConfig(_Model):
    """Where and how much to log: JSONL goes to ``log_dir``; ``text_log`` also writes a human text log there.

    Rotation (off unless ``rotate_mb`` is set): once the session's ``<id>.jsonl`` has passed ``rotate_mb``
    megabytes (MiB; a fraction is allowed) the writer thread renames it ``<id>.jsonl.1`` at a line boundary
    (older members shift ``.1`` → ``.2`` …) and opens a fresh ``<id>.jsonl``; rotated members beyond
    ``keep_files`` are deleted. ``arbtail`` reads the set as one log and follows across the rename.
    ``keep_days`` (off unless set): at start, other sessions' JSONL sets in ``log_dir`` (``<uuid>.jsonl`` and
    its members) last written more than that many days ago are deleted, as ``retention_days`` prunes the
    database."""

    log_dir: Path = Path("logs")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    text_log: bool = False
    rotate_mb: float | None = None
    keep_files: int = 10
    keep_days: int | None = Field(default=None, ge=1)  # at start, delete other sessions' JSONL idle longer

    @field_validator("rotate_mb")
    @classmethod
    def _rotate_positive(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:  # also refuses NaN
            raise ValueError("must be > 0 (megabytes before the JSONL is rotated; leave it out for none)")
        if v is not None and v == float("inf"):
            raise ValueError("must be a finite number of megabytes (leave it out to never rotate)")
        return v

    @property
    def rotate_bytes(self) -> int | None:
        """``rotate_mb`` in bytes (``None``: never rotate)."""
        return None if self.rotate_mb is None else max(1, int(self.rotate_mb * 1024 * 1024))

    @field_validator("keep_files")
    @classmethod
    def _keep_at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1 (rotated JSONL files kept beside the live one)")
        return v

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v


class RiskConfig(_Model):
    """What the strategy does near a liquidation (``bot.strategies.funding_arbitrage.position_manager``).

    ``min_liquidation_distance_pct``: percent (10 = 10 %); a leg whose signed distance side · (mark − LP) / mark
    · 100 falls below it (≤ 0: already past its liquidation price) is acted on (0 = guard off); ``on_liquidation_risk``: ``close`` (exit ``LIQUIDATION_RISK_<VENUE>``)
    or ``rebalance`` (move collateral from the other leg's venue, else close); ``var_confidence``: fraction
    (0.99) of the 1-day VaR / expected shortfall the dashboard computes; ``tiers_file``: the maintenance-margin
    tier CSV (default ``bot/data/risk/maintenance_tiers.csv``)."""

    min_liquidation_distance_pct: Decimal = Field(default=Decimal(10), ge=0, lt=100)
    on_liquidation_risk: Literal["close", "rebalance"] = "close"
    var_confidence: Decimal = Field(default=Decimal("0.99"), gt=Decimal("0.5"), lt=1)
    tiers_file: Path | None = None


class SessionConfig(_Model):
    """What any bot's session needs, whatever it trades: the dashboard (mode, persistence, server), logging and
    alerts. ``arbdash.session`` builds one from its arguments; ``BotConfig`` adds the paper bot's blocks."""

    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)  # rules and notifications (``alerts.config``)

    def secret_values(self) -> list[str]:
        """Every secret the config holds in clear (the persistence DSN, the server token, notification URLs),
        for ``Pipeline(secrets=...)``; empty values are left out."""
        found: list[str] = []
        if self.dashboard.persistence.dsn:
            found.append(self.dashboard.persistence.dsn)
        if self.dashboard.server.token is not None:
            found.append(self.dashboard.server.token.get_secret_value())
        found.extend(self.alerts.secret_values())  # notification URLs carry bot tokens and webhook keys
        return [s for s in found if s]


class BotConfig(SessionConfig):
    """The whole configuration. Cross-checks: every scanned exchange has a ``venues`` entry and every symbol an
    instrument entry; every scanned venue × symbol has maintenance-margin tiers (``risk.tiers_file``) and the
    venue's leverage is at most tier 1's max leverage."""

    strategy: StrategyConfig | None = None
    strategies: list[InstanceConfig] | None = Field(default=None, min_length=1, max_length=16)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    venues: dict[str, VenueConfig]
    risk: RiskConfig = Field(default_factory=RiskConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)

    @model_validator(mode="after")
    def _cross_check(self) -> BotConfig:
        if (self.strategy is None) == (self.strategies is None):
            raise ValueError(
                "give either strategy: (one strategy) or strategies: (a list of instances), not both"
            )
        if self.strategy is not None and (
            self.limits.max_positions is not None or self.limits.max_total_exposure_usd is not None
        ):
            raise ValueError(
                "limits: caps the instances of strategies: together; with the single strategy: block its own "
                "max_positions and max_total_exposure_usd are the session's"
            )
        names = [s.name for s in self.instances]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"strategies: more than one strategy is named {', '.join(map(repr, repeated))}")
        owner: dict[str, str] = {}
        for key, inst in self._keyed_instances():
            shared = [sym for sym in inst.symbols if sym in owner]
            if shared:
                raise ValueError(
                    f"{key}.symbols: {', '.join(shared)} also traded by strategy {owner[shared[0]]!r}: instances "
                    "share the venues' accounts, so each symbol belongs to one instance (their legs would net)"
                )
            owner.update(dict.fromkeys(inst.symbols, inst.name))
            missing = [v for v in inst.scan_exchanges if v not in self.venues]
            if missing:
                raise ValueError(f"{key}.scan_exchanges {missing} have no entry in venues")
            no_instr = [s for s in inst.symbols if s not in self.market.instruments]
            if no_instr:
                raise ValueError(f"{key}.symbols {no_instr} have no entry in market.instruments")
        for i, rule in enumerate(self.alerts.rules):
            if rule.strategy is not None and rule.strategy not in names:
                raise FieldError(
                    ("alerts", "rules", i, "strategy"),
                    f"rule {rule.name!r} watches strategy {rule.strategy!r}, which this config does not run "
                    f"(its strategies: {', '.join(map(repr, names))})",
                )
        self._check_tiers()
        return self

    @property
    def instances(self) -> list[StrategyInstanceConfig | SettlementTimingConfig]:
        """The strategy instances to run: ``strategies:`` as given, or the one ``strategy:`` block as an instance
        named after its type (``funding_arbitrage``)."""
        if self.strategies is not None:
            return list(self.strategies)
        assert self.strategy is not None  # the validator requires one of the two
        # validated already, as the strategy: block (model_construct keeps a test's model_copy as it is)
        fields = {name: getattr(self.strategy, name) for name in type(self.strategy).model_fields}
        return [
            StrategyInstanceConfig.model_construct(
                name="funding_arbitrage", type="funding_arbitrage", **fields
            )
        ]

    def _keyed_instances(self) -> list[tuple[str, StrategyInstanceConfig | SettlementTimingConfig]]:
        """Each instance with the config path its errors name (``strategy`` or ``strategies.<i>``)."""
        if self.strategies is None:
            return [("strategy", self.instances[0])]
        return [(f"strategies.{i}", inst) for i, inst in enumerate(self.strategies)]

    @property
    def all_symbols(self) -> list[str]:
        """Every symbol any instance trades, in first-seen order."""
        return list(dict.fromkeys(s for inst in self.instances for s in inst.symbols))

    @property
    def all_venues(self) -> list[str]:
        """Every venue any instance scans, in first-seen order."""
        return list(dict.fromkeys(v for inst in self.instances for v in inst.scan_exchanges))

    @property
    def max_positions(self) -> int:
        """The session-wide open-position limit: ``limits.max_positions`` or the sum of the instances'."""
        return self.limits.max_positions or sum(i.max_positions for i in self.instances)

    @property
    def max_total_exposure_usd(self) -> Decimal:
        """The session-wide exposure limit (USD): ``limits.max_total_exposure_usd`` or the instances' sum."""
        return self.limits.max_total_exposure_usd or sum(
            (i.max_total_exposure_usd for i in self.instances), Decimal(0)
        )

    def _check_tiers(self) -> None:
        """Every venue × symbol an instance trades has tier data and the venue's leverage ≤ tier 1's max
        leverage."""
        from arbdash.bot.venues.accounts import load_tiers  # noqa: PLC0415 - the venues package imports this module

        path = self.risk.tiers_file
        try:
            table = load_tiers(path)
        except (OSError, ValueError) as err:
            raise ValueError(f"risk.tiers_file: cannot read maintenance-margin tiers: {err}") from err
        held = dict.fromkeys((v, sym) for i in self.instances for v in i.scan_exchanges for sym in i.symbols)
        for venue, symbol in held:  # where an instance can hold a leg
            if not table.has(venue, symbol):
                raise ValueError(
                    f"no maintenance-margin tiers for {symbol} on {venue} "
                    f"(add them to {path or 'bot/data/risk/maintenance_tiers.csv'})"
                )
            cap = table.max_leverage(venue, symbol)
            leverage = self.venues[venue].leverage
            if leverage > cap:
                raise ValueError(
                    f"venues.{venue}.leverage {leverage} is above {venue}'s tier-1 max leverage {cap}x for {symbol}"
                )

    def secret_values(self) -> list[str]:
        """``SessionConfig``'s secrets plus the venue API keys and secrets."""
        found = [
            secret.get_secret_value()
            for venue in self.venues.values()
            for secret in (venue.api_key, venue.api_secret)
            if secret is not None
        ]
        return [s for s in found if s] + super().secret_values()


class ConfigError(Exception):
    """A config file could not be read or failed validation. ``problems``: one line per problem, each
    ``<file>:<line>: <field>: <what is wrong>`` (the line when it is known), like a compiler's messages;
    ``str()`` is those lines."""

    def __init__(self, path: str | Path | None, problem: str | list[str]) -> None:
        self.path = str(path) if path is not None else "<config>"
        self.problems = [problem] if isinstance(problem, str) else list(problem)
        self.problem = "\n".join(self.problems)
        super().__init__(
            "\n".join(p if p.startswith(self.path) else f"{self.path}: {p}" for p in self.problems)
        )


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that reads floats as ``Decimal`` from their text (``0.0005`` stays exactly 0.0005)."""


def _decimal_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    lowered = text.lower()
    if lowered in (".inf", "+.inf"):
        return Decimal("Infinity")
    if lowered == "-.inf":
        return Decimal("-Infinity")
    if lowered == ".nan":
        return Decimal("NaN")
    return Decimal(text)


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal_float)


def _shown(value: object) -> str:
    """A bad input as an operator wrote it: dates and times in ISO 8601, numbers as text, strings quoted."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return str(value)
    return repr(value)


class FieldError(ValueError):
    """A check across blocks (a model validator) that knows which field is wrong: ``loc`` (keys and list indexes,
    as pydantic's) — the error line then names that field and its line, not ``(top level)``."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (keys and list indexes), or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        mark = None
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(key)), None)
            node, mark = (pair[1], pair[0].start_mark) if pair else (None, None)  # the key's line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            mark = node.start_mark
        else:
            node = None
        if node is None or mark is None:
            break
        line = mark.line + 1
    return line


def _describe(err: ValidationError, path: str, tree: yaml.Node | None) -> list[str]:
    """One line per validation error: ``<file>:<line>: <field>: <message> (got <value>)``."""
    lines = []
    for e in err.errors():
        # pydantic names a validator ("function-after[...]") and a strategies[] entry's type tag in the path
        loc = tuple(
            p
            for i, p in enumerate(e["loc"])
            if not (isinstance(p, str) and p.startswith("function-"))
            and not (p in STRATEGY_TYPES and i >= 2 and e["loc"][i - 2] == "strategies")
        )
        cause = e.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc = cause.loc
        where = ".".join(str(p) for p in loc) or "(top level)"
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {_shown(got)})"
        message = e["msg"].removeprefix("Value error, ")
        line = _line_of(tree, loc)
        lines.append(f"{path}{f':{line}' if line else ''}: {where}: {message}{shown}")
    return lines


def parse_config(
    data: object, *, source: str | Path | None = None, tree: yaml.Node | None = None
) -> BotConfig:
    """Validate an already-parsed mapping (``tree``: its YAML node tree, to name the line of each bad field).
    Raises ``ConfigError`` wrapping pydantic's ``ValidationError``, one line per bad field."""
    if data is None:
        raise ConfigError(source, "the file is empty (expected the strategy, venues, market… blocks)")
    if not isinstance(data, dict):
        raise ConfigError(source, f"expected a mapping at the top level, got {type(data).__name__}")
    try:
        return BotConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, _describe(err, str(source or "<config>"), tree)) from err


def load_config(path: str | Path) -> BotConfig:
    """Read and validate a YAML config file. Raises ``ConfigError`` (missing file, bad YAML, invalid values)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(p, f"cannot read config: {err.strerror or err}") from err
    try:
        tree = yaml.compose(text, Loader=_DecimalLoader)  # noqa: S506 - a SafeLoader subclass
        data = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(p)
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(p, f"{where}: not valid YAML: {what}") from err
    return parse_config(data, source=p, tree=tree)


__all__ = [
    "STRATEGY_NAME",
    "BotConfig",
    "ConfigError",
    "DashboardConfig",
    "InstrumentConfig",
    "LoggingConfig",
    "MarketConfig",
    "PersistenceConfig",
    "RiskConfig",
    "ServerConfig",
    "StrategyConfig",
    "VenueConfig",
    "load_config",
    "parse_config",
]
