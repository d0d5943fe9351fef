"""PostgreSQL administration for arbtail/runbot: upgrade, list sessions, prune, export to JSONL, import JSONL.

The async functions are the API (tests call them); ``tools.pg_cli.register_commands(app)`` adds typer commands
wrapping them (``db-upgrade``, ``sessions``, ``prune``, ``export``, ``import``) to a CLI, importing this module
only when one of them runs. Every message is redacted: the DSN's password never reaches the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import io
import json
import os
import re
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import asyncpg

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.sources.postgres import PostgresSourceError, resolve_session
from arbdash.logging_pipeline.postgres import store
from arbdash.logging_pipeline.postgres.dsn import redact, redact_dsn
from arbdash.logging_pipeline.postgres.migrations import upgrade
from arbdash.logging_pipeline.postgres.rows import (
    BadEvent,
    Row,
    payload_to_line,
    row_from_line,
    unwrap_jsonb,
    utc_now,
)


class PgAdminError(RuntimeError):
    """An operator-facing failure (unreachable server, unknown session, bad argument); message is redacted."""


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=10)
    except Exception as exc:
        raise PgAdminError(
            redact(f"cannot connect to {redact_dsn(dsn)}: {type(exc).__name__}: {exc}", dsn)
        ) from None


async def db_upgrade(dsn: str) -> list[int]:
    """Apply missing migrations; returns the versions applied. Raises ``PgAdminError``/``SchemaTooNewError``."""
    conn = await _connect(dsn)
    try:
        return await upgrade(conn)
    finally:
        await conn.close()


# --- sessions ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One line of ``sessions``: positions opened/closed counts, ``net_pnl`` in USD (the reducer's portfolio net
    PnL, computed when listed — see ``session_net_pnl``), ``events`` = last seq (events are numbered from 1)."""

    session_id: uuid.UUID
    strategy: str | None
    started_at: datetime
    ended_at: datetime | None
    health: str
    positions_opened: int
    positions_closed: int
    net_pnl: Decimal
    last_seq: int | None
    last_event_at: datetime | None
    stop_reason: str | None = None  # session.stopped ``reason``: completed, interrupted, SIGTERM, aborted …
    host: str | None = None  # the session metadata's ``host`` (the machine the bot ran on), when recorded
    # its strategy instances: the envelope's ``strategy`` of its ``strategy.started`` events, in order (an older
    # or one-strategy-less session: none)
    strategies: tuple[str, ...] = ()


#: A session's strategy instances, as its ``strategy.started`` events name them (PostgreSQL keeps the whole line in
#: ``payload``), first announcement first. The bot announces them right after ``session.started`` and its venues,
#: so only the session's first ``_ANNOUNCED_WITHIN`` events are read (a primary-key range, not the whole session).
_ANNOUNCED_WITHIN = 256
_STRATEGIES = f"""
SELECT payload->>'strategy' FROM dashboard_events
 WHERE session_id = $1 AND seq <= {_ANNOUNCED_WITHIN} AND event = 'strategy.started' AND payload ? 'strategy'
 ORDER BY seq
"""

_LIVE_SUMMARY = """
SELECT count(*) FILTER (WHERE event = 'position.opened'),
       count(*) FILTER (WHERE event = 'position.closed')
  FROM dashboard_events WHERE session_id = $1 AND event IN ('position.opened', 'position.closed')
"""
_BOOKED = """
SELECT count(*), coalesce(sum((payload->>'net_pnl')::numeric), 0)
  FROM dashboard_events WHERE session_id = $1 AND event = 'position.closed'
"""


_FETCH_ROWS = 5000


async def session_net_pnl(
    conn: asyncpg.Connection, session_id: uuid.UUID, closed: int | None = None
) -> Decimal:
    """The session's net PnL (USD) exactly as the dashboard and ``arbtail stats`` show it: the reducer's portfolio
    ``net_pnl`` = realized + unrealized + funding − fees over every fill and funding payment of the session,
    rolled-back entry attempts included. Folded when read, from the latest stored snapshot
    (``dashboard_snapshots``: the state a ``dashboard.checkpoint`` event carried) plus the events after it, or
    from all the events when there is no snapshot. Nothing stores the figure: it is the fold's.

    When the reducer could not match every ``position.closed`` event to its position (a log without the
    opening events, e.g. imported in part), the sum of those events' ``net_pnl`` is all there is and is
    returned instead. ``closed``: their count when the caller has it (the session row's ``positions_closed``);
    the sum is then only looked up when it is needed."""
    reducer = Reducer()
    after = -1
    snap = await conn.fetchrow(
        "SELECT seq, payload::text AS payload FROM dashboard_snapshots WHERE session_id = $1 ORDER BY seq DESC "
        "LIMIT 1",
        session_id,
    )
    if snap is not None and reducer.load_checkpoint(unwrap_jsonb(snap["payload"])):
        after = snap["seq"]
    while True:
        rows = await conn.fetch(
            "SELECT seq, payload::text AS payload FROM dashboard_events WHERE session_id = $1 AND seq > $2 "
            "ORDER BY seq LIMIT $3",
            session_id,
            after,
            _FETCH_ROWS,
        )
        reducer.feed_lines([payload_to_line(r["payload"]) for r in rows])
        if len(rows) < _FETCH_ROWS:
            break
        after = rows[-1]["seq"]
    portfolio = reducer.snapshot(closed_rows=0).portfolio
    if closed is not None and portfolio.positions_closed >= closed:
        return portfolio.net_pnl
    closed, booked = await conn.fetchrow(_BOOKED, session_id)
    return booked if portfolio.positions_closed < closed else portfolio.net_pnl


async def list_sessions(dsn: str, *, limit: int = 50) -> list[SessionSummary]:
    """The ``limit`` most recently started sessions, newest first. Sessions still running (no stored summary)
    get their positions counted from their events now; every session's net PnL is computed now, the reducer's
    (``session_net_pnl``), the same figure the dashboard shows."""
    conn = await _connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT *, metadata->>'stop_reason' AS stop_reason, metadata->>'host' AS host FROM dashboard_sessions"
            " ORDER BY started_at DESC LIMIT $1",
            limit,
        )
        out = []
        for r in rows:
            opened, closed = r["positions_opened"], r["positions_closed"]
            if opened is None:
                opened, closed = await conn.fetchrow(_LIVE_SUMMARY, r["session_id"])
            pnl = await session_net_pnl(conn, r["session_id"], closed)
            names = [row[0] for row in await conn.fetch(_STRATEGIES, r["session_id"])]
            out.append(
                SessionSummary(
                    r["session_id"],
                    r["strategy"],
                    r["started_at"],
                    r["ended_at"],
                    r["health"],
                    opened,
                    closed,
                    pnl,
                    r["last_seq"],
                    r["last_event_at"],
                    r["stop_reason"],
                    r["host"],
                    tuple(dict.fromkeys(names)),
                )
            )
        return out
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


def _fmt_ts(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


def format_sessions(sessions: list[SessionSummary]) -> str:
    """A plain-text table (``rich.table.Table``, no colour codes, one row per session, UTC times, never wrapped:
    it pipes into ``grep``/``awk``). ``health`` carries how a stopped session ended (``stopped (interrupted)``);
    a ``strategies`` column (the instance names, comma-separated) is added when any session ran two or more
    (a listing of one-strategy sessions is unchanged)."""
    if not sessions:
        return "(no sessions)\n"
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from arbdash.dashboard.text import safe_text

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="")
    for name, justify in (
        ("session", "left"),
        ("strategy", "left"),
        ("started", "left"),
        ("ended", "left"),
        ("health", "left"),
        ("pos", "right"),
        ("net PnL USD", "right"),
        ("events", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    with_strategies = any(len(s.strategies) >= 2 for s in sessions)  # as the dashboard: 2+ instances
    if with_strategies:
        table.add_column("strategies", justify="left", no_wrap=True)
    for s in sessions:
        health = f"{s.health} ({s.stop_reason})" if s.stop_reason and s.health == "stopped" else s.health
        table.add_row(
            str(s.session_id),
            (s.strategy or "-")[:18],
            _fmt_ts(s.started_at),
            _fmt_ts(s.ended_at),
            health,
            f"{s.positions_opened - s.positions_closed}/{s.positions_opened}",
            str(s.net_pnl.quantize(Decimal("0.01"))),
            str(s.last_seq or 0),
            *([Text(",".join(safe_text(n, 40) for n in s.strategies) or "-")] if with_strategies else []),
        )
    out = io.StringIO()
    Console(file=out, width=400, no_color=True, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


# --- prune ------------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``"30d"`` → 30 days (units s, m, h, d, w). Raises ``ValueError`` with the accepted forms."""
    m = _DURATION.match(text.lower())
    if not m:
        raise ValueError(f"bad duration {text!r}: use a number and a unit s/m/h/d/w, e.g. 30d or 12h")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What ``prune`` removed (or, with ``dry_run``, would remove)."""

    sessions: list[uuid.UUID]
    events: int
    snapshots: int


async def prune(
    dsn: str,
    *,
    older_than: timedelta | None = None,
    keep_last: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    exclude: Collection[uuid.UUID] = (),
) -> PruneResult:
    """Delete sessions (row, events, snapshots) whose last activity (``ended_at``, else last event, else start)
    is older than ``older_than`` and that are not among the ``keep_last`` most recently started. With only
    ``keep_last``, every older session goes; with neither, raises ``PgAdminError``. Sessions in ``exclude``
    (the caller's own, running session) are never deleted nor counted in ``keep_last``. One transaction."""
    if older_than is None and keep_last is None:
        raise PgAdminError("prune needs --older-than and/or --keep-last")
    if keep_last is not None and keep_last < 0:
        raise PgAdminError("--keep-last must be >= 0")
    cutoff = (now or utc_now()) - older_than if older_than is not None else None
    conn = await _connect(dsn)
    try:
        async with conn.transaction():
            ids = [
                r[0]
                for r in await conn.fetch(
                    """
                    SELECT session_id FROM (
                        SELECT session_id, coalesce(ended_at, last_event_at, started_at) AS active_at,
                               row_number() OVER (ORDER BY started_at DESC) AS rank
                          FROM dashboard_sessions
                         WHERE session_id <> ALL($3::uuid[])) s
                     WHERE ($1::timestamptz IS NULL OR active_at < $1)
                       AND ($2::int IS NULL OR rank > $2)
                    """,
                    cutoff,
                    keep_last,
                    list(exclude),
                )
            ]
            if dry_run or not ids:
                n_ev = await conn.fetchval(
                    "SELECT count(*) FROM dashboard_events WHERE session_id = ANY($1)", ids
                )
                n_sn = await conn.fetchval(
                    "SELECT count(*) FROM dashboard_snapshots WHERE session_id = ANY($1)", ids
                )
                return PruneResult(ids, n_ev, n_sn)
            n_ev = _count(await conn.execute("DELETE FROM dashboard_events WHERE session_id = ANY($1)", ids))
            n_sn = _count(
                await conn.execute("DELETE FROM dashboard_snapshots WHERE session_id = ANY($1)", ids)
            )
            await conn.execute("DELETE FROM dashboard_sessions WHERE session_id = ANY($1)", ids)
            return PruneResult(ids, n_ev, n_sn)
    finally:
        await conn.close()


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


# --- export / import --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _writer(out: IO[bytes] | Path) -> Iterator[Callable[[bytes], object]]:
    """A ``write`` function for ``out``: a stream's own; for a path, a temporary file beside it that replaces
    ``out`` only once everything was written (a failure midway — a full disk, a lost connection — leaves an
    existing ``out`` as it was and no partial file). Any ``OSError`` opening, writing, closing or renaming is
    raised as ``PgAdminError`` naming the file."""
    if not isinstance(out, Path):
        yield out.write
        return

    def failed(exc: OSError) -> PgAdminError:
        return PgAdminError(f"cannot write {out}: {exc.strerror or exc}")

    try:
        if out.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(out))
        fh = tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", delete=False)  # noqa: SIM115
    except OSError as exc:
        raise failed(exc) from None
    tmp = Path(fh.name)

    def write(data: bytes) -> object:
        try:
            return fh.write(data)
        except OSError as exc:
            raise failed(exc) from None

    try:
        try:
            yield write
        except BaseException:
            with contextlib.suppress(OSError):
                fh.close()
            raise
        try:
            fh.close()
            os.replace(tmp, out)
        except OSError as exc:
            raise failed(exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


async def export_session(dsn: str, session: str, out: IO[bytes] | Path) -> int:
    """Write the session's events to ``out`` as JSONL in seq order — the original lines' content (keys in
    envelope then field order). ``session``: UUID, unique prefix or ``latest``. ``out``: a binary stream, or a
    file path, opened only once the session is found (an unreachable server or an unknown session — a full
    UUID too — leaves an existing file as it was). Returns the line count. Raises ``PgAdminError`` for an unknown
    session or a file that cannot be written."""
    conn = await _connect(dsn)
    try:
        try:
            sid = await resolve_session(conn, session)
            known = await conn.fetchval(  # a full UUID resolves without a look-up
                "SELECT EXISTS (SELECT 1 FROM dashboard_sessions WHERE session_id = $1)"
                " OR EXISTS (SELECT 1 FROM dashboard_events WHERE session_id = $1)",
                sid,
            )
        except PostgresSourceError as exc:
            raise PgAdminError(str(exc)) from None
        except asyncpg.UndefinedTableError:
            raise PgAdminError("no arbdash tables in this database (nothing recorded yet?)") from None
        if not known:
            raise PgAdminError(f"no session matches {session.strip().lower()!r}")
        n = 0
        async with conn.transaction(readonly=True):
            cur = conn.cursor(
                "SELECT payload::text FROM dashboard_events WHERE session_id = $1 ORDER BY seq",
                sid,
                prefetch=5000,
            )
            with _writer(out) as write:
                async for (payload,) in cur:
                    write(payload_to_line(payload) + b"\n")
                    n += 1
        return n
    finally:
        await conn.close()


@dataclass(slots=True)
class ImportResult:
    """``lines`` read, ``inserted`` new events, ``duplicates`` already present, ``skipped`` by reason."""

    sessions: list[uuid.UUID] = field(default_factory=list)
    lines: int = 0
    inserted: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def _skip_reason(exc: BadEvent) -> str:
    text = str(exc)
    return "not_json" if text.startswith("not JSON") else "not_object" if "object" in text else "bad_envelope"


async def import_jsonl(dsn: str, path: Path, *, batch_size: int = 5000) -> ImportResult:
    """Load a session JSONL (or a sink spool file) into the database, idempotently on ``(session_id, seq)``:
    importing twice, or a file whose events partly reached the DB live, inserts each event once. Creates or
    completes the session rows (start, end, health, strategy, summary). Bad lines (invalid UTF-8, not JSON,
    no envelope, torn last line) are counted in ``skipped`` and listed (first 20) in ``problems``.

    The summary holds the positions counts; the session's net PnL is not stored but computed when the session
    is listed (``session_net_pnl``), over all its stored events — so a file holding only part of them (a
    spool: the events from an outage on) cannot make it wrong.

    Parses on the running loop (CPU-bound: tens of ms per batch); beside a loop that must stay responsive use
    ``import_jsonl_isolated``.
    Raises ``PgAdminError`` for an unreadable file or unreachable server; migrates the schema if needed."""
    path = Path(path)
    if not path.is_file():
        raise PgAdminError(f"{path}: no such file")
    result = ImportResult()
    sessions: dict[uuid.UUID, store.SessionInfo] = {}
    conn = await _connect(dsn)
    try:
        await upgrade(conn)
        batch: list[Row] = []

        async def flush() -> None:
            if not batch:
                return
            for row in batch:
                info = sessions.get(row[0])
                if info is None:
                    info = sessions[row[0]] = store.SessionInfo(session_id=row[0], started_at=row[2])
                    result.sessions.append(row[0])
                info.started_at = min(info.started_at, row[2])
            for info in sessions.values():
                info.track(batch)
            async with conn.transaction():
                new = await store.insert_events_idempotent(conn, batch)
                for info in sessions.values():
                    await store.upsert_session(conn, info)
            result.inserted += new
            result.duplicates += len(batch) - new
            batch.clear()

        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                result.lines += 1
                line = raw.rstrip(b"\r\n")
                try:
                    line.decode("utf-8")
                    batch.append(row_from_line(line))
                except UnicodeDecodeError:
                    _problem(result, "invalid_utf8", f"line {lineno}: invalid UTF-8")
                except BadEvent as exc:
                    reason = "torn_line" if not raw.endswith(b"\n") else _skip_reason(exc)
                    _problem(result, reason, f"line {lineno}: {exc}")
                if len(batch) >= batch_size:
                    await flush()
        await flush()
        for info in sessions.values():
            if info.health in ("starting", "running") and not info.stopped_seen:
                info.health = "error"
                info.metadata["stop_reason"] = "imported: the log has no session.stopped event"
            info.metadata.setdefault("imported_from", path.name)
            async with conn.transaction():
                await store.upsert_session(conn, info)
                await store.refresh_summary(conn, info.session_id)
        return result
    finally:
        await conn.close()


_WORKER = "from arbdash.tools.pg_admin import _import_worker; _import_worker()"


async def import_jsonl_isolated(dsn: str, path: Path, *, batch_size: int = 5000) -> ImportResult:
    """``import_jsonl`` in a child Python process, so its parsing and the driver's encoding never
    compete with the caller for the GIL (``runbot`` loads spools this way while the bot runs: a thread would
    still stall the bot's loop for milliseconds at a time). The DSN goes to the child through a pipe, never its
    command line. Cancelled: the child is killed (the batch it was writing rolls back) and reaped, then
    ``CancelledError`` is re-raised. Raises ``PgAdminError`` (redacted) for whatever ``import_jsonl`` raises,
    or when the child cannot be started or dies."""
    request = json.dumps({"dsn": dsn, "path": str(path), "batch_size": batch_size}).encode()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise PgAdminError(f"cannot start the import process: {exc}") from exc
    try:
        out, err = await proc.communicate(request)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(proc.wait())
        raise
    try:
        answer = json.loads(out)
    except ValueError:
        tail = " / ".join(err.decode("utf-8", "replace").strip().splitlines()[-3:]) or "no output"
        raise PgAdminError(
            redact(f"the import process failed (exit {proc.returncode}): {tail}", dsn)
        ) from None
    if "error" in answer:
        raise PgAdminError(redact(answer["error"], dsn))
    return ImportResult(
        **{
            **answer,
            "sessions": [uuid.UUID(s) for s in answer["sessions"]],
            "skipped": Counter(answer["skipped"]),
        }
    )


def _import_worker() -> None:
    """The child of ``import_jsonl_isolated``: a JSON request on stdin, the ``ImportResult`` (or
    ``{"error": …}``) as JSON on stdout."""
    request = json.loads(sys.stdin.buffer.read())
    try:
        result = asyncio.run(
            import_jsonl(request["dsn"], Path(request["path"]), batch_size=request["batch_size"])
        )
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        error = str(exc) if isinstance(exc, PgAdminError) else f"{type(exc).__name__}: {exc}"
        answer: dict[str, Any] = {"error": error}
    else:
        answer = {**dataclasses.asdict(result), "sessions": [str(s) for s in result.sessions]}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()


def _problem(result: ImportResult, reason: str, detail: str) -> None:
    result.skipped[reason] += 1
    if len(result.problems) < 20:
        result.problems.append(detail)
