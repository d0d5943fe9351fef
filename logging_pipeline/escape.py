"""The one escaper for log text bound for a terminal or a text file: ``safe_text``.

Every terminal and text output uses it — the console lines and the text log (``console_format``), the Rich and
plain dashboards and ``arbtail`` (``dashboard.text`` re-exports it) — so they all agree on what is dangerous
and how it is shown. It lives here because ``dashboard`` may import ``logging_pipeline``, never the reverse.

Contract: ``safe_text(s)`` returns ``s`` with every character a terminal would act on, hide or reorder
replaced by a visible escape — ``\\xNN`` up to U+00FF, ``\\uNNNN`` up to U+FFFF, ``\\UNNNNNNNN`` above —
namely every code point of the Unicode categories

* Cc: C0 controls (ESC, BEL, CR, BS, NUL …), DEL and C1 controls (including the 8-bit CSI/OSC introducers);
* Cf: format characters — bidi embeddings, overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069,
  U+200E/U+200F, U+061C: "Trojan Source" reordering), zero-width space/joiners, word joiner, BOM, soft hyphen,
  interlinear annotations, tag characters (invisible text) …;
* Cs: lone surrogates (not encodable; never half a character on screen);
* Zl/Zp: the line and paragraph separators U+2028/U+2029;

so a log line can neither move the cursor, retitle the window, hide text nor reorder what the operator reads.
Everything else — printable text of any script, emoji, Rich markup such as ``[bold]`` — is left as it is
(markup is the renderers' business: they show strings as ``rich.text.Text``, never as markup).

The one real difference between outputs is a parameter: ``multiline=True`` keeps ``\\n`` and ``\\t`` (a
console message or a traceback spans lines); by default they are escaped too (a dashboard cell or timeline row
is one line). ``max_len`` truncates the escaped text to that many characters, the last being ``…``.
Non-``str`` input is converted with ``str`` (``None`` → ``""``). Pure; when nothing needs escaping (or
cutting) the input string itself is returned, without an allocation.
"""

from __future__ import annotations

import re

__all__ = ["safe_text"]

# Cc, Cf, Cs, Zl and Zp of Unicode 14 (Python 3.11's ``unicodedata``), plus U+13439–U+1343F (format controls
# Unicode 15 added); tests/test_escape.py checks the class against the running interpreter's ``unicodedata``.
# TAB and LF are kept apart so the multi-line form can leave them out.
_TAB_LF = r"\t\n"
_THE_REST = (
    r"\x00-\x08\x0b-\x1f\x7f-\x9f\xad"
    r"\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    r"\ud800-\udfff\ufeff\ufff9-\ufffb"
    r"\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0001\U000e0020-\U000e007f"
)
_ONE_LINE = re.compile(f"[{_TAB_LF}{_THE_REST}]")
_MULTI_LINE = re.compile(f"[{_THE_REST}]")


def _escape_char(m: re.Match[str]) -> str:
    o = ord(m.group())
    if o <= 0xFF:
        return f"\\x{o:02x}"
    if o <= 0xFFFF:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def safe_text(s: object, max_len: int | None = None, *, multiline: bool = False) -> str:
    """``s`` as inert text: every control, format, surrogate or line/paragraph-separator character is
    replaced by a visible escape (``\\x1b``, ``\\u202e``); ``\\n`` and ``\\t`` too unless ``multiline``.
    ``max_len`` truncates with ``…``. No allocation when nothing needs escaping."""
    if not isinstance(s, str):
        s = "" if s is None else str(s)
    # str.isprintable() (C, fast) is false for every character of those categories (and for a few harmless
    # ones: no-break spaces, private use, unassigned), so printable text never reaches the slower regex.
    if not s.isprintable():
        unsafe = _MULTI_LINE if multiline else _ONE_LINE
        if unsafe.search(s) is not None:
            s = unsafe.sub(_escape_char, s)
    if max_len is not None and len(s) > max_len:
        s = s[: max(0, max_len - 1)] + "…"
    return s
