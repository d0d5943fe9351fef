"""``arbtail export PATH --svg FILE / --html FILE``: save a frame of a log as an image or a web page for sharing;
``arbtail export SESSION --db DSN --svg FILE`` does the same for a session in PostgreSQL (any ``ReplaySource``).

The frame is drawn by the Rich renderer into a recording console (``Console(record=True)``) and saved with
Rich's own ``save_svg`` / ``save_html``; log text stays inert (the renderer shows it as ``Text``, never markup).
``--at`` picks the moment (as ``arbtail --at``). Without ``--svg``/``--html`` the command is the PostgreSQL
session export registered before it (``tools.pg_admin``: ``arbtail export SESSION --db DSN [-o FILE]``), so
both uses share the one name; a target that names a log (an existing path, or a ``.jsonl`` name) without
``--svg``/``--html`` is told to give them rather than sent to the database.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arbdash.dashboard.sources.protocol import SourceError
from arbdash.dashboard.timeaxis import ClockName, parse_time

if TYPE_CHECKING:
    from arbdash.dashboard.sources.protocol import ReplaySource
    from arbdash.dashboard.timeaxis import Clock


async def export_frame(
    source: ReplaySource,
    *,
    svg: Path | None,
    html: Path | None,
    width: int = 160,
    timeline: int = 20,
    at: datetime | None = None,
    clock: Clock = "market",
) -> None:
    """Draw the frame of ``source`` (a log or a PostgreSQL session; at ``at``, an aware datetime on ``clock``, or
    its end) and save it. A session without market times is travelled by the wall clock (notice on stderr).
    Raises ``SourceError`` for an unreadable source or one with no event (at or before ``at``) and ``OSError``
    (with ``filename`` set) when an output file cannot be written."""
    from rich.console import Console

    from arbdash.dashboard.reducer import Reducer
    from arbdash.dashboard.render_rich import build_frame

    async with source:
        reducer = Reducer(timeline_size=timeline, session=source.session)
        if at is not None:
            clock, notice = await source.time_axis(clock)
            if notice:
                typer.echo(f"arbtail: {notice}", err=True)
        await source.load(reducer, until=at, clock=clock)
    if reducer.state.stats.applied == 0:
        when = f" at or before {at.isoformat()} on the {clock} clock" if at is not None else ""
        raise SourceError(f"{source.label}: no event{when} to draw")
    console = Console(
        record=True, width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor"
    )
    console.print(build_frame(reducer.snapshot()))
    title = f"arbtail {Path(source.label).name}"
    if svg is not None:
        console.save_svg(str(svg), title=title, clear=html is None)
    if html is not None:
        console.save_html(str(html))


def names_a_log(target: str) -> bool:
    """Whether ``target`` is meant as a log file rather than a database session (a UUID, a prefix or
    ``latest``): an existing path, or a name with a ``.jsonl`` suffix (``x.jsonl``, ``x.jsonl.1``,
    ``x.jsonl.gz``)."""
    path = Path(target)
    return ".jsonl" in path.suffixes or path.exists()


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``, wrapping an ``export`` command already registered there (the PostgreSQL one)."""
    previous: Callable[..., Any] | None = None
    for info in list(app.registered_commands):
        if info.name == "export":
            previous = info.callback
            app.registered_commands.remove(info)

    @app.command("export")
    def export_cmd(
        ctx: typer.Context,
        target: Annotated[
            str,
            typer.Argument(
                metavar="FILE", help="Session log (.jsonl), or a DB session (id, prefix, latest) with --db."
            ),
        ],
        svg: Annotated[
            Path | None, typer.Option("--svg", metavar="FILE", help="Save the frame as SVG to this file.")
        ] = None,
        html: Annotated[
            Path | None, typer.Option("--html", metavar="FILE", help="Save the frame as HTML to this file.")
        ] = None,
        width: Annotated[
            int, typer.Option("--width", metavar="COLUMNS", min=40, help="Frame width in columns.")
        ] = 160,
        at: Annotated[
            str | None, typer.Option("--at", metavar="TIME", help="The frame at this time (ISO 8601, UTC).")
        ] = None,
        clock: Annotated[
            ClockName, typer.Option("--clock", help="Time axis of --at: 'market' (market_ts) or 'wall' (ts).")
        ] = ClockName.market,
        db: Annotated[
            str | None,
            typer.Option(
                "--db",
                metavar="DSN",
                envvar="ARBDASH_DATABASE_URL",
                show_default=False,
                help="PostgreSQL DSN: TARGET is a session; without --svg/--html it is written back as JSONL.",
            ),
        ] = None,
        output: Annotated[
            Path | None,
            typer.Option("--output", "-o", metavar="FILE", help="DB export: file (default stdout)."),
        ] = None,
    ) -> None:
        """Save a frame of a log as SVG/HTML (--svg/--html), or write a DB session back as JSONL (--db)."""
        if svg is None and html is None:
            if previous is None or names_a_log(target):
                typer.echo(
                    "arbtail: give --svg FILE and/or --html FILE to save a frame of a log (export without "
                    "them writes a PostgreSQL session as JSONL: --db DSN)",
                    err=True,
                )
                raise typer.Exit(2)
            previous(ctx=ctx, session=target, db=db, output=output)
            return
        try:
            when = parse_time(at)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--at") from None
        try:
            asyncio.run(
                export_frame(_source(target, db), svg=svg, html=html, width=width, at=when, clock=clock.value)
            )
        except SourceError as exc:
            typer.echo(f"arbtail: {exc}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename is not None else ""
            typer.echo(f"arbtail: cannot write{where}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        for f in (svg, html):
            if f is not None:
                typer.echo(f"wrote {f}", err=True)


def _source(target: str, db: str | None) -> ReplaySource:
    """The log at ``target``, or — with ``db`` and a target that does not name a log — that session in
    PostgreSQL."""
    if db and not names_a_log(target):
        from arbdash.dashboard.sources.postgres import PostgresSource

        return PostgresSource(db, target)
    from arbdash.dashboard.sources.file_source import JsonlSource

    return JsonlSource(Path(target))
