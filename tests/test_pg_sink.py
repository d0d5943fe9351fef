"""The PostgreSQL sink against the real server: counts, session row lifecycle, export round trip, import."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import pytest
from pg_fixtures import make_events

from arbdash.logging_pipeline.postgres import PostgresSink
from arbdash.tools.pg_admin import export_session, import_jsonl, list_sessions, prune

pytestmark = pytest.mark.pg


async def _count(dsn: str, sid: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM dashboard_events WHERE session_id = $1",
            uuid.UUID(sid),
        )
        return tuple(row)
    finally:
        await conn.close()


async def test_sink_writes_every_event_once_and_closes_the_session(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    events = make_events(sid, 2500)
    health: list[tuple[str, str | None]] = []
    async with PostgresSink(
        pg_dsn,
        session_id=sid,
        batch_size=400,
        flush_interval_s=0.05,
        spool_dir=tmp_path,
        on_health_change=lambda h, r: health.append((h, r)),
    ) as sink:
        for line, rec in events:
            sink.write(line, rec)
    assert sink.stats["written"] == 2500 and sink.stats["backlog"] == 0 and sink.stats["bad"] == 0
    assert await _count(pg_dsn, sid) == (2500, 2500, 2500)
    assert health == [("ok", "storing events")] and sink.health == "ok"  # said once: a healthy sink shows OK
    [s] = await list_sessions(pg_dsn)
    assert str(s.session_id) == sid and s.strategy == "funding_arbitrage" and s.health == "stopped"
    assert s.ended_at is not None and s.ended_at.tzinfo is not None and s.last_seq == 2500
    closed = sum(1 for _, r in events if r["event"] == "position.closed")
    assert s.positions_closed == closed and s.net_pnl == Decimal("1.35") * closed
    assert not list(tmp_path.iterdir()), "no spool file when PostgreSQL stayed up"


async def test_export_reproduces_the_original_lines(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    events = make_events(sid, 300)
    async with PostgresSink(pg_dsn, session_id=sid, flush_interval_s=0.05, spool_dir=tmp_path) as sink:
        for line, rec in events:
            sink.write(line, rec)
    out = io.BytesIO()
    assert await export_session(pg_dsn, sid[:8], out) == 300
    exported = out.getvalue().splitlines()
    assert [orjson.loads(x) for x in exported] == [orjson.loads(line) for line, _ in events]
    # key order is restored too, so the bytes are the original ones
    assert exported == [line for line, _ in events]


async def test_import_is_idempotent_and_completes_a_partial_session(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    events = make_events(sid, 1000)
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line, _ in events) + b'garbage\n\xff\xfe\n{"torn": ')
    async with PostgresSink(pg_dsn, session_id=sid, flush_interval_s=0.05, spool_dir=tmp_path) as sink:
        for line, rec in events[:600]:  # PostgreSQL saw only the first 600 live
            sink.write(line, rec)
    res = await import_jsonl(pg_dsn, path, batch_size=128)
    assert (res.inserted, res.duplicates) == (400, 600)
    assert dict(res.skipped) == {"not_json": 1, "invalid_utf8": 1, "torn_line": 1}
    res2 = await import_jsonl(pg_dsn, path)
    assert (res2.inserted, res2.duplicates) == (0, 1000)
    assert await _count(pg_dsn, sid) == (1000, 1000, 1000)
    [s] = await list_sessions(pg_dsn)
    assert s.health == "stopped" and s.last_seq == 1000


async def test_prune_by_age_and_keep_last(pg_dsn: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    sids = [str(uuid.uuid4()) for _ in range(3)]
    for sid in sids:
        path = tmp_path / f"{sid}.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line, _ in make_events(sid, 50)))
        await import_jsonl(pg_dsn, path)
    # the events are dated 2026-01-02; "now" one year later makes all of them old
    later = datetime(2027, 1, 2, tzinfo=UTC)
    dry = await prune(pg_dsn, older_than=timedelta(days=30), keep_last=1, dry_run=True, now=later)
    assert len(dry.sessions) == 2 and dry.events == 100
    assert len(await list_sessions(pg_dsn)) == 3
    res = await prune(pg_dsn, older_than=timedelta(days=30), keep_last=1, now=later)
    assert len(res.sessions) == 2 and res.events == 100
    assert len(await list_sessions(pg_dsn)) == 1
    assert (await prune(pg_dsn, older_than=timedelta(days=3650), now=later)).sessions == []
