"""The small interface every strategy implements (freqtrade style): the runner drives it, it never drives the
runner. A strategy sees only ``bot.venues.base.Venue`` objects and logs only through ``helpers.unified_logger``.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from arbdash.bot.venues.base import FundingCredit
from arbdash.control.commands import Command, Outcome, PauseEntries, ResumeEntries, SetLimit


@dataclass(frozen=True)
class StrategySummary:
    """Totals of a run (USD), the same figures the dashboard shows for the session: ``realized_pnl``, ``fees`` and
    ``funding`` over every fill and payment of the run — closed positions *and* rolled-back entry attempts — and
    ``net_pnl`` = realized + funding − fees. The rollback share is also given on its own (``rollback_fees``,
    ``rollback_realized_pnl``, ``rollback_net_pnl``); ``positions_net_pnl`` is the closed positions' part."""

    positions_opened: int
    positions_closed: int
    open_positions: int
    symbols_traded: list[str]
    rollbacks: int
    exit_reasons: dict[str, int] = field(default_factory=dict)
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    net_pnl: Decimal = Decimal(0)
    rollback_fees: Decimal = Decimal(0)
    rollback_realized_pnl: Decimal = Decimal(0)

    @classmethod
    def of(
        cls, opened: int, closed: Sequence[Any], open_positions: Sequence[Any], rollbacks: Sequence[Any]
    ) -> StrategySummary:
        """The summary of a strategy's positions: ``closed`` and ``open_positions`` (anything with ``symbol``,
        ``exit_reason``, ``realized_pnl``, ``fees``, ``funding``, ``net_pnl`` in USD), ``opened`` the count of
        positions it opened, ``rollbacks`` its rolled-back attempts (``fees``, ``realized_pnl`` in USD each)."""
        rb_fees = sum((r.fees for r in rollbacks), Decimal(0))
        rb_realized = sum((r.realized_pnl for r in rollbacks), Decimal(0))
        return cls(
            positions_opened=opened,
            positions_closed=len(closed),
            open_positions=len(open_positions),
            symbols_traded=sorted({p.symbol for p in closed} | {p.symbol for p in open_positions}),
            rollbacks=len(rollbacks),
            exit_reasons=dict(Counter(p.exit_reason for p in closed if p.exit_reason)),
            realized_pnl=sum((p.realized_pnl for p in closed), Decimal(0)) + rb_realized,
            fees=sum((p.fees for p in closed), Decimal(0)) + rb_fees,
            funding=sum((p.funding for p in closed), Decimal(0)),
            net_pnl=sum((p.net_pnl for p in closed), Decimal(0)) + rb_realized - rb_fees,
            rollback_fees=rb_fees,
            rollback_realized_pnl=rb_realized,
        )

    @property
    def rollback_net_pnl(self) -> Decimal:
        """What the rolled-back attempts cost: their price PnL minus their fees (≤ 0 in practice)."""
        return self.rollback_realized_pnl - self.rollback_fees

    @property
    def positions_net_pnl(self) -> Decimal:
        """``net_pnl`` without the rollbacks: the sum of the closed positions' ``net_pnl``."""
        return self.net_pnl - self.rollback_net_pnl


def switch_entries(holder: Any, command: PauseEntries | ResumeEntries) -> Outcome:
    """``pause_entries`` / ``resume_entries`` on ``holder`` (a strategy: its ``entries_paused``)."""
    paused = isinstance(command, PauseEntries)
    was, holder.entries_paused = holder.entries_paused, paused
    word = "paused" if paused else "resumed"
    message = f"entries {word}" if was != paused else f"entries were already {word}"
    return Outcome("executed", message, entries_paused=paused)


def apply_limit(holder: Any, command: SetLimit, label: str = "") -> Outcome:
    """``set_limit`` on ``holder`` — a strategy or the session's ``SessionLimits``: anything with
    ``max_positions`` and ``max_total_exposure_usd`` (USD) — after ``bad_limit``'s check. ``label`` leads the
    message (``"session "``)."""
    if (bad := bad_limit(command)) is not None:
        return bad
    if command.limit == "max_positions":
        previous = Decimal(holder.max_positions)
        holder.max_positions = int(command.value)
        new = Decimal(holder.max_positions)
    else:
        previous = holder.max_total_exposure_usd
        holder.max_total_exposure_usd = new = command.value
    return Outcome(
        "executed",
        f"{label}{command.limit} {previous} → {new}",
        limit=command.limit,
        value=new,
        previous_value=previous,
    )


def bad_limit(command: SetLimit) -> Outcome | None:
    """The rejection (``BAD_VALUE``) of a ``set_limit`` whose value is out of range, else ``None``:
    ``max_positions`` a whole number from 0 (no new entries) to 10,000; ``max_total_exposure_usd`` more than 0
    and at most 10¹² USD."""
    value = command.value
    if command.limit == "max_positions":
        if not value.is_finite() or value < 0 or value != value.to_integral_value() or value > 10_000:
            return Outcome.rejected(
                "BAD_VALUE", f"max_positions must be a whole number from 0 to 10000, not {value}"
            )
    elif not value.is_finite() or value <= 0 or value > Decimal("1e12"):
        return Outcome.rejected(
            "BAD_VALUE", f"max_total_exposure_usd must be more than 0 USD (and at most 1e12), not {value}"
        )
    return None


@dataclass
class SessionLimits:
    """The session-wide limits (config ``limits:``) every strategy instance checks before an entry, on top of its
    own: at most ``max_positions`` open positions and ``max_total_exposure_usd`` (USD, each position's exposure as
    its strategy counts it: a pair's long leg, a settlement-timing position's hedge leg) across ``strategies``
    (the runner fills the list once it has built them)."""

    max_positions: int
    max_total_exposure_usd: Decimal
    strategies: list[Strategy] = field(default_factory=list)

    def open_positions(self) -> int:
        """Open positions of every instance."""
        return sum(s.open_position_count() for s in self.strategies)

    def exposure_usd(self) -> Decimal:
        """Exposure of every instance's open positions (USD)."""
        return sum((s.exposure_usd() for s in self.strategies), Decimal(0))


class Strategy(ABC):
    """Lifecycle: ``on_cycle`` every check interval of market time; ``on_funding`` after each settlement hour;
    ``on_stop`` once at the end of the market window (close everything)."""

    name: str
    version: str
    #: how it decides to enter, as ``strategy.started.entry_rule`` announces it
    entry_rule: str

    def _instance(
        self,
        config: Any,
        venues: Mapping[str, Any],
        session: SessionLimits | None,
        attempt_ids: Iterator[int] | None,
    ) -> None:
        """What every strategy instance keeps, set once for all types: its ``config`` (an instance block of
        ``bot.config``), the session's ``venues``, the session-wide limits it shares with the other instances
        (``session``), the entry-attempt numbers (``attempt_ids``, shared so position ids are unique across
        instances; default its own count), the counters and resting banner, and what operator commands change:
        the entry switch and its own two limits (from the config)."""
        self._config = config
        self._venues = venues
        self._session = session
        self._ids = attempt_ids if attempt_ids is not None else itertools.count(1)
        self._opened = 0
        # the resting banner last shown ("scanning" / "monitoring"), None once any other banner was shown since
        self._resting: str | None = None
        self.entries_paused = False
        self.max_positions: int = config.max_positions
        self.max_total_exposure_usd: Decimal = config.max_total_exposure_usd

    @abstractmethod
    async def on_cycle(self, now: datetime) -> None:
        """One decision cycle at market time ``now``."""

    @abstractmethod
    def on_funding(self, credits: Sequence[FundingCredit], now: datetime) -> None:
        """Funding the venues settled on open positions at ``now``."""

    async def on_liquidations(self, liquidations: Sequence[object], now: datetime) -> None:  # noqa: B027
        """Legs the venues liquidated during the bar that closed at ``now`` (``bot.venues.paper.Liquidation``),
        after that hour's funding; a strategy closes what is left of the affected positions. Default: nothing."""

    @abstractmethod
    async def on_stop(self, now: datetime) -> None:
        """End of data: flatten every position (exit code ``SESSION_END``)."""

    @abstractmethod
    async def execute(self, command: Command, now: datetime) -> Outcome:
        """An operator command (``control.commands``) at market time ``now``, run between cycles; a command that
        cannot apply returns ``Outcome.rejected`` with a reason code instead of raising."""

    @abstractmethod
    def open_position_count(self) -> int: ...

    @abstractmethod
    def holds(self, position_id: str) -> bool:
        """Whether ``position_id`` is one of this strategy's positions (open or closed)."""

    @abstractmethod
    def exposure_usd(self) -> Decimal:
        """The exposure of the open positions (USD; what ``max_total_exposure_usd`` limits)."""

    @abstractmethod
    def summary(self) -> StrategySummary: ...
