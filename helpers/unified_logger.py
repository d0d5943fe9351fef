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

from arbdash.logging_pipeline.catalogue import CATALOGUE, check, fields_of
from arbdash.logging_pipeline.events import ENVELOPE_KEYS, Event, Lifecycle, Metric, StageChanged

#: Keys a caller cannot pass as free-form fields because the envelope owns them.
RESERVED_KEYS = frozenset(ENVELOPE_KEYS) - {"message"}


class UnifiedLogger:
    """A named logger; each method emits one event. Thread-safe (the pipeline serialises writes).

    The structlog logger is bound once per *configuration*: the instance keeps ``(processors, wrapper_class,
    bound logger)`` and rebinds only when ``structlog.get_config()`` shows another chain or level (a new
    ``Pipeline`` entered or left, ``structlog.testing.capture_logs``). A call therefore costs one config read
    and structlog's own processor loop; a call below the level returns from structlog's no-op method.
    """

    __slots__ = ("name", "_cache")

    def __init__(self, name: str) -> None:
        self.name = name
        self._cache: tuple[Any, Any, Any] = (None, None, None)

    def _bound(self) -> Any:
        """The structlog logger bound to the current configuration (rebinds after ``structlog.configure``)."""
        config = structlog.get_config()
        procs, wrapper, bound = self._cache
        if procs is not config["processors"] or wrapper is not config["wrapper_class"]:
            bound = structlog.get_logger(self.name).bind()
            self._cache = (config["processors"], config["wrapper_class"], bound)
        return bound

    # --- typed events -------------------------------------------------------------------------------------

    def emit(self, event: Event, message: str = "", *, level: str = "info") -> None:
        """Emit a catalogue event: ``event`` is an instance of its declaration (its class names the event).

        Raises ``logging_pipeline.catalogue.EventError`` when a field does not match its declared type (a float
        for money, a naive datetime, an unknown ``Literal`` value) and ``KeyError`` for a class outside the
        catalogue — programming errors, caught by the tests before a malformed line can reach a log.
        """
        name = CATALOGUE.name_for(type(event))
        check(event)
        getattr(self._bound(), level)(name, message=message, **fields_of(event))

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
            stage_id=stage_id,
            icon=icon,
            title=title,
            lifecycle=lifecycle,
            symbol=symbol,
            position_id=position_id,
        )
        self.emit(fields, message=banner_title(stage_id, icon, title))

    def metric(self, name: str, value: Decimal | int, unit: str = "") -> None:
        """A named measurement (``metric`` event). ``value`` must be exact (``Decimal`` or ``int``)."""
        self.emit(
            Metric(name=name, value=Decimal(value), unit=unit), message=f"{name}={value}{unit and ' ' + unit}"
        )

    # --- plain log lines ----------------------------------------------------------------------------------

    def debug(self, message: str, **fields: Any) -> None:
        """A ``log.message`` at debug level; below the pipeline's level it costs about a microsecond."""
        if fields and not RESERVED_KEYS.isdisjoint(fields):
            _refuse(fields)
        self._bound().debug("log.message", message=message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        """A ``log.message`` at info level; extra ``fields`` are kept as JSON fields of the event.

        Raises ``TypeError`` when a field name is an envelope key (``seq``, ``ts``, …)."""
        if fields and not RESERVED_KEYS.isdisjoint(fields):
            _refuse(fields)
        self._bound().info("log.message", message=message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        if fields and not RESERVED_KEYS.isdisjoint(fields):
            _refuse(fields)
        self._bound().warning("log.message", message=message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        if fields and not RESERVED_KEYS.isdisjoint(fields):
            _refuse(fields)
        self._bound().error("log.message", message=message, **fields)

    def exception(self, message: str, **fields: Any) -> None:
        """An error ``log.message`` carrying the active exception as data: ``exc`` (the formatted traceback),
        ``exc_type`` and ``exc_message``."""
        if fields and not RESERVED_KEYS.isdisjoint(fields):
            _refuse(fields)
        self._bound().error("log.message", message=message, exc_info=True, **fields)


def banner_title(stage_id: str, icon: str, title: str) -> str:
    """The banner's middle line: ``"1. 📋 BTC • Opportunity Validation"``; a sub-stage id keeps its own dot
    (``"3.1 🔍 Pre-flight Checks"``)."""
    label = stage_id if "." in stage_id else f"{stage_id}."
    return " ".join(part for part in (label, icon, title) if part)


def _refuse(fields: dict[str, Any]) -> None:
    clash = RESERVED_KEYS.intersection(fields)
    raise TypeError(f"reserved event keys passed as fields: {sorted(clash)}")


def get_logger(name: str) -> UnifiedLogger:
    """Return a ``UnifiedLogger`` for ``name`` (dotted, e.g. ``"bot.executor"``)."""
    return UnifiedLogger(name)


__all__ = ["UnifiedLogger", "get_logger"]
