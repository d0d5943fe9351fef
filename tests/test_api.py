"""The public API (issue 13 item 4): ``arbdash.session`` around any asyncio program, ``arbdash.events``,
``arbdash.get_logger``; and a metric a bot streams itself is folded once, never added to the figures the
dashboard computes from events."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import structlog

import arbdash
from arbdash.dashboard.reducer import Reducer
from arbdash.events import FundingPayment, FundingRate, MarkPrice

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _record(path: Path) -> list[dict]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def _session(tmp_path: Path, **kw: object):  # noqa: ANN202 - the async context manager
    args: dict[str, object] = {
        "venues": ["alpha", "beta"],
        "symbols": ["BTC"],
        "max_positions": 2,
        "max_total_exposure_usd": "5000",
        "log_dir": tmp_path,
        "dashboard": "silent",
    }
    return arbdash.session("api-test", **(args | kw))


def test_importing_arbdash_loads_nothing_until_used() -> None:
    probe = "import sys, arbdash; print(sorted(m for m in sys.modules if m.startswith(('arbdash.', 'structlog'))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert arbdash.events.PositionOpened is arbdash.logging_pipeline.events.PositionOpened  # one definition
    assert set(arbdash.events.__all__) >= {"PositionOpened", "OrderFilled", "FundingPayment", "EXIT_REASONS"}


async def test_a_session_records_a_program_from_start_to_stop(tmp_path: Path) -> None:
    """Structlog's own loggers, the standard ``logging`` module and context variables bound in tasks all land
    in the one record, between ``session.started`` and ``session.stopped``."""
    import logging

    async def worker(name: str) -> None:
        structlog.contextvars.bind_contextvars(worker=name)
        structlog.get_logger("third.party").info("from structlog", n=1)
        arbdash.get_logger("mybot.worker").info(f"working {name}")

    async with _session(tmp_path, market_clock=lambda: T0) as s:
        s.log.stage("1", "🔍", "Scanning")
        logging.getLogger("stdlib.lib").warning("from the logging module")
        await asyncio.gather(worker("a"), worker("b"))
    assert s.code == 0 and s.reason == "completed"
    record = _record(s.jsonl)
    assert [record[0]["event"], record[-1]["event"]] == ["session.started", "session.stopped"]
    assert record[0]["strategy"] == "api-test" and record[0]["max_total_exposure_usd"] == "5000"
    assert record[0]["market_ts"] == "2026-03-02T00:00:00+00:00"
    working = {e["message"]: e for e in record if e["message"].startswith("working")}
    assert working["working a"]["worker"] == "a" and working["working b"]["worker"] == "b"
    assert any(e["message"] == "from the logging module" and e["level"] == "warning" for e in record)
    assert sum(e["message"] == "from structlog" for e in record) == 2
    assert "Scanning" in s.frame and "api-test" in s.frame


async def test_an_error_in_the_program_is_recorded_then_raised(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="venue down"):
        async with _session(tmp_path) as s:
            raise RuntimeError("venue down")
    assert s.code == 1
    stopped = _record(s.jsonl)[-1]
    assert stopped["event"] == "session.stopped" and stopped["reason"] == "crashed: RuntimeError"
    assert stopped["health"] == "error"


async def test_a_cancelled_program_closes_its_session(tmp_path: Path) -> None:
    seen: dict[str, arbdash.Session] = {}

    async def bot() -> None:
        async with _session(tmp_path) as s:
            seen["s"] = s
            await asyncio.sleep(3600)

    task = asyncio.create_task(bot())
    while "s" not in seen:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen["s"].code == 130 and _record(seen["s"].jsonl)[-1]["reason"] == "interrupted"


def test_bad_arguments_fail_before_anything_runs(tmp_path: Path) -> None:
    async def start(**kw: object) -> None:
        async with _session(tmp_path, **kw):
            raise AssertionError("the body must not run")

    with pytest.raises(ValueError, match="mode"):
        asyncio.run(start(dashboard="fancy"))
    with pytest.raises(ValueError, match="token"):
        asyncio.run(start(serve="0.0.0.0:0"))  # not loopback, no token
    with pytest.raises(ValueError, match="max_total_exposure_usd"):
        asyncio.run(start(max_total_exposure_usd="lots"))
    with pytest.raises(ValueError, match="market_start"):
        asyncio.run(start(market_clock=lambda: datetime(2026, 3, 2)))  # naive: not UTC
    assert list(tmp_path.iterdir()) == []


async def test_a_metric_the_bot_streams_itself_is_folded_once(tmp_path: Path) -> None:
    """§12 Q5: a bot that already streams its own figure (here its funding total, as a ``metric`` after each
    payment) next to the events: the portfolio's funding is the payments' sum, not doubled by the metric; the
    metric shows once, at its latest value; and an event delivered twice (a replay that reads a line twice,
    a JSONL and a database export merged) is folded once."""
    now = T0
    payments = [Decimal("1.25"), Decimal("0.75"), Decimal("-0.10")]
    async with _session(tmp_path, market_clock=lambda: now) as s:
        total = Decimal(0)
        for k, pay in enumerate(payments):
            now = T0 + timedelta(hours=8 * (k + 1))
            s.log.emit(
                MarkPrice(
                    venue="alpha", symbol="BTC", mark_price=Decimal(84_000), index_price=Decimal(84_000)
                )
            )
            s.log.emit(
                FundingRate(venue="alpha", symbol="BTC", rate=Decimal("0.0001"), interval_s=28_800,
                            apr=Decimal("0.1095"), next_funding_ts=now + timedelta(hours=8))
            )  # fmt: skip
            s.log.emit(
                FundingPayment(position_id="P1", symbol="BTC", venue="alpha", side="short", rate=Decimal("0.0001"),
                               entry_rate=Decimal("0.0001"), interval_s=28_800, qty=Decimal("0.1"),
                               mark_price=Decimal(84_000), notional=Decimal(8_400), payment=pay, expected_payment=pay)
            )  # fmt: skip
            total += pay
            s.log.metric("funding_usd", total, "USD")  # the bot's own running total
    lines = s.jsonl.read_bytes().splitlines()
    once, twice = Reducer(timeline_size=20), Reducer(timeline_size=20)
    once.feed_lines(lines)
    twice.feed_lines([x for line in lines for x in (line, line)])
    for snap in (once.snapshot(), twice.snapshot()):
        assert snap.portfolio.funding == sum(payments)
        (reading,) = [m for m in snap.session.metrics if m.name == "funding_usd"]
        assert reading.value == sum(payments) and reading.unit == "USD"
    assert twice.snapshot().portfolio == once.snapshot().portfolio
    assert twice.snapshot().positions == once.snapshot().positions


async def test_a_failing_close_step_neither_hides_the_programs_error_nor_the_end_of_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arbdash.dashboard.service import DashboardService

    async def broken(self: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(DashboardService, "final_checkpoint", broken)
    with pytest.raises(RuntimeError, match="venue down"):
        async with _session(tmp_path) as s:
            raise RuntimeError("venue down")
    record = _record(s.jsonl)
    assert record[-1]["event"] == "session.stopped" and record[-1]["reason"] == "crashed: RuntimeError"
    assert any("closing the session: OSError: disk gone" in e["message"] for e in record)
