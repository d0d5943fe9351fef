"""Shared pytest fixtures. PostgreSQL fixtures live in ``tests/pg_fixtures.py``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from pg_fixtures import pg_base_dsn, pg_dsn  # noqa: E402,F401  (PostgreSQL fixtures, tests/pg_fixtures.py)
