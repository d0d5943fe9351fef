"""The tee's dispatcher (issue 5 §1): the caller only queues; a dispatcher thread redacts, numbers, serialises
and writes to the sinks — in ``seq`` order, redaction first, within its interval, without ever blocking the
caller — and ``flush`` (the final frame, checkpoints, ``Pipeline`` exit) makes every logged event visible."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson

from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline, Sink
from arbdash.logging_pipeline.processors import AddEnvelope
from arbdash.logging_pipeline.redact import REDACTED
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee
from arbdash.logging_pipeline.writer import BatchFileWriter

log = get_logger("tests.dispatcher")
SECRET = "sk-live-7Gq2Lm9Xw4Rt"


class ListSink(Sink):
    name = "list"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []
        self.threads: set[int] = set()

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self.threads.add(threading.get_ident())
        self.events.append(orjson.loads(line))


class BlockingSink(Sink):
    """A sink whose ``write`` blocks until released (breaks the sink contract on purpose)."""

    name = "blocking"

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.inside = threading.Event()  # set while a write is held

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self.inside.set()
        self.release.wait(600)  # longer than any hang guard here: only the test lets it go
        self.inside.clear()


def _wait_for(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


async def test_sinks_run_on_the_dispatcher_without_a_flush() -> None:
    """The dispatcher thread delivers on its own (how soon is a speed figure: ``tools/bench.py``)."""
    sink = ListSink()
    async with Pipeline(session_id="s", sinks=[sink]):
        for i in range(100):
            log.info("tick", i=i)
        assert _wait_for(lambda: len(sink.events) == 100, timeout=30.0)  # no flush asked for
        assert threading.get_ident() not in sink.threads  # not the caller's thread
    assert [e["i"] for e in sink.events] == list(range(100))
    assert [e["seq"] for e in sink.events] == list(range(1, 101))


async def test_a_field_changed_after_the_call_is_logged_as_it_was_and_redacted() -> None:
    sink = ListSink()
    async with Pipeline(session_id="s", sinks=[sink], secrets=[SECRET]) as pipe:
        pipe.tee.stop()  # nothing dispatched until the flush below: the copy must have been taken at the call
        venues = ["binance", f"key {SECRET}"]
        log.info("venues", venues=venues, api_key=SECRET)
        venues.append("bybit")
        venues[0] = "changed"
        assert sink.events == []
        assert pipe.flush()
    (event,) = sink.events
    assert event["venues"] == ["binance", f"key {REDACTED}"]
    assert event["api_key"] == REDACTED


async def test_seq_is_line_order_while_threads_log_and_another_thread_flushes() -> None:
    sink = ListSink()
    async with Pipeline(session_id="s", sinks=[sink]) as pipe:
        stop = threading.Event()

        def flusher() -> None:
            while not stop.is_set():
                pipe.flush()

        def worker(n: int) -> None:
            for i in range(2000):
                log.info(f"t{n} {i}", n=n, i=i)

        helper = threading.Thread(target=flusher)
        helper.start()
        workers = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        stop.set()
        helper.join()
    assert [e["seq"] for e in sink.events] == list(range(1, 8001))
    for n in range(4):  # each thread's events keep their order
        assert [e["i"] for e in sink.events if e["n"] == n] == list(range(2000))


async def test_a_full_drain_of_the_reducer_tee_sees_every_event_logged_before_it() -> None:
    tee = ReducerTee()
    fed: list[bytes] = []

    class Consumer:
        def feed_lines(self, lines: list[bytes]) -> int:
            fed.extend(lines)
            return len(lines)

    async with Pipeline(session_id="s", sinks=[tee]):
        for i in range(1000):
            log.info("x", i=i)
        assert tee.drain_into(Consumer()) == 1000  # at once, not after the dispatcher's interval
    assert [orjson.loads(x)["seq"] for x in fed] == list(range(1, 1001))


async def test_a_sink_blocking_in_write_never_blocks_the_caller(tmp_path: Path) -> None:
    blocking, after = BlockingSink(), ListSink()
    pipe = Pipeline(session_id="s", sinks=[blocking, after])
    pipe.dispatch_stall_s = 0.2
    async with pipe:
        log.info("first")
        assert _wait_for(lambda: pipe.tee.stalled_s > pipe.tee.stall_s + 0.1)
        for i in range(2000):  # returns while the sink is still held: had a call waited for it, none would
            log.info("more", i=i)
        assert blocking.inside.is_set() and not blocking.release.is_set()
        # a known stall: flush gives up at once instead of waiting out its hour (a thread, so a regression
        # fails the join below rather than hanging the suite)
        flushed: list[bool] = []
        waiter = threading.Thread(target=lambda: flushed.append(pipe.flush(timeout=3600.0)), daemon=True)
        waiter.start()
        waiter.join(60)
        assert flushed == [False]
        pipe.check_sinks()
        blocking.release.set()
        assert _wait_for(lambda: pipe.tee.stalled_s < pipe.tee.stall_s)
        assert pipe.flush()
    assert len(after.events) == 2003  # every event, in order, once the sink returned
    assert [e["seq"] for e in after.events] == list(range(1, 2004))
    health = [e for e in after.events if e.get("component") == "log-dispatcher"]
    assert health[0]["health"] == "degraded" and "blocked" in health[0]["reason"]


async def test_a_stalled_jsonl_disk_does_not_hold_up_the_other_sinks(
    tmp_path: Path, monkeypatch: Any
) -> None:
    release = threading.Event()
    real_open = BatchFileWriter.open

    class HungFile:
        def __init__(self, real: Any) -> None:
            self.real = real

        def writelines(self, lines: Any) -> None:
            release.wait(30)
            self.real.writelines(lines)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    def open_hung(self: BatchFileWriter) -> None:
        real_open(self)
        self._file = HungFile(self._file)

    monkeypatch.setattr(BatchFileWriter, "open", open_hung)
    jsonl, other = JsonlSink(tmp_path / "s.jsonl", close_timeout_s=0.2), ListSink()
    try:
        async with Pipeline(session_id="s", sinks=[jsonl, other]) as pipe:
            for i in range(500):
                log.info("x", i=i)
            assert _wait_for(lambda: len(other.events) == 500, timeout=1.0)
            assert pipe.tee.stalled_s == 0.0
    finally:
        release.set()


async def test_dropped_and_failed_events_are_counted_and_reported(monkeypatch: Any) -> None:
    sink = ListSink()
    pipe = Pipeline(session_id="s", sinks=[sink])
    async with pipe:
        pipe.tee.stop()
        pipe.tee.help_at = pipe.tee.max_pending = 10
        pipe.tee.background.lock.acquire()  # a dispatch stuck in a sink: the caller cannot help either
        try:
            for i in range(25):
                log.info("x", i=i)
        finally:
            pipe.tee.background.lock.release()
        assert pipe.tee.dropped == 15  # never blocked: counted instead
        real = AddEnvelope.build
        calls = []

        def flaky(*args: Any) -> Any:
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("envelope bug")
            return real(*args)

        monkeypatch.setattr(AddEnvelope, "build", flaky)
        assert pipe.flush()
        pipe.tee.help_at = pipe.tee.max_pending = 1000
        pipe.check_sinks()
    assert [e["i"] for e in sink.events if "i" in e] == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    (health,) = [e for e in sink.events if e.get("component") == "log-dispatcher"]
    assert health["health"] == "degraded"
    assert "15 events dropped" in health["reason"] and "1 failed" in health["reason"]
    assert "envelope bug" in health["reason"]
    assert [e["seq"] for e in sink.events] == list(range(1, len(sink.events) + 1))  # no gap from the failure


async def test_a_starved_dispatcher_is_helped_by_the_caller_not_dropped() -> None:
    """With the dispatcher thread not running (CPU-starved), the queue stays bounded and nothing is lost."""
    sink = ListSink()
    pipe = Pipeline(session_id="s", sinks=[sink])
    async with pipe:
        pipe.tee.stop()
        pipe.tee.help_at = 50
        for i in range(1000):
            log.info("x", i=i)
            assert pipe.tee.backlog <= 50
        assert pipe.tee.dropped == 0
    assert [e["i"] for e in sink.events if "i" in e] == list(range(1000))


async def test_drops_counted_from_many_threads_add_up_and_the_helping_caller_never_waits() -> None:
    """``Tee.dropped`` is incremented by every logging thread: no increment may be lost. And a caller over
    ``help_at`` while another thread holds the dispatch lock only *tries* the lock: it returns at once."""
    import sys

    sink = ListSink()
    pipe = Pipeline(session_id="s", sinks=[sink])
    threads, per_thread = 8, 5_000
    async with pipe:
        pipe.tee.stop()
        pipe.tee.help_at = pipe.tee.max_pending = 10
        held, done = threading.Event(), threading.Event()

        def dispatcher_mid_chunk() -> None:  # another thread holds the lock (a dispatch in progress)
            with pipe.tee.background.lock:
                held.set()
                done.wait(600)  # longer than the producers' joins: a producer that waits for it stays alive

        holder = threading.Thread(target=dispatcher_mid_chunk)
        holder.start()
        assert held.wait(5)
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible: a lost ``+=`` would show
        try:

            def produce() -> None:
                for i in range(per_thread):
                    log.info("x", i=i)

            workers = [threading.Thread(target=produce, daemon=True) for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(120)
            # every producer returned while the lock was still held: none waited for it
            finished = [not w.is_alive() for w in workers]
        finally:
            sys.setswitchinterval(switch)
            done.set()
            holder.join(5)
        assert all(finished)  # 40,000 calls that never waited for the held lock
        queued = pipe.tee.backlog
        # every call was either queued or counted as dropped: no lost increment. The bound is checked before
        # the append without a lock, so threads racing at the edge may each queue one more (a soft bound).
        assert pipe.tee.dropped + queued == threads * per_thread
        assert 10 <= queued < 10 + threads
        pipe.tee.help_at = pipe.tee.max_pending = 1000
