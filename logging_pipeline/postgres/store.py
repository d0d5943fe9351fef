"""The SQL the writer side needs: COPY of event rows (plain and idempotent), session rows, snapshots, NOTIFY.

Shared by the live sink and ``tools.pg_admin.import_jsonl``. Functions take an open ``asyncpg.Connection`` and
never open transactions themselves unless they say so; callers group them. Errors are asyncpg's, unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from arbdash.logging_pipeline.postgres.rows import EVENT_COLUMNS, Row, wrap_json_text

#: NOTIFY channel; the payload is ``"<session_id>:<last_seq>"`` (sent on commit of each batch).
CHANNEL = "arbdash_events"
_STAGE = "_arbdash_events_stage"
_INSERT_ONE = f"INSERT INTO dashboard_events ({', '.join(EVENT_COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"


async def copy_events(conn: asyncpg.Connection, rows: Sequence[Row], *, timeout: float | None = None) -> None:
    """COPY ``rows`` straight into ``dashboard_events``. Raises ``asyncpg.UniqueViolationError`` if any
    ``(session_id, seq)`` already exists (the whole COPY is then void)."""
    await conn.copy_records_to_table("dashboard_events", records=rows, columns=EVENT_COLUMNS, timeout=timeout)


async def insert_events_single(
    conn: asyncpg.Connection, rows: Sequence[Row], *, timeout: float | None = None
) -> None:
    """One single-row ``INSERT`` per event (pipelined by ``executemany``) — the slow path, for comparison."""
    await conn.executemany(_INSERT_ONE, rows, timeout=timeout)


async def insert_events_idempotent(
    conn: asyncpg.Connection, rows: Sequence[Row], *, timeout: float | None = None
) -> int:
    """COPY ``rows`` into a temp staging table, then ``INSERT … ON CONFLICT DO NOTHING`` into
    ``dashboard_events``. Returns how many were new. Must run inside a transaction (the staging table is
    ``ON COMMIT DELETE ROWS``)."""
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE dashboard_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await conn.execute(f"TRUNCATE {_STAGE}")
    await conn.copy_records_to_table(_STAGE, records=rows, columns=EVENT_COLUMNS, timeout=timeout)
    status = await conn.execute(
        f"INSERT INTO dashboard_events SELECT DISTINCT ON (session_id, seq) * FROM {_STAGE} "
        "ORDER BY session_id, seq ON CONFLICT (session_id, seq) DO NOTHING",
        timeout=timeout,
    )
    return int(status.rsplit(" ", 1)[-1])


async def notify(conn: asyncpg.Connection, session_id: uuid.UUID, last_seq: int) -> None:
    """Tell followers (LISTEN ``CHANNEL``) that ``session_id`` has events up to ``last_seq`` (on commit)."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{session_id}:{last_seq}")


@dataclass(slots=True)
class SessionInfo:
    """What the writer knows about a session row; folded from its events by ``track``."""

    session_id: uuid.UUID
    started_at: datetime
    strategy: str | None = None
    config_path: str | None = None
    ended_at: datetime | None = None
    health: str = "starting"
    last_seq: int | None = None
    last_event_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    stopped_seen: bool = False

    def track(self, rows: Sequence[Row]) -> bool:
        """Fold the session-level facts of ``rows`` (this session's only) into this object: last seq/time,
        ``session.started`` (strategy, config, metadata, start time), ``session.health``, ``session.stopped``
        (final health, end). Returns whether a fact other than last seq/time changed."""
        changed = False
        sid = self.session_id
        for row in rows:
            if row[0] != sid:
                continue
            seq = row[1]
            if self.last_seq is None or seq > self.last_seq:
                self.last_seq, self.last_event_at = seq, row[2]
            event = row[6]
            if not event.startswith("session."):
                continue
            changed = True
            ts = row[2]
            if event == "session.started":
                obj = _payload(row)
                self.strategy = obj.get("strategy") or self.strategy
                self.config_path = obj.get("config_path") or self.config_path
                self.started_at = min(self.started_at, ts)
                keep = (
                    "strategy_version",
                    "dry_run",
                    "venues",
                    "symbols",
                    "max_positions",
                    "max_total_exposure_usd",
                    "target_margin",
                    "market_start",
                    "market_end",
                    "speed",
                    "host",
                )
                self.metadata.update({k: obj[k] for k in keep if k in obj})
            elif event == "session.health":
                health = _payload(row).get("health")
                if isinstance(health, str) and not self.stopped_seen:
                    self.health = health
            elif event == "session.stopped":
                obj = _payload(row)
                self.health = obj.get("health") if obj.get("health") in ("stopped", "error") else "stopped"
                self.ended_at = ts
                self.stopped_seen = True
                if obj.get("reason"):
                    self.metadata["stop_reason"] = obj["reason"]
        return changed


def _payload(row: Row) -> dict[str, Any]:
    try:
        obj = orjson.loads(row[8])
    except orjson.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


_UPSERT_SESSION = """
INSERT INTO dashboard_sessions
    (session_id, strategy, config_path, started_at, ended_at, health, last_seq, last_event_at, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
ON CONFLICT (session_id) DO UPDATE SET
    strategy = coalesce(EXCLUDED.strategy, dashboard_sessions.strategy),
    config_path = coalesce(EXCLUDED.config_path, dashboard_sessions.config_path),
    started_at = least(EXCLUDED.started_at, dashboard_sessions.started_at),
    ended_at = coalesce(EXCLUDED.ended_at, dashboard_sessions.ended_at),
    health = EXCLUDED.health,
    last_seq = greatest(EXCLUDED.last_seq, dashboard_sessions.last_seq),
    last_event_at = greatest(EXCLUDED.last_event_at, dashboard_sessions.last_event_at),
    metadata = dashboard_sessions.metadata || EXCLUDED.metadata
"""


async def upsert_session(
    conn: asyncpg.Connection, info: SessionInfo, *, timeout: float | None = None
) -> None:
    """Insert or update the session row from ``info`` (start time only moves earlier, last seq only forward)."""
    await conn.execute(
        _UPSERT_SESSION,
        info.session_id,
        info.strategy,
        info.config_path,
        info.started_at,
        info.ended_at,
        info.health,
        info.last_seq,
        info.last_event_at,
        orjson.dumps(info.metadata, default=_json_default).decode(),
        timeout=timeout,
    )


async def refresh_summary(
    conn: asyncpg.Connection, session_id: uuid.UUID, *, timeout: float | None = None
) -> None:
    """Recompute the session row's ``positions_opened`` / ``positions_closed`` from its events (one scan).

    The session's net PnL is not stored: it is the dashboard reducer's figure, which only a reader that folds
    the session can give (``tools.pg_admin.session_net_pnl``: the latest snapshot plus the events after it);
    migration 002 dropped the column that used to hold it."""
    await conn.execute(
        """
        UPDATE dashboard_sessions s
           SET positions_opened = a.opened, positions_closed = a.closed
          FROM (SELECT count(*) FILTER (WHERE event = 'position.opened') AS opened,
                       count(*) FILTER (WHERE event = 'position.closed') AS closed
                  FROM dashboard_events
                 WHERE session_id = $1 AND event IN ('position.opened', 'position.closed')) a
         WHERE s.session_id = $1
        """,
        session_id,
        timeout=timeout,
    )


async def insert_snapshot(
    conn: asyncpg.Connection,
    session_id: uuid.UUID,
    seq: int,
    state: dict[str, Any],
    generated_at: datetime,
    *,
    timeout: float | None = None,
) -> None:
    """Store a reducer state taken after event ``seq`` (idempotent on ``(session_id, seq)``), as a
    ``dashboard.checkpoint`` event carried it (``rows.checkpoint_snapshot``). The state's JSON text is kept
    verbatim inside the jsonb (``wrap_json_text``): jsonb would reorder the keys of its dicts, and the dashboard
    shows dict entries (venues, positions) in insertion order."""
    await conn.execute(
        "INSERT INTO dashboard_snapshots (session_id, seq, generated_at, payload) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT (session_id, seq) DO NOTHING",
        session_id,
        seq,
        generated_at,
        wrap_json_text(orjson.dumps(state, default=_json_default).decode()),
        timeout=timeout,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


__all__ = [
    "CHANNEL",
    "SessionInfo",
    "copy_events",
    "insert_events_idempotent",
    "insert_events_single",
    "insert_snapshot",
    "notify",
    "refresh_summary",
    "upsert_session",
]
