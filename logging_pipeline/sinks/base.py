"""The sink interface: one small object per destination of the event stream.

The pipeline's tee calls ``write`` for every event, in ``seq`` order, on its dispatcher thread (or on a thread
calling ``Pipeline.flush``), so ``write`` must return in microseconds and never block or raise: a sink that does
slow work (disk, network) hands the line to its own thread or task, and a blocking ``write`` would hold up the
other sinks (never the bot). ``start``/``aclose`` run inside the event loop when the pipeline is entered and exited.
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
        """Accept one event. Non-blocking; must not raise."""
        raise NotImplementedError

    #: True for a sink that emits its own ``session.health`` events (the PostgreSQL sink): the pipeline's watch
    #: then leaves it alone.
    reports_own_health: bool = False

    def check(self) -> None:
        """Refresh ``health``/``health_reason`` from the sink's own state (a writer thread's error, a stall).
        Called on the event loop about twice a second by the pipeline; must be cheap and must not raise."""

    async def aclose(self) -> None:
        """Flush everything accepted so far and release resources."""
