"""A reader that never reads stdout (Ctrl-S, a stalled SSH client, a full pipe) cannot hold runbot's exit: runbot
exits while its stdout is still held (nothing reads the pipe until the process is gone). No timing: the wait for
the exit is a hang guard."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import orjson
from support_runs import short_config_file

ROOT = Path(__file__).resolve().parent.parent
F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity
EXIT_GUARD_S = 300  # a hang guard (the run takes seconds; a runbot waiting for a reader never exits)


def test_exit_is_bounded_when_nobody_reads_stdout(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)  # the final frame (~10 kB) cannot fit
    proc: subprocess.Popen[bytes] | None = None
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
        # nothing reads read_end until the process has ended: before the fix, blocked in the final write forever
        code = proc.wait(timeout=EXIT_GUARD_S)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(read_end)
    assert code == 0
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    last = orjson.loads(jsonl.read_bytes().splitlines()[-1])
    assert last["event"] == "session.stopped"
