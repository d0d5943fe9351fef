"""``arbtail serve``: the control server's read side (``control.app``) over a past or running session, no bot.

    arbtail serve logs/<session>.jsonl                 # http://127.0.0.1:8765 — the file's session, followed
    arbtail serve --db DSN                             # the fleet: /api/sessions, ?session=ID per session
    arbtail serve --db DSN --session ID --port 0       # one stored session, a free port (the URL is printed)

The same Starlette app as ``runbot --serve`` (``control.app.create_app``), with a ``ControlState(mode="replay")``
whose ``replay`` is a ``control.replay.ReplayProvider``: the session is folded as ``arbtail FILE --once`` folds it
(``ReplaySource.load``), then followed (``ReplaySource.follow``); ``/api/snapshot?at=T`` is ``arbtail FILE --at T
--once``'s state (``tools.arbtail_view.load_for_show`` on a fresh source); ``POST /api/commands`` is refused
(nothing to command). Safe by default: loopback only unless a token is set (``--token-env``, default
``ARBDASH_TOKEN``, at least ``bot.config.MIN_TOKEN_CHARS`` characters; never printed). Starlette, uvicorn and
the engine are imported only when the command runs (``arbtail --help`` stays light).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arbdash.control.replay import ReplayProvider, ReplaySession
    from arbdash.control.server import ControlServer
    from arbdash.dashboard.reducer import Reducer
    from arbdash.dashboard.sources.protocol import ReplaySource
    from arbdash.dashboard.timeaxis import Clock

DEFAULT_PORT = 8765
DEFAULT_TOKEN_ENV = "ARBDASH_TOKEN"
#: The fleet listing covers at most this many sessions (newest first).
FLEET_LIMIT = 1000


class ServeError(Exception):
    """A refusal before anything is served (a bad address, a missing token, an unreadable source): one line for
    the operator, exit code 2. Never holds the token or a DSN's password."""


def check_bind(host: str, token_env: str, environ: dict[str, str] | None = None) -> str | None:
    """The bearer token to require (``None``: none, loopback only). A token is read from ``$token_env`` when set
    (also on loopback); a host that is not loopback (``control.address.is_loopback``) needs one. Raises
    ``ServeError`` for a missing token beyond loopback or one shorter than ``MIN_TOKEN_CHARS``."""
    from arbdash.bot.config import MIN_TOKEN_CHARS
    from arbdash.control.address import is_loopback

    env = os.environ if environ is None else environ
    token = env.get(token_env) or None
    if token is None and not is_loopback(host):
        raise ServeError(
            f"--host {host} is not a loopback address: serving beyond this machine needs a token in ${token_env}"
            " (clients send Authorization: Bearer <token>); or reach a loopback server over SSH"
            " (ssh -L 8765:127.0.0.1:8765 HOST)"
        )
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ServeError(f"the token in ${token_env} must be at least {MIN_TOKEN_CHARS} characters")
    return token


def fold_at(
    make_source: Callable[[], ReplaySource], at: datetime, clock: Clock, timeline: int
) -> tuple[Reducer, bool]:
    """``arbtail FILE --at T --once``'s fold (``load_for_show``: checkpoint seek, then events up to ``at`` on
    ``clock``) on a fresh source, in a loop of its own (a worker thread calls it). Returns the reducer and
    whether ``at`` stopped it before the end. Raises ``SourceError``."""
    from arbdash.dashboard.reducer import Reducer
    from arbdash.tools.arbtail_view import load_for_show

    async def run() -> tuple[Reducer, bool]:
        source = make_source()
        async with source:
            reducer = Reducer(timeline_size=timeline, session=source.session)
            stopped = await load_for_show(source, reducer, until=at, seek=True, bar=False, clock=clock)
            return reducer, stopped

    return asyncio.run(run())


def pg_history(dsn: str) -> Callable[[str | None], Any]:
    """``control.replay.History`` over PostgreSQL: one short connection per read-back (the follower holds the
    source's own)."""
    import asyncpg

    from arbdash.logging_pipeline.postgres.rows import payload_to_line

    def for_session(session: str | None) -> Any:
        async def read(after_seq: int, limit: int) -> list[tuple[int, bytes]]:
            conn = await asyncpg.connect(dsn, timeout=10)
            try:
                rows = await conn.fetch(
                    "SELECT seq, payload::text AS payload FROM dashboard_events WHERE session_id = $1::uuid"
                    " AND seq > $2 ORDER BY seq LIMIT $3",
                    session,
                    after_seq,
                    limit,
                )
            finally:
                await conn.close()
            return [(r["seq"], payload_to_line(r["payload"])) for r in rows]

        return read

    return for_session


def file_session(path: Path, session: str | None, poll_s: float) -> ReplaySession:
    """A ``ReplaySession`` over the log at ``path`` (``session``: which of its sessions; ``None``: its last)."""
    from arbdash.control.replay import ReplaySession, jsonl_history
    from arbdash.dashboard.sources.file_source import JsonlSource

    source = JsonlSource(path, session=session, poll_s=poll_s)

    def make_source() -> ReplaySource:
        return JsonlSource(path, session=source.session or session)

    return ReplaySession(source, make_source, fold_at=fold_at, history=lambda sid: jsonl_history(path, sid))


def db_session(dsn: str, session: str, poll_s: float) -> ReplaySession:
    """A ``ReplaySession`` over ``session`` (an id, a unique prefix or ``latest``) in the database at ``dsn``."""
    from arbdash.control.replay import ReplaySession
    from arbdash.dashboard.sources.postgres import PostgresSource

    source = PostgresSource(dsn, session, poll_s=poll_s)

    def make_source() -> ReplaySource:
        return PostgresSource(dsn, source.session or session)

    return ReplaySession(source, make_source, fold_at=fold_at, history=pg_history(dsn))


async def build_provider(
    path: Path | None, db: str | None, session: str | None, poll_s: float
) -> ReplayProvider:
    """The provider ``arbtail serve`` serves: one session (a file, or ``--db`` with ``--session``), started
    (loaded, followed), or the fleet of ``--db``. Raises ``SourceError`` when the session cannot be read."""
    from arbdash.control.replay import FleetLister, ReplayProvider
    from arbdash.dashboard.sources.protocol import SourceError

    if path is not None or session is not None:
        assert path is not None or db is not None
        sess = (
            file_session(path, session, poll_s)
            if path is not None
            else db_session(db or "", session or "", poll_s)
        )
        try:
            await sess.start()
        except BaseException:
            await sess.aclose()
            raise
        return ReplayProvider(default=sess)
    assert db is not None
    from arbdash.tools.pg_admin import PgAdminError, _connect, list_sessions

    try:  # an unreachable database is a refusal now, not a 503 on every request later
        await (await _connect(db)).close()
    except PgAdminError as exc:
        raise SourceError(str(exc)) from None

    async def open_session(text: str) -> ReplaySession:
        sess = db_session(db, text, poll_s)
        try:
            await sess.start()
        except BaseException:
            await sess.aclose()
            raise
        return sess

    async def listing() -> list[Any]:
        # listing folds each session's net PnL (a reducer over its events since the last snapshot): in a worker
        # thread with its own loop and connection, so /api/sessions and /metrics scrapes never hold the server's
        return await asyncio.to_thread(lambda: asyncio.run(list_sessions(db, limit=FLEET_LIMIT)))

    return ReplayProvider(open_session=open_session, lister=FleetLister(listing))


def make_server(provider: ReplayProvider, *, token: str | None, sock: Any) -> ControlServer:
    """A ``control.server.ControlServer`` (uvicorn on this loop) serving ``provider`` in replay mode: the default
    session's reducer, ring and hub (in fleet mode empty ones no endpoint reads: each session has its own, and
    ``/metrics`` lists the database)."""
    from arbdash.control.app import ControlState, create_app
    from arbdash.control.hub import StreamHub
    from arbdash.control.metrics import ArbdashCollector, make_registry
    from arbdash.control.ring import RingSink
    from arbdash.control.server import ControlServer
    from arbdash.control.snapshots import SnapshotSource
    from arbdash.dashboard.reducer import Reducer

    sess = provider.default
    if sess is not None:
        reducer, ring, hub, snapshots = sess.reducer, sess.ring, sess.hub, sess.snapshots
    else:
        reducer, ring = Reducer(), RingSink(16)
        snapshots = SnapshotSource(reducer)
        hub = StreamHub(ring, snapshots.current, None)
    server = ControlServer(reducer=reducer, jsonl=None, token=token, ring=ring, sock=sock)
    ring.listener = hub.publish  # the server built a hub of its own: the session's is the one streams use
    server.hub, server.snapshots = hub, snapshots
    server.registry = make_registry(ArbdashCollector(snapshots, ring=ring, hub=hub))
    server.state = ControlState(
        snapshots, hub, server.registry, mode="replay", token_required=token is not None, replay=provider
    )
    server.app = create_app(server.state, token=token)
    return server


async def serve(
    path: Path | None,
    db: str | None,
    session: str | None,
    *,
    host: str,
    port: int,
    token: str | None,
    poll_s: float = 0.5,
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
) -> None:
    """Load (and follow) the source, serve until SIGINT/SIGTERM, stop cleanly. Raises ``ServeError`` (address in
    use, not ours) and ``SourceError`` (the source cannot be read) before serving."""
    from arbdash.control.server import bind_socket

    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        provider = await build_provider(path, db, session, poll_s)
    except BaseException:
        sock.close()
        raise
    server = make_server(provider, token=token, sock=sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        url = await server.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        say(f"arbtail serve: {url} (Ctrl-C stops)")
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        provider.close_streams()
        await server.stop()
        await provider.aclose()


def run_serve(
    path: Path | None,
    db: str | None,
    session: str | None,
    *,
    host: str,
    port: int,
    token_env: str,
    poll_s: float,
) -> int:
    """``arbtail serve`` for the CLI: the exit code. 0 after Ctrl-C/SIGTERM once serving; 2 with one line on
    stderr for a refusal (``ServeError``, ``SourceError``, a database error, its password redacted); Ctrl-C
    while loading raises ``KeyboardInterrupt`` (``tools.arbtail.main``: exit 130)."""
    from arbdash.dashboard.sources.protocol import SourceError

    def fail(text: str) -> int:
        if db:
            from arbdash.logging_pipeline.postgres.dsn import redact

            text = redact(text, db)
        print(f"arbtail serve: {text}", file=sys.stderr, flush=True)
        return 2

    try:
        token = check_bind(host, token_env)
        asyncio.run(serve(path, db, session, host=host, port=port, token=token, poll_s=poll_s))
    except (ServeError, SourceError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        raise
    except OSError as exc:
        return fail(f"{type(exc).__name__}: {exc}")
    return 0
