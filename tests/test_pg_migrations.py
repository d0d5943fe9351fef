"""Migrations against the real server: idempotent, concurrent (two processes at once), refuse a newer schema."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from pg_fixtures import make_events

from arbdash.logging_pipeline.postgres import migrations, store
from arbdash.logging_pipeline.postgres.migrations import (
    VERSION_TABLE,
    SchemaTooNewError,
    current_version,
    latest_version,
    load_migrations,
    upgrade,
)
from arbdash.logging_pipeline.postgres.rows import row_from_event
from arbdash.logging_pipeline.postgres.sink import PostgresSink
from arbdash.tools.pg_admin import list_sessions

pytestmark = pytest.mark.pg

TABLES = {"dashboard_sessions", "dashboard_events", "dashboard_snapshots", VERSION_TABLE}


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    return {r[0] for r in rows}


def test_migration_files_are_numbered_and_found() -> None:
    migs = load_migrations()
    assert migs[0].name == "001_dashboard.sql"
    assert [m.version for m in migs] == sorted({m.version for m in migs})


async def test_upgrade_twice_is_idempotent(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await current_version(conn) == 0
        assert await upgrade(conn) == [m.version for m in load_migrations()]
        assert await upgrade(conn) == []
        assert await current_version(conn) == latest_version()
        assert TABLES <= await _tables(conn)
        ts_types = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND data_type LIKE 'timestamp%' AND data_type <> 'timestamp with time zone'"
        )
        assert ts_types == [], "every timestamp column must be timestamptz"
    finally:
        await conn.close()


async def test_upgrade_from_two_connections_at_once(pg_dsn: str) -> None:
    conns = [await asyncpg.connect(pg_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(upgrade(c) for c in conns))
        assert sorted(map(len, results)) == [0, 0, 0, len(load_migrations())]
        assert await conns[0].fetchval(f"SELECT count(*) FROM {VERSION_TABLE}") == len(load_migrations())
    finally:
        for c in conns:
            await c.close()


def test_upgrade_from_two_processes_at_once(pg_dsn: str) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys, asyncpg
        from arbdash.logging_pipeline.postgres.migrations import upgrade
        async def main():
            conn = await asyncpg.connect(sys.argv[1])
            try:
                print(len(await upgrade(conn)))
            finally:
                await conn.close()
        asyncio.run(main())
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, pg_dsn], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()
    assert sorted(int(o.strip()) for o, _ in outs) == [0, len(load_migrations())]


async def test_newer_schema_is_refused_with_a_clear_message(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await upgrade(conn)
        await conn.execute(f"INSERT INTO {VERSION_TABLE} (version, name) VALUES (999, '999_future.sql')")
        with pytest.raises(SchemaTooNewError, match=r"version 999 .* knows only up to \d+"):
            await upgrade(conn)
    finally:
        await conn.close()


async def test_a_version_1_database_loses_only_the_pushed_net_pnl(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 002 on a database at version 1 (with a session whose row holds the net PnL the old sink pushed):
    the column goes, the row and its events stay, the listing computes the figure from the events, and a sink
    writes and closes a session in the upgraded schema."""
    shipped = load_migrations()
    assert [m.name for m in shipped][:2] == ["001_dashboard.sql", "002_session_net_pnl_read_time.sql"]
    sid = uuid.uuid4()
    events = make_events(str(sid), 300)
    conn = await asyncpg.connect(pg_dsn)
    try:
        monkeypatch.setattr(migrations, "load_migrations", lambda: shipped[:1])
        assert await upgrade(conn) == [1]
        monkeypatch.undo()
        await conn.execute(
            "INSERT INTO dashboard_sessions (session_id, started_at, health, net_pnl)"
            " VALUES ($1, now(), 'stopped', 12.34)",
            sid,
        )
        await store.copy_events(conn, [row_from_event(line, rec) for line, rec in events])
        assert await upgrade(conn) == [2]
        assert await current_version(conn) == latest_version()
        columns = {
            r[0]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = 'dashboard_sessions'"
            )
        }
        assert "net_pnl" not in columns and {"positions_opened", "positions_closed", "health"} <= columns
        assert await conn.fetchval("SELECT count(*) FROM dashboard_events") == 300
    finally:
        await conn.close()
    [s] = await list_sessions(pg_dsn)
    closed = sum(1 for _, r in events if r["event"] == "position.closed")
    assert s.session_id == sid and s.health == "stopped"
    assert s.net_pnl == closed * Decimal("1.35"), "the events' figure, not the stale 12.34"
    other = str(uuid.uuid4())
    async with PostgresSink(pg_dsn, session_id=other, flush_interval_s=0.02, spool_dir=tmp_path) as sink:
        for line, rec in make_events(other, 50):
            sink.write(line, rec)
    assert sink.stats["written"] == 50 and "closing" not in sink.last_problem
    assert {x.session_id for x in await list_sessions(pg_dsn)} == {sid, uuid.UUID(other)}
