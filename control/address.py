"""Where the control server listens: ``[HOST:]PORT`` parsing and the loopback rule (standard library only, so the
CLI and the config check can use it without importing the server).

The rule (``dashboard.server`` in the config, ``runbot --serve``): a host that is not loopback serves only with a
token. Loopback means an IP literal in ``127.0.0.0/8`` or ``::1`` (``ipaddress.is_loopback``) or the name
``localhost``; any other name may resolve to anything, so it counts as not loopback.
"""

from __future__ import annotations

import ipaddress

DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP literal, ``[v6]`` or a name) is a loopback address; see the module docstring."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_bind(text: str) -> tuple[str | None, int]:
    """``PORT``, ``HOST:PORT`` or ``[V6]:PORT`` → ``(host or None, port)``. Raises ``ValueError`` with the reason.

    ``None`` for the host means "the configured one" (``dashboard.server.host``, default ``127.0.0.1``). Port 0
    asks the system for a free port (the server logs the one it got)."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty address (expected PORT or HOST:PORT)")
    host: str | None = None
    port_text = raw
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or raw[end + 1 : end + 2] != ":":
            raise ValueError(f"{text!r}: an IPv6 host is written [ADDR]:PORT")
        host, port_text = raw[1:end], raw[end + 2 :]
    elif ":" in raw:
        if raw.count(":") > 1:
            raise ValueError(f"{text!r}: an IPv6 host is written [ADDR]:PORT")
        host, port_text = raw.split(":", 1)
    if host is not None:
        host = host.strip()
        if not host or any(c.isspace() for c in host):
            raise ValueError(f"{text!r}: empty or malformed host")
    if not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


def url_host(host: str) -> str:
    """``host`` as written in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
