"""DSN handling: where the DSN comes from and how it is shown. The password never leaves this module in clear.

Every message the PostgreSQL code produces (health reasons, exceptions it re-raises, CLI output) goes through
``redact`` so that neither a URL password (``postgresql://user:secret@host/db``), a keyword one
(``password=secret``) nor a ``?password=`` query parameter can reach a log line, an event or the terminal.
"""

from __future__ import annotations

import inspect
import os
import re
from urllib.parse import parse_qsl, unquote, urlsplit

#: Environment variable read when no DSN is given explicitly.
DSN_ENV = "ARBDASH_DATABASE_URL"

_MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<post>@)")
_KW_PASSWORD = re.compile(r"(?P<pre>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


def resolve_dsn(dsn: str | None = None) -> str | None:
    """The DSN to use: ``dsn`` if given (non-empty), else ``$ARBDASH_DATABASE_URL``, else ``None``."""
    return dsn or os.environ.get(DSN_ENV) or None


def passwords_in(dsn: str | None) -> list[str]:
    """The password strings a DSN carries (URL userinfo, ``password=`` keyword or query parameter).

    Also includes ``$PGPASSWORD`` when set, since libpq-style clients read it. Never raises.
    """
    found: list[str] = []
    if dsn:
        try:
            parts = urlsplit(dsn)
            if parts.password:
                found += [parts.password, unquote(parts.password)]
            found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
        except ValueError:
            pass
        for m in _KW_PASSWORD.finditer(dsn):
            found.append(m.group("pw").strip("'"))
    env_pw = os.environ.get("PGPASSWORD")
    if env_pw:
        found.append(env_pw)
    return sorted({p for p in found if p}, key=len, reverse=True)


def redact(text: object, dsn: str | None = None) -> str:
    """``str(text)`` with every password masked: the ones ``dsn`` carries (wherever they appear in the text)
    and any URL userinfo or ``password=`` keyword found in the text itself. Never raises."""
    out = str(text)
    for pw in passwords_in(dsn):
        out = out.replace(pw, _MASK)
    out = _URL_PASSWORD.sub(lambda m: m.group("pre") + _MASK + m.group("post"), out)
    return _KW_PASSWORD.sub(lambda m: m.group("pre") + _MASK, out)


def redact_dsn(dsn: str | None) -> str:
    """A DSN fit for display: ``postgresql://user:***@host:5432/db`` (``"<none>"`` for no DSN)."""
    return redact(dsn, dsn) if dsn else "<none>"


def dsn_target(dsn: str | None) -> str | None:
    """Which database a DSN writes to, without credentials: ``host:port[,host:port…]/database`` (a Unix socket
    by its path), plus ``?search_path=…`` when the DSN sets one (another schema is other tables). Resolved
    exactly as asyncpg resolves it when it connects (``$PGHOST``/``$PGPORT``/``$PGDATABASE``/``$PGUSER``, its
    defaults), so two DSNs spelled differently for the same database agree. Never holds the user or a password.

    ``None`` when there is no DSN or asyncpg cannot parse it (the sink could not connect with it either); never
    raises. May read ``~/.pgpass`` (asyncpg's resolver does): call it off the event loop."""
    if not dsn:
        return None
    try:
        # asyncpg's own resolver, private API: if it changes, this lands in the ``except`` (None: spools are
        # then left for a manual import, never loaded into a wrong database)
        from asyncpg import connect_utils

        parse = connect_utils._parse_connect_dsn_and_args
        args: dict[str, object] = dict.fromkeys(inspect.signature(parse).parameters)
        args["dsn"] = dsn
        addrs, params = parse(**args)[:2]
        # (host, port) for TCP, the socket's path for a Unix socket
        hosts = ",".join(addr if isinstance(addr, str) else f"{addr[0]}:{addr[1]}" for addr in addrs)
        target = f"{hosts}/{params.database}"
        search_path = (params.server_settings or {}).get("search_path")
        return f"{target}?search_path={search_path}" if search_path else target
    except Exception:  # noqa: BLE001 - an unparsable DSN has no known target
        return None
