"""Mapping between one event and one ``dashboard_events`` row, both ways.

A row is the tuple ``EVENT_COLUMNS``: the envelope goes to typed columns, the complete original JSON object
goes to ``payload`` (jsonb, passed as its JSON text). Reading back, ``payload_to_line`` rebuilds a JSONL line
whose *content* equals the original (jsonb does not keep key order, so keys are put back in the envelope's
order followed by the event model's field order — usually giving the original bytes too).

jsonb cannot hold the NUL character (``\\u0000``). An event containing one is stored as
``{"_arbdash_raw": "<original line>"}`` and unwrapped on export, so it is still reproduced exactly.

A ``dashboard.checkpoint`` row also yields a ``dashboard_snapshots`` row (``checkpoint_snapshot``): the state the
event carries, filed under the ``seq`` of the last event that state folded.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from arbdash.logging_pipeline.catalogue import CATALOGUE
from arbdash.logging_pipeline.events import ENVELOPE_KEYS, DashboardCheckpoint

EVENT_COLUMNS = ("session_id", "seq", "ts", "level", "logger", "category", "event", "message", "payload")
RAW_KEY = "_arbdash_raw"
#: The event whose ``state`` is stored as a snapshot (``logging_pipeline.events.DashboardCheckpoint``).
CHECKPOINT_EVENT: str = DashboardCheckpoint.__struct_config__.tag
_NUL_ESCAPE = b"\\u0000"

#: (session_id, seq, ts, level, logger, category, event, message, payload-json-text)
Row = tuple[uuid.UUID, int, datetime, str, str, str, str, str, str]


class BadEvent(ValueError):
    """An event lacks a usable envelope (``session_id`` as UUID, integer ``seq`` ≥ 0, aware ``ts``)."""


_uuid_cache: dict[str, uuid.UUID] = {}


def _as_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    key = str(value)
    got = _uuid_cache.get(key)
    if got is None:
        try:
            got = uuid.UUID(key)
        except ValueError as exc:
            raise BadEvent(f"session_id {key[:60]!r} is not a UUID") from exc
        if len(_uuid_cache) > 1024:
            _uuid_cache.clear()
        _uuid_cache[key] = got
    return got


def _as_ts(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadEvent(f"ts {value[:40]!r} is not ISO 8601") from exc
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise BadEvent(f"ts {value!r} is not a timezone-aware datetime")
    return value


def _text(value: Any) -> str:
    """A text column value; PostgreSQL text cannot hold NUL, so it shows as U+FFFD (the payload keeps it)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def row_from_event(line: bytes, record: dict[str, Any]) -> Row:
    """The row for one event: ``line`` its serialised JSON (no newline), ``record`` the same event as a dict
    (values may be ``datetime``/``Decimal``/``UUID`` or their string forms). Raises ``BadEvent``.

    Hot path (once per event on the bot's thread, ~1.5 µs): the pipeline's types are taken as they are; only
    unusual values take the slow conversions. orjson writes NUL as ``\\u0000``, so a line without that escape
    has no NUL in any string and needs no cleaning."""
    get = record.get
    seq = get("seq")
    if type(seq) is not int or seq < 0:
        raise BadEvent(f"seq {seq!r} is not an integer >= 0")
    ts = get("ts")
    if type(ts) is not datetime or ts.tzinfo is None:
        ts = _as_ts(ts)
    sid = get("session_id")
    session = _uuid_cache.get(sid) if type(sid) is str else None
    if session is None:
        session = _as_uuid(sid)
    level, logger, category, event, message = (
        get("level"),
        get("logger"),
        get("category"),
        get("event"),
        get("message"),
    )
    payload = line.decode("utf-8")
    if _NUL_ESCAPE in line:
        payload = orjson.dumps({RAW_KEY: payload}).decode()
        level, logger, category, event, message = map(_text, (level, logger, category, event, message))
    elif not (
        type(level) is str
        and type(logger) is str
        and type(category) is str
        and type(event) is str
        and type(message) is str
    ):
        level, logger, category, event, message = map(_text, (level, logger, category, event, message))
    return (session, seq, ts, level, logger, category, event, message, payload)


def row_from_line(line: bytes) -> Row:
    """The row for one JSONL line (no trailing newline). Raises ``BadEvent`` for invalid UTF-8, non-JSON,
    non-object or envelope problems."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadEvent(f"not JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise BadEvent("not a JSON object")
    return row_from_event(line, obj)


def checkpoint_snapshot(row: Row) -> tuple[int, dict[str, Any]] | None:
    """The snapshot a ``dashboard.checkpoint`` row carries: ``(seq, state)``, where ``seq`` is the last event of
    the row's session that ``state`` folded (the state's ``last_seq``) — a ``dashboard_snapshots`` row holds the
    state *after* its ``seq`` (``sql/001_dashboard.sql``), so a reader loads it and folds the events after that
    seq, the checkpoint event itself included, exactly as a JSONL reader does from a checkpoint line. For a
    checkpoint written as the dashboard writes them that is the checkpoint's own ``seq`` − 1.

    ``None`` for any other event, and for a checkpoint whose state is not a snapshot of this session: no
    ``state`` object, or a ``last_seq`` that names another session (or more than this one) or a seq not before
    the checkpoint's own. The state's form is the dashboard's business (``dashboard.state``): a reader that
    cannot load it replays from the start, so it is not judged here. Parses the payload: call it for checkpoint
    rows only (``row[6] == CHECKPOINT_EVENT``), not on the hot path."""
    if row[6] != CHECKPOINT_EVENT:
        return None
    try:
        obj = orjson.loads(original_line(row[8]))
    except orjson.JSONDecodeError:
        return None
    state = obj.get("state") if type(obj) is dict else None
    last_seq = state.get("last_seq") if type(state) is dict else None
    if type(last_seq) is not dict or list(last_seq) != [obj.get("session_id")]:
        return None
    seq = last_seq[obj["session_id"]]
    if type(seq) is not int or not 0 <= seq < row[1]:
        return None
    return seq, state  # type: ignore[return-value]


def jsonb_safe(text: str) -> str:
    """JSON text PostgreSQL's jsonb accepts: unchanged, unless it contains a NUL escape, then wrapped as
    ``{"_arbdash_raw": text}`` (undone by ``unwrap_jsonb``)."""
    return orjson.dumps({RAW_KEY: text}).decode() if "\\u0000" in text else text


def wrap_json_text(text: str) -> str:
    """``{"_arbdash_raw": text}``: JSON text stored verbatim (key order, NUL escapes) in a jsonb column."""
    return orjson.dumps({RAW_KEY: text}).decode()


def unwrap_jsonb(payload: str | bytes) -> Any:
    """The JSON value stored with ``jsonb_safe`` (parsed)."""
    obj = orjson.loads(payload)
    if isinstance(obj, dict) and len(obj) == 1 and RAW_KEY in obj:
        return orjson.loads(obj[RAW_KEY])
    return obj


def original_line(payload: str) -> str:
    """The original JSONL line text stored in a row's payload (unwrapping ``RAW_KEY``), as given to COPY."""
    if payload.startswith('{"' + RAW_KEY):
        return orjson.loads(payload)[RAW_KEY]
    return payload


def _ordered(obj: dict[str, Any]) -> dict[str, Any]:
    order = ENVELOPE_KEYS + CATALOGUE.fields(str(obj.get("event", "")))
    out = {k: obj[k] for k in order if k in obj}
    out.update((k, v) for k, v in obj.items() if k not in out)
    return out


def payload_to_line(payload: str | bytes) -> bytes:
    """A JSONL line (no newline) from a ``payload`` column value as PostgreSQL returns it (jsonb text).
    Content equals the original event; keys in envelope, then model-field order."""
    obj = orjson.loads(payload)
    if isinstance(obj, dict) and len(obj) == 1 and RAW_KEY in obj:
        return obj[RAW_KEY].encode("utf-8")
    return orjson.dumps(_ordered(obj) if isinstance(obj, dict) else obj)


def utc_now() -> datetime:
    """The current wall clock, timezone-aware UTC."""
    return datetime.now(UTC)
