"""Small structlog processors that turn a logger call into a schema-v1 event (before the tee).

Each is a plain callable ``(logger, method_name, event_dict) -> event_dict`` (structlog's processor protocol);
the chain is assembled as a list in ``logging_pipeline.pipeline``. ``seq`` is *not* assigned here (only its
slot in the record): the tee's dispatcher assigns it while it hands the event to the sinks, so file order and
``seq`` order can never disagree when several threads log at once. ``format_exception`` and the callsite run on
the caller's thread (they read its exception and its frames); ``AddEnvelope.build`` runs on the dispatcher.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from arbdash.logging_pipeline.catalogue import CATALOGUE
from arbdash.logging_pipeline.events import ENVELOPE_KEYS, SCHEMA_VERSION

EventDict = dict[str, Any]

#: structlog method names → schema levels.
_LEVELS = {
    "debug": "debug",
    "info": "info",
    "msg": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "exception": "error",
    "critical": "critical",
    "fatal": "critical",
}


#: The envelope keys (``seq`` is filled in by the tee).
_ENVELOPE = frozenset(ENVELOPE_KEYS)


class AddEnvelope:
    """Builds the schema-v1 record from a logger call: ``v``, ``ts`` (wall clock, aware UTC), ``session_id``,
    ``seq`` (a placeholder the tee fills in under its lock), ``level``, ``logger``, ``event``, ``category``,
    ``message``, ``market_ts`` (from ``market_clock`` when one is set: the simulated clock of the bot) and
    ``strategy`` (when the call has one, usually bound as a context variable by the runner), then the call's
    own fields — a *new* dict already in line order, so the tee only numbers and serialises it.

    A call made without the event name being a catalogue entry (``log.info("something happened")`` straight
    through structlog) becomes a ``log.message`` with that text as ``message``. A free-form field that clashes
    with an envelope key (possible only through raw structlog calls) is kept as ``field_<key>``.
    """

    __slots__ = ("session_id", "market_clock", "_resolved")

    def __init__(self, session_id: str, market_clock: Callable[[], datetime] | None = None) -> None:
        self.session_id = session_id
        self.market_clock = market_clock
        # (event, method) -> (level, category) for catalogue events: a bounded cache (catalogue × methods).
        self._resolved: dict[tuple[str, str], tuple[str, str]] = {}

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        market_ts = self.market_clock() if self.market_clock is not None else None
        return self.build(
            getattr(logger, "name", "") or "", method_name, event_dict, datetime.now(UTC), market_ts
        )

    def build(
        self,
        logger_name: str,
        method_name: str,
        event_dict: EventDict,
        ts: datetime,
        market_ts: datetime | None,
    ) -> EventDict:
        """The record for a call stamped earlier (the tee takes ``ts`` and ``market_ts`` on the caller's thread
        and builds the record on its dispatcher thread). A ``market_ts`` field of the call wins."""
        event = event_dict.pop("event", "log.message")
        message = event_dict.pop("message", "")
        try:
            level, category = self._resolved[event, method_name]
        except (KeyError, TypeError):
            level = _LEVELS.get(method_name, "info")
            if isinstance(event, str) and event in CATALOGUE:
                category = CATALOGUE.category_for(event, level)
                self._resolved[event, method_name] = (level, category)
            else:
                message = message or str(event)
                event = "log.message"
                category = CATALOGUE.category_for(event, level)
        explicit = event_dict.pop("market_ts", None)
        if explicit is not None:
            market_ts = explicit
        strategy = event_dict.pop("strategy", None)  # bound by the runner (context variables) or given
        record: EventDict = {
            "v": SCHEMA_VERSION,
            "ts": ts,
            "session_id": self.session_id,
            "seq": 0,
            "level": level,
            "logger": logger_name,
            "event": event,
            "category": category,
            "message": message,
        }
        if market_ts is not None:
            record["market_ts"] = market_ts
        if strategy is not None:
            record["strategy"] = strategy
        if event_dict:
            if not _ENVELOPE.isdisjoint(event_dict):
                for key in _ENVELOPE.intersection(event_dict):
                    event_dict[f"field_{key}"] = event_dict.pop(key)
            record.update(event_dict)
        return record


def format_exception(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Turns ``exc_info`` into data, printed once by the sinks: ``exc`` (the formatted traceback, for the JSONL
    and the console), ``exc_type`` (qualified class name) and ``exc_message`` (``str(exc)``, first line — what
    the dashboard's timeline shows)."""
    if "exc_info" not in event_dict:
        return event_dict
    exc_info = event_dict.pop("exc_info")
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if exc_info and exc_info[0] is not None:
        exc_type, exc, tb = exc_info
        event_dict["exc"] = "".join(traceback.format_exception(exc_type, exc, tb)).rstrip()
        name = exc_type.__qualname__
        module = getattr(exc_type, "__module__", "builtins")
        event_dict["exc_type"] = name if module in ("builtins", "__main__") else f"{module}.{name}"
        text = str(exc) if exc is not None else ""
        event_dict["exc_message"] = (text.splitlines() or [""])[0][:500]
    return event_dict


def callsite_to_src(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Folds structlog's ``module``/``func_name``/``lineno`` callsite keys into one ``src`` field
    (``"module:function:line"``) used by the human console line (``--dashboard-mode=off``)."""
    module = event_dict.pop("module", None)
    func = event_dict.pop("func_name", None)
    line = event_dict.pop("lineno", None)
    if module is not None:
        event_dict["src"] = f"{module}:{func}:{line}"
    return event_dict
