"""The two clocks a session log can be travelled by (``--at`` / ``--from`` / ``--to`` / ``--speed``).

* ``market`` — the time of the market data an event belongs to (``market_ts``). For a live bot it is the
  venues' time, a few ms from the wall clock; for a paper run it is the replayed history (2026-02-24 → …), which is
  what an operator asks about ("the state at 2026-03-01T12:00Z"). Events without a ``market_ts`` (session
  start/stop, health) have no market time: they are folded where they stand and never end a replay.
* ``wall`` — when the bot logged the event (the envelope ``ts``, UTC).

A replay "up to T" folds every event until the first one whose time on the chosen clock is later than T.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal

import orjson

__all__ = ["Clock", "ClockName", "TIME_FIELD", "event_time", "line_time", "checkpoint_time", "parse_time"]

Clock = Literal["market", "wall"]


class ClockName(str, Enum):
    """The clocks as a choice for command-line options (``--clock market|wall``); ``.value`` is a ``Clock``."""

    market = "market"
    wall = "wall"


#: The envelope field each clock reads.
TIME_FIELD: dict[str, str] = {"market": "market_ts", "wall": "ts"}


def event_time(event: Any, clock: Clock) -> datetime | None:
    """The event's time on ``clock`` as an aware datetime, or ``None`` when it has none (not an object, field
    missing or null, not an ISO string, naive)."""
    if type(event) is not dict:
        return None
    raw = event.get(TIME_FIELD[clock])
    if type(raw) is not str:
        return None
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def line_time(raw: bytes, clock: Clock) -> datetime | None:
    """``event_time`` of one JSONL line (bytes of one event); ``None`` for a line that is not JSON too."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return event_time(event, clock)


def parse_time(text: str | None) -> datetime | None:
    """A command-line time (``--at``, ``--from``, ``--to``, ``--since``): ISO 8601, a time without an offset is
    taken as UTC; ``None`` for ``None``. Raises ``ValueError`` naming the expected form."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: use ISO 8601, e.g. 2026-03-01T08:00:00Z") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def checkpoint_time(event: dict[str, Any], clock: Clock) -> datetime | None:
    """The latest time on ``clock`` covered by a ``dashboard.checkpoint`` event, for choosing where a replay "up
    to T" may start: on the market clock the state's ``market_now`` (the *largest* market time folded, so no
    event before the checkpoint is later — market times from several venues need not be in order); on the wall
    clock the checkpoint's own ``ts``. ``None`` when unknown."""
    if clock == "market":
        state = event.get("state")
        return event_time({"market_ts": state.get("market_now")}, "market") if type(state) is dict else None
    return event_time(event, "wall")
