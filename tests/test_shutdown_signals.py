"""Shutdown under repeated signals: a second SIGTERM/SIGHUP/Ctrl-C while the session is closing must not lose the
PostgreSQL backlog nor skip closing the other sinks (the reviewer's ``sig.py bh2 "2 SIGTERM 0.5 SIGTERM"``).

PostgreSQL is "unreachable" the nastiest way: a black-hole listener on 127.0.0.1 that accepts and never answers,
so the sink is still waiting for its connect when the signals come.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from arbdash.logging_pipeline import Pipeline
from arbdash.logging_pipeline.encoding import dumps
from arbdash.logging_pipeline.postgres.sink import PostgresSink
from arbdash.logging_pipeline.sinks.base import Sink

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "funding_arb_paper.yml"


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(100)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except (TimeoutError, OSError):
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        th.join(5)
        for c in conns:
            c.close()
        srv.close()


def _records(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _wait_for(pred, proc: subprocess.Popen, what: str, limit: float = 60.0):  # noqa: ANN001
    deadline = time.monotonic() + limit  # a guard against a hang, not a timing assertion
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        if proc.poll() is not None:
            pytest.fail(f"runbot exited ({proc.returncode}) before {what}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _event_in_jsonl(log_dir: Path, event: str):  # noqa: ANN202
    def pred() -> Path | None:
        for f in log_dir.glob("*.jsonl"):
            if any(r.get("event") == event for r in _records(f)):
                return f
        return None

    return pred


@pytest.mark.parametrize(
    ("first", "second"),
    [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGINT), (signal.SIGHUP, signal.SIGINT)],
    ids=["term-term", "int-int", "hup-int"],
)
def test_second_signal_during_shutdown_keeps_pg_backlog(
    tmp_path: Path, blackhole_port: int, first: signal.Signals, second: signal.Signals
) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{blackhole_port}/test"
    log_dir = tmp_path / "logs"
    proc = subprocess.Popen(
        [
            sys.executable,
            "runbot.py",
            "--config",
            str(CONFIG),
            "--dashboard-mode=plain",
            "--log-dir",
            str(log_dir),
            "--db",
            dsn,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait_for(_event_in_jsonl(log_dir, "session.started"), proc, "session.started")
        proc.send_signal(first)
        # session.stopped in the JSONL: the close sequence is under way (the PG sink waits for its connect)
        _wait_for(_event_in_jsonl(log_dir, "session.stopped"), proc, "session.stopped")
        proc.send_signal(second)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    assert proc.returncode == 130, text
    (jsonl,) = log_dir.glob("*.jsonl")
    recs = _records(jsonl)
    assert recs[-1]["event"] == "session.stopped"
    assert recs[-1]["reason"] == ("interrupted" if first == signal.SIGINT else f"interrupted by {first.name}")
    spools = list((log_dir / "pg_spool").glob("*.pgspool.jsonl"))
    assert len(spools) == 1, text
    spooled = _records(spools[0])
    assert [r["seq"] for r in spooled] == [r["seq"] for r in recs]  # nothing lost: PG can catch up from here
    assert "events written to" in text  # the close went on to the end (the final message)


# --- the pieces, in process --------------------------------------------------------------------------------------


class _Recorder(Sink):
    def __init__(self, name: str, *, raise_on_close: BaseException | None = None) -> None:
        super().__init__()
        self.name = name
        self.raise_on_close = raise_on_close
        self.closed = False
        self.lines: list[bytes] = []

    def write(self, line: bytes, record: dict) -> None:
        self.lines.append(line)

    async def aclose(self) -> None:
        self.closed = True
        if self.raise_on_close is not None:
            raise self.raise_on_close


@pytest.mark.parametrize("exc", [asyncio.CancelledError(), RuntimeError("boom")], ids=["cancelled", "error"])
def test_pipeline_closes_every_sink_when_one_close_raises(exc: BaseException) -> None:
    bad = _Recorder("bad", raise_on_close=exc)
    after = _Recorder("after")

    async def main() -> None:
        async with Pipeline(session_id=str(uuid.uuid4()), sinks=[bad, after], capture_stdlib=False):
            pass

    if isinstance(exc, asyncio.CancelledError):
        with pytest.raises(asyncio.CancelledError):  # the cancellation is not swallowed ...
            asyncio.run(main())
    else:
        asyncio.run(main())
    assert bad.closed and bad.health == "failed"
    assert after.closed  # ... but it no longer skips the sinks after it


def test_pg_sink_spills_backlog_when_cancelled_during_close(tmp_path: Path, blackhole_port: int) -> None:
    sid = str(uuid.uuid4())
    n = 25

    async def main() -> PostgresSink:
        sink = PostgresSink(
            f"postgresql://postgres@127.0.0.1:{blackhole_port}/test",
            session_id=sid,
            spool_dir=tmp_path,
            connect_timeout_s=30,
            close_timeout_s=30,
            flush_interval_s=0.01,
        )
        await sink.start()
        for seq in range(1, n + 1):
            rec = {
                "v": 1,
                "ts": "2026-01-02T03:04:05+00:00",
                "session_id": sid,
                "seq": seq,
                "level": "info",
                "logger": "t",
                "event": "log.message",
                "category": "info",
                "message": f"m{seq}",
            }
            sink.write(dumps(rec), rec)
        closing = asyncio.create_task(sink.aclose())
        await asyncio.sleep(0.2)
        closing.cancel()  # e.g. a second signal that cancelled the shutdown
        with pytest.raises(asyncio.CancelledError):
            await closing
        return sink

    sink = asyncio.run(main())
    spool = tmp_path / f"{sid}.pgspool.jsonl"
    assert spool.exists()
    assert [r["seq"] for r in _records(spool)] == list(range(1, n + 1))
    assert sink.stats["spooled"] == n
