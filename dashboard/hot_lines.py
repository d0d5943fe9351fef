"""Typed decoding of the two high-rate event lines of a replay (``market.mark_price``, ``funding.rate``).

About 90 % of a session log is these two events, and a full replay spends most of its time turning them into
dicts it then mostly discards. ``HOT_DECODER.decode(line)`` (msgspec) instead decodes such a line straight into a
small struct holding only the fields the fold reads, validating their JSON types in C — about half the cost of
``orjson.loads`` for these lines. Any other line raises ``HOT_ERRORS`` and is read the ordinary way
(``orjson.loads`` + ``dashboard.reducer.apply``).

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

__all__ = ["HOT_DECODER", "HOT_ERRORS", "MarkLine", "RateLine"]

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


#: ``decode(line: bytes) -> MarkLine | RateLine``; raises one of ``HOT_ERRORS`` for any other line.
HOT_DECODER = msgspec.json.Decoder(MarkLine | RateLine)
#: What ``HOT_DECODER.decode`` raises for a line it does not take (RecursionError: deeply nested input).
HOT_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)
