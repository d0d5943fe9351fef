"""Typed decoding of the frequent event lines of a replay.

About 90 % of a session log is mark prices and funding rates, and most of the rest is the per-funding-time
events (``funding.payment``, ``funding.settlement``, ``position.updated``); a full replay spent most of its time
turning them into dicts it then mostly discards. ``HOT_DECODER.decode(line)`` (msgspec) instead decodes such a
line straight into a small struct, validating the JSON types in C — about half the cost of ``orjson.loads``.
Marks and rates are folded inline by ``dashboard.reducer._fold_lines``; the three others (``HANDLED_LINES``) go
through their reference handler in ``dashboard.reducer``. Any other line raises ``HOT_ERRORS`` and is read the
ordinary way (``orjson.loads`` + ``dashboard.reducer.apply``).

The shapes are strict on purpose so that a line decoded here is one ``orjson.loads`` reads to the same values:
every field of the catalogue event (``logging_pipeline.events.MarkPrice`` / ``FundingRate`` plus the envelope) is
declared with its exact JSON type, unknown fields are refused (msgspec would skip them more leniently than
orjson parses them: invalid UTF-8, numbers out of range), ``v`` must be 1 and ``seq`` / ``interval_s`` fit in
an int64 (orjson reads larger integers as floats). A line that does not fit — an older or newer writer, an extra
field, a wrong type, a duplicate ``event`` key — simply takes the ordinary path; ``tests/test_reducer_fastpath.py``
checks both paths fold every line, hostile ones included, to the same state.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["HANDLED_LINES", "HOT_DECODER", "HOT_ERRORS", "MarkLine", "PaymentLine", "PositionUpdatedLine",
           "RateLine", "SettlementLine"]

_I64_MAX = 2**63 - 1
_Seq = Annotated[int, msgspec.Meta(ge=0, le=_I64_MAX)]


class _Envelope(msgspec.Struct, tag_field="event", forbid_unknown_fields=True, kw_only=True):
    """The envelope of schema v1 (``logging_pipeline.events.Envelope``), with the JSON types the fold accepts."""

    v: Literal[1]
    ts: str
    session_id: str
    seq: _Seq
    level: str = ""
    logger: str = ""
    category: str = ""
    message: str = ""
    market_ts: str | None = None


class MarkLine(_Envelope, tag="market.mark_price"):
    """A ``market.mark_price`` line: venue, symbol, mark and index price as decimal text."""

    venue: str
    symbol: str
    mark_price: str
    index_price: str | None = None


class RateLine(_Envelope, tag="funding.rate"):
    """A ``funding.rate`` line: venue, symbol, rate (fraction per ``interval_s`` seconds, decimal text), APR and
    the next funding time (ISO text)."""

    venue: str
    symbol: str
    rate: str
    interval_s: Annotated[int, msgspec.Meta(ge=1, le=_I64_MAX)]
    next_funding_ts: str
    apr: str | None = None


class PaymentLine(_Envelope, tag="funding.payment"):
    """A ``funding.payment`` line (one leg's funding at one funding time; amounts as decimal text)."""

    position_id: str
    symbol: str
    venue: str
    side: str
    rate: str
    entry_rate: str
    interval_s: Annotated[int, msgspec.Meta(ge=1, le=_I64_MAX)]
    qty: str
    mark_price: str
    notional: str
    payment: str
    expected_payment: str


class SettlementLine(_Envelope, tag="funding.settlement"):
    """A ``funding.settlement`` line (both legs of one position at one funding time; decimal text)."""

    position_id: str
    symbol: str
    long_venue: str
    short_venue: str
    long_payment: str
    short_payment: str
    net_payment: str
    long_rate: str | None = None
    short_rate: str | None = None
    divergence_pct: str | None = None


class PositionUpdatedLine(_Envelope, tag="position.updated"):
    """A ``position.updated`` line (the position manager's periodic view; decimal text)."""

    position_id: str
    current_spread_apr: str
    profit_erosion_pct: str
    divergence_pct: str
    symbol: str | None = None
    rebalance_pending: bool = False
    hold_code: str | None = None


#: The typed lines folded through their ``dashboard.reducer`` handler (not inline): event name by struct.
HANDLED_LINES: dict[type, str] = {
    PaymentLine: "funding.payment",
    SettlementLine: "funding.settlement",
    PositionUpdatedLine: "position.updated",
}

#: ``decode(line: bytes) -> MarkLine | RateLine | PaymentLine | SettlementLine | PositionUpdatedLine``; raises
#: one of ``HOT_ERRORS`` for any other line.
HOT_DECODER = msgspec.json.Decoder(MarkLine | RateLine | PaymentLine | SettlementLine | PositionUpdatedLine)
#: What ``HOT_DECODER.decode`` raises for a line it does not take (RecursionError: deeply nested input).
HOT_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)
