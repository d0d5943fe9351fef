"""The last processor of the chain: numbers the event, serialises it once and hands it to every sink.

``seq`` is assigned here, under a lock held while the sinks accept the line, so the order of lines in every
sink is the order of ``seq`` even when several threads log at once. A sink that raises is marked ``failed``,
reported once through ``on_sink_failure`` and skipped from then on; the other sinks and the bot go on.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from logging_pipeline.encoding import dumps
from logging_pipeline.sinks.base import Sink


class Tee:
    """Processor ``(logger, method, record) -> bytes``: the serialised line (the chain's final logger hands it
    back to the caller, which is handy in tests). ``record`` is the envelope-ordered dict ``AddEnvelope``
    built; its ``seq`` slot is filled in here."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        on_sink_failure: Callable[[Sink, BaseException], None] | None = None,
        first_seq: int = 1,
    ) -> None:
        self.sinks = list(sinks)
        self.on_sink_failure = on_sink_failure
        self._seq = itertools.count(first_seq)
        self._last = first_seq - 1
        self._lock = threading.Lock()

    @property
    def last_seq(self) -> int:
        """The last ``seq`` handed out (0 before the first event)."""
        return self._last

    def __call__(self, logger: Any, method_name: str, record: dict[str, Any]) -> bytes:
        with self._lock:
            seq = record["seq"] = next(self._seq)
            self._last = seq
            line = dumps(record)
            for sink in self.sinks:
                if sink.health == "failed":
                    continue
                try:
                    sink.write(line, record)
                except Exception as exc:  # noqa: BLE001 - a sink must never take the bot down
                    sink.health = "failed"
                    sink.health_reason = f"{type(exc).__name__}: {exc}"
                    if self.on_sink_failure is not None:
                        self.on_sink_failure(sink, exc)
            return line
