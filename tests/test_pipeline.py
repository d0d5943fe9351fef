"""The processor chain and sinks: envelope, ordering, exact decimals, stdlib capture, sink failure isolation."""

from __future__ import annotations

import io
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import msgspec
import orjson
import pytest

from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline, Sink
from arbdash.logging_pipeline.catalogue import CATALOGUE
from arbdash.logging_pipeline.events import Envelope, FundingRate
from arbdash.logging_pipeline.sinks.console import ConsoleSink
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink

MARKET_T = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
log = get_logger("tests.pipeline")


class ListSink(Sink):
    name = "list"

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[bytes] = []

    def write(self, line, record):
        self.lines.append(line)


class BrokenSink(Sink):
    name = "broken"

    def write(self, line, record):
        raise OSError(28, "No space left on device")


def _rate() -> FundingRate:
    return FundingRate(
        venue="binance",
        symbol="BTC",
        rate=Decimal("0.00012345678901234567890"),
        interval_s=28800,
        apr=Decimal("0.1352"),
        next_funding_ts=MARKET_T,
    )


async def test_every_call_is_one_enveloped_event_with_exact_decimals(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    async with Pipeline(session_id="sess-1", sinks=[JsonlSink(path)], market_clock=lambda: MARKET_T):
        log.stage("3.1", "🔍", "Pre-flight Checks", lifecycle="opening_position")
        log.emit(_rate())
        log.info("plain line", venues=3)
        log.metric("scan_ms", Decimal("1.25"), "ms")
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [e["event"] for e in events] == ["stage.changed", "funding.rate", "log.message", "metric"]
    for e in events:
        env = msgspec.convert(e, Envelope)
        assert env.ts.utcoffset().total_seconds() == 0
        assert e["session_id"] == "sess-1"
        assert e["market_ts"] == "2026-03-01T08:00:00+00:00"
        assert e["category"] == CATALOGUE.category_for(e["event"], e["level"])
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[0]["message"] == "3.1 🔍 Pre-flight Checks"
    assert events[1]["rate"] == "0.00012345678901234567890"  # a string, every digit kept
    assert events[2]["venues"] == 3


async def test_seq_order_matches_line_order_across_threads(tmp_path: Path) -> None:
    sink = ListSink()
    async with Pipeline(session_id="s", sinks=[sink]):

        def worker(n: int) -> None:
            for i in range(500):
                log.info(f"t{n} {i}")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    seqs = [orjson.loads(line)["seq"] for line in sink.lines]
    assert seqs == list(range(1, 2001))


async def test_stdlib_records_join_the_stream_with_their_traceback() -> None:
    sink = ListSink()
    async with Pipeline(session_id="s", sinks=[sink]):
        try:
            raise RuntimeError("socket closed")
        except RuntimeError:
            logging.getLogger("asyncpg.pool").exception("connection lost")
    (event,) = [orjson.loads(line) for line in sink.lines]
    assert event["event"] == "log.message"
    assert event["logger"] == "asyncpg.pool"
    assert event["level"] == "error"
    assert "RuntimeError: socket closed" in event["exc"]


async def test_a_failing_sink_is_reported_and_the_others_continue() -> None:
    good = ListSink()
    pipe = Pipeline(session_id="s", sinks=[BrokenSink(), good])
    async with pipe:
        log.info("one")
        pipe.check_sinks()
        log.info("two")
    events = [orjson.loads(line) for line in good.lines]
    assert [e["message"] for e in events if e["event"] == "log.message"] == ["one", "two"]
    health = [e for e in events if e["event"] == "session.health"]
    assert len(health) == 1
    assert health[0]["health"] == "degraded" and health[0]["component"] == "broken"
    assert "No space left" in health[0]["reason"]


async def test_debug_is_dropped_below_level_and_reserved_keys_refused() -> None:
    sink = ListSink()
    async with Pipeline(session_id="s", sinks=[sink], level="INFO"):
        log.debug("invisible")
        with pytest.raises(TypeError, match="reserved"):
            log.info("bad", seq=5)
    assert sink.lines == []


async def test_console_keeps_the_banner_and_line_look_and_makes_text_inert() -> None:
    out = io.StringIO()
    async with Pipeline(
        session_id="s", sinks=[ConsoleSink(out)], callsite=True, market_clock=lambda: MARKET_T
    ):
        log.stage("1", "📋", "BTC • Opportunity Validation")
        log.warning("title \x1b]0;owned\x07 change")
        log.emit(_rate())  # market data is dashboard data, not a console line
    lines = out.getvalue().splitlines()
    assert lines[0] == "=" * 55 and lines[2] == "=" * 55
    assert lines[1] == "1. 📋 BTC • Opportunity Validation"
    when, level, src, message = (part.strip() for part in lines[3].split(" | "))
    assert when == "2026-03-01 08:00:00"
    assert level == "WARNING"
    assert src.startswith("test_pipeline:test_console_keeps_the_banner")
    assert "\x1b" not in message and "\\x1b]0;owned\\x07" in message
    assert len(lines) == 4


# --- import direction --------------------------------------------------------------------------------------


def _imports(path: Path) -> list[tuple[str, int]]:
    """``(module, col_offset)`` of every import in ``path`` (col 0: module level)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node.col_offset))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.col_offset) for alias in node.names]
    return [(m.removeprefix("arbdash."), col) for m, col in found]


def test_the_dashboard_does_not_import_the_logger_that_feeds_it() -> None:
    """DESIGN: ``bot → helpers.unified_logger → logging_pipeline → (sinks, dashboard.reducer)``. The dashboard
    gets its warning and checkpoint callables from its composer (``tools/runbot_cli.py``); it imports neither
    ``helpers.unified_logger`` nor the event catalogue's models to write events itself."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "dashboard").rglob("*.py")):
        modules = [m for m, _ in _imports(path)]
        assert not any(m.startswith("helpers.unified_logger") or m == "structlog" for m in modules), path
    for name in ("service.py", "checkpoints.py"):
        assert not any(
            m.startswith(("helpers", "logging_pipeline.events"))
            for m, _ in _imports(root / "dashboard" / name)
        ), name
    probe = (
        "import sys, arbdash.dashboard.service, arbdash.dashboard.checkpoints;"
        " print('arbdash.helpers.unified_logger' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip() == "False"
    # nor does the pipeline reach into the dashboard: the PostgreSQL wiring needs no reducer (snapshots arrive
    # as dashboard.checkpoint events; tests/test_layering.py checks the whole of logging_pipeline)
    wiring = _imports(root / "logging_pipeline" / "postgres" / "wiring.py")
    assert not any(m.split(".")[0] == "dashboard" for m, _ in wiring) and all(col == 0 for _, col in wiring)


class _Tracked(Sink):
    """Records start/close; ``hang`` makes ``start`` wait forever, ``fail`` makes it raise."""

    def __init__(self, name: str, *, hang: bool = False, fail: bool = False) -> None:
        super().__init__()
        self.name, self.hang, self.fail = name, hang, fail
        self.started = self.closed = False

    async def start(self) -> None:
        import asyncio

        self.started = True
        if self.fail:
            raise OSError("cannot open")
        if self.hang:
            await asyncio.Event().wait()

    def write(self, line: bytes, record: dict) -> None:
        pass

    async def aclose(self) -> None:
        self.closed = True


async def test_a_start_cancelled_or_failing_midway_closes_the_sinks_already_started(tmp_path: Path) -> None:
    """Ctrl-C while the pipeline is still starting (a slow sink) leaves no sink half open, and a sink that
    cannot start does not leave the earlier ones running."""
    import asyncio

    first, slow, never = _Tracked("first"), _Tracked("slow", hang=True), _Tracked("never")
    jsonl = JsonlSink(tmp_path / "s.jsonl")

    async def enter() -> None:
        async with Pipeline(session_id="s", sinks=[jsonl, first, slow, never]):
            raise AssertionError("the start cannot complete")

    task = asyncio.create_task(enter())
    while not slow.started:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert first.closed and slow.closed and not never.started and not never.closed
    assert jsonl._writer._file is None  # the JSONL writer thread was closed too

    a, bad = _Tracked("a"), _Tracked("bad", fail=True)
    with pytest.raises(OSError, match="cannot open"):
        async with Pipeline(session_id="s", sinks=[a, bad]):
            pass
    assert a.closed


class _ThreadNoting(Sink):
    """Notes the thread each ``write`` runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def write(self, line: bytes, record: dict) -> None:
        self.threads.append(threading.get_ident())


async def test_no_sink_write_runs_on_the_event_loop_not_even_at_close() -> None:
    """Issue 10 item 3: the dispatch never runs on the loop — events logged just before the pipeline closes
    are handed to the sinks by the dispatcher or by ``Pipeline.settle``'s worker thread, never by the loop."""
    sink = _ThreadNoting()
    log = get_logger("test.settle")
    async with Pipeline(session_id="s", sinks=[sink]) as pipe:
        for i in range(2000):
            log.info("tick", n=i)
        assert await pipe.settle(5.0)
        for i in range(2000):  # and some still queued when the close begins
            log.info("tock", n=i)
    assert len(sink.threads) == 4000
    assert threading.get_ident() not in set(sink.threads)


async def test_structlog_context_variables_reach_the_events_of_their_task(tmp_path: Path) -> None:
    """Issue 13's bug: ``structlog.contextvars.bind_contextvars(position_id=...)`` inside an asyncio task, then
    logging through the unified logger, gave events without ``position_id``. They are merged now, per task: the
    field reaches that task's events and no other's; a field the call gives itself wins."""
    import asyncio

    import structlog

    path = tmp_path / "s.jsonl"
    log = get_logger("test.contextvars")

    async def bound(pid: str) -> None:
        structlog.contextvars.bind_contextvars(position_id=pid, strategy="alpha")
        log.info(f"in {pid}")
        log.info("explicit", position_id="given")

    async def unbound() -> None:
        log.info("no binding here")

    async with Pipeline(session_id="s", sinks=[JsonlSink(path)]):
        await asyncio.gather(bound("P1"), bound("P2"), unbound())
    events = {e["message"]: e for e in map(orjson.loads, path.read_bytes().splitlines())}
    assert events["in P1"]["position_id"] == "P1" and events["in P2"]["position_id"] == "P2"
    assert events["in P1"]["strategy"] == "alpha"
    assert "position_id" not in events["no binding here"] and "strategy" not in events["no binding here"]
    assert events["explicit"]["position_id"] == "given"
