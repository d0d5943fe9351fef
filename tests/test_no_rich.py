"""Without Rich (seed §6.5): ``runbot`` asked for its live dashboard says once that it falls back to plain text,
runs to the end and prints the plain summary as its final frame; the record is complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = """
import sys
sys.modules["rich"] = None  # `import rich` now raises ImportError, as on a machine without it
sys.argv = ["runbot", *sys.argv[1:]]
from arbdash.tools.runbot_cli import main
main()
"""


def test_runbot_without_rich_falls_back_to_plain_text(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCKED,
            "--config",
            str(ROOT / "configs/funding_arb_paper.yml"),
            "--speed",
            "0",
        ]
        + ["--dashboard-mode=live", "--log-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    warnings = [line for line in run.stderr.splitlines() if "needs Rich" in line]
    assert len(warnings) == 1 and warnings[0].startswith("runbot: warning:")
    assert "Traceback" not in run.stderr
    (log,) = tmp_path.glob("*.jsonl")
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert events[-1]["event"] == "session.stopped" and events[-1]["reason"] == "completed"
    assert "events written to" in run.stdout and "stopped: completed" in run.stdout  # the plain final frame
