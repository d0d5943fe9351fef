"""The PostgreSQL commands of ``arbtail`` and ``runbot``: ``db-upgrade``, ``sessions``, ``prune``, ``export``,
``import`` (the work is ``tools.pg_admin``, imported only when one of them runs, so ``--help`` starts at once).

Each command takes ``--db`` (or ``$ARBDASH_DATABASE_URL``, or a ``db`` value the parent command put in
``ctx.obj``). An error prints ``<prog>: <message>`` (redacted: the DSN's password never reaches the terminal) on
stderr and exits 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", metavar="DSN", envvar="ARBDASH_DATABASE_URL", help="PostgreSQL DSN.", show_default=False
    ),
]


def _dsn_from(ctx: Any, db: str | None) -> str:
    """``--db``, else the parent command's ``db``, else ``$ARBDASH_DATABASE_URL``. Raises ``PgAdminError``."""
    from arbdash.logging_pipeline.postgres.dsn import resolve_dsn
    from arbdash.tools.pg_admin import PgAdminError

    obj = getattr(ctx, "obj", None)
    parent_db = obj.get("db") if isinstance(obj, dict) else None
    dsn = resolve_dsn(db or parent_db)
    if not dsn:
        raise PgAdminError("no database: pass --db DSN or set ARBDASH_DATABASE_URL")
    return dsn


def _run(ctx: typer.Context, db: str | None, coro_fn: Callable[[str], Awaitable[Any]]) -> Any:
    """``coro_fn(dsn)`` to its end; any failure is one redacted line on stderr and exit 2."""
    import asyncio

    from arbdash.logging_pipeline.postgres.dsn import redact
    from arbdash.tools.pg_admin import PgAdminError

    try:
        dsn = _dsn_from(ctx, db)
        try:
            return asyncio.run(coro_fn(dsn))  # type: ignore[arg-type]
        except PgAdminError:
            raise
        except Exception as exc:  # asyncpg errors, SchemaTooNewError, OSError
            raise PgAdminError(redact(f"{type(exc).__name__}: {exc}", dsn)) from None
    except PgAdminError as exc:
        typer.echo(f"{ctx.find_root().info_name or 'arbdash'}: {exc}", err=True)
        raise typer.Exit(2) from None


def register_commands(app: Any) -> None:
    """Add ``db-upgrade``, ``sessions``, ``prune``, ``export`` and ``import`` to the typer ``app``."""

    @app.command("db-upgrade")
    def db_upgrade_cmd(ctx: typer.Context, db: DbOpt = None) -> None:
        """Create/upgrade the arbdash tables (idempotent; safe from several processes)."""
        from arbdash.tools.pg_admin import db_upgrade

        applied = _run(ctx, db, db_upgrade)
        typer.echo(f"applied migrations: {applied}" if applied else "schema is up to date")

    @app.command("sessions")
    def sessions_cmd(
        ctx: typer.Context,
        db: DbOpt = None,
        limit: Annotated[
            int, typer.Option("--limit", metavar="N", min=1, help="How many sessions, newest first.")
        ] = 50,
    ) -> None:
        """List recorded sessions: id, strategy, started, ended, health, open/opened positions, net PnL."""
        from arbdash.tools.pg_admin import format_sessions, list_sessions

        rows = _run(ctx, db, lambda dsn: list_sessions(dsn, limit=limit))
        sys.stdout.write(format_sessions(rows))

    @app.command("prune")
    def prune_cmd(
        ctx: typer.Context,
        db: DbOpt = None,
        older_than: Annotated[
            str | None, typer.Option("--older-than", metavar="AGE", help="e.g. 30d, 12h.")
        ] = None,
        keep_last: Annotated[
            int | None, typer.Option("--keep-last", metavar="N", min=0, help="Always keep the N newest.")
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would go.")] = False,
    ) -> None:
        """Delete old sessions with their events and snapshots."""
        from arbdash.tools.pg_admin import parse_duration, prune

        try:
            age = parse_duration(older_than) if older_than else None
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--older-than") from None
        res = _run(ctx, db, lambda dsn: prune(dsn, older_than=age, keep_last=keep_last, dry_run=dry_run))
        verb = "would delete" if dry_run else "deleted"
        typer.echo(f"{verb} {len(res.sessions)} sessions, {res.events} events, {res.snapshots} snapshots")

    @app.command("export")
    def export_cmd(
        ctx: typer.Context,
        session: Annotated[
            str, typer.Argument(metavar="SESSION", help="Session id, unique prefix or 'latest'.")
        ],
        db: DbOpt = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", metavar="FILE", help="File (default: stdout).")
        ] = None,
    ) -> None:
        """Write a session back as JSONL (same content as the original log)."""
        from arbdash.tools.pg_admin import export_session

        async def go(dsn: str) -> int | None:
            if output is not None:
                return await export_session(dsn, session, output)
            try:
                n = await export_session(dsn, session, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            except BrokenPipeError:  # `| head`: the reader is gone, which is fine
                return None
            return n

        n = _run(ctx, db, go)
        if n is None:  # stdout is a closed pipe: point it at /dev/null so the flush at exit stays quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0)
        if output is not None:
            typer.echo(f"exported {n} events to {output}", err=True)

    @app.command("import")
    def import_cmd(
        ctx: typer.Context,
        file: Annotated[
            Path, typer.Argument(metavar="FILE", help="Session .jsonl (or a .pgspool.jsonl spool file).")
        ],
        db: DbOpt = None,
    ) -> None:
        """Load a session log into the database (idempotent: already stored events are kept once)."""
        from arbdash.tools.pg_admin import import_jsonl

        res = _run(ctx, db, lambda dsn: import_jsonl(dsn, file))
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(res.skipped.items())) or "none"
        typer.echo(
            f"imported {res.inserted} new events ({res.duplicates} already present) from {res.lines} lines "
            f"into {len(res.sessions)} session(s); skipped: {skipped}"
        )
        for p in res.problems:
            typer.echo(f"  {p}", err=True)
