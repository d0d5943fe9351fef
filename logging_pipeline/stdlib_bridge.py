"""Routes stdlib ``logging`` records (third-party libraries: asyncio, asyncpg, …) into the event stream.

Each record becomes a ``log.message`` event with the record's logger name, level and message, and its
traceback (if any) in ``exc`` — the same processors, sinks and dashboard as the bot's own lines.
"""

from __future__ import annotations

import logging
import threading

import structlog

_METHODS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error"}


class StructlogBridgeHandler(logging.Handler):
    """A ``logging.Handler`` that re-emits records through structlog. Re-entrant calls (a sink that itself
    logs through stdlib) are dropped rather than recursing."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "active", False):
            return
        self._busy.active = True
        try:
            method = _METHODS.get(record.levelno, "critical" if record.levelno > logging.ERROR else "info")
            kwargs = {"message": record.getMessage()}
            if record.exc_info and record.exc_info[0] is not None:
                kwargs["exc_info"] = record.exc_info
            getattr(structlog.get_logger(record.name), method)("log.message", **kwargs)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
        finally:
            self._busy.active = False


def install(level: int) -> tuple[StructlogBridgeHandler, int, list[logging.Handler]]:
    """Replace the root logger's handlers with the bridge. Returns what ``uninstall`` needs to restore."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    handler = StructlogBridgeHandler()
    root.handlers = [handler]
    root.setLevel(level)
    return handler, saved[0], saved[1]


def uninstall(state: tuple[StructlogBridgeHandler, int, list[logging.Handler]]) -> None:
    """Undo ``install``."""
    _, level, handlers = state
    root = logging.getLogger()
    root.handlers = handlers
    root.setLevel(level)
