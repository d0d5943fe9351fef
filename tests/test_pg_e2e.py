"""A full paper run with the PostgreSQL sink on: DB event count == JSONL line count, the export equals the
JSONL, and the frame drawn from the DB (``arbtail --db --session --once``) == ``arbtail FILE --once``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from support_runs import short_config_file

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "funding_arb_paper.yml"
WIDTH = 132

pytestmark = pytest.mark.pg


def _cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=180
    )


def test_paper_run_recorded_in_postgres(pg_dsn: str, tmp_path: Path) -> None:
    run = _cli(
        "arbdash.tools.runbot_cli",
        "--config",
        str(short_config_file(tmp_path)),
        "--speed",
        "0",
        "--dashboard-mode=plain",
        "--log-dir",
        str(tmp_path / "logs"),
        "--width",
        str(WIDTH),
        "--db",
        pg_dsn,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    lines = jsonl.read_bytes().splitlines()
    sid = orjson.loads(lines[0])["session_id"]

    sessions = _cli("arbdash.tools.arbtail", "--db", pg_dsn, "sessions", cwd=tmp_path)
    assert sessions.returncode == 0, sessions.stderr
    row = next(x for x in sessions.stdout.splitlines() if x.startswith(sid))
    assert "stopped (completed)" in row and row.split()[-1] == str(orjson.loads(lines[-1])["seq"])

    exported = _cli(
        "arbdash.tools.arbtail", "--db", pg_dsn, "export", sid, "-o", str(tmp_path / "x.jsonl"), cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    back = (tmp_path / "x.jsonl").read_bytes().splitlines()
    assert len(back) == len(lines), "DB event count == JSONL line count"
    assert [orjson.loads(x) for x in back] == [orjson.loads(x) for x in lines]

    from_file = _cli("arbdash.tools.arbtail", str(jsonl), "--once", "--width", str(WIDTH), cwd=tmp_path)
    from_db = _cli(
        "arbdash.tools.arbtail",
        "--db",
        pg_dsn,
        "--session",
        sid,
        "--once",
        "--width",
        str(WIDTH),
        cwd=tmp_path,
    )
    assert from_file.returncode == 0 and from_db.returncode == 0, from_db.stderr
    assert from_db.stdout == from_file.stdout
    assert not list((tmp_path / "logs").glob("pg_spool/*")), "nothing left in the spool"
