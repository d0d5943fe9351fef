"""``runbot``: run the funding-arbitrage bot with its event pipeline and dashboard.

    runbot --config configs/funding_arb_paper.yml                     # live dashboard (plain when not a TTY)
    runbot --config configs/funding_arb_paper.yml --speed 0 --dashboard-mode=plain
    runbot --config configs/funding_arb_paper.yml --dashboard-mode=off # the classic console log
    runbot --config configs/funding_arb_paper.yml --serve 8765         # + the read-only API on 127.0.0.1:8765

The command line only: options, the config check and the checks of where logs go, before anything starts. The
session itself — sinks, pipeline, dashboard, the bot, the close on every exit path — is ``tools.runbot_run``,
imported when a run begins, so ``runbot --help`` answers at once.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from arbdash.tools.command_cli import register as register_command_cli
from arbdash.tools.pg_cli import register_commands as register_pg_commands

if TYPE_CHECKING:
    from arbdash.bot.config import BotConfig

#: The config that runs out of the box (named in the message when ``--config`` is missing).
EXAMPLE_CONFIG = "configs/funding_arb_paper.yml"


class ThemeName(str, Enum):
    """``--theme``: the live dashboard's colours (``dashboard.theme``)."""

    dark = "dark"
    light = "light"
    none = "none"


class DashboardMode(str, Enum):
    live = "live"
    plain = "plain"
    silent = "silent"
    off = "off"


app = typer.Typer(add_completion=False, rich_markup_mode=None, help="Run the arbdash funding-arbitrage bot.")


def _parse_speed(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        speed = Decimal(value)
    except InvalidOperation as exc:
        raise typer.BadParameter(f"not a number: {value!r}") from exc
    if speed < 0 or not speed.is_finite():
        raise typer.BadParameter(
            "speed must be ≥ 0 (market seconds per wall second; 0 = as fast as possible)"
        )
    return speed


@app.callback(invoke_without_command=True)
def runbot(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            show_default=False,
            help="Bot config (YAML), required to run the bot, e.g. configs/funding_arb_paper.yml.",
        ),
    ] = None,
    dashboard_mode: Annotated[
        DashboardMode | None,
        typer.Option(
            "--dashboard-mode", help="live | plain | silent | off (overrides the config's dashboard.mode)."
        ),
    ] = None,
    theme: Annotated[
        ThemeName | None,
        typer.Option(
            "--theme",
            help="Colours of the live dashboard: dark | light | none (overrides dashboard.theme; NO_COLOR in "
            "the environment means none).",
        ),
    ] = None,
    speed: Annotated[
        str | None, typer.Option("--speed", help="Market seconds per wall second (0 = as fast as possible).")
    ] = None,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="Where the session JSONL goes.")] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", envvar="LOG_LEVEL", help="DEBUG | INFO | WARNING | ERROR.")
    ] = None,
    width: Annotated[int | None, typer.Option("--width", min=40, help="Dashboard width in columns.")] = None,
    final_frame: Annotated[
        Path | None,
        typer.Option("--final-frame", help="Also write the final frame as plain text to this file."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="DSN",
            envvar="ARBDASH_DATABASE_URL",
            show_default=False,
            help="PostgreSQL DSN: record the session there (overrides dashboard.persistence.dsn and enables "
            "persistence). ARBDASH_DATABASE_URL means the same, as for arbtail.",
        ),
    ] = None,
    dashboard_replay: Annotated[
        str | None,
        typer.Option(
            "--dashboard-replay", help="Draw session ID (or prefix, or 'latest') from PostgreSQL and exit."
        ),
    ] = None,
    serve: Annotated[
        str | None,
        typer.Option(
            "--serve",
            metavar="[HOST:]PORT",
            show_default=False,
            help="Serve the control API and web page (/, /api/snapshot, /api/stream, /api/commands, /metrics) "
            "on HOST:PORT (HOST defaults to dashboard.server.host, 127.0.0.1; port 0 picks a free one). "
            "Commands and a HOST that is not loopback need a token: dashboard.server.token or $ARBDASH_TOKEN.",
        ),
    ] = None,
) -> None:
    """Run the bot (when no sub-command is given)."""
    if ctx.invoked_subcommand is not None:
        return
    if dashboard_replay is not None and (db or config is None):
        _replay_from_db(db, dashboard_replay, width)  # no config needed when the DSN is given
        return
    if config is None:  # a trading bot never picks its parameters by itself
        typer.echo(
            f"runbot: --config FILE is required (the shipped example: runbot --config {EXAMPLE_CONFIG})",
            err=True,
        )
        raise typer.Exit(2)
    from arbdash.bot.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:  # one line per problem, each in the house style
        typer.echo("\n".join(f"runbot: {line}" for line in str(exc).splitlines()), err=True)
        raise typer.Exit(2) from exc
    if dashboard_replay is not None:
        _replay_from_db(cfg.dashboard.persistence.dsn, dashboard_replay, width)
        return
    if serve is not None:
        cfg = with_server(cfg, serve)
    mode = dashboard_mode or DashboardMode(cfg.dashboard.mode)
    if mode == DashboardMode.live and not _rich_importable():
        mode = DashboardMode.plain  # seed §6.5: a plain-text dashboard, said once
    if mode == DashboardMode.live and not sys.stdout.isatty():
        mode = DashboardMode.plain
    level = (log_level or cfg.logging.level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise typer.BadParameter(f"unknown log level {level!r}", param_hint="--log-level")
    log_dir = log_dir or Path(cfg.logging.log_dir)
    try:
        check_log_dir(log_dir)
    except OSError as exc:
        typer.echo(f"runbot: cannot write logs to {log_dir}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    if final_frame is not None:
        try:
            check_writable_file(final_frame)
        except OSError as exc:
            typer.echo(f"runbot: cannot write --final-frame {final_frame}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
    import asyncio

    from arbdash.tools.runbot_run import RunOptions, run_session

    opts = RunOptions(
        config=cfg,
        config_path=config,
        mode=mode,
        speed=_parse_speed(speed),
        log_dir=log_dir,
        level=level,
        width=width or cfg.dashboard.width,
        final_frame=final_frame,
        db=db,
        theme=theme.value if theme is not None else cfg.dashboard.theme,
    )
    try:
        code = asyncio.run(run_session(opts))
    except (KeyboardInterrupt, asyncio.CancelledError):  # a signal before the bot started (session not open)
        code = 130
    raise typer.Exit(code)


def with_server(cfg: BotConfig, serve: str) -> BotConfig:
    """``cfg`` with ``--serve [HOST:]PORT`` applied: ``dashboard.server`` enabled on that address (the host
    defaults to the configured one), checked by the config's own rule (``bot.config.ServerConfig``: a host that
    is not loopback needs the config's token). A bad address or a refused one exits with code 2."""
    from pydantic import ValidationError

    from arbdash.bot.config import ServerConfig
    from arbdash.control.address import parse_bind

    try:
        host, port = parse_bind(serve)
    except ValueError as exc:
        typer.echo(f"runbot: --serve {exc}", err=True)
        raise typer.Exit(2) from None
    current = cfg.dashboard.server
    try:
        server = ServerConfig(enabled=True, host=host or current.host, port=port, token=current.token)
    except ValidationError as exc:
        why = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        typer.echo(f"runbot: --serve {serve}: {why}", err=True)
        raise typer.Exit(2) from None
    return cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(update={"server": server})})


def _rich_importable() -> bool:
    """Whether Rich (the live dashboard's renderer) can be imported; if not, one warning line on stderr."""
    try:
        import rich  # noqa: F401
    except ImportError as exc:
        typer.echo(
            f"runbot: warning: the live dashboard needs Rich ({exc}); plain text output instead", err=True
        )
        return False
    return True


def check_log_dir(path: Path) -> None:
    """Make sure the session's logs can be written to directory ``path`` before anything starts: create it (with
    parents) if missing, then create and delete a probe file in it. Raises ``OSError`` (e.g. read-only or
    pseudo file system, permission denied, a file in the way) with the operating system's reason."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path))
    path.mkdir(parents=True, exist_ok=True)
    _probe(path)


def _probe(directory: Path) -> None:
    """Create and delete a file in ``directory``. Raises ``OSError`` when that cannot be done."""
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".runbot-probe-"):
        pass


def check_writable_file(path: Path) -> None:
    """Make sure ``path`` can be written at the end of the run (``--final-frame``): its directory exists and takes
    a probe file, and ``path`` is not a directory. Raises ``OSError`` with the operating system's reason."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(parent))
    _probe(parent)


def _replay_from_db(dsn: str | None, session: str, width: int | None) -> None:
    """``--dashboard-replay``: the session's dashboard from PostgreSQL (final frame; live view on a TTY)."""
    from arbdash.dashboard.sources.postgres import PostgresSource
    from arbdash.dashboard.sources.protocol import SourceError
    from arbdash.logging_pipeline.postgres.dsn import redact, resolve_dsn
    from arbdash.tools.arbtail_view import run_show

    dsn = resolve_dsn(dsn)
    if not dsn:
        typer.echo(
            "runbot: --dashboard-replay needs --db DSN, dashboard.persistence.dsn or ARBDASH_DATABASE_URL",
            err=True,
        )
        raise typer.Exit(2)
    try:
        run_show(PostgresSource(dsn, session), width=width)
    except SourceError as exc:
        typer.echo(f"runbot: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - asyncpg errors: one redacted line
        typer.echo(f"runbot: {redact(f'{type(exc).__name__}: {exc}', dsn)}", err=True)
        raise typer.Exit(2) from None


register_pg_commands(app)  # runbot db-upgrade | sessions | prune | export | import (tools/pg_cli.py)
register_command_cli(app)  # runbot command pause-entries | close-position … (tools/command_cli.py)


def main() -> None:
    """Console-script entry point (``runbot``). Ctrl-C before the session has opened (while Python loads the
    bot) ends it with one line and exit code 130, never a traceback."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("runbot: interrupted before the session started\n")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
