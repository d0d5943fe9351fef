"""Outage handling: PostgreSQL cut mid-run (TCP proxy, pg_terminate_backend) or down from the start.

Each test proves: the producer (the bot) never waits on the sink, zero events lost or duplicated after
recovery, health went ``degraded`` and back to ``ok``, and no password leaks into any message.

No timings: "never waits" is shown by the producer running thousands of events ahead of a PostgreSQL it cannot
reach (it gets to the event that ends the outage), and by the sink's blocking file work (the spool) never running
on the producer's event loop. How fast ``write`` is and how late the loop runs are ``tools/bench_pg.py`` figures.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from pg_fixtures import TcpProxy, make_events

from arbdash.logging_pipeline.postgres import PostgresSink
from arbdash.logging_pipeline.postgres.spool import Spool
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


@pytest.fixture
def spool_threads(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The threads the sinks' spool file work (``Spool.append``, ``Spool.read_chunk``: a lock, file I/O) ran on."""
    threads: set[int] = set()
    for name in ("append", "read_chunk"):
        real = getattr(Spool, name)

        def traced(self: Spool, *args: object, _real: Any = real) -> Any:
            threads.add(threading.get_ident())
            return _real(self, *args)

        monkeypatch.setattr(Spool, name, traced)
    return threads


async def _produce(sink: PostgresSink, events: list, per_tick: int, tick_s: float, at: dict) -> None:
    """Write ``per_tick`` events every ``tick_s`` seconds, running ``at[i]()`` before event ``i``."""
    for i, (line, rec) in enumerate(events):
        if i in at:
            res = at[i]()
            if asyncio.iscoroutine(res):
                await res
        sink.write(line, rec)
        if i % per_tick == per_tick - 1:
            await asyncio.sleep(tick_s)


async def test_proxy_cut_mid_run_loses_and_duplicates_nothing(
    pg_dsn: str, tmp_path: Path, spool_threads: set[int]
) -> None:
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
        at_restore: dict[str, int] = {}

        def restore() -> None:  # what the producer got done while PostgreSQL was unreachable
            at_restore.update(accepted=sink.stats["accepted"], written=sink.stats["written"])
            proxy.restore()

        async with sink:
            # 60 events / 20 ms = 3,000 events/s for 2 s; PostgreSQL unreachable from event 2000 to 4000
            await _produce(sink, events, 60, 0.02, {2000: proxy.drop, 4000: restore})
    # the producer: 2,000 events and more ahead of the database, written while it could not be reached (a
    # producer waiting on the sink would never have got to the event that ends the outage) …
    assert at_restore["accepted"] == 4000 and at_restore["written"] <= 2000, at_restore
    # … and the sink's spool file work never ran on its loop (a blocking lock or write there slows it down)
    assert spool_threads and threading.get_ident() not in spool_threads
    assert await _seqs(pg_dsn, sid) == list(range(1, n + 1))
    assert [h for h, _ in health] == ["ok", "degraded", "ok"], health  # storing, cut, caught up
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
    assert health[:2] == ["ok", "degraded"] and health[-1] == "ok" and sink.health == "ok"


async def test_down_at_start_keeps_everything_in_the_spool_for_import(
    pg_dsn: str, tmp_path: Path, spool_threads: set[int]
) -> None:
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
            await _produce(sink, events, 100, 0.01, {})
            # every event taken while PostgreSQL was never reachable: the producer did not wait for it
            assert sink.stats["accepted"] == len(events) and sink.stats["written"] == 0
        assert (
            spool_threads and threading.get_ident() not in spool_threads
        )  # the spool off the producer's loop
    assert sink.health == "degraded"
    for text in (sink.health_reason, sink.last_problem, repr(sink)):
        assert "hunter2secret" not in str(text)
    assert "***" in repr(sink)
    [spool] = tmp_path.glob("*.pgspool.jsonl")
    assert spool.name == f"{sid}.pgspool.jsonl"
    res = await import_jsonl(pg_dsn, spool)
    assert res.inserted == 1200 and not res.skipped
    assert await _seqs(pg_dsn, sid) == list(range(1, 1201))
