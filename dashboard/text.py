"""Safe text and number formatting for the dashboard renderers (no Rich imports, no I/O).

Everything that came out of a log event (messages, symbols, venue names, reasons) passes through
``safe_text`` before it reaches a terminal. It is the one escaper of the project,
``logging_pipeline.escape.safe_text`` (the console lines use it too), re-exported here: controls (ESC, BEL,
CR, BS, NUL, DEL, C1 …), format characters (bidi overrides and isolates, zero-width joiners …), lone
surrogates and line/paragraph separators are replaced by a visible escape (``\\x1b``, ``\\u202e``), so a log
line can neither move the cursor, retitle the window, hide nor reorder text; ``\\n`` and ``\\t`` are escaped
too (a cell or timeline row is one line); ``max_len`` truncates with ``…``. Rich markup is neutralised
separately by the renderers, which wrap such strings in ``rich.text.Text`` (never markup strings).

Number formatting (all ``Decimal`` in, ``str`` out, ``"—"`` for ``None``):

* ``fmt_usd``    — USD with 2 decimals and thousands separators (``-1,234.50``); ``signed`` adds ``+``;
* ``fmt_price``  — a price with 6 significant digits (min 2 decimals for prices ≥ 1);
* ``fmt_qty``    — a base-unit quantity, trailing zeros trimmed;
* ``fmt_pct``    — a value already in percent (``0.25`` → ``0.25``);
* ``fmt_bp``     — a fraction as basis points (``0.0001`` → ``1.00``);
* ``fmt_apr``    — a fraction per year as percent (``0.1095`` → ``10.95``);
* ``fmt_duration`` — seconds as ``1d02h``, ``3h04m``, ``5m06s``, ``7s``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from arbdash.logging_pipeline.escape import safe_text

__all__ = [
    "DASH",
    "fmt_apr",
    "fmt_bp",
    "fmt_duration",
    "fmt_pct",
    "fmt_price",
    "fmt_qty",
    "fmt_ts",
    "fmt_usd",
    "fmt_usd_whole",
    "safe_text",
]

DASH = "—"


# --- numbers ---------------------------------------------------------------------------------------------

_Q2 = Decimal("0.01")
_HUNDRED = Decimal(100)
_BP = Decimal(10000)


def _q(d: Decimal, exp: Decimal) -> Decimal:
    return d.quantize(exp, rounding=ROUND_HALF_EVEN)


def _sci(d: Decimal) -> str:
    """Fallback for magnitudes ``quantize`` cannot hold in 28 digits (hostile or broken input)."""
    return f"{d:.6E}"


def fmt_usd(d: Decimal | None, *, signed: bool = False) -> str:
    """USD amount, 2 decimals, thousands separators. ``signed`` prefixes ``+`` for positive values."""
    if d is None:
        return DASH
    if not d.is_finite() or d.adjusted() > 24:
        return _sci(d)
    q = _q(d, _Q2)
    if q == 0:
        q = abs(q)  # no "-0.00"
    return f"{q:+,.2f}" if signed else f"{q:,.2f}"


def fmt_usd_whole(d: Decimal | None) -> str:
    """USD amount rounded to whole dollars with thousands separators (``1,496``), for compact columns."""
    if d is None:
        return DASH
    if not d.is_finite() or d.adjusted() > 24:
        return _sci(d)
    return f"{_q(d, Decimal(1)):,.0f}"


def fmt_price(d: Decimal | None, sig: int = 6) -> str:
    """A price with ``sig`` significant digits (at least 2 decimals when ≥ 1, no exponent)."""
    if d is None:
        return DASH
    if d == 0:
        return "0"
    if not d.is_finite() or abs(d.adjusted()) > 24:
        return _sci(d)
    adj = d.adjusted()  # exponent of the leading digit
    places = max(sig - 1 - adj, 2 if abs(d) >= 1 else 0)
    places = min(places, 12)
    return f"{d:,.{places}f}"


def fmt_qty(d: Decimal | None) -> str:
    """A quantity in base units: plain notation, trailing zeros trimmed (``0.0100`` → ``0.01``)."""
    if d is None:
        return DASH
    s = f"{d:f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


def fmt_pct(d: Decimal | None, places: int = 2, *, signed: bool = False) -> str:
    """A value already in percent, ``places`` decimals."""
    if d is None:
        return DASH
    if not d.is_finite() or d.adjusted() > 24:
        return _sci(d)
    q = _q(d, Decimal(1).scaleb(-places))
    if q == 0:
        q = abs(q)
    return f"{q:+.{places}f}" if signed else f"{q:.{places}f}"


def fmt_bp(rate: Decimal | None, places: int = 2) -> str:
    """A fraction as basis points: ``rate · 10⁴`` (``0.0001`` → ``1.00``)."""
    return DASH if rate is None else fmt_pct(rate * _BP, places, signed=True)


def fmt_apr(apr: Decimal | None, places: int = 2) -> str:
    """A fraction per year as a percentage: ``apr · 100`` (``0.1095`` → ``10.95``)."""
    return DASH if apr is None else fmt_pct(apr * _HUNDRED, places, signed=True)


def fmt_duration(seconds: int | Decimal | None) -> str:
    """Seconds as a compact duration: ``1d02h``, ``3h04m``, ``5m06s``, ``7s``; negative → ``-`` prefix."""
    if seconds is None:
        return DASH
    s = int(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{sign}{d}d{h:02d}h"
    if h:
        return f"{sign}{h}h{m:02d}m"
    if m:
        return f"{sign}{m}m{sec:02d}s"
    return f"{sign}{sec}s"


def fmt_ts(dt: datetime | None, *, date: bool = False, short: bool = False) -> str:
    """A UTC datetime as ``HH:MM:SS``, ``YYYY-MM-DD HH:MM:SS`` with ``date``, or ``MM-DD HH:MM`` with ``short``
    (timeline rows of a session that spans days); ``—`` for ``None``."""
    if dt is None:
        return DASH
    if short:
        return dt.strftime("%m-%d %H:%M")
    return dt.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
