"""PostgreSQL persistence: migrations (``migrations``), the outage-proof sink (``sink``), its spool file
(``spool``), row mapping (``rows``), the SQL it runs (``store``) and DSN redaction (``dsn``).

Opt-in: nothing here is imported by the pipeline unless a DSN is configured; the names below are imported
on first use (PEP 562), so reading a DSN (``dsn``) does not load asyncpg.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives (imported on first use).
_WHERE = {
    "DSN_ENV": "dsn",
    "redact": "dsn",
    "redact_dsn": "dsn",
    "resolve_dsn": "dsn",
    "SchemaTooNewError": "migrations",
    "current_version": "migrations",
    "latest_version": "migrations",
    "upgrade": "migrations",
    "PostgresSink": "sink",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'arbdash.logging_pipeline.postgres' has no attribute {name!r}")
    return getattr(importlib.import_module(f"arbdash.logging_pipeline.postgres.{_WHERE[name]}"), name)
