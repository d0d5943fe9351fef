"""``arbdash.session`` (defined here, in ``arbdash.api``): the pipeline, the sinks, the reducer and the dashboard around any asyncio program.

::

    async with arbdash.session("my-bot", venues=["binance", "bybit"], symbols=["BTC"],
                               max_positions=2, max_total_exposure_usd=10_000) as s:
        s.log.stage("1", "🔍", "Scanning")
        s.log.emit(MarkPrice(venue="binance", symbol="BTC", mark_price=..., index_price=...))
        ...

On entry: a JSONL file ``<log_dir>/<session_id>.jsonl`` (always), PostgreSQL when ``db`` is given, the control
server when ``serve`` is given, alerts when ``config`` has rules; structlog configured with the project's
processor chain (so ``structlog.get_logger()`` and the standard ``logging`` module land in the same record),
the dashboard drawn in ``dashboard`` mode, and ``session.started`` written from the arguments. On exit — the
block returns, raises or is cancelled — ``session.stopped`` (``completed``, ``crashed: <Error>``,
``interrupted``), the final frame and the line naming the JSONL; an exception or a cancellation then propagates
(the program decides what it means). The same machinery ``runbot`` runs (``tools.runbot_run.open_session``):
one composition, two callers.

Events: ``arbdash.events`` is the catalogue (``PositionOpened``, ``OrderFilled``, ``FundingPayment`` …;
``docs/integrating.md`` lists what the dashboard folds from each). Money, prices and quantities are ``Decimal``
instances (written as JSON strings; an ``int``, ``float`` or ``str`` is refused at the call), times aware UTC.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from arbdash.bot.config import DashboardConfig, LoggingConfig, ServerConfig, SessionConfig
from arbdash.control.address import parse_bind
from arbdash.dashboard.models import DashboardSnapshot
from arbdash.helpers.unified_logger import UnifiedLogger, get_logger
from arbdash.logging_pipeline.catalogue import check
from arbdash.logging_pipeline.events import SessionStarted
from arbdash.tools.runbot_cli import DashboardMode
from arbdash.tools.runbot_run import RunningSession, RunOptions, open_session

Mode = Literal["live", "plain", "silent", "off"]


@dataclass
class Session:
    """A running session. ``log``: the logger named after the bot (``stage`` banners, ``info`` …, ``metric``,
    ``emit(event)``); ``logger(name)`` another one (``"mybot.executor"``). ``session_id``, ``jsonl``: the record.
    After the block: ``code`` (0 completed, 1 crashed, 130 interrupted), ``reason``, ``frame`` (the final
    frame's text)."""

    log: UnifiedLogger
    _running: RunningSession

    @property
    def session_id(self) -> str:
        return self._running.session_id

    @property
    def jsonl(self) -> Path:
        return self._running.jsonl

    @property
    def code(self) -> int:
        return self._running.code

    @property
    def reason(self) -> str:
        return self._running.reason

    @property
    def frame(self) -> str:
        return self._running.frame

    def logger(self, name: str) -> UnifiedLogger:
        """A logger for one part of the bot (dotted ``name``, shown as the event's ``logger``)."""
        return get_logger(name)

    def snapshot(self) -> DashboardSnapshot:
        """The dashboard's snapshot now: every event the dashboard has folded (it folds on its refresh tick, so
        the last quarter-second's events may not be in it yet)."""
        return self._running.reducer.snapshot()


@contextlib.asynccontextmanager
async def session(
    name: str,
    *,
    venues: Sequence[str],
    symbols: Sequence[str],
    max_positions: int,
    max_total_exposure_usd: Decimal | int | str,
    target_margin: Decimal | int | str | None = None,
    version: str = "0",
    dry_run: bool = True,
    log_dir: str | Path | None = None,
    dashboard: Mode = "live",
    width: int | None = None,
    level: str = "INFO",
    db: str | None = None,
    serve: str | None = None,
    token: str | None = None,
    config: Mapping[str, Any] | SessionConfig | None = None,
    market_clock: Callable[[], datetime] | None = None,
    final_frame: str | Path | None = None,
) -> AsyncIterator[Session]:
    """Run the body inside an arbdash session (module docstring).

    ``name``: the bot (the header's strategy and the logger's name); ``venues`` / ``symbols``: what it trades;
    ``max_positions`` and ``max_total_exposure_usd`` (USD): the limits the portfolio pane measures headroom
    against; ``target_margin``: USD margin per leg, if the bot sizes that way. ``dashboard``: ``live`` (Rich,
    in place), ``plain`` (text frames), ``silent`` (no frames), ``off`` (log lines on stdout). ``log_dir``
    (default ``config``'s ``logging.log_dir``, ``logs``): where the JSONL goes. ``db``: a PostgreSQL DSN (its
    sink, opt-in). ``serve``: ``[HOST:]PORT`` of the control server (127.0.0.1 unless a host is given; a
    non-loopback host needs ``token``, which also enables commands). ``config``: the ``dashboard`` /
    ``logging`` / ``alerts`` blocks of a runbot YAML, as a mapping or ``SessionConfig``. ``market_clock``: the
    clock of the market the bot trades (each event's ``market_ts``; default none). ``final_frame``: also write
    the final frame to this file.

    Raises ``ValueError`` (pydantic's ``ValidationError`` and ``EventError`` among them) for bad arguments — a
    limit that is not a finite amount, a ``market_clock`` without a timezone — and
    ``tools.runbot_run.SessionSetupError`` (a ``ValueError``) when a sink or the server cannot start — before
    the body runs."""
    cfg = config if isinstance(config, SessionConfig) else SessionConfig.model_validate(dict(config or {}))
    cfg = _overridden(cfg, dashboard=dashboard, width=width, log_dir=log_dir, serve=serve, token=token)
    opts = RunOptions(
        config=cfg,
        config_path=None,
        mode=DashboardMode(dashboard),
        speed=None,
        log_dir=cfg.logging.log_dir,
        level=level.upper(),
        width=width,
        final_frame=Path(final_frame) if final_frame is not None else None,
        db=db,
        theme=cfg.dashboard.theme,
    )
    started = SessionStarted(
        strategy=name,
        strategy_version=version,
        dry_run=dry_run,
        venues=list(venues),
        symbols=list(symbols),
        max_positions=max_positions,
        max_total_exposure_usd=_usd(max_total_exposure_usd, "max_total_exposure_usd"),
        target_margin=_usd(target_margin, "target_margin") if target_margin is not None else None,
        market_start=market_clock() if market_clock is not None else None,
        host=socket.gethostname() or None,
    )
    check(started)  # EventError (a ValueError) before anything runs: a naive market clock, a bad name …
    async with open_session(opts, market_clock=market_clock, handle_signals=False, reraise=True) as running:
        log = get_logger(name)
        log.emit(started, message=f"Session started: {name} v{version} on {', '.join(venues)}")
        yield Session(log, running)


def _usd(value: Decimal | int | str, name: str) -> Decimal:
    """``value`` as a finite, non-negative ``Decimal`` (USD); ``ValueError`` naming ``name`` otherwise."""
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{name}: not a number: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{name}: expected a finite amount of USD ≥ 0, not {value!r}")
    return amount


def _overridden(
    cfg: SessionConfig,
    *,
    dashboard: Mode,
    width: int | None,
    log_dir: str | Path | None,
    serve: str | None,
    token: str | None,
) -> SessionConfig:
    """``cfg`` with the keyword arguments applied (they win over the mapping), validated as a whole."""
    board: dict[str, Any] = {"mode": dashboard}
    if width is not None:
        board["width"] = width
    if serve is not None:
        host, port = parse_bind(serve)
        current = cfg.dashboard.server
        board["server"] = ServerConfig(
            enabled=True,
            host=host or current.host,
            port=port,
            token=token if token is not None else current.token,
        )
    elif token is not None:
        board["server"] = cfg.dashboard.server.model_copy(update={"token": token})
    logging = cfg.logging if log_dir is None else cfg.logging.model_copy(update={"log_dir": Path(log_dir)})
    data = cfg.model_dump() | {
        "dashboard": DashboardConfig.model_validate(cfg.dashboard.model_dump() | board).model_dump(),
        "logging": LoggingConfig.model_validate(logging.model_dump()).model_dump(),
    }
    return SessionConfig.model_validate(data)
