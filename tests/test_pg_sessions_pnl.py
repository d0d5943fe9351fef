"""``arbtail --db DSN sessions`` shows the same net PnL as the reducer (dashboard, ``arbtail stats``) and the bot's
own "Run complete" line for a real paper run: realized + funding − fees over every fill and payment of the
session, rolled-back attempts included — from the latest stored snapshot plus the events after it, or from the
events alone when there is no snapshot."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import pytest

from arbdash.dashboard.reducer import Reducer
from arbdash.tools.pg_admin import list_sessions

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "funding_arb_paper.yml"

pytestmark = pytest.mark.pg


def _cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=180
    )


async def _db(dsn: str, sql: str, *, method: str = "execute") -> object:
    """Run one statement on a fresh connection: ``execute`` (status string) or ``fetchval`` (first value)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await getattr(conn, method)(sql)
    finally:
        await conn.close()


async def _execute(dsn: str, sql: str) -> object:
    return await _db(dsn, sql)


async def _fetchval(dsn: str, sql: str) -> object:
    return await _db(dsn, sql, method="fetchval")


def test_sessions_net_pnl_is_the_reducers(pg_dsn: str, tmp_path: Path) -> None:
    run = _cli(
        "arbdash.tools.runbot_cli",
        "--config",
        str(CONFIG),
        "--speed",
        "0",
        "--dashboard-mode=off",
        "--log-dir",
        str(tmp_path / "logs"),
        "--db",
        pg_dsn,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    lines = jsonl.read_bytes().splitlines()
    events = [orjson.loads(x) for x in lines]
    sid = events[0]["session_id"]

    reducer = Reducer()
    reducer.feed_lines(lines)
    portfolio = reducer.snapshot().portfolio
    assert portfolio.positions_open == 0 and portfolio.positions_closed >= 3
    expected = portfolio.net_pnl
    booked = sum((Decimal(e["net_pnl"]) for e in events if e["event"] == "position.closed"), Decimal(0))
    assert any(e["event"] == "execution.rollback" for e in events)
    assert expected < booked, "the run has a rollback whose fees the position.closed events do not carry"
    (done,) = [e for e in events if e["event"] == "log.message" and e["message"].startswith("Run complete")]
    assert Decimal(done["net_pnl"]) == expected.quantize(Decimal("0.01"))

    [s] = asyncio.run(list_sessions(pg_dsn))
    assert str(s.session_id) == sid and s.ended_at is not None
    assert s.net_pnl == expected
    assert (s.positions_opened, s.positions_closed) == (
        portfolio.positions_opened,
        portfolio.positions_closed,
    )

    out = _cli("arbdash.tools.arbtail", "--db", pg_dsn, "sessions", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    row = next(x for x in out.stdout.splitlines() if x.startswith(sid))
    assert str(expected.quantize(Decimal("0.01"))) in row.split()

    # without a stored snapshot the events alone give the same figure
    deleted = asyncio.run(_execute(pg_dsn, "DELETE FROM dashboard_snapshots"))
    assert deleted != "DELETE 0", "the run stored a snapshot (the path tested first)"
    [s] = asyncio.run(list_sessions(pg_dsn))
    assert s.net_pnl == expected


def test_no_stored_figure_the_listing_folds_it_live_and_after_an_import(pg_dsn: str, tmp_path: Path) -> None:
    """Nothing pushes the net PnL into the session row (migration 002 dropped ``dashboard_sessions.net_pnl``):
    the listing folds it from what is stored — the snapshot the run's checkpoint carried plus the events after
    it, or, after an import (which stores no snapshot), the events alone — and both give the reducer's figure."""
    run = _cli(
        "arbdash.tools.runbot_cli",
        "--config",
        str(CONFIG),
        "--speed",
        "0",
        "--dashboard-mode=silent",
        "--log-dir",
        str(tmp_path / "logs"),
        "--db",
        pg_dsn,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    lines = jsonl.read_bytes().splitlines()
    reducer = Reducer()
    reducer.feed_lines(lines)
    expected = reducer.snapshot().portfolio.net_pnl
    columns = asyncio.run(
        _fetchval(
            pg_dsn,
            "SELECT array_agg(column_name::text) FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'dashboard_sessions'",
        )
    )
    assert "net_pnl" not in columns and "positions_closed" in columns
    # the run's snapshot is a checkpoint's state, filed under the seq before the checkpoint's own
    checkpoints = [orjson.loads(x) for x in lines if b'"dashboard.checkpoint"' in x]
    assert checkpoints, "the run wrote a checkpoint"
    snap_seq = asyncio.run(_fetchval(pg_dsn, "SELECT max(seq) FROM dashboard_snapshots"))
    assert snap_seq in {cp["seq"] - 1 for cp in checkpoints}
    [s] = asyncio.run(list_sessions(pg_dsn))
    assert s.net_pnl == expected

    asyncio.run(
        _execute(
            pg_dsn,
            "DELETE FROM dashboard_sessions; DELETE FROM dashboard_events; DELETE FROM dashboard_snapshots",
        )
    )
    imported = _cli("arbdash.tools.arbtail", "--db", pg_dsn, "import", str(jsonl), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert asyncio.run(_fetchval(pg_dsn, "SELECT count(*) FROM dashboard_snapshots")) == 0
    [s] = asyncio.run(list_sessions(pg_dsn))
    assert s.net_pnl == expected


def test_the_sessions_table_says_how_each_session_ended() -> None:
    """``sessions`` is a plain table (no colour codes, no wrapping) whose health column names the stop reason."""
    import uuid as _uuid
    from datetime import UTC, datetime
    from decimal import Decimal

    from arbdash.tools.pg_admin import SessionSummary, format_sessions

    t = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        SessionSummary(
            _uuid.UUID(int=n), "funding_arbitrage", t, t, health, 3, 3, Decimal("-1.5"), 100 + n, t, reason
        )
        for n, (health, reason) in enumerate(
            [("stopped", "interrupted by SIGTERM"), ("running", None), ("stopped", "completed")]
        )
    ]
    text = format_sessions(rows)
    lines = text.splitlines()
    assert lines[0].split() == [
        "session",
        "strategy",
        "started",
        "ended",
        "health",
        "pos",
        "net",
        "PnL",
        "USD",
        "events",
    ]
    assert "stopped (interrupted by SIGTERM)" in lines[1] and lines[1].split()[-1] == "100"
    assert "running" in lines[2] and "(" not in lines[2]
    assert "\x1b" not in text and len({line.index("events") for line in lines[:1]}) == 1
