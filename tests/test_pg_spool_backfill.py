"""A PostgreSQL spool left behind by an earlier run (the database was away at its end, or it crashed) is loaded
by the next ``runbot`` start and then deleted — unless a live process still owns it (its ``flock``)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from logging_pipeline.postgres.spool import Spool, claim_orphan, lock_path, release_orphan
from tests.pg_fixtures import make_events
from tools.pg_admin import list_sessions

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.pg

_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


def _short_run(tmp_path: Path, dsn: str) -> subprocess.CompletedProcess[str]:
    config = yaml.safe_load((ROOT / "configs" / "funding_arb_paper.yml").read_text())
    config["market"] |= {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}
    config["dashboard"]["persistence"] |= {"enabled": True, "dsn": dsn}
    cfg = tmp_path / "short.yml"
    cfg.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "tools.runbot_cli", "--config", str(cfg), "--speed", "0", "--dashboard-mode=plain",
         "--log-dir", str(tmp_path / "logs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )


async def test_the_next_run_loads_an_orphaned_spool_and_leaves_an_owned_one(pg_dsn: str, tmp_path: Path) -> None:
    spool_dir = tmp_path / "logs" / "pg_spool"
    spool_dir.mkdir(parents=True)
    orphan_sid, owned_sid = str(uuid.uuid4()), str(uuid.uuid4())
    orphan = spool_dir / f"{orphan_sid}.pgspool.jsonl"
    orphan.write_bytes(b"".join(line + b"\n" for line, _ in make_events(orphan_sid, 300)))
    owned = spool_dir / f"{owned_sid}.pgspool.jsonl"
    owned.write_bytes(b"".join(line + b"\n" for line, _ in make_events(owned_sid, 50)))
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(lock_path(owned))], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        run = _short_run(tmp_path, pg_dsn)
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 0, run.stderr[-3000:]
    sessions = {str(s.session_id): s for s in await list_sessions(pg_dsn)}
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    assert set(sessions) == {orphan_sid, jsonl.stem}  # the owned spool was not touched
    assert sessions[orphan_sid].last_seq == 300
    assert not orphan.exists() and not lock_path(orphan).exists()
    assert owned.exists() and owned.read_bytes().count(b"\n") == 50
    assert b"loaded an earlier run's PostgreSQL spool" in jsonl.read_bytes()


def test_a_spool_is_owned_while_its_writer_lives(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.pgspool.jsonl")
    spool.append([b'{"a":1}'])
    assert claim_orphan(spool.path) is None  # held by this Spool (flock is per open file description)
    spool.close()
    fd = claim_orphan(spool.path)
    assert fd is not None
    release_orphan(spool.path, fd, loaded=True)
    assert not spool.path.exists() and not lock_path(spool.path).exists()
    assert claim_orphan(spool.path) is None  # gone: nothing to claim
