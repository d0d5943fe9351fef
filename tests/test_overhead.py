"""The hot path's design, tested without timing (issue 5 §1; the figures come from ``tools/bench.py``):
loggers bound once per configuration yet following every new ``Pipeline``, an event's fields written in their
declared order and read back to the same values, the envelope owned by the pipeline, the redactor's fast path
sound."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

import arbdash.helpers.unified_logger as unified_logger
from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline, Sink
from arbdash.logging_pipeline.catalogue import LINE_DECODER, EventError, event_line, fields_of
from arbdash.logging_pipeline.events import (
    FundingRate,
    MarkPrice,
    PositionClosing,
    SessionHealth,
    StageChanged,
)
from arbdash.logging_pipeline.redact import REDACTED, Redactor

T = datetime(2026, 3, 1, 8, tzinfo=UTC)
log = get_logger("tests.overhead")


class ListSink(Sink):
    name = "list"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self.events.append(orjson.loads(line))


async def test_logger_binds_once_per_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    binds: list[str] = []
    real = structlog.get_logger

    def counting(*args: Any) -> Any:
        binds.append(args[0] if args else "")
        return real(*args)

    monkeypatch.setattr(unified_logger.structlog, "get_logger", counting)
    sink = ListSink()
    async with Pipeline(session_id="a", sinks=[sink]):
        for i in range(200):
            log.info("x", i=i)
    assert binds.count("tests.overhead") == 1
    assert len(sink.events) == 200


async def test_a_new_pipeline_and_capture_logs_are_followed() -> None:
    first, second = ListSink(), ListSink()
    async with Pipeline(session_id="one", sinks=[first], level="INFO"):
        log.debug("hidden")
        log.info("to one")
    async with Pipeline(session_id="two", sinks=[second], level="DEBUG"):
        log.debug("shown")
    with capture_logs() as captured:
        log.info("captured")
    assert [(e["session_id"], e["message"]) for e in first.events] == [("one", "to one")]
    assert [(e["session_id"], e["level"], e["message"]) for e in second.events] == [("two", "debug", "shown")]
    assert captured == [{"event": "log.message", "message": "captured", "log_level": "info"}]


@pytest.mark.parametrize(
    "model",
    [
        MarkPrice(venue="binance", symbol="BTC", mark_price=Decimal("65000.1"), index_price=Decimal("1E+3")),
        FundingRate(
            venue="bybit",
            symbol="ETH",
            rate=Decimal("-0.0001"),
            interval_s=3600,
            apr=Decimal("-0.876"),
            next_funding_ts=T,
        ),
        PositionClosing(position_id="p1", reason="TIME_LIMIT"),  # detail=None is left out
        StageChanged(stage_id="3.1", title="Pre-flight Checks", lifecycle="opening_position"),
        SessionHealth(health="degraded", component="jsonl"),
    ],
)
def test_fields_are_written_in_declared_order_and_read_back_to_the_same_values(model: Any) -> None:
    fields = fields_of(model)
    declared = [name for name in type(model).__struct_fields__ if getattr(model, name) is not None]
    assert list(fields) == declared  # None left out, declaration order kept
    line = LINE_DECODER.decode(event_line(model, session_id="s", seq=1, ts=T))
    for name, value in fields.items():  # money comes back as its exact text, everything else as written
        assert getattr(line, name) == (str(value) if isinstance(value, Decimal) else value)


def test_an_event_that_does_not_match_its_declaration_is_refused_at_emit() -> None:
    with pytest.raises(EventError, match="mark_price"):
        float_money = MarkPrice(venue="binance", symbol="BTC", mark_price=65000.1, index_price=Decimal(1))  # type: ignore[arg-type]
        log.emit(float_money)
    with pytest.raises(EventError, match="next_funding_ts"):
        log.emit(
            FundingRate(
                venue="bybit",
                symbol="ETH",
                rate=Decimal(0),
                interval_s=3600,
                apr=Decimal(0),
                next_funding_ts=datetime(2026, 3, 1),
            )
        )
    with pytest.raises(EventError, match="lifecycle"):
        log.emit(StageChanged(stage_id="1", title="x", lifecycle="dancing"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # a field the declaration does not have
        SessionHealth(health="degraded", extra_note="kept")  # type: ignore[call-arg]


async def test_envelope_keys_cannot_be_overwritten_by_raw_structlog_calls() -> None:
    sink = ListSink()
    async with Pipeline(session_id="s", sinks=[sink], market_clock=lambda: T):
        structlog.get_logger("raw").info("free text", seq=99, level="bogus", session_id="other")
    (event,) = sink.events
    assert (event["seq"], event["level"], event["session_id"]) == (1, "info", "s")
    assert (event["field_seq"], event["field_level"], event["field_session_id"]) == (99, "bogus", "other")
    assert event["message"] == "free text" and event["event"] == "log.message"
    assert list(event)[:10] == [
        "v",
        "ts",
        "session_id",
        "seq",
        "level",
        "logger",
        "event",
        "category",
        "message",
        "market_ts",
    ]


async def test_exceptions_are_data() -> None:
    sink = ListSink()
    async with Pipeline(session_id="s", sinks=[sink]):
        try:
            raise ConnectionResetError("peer went away\nsecond line")
        except ConnectionResetError:
            log.exception("venue feed lost")
    (event,) = sink.events
    assert event["exc_type"] == "ConnectionResetError"
    assert event["exc_message"] == "peer went away"
    assert event["exc"].startswith("Traceback") and event["exc"].count("Traceback") == 1
    assert event["message"] == "venue feed lost"  # the traceback is not repeated in the message


@dataclass
class Creds:
    user: str
    note: str


def test_redactor_makes_objects_plain_and_forgets_clean_texts_on_register() -> None:
    r = Redactor()
    secret = "zz-9f8e7d6c5b4a"
    assert r(None, "info", {"message": f"key {secret}"})["message"] == f"key {secret}"  # unknown yet: kept
    r.register(secret)
    assert secret not in r(None, "info", {"message": f"key {secret}"})["message"]  # cache forgotten
    event = r(
        None,
        "info",
        {
            "error": ValueError(f"bad {secret}"),
            "creds": Creds("bot", secret),
            "model": MarkPrice(venue=secret, symbol="BTC", mark_price=Decimal(1), index_price=Decimal(1)),
        },
    )
    assert secret not in repr(event)
    assert event["error"] == f"ValueError: bad {REDACTED}"
    assert event["creds"] == {"user": "bot", "note": REDACTED}
