"""``ControlServer``: uvicorn serving ``control.app`` as one more task on the bot's own event loop.

Lifecycle (``tools/runbot_run.py``):

1. ``bind_socket(host, port)`` before the session starts: a port in use or an address that is not ours is a
   command-line error (exit 2) before anything runs; port 0 gets a free port (``url`` names it);
2. ``ControlServer(...)``, whose ``ring`` (``control.ring.RingSink``) is one of the pipeline's sinks;
3. ``await start(sock)`` once the pipeline and the dashboard service are entered: ``uvicorn.Server.serve()`` as
   a task — no thread serves anything; uvicorn's own signal handling is switched off (``runbot`` owns SIGINT,
   SIGTERM and SIGHUP) and so is its logging setup (its error log goes through the pipeline like any stdlib
   logger's; at ``error`` level, so a flood of malformed requests cannot flood the record);
4. ``await stop()`` in the session's close sequence, on every exit path, bounded by ``stop_timeout_s``: the last
   events (``session.stopped``) reach the ring and the open streams, the streams end, uvicorn stops; a client
   that does not read is cut off (its connection aborted) instead of holding the exit.

What the loop pays per event: the ring's pump (a deque move) and one shared batch append per stream client;
SSE bytes are built once per batch for all clients. Snapshots are built on request, cached per reducer version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from arbdash.control.address import url_host
from arbdash.control.app import ControlState, create_app
from arbdash.control.hub import MAX_CLIENTS, MAX_QUEUED, StreamHub
from arbdash.control.metrics import ArbdashCollector, RuntimeProbe, make_registry
from arbdash.control.ring import RING_CAPACITY, RingSink
from arbdash.control.snapshots import SnapshotSource
from arbdash.dashboard.reducer import Reducer

#: At most this many connections at once (uvicorn answers 503 beyond); stream clients are capped lower
#: (``control.hub.MAX_CLIENTS``) so plain requests still get through.
MAX_CONNECTIONS = 64
STOP_TIMEOUT_S = 3.0
START_TIMEOUT_S = 5.0


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process owns signals (``runbot``'s ``_Signals``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn versions
        return None


def bind_socket(host: str, port: int, *, backlog: int = 64) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port`` (the first address ``host`` resolves to). Raises
    ``OSError`` (address in use, not an address of this machine, a name that does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"{host!r} does not resolve")
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class ControlServer:
    """The read-only control server of one session. ``reducer``: the live reducer (owned by the dashboard
    service; read on the loop only); ``jsonl``: the session's JSONL (history beyond the ring); ``token``: the
    bearer token (``None``: open, loopback only); ``runtime``: pipeline figures for ``/metrics``;
    ``upstream_pending``: events logged and not yet dispatched (``stop`` waits for them, bounded, so the last
    events reach the streams)."""

    def __init__(
        self,
        *,
        reducer: Reducer,
        jsonl: Path | None,
        token: str | None = None,
        runtime: RuntimeProbe | None = None,
        upstream_pending: Callable[[], int] | None = None,
        ring: RingSink | None = None,
        ring_capacity: int = RING_CAPACITY,
        max_queued: int = MAX_QUEUED,
        max_clients: int = MAX_CLIENTS,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        sock: socket.socket | None = None,
        commands: Any = None,
    ) -> None:
        self.ring = ring if ring is not None else RingSink(ring_capacity)
        self.snapshots = SnapshotSource(reducer)
        self.hub = StreamHub(
            self.ring, self.snapshots.current, jsonl, max_queued=max_queued, max_clients=max_clients
        )
        collector = ArbdashCollector(self.snapshots, ring=self.ring, hub=self.hub, runtime=runtime)
        self.registry = make_registry(collector)
        self.state = ControlState(
            self.snapshots, self.hub, self.registry, token_required=token is not None, commands=commands
        )
        self.app = create_app(self.state, token=token)
        self.upstream_pending = upstream_pending
        self.stop_timeout_s = stop_timeout_s
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = sock
        self.url: str | None = None

    async def start(self, sock: socket.socket | None = None) -> str:
        """Serve on ``sock`` (from ``bind_socket``; default the one given to the constructor) from now on;
        returns the base URL. Raises ``RuntimeError`` if uvicorn does not come up within ``START_TIMEOUT_S``."""
        sock = sock if sock is not None else self._sock
        if sock is None:
            raise ValueError("no socket to serve on (bind_socket)")
        self.ring.bind_loop(asyncio.get_running_loop())
        host, port = sock.getsockname()[:2]
        self.url = f"http://{url_host(host)}:{port}"
        config = uvicorn.Config(
            self.app,
            http="h11",
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            log_level="error",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            limit_concurrency=MAX_CONNECTIONS,
            backlog=64,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=1,
            h11_max_incomplete_event_size=16 * 1024,
        )
        server = _EmbeddedServer(config)
        self._server, self._sock = server, sock
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="control-server")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not server.started:
            if self._task.done():
                exc = self._task.exception() if not self._task.cancelled() else None
                raise RuntimeError(f"the control server did not start: {exc!r}")
            if loop.time() > deadline:
                await self._abort()
                raise RuntimeError("the control server did not start in time")
            await asyncio.sleep(0.01)
        return self.url

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop serving within ``stop_timeout_s`` (see the module docstring). Idempotent; raises nothing but a
        cancellation of the caller (after cleaning up).

        The runbot close sequence calls it after ``session.stopped``: so that nothing follows that event in the
        record, uvicorn's own log is muted meanwhile, and a stream whose client does not read is cut off by
        aborting its connection (its pending send then returns and the stream ends normally) rather than left
        to uvicorn's graceful-shutdown timeout, which would cancel it and log the cancellation."""
        task, server = self._task, self._server
        if task is None or server is None:
            await self._abort()  # never started: the socket is still closed
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout_s
        muted = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi")]
        saved = [lg.disabled for lg in muted]
        for lg in muted:
            lg.disabled = True
        try:
            # the events logged so far (the session's last ones) reach the ring, then the streams
            pending = self.upstream_pending
            settle = loop.time() + min(1.0, self.stop_timeout_s / 3)
            while pending is not None and pending() and loop.time() < settle:
                await asyncio.sleep(0.01)
            self.ring.pump()
            self.hub.close()  # each stream sends what it holds and ends
            drain_until = min(settle + 0.5, deadline - 1.0)
            while self.hub.clients and loop.time() < drain_until:  # readers take their last events
                await asyncio.sleep(0.01)
            if self.hub.clients:
                self._abort_connections(streaming_only=True)  # clients that do not read
            server.should_exit = True
            done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time() - 0.3))
            if not done:
                self._abort_connections()
                await asyncio.wait({task}, timeout=max(0.05, deadline - loop.time()))
        except Exception:  # noqa: BLE001 - a stop must not fail the close sequence (a cancellation goes on up)
            pass
        finally:
            try:
                await self._abort()
            finally:
                for lg, was in zip(muted, saved, strict=True):
                    lg.disabled = was

    def _abort_connections(self, *, streaming_only: bool = False) -> None:
        """Abort connections (``streaming_only``: those still in the middle of a response)."""
        server = self._server
        if server is None:
            return
        for conn in list(server.server_state.connections):
            cycle = getattr(conn, "cycle", None)
            if streaming_only and (cycle is None or getattr(cycle, "response_complete", True)):
                continue
            transport = getattr(conn, "transport", None)
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.abort()

    async def _abort(self) -> None:
        """Whatever is still up goes: connections aborted, the serve task cancelled, the socket closed."""
        task = self._task
        self._abort_connections()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait({task}, timeout=0.5)
        if task is not None and task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception never retrieved" at exit
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._task = None
        self.hub.close()
