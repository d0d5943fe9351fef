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

from datetime import datetime
from decimal import Decimal
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import structlog
from pydantic import AwareDatetime, BaseModel

from logging_pipeline.events import CATALOGUE, EventFields, Lifecycle, Metric, StageChanged

#: Keys a caller cannot pass as free-form fields because the envelope owns them.
RESERVED_KEYS = frozenset({"v", "ts", "session_id", "seq", "level", "logger", "event", "category", "market_ts"})


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

    def emit(self, fields: EventFields, message: str = "", *, level: str = "info") -> None:
        """Emit a catalogue event. ``fields`` is an instance of its model (its class names the event).

        Raises ``KeyError`` if the model is not in the catalogue (a programming error, caught by tests).
        """
        name = CATALOGUE.name_for(type(fields))
        getattr(self._bound(), level)(name, message=message, **field_values(fields))

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


_SCALAR_TYPES = (str, int, float, bool, Decimal, datetime, AwareDatetime, type(None))


def _is_flat(model: type[BaseModel]) -> bool:
    """Whether every field of ``model`` holds a scalar (str, number, bool, datetime, a Literal, or None)."""
    for info in model.model_fields.values():
        origin = get_origin(info.annotation)
        if origin is Literal:
            continue
        if origin is Union or origin is UnionType:
            args = get_args(info.annotation)
        elif origin is None:
            args = (info.annotation,)
        else:  # list[...], dict[...]: nested values
            return False
        if not all(arg in _SCALAR_TYPES or get_origin(arg) is Literal for arg in args):
            return False
    return True


#: Catalogue models whose instances are read straight from ``__dict__`` (computed once, at import).
_FLAT_MODELS = frozenset(m for m in map(CATALOGUE.model_for, CATALOGUE.names()) if m is not None and _is_flat(m))


def field_values(fields: EventFields) -> dict[str, Any]:
    """The event fields of a model instance as a dict, ``None`` values left out (``model_dump(exclude_none=True)``
    semantics). A flat catalogue model (the hot market/funding events) is read straight from the validated
    instance (about 5× cheaper); a model with nested values or extra keys goes through ``model_dump``."""
    if type(fields) in _FLAT_MODELS and not fields.__pydantic_extra__:
        return {k: v for k, v in fields.__dict__.items() if v is not None}
    return fields.model_dump(exclude_none=True)


def get_logger(name: str) -> UnifiedLogger:
    """Return a ``UnifiedLogger`` for ``name`` (dotted, e.g. ``"bot.executor"``)."""
    return UnifiedLogger(name)


__all__ = ["UnifiedLogger", "field_values", "get_logger"]
