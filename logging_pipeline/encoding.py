"""JSON encoding of events with orjson: exact decimals as strings, aware datetimes as ISO-8601.

orjson handles ``datetime``, ``UUID``, enums and dataclasses natively; ``default`` covers the rest.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(record: dict[str, Any]) -> bytes:
    """Serialise one event to compact JSON bytes (no newline). Raises ``TypeError`` for an unencodable value."""
    return orjson.dumps(record, default=_default, option=_OPTIONS)


def loads(line: bytes | str) -> Any:
    """Parse one JSON line. Raises ``orjson.JSONDecodeError`` (a ``ValueError``) on bad input."""
    return orjson.loads(line)
