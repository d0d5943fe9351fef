"""A text log whose file stops taking writes (a hung disk / NFS mount; here a FIFO nobody reads) must not hang the
shutdown nor block the event loop: ``TextLogSink.aclose`` waits at most ``close_timeout_s``, off the loop, and
marks the sink failed (the reviewer's ``textlog_hang.py``). No timings: the child ends although nothing reads the
FIFO, and its wait for the writer thread can only begin once the event loop has run while it is under way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HANG_GUARD_S = 120.0  # bounds each child's run (it takes about a second), not a speed claim

CHILD = r"""
import asyncio, json, os, sys, threading, uuid
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from arbdash.logging_pipeline import Pipeline
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
from arbdash.logging_pipeline.sinks.console import TextLogSink
from arbdash.helpers.unified_logger import get_logger

d, text_path, close_timeout = Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
if text_path.is_fifo():
    keep = os.open(text_path, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads: writes block when full

async def main():
    sid = str(uuid.uuid4())
    tl = TextLogSink(text_path)
    tl.close_timeout_s = close_timeout
    loop_thread = threading.get_ident()
    closes = []  # (thread, timeout) of each wait for the writer thread
    started, loop_ran = threading.Event(), threading.Event()
    wait_for_writer = tl._writer.close

    def traced_close(timeout):
        # the wait for the writer may begin only once the event loop has run while it is under way: on the
        # loop's own thread, or with the loop blocked meanwhile, this never happens (the parent's timeout ends it)
        closes.append((threading.get_ident(), timeout))
        started.set()
        loop_ran.wait(600)
        return wait_for_writer(timeout)

    tl._writer.close = traced_close

    async def watch():  # a task on the loop: runs only while the loop is free
        while not started.is_set():
            await asyncio.sleep(0.001)
        loop_ran.set()

    log = get_logger("t")
    async with Pipeline(session_id=sid, sinks=[JsonlSink(d / f"{sid}.jsonl"), tl], capture_stdlib=False):
        for i in range(3000):
            log.info("x" * 100 + str(i))
        await asyncio.sleep(0.3)
        watcher = asyncio.create_task(watch())
    await watcher
    print(json.dumps({
        "closes": [{"off_the_loop": t != loop_thread, "timeout": s} for t, s in closes],
        "health": tl.health,
    }), flush=True)
    os._exit(0)  # the abandoned writer thread is a daemon blocked in write(): do not wait for it

asyncio.run(main())
"""


def _run(tmp: Path, text_path: Path, close_timeout: float) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(tmp), str(text_path), str(close_timeout)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,  # before the fix the child never ends (the loop is blocked in an unbounded join)
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_textlog_close_does_not_hang_on_a_stuck_file(tmp_path: Path) -> None:
    close_timeout = 1.0
    base = _run(tmp_path, tmp_path / "text.log", close_timeout)  # a normal file: the baseline
    assert base["health"] == "ok"

    fifo = tmp_path / "stuck.log"
    os.mkfifo(fifo)
    stuck = _run(tmp_path, fifo, close_timeout)  # ends although nothing ever reads the FIFO
    assert stuck["health"] == "failed"  # it gave up on the writer …
    # … after waiting for it at most close_timeout_s (not 0: it did wait), off the event loop, which kept running
    # while it waited (the wait only began once a task on the loop had run)
    assert stuck["closes"] == [{"off_the_loop": True, "timeout": close_timeout}]
