"""A text log whose file stops taking writes (a hung disk / NFS mount; here a FIFO nobody reads) must not hang the
shutdown nor block the event loop: ``TextLogSink.aclose`` waits at most ``close_timeout_s``, off the loop, and
marks the sink failed (the reviewer's ``textlog_hang.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, json, os, sys, time, uuid
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from arbdash.logging_pipeline import Pipeline
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
from arbdash.logging_pipeline.sinks.console import TextLogSink
from arbdash.helpers.unified_logger import get_logger

d, text_path, close_timeout = Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
if text_path.is_fifo():
    keep = os.open(text_path, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads: writes block when full

async def tick(lat):
    while True:
        t = time.monotonic(); await asyncio.sleep(0.01); lat.append(time.monotonic() - t - 0.01)

async def main():
    lat = []; ticker = asyncio.create_task(tick(lat))
    sid = str(uuid.uuid4())
    tl = TextLogSink(text_path)
    tl.close_timeout_s = close_timeout
    log = get_logger("t")
    async with Pipeline(session_id=sid, sinks=[JsonlSink(d / f"{sid}.jsonl"), tl], capture_stdlib=False):
        for i in range(3000):
            log.info("x" * 100 + str(i))
        await asyncio.sleep(0.3)
        t_close = time.monotonic()
        lat.clear()
    close_s = time.monotonic() - t_close
    ticker.cancel()
    print(json.dumps({"close_s": close_s, "max_stall_s": max(lat, default=0.0), "health": tl.health}), flush=True)
    os._exit(0)  # the abandoned writer thread is a daemon blocked in write(): do not wait for it

asyncio.run(main())
"""


def _run(tmp: Path, text_path: Path, close_timeout: float, limit: float) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(tmp), str(text_path), str(close_timeout)],
        capture_output=True,
        text=True,
        timeout=limit,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_textlog_close_does_not_hang_on_a_stuck_file(tmp_path: Path) -> None:
    close_timeout = 1.0
    t = time.monotonic()
    base = _run(tmp_path, tmp_path / "text.log", close_timeout, limit=600)  # a normal file: the baseline
    baseline_s = time.monotonic() - t
    assert base["health"] == "ok"

    fifo = tmp_path / "stuck.log"
    os.mkfifo(fifo)
    t = time.monotonic()
    # before the fix the child never ends (the loop is blocked in an unbounded join)
    stuck = _run(tmp_path, fifo, close_timeout, limit=10 * baseline_s + 20 * close_timeout)
    assert time.monotonic() - t < 5 * baseline_s + 10 * close_timeout
    assert stuck["health"] == "failed"
    assert stuck["close_s"] >= close_timeout * 0.9  # it did wait for the writer, then gave up
    assert stuck["max_stall_s"] < close_timeout * 0.5  # ... off the event loop: the loop kept running
