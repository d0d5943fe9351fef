"""Edges of the command lines an operator meets first (issue 14 item 5): every error one line in one style,
exit codes that agree between commands, help that names what an option takes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from support_runs import short_config_file
from typer.testing import CliRunner

from arbdash.tools.arbtail import app


def test_stats_on_a_file_without_events_exits_2_like_once(tmp_path: Path) -> None:
    """``arbtail stats`` on something that is not a session log says so and exits 2, as ``--once`` does."""
    notes = tmp_path / "notes.txt"
    notes.write_text("root:x:0:0:root:/root:/bin/bash\nnot an event\n", encoding="utf-8")
    stats = CliRunner().invoke(app, ["stats", str(notes)])
    once = CliRunner().invoke(app, [str(notes), "--once"])
    assert stats.exit_code == once.exit_code == 2
    assert stats.stderr == once.stderr
    assert stats.stderr.count("\n") == 1 and "no event in it, 2 lines skipped" in stats.stderr


@pytest.mark.parametrize("command", [["show"], ["grep"], ["stats"], ["export"]])
def test_help_names_what_options_take(command: list[str]) -> None:
    """Options show a metavar (``TIME``, ``DSN``, ``EVENT``…), never a Python type (``<str>``,
    ``<list[str]>``)."""
    out = CliRunner().invoke(app, [*command, "--help"], terminal_width=120)
    assert out.exit_code == 0
    options = [line for line in out.stdout.splitlines() if line.lstrip().startswith("-")]
    assert options and not [line for line in options if "<str>" in line or "<list" in line]
    if command == ["show"]:
        assert (
            all(f"{opt} TIME" in out.stdout for opt in ("--at", "--from", "--to"))
            and "--db DSN" in out.stdout
        )
    if command == ["grep"]:
        assert "--event EVENT" in out.stdout and "--since TIME" in out.stdout


def test_follow_says_it_waits_and_says_when_the_session_ended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``arbtail FILE --follow`` on a path that does not exist yet says it waits; once the session's
    ``session.stopped`` arrives it says the session ended (and keeps following)."""
    import asyncio

    from events_builder import Events, build, round_trip

    from arbdash.dashboard.sources.file_source import JsonlSource
    from arbdash.logging_pipeline.events import SessionStopped
    from arbdash.tools.arbtail_view import show

    e = Events()
    opening, closing = round_trip(e)
    lines = [orjson.dumps(x) + b"\n" for x in opening + closing]
    stopped = orjson.dumps(e.emit(build(SessionStopped, reason="completed"))) + b"\n"
    path = tmp_path / "later.jsonl"

    async def main() -> str:
        task = asyncio.create_task(show(JsonlSource(path, poll_s=0.05), follow=True, width=100))
        said = ""
        for step in range(400):
            await asyncio.sleep(0.05)
            said += capsys.readouterr().err
            if step == 5:
                path.write_bytes(b"".join(lines))
            if step == 10:
                with path.open("ab") as fh:
                    fh.write(stopped)
            if "session ended" in said:
                break
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return said

    said = asyncio.run(main())
    assert f"waiting for {path} to appear" in said
    assert "the session ended (completed)" in said


@pytest.mark.parametrize("tool", ["runbot", "arbtail"])
def test_a_signal_during_start_up_exits_quietly(tool: str, real_log: Path, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) 0.1–0.4 s after start, while Python loads the tool: one line at most, no traceback,
    exit 130 — or killed by the signal itself before Python took it over (a shell shows 130 too), or 0 when the
    tool had already finished."""
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parent.parent
    script = str(Path(sys.executable).with_name(tool))  # the console script, as an operator types it
    if tool == "runbot":
        argv = [script, "--config", str(root / "configs/funding_arb_paper.yml"), "--speed", "0"]
        argv += ["--dashboard-mode=silent", "--log-dir", str(tmp_path)]
    else:
        argv = [script, str(real_log), "--once"]
    # not earlier: a signal inside CPython's own start-up (site.py, before any of our code) is CPython's to report
    for delay in (0.1, 0.15, 0.25, 0.4):
        proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err and "Fatal Python error" not in err, err
        assert proc.returncode in (0, 130, -signal.SIGINT), (proc.returncode, err)
        assert len(err.strip().splitlines()) <= 2, err


def test_the_database_url_variable_means_the_same_for_runbot_as_for_arbtail(
    pg_dsn: str, tmp_path: Path
) -> None:
    """``ARBDASH_DATABASE_URL`` alone makes ``arbtail`` read PostgreSQL; it makes ``runbot`` record there too
    (it used to store nothing, silently)."""
    import asyncio
    import os
    import subprocess
    import sys

    from arbdash.tools.pg_admin import list_sessions

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "ARBDASH_DATABASE_URL": pg_dsn}
    run = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.runbot_cli", "--config", str(short_config_file(tmp_path))]
        + ["--speed", "0", "--dashboard-mode=silent", "--log-dir", str(tmp_path)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    (log,) = tmp_path.glob("*.jsonl")
    sessions = asyncio.run(list_sessions(pg_dsn))
    assert [str(s.session_id) for s in sessions] == [log.stem]
    shown = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.arbtail", "--once", "--width", "120"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert log.stem[:8] in shown.stdout


def test_stats_lists_when_each_position_opened_and_closed(real_log: Path) -> None:
    """Issue 14 item 2: ``arbtail stats`` gives each position's open and close times (market clock), as the
    ``position.opened`` / ``position.closed`` events of the log say."""
    from datetime import datetime

    events = [orjson.loads(line) for line in real_log.read_bytes().splitlines()]
    times = {}
    for ev in events:
        if ev.get("event") in ("position.opened", "position.closed"):
            t = datetime.fromisoformat(ev["market_ts"]).strftime("%Y-%m-%d %H:%MZ")
            times.setdefault(ev["position_id"], {})[ev["event"]] = t
    out = CliRunner().invoke(app, ["stats", str(real_log)])
    assert out.exit_code == 0
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("  P")}
    assert times and set(times) <= set(rows)
    for pid, seen in times.items():
        assert f"opened {seen['position.opened']}" in rows[pid]
        if "position.closed" in seen:
            assert f"→ closed {seen['position.closed']}" in rows[pid]
