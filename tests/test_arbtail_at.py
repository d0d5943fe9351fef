"""``arbtail --at`` before the first event is a clear refusal, not an empty frame."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_at_before_the_log_says_where_the_log_starts(tmp_path: Path) -> None:
    log = tmp_path / "s.jsonl"
    log.write_text(
        '{"v":1,"ts":"2026-11-29T10:00:00+00:00","session_id":"s","seq":1,"level":"info","logger":"t",'
        '"event":"log.message","category":"info","message":"hello"}\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.arbtail", str(log), "--at", "2026-03-01T12:00Z", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    # no market_ts in this log: the wall clock is used, and said so
    assert "no market times (market_ts) in this log" in proc.stderr
    assert "no event at or before 2026-03-01T12:00:00.000Z on the wall clock" in proc.stderr
    assert "starts at 2026-11-29T10:00:00.000Z" in proc.stderr
    assert "Traceback" not in proc.stderr
