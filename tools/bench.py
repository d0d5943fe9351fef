"""Overhead benchmark of the event pipeline and dashboard (issue 5 §1). Not a test: prints a table.

    python tools/bench.py                  # all sections (~1 min)
    python tools/bench.py --dsn postgresql://...   # also the PostgreSQL sink (or ARBDASH_DATABASE_URL)
    python tools/bench.py --quick          # fewer calls, shorter loop-lag run

Sections, all in one process and one run so the ratios compare like with like:

1. **Per-call cost in the calling coroutine** (median and p99 of ``perf_counter_ns`` around one call, µs):
   (a) stdlib ``logging.info`` to a ``FileHandler``; (b) bare structlog (cached logger, ISO timestamp, level,
   ``JSONRenderer(orjson.dumps)``) writing to a file; (c) ``unified_logger`` with the sinks of
   ``--dashboard-mode=plain`` — JSONL (writer thread) + reducer tee + console at ``warning`` — for ``info``, an
   ``emit`` of a pre-built ``MarkPrice`` and an ``emit`` that builds it; (c′) the same with the console at
   ``info`` (``--dashboard-mode=off``: every line formatted, to ``/dev/null``); (d) (c) plus the PostgreSQL sink;
   (e) a ``debug`` call below the level. Ratios are to (a) and (b). The pipeline's dispatcher thread runs
   meanwhile (redaction, envelope, ``seq``, JSON, sinks): it is not in these figures except as GIL contention
   (p99), so
1b. **End-to-end throughput** (events/s, all CPU counted): ``n`` calls back to back until every line is in the
   file — stdlib ``FileHandler`` vs ``unified_logger`` (plain-mode sinks) until ``Pipeline.flush`` returned and
   the JSONL writer wrote the last line.
2. **Event-loop lag** (p50/p99 ms) of a probe task sleeping 5 ms, while a task emits 2,000 events/s (50 open
   positions, marks, funding, position updates, log lines) and the live dashboard redraws at 1 Hz into
   ``/dev/null`` (a forced 160×50 terminal).
3. **Render time per frame** (ms): snapshot + Rich layout + render at 160×50 with 50 open positions and a full
   timeline.
4. **Memory over long runs**: the real bot (``runbot --speed 0`` over the whole data window, ≈30k events each)
   run repeatedly in this process; RSS and tracemalloc's current size after each run.
5. **The caller's help at --speed 0**: the same real run (``silent`` and ``off`` modes), alternately with the
   tee's caller-helps path as shipped (a logging call that finds ``help_at`` = 5,000 events queued dispatches
   a chunk itself) and switched off (the dispatcher thread alone): wall seconds of the run, the dispatcher
   queue's high-water mark (events), chunks the bot's thread dispatched itself, events dropped, and the
   event-loop lag (p50/p99 ms) a probe task saw during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import logging
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import structlog  # noqa: E402
from rich.console import Console  # noqa: E402

from arbdash.bot.config import load_config  # noqa: E402
from arbdash.dashboard.reducer import Reducer  # noqa: E402
from arbdash.dashboard.render_rich import build_layout  # noqa: E402
from arbdash.dashboard.service import DashboardService  # noqa: E402
from arbdash.helpers.unified_logger import get_logger  # noqa: E402
from arbdash.logging_pipeline import Pipeline, Sink  # noqa: E402
from arbdash.logging_pipeline.events import (  # noqa: E402
    MarkPrice,
)
from arbdash.logging_pipeline.sinks.console import ConsoleSink  # noqa: E402
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink  # noqa: E402
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee  # noqa: E402
from arbdash.tools.bench_workload import MARKET_T, one_event, open_positions  # noqa: E402
from arbdash.tools.runbot_run import emit_checkpoint_event  # noqa: E402

CONFIG = ROOT / "configs" / "funding_arb_paper.yml"
log = get_logger("bench")

Row = tuple[str, float, float]  # label, median µs, p99 µs


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    samples_ns.sort()
    return samples_ns[len(samples_ns) // 2] / 1000, samples_ns[int(len(samples_ns) * 0.99)] / 1000


def _time_calls(
    call: Callable[[int], object], n: int, between: Callable[[], object] | None = None
) -> tuple[float, float]:
    """Median and p99 (µs) of ``call(i)`` over ``n`` calls, after 1,000 warm-up calls; ``between`` runs untimed
    after every 1,000 calls (draining the reducer tee like the dashboard does)."""
    pc = time.perf_counter_ns
    for i in range(1000):
        call(i)
    samples = []
    for i in range(n):
        t0 = pc()
        call(i)
        samples.append(pc() - t0)
        if between is not None and i % 1000 == 999:
            between()
    return _percentiles(samples)


def _mark() -> MarkPrice:
    return MarkPrice(
        venue="binance", symbol="BTC", mark_price=Decimal("65000.1"), index_price=Decimal("65000.2")
    )


# --- 1. per-call cost ----------------------------------------------------------------------------------------


def bench_stdlib(tmp: Path, n: int) -> tuple[float, float]:
    handler = logging.FileHandler(tmp / "stdlib.log")
    handler.setFormatter(logging.Formatter("%(asctime)s | %(levelname)-8s | %(name)s | %(message)s"))
    std = logging.getLogger("bench.stdlib")
    std.handlers, std.propagate = [handler], False
    std.setLevel(logging.INFO)
    try:
        return _time_calls(lambda i: std.info("x %s", i), n)
    finally:
        handler.close()


def bench_bare_structlog(tmp: Path, n: int) -> tuple[float, float]:
    saved = structlog.get_config()
    with open(tmp / "structlog.jsonl", "wb") as f:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=structlog.BytesLoggerFactory(f),
            cache_logger_on_first_use=True,
        )
        bare = structlog.get_logger()
        try:
            return _time_calls(lambda i: bare.info("x", i=i), n)
        finally:
            structlog.configure(**saved)


async def _in_scratch_schema(dsn: str, body: Callable[[str], Any]) -> Any:
    """Run ``body(dsn_with_search_path)`` in a fresh schema, dropped afterwards: the benchmark leaves no rows."""
    import asyncpg

    schema = f"arbdash_bench_{os.getpid()}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        return await body(f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}")
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def bench_unified(tmp: Path, n: int, *, console_level: str, dsn: str | None = None) -> dict[str, tuple]:
    """(c)/(c′)/(d)/(e): the pipeline with the sinks of a dashboard mode."""
    from arbdash.dashboard.reducer import Reducer

    tee = ReducerTee()
    reducer = Reducer()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    sinks: list[Sink] = [
        JsonlSink(tmp / f"unified-{console_level}.jsonl"),
        tee,
        ConsoleSink(devnull, min_level=console_level),
    ]
    session_id = str(uuid.uuid4())
    pg_sink = None
    if dsn:
        from arbdash.logging_pipeline.postgres.wiring import build_postgres_sink

        persistence = SimpleNamespace(
            enabled=True, dsn=dsn, batch_size=500, flush_interval_s=1.0, snapshot_interval_s=30.0
        )
        pg_sink = build_postgres_sink(
            persistence, session_id=session_id, reducer=None, spool_dir=tmp / "spool"
        )
        sinks.append(pg_sink)
    out: dict[str, tuple] = {}
    try:
        async with Pipeline(session_id=session_id, sinks=sinks, level="INFO", market_clock=lambda: MARKET_T):
            drain = lambda: tee.drain_into(reducer)  # noqa: E731 - the dashboard's job, untimed
            prebuilt = _mark()
            out["info"] = _time_calls(lambda i: log.info("x", i=i), n, drain)
            out["emit"] = _time_calls(
                lambda i: log.emit(prebuilt, message="binance BTC mark 65000.1"), n, drain
            )
            out["emit+build"] = _time_calls(lambda i: log.emit(_mark(), message="binance BTC mark"), n, drain)
            out["debug"] = _time_calls(lambda i: log.debug("x", i=i), n)
            if dsn:
                await asyncio.sleep(1.5)  # let the PG writer task run on the loop
    finally:
        devnull.close()
    if pg_sink is not None:
        stats = pg_sink.stats
        if stats["bad"] or stats["dropped"]:
            raise RuntimeError(f"PostgreSQL sink refused events during the benchmark: {stats}")
        out["pg_written"] = (stats["written"],)
    return out


async def _unified_throughput(tmp: Path, n: int, call: Callable[[int], object]) -> float:
    tee = ReducerTee()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    jsonl = JsonlSink(tmp / f"throughput-{time.monotonic_ns()}.jsonl")
    try:
        async with Pipeline(
            session_id="tp",
            sinks=[jsonl, tee, ConsoleSink(devnull, min_level="warning")],
            market_clock=lambda: MARKET_T,
        ) as pipe:
            t0 = time.perf_counter()
            for i in range(n):
                call(i)
            pipe.flush(None)
            jsonl._writer.flush()
            while jsonl.written < n:
                time.sleep(0.0005)
            elapsed = time.perf_counter() - t0
    finally:
        devnull.close()
    return n / elapsed


def bench_throughput(tmp: Path, n: int) -> dict[str, float]:
    """Events/s from the first call until the last line is in the file (1b)."""
    handler = logging.FileHandler(tmp / "stdlib-tp.log")
    handler.setFormatter(logging.Formatter("%(asctime)s | %(levelname)-8s | %(name)s | %(message)s"))
    std = logging.getLogger("bench.stdlib.tp")
    std.handlers, std.propagate = [handler], False
    std.setLevel(logging.INFO)
    t0 = time.perf_counter()
    for i in range(n):
        std.info("x %s", i)
    handler.flush()
    out = {"stdlib": n / (time.perf_counter() - t0)}
    handler.close()
    prebuilt = _mark()
    out["info"] = asyncio.run(_unified_throughput(tmp, n, lambda i: log.info("x", i=i)))
    out["emit"] = asyncio.run(
        _unified_throughput(tmp, n, lambda i: log.emit(prebuilt, message="binance BTC mark 65000.1"))
    )
    return out


# --- 2. event-loop lag ---------------------------------------------------------------------------------------


#: Open positions of the synthetic session (``tools.bench_workload``).
POSITIONS = 50


async def bench_loop_lag(tmp: Path, seconds: float, rate: int = 2000) -> dict[str, float]:
    tee = ReducerTee()
    reducer = Reducer(timeline_size=20)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    os.environ.setdefault("LINES", "50")
    lags: list[float] = []
    emitted = 0
    try:
        async with Pipeline(
            session_id="lag", sinks=[JsonlSink(tmp / "lag.jsonl"), tee], market_clock=lambda: MARKET_T
        ):
            async with DashboardService(
                tee,
                reducer,
                mode="live",
                stream=devnull,
                width=160,
                force_terminal=True,
                refresh_interval_s=1.0,
                on_warning=get_logger("dashboard.service").warning,
                emit_checkpoint=emit_checkpoint_event,
            ) as service:  # as runbot composes it
                open_positions(log, POSITIONS)
                loop = asyncio.get_running_loop()
                stop_at = loop.time() + seconds

                async def probe() -> None:
                    while loop.time() < stop_at:
                        t0 = loop.time()
                        await asyncio.sleep(0.005)
                        lags.append((loop.time() - t0 - 0.005) * 1000)

                async def emitter() -> None:
                    nonlocal emitted
                    per_tick = rate // 100  # every 10 ms
                    start = loop.time()
                    while loop.time() < stop_at:
                        for _ in range(per_tick):
                            one_event(log, emitted, POSITIONS)
                            emitted += 1
                        target = start + emitted / rate
                        await asyncio.sleep(max(0.0, target - loop.time()))

                await asyncio.gather(probe(), emitter())
                frames = service.frames_drawn
    finally:
        devnull.close()
    lags.sort()
    return {
        "p50": lags[len(lags) // 2],
        "p99": lags[int(len(lags) * 0.99)],
        "max": lags[-1],
        "events_per_s": emitted / seconds,
        "frames": frames,
        "open": reducer.snapshot().session.open_positions,
    }


# --- 3. render time ------------------------------------------------------------------------------------------


def bench_render(frames: int = 40) -> dict[str, float]:
    lines: list[bytes] = []

    class Collect(Sink):
        name = "collect"

        def write(self, line: bytes, record: dict[str, Any]) -> None:
            lines.append(line)

    async def make() -> None:
        async with Pipeline(session_id="render", sinks=[Collect()], market_clock=lambda: MARKET_T):
            open_positions(log, POSITIONS)
            for i in range(400):
                one_event(log, i, POSITIONS)

    asyncio.run(make())
    reducer = Reducer(timeline_size=20)
    reducer.feed_lines(lines)
    console = Console(file=io.StringIO(), width=160, height=50, force_terminal=True, color_system="truecolor")
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        console.print(build_layout(reducer.snapshot()))
        times.append((time.perf_counter() - t0) * 1000)
        console.file = io.StringIO()
    snap = reducer.snapshot()
    return {
        "median_ms": statistics.median(times),
        "max_ms": max(times),
        "open": snap.session.open_positions,
        "timeline": len(snap.recent_events),
    }


# --- 4. memory ----------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(tmp: Path, runs: int) -> list[tuple[int, int, float, float]]:
    """``runs`` full real-bot runs in this process: (run, cumulative events, RSS MB, tracemalloc MB)."""
    import contextlib

    import arbdash.tools.runbot_run as cli

    cfg = load_config(CONFIG)
    out = []
    total = 0
    tracemalloc.start()
    for run in range(1, runs + 1):
        opts = cli.RunOptions(
            config=cfg,
            config_path=CONFIG,
            mode=cli.DashboardMode.silent,
            speed=Decimal(0),
            log_dir=tmp / f"mem{run}",
            level="INFO",
            width=120,
            final_frame=None,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            asyncio.run(cli.run_session(opts))
        (jsonl,) = (tmp / f"mem{run}").glob("*.jsonl")
        total += sum(1 for _ in jsonl.open("rb"))
        jsonl.unlink()
        gc.collect()
        out.append((run, total, _rss_mb(), tracemalloc.get_traced_memory()[0] / 2**20))
    tracemalloc.stop()
    return out


# --- 5. the caller's help at --speed 0 -----------------------------------------------------------------------


def _recording_pipeline(real: type, pipes: list[Any], help_on: bool) -> type:
    """``real`` (``Pipeline``) that records its instances in ``pipes``; with ``help_on`` false, its tee's
    caller-helps path is off (``help_at`` above the queue's bound)."""

    class Recording(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            pipes.append(self)
            if not help_on:
                self.tee.help_at = self.tee.max_pending + 1  # never: the dispatcher thread alone

    return Recording


def bench_caller_help(tmp: Path, runs: int, mode: str = "silent") -> list[dict[str, Any]]:
    """``runs`` pairs of real-bot runs at ``--speed 0`` in dashboard ``mode`` (``silent``; ``off``: every console
    line formatted too, to an in-memory stdout): with the tee's caller-helps path as shipped (``help`` on), then
    with it off (the dispatcher thread alone). Per run: ``mode``, ``help``, ``wall_s``, ``high_water`` (events
    queued at most), ``helped`` (chunks the calling thread dispatched), ``dropped`` (events), ``events``,
    event-loop lag ``p50``/``p99`` (ms)."""
    import contextlib

    import arbdash.tools.runbot_run as cli

    cfg = load_config(CONFIG)
    real_pipeline = cli.Pipeline
    out: list[dict[str, Any]] = []
    for run in range(1, 2 * runs + 1):
        help_on = run % 2 == 1
        pipes: list[Any] = []
        opts = cli.RunOptions(
            config=cfg,
            config_path=CONFIG,
            mode=cli.DashboardMode(mode),
            speed=Decimal(0),
            log_dir=tmp / f"help{mode}{run}",
            level="INFO",
            width=120,
            final_frame=None,
        )
        lags: list[float] = []

        async def main(opts: cli.RunOptions = opts, lags: list[float] = lags) -> None:
            loop = asyncio.get_running_loop()
            done = False

            async def probe() -> None:
                while not done:
                    t0 = loop.time()
                    await asyncio.sleep(0.005)
                    lags.append((loop.time() - t0 - 0.005) * 1000)

            task = asyncio.create_task(probe())
            try:
                await cli.run_session(opts)
            finally:
                done = True
                await task

        cli.Pipeline = _recording_pipeline(real_pipeline, pipes, help_on)
        try:
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                asyncio.run(main())
            wall = time.perf_counter() - t0
        finally:
            cli.Pipeline = real_pipeline
        (tee,) = [p.tee for p in pipes]
        (jsonl,) = (tmp / f"help{mode}{run}").glob("*.jsonl")
        events = sum(1 for _ in jsonl.open("rb"))
        jsonl.unlink()
        lags.sort()
        out.append(
            {
                "mode": mode,
                "help": "on" if help_on else "off",
                "wall_s": wall,
                "high_water": getattr(getattr(tee, "background", None), "high_water", float("nan")),
                "helped": getattr(tee, "helped", float("nan")),
                "dropped": tee.dropped,
                "events": events,
                "p50": lags[len(lags) // 2] if lags else float("nan"),
                "p99": lags[int(len(lags) * 0.99)] if lags else float("nan"),
            }
        )
    return out


# --- main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dsn", default=os.environ.get("ARBDASH_DATABASE_URL"), help="PostgreSQL DSN for (d)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls and shorter runs")
    parser.add_argument("-n", type=int, default=None, help="timed calls per case (default 20000)")
    args = parser.parse_args(argv)
    n = args.n or (5000 if args.quick else 20000)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows: list[Row] = []
        std = bench_stdlib(tmp, n)
        bare = bench_bare_structlog(tmp, n)
        rows += [
            ("(a) stdlib logging.info → FileHandler", *std),
            ("(b) bare structlog + orjson → file", *bare),
        ]
        plain = asyncio.run(bench_unified(tmp, n, console_level="warning"))
        rows += [
            ("(c) unified info   (JSONL+reducer+console≥warning)", *plain["info"]),
            ("(c) unified emit(MarkPrice prebuilt)", *plain["emit"]),
            ("(c) unified emit(MarkPrice(...)) incl. model build", *plain["emit+build"]),
        ]
        off = asyncio.run(bench_unified(tmp, n, console_level="info"))
        rows += [("(c') unified info, console at info (mode off)", *off["info"])]
        if args.dsn:
            pg = asyncio.run(
                _in_scratch_schema(
                    args.dsn, lambda dsn: bench_unified(tmp, n, console_level="warning", dsn=dsn)
                )
            )
            rows += [
                ("(d) unified info + PostgreSQL sink", *pg["info"]),
                ("(d) unified emit(prebuilt) + PostgreSQL sink", *pg["emit"]),
            ]
        rows += [("(e) disabled debug (level INFO)", *plain["debug"])]
        tp = bench_throughput(tmp, n)

        print(
            f"python {Path(__file__).relative_to(ROOT) if Path(__file__).is_relative_to(ROOT) else __file__}"
            f"{' --dsn …' if args.dsn else ''}   (n={n} per case, Python {sys.version.split()[0]})\n"
        )
        print(f"{'case':<52} {'p50 µs':>8} {'p99 µs':>8} {'p50/(a)':>8} {'p50/(b)':>8}")
        for label, p50, p99 in rows:
            print(f"{label:<52} {p50:>8.2f} {p99:>8.2f} {p50 / std[0]:>8.2f} {p50 / bare[0]:>8.2f}")
        print(
            f"\nend-to-end throughput, {n} calls until the last line is in the file (all threads' CPU counted):"
        )
        for label, key in (
            ("stdlib logging.info → FileHandler", "stdlib"),
            ("unified info → JSONL (+reducer, console≥warning)", "info"),
            ("unified emit(MarkPrice prebuilt) → JSONL (+…)", "emit"),
        ):
            print(f"  {label:<52} {tp[key]:>10,.0f} events/s  ({tp[key] / tp['stdlib']:.2f}× stdlib)")

        lag = asyncio.run(bench_loop_lag(tmp, 4.0 if args.quick else 10.0))
        print(
            f"\nevent-loop lag while emitting {lag['events_per_s']:.0f} events/s, live dashboard at 1 Hz "
            f"({lag['open']} open positions, {lag['frames']} frames): p50 {lag['p50']:.2f} ms, "
            f"p99 {lag['p99']:.2f} ms, max {lag['max']:.2f} ms"
        )

        render = bench_render()
        print(
            f"render per frame, {render['open']} open positions, {render['timeline']} timeline rows, 160×50: "
            f"median {render['median_ms']:.2f} ms, max {render['max_ms']:.2f} ms"
        )

        mem = bench_memory(tmp, 3 if args.quick else 6)
        print("\nmemory, real bot at --speed 0 over the whole window, repeated in one process:")
        print(f"{'run':>4} {'events so far':>14} {'RSS MB':>8} {'tracemalloc MB':>15}")
        for run, events, rss, traced in mem:
            print(f"{run:>4} {events:>14,} {rss:>8.1f} {traced:>15.2f}")

        pairs = 1 if args.quick else 3
        helps = bench_caller_help(tmp, pairs, "silent") + bench_caller_help(tmp, pairs, "off")
        print("\nthe caller's help, real bot at --speed 0, runs alternating help on (as shipped) / off:")
        print(
            f"{'mode':>6} {'help':>4} {'wall s':>7} {'events':>7} {'queue high-water':>17} "
            f"{'chunks helped':>14} {'dropped':>8} {'loop lag p50 ms':>16} {'p99 ms':>7}"
        )
        for h in helps:
            print(
                f"{h['mode']:>6} {h['help']:>4} {h['wall_s']:>7.2f} {h['events']:>7,} {h['high_water']:>17,} "
                f"{h['helped']:>14,} {h['dropped']:>8,} {h['p50']:>16.2f} {h['p99']:>7.2f}"
            )


if __name__ == "__main__":
    main()
