"""End to end: the paper bot on real market history, its JSONL record, and the frame arbtail redraws from it.

One full ``runbot --speed 0 --dashboard-mode=plain`` run (a few seconds) is shared by the tests of this module.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "funding_arb_paper.yml"
WIDTH = 132


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("run")
    frame = out / "final_frame.txt"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "arbdash.tools.runbot_cli",
            "--config",
            str(CONFIG),
            "--speed",
            "0",
            "--dashboard-mode=plain",
            "--log-dir",
            str(out / "logs"),
            "--width",
            str(WIDTH),
            "--final-frame",
            str(frame),
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (jsonl,) = (out / "logs").glob("*.jsonl")
    events = [orjson.loads(line) for line in jsonl.read_bytes().splitlines()]
    return {"proc": proc, "jsonl": jsonl, "events": events, "frame": frame.read_text(), "dir": out}


def test_prints_where_the_jsonl_went(run: dict) -> None:
    assert str(run["jsonl"].name) in run["proc"].stdout


def test_envelope_invariants(run: dict) -> None:
    events = run["events"]
    seqs = [e["seq"] for e in events]
    assert all(b > a for a, b in zip(seqs, seqs[1:], strict=False)), "seq must be strictly increasing"
    assert len({e["session_id"] for e in events}) == 1
    for e in events:
        ts = datetime.fromisoformat(e["ts"])
        assert ts.utcoffset() == timedelta(0), e["ts"]
    assert events[0]["event"] == "session.started"
    assert events[-1]["event"] == "session.stopped"
    assert events[-1]["health"] == "stopped"


def _floats(value, path=""):
    if isinstance(value, float):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _floats(v, f"{path}[{i}]")


def test_no_float_anywhere(run: dict) -> None:
    bad = [(e["seq"], p) for e in run["events"] for p in _floats(e)]
    assert bad == []


def test_positions_open_and_close_across_symbols(run: dict) -> None:
    events = run["events"]
    opened = {e["position_id"]: e for e in events if e["event"] == "position.opened"}
    closed = {e["position_id"]: e for e in events if e["event"] == "position.closed"}
    assert len(opened) >= 3
    assert set(closed) == set(opened)
    assert len({e["symbol"] for e in opened.values()}) >= 2


def test_one_funding_payment_per_leg_per_venue_funding_time(run: dict) -> None:
    """Every settlement of each leg's venue while the position was open (after entry, up to exit) was paid."""
    events = run["events"]
    interval = {e["venue"]: e["funding_interval_s"] for e in events if e["event"] == "venue.connected"}
    assert sorted(set(interval.values())) == [3600, 28800]  # hourly and 8-hourly venues both present
    paid = defaultdict(list)
    for e in events:
        if e["event"] == "funding.payment":
            paid[(e["position_id"], e["venue"])].append(datetime.fromisoformat(e["market_ts"]))
    closed = {e["position_id"]: e for e in events if e["event"] == "position.closed"}
    for e in events:
        if e["event"] != "position.opened":
            continue
        t_open = datetime.fromisoformat(e["market_ts"])
        t_close = datetime.fromisoformat(closed[e["position_id"]]["market_ts"])
        for leg in e["legs"]:
            step = interval[leg["venue"]]
            first = datetime.fromtimestamp((int(t_open.timestamp()) // step + 1) * step, UTC)
            expected = []
            t = first
            while t <= t_close:
                expected.append(t)
                t += timedelta(seconds=step)
            assert sorted(paid[(e["position_id"], leg["venue"])]) == expected, (
                e["position_id"],
                leg["venue"],
            )


def test_final_frame_equals_arbtail_once(run: dict) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.arbtail", str(run["jsonl"]), "--once", "--width", str(WIDTH)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == run["frame"]
    assert "\x1b" not in proc.stdout
    assert "positions" in proc.stdout and "funding" in proc.stdout and "timeline" in proc.stdout


def test_plain_mode_printed_the_final_frame(run: dict) -> None:
    assert run["frame"] in run["proc"].stdout


def _pane(frame: str, name: str) -> list[str]:
    lines = frame.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"╭─ {name}"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("╰"))
    return lines[start : end + 1]


def _replayed(run: dict):  # the reducer over the run's JSONL (the fold arbtail uses)
    from arbdash.dashboard.reducer import Reducer

    reducer = Reducer()
    for e in run["jsonl"].read_bytes().splitlines():
        reducer.feed(orjson.loads(e))
    return reducer


def test_closed_pane_counts_the_closed_positions_it_does_not_show(run: dict) -> None:
    from arbdash.dashboard.render_plain import plain_summary
    from arbdash.dashboard.render_rich import frame_text

    closed = {e["position_id"] for e in run["events"] if e["event"] == "position.closed"}
    pane = _pane(run["frame"], "closed")
    shown = {pid for pid in closed if any(pid in line for line in pane)}
    hidden = len(closed) - len(shown)
    assert shown and hidden > 0  # the shipped run closes more positions than the snapshot carries
    assert f"… {hidden} more closed positions (see arbtail stats)" in pane[-1]
    # the plain renderer says the same, right under its closed positions
    text = plain_summary(_replayed(run).snapshot())
    assert f"\n  … {hidden} more closed positions (see arbtail stats)\nvenues" in text
    # narrow frames crop the hint instead of overflowing
    narrow = frame_text(_replayed(run).snapshot(), 40)
    assert max(len(line) for line in narrow.splitlines()) <= 40


def test_completed_run_ends_on_cycle_complete_not_exiting(run: dict) -> None:
    events = run["events"]
    stages = [e for e in events if e["event"] == "stage.changed"]
    session_end = [i for i, e in enumerate(stages) if "SESSION_END" in e["message"]]
    closes = [e for e in events if e["event"] == "position.closed"]
    opened = [e for e in events if e["event"] == "position.opened"]
    assert len(closes) == len(opened)  # the run ends flat either way
    if session_end:  # positions were still open at the end of the data and were closed then
        assert stages[-1]["stage_id"] == "6" and stages[-1]["lifecycle"] == "cycle_complete"
        assert session_end[-1] == len(stages) - 2  # right after the last exit banner
    else:  # the book was flat already: the last banner is the one the last exit's cycle ended on
        assert closes[-1]["reason"] != "SESSION_END"
        last_exit = max(i for i, e in enumerate(stages) if e["message"].startswith("5. "))
        assert any(e["stage_id"] == "6" for e in stages[last_exit:])
    stage_line = next(line for line in run["frame"].splitlines() if line.startswith("│ stage "))
    if session_end:
        assert "Cycle Complete" in stage_line and "[cycle_complete]" in stage_line
    else:  # the resting banner of a flat book after the last cycle that closed something
        assert stages[-1]["message"] in stage_line and f"[{stages[-1]['lifecycle']}]" in stage_line
    assert "Exiting" not in stage_line and "stopped: completed" in stage_line
