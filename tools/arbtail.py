"""``arbtail``: the dashboard drawn from a session's event log instead of a running bot.

    arbtail logs/<session>.jsonl             # the file's final state, one frame (colour on a terminal)
    arbtail logs/<session>.jsonl --follow    # keep drawing as the file grows (like tail -F)
    arbtail logs/<session>.jsonl --once --width 120   # print one frame as plain text and exit 0
    arbtail logs/<session>.jsonl --at 2026-03-01T12:00Z --once       # the state at a moment (market time)
    arbtail logs/<session>.jsonl --from 12:00Z... --to ... --speed 60 # play a stretch back at 60x
        # keys while it plays (interactive terminal; --no-keys turns them off): space pause/resume,
        # n or → step one event, j skip 10 s of playback, + / - double / halve the speed, q quit
    arbtail --db DSN --session ID [--follow | --at T | --from T --to T --speed N]   # a PostgreSQL session, the same
    arbtail grep|stats|export logs/<session>.jsonl ...                # see tools/arbtail_{grep,stats,export}.py
    arbtail serve logs/<session>.jsonl | --db DSN [--session ID] [--port 0]   # the HTTP API over it (arbtail_serve)

Every source — a file, a rotated set, a PostgreSQL session — is a ``dashboard.sources.protocol.ReplaySource`` drawn
by the one view module (``tools.arbtail_view``). The same reducer and renderer as ``runbot`` uses, so the last
frame equals the bot's own. Bad lines in the file
are counted and shown in the session pane; an unreadable path is a clear message and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from arbdash.dashboard.sources.protocol import SourceError
from arbdash.dashboard.timeaxis import ClockName
from arbdash.tools.arbtail_export import register as register_export
from arbdash.tools.arbtail_grep import register as register_grep
from arbdash.tools.arbtail_stats import register as register_stats
from arbdash.tools.pg_cli import register_commands as register_pg_commands


class DefaultCommandGroup(TyperGroup):
    """Runs the ``show`` command when the first argument is not a sub-command (``arbtail FILE`` ==
    ``arbtail show FILE``), so sub-commands (``stats``, ``grep``, ``export``, ``sessions``…) can coexist with the
    short form."""

    default_command = "show"

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        args = _hoist_command(args, self.commands)
        if (
            args
            and args[0] not in self.commands
            and args[0] not in ("--help", "-h", "--install-completion", "--show-completion")
        ):
            args = [self.default_command, *args]
        elif not args:
            args = [self.default_command]
        return super().parse_args(ctx, args)


def _hoist_command(args: list[str], commands: dict[str, object]) -> list[str]:
    """``arbtail --db DSN sessions`` → ``arbtail sessions --db DSN`` (``--db`` may precede a sub-command)."""
    i = 0
    while i < len(args) and (args[i] == "--db" or args[i].startswith("--db=")):
        i += 1 if "=" in args[i] else 2
    if 0 < i < len(args) and args[i] in commands:
        return [args[i], *args[:i], *args[i + 1 :]]
    return args


app = typer.Typer(
    cls=DefaultCommandGroup,
    add_completion=False,
    no_args_is_help=False,
    help=(
        "Draw the arbdash dashboard from a session's JSONL log (or PostgreSQL).\n\n"
        "arbtail FILE.jsonl [--follow | --once --width N | --at TIME]  is short for  arbtail show FILE.jsonl ….\n\n"
        "arbtail --db DSN --session ID [--follow]  draws a session stored in PostgreSQL."
    ),
    rich_markup_mode=None,
)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"arbtail: {message}", err=True)
    raise typer.Exit(code)


@app.command("show")
def show(
    path: Annotated[Path | None, typer.Argument(metavar="FILE", help="Session log (.jsonl) to draw.")] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep reading as the file grows. Keys on a terminal: space "
            "freezes / unfreezes the drawing, q quits.",
        ),
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="Print one frame as plain text and exit.")] = False,
    width: Annotated[
        int | None, typer.Option("--width", metavar="COLUMNS", min=40, help="Frame width in columns.")
    ] = None,
    timeline: Annotated[
        int, typer.Option("--timeline", metavar="ROWS", min=1, help="Timeline rows to keep.")
    ] = 20,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="DSN",
            envvar="ARBDASH_DATABASE_URL",
            show_default=False,
            help="Read from PostgreSQL (DSN) instead of a file; with --session.",
        ),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            metavar="ID",
            help="Which session: in --db an id, a unique prefix or 'latest'; in a log holding several "
            "(cat a.jsonl b.jsonl) an id or a unique prefix (default: the log's last session).",
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", metavar="TIME", help="The state at this time (ISO 8601, UTC).")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", metavar="TIME", help="Playback start (ISO 8601, UTC); with --speed."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", metavar="TIME", help="Stop at this time (ISO 8601, UTC).")
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed",
            metavar="N",
            min=0.001,
            help="Play the events back at N x their pace on --clock (market: N market seconds per second). "
            "Keys on a terminal: space pause/resume, "
            "n or right arrow step one event, j skip 10 s of playback, + / - double / halve the speed, q quit.",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Replay every line (no start from the last checkpoint).")
    ] = False,
    poll: Annotated[
        float,
        typer.Option(
            "--poll",
            metavar="SECONDS",
            min=0.01,
            help="--follow: re-check the file (or the session) every N s.",
        ),
    ] = 0.5,
    clock: Annotated[
        ClockName,
        typer.Option(
            "--clock",
            help="Time axis of --at/--from/--to/--speed: 'market' (market_ts; for a paper run the "
            "replayed history) or 'wall' (when the bot logged each event, ts).",
        ),
    ] = ClockName.market,
    theme: Annotated[
        str,
        typer.Option(
            "--theme",
            metavar="THEME",
            help="Colours on a terminal: dark | light | none (NO_COLOR in the environment means none).",
        ),
    ] = "dark",
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            metavar="NAME",
            help="Focus on one strategy instance of the session: its positions, closed positions, funding "
            "accruals and timeline only (the session, strategies and portfolio panes stay whole).",
        ),
    ] = None,
    no_keys: Annotated[
        bool,
        typer.Option(
            "--no-keys",
            help="Do not read keys (--speed: space/n/j/+/-/q; --follow: space/q); "
            "the terminal's input mode is left alone.",
        ),
    ] = False,
) -> None:
    """Show the dashboard for PATH (or for --session in --db): one session, the log's last unless --session."""
    from arbdash.dashboard.timeaxis import parse_time

    in_db = path is None and (session is not None or bool(db))
    conflict = _conflict(once=once, follow=follow, at=at, start=start, end=end, speed=speed)
    if theme not in ("dark", "light", "none"):
        conflict = f"--theme {theme}: use dark, light or none"
    if conflict:
        _fail(conflict)
        return
    if not in_db and path is None:
        _fail("missing PATH (a session .jsonl file); see arbtail --help")
        return
    if in_db and not db:
        _fail("--session needs --db DSN (or ARBDASH_DATABASE_URL)")
        return
    try:
        times = [parse_time(x) for x in (at, start, end)]
    except ValueError as exc:
        _fail(str(exc))
        return
    if times[1] is not None and times[2] is not None and times[1] > times[2]:
        _fail(f"--from {start} is after --to {end}")
        return
    _run_show(
        path,
        db if in_db else None,
        session,
        follow=follow,
        once=once,
        width=width,
        timeline=timeline,
        at=times[0],
        start=times[1],
        end=times[2],
        speed=speed,
        seek=not full,
        keys=not no_keys,
        clock=clock.value,
        poll_s=poll,
        theme=theme,
        strategy=strategy,
    )


def _conflict(
    *,
    once: bool,
    follow: bool,
    at: str | None,
    start: str | None,
    end: str | None,
    speed: float | None,
) -> str | None:
    """The first combination of ``show`` options that cannot mean anything together, as a message."""
    past = at or start or end or speed is not None
    if once and follow:
        return "--once prints one frame and --follow keeps drawing: choose one"
    if once and speed is not None:
        return "--speed plays the log back and --once prints one frame: choose one"
    if follow and past:
        return "--follow draws the log as it grows; --at/--from/--to/--speed look at its past: choose one"
    if at and end:
        return "--at is the state at one moment and --to ends a playback: give one"
    if start and speed is None:
        return "--from starts a playback: add --speed N (or use --at TIME for the state at a moment)"
    return None


def _run_show(path: Path | None, db: str | None, session: str | None, *, poll_s: float, **kw: object) -> None:
    """``tools.arbtail_view.run_show`` on the log at ``path`` or, with ``db``, on ``session`` in PostgreSQL;
    a source that cannot be read is one line on stderr and exit 2 (a database error with its password
    redacted)."""
    from arbdash.tools.arbtail_view import run_show

    if db is None:
        from arbdash.dashboard.sources.file_source import JsonlSource

        assert path is not None
        try:
            run_show(JsonlSource(path, session=session, poll_s=poll_s), **kw)
        except SourceError as exc:
            _fail(str(exc))
        return
    from arbdash.dashboard.sources.postgres import PostgresSource
    from arbdash.logging_pipeline.postgres.dsn import redact

    try:
        run_show(PostgresSource(db, session or "latest", poll_s=poll_s), **kw)
    except SourceError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - asyncpg errors: one redacted line, exit 2
        _fail(redact(f"{type(exc).__name__}: {exc}", db))


@app.command("serve")
def serve(
    path: Annotated[
        Path | None, typer.Argument(metavar="FILE", help="Session log (.jsonl) to serve (or --db).")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="DSN",
            envvar="ARBDASH_DATABASE_URL",
            show_default=False,
            help="Serve PostgreSQL instead of a file: every session (/api/sessions, ?session=ID), or --session.",
        ),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option("--session", metavar="ID", help="Serve only this session (an id or a unique prefix)."),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Listen here; not loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="0 picks a free port.")
    ] = 8765,
    token_env: Annotated[
        str,
        typer.Option(
            "--token-env",
            metavar="NAME",
            help="Environment variable holding the bearer token (required beyond loopback; used when set).",
        ),
    ] = "ARBDASH_TOKEN",
    poll: Annotated[
        float, typer.Option("--poll", metavar="SECONDS", min=0.01, help="Re-check the source every N s.")
    ] = 0.5,
) -> None:
    """Serve the control API (read-only) over a session: /api/snapshot (?at=TIME), /api/events, /api/stream."""
    if path is None and not db:
        _fail("serve: give FILE (a session .jsonl) or --db DSN")
    if path is not None and db:
        _fail("serve: give FILE or --db DSN, not both")
    from arbdash.tools.arbtail_serve import run_serve

    code = run_serve(path, db or None, session, host=host, port=port, token_env=token_env, poll_s=poll)
    if code:
        raise typer.Exit(code)


register_pg_commands(app)  # db-upgrade, sessions, prune, export, import (tools/pg_cli.py)
register_grep(app)  # tools/arbtail_grep.py
register_stats(app)  # tools/arbtail_stats.py
register_export(app)  # tools/arbtail_export.py (--svg/--html; wraps the DB export above)


def main() -> None:
    """Console-script entry point. Ctrl-C while arbtail loads (before a view is up) is one line and exit 130,
    never a traceback; a view ends quietly on Ctrl-C (``tools.arbtail_view.run_show``)."""
    try:
        app()
    except KeyboardInterrupt:
        import sys

        sys.stderr.write("arbtail: interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
