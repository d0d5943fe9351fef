"""Fault isolation (issue 5 §2): a fault in the renderer, a sink or the reducer never changes what the bot does.

Each test injects one fault into a real ``--speed 0`` run of the shipped config (in-process, through
``tools.runbot_run.run_session``) and checks that the run completes with the *same trades* as an undisturbed run —
the same ``position.opened``/``position.closed`` sequence, ids, legs, prices and PnL — and that the fault was
reported the way the design says (one warning event, a ``session.health`` event naming the sink, a counted
rejection). A recording sink added next to the real ones keeps every event, so the comparison does not depend
on the sink under test.

``run_bot_in_process`` and ``trades`` live in ``tests/support_runs.py``.
"""

from __future__ import annotations

import errno
import threading
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from support_runs import Run, run_bot_in_process, trades

import arbdash.dashboard.pane_keys as pane_keys_module
import arbdash.dashboard.service as service_module
import arbdash.tools.runbot_cli as runbot_cli
import arbdash.tools.runbot_run as runbot_run
from arbdash.dashboard.folds import PLAN
from arbdash.dashboard.folds.base import FOLDED
from arbdash.dashboard.reducer import Reducer
from arbdash.logging_pipeline import Sink
from arbdash.logging_pipeline.catalogue import CATALOGUE, LINE_DECODER
from arbdash.logging_pipeline.events import Envelope, PositionUpdated
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
from arbdash.logging_pipeline.writer import BatchFileWriter


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = run_bot_in_process(tmp_path_factory.mktemp("baseline"))
    assert run.code == 0
    assert len(run.of("position.opened")) >= 3
    return run


def _completed_like(run: Run, baseline: Run) -> None:
    assert run.code == 0
    assert trades(run) == trades(baseline)
    assert run.events[-1]["event"] == "session.stopped"
    assert run.events[-1]["reason"] == "completed"


# --- the undisturbed run itself ---------------------------------------------------------------------------


def test_every_emitted_event_validates_against_its_model(baseline: Run) -> None:
    """Events are typed: each line's envelope validates against ``Envelope`` (strict) and its fields against the
    catalogue declaration of its name, through the readers' typed decoder."""
    names = set()
    for raw, event in zip(baseline.lines, baseline.events, strict=True):
        msgspec.json.decode(raw, type=Envelope)
        line = LINE_DECODER.decode(raw)
        assert type(line).EVENT is CATALOGUE.model_for(event["event"]), event["event"]
        names.add(event["event"])
    assert {"market.mark_price", "funding.rate", "position.opened", "session.stopped"} <= names
    assert (
        baseline.jsonl.read_bytes().splitlines() == baseline.lines
    )  # the JSONL got exactly what every sink got


# --- renderer ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "patched", "fallback"),
    [("live", "pane_keys.build_layout", "plain"), ("plain", "service.plain_summary", "silent")],
)
def test_renderer_raising_steps_down_once_and_the_bot_trades_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, baseline: Run, mode: str, patched: str, fallback: str
) -> None:
    calls = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise RuntimeError("renderer bug")

    module, name = patched.split(".")
    monkeypatch.setattr({"pane_keys": pane_keys_module, "service": service_module}[module], name, broken)
    run = run_bot_in_process(tmp_path, mode=mode)
    _completed_like(run, baseline)
    assert calls, "the renderer was never called"
    warnings = [e for e in run.events if e.get("component") == "dashboard"]
    assert len(warnings) == 1  # one warning, not one per frame
    assert warnings[0]["level"] == "warning" and "renderer bug" in warnings[0]["message"]
    assert warnings[0]["from_mode"] == mode and warnings[0]["to_mode"] == fallback


# --- sinks -------------------------------------------------------------------------------------------------


class DiskFullSink(Sink):
    """A sink whose ``write`` raises like a full disk."""

    name = "diskfull"

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def _health_events(run: Run, component: str) -> list[dict[str, Any]]:
    return [e for e in run.of("session.health") if e.get("component") == component]


def _health_after(run: Run, event: dict[str, Any]) -> str:
    """The dashboard's session health right after ``event`` (a fresh reducer fed the stream up to it)."""
    reducer = Reducer()
    for line in run.lines[: run.events.index(event) + 1]:
        reducer.feed_line(line)
    return reducer.snapshot().session.health


def test_a_sink_raising_is_marked_degraded_and_the_bot_trades_the_same(tmp_path: Path, baseline: Run) -> None:
    run = run_bot_in_process(tmp_path, adjust_sinks=lambda sinks: [DiskFullSink(), *sinks])
    _completed_like(run, baseline)
    (health,) = _health_events(run, "diskfull")
    assert health["health"] == "degraded" and "No space left" in health["reason"]
    assert _health_after(run, health) == "degraded"  # shown on the dashboard
    assert (
        orjson.loads(run.jsonl.read_bytes().splitlines()[-1])["event"] == "session.stopped"
    )  # others went on


def test_jsonl_disk_full_is_reported_and_the_bot_trades_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, baseline: Run
) -> None:
    """The JSONL writer thread gets ENOSPC from the kernel (``/dev/full``) on its first flush."""
    real_open = BatchFileWriter.open

    def open_full(self: BatchFileWriter) -> None:
        real_open(self)
        if self.path.suffix == ".jsonl":
            self._file.close()
            self._file = open("/dev/full", "ab", buffering=0)  # noqa: SIM115 - closed by the writer

    monkeypatch.setattr(BatchFileWriter, "open", open_full)
    run = run_bot_in_process(tmp_path)
    _completed_like(run, baseline)
    (health,) = _health_events(run, "jsonl")
    assert health["health"] == "degraded" and "No space left" in health["reason"]
    assert _health_after(run, health) == "degraded"
    (jsonl,) = [s for s in run.sinks if isinstance(s, JsonlSink)]
    assert jsonl.dropped > 0 and jsonl.written == 0


def test_a_stalled_jsonl_writer_does_not_slow_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, baseline: Run
) -> None:
    """The JSONL file's writes hang (a dead disk) for the whole run: the bot's run takes about as long as an
    undisturbed one measured here, the sink is reported stalled, and the exit does not wait for the disk."""
    undisturbed = run_bot_in_process(tmp_path)
    release = threading.Event()

    class HungFile:
        def __init__(self, real: Any) -> None:
            self.real = real

        def write(self, data: Any) -> int:
            release.wait(60)
            return self.real.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    real_open = BatchFileWriter.open

    def open_hung(self: BatchFileWriter) -> None:
        real_open(self)
        if self.path.suffix == ".jsonl":
            self._file = HungFile(self._file)

    def quick_to_notice(sinks: list[Sink]) -> list[Sink]:
        for sink in sinks:
            if isinstance(sink, JsonlSink):
                sink.stall_after_s, sink.close_timeout_s = 0.05, 0.5
                # the writer wakes every 10 ms instead of 200: it enters the hung write at the session's start,
                # so the stall is long past the threshold by the last health check, however fast the run
                sink._writer._queue.interval_s = 0.01
        return sinks

    monkeypatch.setattr(BatchFileWriter, "open", open_hung)
    try:
        run = run_bot_in_process(tmp_path, adjust_sinks=quick_to_notice)
    finally:
        release.set()
    _completed_like(run, baseline)
    assert run.bot_wall_s <= 3 * undisturbed.bot_wall_s + 0.5  # generous: a blocked bot would take ≥ 60 s
    health = _health_events(run, "jsonl")
    assert health and "stalled" in health[0]["reason"]
    (jsonl,) = [s for s in run.sinks if isinstance(s, JsonlSink)]
    assert jsonl.health == "failed" and "stalled at close" in (jsonl.health_reason or "")


# --- reducer -----------------------------------------------------------------------------------------------


def test_reducer_raising_on_one_event_counts_it_and_keeps_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, baseline: Run
) -> None:
    key = FOLDED[PositionUpdated]
    real, shown = PLAN[key]
    calls = []

    def flaky(state: Any, ev: Any) -> Any:
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("reducer bug")
        return real(state, ev)

    monkeypatch.setitem(PLAN, key, (flaky, shown))
    run = run_bot_in_process(tmp_path)
    _completed_like(run, baseline)
    stats = run.reducer.stats
    assert stats.rejected == {"internal_error": 1}
    assert "reducer bug" in stats.last_problem
    # heartbeats and checkpoints follow the wall clock, so their number differs between two runs
    wall_paced = ("heartbeat", "dashboard.checkpoint")
    extra = sum(len(run.of(n)) - len(baseline.of(n)) for n in wall_paced)
    assert stats.applied == baseline.reducer.stats.applied + extra - 1
    got, want = run.reducer.snapshot(), baseline.reducer.snapshot()
    assert got.portfolio == want.portfolio  # the state around the rejected event is intact
    assert got.positions == want.positions


# --- the product CLI ---------------------------------------------------------------------------------------


def test_the_product_cli_has_no_test_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], baseline: Run
) -> None:
    """The fault-injection hooks live in ``tests/runbot_hooks.py``: the environment variables the old hidden
    hooks read neither crash a real bot nor make it print stray lines."""
    monkeypatch.setenv("ARBDASH_TEST_CRASH_AFTER_S", "0.01")
    monkeypatch.setenv("ARBDASH_TEST_STRAY_OUTPUT", "1")
    run = run_bot_in_process(tmp_path, mode="silent")
    _completed_like(run, baseline)
    out, err = capfd.readouterr()
    assert "stray" not in out and "stray" not in err
    source = Path(runbot_cli.__file__).read_text() + Path(runbot_run.__file__).read_text()
    assert "ARBDASH_TEST" not in source and "test_hooks" not in source
