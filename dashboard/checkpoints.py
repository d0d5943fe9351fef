"""Periodic ``dashboard.checkpoint`` events: the live reducer's full state, written into the event stream.

A checkpoint goes through the normal logger, so it gets the next ``seq`` and reaches every sink (JSONL,
PostgreSQL). Its payload must be the state *after exactly the events before it*, which is what lets a reader
(``dashboard.sources.seek``) start from it and reach the same frame as a full replay. ``CheckpointEmitter``
makes that so by draining the reducer tee into the reducer and emitting in one synchronous step on the event
loop; a reader checks it (payload ``last_seq`` = checkpoint ``seq`` − 1) and ignores a checkpoint that another
thread's event slipped in front of.

The owner of the reducer (``dashboard.service.DashboardService``) calls ``maybe_emit()`` on its refresh tick.
How a checkpoint is written is not this module's business: the composer (``tools/runbot_cli.py``) passes an
``emit(state)`` callable that logs a ``dashboard.checkpoint`` event, so the dashboard, which the pipeline
feeds, never imports the logger that feeds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from dashboard.reducer import Reducer
from dashboard.state import state_to_dict

#: Defaults: a checkpoint at most every 10 s of wall time, and after every 20,000 events in between.
INTERVAL_S = 10.0
EVERY_EVENTS = 20_000

#: ``emit(state)``: write one ``dashboard.checkpoint`` event carrying ``state`` (``state_to_dict`` form).
EmitCheckpoint = Callable[[dict[str, object]], None]
#: ``on_warning(message, **fields)``: report a problem (the composer logs it as a warning event).
OnWarning = Callable[..., None]


def stdlib_warning(name: str) -> OnWarning:
    """The default ``on_warning``: a stdlib ``logging`` warning on logger ``name`` (fields as ``extra``)."""
    logger = logging.getLogger(name)

    def warn(message: str, **fields: Any) -> None:
        logger.warning("%s", message, extra=fields)

    return warn


class _Tee(Protocol):
    def drain_into(self, consumer: Reducer, limit: int | None = None) -> int: ...


class CheckpointEmitter:
    """Emits a checkpoint when ``interval_s`` seconds (monotonic wall clock) or ``every_events`` folded
    events have passed since the last one — and only if something was folded since (an idle bot writes none).

    ``emit(state)`` writes the checkpoint (see ``EmitCheckpoint``); ``on_warning`` reports a failed one
    (default: a stdlib ``logging`` warning).
    """

    def __init__(
        self,
        tee: _Tee,
        reducer: Reducer,
        *,
        interval_s: float = INTERVAL_S,
        every_events: int = EVERY_EVENTS,
        clock: Callable[[], float] = time.monotonic,
        emit: EmitCheckpoint,
        on_warning: OnWarning | None = None,
    ) -> None:
        self.tee = tee
        self.reducer = reducer
        self.interval_s = interval_s
        self.every_events = every_events
        self.clock = clock
        self.emit = emit
        self.on_warning = on_warning or stdlib_warning(__name__)
        self.emitted = 0
        self._last_t = clock()
        self._last_count = 0

    def _folded(self) -> int:
        st = self.reducer.stats
        return st.applied + st.skipped_total + st.rejected_total + st.unknown_total

    def maybe_emit(self) -> bool:
        """Emit a checkpoint if one is due (see the class doc). Returns whether one was emitted. Never raises:
        a failure is logged as a warning and the next tick tries again."""
        self.tee.drain_into(self.reducer)
        count = self._folded()
        if count - self._last_count <= 1:  # nothing new apart from our own previous checkpoint
            return False
        now = self.clock()
        if now - self._last_t < self.interval_s and count - self._last_count < self.every_events:
            return False
        try:
            self.emit(state_to_dict(self.reducer.state))
        except Exception as exc:  # noqa: BLE001 - a checkpoint is an optimisation; the bot goes on
            self.on_warning(f"dashboard checkpoint failed: {type(exc).__name__}: {exc}")
            return False
        self._last_t = now
        self._last_count = count
        self.emitted += 1
        return True
