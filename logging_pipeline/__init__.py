"""The event pipeline: structlog processors that turn every logger call into a typed, versioned event and tee
it to the console, a JSONL file, PostgreSQL (opt-in) and the dashboard reducer.

``Pipeline`` and ``Sink`` are imported on first use (PEP 562), so a reader that needs only the event catalogue
(``logging_pipeline.catalogue``) does not pay for structlog and the sinks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arbdash.logging_pipeline.pipeline import Pipeline
    from arbdash.logging_pipeline.sinks.base import Sink

__all__ = ["Pipeline", "Sink"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from arbdash.logging_pipeline.pipeline import Pipeline

        return Pipeline
    if name == "Sink":
        from arbdash.logging_pipeline.sinks.base import Sink

        return Sink
    raise AttributeError(f"module 'logging_pipeline' has no attribute {name!r}")
