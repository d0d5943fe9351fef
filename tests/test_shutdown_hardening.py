"""The dispatcher side of the pipeline must not be taken down by its own reporting: ``Pipeline._sink_failed``
never raises (``call_soon_threadsafe`` on a loop that is closing raises ``RuntimeError``), and a dispatcher
thread that dies anyway is reported as a ``session.health`` event."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson

from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline
from arbdash.logging_pipeline.sinks.base import Sink


class _Lines(Sink):
    name = "lines"

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []

    def write(self, line: bytes, record: dict) -> None:
        self.records.append(orjson.loads(line))


class _Raises(Sink):
    name = "raises"

    def __init__(self, exc: BaseException, on_message: str) -> None:
        super().__init__()
        self.exc, self.on_message = exc, on_message

    def write(self, line: bytes, record: dict) -> None:
        if record.get("message") == self.on_message:
            self.on_message = None  # once
            raise self.exc


class _ClosingLoop:
    """A loop between "not closed yet" and "closed": ``call_soon_threadsafe`` raises, as asyncio's does."""

    def is_closed(self) -> bool:
        return False

    def call_soon_threadsafe(self, *args: object) -> None:
        raise RuntimeError("Event loop is closed")


def test_sink_failure_report_on_a_closing_loop_does_not_raise() -> None:
    lines = _Lines()
    bad = _Raises(RuntimeError("sink broke"), on_message="boom")
    p = Pipeline(session_id=str(uuid.uuid4()), sinks=[bad, lines], capture_stdlib=False)
    p._loop = _ClosingLoop()  # type: ignore[assignment]
    p._sink_failed(bad, RuntimeError("x"))  # must not raise
    p.configure()
    try:
        log = get_logger("t")
        log.info("boom")
        log.info("after")
        assert p.flush(5.0)  # the failure was reported through _sink_failed, on this thread: no exception
    finally:
        p.restore()
    assert bad.health == "failed"
    assert [r["message"] for r in lines.records] == ["boom", "after"]


class _Fatal(BaseException):
    pass


def test_dispatcher_thread_death_is_reported() -> None:
    lines = _Lines()
    bad = _Raises(_Fatal("dispatcher killer"), on_message="kill")

    async def main() -> None:
        async with Pipeline(session_id=str(uuid.uuid4()), sinks=[bad, lines], capture_stdlib=False) as p:
            thread = p.tee._thread
            assert thread is not None
            get_logger("t").info("kill")
            deadline = time.monotonic() + 30  # guard only
            while thread.is_alive() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert not thread.is_alive()
            p.check_sinks()
            p.flush(5.0)

    asyncio.run(main())
    health = [
        r for r in lines.records if r["event"] == "session.health" and r.get("component") == "log-dispatcher"
    ]
    assert health, [r["event"] for r in lines.records]
    assert health[0]["health"] == "degraded" and "_Fatal" in health[0]["reason"]
