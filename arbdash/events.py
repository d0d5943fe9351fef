"""The event catalogue under the public name: every event a bot can emit (``session.log.emit(PositionOpened(...))``),
the structs they carry (``LegOpen``) and the closed vocabularies (``EXIT_REASONS``, ``HOLD_CODES`` …). Each is
declared once, in ``logging_pipeline/events.py``; this module only re-exports them."""

from arbdash.logging_pipeline.events import *  # noqa: F403
from arbdash.logging_pipeline.events import __all__ as __all__
