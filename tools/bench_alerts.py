"""Benchmark: what alerting to a dead receiver costs the bot's event loop (issue 13). Not a test: prints a table.

    python tools/bench_alerts.py            # ~1 min: 3 rounds × 2 conditions × 8 s
    python tools/bench_alerts.py --quick    # 2 rounds × 4 s

One process, one event loop, the pipeline as ``runbot`` composes it (JSONL + reducer tee, ``DashboardService``
silent), a task emitting ``--rate`` events/s (``tools.bench_workload``: 10 open positions) and a probe task
sleeping 5 ms whose oversleep is the event-loop lag. Two conditions alternate in the same run:

* **no alerts** — the bot as it runs without an ``alerts:`` block;
* **alerts → dead receiver** — an ``AlertWatcher`` evaluating the live reducer every 0.1 s with a rule that is
  always breached and resolved in turn (so it fires five times a second), notifying through a ``Notifier`` to a
  ``json://`` receiver that accepts connections and never answers (each delivery hangs until its timeout, every
  retry too): the worst receiver there is.

The table gives lag p50 / p99 / max per condition and the alerts that piled up (sent / failed / dropped); the
headline is the p99 ratio and difference, alerts over none, from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OPEN_POSITIONS = 10


async def _session(tmp: Path, plan: list[str], seconds: float, rate: int, dead_port: int) -> dict[str, Any]:

    from arbdash.alerts.config import AlertRule, AlertsConfig
    from arbdash.alerts.notify import Notifier
    from arbdash.alerts.watch import AlertWatcher
    from arbdash.dashboard.reducer import Reducer
    from arbdash.dashboard.service import DashboardService
    from arbdash.helpers.unified_logger import get_logger
    from arbdash.logging_pipeline import Pipeline
    from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
    from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee
    from arbdash.tools import bench_workload

    log = get_logger("bench")
    tee, reducer = ReducerTee(), Reducer(timeline_size=20)
    lags: dict[str, list[float]] = {label: [] for label in plan}
    out: dict[str, Any] = {"lags": lags}
    async with Pipeline(
        session_id=str(uuid.uuid4()),
        sinks=[JsonlSink(tmp / f"{uuid.uuid4()}.jsonl"), tee],
        market_clock=lambda: bench_workload.MARKET_T,
    ) as pipeline:
        async with DashboardService(
            tee, reducer, mode="silent", upstream_pending=lambda: pipeline.tee.backlog
        ):
            bench_workload.open_positions(log, OPEN_POSITIONS)
            loop = asyncio.get_running_loop()
            current: list[str | None] = [None]
            done = False

            async def probe() -> None:
                while not done:
                    t0 = loop.time()
                    await asyncio.sleep(0.005)
                    if current[0] is not None:
                        lags[current[0]].append((loop.time() - t0 - 0.005) * 1000)

            async def emitter() -> None:
                per_tick, start, n, i = max(1, rate // 100), loop.time(), 0, 0
                while not done:
                    for _ in range(per_tick):
                        bench_workload.one_event(log, i, OPEN_POSITIONS)
                        i += 1
                    n += per_tick
                    await asyncio.sleep(max(0.0, start + n / rate - loop.time()))

            tasks = [asyncio.create_task(probe()), asyncio.create_task(emitter())]
            notifier = Notifier(
                [f"json://127.0.0.1:{dead_port}/hook"],
                queue_size=256,
                retries=3,
                backoff_s=0.5,
                timeout_s=2.0,
            )
            flap = [
                AlertRule(name="flap", figure="net_pnl_usd", above=Decimal("-1e12"), cooldown_s=0),
            ]
            watcher = AlertWatcher(
                AlertsConfig(rules=flap),
                reducer,
                lambda ev, msg, level: log.emit(ev, message=msg, level=level),
                notifier,
                interval_s=0.1,
            )

            async def alerting() -> None:
                while True:
                    watcher.check()
                    watcher.engine.active.clear()  # resolve silently: the next check fires again
                    await asyncio.sleep(0.2)

            await asyncio.sleep(1.0)  # warm-up
            for label in plan:
                task = asyncio.create_task(alerting()) if label == "alerts" else None
                current[0] = label
                await asyncio.sleep(seconds)
                current[0] = None
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            done = True
            await asyncio.gather(*tasks)
            started = time.perf_counter()
            await asyncio.to_thread(notifier.close, 1.0)
            out.update(
                fired=watcher.fired,
                sent=notifier.sent,
                failed=notifier.failed,
                dropped=notifier.dropped,
                close_s=time.perf_counter() - started,
            )
    return out


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=int, default=2000, help="events per second")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 2, 4.0
    plan = ["none", "alerts"] * args.rounds
    with socket.socket() as dead, tempfile.TemporaryDirectory() as tmp:
        dead.bind(("127.0.0.1", 0))
        dead.listen(1024)  # accepts (the kernel does) and never answers
        result = asyncio.run(_session(Path(tmp), plan, args.seconds, args.rate, dead.getsockname()[1]))
    lags = result["lags"]
    print(f"{args.rate} events/s, {args.rounds} rounds × {args.seconds:g} s per condition, pid {os.getpid()}")
    print("| condition | lag p50 ms | p99 ms | max ms | samples |")
    print("|---|---|---|---|---|")
    names = {"none": "no alerts", "alerts": "alerts → dead receiver"}
    for label in ("none", "alerts"):
        xs = lags[label]
        print(f"| {names[label]} | {_pct(xs, 0.5):.2f} | {_pct(xs, 0.99):.2f} | {max(xs):.2f} | {len(xs)} |")
    p_none, p_alerts = _pct(lags["none"], 0.99), _pct(lags["alerts"], 0.99)
    print(f"p99 alerts ÷ none: {p_alerts / p_none:.2f}×, {p_alerts - p_none:+.2f} ms")
    print(
        f"alerts fired {result['fired']}: delivered {result['sent']}, failed {result['failed']}, "
        f"dropped (queue full / at close) {result['dropped']}; notifier closed in {result['close_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
