"""A console nobody reads (``runbot ... --dashboard-mode=off | (sleep 20; cat)``) neither slows the bot nor
costs the record a line: console lines the terminal cannot take are dropped, counted and reported
(``session.health`` degraded, component ``console``); the JSONL is complete.

The console stream here is a real pipe whose reader does not read (its buffer shrunk to one page, so the
first few kilobytes fill it), during a real ``--speed 0`` run of the shipped config in ``off`` mode; the run
is compared with an undisturbed one measured in the same test.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from support_runs import Run, run_bot_in_process, trades

from arbdash.logging_pipeline import Sink
from arbdash.logging_pipeline.sinks.console import ConsoleSink

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
READER_GIVES_UP_S = 20.0  # the reader starts reading after this long (bounds a broken implementation's hang)


class StalledPipe:
    """A pipe whose reader reads nothing until ``READER_GIVES_UP_S`` (or never, once ``close``d)."""

    def __init__(self) -> None:
        self.r, w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        self.stream = open(w, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._late_reader = threading.Timer(READER_GIVES_UP_S, self._read_all)
        self._late_reader.daemon = True
        self._late_reader.start()

    def _read_all(self) -> None:
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
    finally:
        pipe.close()
    (console,) = consoles

    # the bot: same trades, in about the time of an undisturbed run (a bot blocked on the pipe takes ≥ 20 s)
    assert run.code == 0
    assert trades(run) == trades(undisturbed)
    assert run.bot_wall_s <= 3 * undisturbed.bot_wall_s + 0.5, (run.bot_wall_s, undisturbed.bot_wall_s)

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
        self.release.wait(10)
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
        t0 = time.monotonic()
        for _ in range(20_000):
            sink.write(b"{}", _RECORD)
        assert time.monotonic() - t0 < 2.0  # 20,000 writes while the stream is stuck: none waited on it
        assert stream.calls <= 1  # the writer thread is the one stuck
        assert 20_000 - 100 - 512 <= sink.dropped < 20_000  # queue bound (+ the batch the thread holds)
        sink.check()
        assert sink.health == "degraded" and f"{sink.dropped} lines dropped" in (sink.health_reason or "")
        t1 = time.monotonic()
        await sink.aclose()  # gives up on the stuck stream after close_timeout_s
        assert time.monotonic() - t1 < 1.0
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
