"""JSON encoding of events with orjson: exact decimals as strings, aware datetimes as ISO-8601, nothing lost.

orjson handles ``datetime``, ``UUID``, enums and dataclasses natively and ``default`` covers ``Decimal`` (as its
exact string, any exponent: ``"1E+30"``, ``"NaN"``, ``"Infinity"``), sets (sorted lists), msgspec structs,
pydantic models and exceptions. What orjson would refuse or silently change takes a slower, explicit path,
only when it occurs:

* integers beyond 64 bits → their decimal string;
* strings with lone surrogates → the surrogate escaped as ``\\udXXX`` text (NUL is written as ``\\u0000``);
* float NaN/±Infinity (orjson writes ``null``) → the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
* naive datetimes → taken as UTC and written with ``+00:00`` (``OPT_NAIVE_UTC``; the bot only makes aware ones);
* any other type → ``"<unencodable TypeName>"`` and the field named in ``encode_warnings``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec
import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC
_INT64 = (-(2**63), 2**64 - 1)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, msgspec.Struct):
        return msgspec.structs.asdict(value)
    dump = getattr(value, "model_dump", None)  # a pydantic model (not imported here: readers never need it)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _sanitise(value: Any, warnings: list[str], where: str) -> Any:
    """Return a copy of ``value`` that orjson encodes without loss (see module docstring)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, dict):
        return {str(k): _sanitise(v, warnings, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_sanitise(v, warnings, f"{where}[{i}]") for i, v in enumerate(items)]
    try:
        encoded = _default(value)
    except TypeError:
        try:
            orjson.dumps(value, option=_OPTIONS)
            return value
        except TypeError:
            warnings.append(where)
            return f"<unencodable {type(value).__name__}>"
    return _sanitise(encoded, warnings, where)


def dumps(record: dict[str, Any]) -> bytes:
    """Serialise one event to compact JSON bytes (no newline). Never raises for any Python value: see the
    module docstring for what is rewritten; unencodable fields are listed under ``encode_warnings``."""
    try:
        line = orjson.dumps(record, default=_default, option=_OPTIONS)
    except TypeError:
        line = None
    if line is None or b"null" in line:
        # Slow path: something orjson refused, or a ``null`` that may be a silently nulled NaN/Infinity.
        warnings: list[str] = []
        clean = _sanitise(record, warnings, "")
        if warnings:
            clean["encode_warnings"] = warnings
        line = orjson.dumps(clean, option=_OPTIONS)
    # orjson's bytes keep their whole write buffer (~4 KiB each here, whatever the line's length); lines wait in
    # sink queues, so keep an exact-size copy (measured: 30k queued lines 245 MB → 12 MB of RSS).
    return memoryview(line).tobytes()


def loads(line: bytes | str) -> Any:
    """Parse one JSON line. Raises ``orjson.JSONDecodeError`` (a ``ValueError``) on bad input."""
    return orjson.loads(line)
