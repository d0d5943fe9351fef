"""Building the PostgreSQL sink for a run from the ``dashboard.persistence`` config block.

The CLI calls ``build_postgres_sink`` once per run and adds the result (if any) to ``Pipeline(sinks=...)``,
passing ``secrets=passwords_in(dsn)`` too so the redactor masks the password in every event.

The sink is wired to nothing but its configuration: it needs no reducer and no callback into the dashboard.
Snapshots reach it as ``dashboard.checkpoint`` events, which the dashboard writes into the stream like any
other event; a session's net PnL is computed by whoever reads the session. Data only flows down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from arbdash.logging_pipeline.postgres.dsn import resolve_dsn
from arbdash.logging_pipeline.postgres.sink import PostgresSink
from arbdash.logging_pipeline.sinks.base import SinkHealth


def emit_session_health(health: SinkHealth, reason: str | None) -> None:
    """Default ``on_health_change``: a ``session.health`` event — ``degraded`` while PostgreSQL is away,
    ``running`` once the backlog is written, ``error`` if the sink gave up (schema too new)."""
    session_health = {"ok": "running", "degraded": "degraded", "failed": "error"}[health]
    text = f"PostgreSQL sink {health}" + (f": {reason}" if reason else " (backlog written)")
    log = structlog.get_logger("logging_pipeline.postgres")
    method = log.info if health == "ok" else log.warning
    method(
        "session.health",
        message=text,
        health=session_health,
        reason=reason or "postgres caught up",
        component="postgres",
    )


def build_postgres_sink(
    persistence: Any,
    *,
    session_id: str,
    spool_dir: Path,
    dsn: str | None = None,
) -> PostgresSink | None:
    """The sink for this run, or ``None`` when persistence is off and no ``dsn`` was given.

    ``persistence``: the config block (``enabled``, ``dsn``, ``batch_size``, ``flush_interval_s``,
    ``snapshot_interval_s``: the least time between two checkpoints stored as snapshots). ``dsn`` (e.g.
    ``--db``) overrides it and enables persistence; otherwise ``$ARBDASH_DATABASE_URL`` is used when the block
    has none. ``spool_dir``: where the outage spool goes (next to the JSONL). Raises ``ValueError`` when
    persistence is enabled but no DSN can be found.
    """
    enabled = bool(dsn) or bool(getattr(persistence, "enabled", False))
    if not enabled:
        return None
    resolved = resolve_dsn(dsn or getattr(persistence, "dsn", None))
    if not resolved:
        raise ValueError(
            "dashboard.persistence.enabled is true but no DSN: set dashboard.persistence.dsn, "
            "ARBDASH_DATABASE_URL or --db"
        )
    return PostgresSink(
        resolved,
        session_id=session_id,
        batch_size=int(getattr(persistence, "batch_size", 1000)),
        flush_interval_s=float(getattr(persistence, "flush_interval_s", 0.5)),
        snapshot_interval_s=float(getattr(persistence, "snapshot_interval_s", 30.0)),
        on_health_change=emit_session_health,
        spool_dir=spool_dir,
    )
