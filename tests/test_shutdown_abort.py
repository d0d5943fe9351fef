"""A ``SystemExit`` (a library calling ``sys.exit()``) or another ``BaseException`` out of the bot is recorded as
an abort with health ``error`` — not as ``completed`` — and still ends the process the way it asked (the
reviewer's ``sysexit.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, sys
sys.path.insert(0, sys.argv[1])
import arbdash.tools.runbot_cli as cli
import arbdash.tools.runbot_run as run
real = run.run_bot
exc = {"SystemExit": SystemExit(3), "GeneratorExit": GeneratorExit()}[sys.argv[3]]

async def fake(*a, **k):
    task = asyncio.create_task(real(*a, **k))
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise exc

run.run_bot = fake
sys.argv = ["runbot", "--config", sys.argv[1] + "/configs/funding_arb_paper.yml", "--dashboard-mode=plain",
            "--log-dir", sys.argv[2]]
cli.main()
"""


@pytest.mark.parametrize(("exc", "rc"), [("SystemExit", 3), ("GeneratorExit", 1)])
def test_base_exception_from_the_bot_is_an_abort(tmp_path: Path, exc: str, rc: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(tmp_path), exc],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == rc, proc.stdout + proc.stderr
    (jsonl,) = tmp_path.glob("*.jsonl")
    recs = [orjson.loads(line) for line in jsonl.read_bytes().splitlines()]
    last = recs[-1]
    assert last["event"] == "session.stopped"
    assert last["reason"] == f"aborted: {exc}" and last["health"] == "error"
    assert "events written to" in proc.stdout  # the session was closed and reported before the exit
