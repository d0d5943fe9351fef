"""``examples/carry_bot.py`` (issue 13 item 4): a bot of one's own on the pipeline through the public API only.
It runs to the end, its record replays to the frame it ended with, and its position reconciles."""

from __future__ import annotations

import ast
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson

from arbdash.dashboard.reducer import Reducer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "carry_bot.py"


def test_the_example_uses_only_the_public_api() -> None:
    names: set[str] = set()
    for node in ast.walk(ast.parse(EXAMPLE.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    ours = {n for n in names if n.split(".")[0] == "arbdash"}
    assert ours == {"arbdash", "arbdash.events"}


def test_the_example_runs_and_its_record_replays_to_its_final_frame(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    (jsonl,) = tmp_path.glob("*.jsonl")
    closing = f"session {jsonl.stem}: events written to {jsonl}\n"
    assert run.stdout.endswith(closing)
    final = run.stdout[: -len(closing)]
    final = final[final.rindex("╭─ session") :]  # the last frame printed: the final one (plain mode)

    replay = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.arbtail", str(jsonl), "--once", "--width", "120"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert replay.returncode == 0, replay.stderr

    def steady(frame: str) -> list[str]:  # the wall clock line says when it was drawn
        return [line for line in frame.splitlines() if "wall now" not in line]

    assert steady(replay.stdout) == steady(final)

    record = [orjson.loads(x) for x in jsonl.read_bytes().splitlines()]
    assert record[0]["event"] == "session.started" and record[0]["strategy"] == "carry-example"
    assert record[-1]["event"] == "session.stopped" and record[-1]["reason"] == "completed"
    (closed,) = [e for e in record if e["event"] == "position.closed"]
    reducer = Reducer(timeline_size=50)
    reducer.feed_lines(jsonl.read_bytes().splitlines())
    snap = reducer.snapshot()
    (row,) = snap.positions
    assert row.lifecycle == "closed" and row.net_pnl == row.booked_net_pnl == Decimal(closed["net_pnl"])
    assert not any(r.event == "dashboard.pnl_mismatch" for r in snap.recent_events)
    payments = sum(Decimal(e["payment"]) for e in record if e["event"] == "funding.payment")
    assert Decimal(closed["funding"]) == payments and payments > 0


def test_the_guides_session_snippet_runs_as_written(tmp_path: Path) -> None:
    """The first code block of ``docs/integrating.md`` (the session) runs as a newcomer would paste it."""
    import re

    guide = (ROOT / "docs" / "integrating.md").read_text("utf-8")
    match = re.search(r"## The session\n\n```python\n(.*?)```", guide, re.S)
    assert match, "the guide's session snippet"
    (tmp_path / "snippet.py").write_text(match.group(1), "utf-8")
    run = subprocess.run(
        [sys.executable, "snippet.py"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    events = [orjson.loads(x)["event"] for x in jsonl.read_bytes().splitlines()]
    assert {"session.started", "venue.connected", "stage.changed", "market.mark_price", "metric"} <= set(
        events
    )
    assert events[-1] == "session.stopped"
