"""PostgreSQL fixtures: ``pg_dsn`` — a DSN whose ``search_path`` is a fresh schema, dropped after the test.

The server comes from ``$ARBDASH_TEST_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``). When it
cannot be reached the PG tests are skipped with the reason — except under CI (``$CI`` set) or with
``ARBDASH_REQUIRE_PG=1``, where an unreachable server is a failure, so the tests never silently vanish.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.state import state_to_dict
from arbdash.logging_pipeline.postgres import PostgresSink
from arbdash.logging_pipeline.postgres.dsn import redact_dsn

DEFAULT_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/test"
_reachable: dict[str, str | None] = {}


def base_dsn() -> str:
    return os.environ.get("ARBDASH_TEST_DSN", DEFAULT_TEST_DSN)


def with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path=<schema>`` (asyncpg passes unknown query parameters as server settings)."""
    return f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"


async def _probe(dsn: str) -> str | None:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable" for the skip message
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def _require_pg() -> None:
    dsn = base_dsn()
    if dsn not in _reachable:
        _reachable[dsn] = asyncio.run(_probe(dsn))
    problem = _reachable[dsn]
    if problem is None:
        return
    msg = f"PostgreSQL at {redact_dsn(dsn)} unreachable ({problem}); set ARBDASH_TEST_DSN"
    if os.environ.get("CI") or os.environ.get("ARBDASH_REQUIRE_PG") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


async def _exec(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_base_dsn() -> str:
    """The server DSN itself (public schema); skips/fails like ``pg_dsn`` when unreachable."""
    _require_pg()
    return base_dsn()


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A DSN pinned to a new empty schema ``t_<hex>`` (created now, dropped with everything in it after)."""
    _require_pg()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = base_dsn()
    asyncio.run(_exec(base, f"CREATE SCHEMA {schema}"))
    try:
        yield with_search_path(base, schema)
    finally:
        asyncio.run(_exec(base, f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


# --- event factory shared by the PG tests ----------------------------------------------------------------------


def make_events(
    session_id: str, n: int, *, start_seq: int = 1, stop: bool = True
) -> list[tuple[bytes, dict]]:
    """``n`` (line, record) pairs as the pipeline's tee hands them to sinks: a ``session.started``, a mix of
    funding rates (exact decimals), log lines (one with a NUL and non-ASCII text), a position opened and
    closed, and — when ``stop`` — a final ``session.stopped``. ``seq`` runs from ``start_seq``."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from arbdash.logging_pipeline.encoding import dumps

    t0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    out: list[tuple[bytes, dict]] = []
    for i in range(n):
        seq = start_seq + i
        rec: dict = {
            "v": 1,
            "ts": t0 + timedelta(milliseconds=seq),
            "session_id": session_id,
            "seq": seq,
            "level": "info",
            "logger": "tests.pg",
        }
        if seq == start_seq and start_seq == 1:
            rec |= {
                "event": "session.started",
                "category": "stage",
                "message": "started",
                "strategy": "funding_arbitrage",
                "strategy_version": "1",
                "config_path": "configs/x.yml",
                "venues": ["binance", "bybit"],
                "symbols": ["BTC"],
                "max_positions": 2,
                "max_total_exposure_usd": Decimal("1000.00"),
                "target_margin": Decimal("100"),
            }
        elif stop and i == n - 1:
            rec |= {
                "event": "session.stopped",
                "category": "stage",
                "message": "stopped",
                "reason": "done",
                "health": "stopped",
            }
        elif seq % 97 == 0:
            rec |= {
                "event": "position.closed",
                "category": "execution",
                "message": "closed",
                "position_id": f"p{seq}",
                "reason": "PROFIT_EROSION",
                "realized_pnl": Decimal("1.50"),
                "fees": Decimal("0.25"),
                "funding": Decimal("0.10"),
                "net_pnl": Decimal("1.35"),
                "hold_s": 60,
            }
        elif seq % 89 == 0:
            rec |= {"event": "log.message", "category": "info", "message": f"odd text \x00 é ✓ {seq}"}
        else:
            rec |= {
                "event": "funding.rate",
                "category": "funding",
                "message": f"rate {seq}",
                "venue": "binance",
                "symbol": "BTC",
                "rate": Decimal("0.00012345678901234567890"),
                "interval_s": 28800,
                "apr": Decimal("0.1352"),
                "next_funding_ts": t0,
            }
        out.append((dumps(rec), rec))
    return out


class TcpProxy:
    """A tiny asyncio TCP forwarder on 127.0.0.1 for fault tests: ``drop()`` cuts every open connection and
    refuses new ones (accept + immediate reset) until ``restore()``. An async context manager."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.accepting = True
        self.port = 0
        self.connections = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.drop()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def dsn(self, base: str) -> str:
        """``base`` with host:port replaced by the proxy's."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(base)
        user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))

    def drop(self) -> None:
        self.accepting = False
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.accepting = True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, up_w))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self._writers.discard(writer)
        self._writers.discard(up_w)


def with_checkpoints(events: list[tuple[bytes, dict]], *, every: int = 100) -> list[tuple[bytes, dict]]:
    """``events`` with a ``dashboard.checkpoint`` after every ``every`` of them, as the live dashboard writes one
    (``dashboard.checkpoints``): its state is a reducer's after every line before it (``last_seq`` = its own
    ``seq`` − 1), its ``seq`` the next one, its ``ts`` 1 µs after the event before it; the events after it are
    renumbered (``seq`` stays consecutive). None after the last event. Deterministic: the same ``events`` give the
    same stream."""
    from datetime import timedelta

    from arbdash.logging_pipeline.encoding import dumps

    live = Reducer()
    out: list[tuple[bytes, dict]] = []
    seq = events[0][1]["seq"] if events else 1
    for i, (_line, rec) in enumerate(events):
        rec = {**rec, "seq": seq}
        line = dumps(rec)
        live.feed_line(line)
        out.append((line, rec))
        seq += 1
        if (i + 1) % every == 0 and i + 1 < len(events):
            cp = {
                "v": 1,
                "ts": rec["ts"] + timedelta(microseconds=1),
                "session_id": rec["session_id"],
                "seq": seq,
                "level": "info",
                "logger": "dashboard.checkpoints",
                "event": "dashboard.checkpoint",
                "category": "checkpoint",
                "message": f"dashboard checkpoint after seq {seq - 1}",
                "state": state_to_dict(live.state),
            }
            line = dumps(cp)
            live.feed_line(line)
            out.append((line, cp))
            seq += 1
    return out


async def record_session(
    dsn: str, sid: str, events: list, tmp_path: Path, *, checkpoint_every: int = 100, **kw
) -> PostgresSink:
    """Run the sink on ``with_checkpoints(events, every=checkpoint_every)`` — the stream as a live run writes it,
    the dashboard's checkpoints in it — storing every checkpoint's snapshot (``snapshot_interval_s=0`` unless
    given). The sink has no reducer: the snapshots are the checkpoints' states."""
    kw.setdefault("snapshot_interval_s", 0.0)
    sink = PostgresSink(dsn, session_id=sid, flush_interval_s=0.02, batch_size=100, spool_dir=tmp_path, **kw)
    async with sink:
        for i, (line, rec) in enumerate(with_checkpoints(events, every=checkpoint_every)):
            sink.write(line, rec)
            if i % 100 == 99:
                await asyncio.sleep(0.03)
    return sink
