"""The checkpoint emitter and the service's drains against a real pipeline (issue 10 item 3, "no back-calls"):
the dispatcher's work is never run on the event loop (the dashboard waits, bounded, for the dispatcher thread),
the emitter does not recognise or skip its own checkpoint's echo, and every checkpoint it writes is one a reader
can start from — loading it and folding what follows gives a full replay's state."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import orjson
import pytest

from arbdash.dashboard import checkpoints
from arbdash.dashboard.checkpoints import CheckpointEmitter, wait_upstream
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.service import DashboardService
from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline, Sink
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee
from arbdash.tools.runbot_run import dispatcher_pending, emit_checkpoint_event

log = get_logger("tests.checkpoints")


class ThreadRecordingSink(Sink):
    """Keeps every line and the thread each ``write`` ran on."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[bytes] = []
        self.threads: list[int] = []

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self.lines.append(line)
        self.threads.append(threading.get_ident())


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeTime:
    """``time`` and ``asyncio`` as ``dashboard.checkpoints`` sees them, on a clock that moves only by what is
    slept (``time.sleep`` and ``asyncio.sleep`` add their argument and return; the latter still yields): how
    long a wait lasted is read from what it slept, never measured."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds

    async def _async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeTime:
        monkeypatch.setattr(checkpoints, "time", self)
        monkeypatch.setattr(checkpoints, "asyncio", _AsyncioWith(self._async_sleep))
        return self


class _AsyncioWith:
    """The ``asyncio`` module with another ``sleep``."""

    def __init__(self, sleep: Any) -> None:
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def _emitter(tee: ReducerTee, reducer: Reducer, clock: FakeClock, pipeline: Pipeline) -> CheckpointEmitter:
    """A checkpoint emitter every 10 s of ``clock``, writing through the unified logger, settling on ``pipeline``."""
    return CheckpointEmitter(
        tee,
        reducer,
        interval_s=10,
        clock=clock,
        emit=emit_checkpoint_event,
        upstream_pending=dispatcher_pending(pipeline),
    )


def _forbid_flush(tee: ReducerTee) -> list[float]:
    """Make the pipeline's ``flush_upstream`` hook (a dispatch on the calling thread) record its calls."""
    calls: list[float] = []
    tee.flush_upstream = lambda timeout=5.0: calls.append(timeout) or True
    return calls


async def test_checkpoints_wait_for_the_dispatcher_thread_and_their_echo_is_just_folded() -> None:
    sid = str(uuid.uuid4())
    tee, recorder = ReducerTee(), ThreadRecordingSink()
    reducer, clock = Reducer(), FakeClock()
    loop_thread = threading.get_ident()
    async with Pipeline(session_id=sid, sinks=[tee, recorder]) as pipeline:
        flushes = _forbid_flush(tee)
        emitter = _emitter(tee, reducer, clock, pipeline)
        for k in range(3):
            for i in range(200):
                log.info(f"round {k} line {i}")
            clock.t += 10
            assert await emitter.maybe_emit(), "due: 10 s and 200 events since the last one"
        # Nothing but the last checkpoint's echo since: it is an ordinary event, so the next interval
        # checkpoints the state that folded it (there is no self-echo filter to skip it).
        clock.t += 10
        assert await emitter.maybe_emit()
        assert not await emitter.maybe_emit(), "the interval has not passed again"
        assert wait_upstream(dispatcher_pending(pipeline), 1.0)
        written = len(recorder.lines)
        assert flushes == [], "the emitter never asks the pipeline to dispatch on the loop"
        assert loop_thread not in recorder.threads, "every event was written by the dispatcher thread"
    assert emitter.emitted == 4 and emitter.not_settled == 0
    lines = recorder.lines[:written]
    events = [orjson.loads(x) for x in lines]
    cps = [k for k, e in enumerate(events) if e["event"] == "dashboard.checkpoint"]
    assert len(cps) == 4 and cps[-1] == cps[-2] + 1, "the last checkpoint followed the previous one's echo"
    full = Reducer()
    full.feed_lines(lines)
    for k in cps:
        cp = events[k]
        assert cp["state"]["last_seq"] == {sid: cp["seq"] - 1}, "the state after exactly the events before it"
        resumed = Reducer()
        assert resumed.load_checkpoint(cp["state"])
        resumed.feed_lines(lines[k:])  # the checkpoint line first, as a JSONL reader does
        assert resumed.state == full.state


async def test_the_service_folds_everything_logged_without_dispatching_on_the_loop() -> None:
    """``final_frame`` and the exit drain wait for the dispatcher thread (bounded), then fold what the tee holds."""
    tee, recorder = ReducerTee(), ThreadRecordingSink()
    reducer = Reducer()
    loop_thread = threading.get_ident()
    async with Pipeline(session_id=str(uuid.uuid4()), sinks=[tee, recorder]) as pipeline:
        flushes = _forbid_flush(tee)
        async with DashboardService(
            tee, reducer, mode="silent", upstream_pending=dispatcher_pending(pipeline)
        ) as service:
            for i in range(300):
                log.info(f"line {i}")
            service.final_frame(100)  # at once: the dispatcher has not woken yet
            assert reducer.stats.applied == 300
            for i in range(50):
                log.info(f"more {i}")
        assert reducer.stats.applied == 350  # the exit drain
        assert flushes == [] and loop_thread not in recorder.threads


class StuckUpstream:
    """An upstream whose dispatcher never catches up (a sink stuck in ``write``)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return 1


async def test_a_dispatcher_that_does_not_catch_up_costs_one_bounded_wait_per_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tee, reducer, clock, upstream = ReducerTee(), Reducer(), FakeClock(), StuckUpstream()
    fake = FakeTime().install(monkeypatch)
    emitted: list[dict[str, object]] = []
    emitter = CheckpointEmitter(
        tee, reducer, interval_s=10, clock=clock, emit=emitted.append, upstream_pending=upstream, block_s=0.05
    )
    reducer.feed_line(b'{"v":1}')  # something folded (a skipped line counts)
    clock.t = 10
    assert not await emitter.maybe_emit()
    # it waited for the dispatcher (the blocking wait at least), and no longer than its bounds (the settle, then
    # the blocking wait: give or take a polling step); the fake clock moves only by what was slept
    bound = emitter.settle_s + emitter.block_s + 2 * emitter.poll_s
    assert emitter.block_s <= fake.slept < bound, fake.slept
    assert emitter.not_settled == 1 and emitted == []
    calls = upstream.calls
    clock.t = 15
    assert not await emitter.maybe_emit()
    assert upstream.calls - calls <= 1, "no new wait before the interval (one read to count what is coming)"
    clock.t = 20
    assert not await emitter.maybe_emit() and emitter.not_settled == 2


def test_the_wait_gives_up_on_a_dispatcher_that_makes_no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's drains may wait a second for the dispatcher, but not for one stuck behind a blocking sink."""
    fake = FakeTime().install(monkeypatch)
    assert not wait_upstream(StuckUpstream(), 5.0, stall_s=0.05)
    assert 0.05 <= fake.slept < 0.05 + 0.001, (
        fake.slept
    )  # given up after the stall, not after the 5 s timeout
    draining = iter([5, 4, 4, 3, 2, 1, 0])
    assert wait_upstream(lambda: next(draining), 5.0, stall_s=0.05)
    assert wait_upstream(None, 5.0)


async def test_events_still_on_their_way_count_towards_every_events() -> None:
    """``every_events`` counts what the pipeline has not handed over yet: a busy bot gets its checkpoint on the
    tick the count is reached, not only once the dispatcher has caught up on a later one."""
    tee, reducer, clock = ReducerTee(), Reducer(), FakeClock()
    backlog = [5]
    emitted: list[dict[str, Any]] = []
    emitter = CheckpointEmitter(
        tee,
        reducer,
        interval_s=10,
        every_events=10,
        clock=clock,
        emit=emitted.append,
        upstream_pending=lambda: backlog[0],
        block_s=0.05,
    )
    for i in range(6):
        reducer.feed_line(b'{"v":1,"n":%d}' % i)
    assert not await emitter.maybe_emit(), "6 folded + 5 on their way: due, but they never arrive"
    backlog[0] = 0
    for i in range(5):
        tee.write(b'{"v":1,"m":%d}' % i, {})
    clock.t = 10  # the retry after giving up waits for the interval
    assert await emitter.maybe_emit()
    assert emitted[0]["stats"]["skipped"] == {"missing_envelope": 11}  # type: ignore[index]


async def test_no_checkpoint_follows_session_stopped() -> None:
    """``session.stopped`` is the record's last event: a checkpoint that falls due after it (the close sequence
    still runs refresh ticks while the control server stops) is not written."""
    from arbdash.logging_pipeline.events import SessionStopped

    sid = str(uuid.uuid4())
    tee, recorder = ReducerTee(), ThreadRecordingSink()
    reducer, clock = Reducer(), FakeClock()
    async with Pipeline(session_id=sid, sinks=[tee, recorder]) as pipeline:
        emitter = _emitter(tee, reducer, clock, pipeline)
        for i in range(50):
            log.info(f"line {i}")
        log.emit(SessionStopped(reason="completed", health="stopped"), message="Session completed")
        clock.t += 10
        assert not await emitter.maybe_emit()
        clock.t += 10
        assert not await emitter.maybe_emit()
        assert wait_upstream(dispatcher_pending(pipeline), 1.0)
        events = [orjson.loads(x) for x in recorder.lines]
    assert events[-1]["event"] == "session.stopped"
    assert emitter.emitted == 0


async def test_the_final_checkpoint_is_written_whatever_the_interval() -> None:
    """The close sequence's checkpoint (``emit_final``): due at once when anything was logged since the last,
    so even a run shorter than the interval ends with a state to seek to; nothing logged, nothing written."""
    sid = str(uuid.uuid4())
    tee, recorder = ReducerTee(), ThreadRecordingSink()
    reducer, clock = Reducer(), FakeClock()
    async with Pipeline(session_id=sid, sinks=[tee, recorder]) as pipeline:
        emitter = _emitter(tee, reducer, clock, pipeline)
        for i in range(30):
            log.info(f"line {i}")
        assert not await emitter.maybe_emit(), "not due: the interval has not passed"
        assert await emitter.emit_final()
        assert wait_upstream(dispatcher_pending(pipeline), 1.0)
        tee.drain_into(reducer, tee.pending)  # the checkpoint's echo
        assert not await emitter.emit_final() or emitter.emitted == 2  # only its own echo since
        events = [orjson.loads(x) for x in recorder.lines]
    (cp,) = [e for e in events if e["event"] == "dashboard.checkpoint"][:1]
    assert cp["state"]["last_seq"] == {sid: cp["seq"] - 1}
