"""The sink interface: one small object per destination of the event stream.

The pipeline's tee calls ``write`` for every event, in ``seq`` order, holding its dispatch lock, on whichever
thread dispatches: the tee's dispatcher thread, a thread calling ``Pipeline.flush`` (the event loop: final
frame, checkpoints) or **the bot's own thread** (a logging call that finds the queue over ``Tee.help_at``
dispatches a chunk itself). Hence the contract, which every sink keeps by construction:

* ``write`` is **non-blocking**: it returns in microseconds whatever its destination does. It never touches a
  file, a terminal, a pipe or a socket, never waits on a lock another thread may hold across I/O, never sleeps.
  It hands the line to its own thread or task through an in-memory queue
  (``collections.deque.append``): ``JsonlSink``/``TextLogSink`` → ``writer.BatchFileWriter`` thread;
  ``ConsoleSink`` → its ``console-writer`` thread (bounded: lines the terminal cannot take are dropped and
  counted — the console is not the record); ``PostgresSink`` → a deque drained by its asyncio task;
  ``ReducerTee`` → a deque drained by the dashboard service.
* ``write`` never raises (a sink that does is marked ``failed`` and skipped from then on).
* A sink whose destination is slow or gone says so through ``health``/``health_reason`` (refreshed by
  ``check``), which the pipeline turns into ``session.health`` events; it does not push back on the caller.

A blocking ``write`` would stall every other sink and, through the caller-helps path, the bot itself.
``start``/``aclose`` run inside the event loop when the pipeline is entered and exited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

SinkHealth = Literal["ok", "degraded", "failed"]


class Sink:
    """Base class. ``line`` is the event serialised by orjson (no trailing newline) — the exact bytes a JSONL
    reader will see; ``record`` is the same event as a Python dict before serialisation (values may be
    ``Decimal``/``datetime``). Subclasses override ``write`` and, if they own resources, ``start``/``aclose``.
    """

    name: str = "sink"

    #: Set by the ``Pipeline`` while it is entered: ``flush_upstream(timeout)`` hands every event logged so far
    #: to the sinks now. A sink read from outside (the reducer tee) calls it when it must see everything.
    flush_upstream: Callable[..., bool] | None = None

    def __init__(self) -> None:
        self.health: SinkHealth = "ok"
        self.health_reason: str | None = None

    async def start(self) -> None:
        """Acquire resources (open files, pools, threads). Must not raise for an unreachable backend: degrade."""

    def write(self, line: bytes, record: dict[str, Any]) -> None:  # pragma: no cover - interface
        """Accept one event. Non-blocking (queue it for the sink's own thread or task; see the module
        docstring) and must not raise. May be called on any thread, one call at a time (the tee's lock)."""
        raise NotImplementedError

    #: True for a sink that emits its own ``session.health`` events (the PostgreSQL sink): the pipeline's watch
    #: then leaves it alone.
    reports_own_health: bool = False

    def check(self) -> None:
        """Refresh ``health``/``health_reason`` from the sink's own state (a writer thread's error, a stall).
        Called on the event loop about twice a second by the pipeline; must be cheap and must not raise."""

    async def aclose(self) -> None:
        """Flush everything accepted so far and release resources."""
