"""``AlertWatcher``: the alert engine inside the bot — reads the live reducer, logs transitions, queues
notifications.

``runbot`` starts ``run()`` as a task once the dashboard service (the reducer's owner) is up. Every
``interval_s`` it takes the reducer's snapshot (only when the reducer changed; the last one otherwise, so a
stalled bot is still seen), evaluates ``AlertEngine`` with the wall clock, and for each transition logs
``alert.fired`` (level = severity) or ``alert.resolved`` through ``emit`` and queues a notification
(``Notifier.send``: never blocks). ``final(health)`` runs once in the close sequence, before ``session.stopped``:
one last evaluation with the session's final health, so "ended in error" fires and nothing follows the record's
last event. The reducer is read on the loop only, like every reader of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from arbdash.alerts.config import AlertsConfig
from arbdash.alerts.engine import AlertEngine, Transition
from arbdash.alerts.figures import FIGURES
from arbdash.logging_pipeline.events import AlertFired, AlertResolved, Event

#: ``emit(event, message, level)``: how transitions are logged (runbot: the unified logger).
Emit = Callable[[Event, str, str], None]
_LEVEL = {"info": "info", "warning": "warning", "critical": "error"}


class AlertWatcher:
    """See the module docstring. ``notifier``: an ``alerts.notify.Notifier`` or ``None`` (events only)."""

    def __init__(
        self, config: AlertsConfig, reducer: Any, emit: Emit, notifier: Any = None, interval_s: float = 1.0
    ) -> None:
        self.engine = AlertEngine(list(config.rules))
        self.reducer = reducer
        self.emit = emit
        self.notifier = notifier
        self.interval_s = interval_s
        self._version = -1
        self._snap: Any = None
        self.fired = self.resolved = 0

    def _snapshot(self) -> Any:
        if self.reducer.version != self._version or self._snap is None:
            self._snap = self.reducer.snapshot()
            self._version = self.reducer.version
        return self._snap

    def check(self, snap: Any = None) -> list[Transition]:
        """One evaluation now (of ``snap``, default the reducer's); returns the transitions it logged."""
        found = self.engine.evaluate(snap if snap is not None else self._snapshot(), datetime.now(UTC))
        for t in found:
            self._publish(t)
        return found

    async def run(self) -> None:
        """Evaluate every ``interval_s`` until cancelled."""
        while True:
            self.check()
            await asyncio.sleep(self.interval_s)

    def final(self, health: str) -> list[Transition]:
        """The last evaluation, with the session's final ``health`` (``stopped`` / ``error``)."""
        snap = self._snapshot()
        session = msgspec.structs.replace(snap.session, health=health)
        return self.check(msgspec.structs.replace(snap, session=session))

    def _publish(self, t: Transition) -> None:
        if t.rule.strategy is None:
            self._log(t)
        else:  # the event belongs to the strategy it watches (its envelope's ``strategy``), as its own do
            with structlog.contextvars.bound_contextvars(strategy=t.rule.strategy):
                self._log(t)
        if self.notifier is not None:
            rule = t.rule
            self.notifier.send(
                f"arbdash: {rule.name}", t.describe(), rule.severity if t.kind == "fired" else "info"
            )

    def _log(self, t: Transition) -> None:
        rule = t.rule
        line = t.describe()
        if t.kind == "fired":
            self.fired += 1
            event: Event = AlertFired(
                alert=rule.name,
                key=t.key,
                figure=rule.figure,
                severity=rule.severity,
                value=t.value,  # type: ignore[arg-type]
                threshold=rule.threshold,
                direction="above" if rule.above is not None else "below",
                unit=FIGURES[rule.figure].unit,
            )
            self.emit(event, f"Alert {line}", _LEVEL[rule.severity])
        else:
            self.resolved += 1
            self.emit(
                AlertResolved(alert=rule.name, key=t.key, figure=rule.figure, value=t.value),
                f"Alert {line}",
                "info",
            )


__all__ = ["AlertWatcher", "Emit"]
