"""Periodic ``dashboard.checkpoint`` events: the live reducer's full state, written into the event stream.

A checkpoint goes through the normal logger, so it gets the next ``seq`` and reaches every sink: the JSONL, where
a reader seeks to it (``dashboard.sources.seek``), and PostgreSQL, which stores its state as a snapshot
(``logging_pipeline.postgres.rows.checkpoint_snapshot``). Nothing downstream asks the dashboard for its state;
the state walks down the stream like every other fact.

**What a checkpoint holds.** Its state is the reducer's after *exactly the events before it*: its ``last_seq``
is the checkpoint's own ``seq`` − 1 (a JSONL reader checks that and ignores a checkpoint another event slipped
in front of; PostgreSQL files the state under the ``seq`` the state says it folded, whatever the checkpoint's
own). To make that so, ``CheckpointEmitter`` waits until every event logged so far has reached the reducer tee —
the pipeline's *dispatcher thread* does that work; the emitter only watches ``upstream_pending`` and never runs
the dispatch itself — then folds what the tee holds and emits, in one synchronous step. A few events on their
way (the dispatcher wakes every few tens of milliseconds) are waited for asynchronously, the bot going on
meanwhile, for at most ``settle_s``. Many (more than ``block_above``: the bot's own work on this loop keeps the
dispatcher behind, e.g. ``--speed 0``), or a wait that found no quiet moment, make the emitter hold the loop for
at most ``block_s`` — the bot logs nothing meanwhile, so the dispatcher catches up; if it still has not, the
emitter gives up until the next interval rather than write a checkpoint no reader could start from.

**Its own echo.** The checkpoint comes back through the tee like any event, and the reducer folds it like any
event: no fold reads its fields, the feeder counts it and moves its bookkeeping past it (``last_seq``,
``fed_bytes``, the last ``ts`` and market time). Every reader does the same with the line — a JSONL reader
loads the checkpoint's state and then folds the checkpoint line; a PostgreSQL replay loads the snapshot and
folds the events after it, the checkpoint first — so live, JSONL and DB states stay equal, counters included.
So the emitter does not recognise or skip its echo: the echo is one more folded event, and the next
checkpoint's state includes it. The only consequence is that a bot logging nothing but checkpoints would write
one per ``interval_s`` (each a small line, each usable); a running bot logs a heartbeat every second anyway.

The owner of the reducer (``dashboard.service.DashboardService``) awaits ``maybe_emit()`` on its refresh tick.
How a checkpoint is written is not this module's business: the composer (``tools/runbot_run.py``) passes an
``emit(state)`` callable that logs a ``dashboard.checkpoint`` event and an ``upstream_pending()`` callable that
reads the pipeline's dispatcher, so the dashboard, which the pipeline feeds, never imports the logger that
feeds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.state import state_to_dict

#: Defaults: a checkpoint at most every 10 s of wall time, and after every 20,000 events in between.
INTERVAL_S = 10.0
EVERY_EVENTS = 20_000
#: A due checkpoint waits for the events on their way: asynchronously for at most ``SETTLE_S`` seconds (polling
#: every ``POLL_S``) while at most ``BLOCK_ABOVE`` are, then holding the loop for at most ``BLOCK_S`` seconds.
SETTLE_S = 0.25
POLL_S = 0.005
BLOCK_ABOVE = 256
BLOCK_S = 0.25

#: ``emit(state)``: write one ``dashboard.checkpoint`` event carrying ``state`` (``state_to_dict`` form).
EmitCheckpoint = Callable[[dict[str, object]], None]
#: ``on_warning(message, **fields)``: report a problem (the composer logs it as a warning event).
OnWarning = Callable[..., None]
#: ``upstream_pending()``: how many events logged so far the pipeline's dispatcher has not yet handed to every
#: sink (queued, or being dispatched); 0 when everything logged has reached the tee. Read only: it must not
#: dispatch anything itself.
UpstreamPending = Callable[[], int]


def stdlib_warning(name: str) -> OnWarning:
    """The default ``on_warning``: a stdlib ``logging`` warning on logger ``name`` (fields as ``extra``)."""
    logger = logging.getLogger(name)

    def warn(message: str, **fields: Any) -> None:
        logger.warning("%s", message, extra=fields)

    return warn


def wait_upstream(
    upstream_pending: UpstreamPending | None, timeout_s: float, *, stall_s: float = 0.25
) -> bool:
    """Hold this thread until ``upstream_pending()`` is 0 — every event logged so far has reached the sinks —
    for at most ``timeout_s`` seconds, and no longer than ``stall_s`` seconds without the count going down (a
    dispatcher stuck behind a sink that blocks will not catch up: waiting longer only holds the loop). Sleeps
    in short steps, so the dispatcher thread runs. Returns whether everything arrived; ``True`` at once when
    there is no upstream to wait for."""
    if upstream_pending is None:
        return True
    left = upstream_pending()
    if not left:
        return True
    now = time.monotonic()
    deadline, progress_at = now + timeout_s, now
    while True:
        time.sleep(0.0005)
        pending = upstream_pending()
        if not pending:
            return True
        now = time.monotonic()
        if pending < left:
            left, progress_at = pending, now
        if now >= deadline or now - progress_at >= stall_s:
            return False


class _Tee(Protocol):
    @property
    def pending(self) -> int: ...
    def drain_into(self, consumer: Reducer, limit: int | None = None) -> int: ...


class CheckpointEmitter:
    """Emits a checkpoint when ``interval_s`` seconds (``clock``, monotonic wall clock) or ``every_events``
    events (folded, or logged and on their way) have passed since the last one — and only if something was
    logged since (its previous checkpoint's echo counts: see the module doc).

    ``emit(state)`` writes the checkpoint (see ``EmitCheckpoint``); ``on_warning`` reports a failed one
    (default: a stdlib ``logging`` warning); ``upstream_pending`` counts the events logged that have not reached
    the tee yet (``None``: only what has reached it counts — a tee no pipeline feeds); ``settle_s``,
    ``poll_s``, ``block_above`` and ``block_s`` bound the wait for them (see the module doc).
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
        upstream_pending: UpstreamPending | None = None,
        settle_s: float = SETTLE_S,
        poll_s: float = POLL_S,
        block_above: int = BLOCK_ABOVE,
        block_s: float = BLOCK_S,
    ) -> None:
        self.tee = tee
        self.reducer = reducer
        self.interval_s = interval_s
        self.every_events = every_events
        self.clock = clock
        self.emit = emit
        self.on_warning = on_warning or stdlib_warning(__name__)
        self.upstream_pending = upstream_pending
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.block_above = block_above
        self.block_s = block_s
        self.emitted = 0
        self.not_settled = 0  # due checkpoints given up because the pipeline did not hand everything over
        self._last_t = clock()
        self._last_count = 0
        self._retry_at = float("-inf")  # after a checkpoint given up: no new attempt before this time

    def _folded(self) -> int:
        st = self.reducer.stats
        return st.applied + st.skipped_total + st.rejected_total + st.unknown_total

    def _due(self) -> bool:
        count = self._folded()
        coming = self.tee.pending + (self.upstream_pending() if self.upstream_pending is not None else 0)
        if count + coming == self._last_count:  # nothing logged since the last checkpoint's state was taken
            return False
        now = self.clock()
        if now < self._retry_at:
            return False
        return now - self._last_t >= self.interval_s or count + coming - self._last_count >= self.every_events

    async def _settled(self) -> bool:
        """Wait until every event logged so far has reached the tee (see the module doc); whether it did. Returns
        with no await after its last look, so the caller folds and emits before anything else runs."""
        pending = self.upstream_pending
        if pending is None:
            return True
        deadline = time.monotonic() + self.settle_s
        while n := pending():
            if n > self.block_above or time.monotonic() >= deadline:
                return wait_upstream(pending, self.block_s)
            await asyncio.sleep(self.poll_s)
        return True

    async def emit_final(self) -> bool:
        """The session's last checkpoint, in its close sequence before ``session.stopped``: emitted when anything
        was logged since the previous one, whatever the interval (so every session's record ends with a state a
        reader can seek to, and PostgreSQL keeps a snapshot of it). Same settling and folding as ``maybe_emit``;
        returns whether one was emitted."""
        count = self._folded()
        coming = self.tee.pending + (self.upstream_pending() if self.upstream_pending is not None else 0)
        if count + coming == self._last_count:
            return False
        self._retry_at = float("-inf")
        self._last_t = float("-inf")  # due now
        return await self.maybe_emit()

    async def maybe_emit(self) -> bool:
        """Emit a checkpoint if one is due (see the class doc). Returns whether one was emitted. Never raises:
        a failure is logged as a warning and the next tick tries again; a due checkpoint whose events the
        pipeline did not hand over in time is counted (``not_settled``) and tried again after ``interval_s``."""
        if not self._due():
            return False
        if not await self._settled():
            self.not_settled += 1
            self._retry_at = self.clock() + self.interval_s
            return False
        # Everything logged so far is in the tee: fold it and emit in one step (nothing runs in between).
        self.tee.drain_into(self.reducer, self.tee.pending)
        count = self._folded()
        if self.reducer.state.session.stop_reason is not None:
            # session.stopped is the record's last event: no checkpoint after it (the close sequence may still
            # run a tick of the refresh loop while the control server stops)
            self._last_count = count
            return False
        try:
            self.emit(state_to_dict(self.reducer.state))
        except Exception as exc:  # noqa: BLE001 - a checkpoint is an optimisation; the bot goes on
            self.on_warning(f"dashboard checkpoint failed: {type(exc).__name__}: {exc}")
            return False
        self._last_t = self.clock()
        self._last_count = count
        self.emitted += 1
        return True
