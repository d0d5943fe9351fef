"""``dashboard.persistence.retention_*``: a run prunes old sessions at start, never the running one."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from arbdash.tools.pg_admin import import_jsonl, list_sessions
from tests.pg_fixtures import make_events

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.pg


async def test_run_prunes_beyond_keep_last(pg_dsn: str, tmp_path: Path) -> None:
    old = [str(uuid.uuid4()) for _ in range(3)]
    for sid in old:
        path = tmp_path / f"{sid}.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line, _ in make_events(sid, 20)))
        await import_jsonl(pg_dsn, path)
    assert {str(s.session_id) for s in await list_sessions(pg_dsn)} == set(old)

    config = yaml.safe_load((ROOT / "configs" / "funding_arb_paper.yml").read_text())
    config["market"] |= {"start": "2026-03-01T00:00:00Z", "end": "2026-03-03T00:00:00Z"}
    config["dashboard"]["persistence"] |= {"enabled": True, "dsn": pg_dsn, "retention_keep_last": 1}
    cfg_path = tmp_path / "retention.yml"
    cfg_path.write_text(yaml.safe_dump(config))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "arbdash.tools.runbot_cli",
            "--config",
            str(cfg_path),
            "--speed",
            "0",
            "--dashboard-mode=plain",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    remaining = {str(s.session_id) for s in await list_sessions(pg_dsn)}
    assert remaining == {jsonl.stem}
    assert b"retention: pruned 3 sessions" in jsonl.read_bytes()
