"""The strategy instances of one session (config ``strategies:``, or the single ``strategy:`` block as one
instance) and what the runner and the operator see of them as a whole.

Each instance runs in its own context: ``bound(name)`` binds ``strategy=<name>`` with structlog's context
variables around everything the runner asks of it (cycles, funding, liquidations, commands, the end of the
data), so every event it writes carries its name in the envelope, inside any asyncio task it starts too. The
instances share the paper venues (one cross-margined account per venue, as a real desk would) and trade
disjoint symbols (``BotConfig`` checks it: their legs would otherwise net on a venue), so a venue's funding
credits and liquidations are routed to the one instance that trades the symbol.

Operator commands (``control.commands``) reach the instances through ``execute``: ``pause_entries`` /
``resume_entries`` / ``flatten_all`` apply to every instance, ``close_position`` to the instance holding that
position, ``set_limit`` to the session-wide limits when there are several instances (to the instance's own
when there is one).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from arbdash.bot.config import BotConfig, RiskConfig, SettlementTimingConfig, StrategyInstanceConfig
from arbdash.bot.strategies.base import SessionLimits, Strategy, StrategySummary, apply_limit
from arbdash.bot.strategies.funding_arbitrage.strategy import FundingArbitrageStrategy
from arbdash.bot.strategies.settlement_timing.strategy import SettlementTimingStrategy
from arbdash.bot.venues.base import FundingCredit, Venue
from arbdash.control.commands import ClosePosition, Command, FlattenAll, Outcome, SetLimit

#: The class that runs each ``type`` (``bot.config.STRATEGY_TYPES``); each takes ``(config, venues, risk, *,
#: session, attempt_ids)``.
STRATEGY_CLASSES: dict[str, Any] = {
    "funding_arbitrage": FundingArbitrageStrategy,
    "settlement_timing": SettlementTimingStrategy,
}


@dataclass
class Instance:
    """One strategy instance: its config entry and the running strategy; ``next_cycle``: the market time of its
    next ``on_cycle`` (every ``check_interval_seconds``)."""

    config: StrategyInstanceConfig | SettlementTimingConfig
    strategy: Strategy
    next_cycle: datetime

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.config.check_interval_seconds)


class Instances:
    """Every instance of the session, in config order. ``limits``: the session-wide limits the instances check
    (``None`` with the single ``strategy:`` block: its own limits are the session's)."""

    def __init__(
        self, config: BotConfig, venues: dict[str, Venue], risk: RiskConfig, start: datetime
    ) -> None:
        self.limits: SessionLimits | None = None
        if config.strategies is not None:
            self.limits = SessionLimits(config.max_positions, config.max_total_exposure_usd)
        ids = itertools.count(1)  # position ids unique across instances
        self.all: list[Instance] = [
            Instance(
                inst,
                STRATEGY_CLASSES[inst.type](inst, venues, risk, session=self.limits, attempt_ids=ids),
                start,
            )
            for inst in config.instances
        ]
        if self.limits is not None:
            self.limits.strategies = [i.strategy for i in self.all]

    @staticmethod
    @contextlib.contextmanager
    def bound(name: str) -> Iterator[None]:
        """Every event logged inside carries ``strategy=name`` (structlog context variables)."""
        with structlog.contextvars.bound_contextvars(strategy=name):
            yield

    def next_due(self) -> datetime:
        """The market time of the earliest pending cycle."""
        return min(i.next_cycle for i in self.all)

    async def cycle_due(self, now: datetime) -> int:
        """Run the cycle of every instance due at ``now`` (in config order); returns how many ran."""
        ran = 0
        for inst in self.all:
            if inst.next_cycle == now:
                with self.bound(inst.name):
                    await inst.strategy.on_cycle(now)
                inst.next_cycle += inst.interval
                ran += 1
        return ran

    def on_funding(self, credits: Sequence[FundingCredit], now: datetime) -> None:
        """Each instance books the credits of the symbols it trades."""
        for inst in self.all:
            mine = [c for c in credits if c.symbol in inst.config.symbols]
            if mine:
                with self.bound(inst.name):
                    inst.strategy.on_funding(mine, now)

    async def on_liquidations(self, liquidations: Sequence[object], now: datetime) -> None:
        """Each instance closes what is left of its positions the venues liquidated."""
        for inst in self.all:
            mine = [x for x in liquidations if getattr(x, "symbol", None) in inst.config.symbols]
            if mine:
                with self.bound(inst.name):
                    await inst.strategy.on_liquidations(mine, now)

    async def on_stop(self, now: datetime) -> None:
        for inst in self.all:
            with self.bound(inst.name):
                await inst.strategy.on_stop(now)

    def open_position_count(self) -> int:
        return sum(i.strategy.open_position_count() for i in self.all)

    def exposure_usd(self) -> Decimal:
        return sum((i.strategy.exposure_usd() for i in self.all), Decimal(0))

    def summary(self) -> StrategySummary:
        """The session's totals: every instance's summary added up."""
        parts = [i.strategy.summary() for i in self.all]
        reasons: Counter[str] = Counter()
        for p in parts:
            reasons.update(p.exit_reasons)
        return StrategySummary(
            positions_opened=sum(p.positions_opened for p in parts),
            positions_closed=sum(p.positions_closed for p in parts),
            open_positions=sum(p.open_positions for p in parts),
            symbols_traded=sorted({s for p in parts for s in p.symbols_traded}),
            rollbacks=sum(p.rollbacks for p in parts),
            exit_reasons=dict(reasons),
            realized_pnl=sum((p.realized_pnl for p in parts), Decimal(0)),
            fees=sum((p.fees for p in parts), Decimal(0)),
            funding=sum((p.funding for p in parts), Decimal(0)),
            net_pnl=sum((p.net_pnl for p in parts), Decimal(0)),
            rollback_fees=sum((p.rollback_fees for p in parts), Decimal(0)),
            rollback_realized_pnl=sum((p.rollback_realized_pnl for p in parts), Decimal(0)),
        )

    # --- operator commands (control.commands.CommandTarget) --------------------------------------------------

    async def execute(self, command: Command, now: datetime) -> Outcome:
        """Route ``command`` (module docstring); the outcome of a command applied to several instances lists the
        positions all of them closed."""
        if len(self.all) == 1:
            only = self.all[0]
            with self.bound(only.name):
                return await only.strategy.execute(command, now)
        if isinstance(command, ClosePosition):
            owner = next((i for i in self.all if i.strategy.holds(command.position_id)), None)
            if owner is None:
                return Outcome.rejected("UNKNOWN_POSITION", f"no position {command.position_id}")
            with self.bound(owner.name):
                return await owner.strategy.execute(command, now)
        if isinstance(command, SetLimit):
            return self._set_session_limit(command)
        outcomes: list[Outcome] = []
        for inst in self.all:
            with self.bound(inst.name):
                outcomes.append(await inst.strategy.execute(command, now))
        closed = tuple(p for o in outcomes for p in o.position_ids)
        first = outcomes[0]
        if isinstance(command, FlattenAll):
            message = f"{len(closed)} position{'' if len(closed) == 1 else 's'} closed; entries paused"
            return Outcome("executed", message, position_ids=closed, entries_paused=True)
        return Outcome(first.status, first.message, first.reason, closed, first.entries_paused)

    def _set_session_limit(self, command: SetLimit) -> Outcome:
        """``set_limit`` on the session-wide limits (``limits:``), checked as an instance's own are."""
        assert self.limits is not None  # several instances always have session limits
        return apply_limit(self.limits, command, "session ")
