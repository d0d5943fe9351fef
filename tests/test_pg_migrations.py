"""Migrations against the real server: idempotent, concurrent (two processes at once), refuse a newer schema."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import asyncpg
import pytest

from logging_pipeline.postgres.migrations import (
    VERSION_TABLE,
    SchemaTooNewError,
    current_version,
    latest_version,
    load_migrations,
    upgrade,
)

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
        from logging_pipeline.postgres.migrations import upgrade
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
