"""The logging API the bot talks to: stage banners, levelled log lines, typed events and metrics.

Every call becomes exactly one typed, versioned event (``logging_pipeline.events``) that flows through the
structlog processor chain configured by ``logging_pipeline.Pipeline``. The look of the console in
``--dashboard-mode=off`` is unchanged from the bot this API was written for (three-line stage banners,
``time | LEVEL | module:function:line | message`` lines); in the other modes the same events feed the dashboard.

Usage::

    log = get_logger("bot.strategy")         # bind once per module/object, not per call
    log.stage("1", "📋", "BTC • Opportunity Validation", lifecycle="scanning", symbol="BTC")
    log.emit(PositionOpened(...), message="Opened BTC hyperliquid long / binance short")
    log.info("Scanning 3 symbols on 3 venues", symbols=3)
    log.metric("scan_duration", Decimal("1.8"), "ms")

Before ``Pipeline`` is entered the calls still work (structlog's defaults print them), so importing bot modules
has no side effects.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog

from logging_pipeline.events import CATALOGUE, EventFields, Lifecycle, Metric, StageChanged

#: Keys a caller cannot pass as free-form fields because the envelope owns them.
RESERVED_KEYS = frozenset({"v", "ts", "session_id", "seq", "level", "logger", "event", "category", "market_ts"})


class UnifiedLogger:
    """A named logger bound once; each method emits one event. Thread-safe (the pipeline serialises writes)."""

    __slots__ = ("name", "_log")

    def __init__(self, name: str) -> None:
        self.name = name
        self._log = structlog.get_logger(name)

    # --- typed events -------------------------------------------------------------------------------------

    def emit(self, fields: EventFields, message: str = "", *, level: str = "info") -> None:
        """Emit a catalogue event. ``fields`` is an instance of its model (its class names the event).

        Raises ``KeyError`` if the model is not in the catalogue (a programming error, caught by tests).
        """
        name = CATALOGUE.name_for(type(fields))
        getattr(self._log, level)(name, message=message, **fields.model_dump(exclude_none=True))

    def stage(
        self,
        stage_id: str,
        icon: str,
        title: str,
        *,
        lifecycle: Lifecycle | None = None,
        symbol: str | None = None,
        position_id: str | None = None,
    ) -> None:
        """A stage banner (``"3.1 🔍 Pre-flight Checks"``) and a ``stage.changed`` event in one call."""
        fields = StageChanged(
            stage_id=stage_id, icon=icon, title=title, lifecycle=lifecycle, symbol=symbol, position_id=position_id
        )
        self.emit(fields, message=banner_title(stage_id, icon, title))

    def metric(self, name: str, value: Decimal | int, unit: str = "") -> None:
        """A named measurement (``metric`` event). ``value`` must be exact (``Decimal`` or ``int``)."""
        self.emit(Metric(name=name, value=Decimal(value), unit=unit), message=f"{name}={value}{unit and ' ' + unit}")

    # --- plain log lines ----------------------------------------------------------------------------------

    def debug(self, message: str, **fields: Any) -> None:
        """A ``log.message`` at debug level; dropped cheaply when the level is above debug."""
        self._log.debug("log.message", message=message, **_check(fields))

    def info(self, message: str, **fields: Any) -> None:
        """A ``log.message`` at info level; extra ``fields`` are kept as JSON fields of the event."""
        self._log.info("log.message", message=message, **_check(fields))

    def warning(self, message: str, **fields: Any) -> None:
        self._log.warning("log.message", message=message, **_check(fields))

    def error(self, message: str, **fields: Any) -> None:
        self._log.error("log.message", message=message, **_check(fields))

    def exception(self, message: str, **fields: Any) -> None:
        """An error ``log.message`` carrying the active exception's traceback as the ``exc`` field."""
        self._log.error("log.message", message=message, exc_info=True, **_check(fields))


def banner_title(stage_id: str, icon: str, title: str) -> str:
    """The banner's middle line: ``"1. 📋 BTC • Opportunity Validation"``; a sub-stage id keeps its own dot
    (``"3.1 🔍 Pre-flight Checks"``)."""
    label = stage_id if "." in stage_id else f"{stage_id}."
    return " ".join(part for part in (label, icon, title) if part)


def _check(fields: dict[str, Any]) -> dict[str, Any]:
    clash = RESERVED_KEYS.intersection(fields)
    if clash:
        raise TypeError(f"reserved event keys passed as fields: {sorted(clash)}")
    return fields


def get_logger(name: str) -> UnifiedLogger:
    """Return a ``UnifiedLogger`` for ``name`` (dotted, e.g. ``"bot.executor"``)."""
    return UnifiedLogger(name)


__all__ = ["UnifiedLogger", "get_logger"]
