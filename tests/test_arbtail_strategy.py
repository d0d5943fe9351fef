"""``arbtail`` on a session of two strategy instances: ``--strategy NAME`` focuses the frame on one, ``grep
--strategy`` keeps its events, ``stats`` breaks the figures down per strategy, and ``--db DSN sessions`` lists each
session's strategies. Expected figures come from the events (``support_strategies.recompute``) or the portfolio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from events_builder import Events, round_trip
from support_strategies import recompute, two_strategy_session, write_jsonl
from typer.testing import CliRunner

from arbdash.dashboard.render_plain import multi_strategy
from arbdash.dashboard.text import fmt_usd
from arbdash.tools.arbtail import app


def _arbtail(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arbdash.tools.arbtail", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "two.jsonl", two_strategy_session())


def test_strategy_focuses_the_frame(log: Path) -> None:
    events = two_strategy_session()
    owner = {ev["position_id"]: ev.get("strategy") for ev in reversed(events) if "position_id" in ev}
    whole = _arbtail(log, "--once", "--width", "200")
    assert whole.returncode == 0, whole.stderr
    for name in ("alpha", "beta"):
        proc = _arbtail(log, "--once", "--width", "200", "--strategy", name)
        assert proc.returncode == 0, proc.stderr
        assert f"focus {name}" in proc.stdout and "focus" not in whole.stdout
        for pid, who in owner.items():
            row = f"│ {pid} "
            assert row in whole.stdout
            assert (row in proc.stdout) == (who == name), (name, pid)
        # the timeline keeps only its messages: "Opened P2" is beta's
        assert ("Opened P2" in proc.stdout) == (name == "beta")
        assert ("Opened P1" in proc.stdout) == (name == "alpha")


def test_unknown_strategy_is_one_line_and_exit_2(log: Path) -> None:
    proc = _arbtail(log, "--once", "--strategy", "gamma")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no strategy 'gamma'" in lines[0] and "alpha, beta" in lines[0]


def test_grep_strategy_keeps_only_its_events(log: Path) -> None:
    events = two_strategy_session()
    for name in ("alpha", "beta"):
        result = CliRunner().invoke(app, ["grep", str(log), "--strategy", name])
        assert result.exit_code == 0, result.output
        got = [orjson.loads(line)["seq"] for line in result.stdout.splitlines()]
        want = [ev["seq"] for ev in events if ev.get("strategy") == name]
        assert got == want and want
    result = CliRunner().invoke(app, ["grep", str(log), "--strategy", "gamma"])  # a name the log never had
    assert result.exit_code == 2 and result.stdout == "" and "no event of strategy 'gamma'" in result.stderr
    # a known strategy with no event matching the other filters: grep's "nothing found"
    result = CliRunner().invoke(app, ["grep", str(log), "--strategy", "alpha", "--event", "no.such.event"])
    assert result.exit_code == 1 and result.stdout == ""


def test_stats_breaks_the_figures_down_per_strategy(log: Path, tmp_path: Path) -> None:
    events = two_strategy_session()
    result = CliRunner().invoke(app, ["stats", str(log)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    block = text[text.index("strategies:") :].splitlines()[1:]
    figures = recompute(events)
    for name, line in zip(("alpha", "beta"), block, strict=True):
        n = sum(1 for ev in events if ev.get("strategy") == name and ev["event"] != "session.started")
        assert line.split()[0] == name and f"events {n} " in line
        assert f"net {fmt_usd(figures[name]['net'], signed=True)} USD" in line
    # one session without strategies: no breakdown
    pre, post = round_trip(Events())
    plain = write_jsonl(tmp_path / "plain.jsonl", [*pre, *post])
    result = CliRunner().invoke(app, ["stats", str(plain)])
    assert result.exit_code == 0 and "strategies:" not in result.stdout


def test_multi_strategy_needs_two() -> None:
    from arbdash.dashboard.reducer import Reducer

    r = Reducer()
    events = two_strategy_session()
    for ev in events[:2]:  # session.started and alpha's strategy.started
        r.feed(ev)
    assert not multi_strategy(r.snapshot())
    r.feed(events[2])
    assert multi_strategy(r.snapshot())


@pytest.mark.pg
def test_db_sessions_lists_each_sessions_strategies(pg_dsn: str, log: Path, tmp_path: Path) -> None:
    imported = _arbtail("--db", pg_dsn, "import", log)
    assert imported.returncode == 0, imported.stderr
    listed = _arbtail("--db", pg_dsn, "sessions")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split()[-1] == "strategies"
    assert row.split()[-1] == "alpha,beta"
    assert row.split()[1] == "alpha+beta"  # the session's own strategy column: the names joined
