"""A reader that never reads stdout (Ctrl-S, a stalled SSH client, a full pipe) cannot hold runbot's exit."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
from support_runs import short_config_file

ROOT = Path(__file__).resolve().parent.parent
F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity


def test_exit_is_bounded_when_nobody_reads_stdout(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)  # the final frame (~10 kB) cannot fit
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "arbdash.tools.runbot_cli",
                "--config",
                str(short_config_file(tmp_path)),
                "--speed",
                "0",
                "--dashboard-mode=plain",
                "--width",
                "132",
                "--log-dir",
                str(tmp_path / "logs"),
            ],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_end)
        started = time.monotonic()
        code = proc.wait(timeout=60)  # before the fix: blocked in the final write until somebody reads
        elapsed = time.monotonic() - started
    finally:
        os.close(read_end)
    assert code == 0
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    last = orjson.loads(jsonl.read_bytes().splitlines()[-1])
    assert last["event"] == "session.stopped"
    assert elapsed < 30, elapsed
