"""Outage handling: PostgreSQL cut mid-run (TCP proxy, pg_terminate_backend) or down from the start.

Each test proves: the producer (the bot) never waits on the sink, zero events lost or duplicated after
recovery, health went ``degraded`` and back to ``ok``, and no password leaks into any message.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from pg_fixtures import TcpProxy, make_events

from arbdash.logging_pipeline.postgres import PostgresSink
from arbdash.tools.pg_admin import import_jsonl, list_sessions

pytestmark = pytest.mark.pg


async def _seqs(dsn: str, sid: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            r[0]
            for r in await conn.fetch(
                "SELECT seq FROM dashboard_events WHERE session_id = $1 ORDER BY seq", uuid.UUID(sid)
            )
        ]
    finally:
        await conn.close()


async def _produce(
    sink: PostgresSink, events: list, per_tick: int, tick_s: float, at: dict
) -> tuple[float, float]:
    """Write ``per_tick`` events every ``tick_s`` seconds, running ``at[i]()`` before event ``i``.
    Returns (elapsed wall seconds, total seconds spent inside ``write``). (A single call's maximum is not
    asserted: a GC pause can land in any call and says nothing about the sink.)"""
    t0 = time.perf_counter()
    in_write = 0.0
    for i, (line, rec) in enumerate(events):
        if i in at:
            res = at[i]()
            if asyncio.iscoroutine(res):
                await res
        w0 = time.perf_counter()
        sink.write(line, rec)
        in_write += time.perf_counter() - w0
        if i % per_tick == per_tick - 1:
            await asyncio.sleep(tick_s)
    return time.perf_counter() - t0, in_write


async def test_proxy_cut_mid_run_loses_and_duplicates_nothing(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    n = 6000
    events = make_events(sid, n)
    target = urlsplit(pg_dsn)
    health: list[tuple[str, str | None]] = []
    async with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        sink = PostgresSink(
            proxy.dsn(pg_dsn),
            session_id=sid,
            batch_size=200,
            flush_interval_s=0.05,
            buffer_max_events=500,
            spool_dir=tmp_path,
            retry_max_s=0.2,
            connect_timeout_s=1.0,
            on_health_change=lambda h, r: health.append((h, r)),
        )
        async with sink:
            # 60 events / 20 ms = 3,000 events/s for 2 s; PostgreSQL unreachable from event 2000 to 4000
            elapsed, in_write = await _produce(
                sink, events, 60, 0.02, {2000: proxy.drop, 4000: proxy.restore}
            )
    assert elapsed < 2 * (n / 60) * 0.02 + 1.0, f"producer slowed down: {elapsed:.2f}s"
    assert in_write / n < 100e-6, f"write() took {in_write / n * 1e6:.1f} us per event on average"
    assert await _seqs(pg_dsn, sid) == list(range(1, n + 1))
    assert [h for h, _ in health] == ["degraded", "ok"], health
    assert sink.stats["spooled"] > 0, "the memory bound (500) must have sent events to the spool"
    assert sink.stats["reconnects"] >= 1 and sink.stats["backlog"] == 0
    assert not list(tmp_path.glob("*.pgspool.jsonl")), "spool removed after backfill"
    [s] = await list_sessions(pg_dsn)
    assert s.health == "stopped" and s.last_seq == n


async def test_backend_terminated_mid_run(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    app = f"arbdash_test_{uuid.uuid4().hex[:8]}"
    n = 4000
    events = make_events(sid, n)
    health: list[str] = []
    admin = await asyncpg.connect(pg_dsn)

    async def kill() -> None:
        for _ in range(200):  # the sink may still be reconnecting after the previous kill
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                app,
            )
            if killed:
                assert killed == 1
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the sink's backend never came back")

    try:
        async with PostgresSink(
            f"{pg_dsn}&application_name={app}",
            session_id=sid,
            batch_size=100,
            flush_interval_s=0.02,
            spool_dir=tmp_path,
            retry_max_s=0.2,
            on_health_change=lambda h, r: health.append(h),
        ) as sink:
            await _produce(sink, events, 50, 0.01, {1500: kill, 2500: kill})
    finally:
        await admin.close()
    assert await _seqs(pg_dsn, sid) == list(range(1, n + 1))
    assert health[0] == "degraded" and health[-1] == "ok" and sink.health == "ok"


async def test_down_at_start_keeps_everything_in_the_spool_for_import(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    events = make_events(sid, 1200)
    target = urlsplit(pg_dsn)
    async with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        proxy.drop()
        bad_dsn = proxy.dsn(pg_dsn).replace("postgres@", "postgres:hunter2secret@")
        sink = PostgresSink(
            bad_dsn,
            session_id=sid,
            flush_interval_s=0.02,
            buffer_max_events=100,
            spool_dir=tmp_path,
            retry_max_s=0.1,
            close_timeout_s=1.0,
            connect_timeout_s=0.5,
        )
        async with sink:
            elapsed, in_write = await _produce(sink, events, 100, 0.01, {})
        assert in_write / len(events) < 100e-6
    assert sink.health == "degraded"
    for text in (sink.health_reason, sink.last_problem, repr(sink)):
        assert "hunter2secret" not in str(text)
    assert "***" in repr(sink)
    [spool] = tmp_path.glob("*.pgspool.jsonl")
    assert spool.name == f"{sid}.pgspool.jsonl"
    res = await import_jsonl(pg_dsn, spool)
    assert res.inserted == 1200 and not res.skipped
    assert await _seqs(pg_dsn, sid) == list(range(1, 1201))
