"""The event pipeline: structlog processors that turn every logger call into a typed, versioned event and tee
it to the console, a JSONL file, PostgreSQL (opt-in) and the dashboard reducer."""

from logging_pipeline.pipeline import Pipeline
from logging_pipeline.sinks.base import Sink

__all__ = ["Pipeline", "Sink"]
