"""The HTTP surface: a Starlette app with the read-only endpoints and the guard every request passes.

Endpoints (all ``GET``; JSON unless said otherwise):

* ``/healthz`` → ``{"status": "ok"}`` (no token needed: liveness probes; says nothing about the session);
* ``/api/snapshot`` → ``{"session_id", "seq", "version", "snapshot": DashboardSnapshot}`` (``control.snapshots``);
* ``/api/events?after_seq=N&limit=M`` → ``{"session_id", "after_seq", "limit", "source", "last_seq",
  "next_after_seq", "more", "events": [...]}``: up to ``M`` (1–``MAX_LIMIT``, default ``DEFAULT_LIMIT``) events with
  ``seq > N`` (default 0), in order, from the ring or — for events no longer in it — the session's JSONL
  (``source``). ``events`` are the JSONL lines themselves, spliced in as JSON values (no re-encoding). Page on
  with ``after_seq=next_after_seq`` while ``more``;
* ``/api/stream`` → ``text/event-stream`` (``control.hub``): a snapshot, then every event; resumable with
  ``Last-Event-ID`` (what ``EventSource`` sends on reconnect; it wins over the query) or ``?after_seq=N``;
* ``/metrics`` → Prometheus text exposition (``control.metrics``; the fleet's sessions under ``arbtail serve --db``).

**The guard** (``Guard``, pure ASGI middleware, so it also covers the streaming response) on every request:
a query string longer than ``MAX_QUERY_BYTES`` → 414; a body longer than ``MAX_BODY_BYTES`` (declared or
streamed) → 413; with a token configured, every path but ``/healthz`` needs ``Authorization: Bearer <token>``
(compared with ``hmac.compare_digest``; missing or wrong → 401); without a token (the server is then bound to
loopback, ``control.address``) the ``Host`` header must name a loopback host, so a web page in the operator's
browser cannot reach the API through DNS rebinding. The web page (``control.web``: ``/``, ``/static/*``,
``/api/login``, ``/api/logout``) is open; a session cookie from ``/api/login`` stands in for the token on
``GET``/``HEAD`` only — any other method needs the bearer token, so a cookie can never act. Every response
carries a restrictive Content-Security-Policy (nothing may be loaded, framed or submitted), ``nosniff``,
``no-referrer`` and ``no-store``; no CORS header is ever sent, so other origins cannot read the API from a
browser. The page and its static files set their own CSP (``control.web.PAGE_CSP``: ``'self'`` sources only).

Errors are JSON, always: ``{"error": <code>, "message": <text>, "status": <int>}`` — for the guard's refusals,
a malformed query (400), an unknown path (404), a wrong method (405), a full server (503) and a bug (500).
Log-derived text reaches a client only inside JSON strings (event lines, the snapshot), never as markup.

Why Starlette rather than aiohttp: the server must live on the bot's own event loop as one more task, and
``uvicorn.Server(config).serve()`` is exactly that (a coroutine; we pass it the bound socket and keep it from
installing signal handlers, which ``runbot`` owns); Starlette is a small ASGI toolkit without a framework
around it (routing, requests, ``StreamingResponse``) whose pure-ASGI middleware wraps streaming responses too;
ASGI keeps the app independent of the server, so ``arbtail serve`` (part 2) and the tests (``httpx``'s
``ASGITransport``) run the same app without a socket. aiohttp would do as well, but brings its own server and
client stack and its own middleware model; the ASGI pair is the better-kept one here.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arbdash.control.address import is_loopback
from arbdash.control.commands import CommandError, http_status, parse_command
from arbdash.control.hub import StreamClient, StreamHub
from arbdash.control.metrics import exposition, fleet_exposition
from arbdash.control.snapshots import SnapshotSource
from arbdash.control.web import SESSION_COOKIE, SessionStore, cookie_value, is_open_path, web_routes

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_QUERY_BYTES = 1024
MAX_BODY_BYTES = 16 * 1024
MAX_SEQ = 2**63 - 1
CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
OPEN_PATHS = frozenset({"/healthz"})


class ApiError(Exception):
    """A refusal answered as a JSON error (``status`` 4xx/5xx, a short ``code``, a human ``message``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(status: int, code: str, message: str) -> bytes:
    return orjson.dumps({"error": code, "message": message, "status": status})


def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(status, code, message), status, headers=headers, media_type="application/json")


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@dataclass
class ControlState:
    """What the endpoints read: the snapshot source, the ring and hub, the metrics registry; ``mode``: ``live``
    (inside the bot) or ``replay`` (``arbtail serve``); ``token_required``: whether a bearer token guards the
    API; ``commands``: the bot's command desk (``None``: commands are refused — no token, or no bot)."""

    snapshots: SnapshotSource
    hub: StreamHub
    registry: CollectorRegistry
    mode: str = "live"
    token_required: bool = False
    commands: Any = None
    #: ``arbtail serve``'s ``control.replay.ReplayProvider`` (``None`` in the bot): ``?at=`` / ``?session=``,
    #: ``/api/sessions`` and the ``history`` / ``fleet`` of ``/api/info``.
    replay: Any = None


# --- query parsing -------------------------------------------------------------------------------------------


def _seq_value(name: str, text: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_SEQ:
        raise ApiError(400, "bad_query", f"{name} must be an integer from 0 to {MAX_SEQ}")
    return int(text)


def parse_query(
    request: Request, allowed: dict[str, int | None], *, ignore: tuple[str, ...] = ()
) -> dict[str, int | None]:
    """The integer query parameters in ``allowed`` (name → default); an unknown or repeated parameter or a value
    that is not a non-negative integer is a 400. Parameters in ``ignore`` are left to the caller."""
    out = dict(allowed)
    seen: set[str] = set()
    for key, value in request.query_params.multi_items():
        if key in ignore:
            continue
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise ApiError(400, "bad_query", f"unknown query parameter {key[:40]!r} (accepted: {names})")
        if key in seen:
            raise ApiError(400, "bad_query", f"query parameter {key!r} given twice")
        seen.add(key)
        out[key] = _seq_value(key, value)
    return out


# --- endpoints ---------------------------------------------------------------------------------------------


def _state(request: Request) -> ControlState:
    return request.app.state.control  # type: ignore[no-any-return]


async def healthz(request: Request) -> Response:
    parse_query(request, {})
    return _json(b'{"status":"ok"}')


async def info(request: Request) -> Response:
    """What this server is (the web page reads it first): ``{"mode": "live"|"replay", "session_id",
    "token_required": bool, "commands": bool, "fleet": bool}`` — ``commands`` is true when ``POST /api/commands``
    can act; ``fleet``: ``arbtail serve --db`` over every session (``?session=`` then picks one). In replay mode
    also ``"history": {"first", "last", "clock"}`` (ISO 8601: the served session's span on the clock ``?at=``
    uses; in fleet mode that of the session ``?session=ID`` names, ``null`` without one)."""
    st = _state(request)
    chosen = None
    if st.replay is not None and request.query_params.get("session") is not None:
        _, _, chosen = await _target(request, {})  # 400 / 404 as for the other endpoints
    else:
        parse_query(request, {})
    body = {
        "mode": st.mode,
        "session_id": st.snapshots.current().session_id,
        "token_required": st.token_required,
        "commands": st.commands is not None,
        "fleet": False,
    }
    if st.replay is not None:  # arbtail serve: the session's span (the page's time slider) and fleet mode
        body.update(st.replay.info())
        if chosen is not None:
            body.update(session_id=chosen.snapshots.current().session_id, history=chosen.history())
    return _json(orjson.dumps(body))


_REPLAY_PARAMS = ("session", "at")


async def _target(
    request: Request, allowed: dict[str, int | None], *, at_ok: bool = False
) -> tuple[dict[str, int | None], dict[str, str], Any]:
    """The integer query parameters (``parse_query``), the replay ones (``session``, ``at``: text) and where the
    endpoint reads (``snapshots`` and ``hub``): the state's own, or in replay mode the session ``?session=``
    names (``control.replay.ReplayProvider.session``: 400/404 as it says). ``?session=`` / ``?at=`` on the live
    bot's server, or ``at`` where it means nothing, are 400."""
    st = _state(request)
    q = parse_query(request, allowed, ignore=_REPLAY_PARAMS)
    texts: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in _REPLAY_PARAMS:
            if key in texts:
                raise ApiError(400, "bad_query", f"query parameter {key!r} given twice")
            texts[key] = value
    if st.replay is None:
        if texts:
            name = next(iter(texts))
            raise ApiError(400, "not_replay", f"?{name}= is for arbtail serve (a replay), not the live bot")
        return q, texts, st
    if "at" in texts and not at_ok:
        raise ApiError(400, "bad_query", "?at= is accepted by /api/snapshot only")
    return q, texts, await st.replay.session(texts.get("session"))


async def snapshot(request: Request) -> Response:
    """``GET /api/snapshot`` (``?at=ISO`` in replay mode: the state folded up to that moment, ``?session=ID``
    in fleet mode)."""
    _, texts, src = await _target(request, {}, at_ok=True)
    if "at" in texts:
        from arbdash.control.replay import parse_at

        return _json(await src.snapshot_at(parse_at(texts["at"])))
    src.hub.ring.pump()
    return _json(src.snapshots.current().body)


async def fleet_sessions(request: Request) -> Response:
    """``GET /api/sessions`` (``arbtail serve --db``): every session in the database (``control.replay``)."""
    parse_query(request, {})
    st = _state(request)
    if st.replay is None:
        raise ApiError(404, "no_fleet", "/api/sessions is served by arbtail serve --db DSN")
    return _json(await st.replay.sessions_body())


async def events(request: Request) -> Response:
    q, _, st = await _target(request, {"after_seq": 0, "limit": DEFAULT_LIMIT})
    after, limit = q["after_seq"], q["limit"]
    assert after is not None and limit is not None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "bad_query", f"limit must be from 1 to {MAX_LIMIT}")
    try:
        items, source = await st.hub.read_after(after, limit)
    except OSError as exc:
        raise ApiError(
            503, "history_unavailable", f"the session's JSONL cannot be read: {exc.strerror or exc}"
        ) from None
    snap = st.snapshots.current()
    ring_last = st.hub.ring.last_seq
    last = max(snap.seq, ring_last if ring_last is not None else 0)
    next_after = items[-1][0] if items else after
    head = orjson.dumps(
        {
            "session_id": snap.session_id,
            "after_seq": after,
            "limit": limit,
            "source": source if items else "none",
            "last_seq": last,
            "next_after_seq": next_after,
            "more": next_after < last,
        }
    )
    body = b"".join((head[:-1], b',"events":[', b",".join([line for _, line in items]), b"]}"))
    return _json(body)


class _EventStream(StreamingResponse):
    """``StreamingResponse`` that always unregisters its client, however the response ends (client gone,
    server stopping, cancelled)."""

    def __init__(self, hub: StreamHub, client: StreamClient, after_seq: int | None) -> None:
        self._hub, self._client = hub, client
        self._body = hub.stream(client, after_seq)
        super().__init__(
            self._body,
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._hub.clients.discard(self._client)
            try:
                await self._body.aclose()
            except Exception:  # noqa: BLE001 - closing a finished or broken generator must not raise here
                pass


async def stream(request: Request) -> Response:
    q, _, st = await _target(request, {"after_seq": None})
    after = q["after_seq"]
    last_id = request.headers.get("last-event-id")
    if last_id is not None and last_id.strip():
        after = _seq_value("Last-Event-ID", last_id)
    if request.method == "HEAD":
        return Response(b"", media_type="text/event-stream")
    client = st.hub.try_open()
    if client is None:
        if st.hub.closed:
            raise ApiError(503, "stopping", "the server is stopping")
        raise ApiError(503, "too_many_streams", f"at most {st.hub.max_clients} stream clients at once")
    return _EventStream(st.hub, client, after)


#: How long ``POST /api/commands`` waits for the strategy's next safe point before answering ``pending`` (202).
COMMAND_WAIT_S = 10.0


def _desk(request: Request) -> Any:
    st = _state(request)
    if st.commands is None:
        if st.mode != "live":
            raise ApiError(
                403, "commands_disabled", "this server is read-only: it replays a session, no bot runs"
            )
        raise ApiError(
            403,
            "commands_disabled",
            "commands need a token: set dashboard.server.token (or ARBDASH_TOKEN) and restart the bot",
        )
    return st.commands


async def post_command(request: Request) -> Response:
    """``POST /api/commands``: an operator command (``control.commands``) — bearer token only (a page session
    cookie cannot act), ``Content-Type: application/json``. Answers ``{"id", "command", "status", "reason",
    "message", "duplicate", "position_ids", ...}`` with 200 (executed), 202 (pending after ``COMMAND_WAIT_S``:
    poll ``GET /api/commands/{id}``) or 4xx/5xx for a rejected command (``control.commands.HTTP_STATUS``); a body
    that is not a command is a 400/415 JSON error and logs nothing."""
    parse_query(request, {})
    desk = _desk(request)
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        raise ApiError(401, "unauthorized", "commands need Authorization: Bearer <token>")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the command as Content-Type: application/json")
    body = await request.body()
    try:
        command = parse_command(body)
    except CommandError as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    answer = await desk.submit(command, source="http").wait(COMMAND_WAIT_S)
    return Response(orjson.dumps(answer.to_json()), http_status(answer), media_type="application/json")


async def get_command(request: Request) -> Response:
    """``GET /api/commands/{id}``: a command's answer by id (``pending`` while queued); 404 for an id the desk
    does not remember."""
    parse_query(request, {})
    desk = _desk(request)
    command_id = request.path_params["command_id"]
    answer = desk.status(command_id)
    if answer is None:
        raise ApiError(404, "unknown_command_id", f"no command with id {command_id[:64]!r}")
    return Response(orjson.dumps(answer.to_json()), http_status(answer), media_type="application/json")


async def metrics(request: Request) -> Response:
    parse_query(request, {})
    st = _state(request)
    if st.replay is not None and st.replay.lister is not None:  # arbtail serve --db: every session listed
        return Response(fleet_exposition(await st.replay.lister.summaries()), media_type=CONTENT_TYPE_LATEST)
    return Response(exposition(st.registry), media_type=CONTENT_TYPE_LATEST)


# --- errors ----------------------------------------------------------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    message = {404: "no such endpoint", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return json_error(exc.status_code, code, message, headers=dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    return json_error(500, "internal_error", "internal server error")


# --- the guard -------------------------------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``)."""
    h = host_header.strip()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class Guard:
    """Pure ASGI middleware: size limits, the token, the ``Host`` check and the security headers (see the
    module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        sessions: SessionStore | None = None,
        max_query_bytes: int = MAX_QUERY_BYTES,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self._sessions = sessions  # web logins (control.web): a valid cookie stands in for the token on reads
        self.max_query_bytes = max_query_bytes
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        refused = False  # the 413 of a body that outgrew the limit while read (chunked) has been sent

        async def secured_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's own answer to the cut-off body (an error page) goes nowhere
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await self._respond(secured_send, *refusal)
            return
        received = 0
        limit = self.max_body_bytes

        async def bounded_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a body without Content-Length (chunked) outgrew the limit: answer 413
                    if not started and not refused:  # now, before the app can turn the cut into a 500
                        await self._respond(
                            secured_send, 413, "body_too_large", f"request body over {limit} bytes"
                        )
                        refused = True
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, bounded_receive, secured_send)
        except _BodyTooLarge:
            pass  # answered in bounded_receive
        except Exception:
            if not refused:
                raise  # a real error of the app; after our 413, whatever the app made of the cut is dropped

    def _refusal(self, scope: Scope) -> tuple[int, str, str, dict[str, str]] | None:
        if len(scope.get("query_string", b"")) > self.max_query_bytes:
            return 414, "query_too_long", f"query string over {self.max_query_bytes} bytes", {}
        headers: dict[bytes, bytes] = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.lower(), v)
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, "bad_request", "malformed Content-Length", {}
            if int(length) > self.max_body_bytes:
                return 413, "body_too_large", f"request body over {self.max_body_bytes} bytes", {}
        if self._token is None:
            host = headers.get(b"host", b"").decode("latin-1")
            if not is_loopback(_host_name(host)):
                return (
                    421,
                    "bad_host",
                    "this server answers only to a loopback Host (no token configured)",
                    {},
                )
            return None
        if scope.get("path") in OPEN_PATHS or is_open_path(scope.get("path", "")):
            return None
        auth = headers.get(b"authorization")
        if (
            auth is None
            and self._sessions is not None
            and scope.get("method") in ("GET", "HEAD")
            and self._sessions.valid(cookie_value(headers.get(b"cookie"), SESSION_COOKIE))
        ):
            return None  # a web session reads; it never acts (any other method needs the bearer token)
        challenge = {"www-authenticate": 'Bearer realm="arbdash"'}
        if auth is None:
            return 401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)", challenge
        scheme, _, given = auth.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self._token):
            return 401, "unauthorized", "invalid bearer token", challenge
        return None

    @staticmethod
    async def _respond(
        send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        body = error_body(status, code, message)
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def create_app(state: ControlState, *, token: str | None) -> ASGIApp:
    """The ASGI app: the routes behind ``Guard``."""
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/info", info, methods=["GET"]),
        Route("/api/snapshot", snapshot, methods=["GET"]),
        Route("/api/events", events, methods=["GET"]),
        Route("/api/stream", stream, methods=["GET"]),
        Route("/api/sessions", fleet_sessions, methods=["GET"]),
        Route("/api/commands", post_command, methods=["POST"]),
        Route("/api/commands/{command_id}", get_command, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    logins = SessionStore() if token else None  # web logins (control.web), checked by the guard
    routes += web_routes(token=token, sessions=logins)
    handlers: dict[Any, Any] = {ApiError: _api_error, HTTPException: _http_error, Exception: _server_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.control = state
    app.state.web_sessions = logins
    return Guard(app, token=token, sessions=logins)
