"""``AlertEngine``: which alerts fire and resolve for a snapshot — severity, cooldown, de-duplication.

One alert per rule and key (``""``, or a position / leg: ``alerts.figures``). For each snapshot (``evaluate``):

* a figure past its threshold with no active alert → the alert **fires**, unless the same alert fired less than
  ``cooldown_s`` ago (then it is *suppressed*: counted, silent, and it will not resolve either);
* an active alert whose figure is back within the threshold, or whose key is gone (the position closed) →
  it **resolves**;
* an active alert stays active, whatever the figure does past the threshold: no repeat.

Time: the cooldown is measured on the snapshot's own clock — the market clock of the last event folded
(``session.market_now``: the simulated hour in a paper replay, so a cooldown of 300 s is five market minutes
whatever the replay speed), else the wall time of the last event (``generated_at``: a bot whose events carry no
market time) — so the same sequence of snapshots gives the same alerts, live or replayed; the wall clock ``now``
is used only by ``seconds_since_event`` (a stalled bot). The peak of net PnL (``net_pnl_drawdown_usd``) is the highest
value seen by this engine, of the session and of each strategy instance (a rule's ``strategy``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from arbdash.alerts.config import AlertRule
from arbdash.alerts.figures import FIGURES, totals
from arbdash.dashboard.models import DashboardSnapshot


@dataclass(frozen=True)
class Transition:
    """An alert that fired or resolved at ``at``: its ``rule``, ``key`` and the figure's ``value`` (None when the
    key is gone)."""

    kind: Literal["fired", "resolved"]
    rule: AlertRule
    key: str
    value: Decimal | None
    at: datetime

    def describe(self) -> str:
        """One line for the timeline and the notification (the value rounded for reading: ``shown``; the
        event keeps it exact)."""
        r = self.rule
        unit = FIGURES[r.figure].unit
        where = "".join(f" {x}" for x in (r.strategy, self.key) if x)
        if self.kind == "resolved":
            now = f"{shown(self.value, unit)} {unit}".rstrip() if self.value is not None else "gone"
            return f"resolved: {r.name}{where} ({r.figure} {now})"
        sign = ">" if r.above is not None else "<"
        value = shown(self.value, unit) if self.value is not None else "?"
        return (
            f"{r.severity.upper()} {r.name}{where}: {r.figure} {value} {sign} {r.threshold} {unit}".rstrip()
        )


def shown(value: Decimal, unit: str) -> str:
    """``value`` as a person reads it: USD and % to 2 decimals, seconds and 0/1 flags whole (half-even)."""
    places = Decimal("0.01") if unit in ("USD", "%") else Decimal(1)
    return str(value.quantize(places, rounding=ROUND_HALF_EVEN))


@dataclass
class _Active:
    since: datetime
    announced: bool  # False: suppressed by the cooldown (it resolves silently)


@dataclass
class AlertEngine:
    """The alert state for ``rules``. ``suppressed``: firings held back by a cooldown, by rule name."""

    rules: list[AlertRule]
    active: dict[tuple[str, str], _Active] = field(default_factory=dict)
    last_fired: dict[tuple[str, str], datetime] = field(default_factory=dict)
    suppressed: Counter[str] = field(default_factory=Counter)
    #: the highest net PnL seen, of the session (``None``) and of each strategy instance
    peaks: dict[str | None, Decimal] = field(default_factory=dict)

    def evaluate(self, snap: DashboardSnapshot, now: datetime) -> list[Transition]:
        """The alerts that fire or resolve for ``snap`` (in rule order, then key order). ``now``: the wall clock
        (aware), for ``seconds_since_event``."""
        at = snap.session.market_now or snap.generated_at or now
        peaks = self.peaks
        for scope in (None, *(v.name for v in snap.strategies if v.name is not None)):
            t = totals(snap, scope)
            if t is not None and (scope not in peaks or t.net_pnl > peaks[scope]):
                peaks[scope] = t.net_pnl
        out: list[Transition] = []
        for rule in self.rules:
            readings = dict(FIGURES[rule.figure].read(snap, now, peaks.get(rule.strategy), rule.strategy))
            for key in sorted(readings):
                value = readings[key]
                ident = (rule.name, key)
                state = self.active.get(ident)
                if rule.breached(value):
                    if state is not None:
                        continue
                    last = self.last_fired.get(ident)
                    if last is not None and at - last < timedelta(seconds=rule.cooldown_s):
                        self.active[ident] = _Active(at, announced=False)
                        self.suppressed[rule.name] += 1
                        continue
                    self.active[ident] = _Active(at, announced=True)
                    self.last_fired[ident] = at
                    out.append(Transition("fired", rule, key, value, at))
                elif state is not None:
                    del self.active[ident]
                    if state.announced:
                        out.append(Transition("resolved", rule, key, value, at))
            for ident in sorted(i for i in self.active if i[0] == rule.name and i[1] not in readings):
                state = self.active.pop(ident)
                if state.announced:
                    out.append(Transition("resolved", rule, ident[1], None, at))
        return out


__all__ = ["AlertEngine", "Transition"]
