"""Schema migrations: the numbered ``sql/NNN_name.sql`` files, applied in order, once, under an advisory lock.

``upgrade`` is safe to run twice and from several processes at once: it takes ``pg_advisory_xact_lock`` first,
then reads ``dashboard_schema_version`` and applies only the missing versions, all in one transaction (a
failing migration leaves nothing behind). A database whose recorded version is newer than the newest file this
code ships is refused with ``SchemaTooNewError`` (an older program must not write into a newer schema).

The files are found with ``importlib.resources`` (``sql`` is a data-only package, see pyproject package-data);
when that package is not importable (an editable install made before it existed) they are read from the
repository checkout next to this package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

#: Key of the transaction-level advisory lock serialising migrations (any constant bigint; "arbdash" in hex).
LOCK_KEY = 0x617262_64617368
VERSION_TABLE = "dashboard_schema_version"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class SchemaTooNewError(RuntimeError):
    """The database's schema version is newer than any migration this program knows."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: ``version`` from its 3-digit prefix, ``name`` the file name, ``sql`` its text."""

    version: int
    name: str
    sql: str


def _sql_dir_texts() -> dict[str, str]:
    try:
        root = resources.files("arbdash.sql")
        texts = {p.name: p.read_text("utf-8") for p in root.iterdir() if _NAME.match(p.name)}
        if texts:
            return texts
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    repo_sql = Path(__file__).resolve().parents[2] / "sql"
    if repo_sql.is_dir():
        return {p.name: p.read_text("utf-8") for p in repo_sql.iterdir() if _NAME.match(p.name)}
    return {}


def load_migrations() -> list[Migration]:
    """All shipped migrations in version order. Raises ``RuntimeError`` if none are found or two files share a
    version (a packaging error)."""
    texts = _sql_dir_texts()
    if not texts:
        raise RuntimeError("no sql/NNN_*.sql migrations found (is the 'sql' package data installed?)")
    migs = sorted((Migration(int(n[:3]), n, t) for n, t in texts.items()), key=lambda m: m.version)
    versions = [m.version for m in migs]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {[m.name for m in migs]}")
    return migs


def latest_version() -> int:
    """The newest schema version this program ships."""
    return load_migrations()[-1].version


async def current_version(conn: asyncpg.Connection) -> int:
    """The database's schema version (0 when never migrated). One query; does not lock."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", VERSION_TABLE)
    if not exists:
        return 0
    return int(await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}"))


async def upgrade(conn: asyncpg.Connection) -> list[int]:
    """Bring the schema (in the connection's ``search_path``) to ``latest_version()``.

    Returns the versions applied by this call (``[]`` when already current). Raises ``SchemaTooNewError`` when
    the database is ahead of this program, and lets ``asyncpg`` errors of a failing migration propagate (the
    whole upgrade is rolled back).
    """
    migs = load_migrations()
    known = migs[-1].version
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in await conn.fetch(f"SELECT version FROM {VERSION_TABLE}")}
        newest = max(done, default=0)
        if newest > known:
            raise SchemaTooNewError(
                f"database schema is at version {newest} but this arbdash knows only up to {known}; "
                "upgrade arbdash (or point it at another database/schema) - refusing to write"
            )
        for mig in migs:
            if mig.version in done:
                continue
            await conn.execute(mig.sql)
            await conn.execute(
                f"INSERT INTO {VERSION_TABLE} (version, name) VALUES ($1, $2)", mig.version, mig.name
            )
            applied.append(mig.version)
    return applied
