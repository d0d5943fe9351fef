"""A console nobody reads (``runbot ... --dashboard-mode=off | (sleep 20; cat)``) neither slows the bot nor
costs the record a line: console lines the terminal cannot take are dropped, counted and reported
(``session.health`` degraded, component ``console``); the JSONL is complete.

The console stream here is a real pipe whose reader does not read (its buffer shrunk to one page, so the
first few kilobytes fill it), during a real ``--speed 0`` run of the shipped config in ``off`` mode; the run
ends while that reader has still read nothing (a bot waiting on the pipe could not), and makes the same trades as
an undisturbed one. No timings: "does not slow the bot" is shown by finishing while the console is still held.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Any

import orjson
from support_runs import Run, run_bot_in_process, trades

from arbdash.logging_pipeline import Sink
from arbdash.logging_pipeline.sinks.console import ConsoleSink

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
READER_GIVES_UP_S = 300.0  # the reader starts reading after this long (bounds a broken implementation's hang)
HOLD_S = 600.0  # how long a ``BlockedStream`` holds a write at most: longer than any hang guard below
JOIN_S = 60.0  # a hang guard for calls that must return while a stream is held, not a speed claim


class StalledPipe:
    """A pipe whose reader reads nothing until ``READER_GIVES_UP_S`` (or never, once ``close``d); ``read_from``
    says whether it started reading."""

    def __init__(self) -> None:
        self.read_from = False
        self.r, w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        self.stream = open(w, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._late_reader = threading.Timer(READER_GIVES_UP_S, self._read_all)
        self._late_reader.daemon = True
        self._late_reader.start()

    def _read_all(self) -> None:
        self.read_from = True
        with contextlib.suppress(OSError):
            while os.read(self.r, 65536):
                pass

    def close(self) -> None:
        """Close the read end: a writer blocked on the pipe gets ``EPIPE`` and returns."""
        self._late_reader.cancel()
        with contextlib.suppress(OSError):
            os.close(self.r)


def _jsonl_events(run: Run) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in run.jsonl.read_bytes().splitlines()]


def test_a_console_nobody_reads_does_not_slow_the_bot_and_the_jsonl_is_complete(tmp_path: Path) -> None:
    undisturbed = run_bot_in_process(tmp_path, mode="off")
    assert undisturbed.code == 0
    pipe = StalledPipe()
    consoles: list[ConsoleSink] = []

    def stalled_console(sinks: list[Sink]) -> list[Sink]:
        for sink in sinks:
            if isinstance(sink, ConsoleSink):
                sink.stream, sink.close_timeout_s = pipe.stream, 0.5
                consoles.append(sink)
        return sinks

    try:
        run = run_bot_in_process(tmp_path, mode="off", adjust_sinks=stalled_console)
        read_during_the_run = pipe.read_from
    finally:
        pipe.close()
    (console,) = consoles

    # the bot: the whole run while nobody read the console (a bot blocked on the pipe would still be waiting for
    # the late reader), with the same trades as an undisturbed run
    assert not read_during_the_run
    assert run.code == 0
    assert trades(run) == trades(undisturbed)

    # the record: every event, every seq, ending with session.stopped — exactly what the other sinks got
    events = _jsonl_events(run)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "session.stopped" and events[-1]["reason"] == "completed"
    assert run.jsonl.read_bytes().splitlines() == run.lines

    # the console: lines dropped, counted and reported as the console sink's health
    assert console.dropped > 0
    health = [e for e in events if e["event"] == "session.health" and e.get("component") == "console"]
    assert health and health[0]["health"] == "degraded"
    assert "dropped" in health[0]["reason"] and "JSONL" in health[0]["reason"]


class BlockedStream:
    """A text stream whose ``write`` waits until released (a terminal that takes nothing)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.text: list[str] = []

    def write(self, text: str) -> int:
        self.calls += 1
        self.release.wait(HOLD_S)
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        pass


_RECORD = {
    "level": "warning",
    "event": "log.message",
    "message": "m",
    "ts": "2026-01-01T00:00:00+00:00",
    "logger": "t",
    "src": "t:t:1",
}


async def test_console_write_returns_at_once_while_the_stream_blocks_and_counts_what_it_drops() -> None:
    stream = BlockedStream()
    sink = ConsoleSink(stream, max_pending=100, close_timeout_s=0.2)  # type: ignore[arg-type]
    await sink.start()
    try:
        writer = threading.Thread(
            target=lambda: [sink.write(b"{}", _RECORD) for _ in range(20_000)], daemon=True
        )
        writer.start()
        writer.join(JOIN_S)
        assert not writer.is_alive()  # 20,000 writes returned while the stream is stuck: none waited on it
        assert stream.calls <= 1  # the writer thread is the one stuck
        assert 20_000 - 100 - 512 <= sink.dropped < 20_000  # queue bound (+ the batch the thread holds)
        sink.check()
        assert sink.health == "degraded" and f"{sink.dropped} lines dropped" in (sink.health_reason or "")
        # gives up on the stuck stream after close_timeout_s: returns while the stream is still held (on a thread
        # of its own, so a close that waits for the stream fails the join instead of hanging the test)
        closer = threading.Thread(target=lambda: asyncio.run(sink.aclose()), daemon=True)
        closer.start()
        closer.join(JOIN_S)
        assert not closer.is_alive()
        assert not stream.text  # the stream took nothing meanwhile: it was held throughout
    finally:
        stream.release.set()


async def test_console_lines_all_reach_a_stream_that_keeps_up_and_health_recovers() -> None:
    stream = BlockedStream()
    stream.release.set()
    sink = ConsoleSink(stream, max_pending=100, recover_after_s=0.0)  # type: ignore[arg-type]
    await sink.start()
    for i in range(50):
        sink.write(b"{}", {**_RECORD, "message": f"m{i}"})
    await sink.aclose()
    lines = "".join(stream.text).splitlines()
    assert [line.rsplit("| ", 1)[1] for line in lines] == [f"m{i}" for i in range(50)]
    assert sink.dropped == 0 and sink.health == "ok"
