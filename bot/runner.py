"""Drive the session's strategy instances over the replay data on the simulated market clock.

``run_bot`` emits ``session.started``, ``venue.connected`` and one ``strategy.started`` per instance
(``bot.strategies.instances``: the ``strategies:`` list, or the single ``strategy:`` block as one instance), then
walks market time hour by hour: each hour it updates the paper venues (``market.mark_price`` per venue × symbol,
``funding.rate`` when a venue's next rate changes, i.e. after each of its settlements), has each instance book the
funding settled on its open legs (``funding.payment``), hands the legs a venue liquidated during the hour's bar to
the instance that holds them (which closes the surviving legs at once), and runs each instance's cycle every
``check_interval_seconds`` of market time (instances due at the same time in config order). Everything an
instance does runs with ``strategy=<its name>`` bound in structlog's context variables. ``account.updated`` is emitted once per
venue at the start and then, after each hour, for each venue whose account figures changed (in cents). At the end of the window every open
position is closed (``SESSION_END``), a "Run complete" line gives the totals in cents (net PnL = the dashboard's:
closed positions plus rolled-back attempts, shown separately) and a ``RunResult`` is returned. A separate task
emits ``heartbeat`` about once per wall second; it reads state only, so it never changes the trading.

``session.stopped`` is left to the caller (the CLI), which knows whether the run completed, was interrupted or
failed. Cancellation (Ctrl-C) propagates as ``CancelledError`` after the heartbeat task is stopped.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from arbdash.bot.clock import SimClock
from arbdash.bot.config import BotConfig
from arbdash.bot.strategies.base import StrategySummary
from arbdash.bot.strategies.instances import Instances
from arbdash.bot.venues.market_data import MarketData, load_market_data
from arbdash.bot.venues.paper import REFERENCE_VENUE, MarketStep, PaperMarket
from arbdash.control.commands import CommandDesk
from arbdash.helpers.formulas import rate_to_apr
from arbdash.helpers.unified_logger import UnifiedLogger, get_logger
from arbdash.logging_pipeline.events import (
    AccountUpdated,
    FundingRate,
    Heartbeat,
    MarkPrice,
    SessionStarted,
    StrategyStarted,
    VenueConnected,
)

DATA_NOTE = (
    "Real funding history (Binance, Bybit, Hyperliquid) and real Binance perpetual prices. Non-Binance marks are "
    "modelled: Binance price × (1 + venue premium − Binance premium), the premium inverted from the funding "
    "formula F = P + clamp(I − P, ±0.05%) (exact when the clamp saturates, else the point of its band nearest "
    "zero), plus seeded noise; index = Binance price (Hyperliquid's funding is valued at it, as at its oracle). "
    "Cross-venue price divergence is therefore modelled, not observed. USDT = USDC = 1 USD."
)


@dataclass(frozen=True)
class RunResult:
    """Outcome of ``run_bot``: market window covered, strategy totals (USD) and counts."""

    market_start: datetime
    market_end: datetime
    hours: int
    cycles: int
    funding_settlements_booked: int
    summary: StrategySummary
    extra: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        s = self.summary
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.exit_reasons.items())) or "none"
        return (
            f"{self.market_start:%Y-%m-%d %H:%M} → {self.market_end:%Y-%m-%d %H:%M} UTC, {self.cycles} cycles: "
            f"{s.positions_opened} opened / {s.positions_closed} closed on {', '.join(s.symbols_traded) or '-'}; "
            f"{s.rollbacks} rollbacks; exits: {reasons}; net {s.net_pnl:.2f} USD "
            f"(price {s.realized_pnl:.2f} + funding {s.funding:.2f} − fees {s.fees:.2f}); "
            f"of which rollbacks {s.rollback_net_pnl:.2f} USD"
        )

    @property
    def positions_opened(self) -> int:
        return self.summary.positions_opened

    @property
    def positions_closed(self) -> int:
        return self.summary.positions_closed

    @property
    def symbols(self) -> list[str]:
        return self.summary.symbols_traded

    @property
    def realized_pnl(self) -> Decimal:
        return self.summary.realized_pnl

    @property
    def net_pnl(self) -> Decimal:
        return self.summary.net_pnl


def _cents(amount: Decimal) -> Decimal:
    """``amount`` (USD) rounded to cents, half-even (how the dashboard and ``arbtail`` print money)."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def market_window(config: BotConfig, data: MarketData | None = None) -> tuple[datetime, datetime]:
    """The ``(start, end)`` market hours the run will cover (config window, else the data's full window)."""
    if config.market.start is not None and config.market.end is not None:
        return config.market.start, config.market.end
    first, last = (data or _load(config)).window()
    return config.market.start or first, config.market.end or last


def make_clock(config: BotConfig, speed: Decimal | None = None) -> SimClock:
    """A ``SimClock`` at the run's market start, paced by ``speed`` (default ``config.market.speed``).

    Create it before the logging pipeline so ``clock.now`` can stamp ``market_ts``, then pass it to ``run_bot``.
    """
    start, _ = market_window(config)
    return SimClock(start, config.market.speed if speed is None else speed)


def _load(config: BotConfig) -> MarketData:
    venues = sorted(set(config.all_venues) | {REFERENCE_VENUE})
    return load_market_data(config.market.data_dir, venues=venues, symbols=config.all_symbols)


def _announce(
    config: BotConfig,
    runs: Instances,
    market: PaperMarket,
    clock: SimClock,
    config_path: str | None,
    log: UnifiedLogger,
) -> None:
    """``session.started`` (session-wide limits; with several instances their names joined by ``+``, and the
    thresholds only where every instance has the same), ``venue.connected`` per venue, then one
    ``strategy.started`` per instance, written in its context."""
    insts = config.instances

    def common(values: list[Decimal]) -> Decimal | None:
        return values[0] if len(set(values)) == 1 else None

    first = runs.all[0].strategy
    # the single strategy: block keeps its type as the session's strategy
    name = first.name if config.strategies is None else "+".join(i.name for i in insts)
    log.emit(
        SessionStarted(
            strategy=name,
            strategy_version=first.version,
            config_path=config_path,
            dry_run=all(i.dry_run for i in insts),
            venues=list(market.venues),
            symbols=config.all_symbols,
            max_positions=config.max_positions,
            max_total_exposure_usd=config.max_total_exposure_usd,
            target_margin=common([i.target_margin for i in insts]),
            market_start=market.start,
            market_end=market.end,
            speed=clock.speed,
            data_note=DATA_NOTE,
            # the thresholds the dashboard colours against: the ones this run exits / refuses entries at
            profit_erosion_threshold=common([i.profit_erosion_threshold for i in insts]),
            max_entry_price_divergence_pct=common([i.max_entry_price_divergence_pct for i in insts]),
            min_liquidation_distance_pct=config.risk.min_liquidation_distance_pct,
            var_confidence=config.risk.var_confidence,
            host=socket.gethostname() or None,
        ),
        message=f"Session started: {name} v{first.version} on {', '.join(market.venues)} "
        f"for {', '.join(config.all_symbols)}, {market.start:%Y-%m-%d %H:%M} → {market.end:%Y-%m-%d %H:%M} UTC",
    )
    for venue_name, venue in market.venues.items():
        log.emit(
            VenueConnected(
                venue=venue_name,
                quote=venue.quote,
                funding_interval_s=venue.funding_interval_s,
                taker_fee_rate=venue.taker_fee_rate,
                maker_fee_rate=venue.maker_fee_rate,
                slippage_bps=venue.slippage_bps,
            ),
            message=f"{venue_name} connected (paper, {venue.quote}, funding every "
            f"{venue.funding_interval_s // 3600}h)",
        )
    for run in runs.all:
        inst = run.config
        with runs.bound(inst.name):
            log.emit(
                StrategyStarted(
                    type=inst.type,
                    version=run.strategy.version,
                    venues=list(inst.scan_exchanges),
                    symbols=list(inst.symbols),
                    max_positions=inst.max_positions,
                    max_total_exposure_usd=inst.max_total_exposure_usd,
                    target_margin=inst.target_margin,
                    profit_erosion_threshold=inst.profit_erosion_threshold,
                    max_entry_price_divergence_pct=inst.max_entry_price_divergence_pct,
                    entry_rule=run.strategy.entry_rule,
                ),
                message=f"Strategy {inst.name} ({inst.type} v{run.strategy.version}) on "
                f"{', '.join(inst.scan_exchanges)} for {', '.join(inst.symbols)}",
            )


async def _heartbeat(strategy: Instances, log: UnifiedLogger) -> None:
    while True:
        await asyncio.sleep(1)
        n = strategy.open_position_count()
        log.emit(Heartbeat(open_positions=n), message=f"heartbeat: {n} open position{'s' if n != 1 else ''}")


def _emit_step(step: MarketStep, log: UnifiedLogger) -> None:
    for tick in step.marks:
        log.emit(
            MarkPrice(
                venue=tick.venue, symbol=tick.symbol, mark_price=tick.mark_price, index_price=tick.index_price
            ),
            message=f"{tick.venue} {tick.symbol} mark {tick.mark_price}",
        )


def _emit_rates(step: MarketStep, log: UnifiedLogger) -> None:
    for venue, symbol, quote in step.rate_changes:
        apr = rate_to_apr(quote.rate, quote.interval_s)
        log.emit(
            FundingRate(
                venue=venue,
                symbol=symbol,
                rate=quote.rate,
                interval_s=quote.interval_s,
                apr=apr,
                next_funding_ts=quote.next_funding_ts,
            ),
            # read as the funding pane shows it (bp per interval, % APR); the event keeps the exact rate
            message=f"{venue} {symbol} funding {quote.rate * 10_000:+.4f} bp per {quote.interval_s // 3600}h "
            f"({apr * 100:+.2f}% APR), next {quote.next_funding_ts:%Y-%m-%d %H:%M}",
        )


def _emit_accounts(market: PaperMarket, log: UnifiedLogger, last: dict[str, tuple[object, ...]]) -> None:
    """``account.updated`` for each venue whose figures changed since the last one (compared in cents; the event
    carries the exact values). ``last`` keeps what was emitted per venue."""
    for name, venue in market.venues.items():
        f = venue.account_figures()
        key = tuple(
            None if v is None else _cents(v)
            for v in (
                f.collateral_usd,
                f.wallet_balance,
                f.unrealized_pnl,
                f.initial_margin,
                f.maintenance_margin,
                None if f.margin_ratio is None else f.margin_ratio * 100,
            )
        )
        if last.get(name) == key:
            continue
        last[name] = key
        log.emit(
            AccountUpdated(
                venue=name,
                collateral_usd=f.collateral_usd,
                wallet_balance=f.wallet_balance,
                unrealized_pnl=f.unrealized_pnl,
                equity=f.equity,
                initial_margin=f.initial_margin,
                maintenance_margin=f.maintenance_margin,
                margin_ratio=f.margin_ratio,
                available_balance=f.available_balance,
            ),
            message=f"{name} account: equity {_cents(f.equity)} USD, maintenance {_cents(f.maintenance_margin)}, "
            f"available {_cents(f.available_balance)}",
        )


async def run_bot(
    config: BotConfig,
    *,
    config_path: str | None = None,
    speed: Decimal | None = None,
    clock: SimClock | None = None,
    commands: CommandDesk | None = None,
) -> RunResult:
    """Run the funding-arbitrage strategy on paper venues over the configured market window.

    ``speed`` (market s per wall s, 0 = no sleeping) overrides ``config.market.speed``; a given ``clock`` (from
    ``make_clock``) is used as is (its own speed wins). Returns a ``RunResult``; does not emit
    ``session.stopped``. Raises ``ValueError`` for a window outside the data, ``FileNotFoundError`` for missing
    data files, and propagates ``asyncio.CancelledError``.

    ``commands``: the operator's command desk (``control.commands``). Its queue is carried out at the safe points
    — before each strategy cycle and, while the clock sleeps, as soon as a command arrives (at the current
    market time) — never inside a cycle. The desk is closed (``STOPPING``) when the run ends, however it ends.
    """
    log = get_logger("bot.runner")
    data = _load(config)
    market = PaperMarket(data, config)
    if clock is None:
        clock = SimClock(market.start, config.market.speed if speed is None else speed)
    elif clock.now() != market.start:
        raise ValueError(
            f"clock starts at {clock.now().isoformat()}, market window at {market.start.isoformat()}"
        )
    runs = Instances(config, market.venues, config.risk, market.start)
    _announce(config, runs, market, clock, config_path, log)
    accounts: dict[str, tuple[object, ...]] = {}
    _emit_accounts(market, log, accounts)  # once per venue at the start: the deposited collateral

    heartbeat = asyncio.create_task(_heartbeat(runs, get_logger("bot.heartbeat")), name="bot-heartbeat")

    async def run_commands() -> None:
        if commands is not None and commands.pending:
            await commands.run_pending(runs, clock.now())

    wake = commands.wakeup if commands is not None else None

    async def advance(t: datetime) -> None:
        await clock.advance_to(t, wake=wake, on_wake=run_commands)
        await run_commands()

    cycles = booked = 0
    try:
        hours = market.hours()
        for t in hours:
            while (due := runs.next_due()) < t:  # cycles between two market hours (check interval < 1 h)
                await advance(due)
                cycles += await runs.cycle_due(due)
            await advance(t)
            step = market.advance_to(t)
            _emit_step(step, log)
            runs.on_funding(step.credits, t)
            booked += len(step.credits)
            _emit_rates(step, log)
            await runs.on_liquidations(step.liquidations, t)  # the survivors close in this same hour
            if runs.next_due() == t:
                await run_commands()  # after the hour's marks and funding, before the cycle
                cycles += await runs.cycle_due(t)
            _emit_accounts(market, log, accounts)
        await run_commands()
        if commands is not None:
            commands.close()
        await runs.on_stop(market.end)
        _emit_accounts(market, log, accounts)
    finally:
        if commands is not None:
            commands.close()
        heartbeat.cancel()
        try:
            await heartbeat
        except asyncio.CancelledError:
            pass
    summary = runs.summary()
    c = {
        k: _cents(v)
        for k, v in (
            ("net", summary.net_pnl),
            ("price", summary.realized_pnl),
            ("funding", summary.funding),
            ("fees", summary.fees),
            ("rb_net", summary.rollback_net_pnl),
            ("rb_price", summary.rollback_realized_pnl),
            ("rb_fees", summary.rollback_fees),
        )
    }
    n_rb = summary.rollbacks
    log.info(
        f"Run complete: {summary.positions_opened} opened, {summary.positions_closed} closed, "
        f"{n_rb} rollback{'' if n_rb == 1 else 's'}; net PnL {c['net']} USD "
        f"(price {c['price']}, funding {c['funding']}, fees {c['fees']}; "
        f"rollbacks {c['rb_net']}: price {c['rb_price']}, fees {c['rb_fees']})",
        positions_opened=summary.positions_opened,
        positions_closed=summary.positions_closed,
        net_pnl=c["net"],
        rollback_net_pnl=c["rb_net"],
    )
    return RunResult(
        market_start=market.start,
        market_end=market.end,
        hours=len(hours),
        cycles=cycles,
        funding_settlements_booked=booked,
        summary=summary,
    )


__all__ = ["DATA_NOTE", "RunResult", "make_clock", "market_window", "run_bot"]
