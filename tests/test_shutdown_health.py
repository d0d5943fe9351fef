"""No ``session.health`` after ``session.stopped``: the PostgreSQL sink reports its own health through
``on_health_change`` (``emit_session_health``), which must fall silent once the owner ran
``check_sinks(final=True)`` — and nothing may print raw structlog lines to stdout once the pipeline restored
logging (the reviewer's ``pg_after_stop.py``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import orjson
import pytest

from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline
from arbdash.logging_pipeline.events import SessionStopped
from arbdash.logging_pipeline.postgres.sink import PostgresSink
from arbdash.logging_pipeline.postgres.wiring import emit_session_health
from arbdash.logging_pipeline.sinks.base import Sink
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink


def test_pg_recovery_after_final_check_is_not_logged(
    tmp_path: Path, pg_dsn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    sid = str(uuid.uuid4())
    jsonl = JsonlSink(tmp_path / f"{sid}.jsonl")
    pg = PostgresSink(
        pg_dsn,
        session_id=sid,
        flush_interval_s=0.01,
        on_health_change=emit_session_health,
        spool_dir=tmp_path,
    )
    log = get_logger("t")

    async def main() -> None:
        async with Pipeline(session_id=sid, sinks=[jsonl, pg], capture_stdlib=False) as p:
            for i in range(100):
                log.info(f"e{i}")
            deadline = time.monotonic() + 30  # guard only
            while pg.stats["written"] < 100 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            pg._set_health("degraded", "simulated outage that just ended")  # the state after an outage
            p.flush(1.0)
            p.check_sinks(final=True)
            log.emit(SessionStopped(reason="completed", health="stopped"), message="stopped")
            # the sink's writer task sees it has caught up and reports "ok" — after session.stopped
            while pg.health != "ok" and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert pg.health == "ok"
            pg._set_health(
                "degraded", "and once more, on the way out"
            )  # e.g. during its close, after restore

    asyncio.run(main())
    recs = [orjson.loads(line) for line in jsonl.path.read_bytes().splitlines()]
    events = [r["event"] for r in recs]
    assert events[-1] == "session.stopped", events[events.index("session.stopped") :]
    assert "session.health" not in capfd.readouterr().out


class _SelfReporting(Sink):
    """A sink reporting its own health, which changes while it closes (after the pipeline restored logging)."""

    name = "self-reporting"
    reports_own_health = True

    def __init__(self) -> None:
        super().__init__()
        self.on_health_change = emit_session_health

    def write(self, line: bytes, record: dict) -> None:
        pass

    async def aclose(self) -> None:
        self.health = "degraded"
        self.on_health_change("degraded", "could not finish the close")


def test_no_raw_structlog_line_after_restore(capfd: pytest.CaptureFixture[str]) -> None:
    sink = _SelfReporting()

    async def main() -> None:
        async with Pipeline(session_id=str(uuid.uuid4()), sinks=[sink], capture_stdlib=False):
            pass

    asyncio.run(main())
    assert "session.health" not in capfd.readouterr().out
    assert sink.health == "degraded"
    assert sink.on_health_change is emit_session_health  # the sink's own callback is given back
