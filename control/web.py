"""The web dashboard (issue 12, part 3): the page at ``/``, its static files and the cookie login behind it.

The page (``control/static``: ``index.html``, ``app.js``, ``app.css``; no build step, nothing from another
origin) draws the panes of the terminal dashboard from ``GET /api/snapshot`` and follows ``GET /api/stream``
(on each event it re-fetches the snapshot, throttled: the reducer is never re-implemented in the browser).
Every log-derived string reaches the DOM as text (``textContent``), never as markup.

**Routes** (``web_routes``):

* ``GET /`` → ``index.html`` under ``PAGE_CSP`` (``'self'`` sources only: no inline script or style);
* ``GET /static/{name}`` → one of ``STATIC_FILES`` (anything else 404), same CSP, with its content type;
* ``POST /api/login`` with ``{"token": "..."}`` → compares the token in constant time; right: a new session
  id (``secrets.token_urlsafe(32)``, never the token) in an ``HttpOnly; SameSite=Strict; Path=/`` cookie and
  ``{"ok": true}``; wrong: 401; more than ``LOGIN_FAILURES_PER_MIN`` failures in a minute from one address
  (or five times that from all): 429 (``_LoginLimiter``);
* ``POST /api/logout`` → drops the cookie's session and clears the cookie (``{"ok": true}``).

**Auth** (``control.app.Guard``): these paths are open (``is_open_path``); every other path still needs the
bearer token — or, for ``GET``/``HEAD`` only, a valid session cookie (``EventSource`` cannot send headers).
A cookie never makes a ``POST`` act: ``POST /api/commands`` always needs ``Authorization: Bearer``, so a page
on another origin cannot ride on the cookie (no CSRF). Sessions live in memory (``SessionStore``): at most
``MAX_SESSIONS`` (the oldest evicted), each for ``SESSION_TTL_S`` seconds. Without a token configured the
server is loopback-only and reads are open; login then answers 400.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from importlib import resources

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SESSION_COOKIE = "arbdash_session"
MAX_SESSIONS = 256
SESSION_TTL_S = 12 * 3600.0
LOGIN_FAILURES_PER_MIN = 20
STATIC_FILES: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
_WEB_OPEN = frozenset({"/", "/api/login", "/api/logout"})


def is_open_path(path: str) -> bool:
    """Whether ``path`` is served without the token: the page, its static files, login and logout."""
    return path in _WEB_OPEN or path.startswith("/static/")


def cookie_value(cookie_header: bytes | None, name: str = SESSION_COOKIE) -> str | None:
    """The value of cookie ``name`` in a raw ``Cookie`` header (``None`` when absent or malformed)."""
    if not cookie_header:
        return None
    try:
        text = cookie_header.decode("latin-1")
    except Exception:  # noqa: BLE001 - latin-1 decodes any bytes; belt and braces
        return None
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip() or None
    return None


class SessionStore:
    """Web sessions in memory: id → expiry (``clock()`` seconds). At most ``max_sessions`` (creating one more
    evicts the oldest); each valid for ``ttl_s`` seconds from login. Lives on the event loop (not thread-safe)."""

    def __init__(
        self,
        *,
        max_sessions: int = MAX_SESSIONS,
        ttl_s: float = SESSION_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_sessions, self.ttl_s, self.clock = max_sessions, ttl_s, clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    def create(self) -> str:
        """A new session id (``secrets.token_urlsafe(32)``), valid for ``ttl_s`` seconds."""
        self._purge()
        while len(self._expiry) >= self.max_sessions:
            self._expiry.popitem(last=False)
        sid = secrets.token_urlsafe(32)
        self._expiry[sid] = self.clock() + self.ttl_s
        return sid

    def valid(self, sid: str | None) -> bool:
        """Whether ``sid`` names a live session (an expired one is dropped)."""
        if not sid or len(sid) > 128:
            return False
        expiry = self._expiry.get(sid)
        if expiry is None:
            return False
        if expiry <= self.clock():
            del self._expiry[sid]
            return False
        return True

    def drop(self, sid: str | None) -> None:
        """Forget ``sid`` (no error if unknown)."""
        if sid:
            self._expiry.pop(sid, None)

    def _purge(self) -> None:
        now = self.clock()
        for sid in [s for s, exp in self._expiry.items() if exp <= now]:
            del self._expiry[sid]


class _LoginLimiter:
    """Failed logins per rolling minute, a bound on guessing (not an account lockout): at most ``per_min`` from
    one client address — then 429 for that address only, so a client guessing cannot lock the operator out
    from another address — and at most ``per_min * ALL_CLIENTS_FACTOR`` from every address together (guessing
    spread over many addresses stays bounded). At most ``max_clients`` addresses are remembered (the one that
    failed least recently is forgotten first). On the event loop (not thread-safe)."""

    ALL_CLIENTS_FACTOR = 5

    def __init__(
        self,
        per_min: int = LOGIN_FAILURES_PER_MIN,
        *,
        max_clients: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_min = per_min
        self.max_clients = max_clients
        self.clock = clock
        self._by_client: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()

    @staticmethod
    def _recent(fails: deque[float], now: float) -> int:
        while fails and now - fails[0] >= 60.0:
            fails.popleft()
        return len(fails)

    def blocked(self, client: str) -> bool:
        """Whether a login from ``client`` (its address) is refused now."""
        now = self.clock()
        if self._recent(self._all, now) >= self.per_min * self.ALL_CLIENTS_FACTOR:
            return True
        fails = self._by_client.get(client)
        return fails is not None and self._recent(fails, now) >= self.per_min

    def failed(self, client: str) -> None:
        """Count a failed login from ``client``."""
        now = self.clock()
        self._all.append(now)
        fails = self._by_client.pop(client, None) or deque()
        fails.append(now)
        self._by_client[client] = fails  # the most recent failure last
        while len(self._by_client) > self.max_clients:
            self._by_client.popitem(last=False)


def _asset(name: str) -> bytes:
    return resources.files("arbdash.control").joinpath("static", name).read_bytes()


def _page_response(body: bytes, media_type: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"content-security-policy": PAGE_CSP, "cache-control": "no-cache"},
    )


def _json(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def _err(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": code, "message": message, "status": status})


def web_routes(*, token: str | None, sessions: SessionStore | None) -> list[BaseRoute]:
    """The page's routes (see the module docstring). ``token``: the bearer token (``None``: login refused
    with 400); ``sessions``: where logins are kept (shared with ``control.app.Guard``, which checks cookies).
    Raises nothing at build time; a static file missing from the install answers 404."""
    secret = token.encode() if token else None
    limiter = _LoginLimiter()

    async def index(request: Request) -> Response:
        if request.method == "HEAD":
            return _page_response(b"", "text/html; charset=utf-8")
        return _page_response(_asset("index.html"), "text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        media = STATIC_FILES.get(name)
        if media is None:
            return _err(404, "not_found", "no such file")
        try:
            body = _asset(name)
        except OSError:
            return _err(404, "not_found", "no such file")
        return _page_response(body, media)

    async def login(request: Request) -> Response:
        if secret is None or sessions is None:
            return _err(400, "no_token", "this server has no token: the page reads without logging in")
        client = request.client.host if request.client is not None else ""
        raw = await request.body()  # read first: from the bound check to the count below nothing awaits, so
        if limiter.blocked(client):  # logins sent at once cannot all pass the check before one is counted
            return _err(429, "too_many_attempts", "too many failed logins; wait a minute")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _err(400, "bad_request", 'body must be JSON: {"token": "..."}')
        given = body.get("token") if isinstance(body, dict) else None
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), secret):
            limiter.failed(client)
            return _err(401, "unauthorized", "invalid token")
        sid = sessions.create()
        resp = _json(200, {"ok": True})
        resp.set_cookie(
            SESSION_COOKIE,
            sid,
            max_age=int(sessions.ttl_s),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return resp

    async def logout(request: Request) -> Response:
        if sessions is not None:
            sessions.drop(request.cookies.get(SESSION_COOKIE))
        resp = _json(200, {"ok": True})
        resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    return [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
    ]
