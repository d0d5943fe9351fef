"""Benchmark of the PostgreSQL sink (not a test): throughput COPY vs single-row INSERT, event-loop lag.

    python -m arbdash.tools.bench_pg [--dsn postgresql://postgres@127.0.0.1:5432/test] [--events 100000] [--lag-seconds 10]

Runs in a fresh schema ``bench_<hex>`` (dropped at the end) and reports, in one run:

* baseline: raw ``asyncpg.copy_records_to_table`` of prebuilt rows in 1,000-row batches, and one 100k-row COPY;
* the sink with COPY (``write`` for every event as fast as the loop allows, until ``aclose`` has committed
  everything) and with single-row INSERTs (``write_mode="insert"``), in events/s, and their ratio to baseline;
* the event-loop lag (how late a 5 ms timer fires) p50/p99/max while the sink takes 2,000 events/s, and the
  cost of one ``write`` call p50/p99 in microseconds.

Events are realistic ``funding.rate`` lines (~400 bytes of JSON) built by the pipeline's encoder.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from arbdash.logging_pipeline.encoding import dumps
from arbdash.logging_pipeline.postgres.dsn import redact_dsn
from arbdash.logging_pipeline.postgres.migrations import upgrade
from arbdash.logging_pipeline.postgres.rows import EVENT_COLUMNS, row_from_event
from arbdash.logging_pipeline.postgres.sink import PostgresSink

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def make_events(session_id: str, n: int) -> list[tuple[bytes, dict]]:
    """``n`` (line, record) pairs as the tee hands them to sinks, seq 1..n."""
    t0 = datetime(2026, 1, 2, tzinfo=UTC)
    out = []
    for seq in range(1, n + 1):
        rec = {
            "v": 1,
            "ts": t0 + timedelta(microseconds=seq * 500),
            "session_id": session_id,
            "seq": seq,
            "level": "info",
            "logger": "bot.venues.paper",
            "event": "funding.rate",
            "category": "funding",
            "message": f"binance BTC funding rate 0.0001234 next 08:00 ({seq})",
            "market_ts": t0 + timedelta(seconds=seq),
            "venue": "binance",
            "symbol": "BTC",
            "rate": Decimal("0.00012345678901234567890"),
            "interval_s": 28800,
            "apr": Decimal("0.1352"),
            "next_funding_ts": t0 + timedelta(hours=8),
        }
        out.append((dumps(rec), rec))
    return out


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def bench_raw_copy(dsn: str, n: int, fresh: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """(rows/s in 1,000-row batches, rows/s in one n-row COPY) of prebuilt rows."""
    sid = str(uuid.uuid4())
    rows = [row_from_event(line, rec) for line, rec in make_events(sid, n)]
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        for i in range(0, n, 1000):
            await conn.copy_records_to_table(
                "dashboard_events", records=rows[i : i + 1000], columns=EVENT_COLUMNS
            )
        batched = n / (time.perf_counter() - t0)
        await fresh()
        sid2 = uuid.uuid4()
        rows2 = [(sid2, *r[1:]) for r in rows]
        t0 = time.perf_counter()
        await conn.copy_records_to_table("dashboard_events", records=rows2, columns=EVENT_COLUMNS)
        single = n / (time.perf_counter() - t0)
        return batched, single
    finally:
        await conn.close()


async def bench_sink(dsn: str, n: int, mode: str) -> float:
    """Sustained events/s of the sink: n ``write`` calls (yielding to the loop every 1,000) until ``aclose``
    has committed the last one."""
    sid = str(uuid.uuid4())
    events = make_events(sid, n)
    with tempfile.TemporaryDirectory() as spool:
        sink = PostgresSink(
            dsn,
            session_id=sid,
            batch_size=1000,
            flush_interval_s=0.05,
            write_mode=mode,
            spool_dir=spool,
            notify=True,
        )
        await sink.start()
        await asyncio.sleep(0.2)  # connect + migrate outside the timing
        t0 = time.perf_counter()
        for i, (line, rec) in enumerate(events):
            sink.write(line, rec)
            if i % 1000 == 999:
                await asyncio.sleep(0)
        await sink.aclose()
        elapsed = time.perf_counter() - t0
    if sink.stats["written"] != n:
        raise RuntimeError(f"sink wrote {sink.stats['written']} of {n}: {sink.last_problem}")
    return n / elapsed


async def bench_lag(dsn: str, rate: int, seconds: float) -> dict[str, float]:
    """Loop lag (ms) of a 5 ms timer and ``write`` cost (µs) while producing ``rate`` events/s."""
    sid = str(uuid.uuid4())
    n = int(rate * seconds)
    events = make_events(sid, n)
    lags: list[float] = []
    costs: list[float] = []
    stop = asyncio.Event()

    async def monitor() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t = loop.time()
            await asyncio.sleep(0.005)
            lags.append((loop.time() - t - 0.005) * 1000)

    with tempfile.TemporaryDirectory() as spool:
        async with PostgresSink(dsn, session_id=sid, spool_dir=spool) as sink:
            await asyncio.sleep(0.2)
            mon = asyncio.create_task(monitor())
            tick, per_tick = 0.01, max(1, rate // 100)
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(0, n, per_tick):
                for line, rec in events[i : i + per_tick]:
                    t = time.perf_counter()
                    sink.write(line, rec)
                    costs.append((time.perf_counter() - t) * 1e6)
                next_at = start + (i // per_tick + 1) * tick
                await asyncio.sleep(max(0.0, next_at - loop.time()))
            stop.set()
            await mon
        written = sink.stats["written"]
    return {
        "lag_p50_ms": _pct(lags, 50),
        "lag_p99_ms": _pct(lags, 99),
        "lag_max_ms": max(lags),
        "write_p50_us": _pct(costs, 50),
        "write_p99_us": _pct(costs, 99),
        "written": written,
        "events": n,
    }


async def main(dsn: str, n: int, insert_n: int, lag_seconds: float) -> None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    sdsn = f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"
    try:
        c = await asyncpg.connect(sdsn)
        await upgrade(c)
        await c.close()
        print(
            f"PostgreSQL {redact_dsn(dsn)}, schema {schema}, {n:,} events of ~{len(make_events('x', 1)[0][0])} B"
        )

        async def fresh() -> None:  # every measurement starts from an empty table (same index sizes)
            await admin.execute(f"TRUNCATE {schema}.dashboard_events")
            await admin.execute(f"VACUUM ANALYZE {schema}.dashboard_events")

        await fresh()
        raw_b, raw_1 = await bench_raw_copy(sdsn, n, fresh)
        print(f"baseline raw copy_records_to_table, 1,000-row batches : {raw_b:>10,.0f} rows/s")
        print(f"baseline raw copy_records_to_table, one {n:,}-row COPY: {raw_1:>10,.0f} rows/s")
        await fresh()
        sink_copy = await bench_sink(sdsn, n, "copy")
        print(
            f"sink, COPY batches (write -> committed)                : {sink_copy:>10,.0f} events/s"
            f"  = {sink_copy / raw_b:.2f}x baseline"
        )
        await fresh()
        sink_ins = await bench_sink(sdsn, insert_n, "insert")
        print(
            f"sink, single-row INSERT (executemany), {insert_n:,} events  : {sink_ins:>10,.0f} events/s"
            f"  = {sink_ins / raw_b:.2f}x baseline; COPY/INSERT = {sink_copy / sink_ins:.1f}x"
        )
        await fresh()
        lag = await bench_lag(sdsn, 2000, lag_seconds)
        print(
            f"at 2,000 events/s for {lag_seconds:.0f} s ({lag['written']:,}/{lag['events']:,} written): "
            f"loop lag p50 {lag['lag_p50_ms']:.2f} ms, p99 {lag['lag_p99_ms']:.2f} ms, "
            f"max {lag['lag_max_ms']:.2f} ms; write() p50 {lag['write_p50_us']:.1f} us, "
            f"p99 {lag['write_p99_us']:.1f} us"
        )
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", default=DEFAULT_DSN)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--insert-events", type=int, default=20_000)
    ap.add_argument("--lag-seconds", type=float, default=10.0)
    a = ap.parse_args()
    asyncio.run(main(a.dsn, a.events, a.insert_events, a.lag_seconds))


if __name__ == "__main__":
    cli()
