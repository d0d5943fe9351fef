"""Small structlog processors that turn a logger call into a schema-v1 event (before the tee).

Each is a plain callable ``(logger, method_name, event_dict) -> event_dict`` (structlog's processor protocol);
the chain is assembled as a list in ``logging_pipeline.pipeline``. ``seq`` is *not* assigned here: the tee
assigns it under the same lock that writes the event, so file order and ``seq`` order can never disagree
when several threads log at once.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from logging_pipeline.events import CATALOGUE, SCHEMA_VERSION

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


class AddEnvelope:
    """Adds ``v``, ``ts`` (wall clock, aware UTC), ``session_id``, ``level``, ``logger``, ``category`` and
    ``market_ts`` (from ``market_clock`` when one is set; the simulated clock of the bot).

    A call made without the event name being a catalogue entry (``log.info("something happened")`` straight
    through structlog) becomes a ``log.message`` with that text as ``message``.
    """

    def __init__(self, session_id: str, market_clock: Callable[[], datetime] | None = None) -> None:
        self.session_id = session_id
        self.market_clock = market_clock

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        level = _LEVELS.get(method_name, "info")
        event = event_dict.get("event", "log.message")
        if event not in CATALOGUE:
            event_dict.setdefault("message", str(event))
            event = "log.message"
        event_dict["event"] = event
        event_dict["v"] = SCHEMA_VERSION
        event_dict["ts"] = datetime.now(UTC)
        event_dict["session_id"] = self.session_id
        event_dict["level"] = level
        event_dict["logger"] = getattr(logger, "name", "") or ""
        event_dict["category"] = CATALOGUE.category_for(event, level)
        if self.market_clock is not None and "market_ts" not in event_dict:
            event_dict["market_ts"] = self.market_clock()
        return event_dict


def format_exception(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Turns ``exc_info`` into one ``exc`` string field (the formatted traceback), printed once by sinks."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        import sys

        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if exc_info and exc_info[0] is not None:
        event_dict["exc"] = "".join(traceback.format_exception(*exc_info)).rstrip()
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
