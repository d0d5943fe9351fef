"""Values the JSON encoder must survive (issue 5 §6): nothing silently nulled, nothing lost, never a raise."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from pydantic import BaseModel

from arbdash.logging_pipeline.encoding import dumps


class Venue(enum.Enum):
    BINANCE = "binance"


class Leg(BaseModel):
    venue: str
    qty: Decimal


def roundtrip(value):
    return orjson.loads(dumps({"x": value}))["x"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1E+30"), "1E+30"),
        (Decimal("-0.000000000000000000000000000000001"), "-1E-33"),
        (Decimal("123456789012345678901234567890.123456789"), "123456789012345678901234567890.123456789"),
        (Decimal("NaN"), "NaN"),
        (Decimal("-Infinity"), "-Infinity"),
        (2**70, str(2**70)),
        (-(2**64), str(-(2**64))),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        ("nul\x00byte", "nul\x00byte"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        (Venue.BINANCE, "binance"),
        ({3, 1, 2}, [1, 2, 3]),
        (Leg(venue="bybit", qty=Decimal("0.010")), {"venue": "bybit", "qty": "0.010"}),
        (datetime(2026, 3, 1, 8, tzinfo=UTC), "2026-03-01T08:00:00+00:00"),
        (datetime(2026, 3, 1, 8), "2026-03-01T08:00:00+00:00"),
        (None, None),
    ],
)
def test_value_survives(value, expected) -> None:
    assert roundtrip(value) == expected


def test_uuid_and_nested_mixed_values() -> None:
    u = uuid.UUID(int=7)
    out = orjson.loads(dumps({"id": u, "nested": {"a": [float("nan"), 2**65, {"b": "\ud83d"}]}}))
    assert out["id"] == str(u)
    assert out["nested"] == {"a": ["NaN", str(2**65), {"b": "\\ud83d"}]}


def test_unencodable_object_is_named_not_fatal() -> None:
    out = orjson.loads(dumps({"ok": 1, "weird": object()}))
    assert out["ok"] == 1
    assert out["weird"] == "<unencodable object>"
    assert out["encode_warnings"] == ["weird"]


def test_encoded_lines_are_exact_size() -> None:
    """Queued lines must not carry the encoder's spare buffer (orjson's bytes keep ~4 KiB each)."""
    import tracemalloc

    record = {"v": 1, "event": "market.mark_price", "mark_price": Decimal("65000.1"), "message": "x" * 200}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        lines = [dumps(record) for _ in range(2000)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    payload = sum(len(line) for line in lines)
    assert held < 2 * payload, (held, payload)
