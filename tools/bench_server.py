"""Benchmark of the control server (issue 12): what serving costs the bot's event loop. Not a test: prints a table.

    python tools/bench_server.py                      # ~1.5 min: 3 rounds of 8 s per phase, 20 clients
    python tools/bench_server.py --quick              # 2 rounds of 4 s
    python tools/bench_server.py --dashboard live     # with the live dashboard redrawing into /dev/null

One process and one event loop, as ``runbot`` composes them (pipeline: JSONL + reducer tee [+ ring];
``DashboardService``; a task emitting ``--rate`` events/s — marks, funding rates, position updates, log lines,
with 10 positions open — and a probe task sleeping 5 ms whose oversleep is the event-loop lag):

1. **no server** — the pipeline without the ring sink and without uvicorn (the bot as it was);
2. **server, 0 clients** and **server, 20 clients** — a session with ``ControlServer`` on 127.0.0.1, one phase
   of each; the clients are ``/api/stream`` connections held by a child process (``--clients-of URL``: it reads
   and counts bytes, nothing else), connected before the phase's measurement starts and closed after it.

The two kinds of session alternate ``--rounds`` times, so the three conditions are measured in the same run,
interleaved.

Per condition: lag p50 / p99 / max (ms), events emitted per second, and the process CPU time per event
(``time.process_time``: every thread of this process — the loop, the dispatcher, the writers — not the client
process). The ratio and the difference of the p99 with clients to the p99 without clients (same run) are the
headline; **server cost per event** is the CPU time per event with the server (0 and 20 clients) minus that
without it. Finally a micro-benchmark of the server's own per-event path without sockets: the ring sink's
``write`` (the dispatcher thread's share), the pump and fan-out to 20 client queues plus the SSE framing of
a batch (the loop's share).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

MARKET_T = datetime(2026, 3, 1, 8, tzinfo=UTC)
OPEN_POSITIONS = 10


# --- the client process -----------------------------------------------------------------------------------------


async def clients_main(url: str, n: int) -> None:
    """Child process: on ``connect`` open ``n`` stream connections, on ``disconnect`` close them, on ``quit``
    print what was read (JSON) and exit. Reads and counts bytes only."""
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    reader_in = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader_in), sys.stdin)
    tasks: list[asyncio.Task[None]] = []
    totals = {"bytes": 0, "connections": 0}

    async def one() -> None:
        r, w = await asyncio.open_connection(host, int(port))
        w.write(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await w.drain()
        totals["connections"] += 1
        try:
            while data := await r.read(1 << 16):
                totals["bytes"] += len(data)
        finally:
            w.close()

    while line := await reader_in.readline():
        cmd = line.strip()
        if cmd == b"connect":
            tasks = [asyncio.create_task(one()) for _ in range(n)]
        elif cmd == b"disconnect":
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            tasks = []
        elif cmd == b"quit":
            break
    print(orjson.dumps(totals).decode(), flush=True)


# --- the bot side -----------------------------------------------------------------------------------------------


def _events() -> tuple[Any, Any]:
    """``(open_positions, one_event)``: ``tools.bench_workload`` on the unified logger (imported late: the client
    process needs none of it)."""
    from functools import partial

    from arbdash.helpers.unified_logger import get_logger
    from arbdash.tools import bench_workload

    log = get_logger("bench")
    return (
        partial(bench_workload.open_positions, log),
        lambda i: bench_workload.one_event(log, i, OPEN_POSITIONS),
    )


class Phase:
    def __init__(self, label: str) -> None:
        self.label = label
        self.lags: list[float] = []
        self.events = 0
        self.cpu_s = 0.0
        self.wall_s = 0.0


async def session(
    tmp: Path, *, serve: bool, plan: list[str], seconds: float, rate: int, clients: int, dashboard: str
) -> tuple[list[Phase], dict[str, Any]]:
    """One pipeline session run through ``plan`` (phase labels: ``none`` / ``clients``)."""
    from arbdash.control.ring import RingSink
    from arbdash.control.server import ControlServer, bind_socket
    from arbdash.dashboard.reducer import Reducer
    from arbdash.dashboard.service import DashboardService
    from arbdash.logging_pipeline import Pipeline
    from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
    from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee

    open_positions, one_event = _events()
    tee, reducer = ReducerTee(), Reducer(timeline_size=20)
    jsonl = JsonlSink(tmp / f"{uuid.uuid4()}.jsonl")
    ring = RingSink() if serve else None
    sinks: list[Any] = [jsonl, tee] + ([ring] if ring is not None else [])
    phases: list[Phase] = []
    extra: dict[str, Any] = {}
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        async with Pipeline(
            session_id=str(uuid.uuid4()), sinks=sinks, market_clock=lambda: MARKET_T
        ) as pipeline:
            async with DashboardService(
                tee,
                reducer,
                mode=dashboard,  # type: ignore[arg-type]
                stream=devnull,
                width=160,
                force_terminal=True,
                upstream_pending=lambda: pipeline.tee.backlog,
            ):
                server = None
                child = None
                if serve:
                    server = ControlServer(
                        reducer=reducer, jsonl=jsonl.path, ring=ring, sock=bind_socket("127.0.0.1", 0)
                    )
                    url = await server.start()
                    child = await asyncio.create_subprocess_exec(
                        sys.executable,
                        __file__,
                        "--clients-of",
                        url,
                        "--clients",
                        str(clients),
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                    )
                open_positions(OPEN_POSITIONS)
                loop = asyncio.get_running_loop()
                current: list[Phase | None] = [None]
                emitted = 0
                done = False

                async def probe() -> None:
                    while not done:
                        t0 = loop.time()
                        await asyncio.sleep(0.005)
                        lag = (loop.time() - t0 - 0.005) * 1000
                        if current[0] is not None:
                            current[0].lags.append(lag)

                async def emitter() -> None:
                    nonlocal emitted
                    per_tick = max(1, rate // 100)  # every 10 ms
                    start, n = loop.time(), 0
                    while not done:
                        for _ in range(per_tick):
                            one_event(emitted)
                            emitted += 1
                        n += per_tick
                        await asyncio.sleep(max(0.0, start + n / rate - loop.time()))

                tasks = [asyncio.create_task(probe()), asyncio.create_task(emitter())]
                await asyncio.sleep(1.0)  # warm-up
                for label in plan:
                    if label == "clients" and child is not None and server is not None:
                        assert child.stdin is not None
                        child.stdin.write(b"connect\n")
                        await child.stdin.drain()
                        for _ in range(1000):
                            if server.hub.stats().clients == clients:
                                break
                            await asyncio.sleep(0.01)
                        await asyncio.sleep(0.5)  # connections settled, snapshots sent
                    phase = Phase(label)
                    e0, c0, w0 = emitted, time.process_time(), time.perf_counter()
                    current[0] = phase
                    await asyncio.sleep(seconds)
                    current[0] = None
                    phase.events = emitted - e0
                    phase.cpu_s = time.process_time() - c0
                    phase.wall_s = time.perf_counter() - w0
                    phases.append(phase)
                    if label == "clients" and child is not None and server is not None:
                        assert child.stdin is not None
                        child.stdin.write(b"disconnect\n")
                        await child.stdin.drain()
                        for _ in range(1000):
                            if server.hub.stats().clients == 0:
                                break
                            await asyncio.sleep(0.01)
                        await asyncio.sleep(0.5)
                done = True
                await asyncio.gather(*tasks)
                if child is not None and server is not None:
                    assert child.stdin is not None
                    child.stdin.write(b"quit\n")
                    await child.stdin.drain()
                    out, _ = await child.communicate()
                    extra["client_read"] = orjson.loads(out.strip().splitlines()[-1]) if out.strip() else {}
                    extra["hub"] = server.hub.stats()
                    await server.stop()
    finally:
        devnull.close()
    return phases, extra


def _summary(phases: list[Phase]) -> dict[str, float]:
    lags = sorted(x for p in phases for x in p.lags)
    events = sum(p.events for p in phases)
    return {
        "p50": lags[len(lags) // 2],
        "p99": lags[int(len(lags) * 0.99)],
        "max": lags[-1],
        "events_per_s": events / sum(p.wall_s for p in phases),
        "cpu_us_per_event": sum(p.cpu_s for p in phases) / events * 1e6,
        "samples": len(lags),
    }


def micro(clients: int, n: int = 200_000) -> dict[str, float]:
    """The server's per-event path without sockets (ns/event): the sink's ``write`` (dispatcher thread), then
    pump + fan-out to ``clients`` queues + SSE framing of each batch once (the loop)."""
    from arbdash.control.hub import StreamHub
    from arbdash.control.ring import RingSink
    from arbdash.control.snapshots import SnapshotSource
    from arbdash.dashboard.reducer import Reducer

    line = orjson.dumps({"v": 1, "seq": 0, "event": "market.mark_price", "message": "x" * 300})
    ring = RingSink()
    hub = StreamHub(ring, SnapshotSource(Reducer()).current, None, max_queued=1 << 30)
    cs = [hub.try_open() for _ in range(clients)]
    batch = 256
    t_write = t_loop = 0
    for start in range(1, n + 1, batch):
        t0 = time.perf_counter_ns()
        for seq in range(start, start + batch):
            ring.write(line, {"seq": seq})
        t1 = time.perf_counter_ns()
        ring.pump()
        for c in cs:  # what each stream's generator does with its queue (the bytes are built once)
            assert c is not None
            while c.batches:
                b = c.batches.popleft()
                c.queued -= len(b)
                _ = b.data
        t2 = time.perf_counter_ns()
        t_write += t1 - t0
        t_loop += t2 - t1
    return {"write_ns": t_write / n, "loop_ns": t_loop / n}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of (0 clients, N clients) phases")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=int, default=2000, help="events per second")
    parser.add_argument("--dashboard", choices=["silent", "live"], default="silent")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients-of", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clients_of:
        asyncio.run(clients_main(args.clients_of, args.clients))
        return
    if args.quick:
        args.seconds, args.rounds = 4.0, 2
    print(
        f"control server benchmark: {args.rate} events/s, {args.clients} stream clients, dashboard "
        f"{args.dashboard}, {args.rounds} rounds × {args.seconds:g} s per phase (pid {os.getpid()})",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        common = dict(seconds=args.seconds, rate=args.rate, clients=args.clients, dashboard=args.dashboard)
        off: list[Phase] = []
        on: list[Phase] = []
        hubs: list[Any] = []
        read_mb = 0.0
        for _ in range(args.rounds):  # the sessions alternate too, so drift hits both alike
            off += asyncio.run(session(tmp, serve=False, plan=["none"], **common))[0]  # type: ignore[arg-type]
            phases, extra = asyncio.run(session(tmp, serve=True, plan=["none", "clients"], **common))  # type: ignore[arg-type]
            on += phases
            hubs.append(extra["hub"])
            read_mb += extra.get("client_read", {}).get("bytes", 0) / 1e6
    rows = {
        "no server": _summary(off),
        "server, 0 clients": _summary([p for p in on if p.label == "none"]),
        f"server, {args.clients} clients": _summary([p for p in on if p.label == "clients"]),
    }
    print(f"\n{'':24} {'lag p50 ms':>10} {'p99 ms':>7} {'max ms':>7} {'events/s':>9} {'CPU µs/event':>13}")
    for label, r in rows.items():
        print(
            f"{label:24} {r['p50']:10.2f} {r['p99']:7.2f} {r['max']:7.2f} {r['events_per_s']:9.0f} "
            f"{r['cpu_us_per_event']:13.1f}"
        )
    base, zero, full = rows.values()
    print(
        f"\np99 with {args.clients} clients ÷ without (same run): {full['p99'] / zero['p99']:.2f}×, "
        f"difference {full['p99'] - zero['p99']:+.2f} ms"
    )
    print(f"p99 with the server (0 clients) − no server: {zero['p99'] - base['p99']:+.2f} ms")
    print(
        f"server cost per event (process CPU): {zero['cpu_us_per_event'] - base['cpu_us_per_event']:+.1f} µs "
        f"idle, {full['cpu_us_per_event'] - base['cpu_us_per_event']:+.1f} µs with {args.clients} clients "
        f"({(full['cpu_us_per_event'] - zero['cpu_us_per_event']) / args.clients:+.2f} µs per client)"
    )
    print(
        f"streams: {sum(h.connections for h in hubs)} connections, {sum(h.events_sent for h in hubs)} events sent, "
        f"{sum(h.overflows for h in hubs)} overflows, {sum(h.resyncs for h in hubs)} resyncs, fullest queue ever "
        f"{max(h.high_water for h in hubs)} events (bound {hubs[0].max_queued}); clients read {read_mb:.1f} MB"
    )
    m = micro(args.clients)
    print(
        f"micro (no sockets): ring write {m['write_ns']:.0f} ns/event on the dispatcher thread; pump + fan-out "
        f"to {args.clients} queues + SSE framing {m['loop_ns']:.0f} ns/event on the loop"
    )


if __name__ == "__main__":
    main()
