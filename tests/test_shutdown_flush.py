"""``Pipeline.flush``/``Tee.flush`` hands over the events queued *before* the call and returns: a thread that
keeps logging must not keep a flush on the event loop going (the reviewer's ``flush_livelock.py``). No timings:
the flush must return while the producer is still logging (it only stops once the flush has returned, or at its
own hang guard)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import orjson

from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline
from arbdash.logging_pipeline.sinks.base import Sink

PRODUCER_GUARD_S = (
    120.0  # the producer's own end, far beyond a correct flush: a hang guard, not a speed claim
)


class _Lines(Sink):
    name = "lines"

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[bytes] = []

    def write(self, line: bytes, record: dict) -> None:
        self.lines.append(line)
        end = time.perf_counter() + 2e-5  # a sink with some CPU work per event (a renderer, the reducer)
        while time.perf_counter() < end:
            pass


def test_flush_stops_at_the_events_queued_before_the_call() -> None:
    sink = _Lines()
    out: dict[str, object] = {}

    async def main() -> None:
        async with Pipeline(session_id=str(uuid.uuid4()), sinks=[sink], capture_stdlib=False) as p:
            p.tee.stop()  # no dispatcher thread: only flush dispatches, so the test sees exactly what it did
            log = get_logger("worker")
            # flushing a backlog with nobody else logging
            for i in range(5_000):
                log.info(f"b{i}")
            assert p.flush(None)
            assert p.tee.backlog == 0

            stop = threading.Event()
            limit = time.monotonic() + PRODUCER_GUARD_S

            def producer() -> None:
                while not stop.is_set() and time.monotonic() < limit:
                    log.info("tick")

            th = threading.Thread(target=producer, daemon=True)
            th.start()
            try:
                while p.tee.backlog < 1000:
                    await asyncio.sleep(0.01)
                log.info("marker before flush")
                ok = p.flush(None)
                out["producer_alive"] = (
                    th.is_alive()
                )  # before stop is set: a flush that waited for it sees False
                out["ok"] = ok
            finally:
                stop.set()
                th.join()

    asyncio.run(main())
    assert out["ok"] is True
    assert out["producer_alive"], f"flush only returned once the producer stopped ({out})"
    messages = [orjson.loads(line)["message"] for line in sink.lines]
    assert "marker before flush" in messages  # everything queued before the call was handed over
