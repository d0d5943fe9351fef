"""arbdash: a structlog event pipeline, a live dashboard and a replayable history for trading bots.

The public API (``docs/integrating.md``):

* ``arbdash.session(...)`` — ``async with`` it around any asyncio bot: JSONL (and PostgreSQL, the control server,
  alerts when asked), the reducer and the live dashboard; it hands back the logger the bot calls
  (``arbdash.Session``);
* ``arbdash.events`` — the event catalogue (``PositionOpened``, ``OrderFilled``, ``FundingPayment`` …);
* ``arbdash.get_logger(name)`` — another logger inside a session.

The installed package holds the repository's folders as subpackages (``pyproject.toml``'s ``package-dir``):
``arbdash.helpers`` (the logger), ``arbdash.logging_pipeline`` (events, processors, sinks), ``arbdash.dashboard``
(reducer, renderers, replay sources), ``arbdash.control`` (server, commands, web page), ``arbdash.alerts``,
``arbdash.bot`` (the paper funding-arbitrage bot), ``arbdash.tools`` (``runbot``, ``arbtail``, benchmarks) and
``arbdash.sql`` (migrations). Nothing is installed under those names at top level.

Importing ``arbdash`` itself loads nothing: the names above are imported on first use, so the command lines
(``arbdash.tools.arbtail``) start as fast as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arbdash import events
    from arbdash.api import Session, session
    from arbdash.helpers.unified_logger import get_logger

__all__ = ["Session", "events", "get_logger", "session"]


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'arbdash' has no attribute {name!r}")
    module = importlib.import_module(where)
    globals()[name] = found = module if where.endswith(name) else getattr(module, name)
    return found


_LAZY = {
    "session": "arbdash.api",
    "Session": "arbdash.api",
    "events": "arbdash.events",
    "get_logger": "arbdash.helpers.unified_logger",
}
