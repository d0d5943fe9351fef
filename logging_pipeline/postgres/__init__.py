"""PostgreSQL persistence: migrations (``migrations``), the outage-proof sink (``sink``), its spool file
(``spool``), row mapping (``rows``), the SQL it runs (``store``) and DSN redaction (``dsn``).

Opt-in: nothing here is imported by the pipeline unless a DSN is configured.
"""

from logging_pipeline.postgres.dsn import DSN_ENV, redact, redact_dsn, resolve_dsn
from logging_pipeline.postgres.migrations import SchemaTooNewError, current_version, latest_version, upgrade
from logging_pipeline.postgres.sink import PostgresSink

__all__ = [
    "DSN_ENV",
    "PostgresSink",
    "SchemaTooNewError",
    "current_version",
    "latest_version",
    "redact",
    "redact_dsn",
    "resolve_dsn",
    "upgrade",
]
