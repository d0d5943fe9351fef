"""Strategy instances: which strategies run in the session (``strategy.started``, or the first event naming one in
its envelope's ``strategy``), their limits and thresholds, which of them each position belongs to, the running
totals per strategy and their hourly net PnL samples (the sparkline).

The envelope's ``strategy`` of any event is checked by the feeder (``dashboard.reducer``) through ``admit``
before the event's own fold runs: a name not known yet is added (at most ``MAX_STRATEGIES``; a further name
refuses the event, counted as ``too_many_strategies``, as ``metric`` names beyond their bound are). The
``strategy`` of ``session.started`` is the session's (the instance names joined with ``+``), not an instance.

Attribution: a position belongs to the strategy of the event that made it known (its first fill, rollback,
``position.opened`` or funding payment), for good (``attribute``); every amount the position folds adds to the
totals of that strategy (``bucket``) — or of ``DashboardState.unattributed`` for a position of no known
strategy — as it adds to the session's, so the buckets always add up to the session's totals.

Samples (``sample_pnl``): when the market clock enters a new hour, each strategy's net PnL as folded so far
(realized + unrealized at the latest marks + funding − fees, USD) is recorded for the hour the clock left — on
the market clock only (``market_ts``), never the wall clock, so every replay samples the same values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from arbdash.dashboard.folds.base import Rejected, dec, fold, opt_dec
from arbdash.dashboard.risk import hour_of
from arbdash.dashboard.state import (
    MAX_STRATEGIES,
    PNL_SAMPLES,
    DashboardState,
    PositionState,
    StrategyState,
)
from arbdash.helpers import formulas
from arbdash.logging_pipeline.events import SessionStarted, StrategyStarted

__all__ = ["MAX_NAME", "admit", "attribute", "bucket", "sample_pnl"]

#: The longest strategy name kept (characters); a longer one refuses its event.
MAX_NAME = 64
_HUNDRED = 100
_ZERO = Decimal(0)
_SECONDS_PER_HOUR = 3600


def admit(state: DashboardState, line: Any) -> bool:
    """Make the envelope's ``strategy`` of ``line`` (not ``None``) known, before the event's fold runs. Returns
    whether it was added (the feeder takes it back if the fold then refuses the event). Raises ``Rejected``
    for a name past ``MAX_STRATEGIES`` (``too_many_strategies``) or longer than ``MAX_NAME``. The
    ``session.started`` line names the session, not an instance: never added."""
    name = line.strategy
    if name in state.strategies or line.EVENT is SessionStarted:
        return False
    if len(name) > MAX_NAME:
        raise Rejected(f"strategy: a name longer than {MAX_NAME} characters")
    if len(state.strategies) >= MAX_STRATEGIES:
        raise Rejected(
            f"strategy {name[:40]!r}: more than {MAX_STRATEGIES} strategies", "too_many_strategies"
        )
    state.strategies[name] = StrategyState(name=name)
    return True


def attribute(state: DashboardState, pos: PositionState, strategy: str | None) -> None:
    """A position just made known belongs to ``strategy`` (the envelope's, ``None``: none), counted in its
    bucket."""
    pos.strategy = strategy
    bucket(state, pos).positions += 1


def bucket(state: DashboardState, pos: PositionState) -> StrategyState:
    """Where the amounts of ``pos`` add up: its strategy's totals, or ``state.unattributed`` for a position of
    no known strategy."""
    name = pos.strategy
    if name is not None:
        st = state.strategies.get(name)
        if st is not None:
            return st
    return state.unattributed


def _unrealized(state: DashboardState) -> dict[str | None, Decimal]:
    """Σ unrealized PnL (USD) of the open legs of the positions not closed, by strategy (``None``: unattributed),
    at the latest marks — ``formulas.unrealized_pnl`` of each leg, as ``dashboard.snapshot`` computes it (a leg
    without a mark counts nothing)."""
    out: dict[str | None, Decimal] = {}
    for pos in state.positions.values():
        total = _ZERO
        for venue, leg in pos.legs.items():
            if leg.qty > 0:
                text = state.mark(venue, pos.symbol)
                if text is not None:
                    total += formulas.unrealized_pnl(leg.side, leg.qty, leg.entry_price, Decimal(text))
        key = pos.strategy if pos.strategy in state.strategies else None
        out[key] = out.get(key, _ZERO) + total
    return out


def sample_pnl(state: DashboardState, before: datetime | None, now: datetime) -> datetime:
    """The market clock moves from ``before`` to ``now`` (later): when that leaves an hour, each strategy's net
    PnL so far (realized + unrealized + funding − fees, USD) is its sample of the hour left (the last
    ``PNL_SAMPLES`` kept). Returns when the clock next enters a new hour (the feeder calls again from then)."""
    hour_now = hour_of(now.timestamp())
    if before is not None and state.strategies:
        left = hour_of(before.timestamp())
        if hour_now > left:
            unrealized = _unrealized(state)
            for name, st in state.strategies.items():
                net = st.realized_total + unrealized.get(name, _ZERO) + st.funding_total - st.fees_total
                samples = st.pnl_hours
                if samples and samples[-1][0] == left:
                    samples[-1] = (left, net)
                else:
                    samples.append((left, net))
                    if len(samples) > PNL_SAMPLES:
                        del samples[: len(samples) - PNL_SAMPLES]
    return datetime.fromtimestamp((hour_now + 1) * _SECONDS_PER_HOUR, UTC)


@fold(StrategyStarted)
def on_strategy_started(state: DashboardState, ev: Any) -> None:
    """One instance announced (the envelope's ``strategy`` is its name): its code (``type``, ``version``), universe
    and limits (exposure in USD) and thresholds (``profit_erosion_threshold`` a fraction, kept · 100 as %;
    ``max_entry_price_divergence_pct`` %). Announced again (a restart), the new figures replace the old; the
    totals stay."""
    name = ev.strategy
    if name is None:
        raise Rejected("strategy.started without the envelope's strategy")
    if ev.max_positions < 0:
        raise Rejected("max_positions: must not be negative")
    max_exposure = dec(ev.max_total_exposure_usd, "max_total_exposure_usd")
    target_margin = opt_dec(ev.target_margin, "target_margin")
    erosion = opt_dec(ev.profit_erosion_threshold, "profit_erosion_threshold")
    div_limit = opt_dec(ev.max_entry_price_divergence_pct, "max_entry_price_divergence_pct")
    st = state.strategies.get(name)
    if st is None:  # admitted by the feeder; a direct call (a test) adds it here
        st = state.strategies[name] = StrategyState(name=name)
    st.type = ev.type
    st.entry_rule = ev.entry_rule
    st.version = ev.version
    st.venues = list(ev.venues)
    st.symbols = list(ev.symbols)
    st.max_positions = ev.max_positions
    st.max_total_exposure_usd = max_exposure
    st.target_margin = target_margin
    st.erosion_threshold_pct = erosion * _HUNDRED if erosion is not None else None
    st.divergence_limit_pct = div_limit
