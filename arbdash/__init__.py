"""arbdash: a structlog event pipeline, a live dashboard and a replayable history for trading bots.

The installed package holds the repository's folders as subpackages (``pyproject.toml``'s ``package-dir``):
``arbdash.helpers`` (the logger a bot calls), ``arbdash.logging_pipeline`` (events, processors, sinks),
``arbdash.dashboard`` (reducer, renderers, replay sources), ``arbdash.control`` (server, commands, web page),
``arbdash.alerts``, ``arbdash.bot`` (the paper funding-arbitrage bot), ``arbdash.tools`` (``runbot``,
``arbtail``, benchmarks) and ``arbdash.sql`` (migrations). Nothing is installed under those names at top level.
"""

from __future__ import annotations
