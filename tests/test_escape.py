"""One escaper for every terminal and text output (issue 10 item 4).

The SAME hostile strings go through both paths that put log text on a terminal or in the text log:

* the console / text-log line (``logging_pipeline.console_format.format_record``, multi-line: a traceback
  keeps its newlines and tabs);
* the dashboard text (``dashboard.text.safe_text``, one line) and a whole rendered frame
  (``dashboard.render_rich.frame_text`` of a ``Reducer`` fed an event whose message is hostile).

No raw dangerous character (Unicode categories Cc, Cf, Cs, Zl, Zp: controls, format characters such as bidi
overrides and zero-width joiners, lone surrogates, line/paragraph separators) may reach either output, and
each must be shown as the same visible escape (``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from events_builder import Events, started

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.text import safe_text
from arbdash.logging_pipeline.console_format import format_record
from arbdash.logging_pipeline.escape import safe_text as the_escaper

BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff"]

#: (hostile text, how it must be shown). The same list feeds every path below.
HOSTILE: list[tuple[str, str]] = [
    ("\x1b[2J", "\\x1b[2J"),  # clear screen
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # OSC: retitle the window
    ("\x07", "\\x07"),  # BEL
    ("\r", "\\x0d"),  # CR: overwrite the start of the line
    ("\x08", "\\x08"),  # BS
    ("\x7f", "\\x7f"),  # DEL
    ("\x9b", "\\x9b"),  # C1 CSI
    ("\x00", "\\x00"),  # NUL
    *((c, f"\\u{ord(c):04x}") for c in BIDI),  # bidi embeddings, overrides, isolates, marks
    *((c, f"\\u{ord(c):04x}") for c in INVISIBLE),  # zero-width space / non-joiner / joiner, BOM
    ("\u2028", "\\u2028"),  # line separator
    ("\u2029", "\\u2029"),  # paragraph separator
    ("\U000e0041", "\\U000e0041"),  # a tag character (invisible "ASCII smuggling")
    ("\ud800", "\\ud800"),  # lone surrogate
    ("[bold red]x[/]", "[bold red]x[/]"),  # Rich markup: shown literally, never styled
]
IDS = [
    f"U+{ord(raw[0]):04X}" if len(raw) == 1 else raw.encode("unicode_escape").decode() for raw, _ in HOSTILE
]

DANGEROUS_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def dangerous(text: str, *, allowed: str = "") -> list[str]:
    """The characters of ``text`` a terminal would act on or hide (anything in ``allowed`` excepted)."""
    return [c for c in text if unicodedata.category(c) in DANGEROUS_CATEGORIES and c not in allowed]


def hostile(raw: str) -> str:
    return f"before{raw}after"


def record(message: str, **extra: Any) -> dict[str, Any]:
    return {
        "event": "log.message",
        "level": "warning",
        "ts": "2026-03-10T12:00:01.000001+00:00",
        "market_ts": "2026-03-01T08:00:00+00:00",
        "src": "bot.strategy:run:42",
        "message": message,
        **extra,
    }


# --- one function -------------------------------------------------------------------------------------------


def test_the_dashboard_and_the_console_use_the_same_function() -> None:
    assert safe_text is the_escaper
    import arbdash.logging_pipeline.console_format as console_format

    assert not hasattr(console_format, "inert")  # the console's own escaper is gone


# --- the console / text-log path ----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), HOSTILE, ids=IDS)
@pytest.mark.parametrize("colour", [False, True])
def test_console_line_escapes_every_hostile_string(raw: str, shown: str, colour: bool) -> None:
    line = format_record(record(hostile(raw)), colour=colour)
    if colour:  # the line's own level colour is the only escape sequence allowed
        assert line.count("\x1b") == 2
        line = line.replace("\x1b[33m", "").replace("\x1b[0m", "")
    assert dangerous(line) == []
    assert "\n" not in line
    assert line.endswith(" | " + hostile(shown))


@pytest.mark.parametrize(("raw", "shown"), HOSTILE, ids=IDS)
def test_console_banner_and_traceback_escape_every_hostile_string(raw: str, shown: str) -> None:
    banner = format_record(
        {
            "event": "stage.changed",
            "level": "info",
            "ts": "2026-03-10T12:00:01+00:00",
            "message": f"1. 📋 {hostile(raw)}",
        },
        colour=False,
    )
    assert dangerous(banner, allowed="\n") == []
    assert banner.split("\n") == ["=" * 55, f"1. 📋 {hostile(shown)}", "=" * 55]

    exc = f'Traceback (most recent call last):\n  File "x.py", line 1\n\tboom()\nValueError: {hostile(raw)}'
    text = format_record(record("failed", exc=exc), colour=False)
    assert dangerous(text, allowed="\n\t") == []
    lines = text.split("\n")  # the traceback's newlines still split console lines
    assert len(lines) == 5
    assert lines[0].endswith(" | failed")
    assert lines[1:] == [
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "\tboom()",
        f"ValueError: {hostile(shown)}",
    ]


def test_console_source_column_is_one_line() -> None:
    line = format_record(record("m", src="evil\nname\u202e"), colour=False)
    assert "\n" not in line and dangerous(line) == []
    assert "| evil\\x0aname\\u202e" in line


def test_console_text_that_looks_like_an_escape_is_left_alone() -> None:
    """A literal backslash sequence in a traceback is text: it is not turned into a newline."""
    text = format_record(record("m", exc="OSError: C:\\temp\\x0a.txt"), colour=False)
    assert text.split("\n")[1] == "OSError: C:\\temp\\x0a.txt"


def test_console_look_of_ordinary_text_is_unchanged() -> None:
    """Byte-identical to the console before the escapers were merged (``--dashboard-mode=off`` invariant)."""
    ordinary = record("Opened BTC • long binance / short bybit — 0.5 @ 100.00 (café, 日本, 📋)", level="info")
    assert format_record(ordinary, colour=False) == (
        "2026-03-01 08:00:00 | INFO     | bot.strategy:run:42                      | "
        "Opened BTC • long binance / short bybit — 0.5 @ 100.00 (café, 日本, 📋)"
    )
    assert format_record(ordinary, colour=True) == (
        "2026-03-01 08:00:00 | \x1b[32mINFO    \x1b[0m | bot.strategy:run:42                      | "
        "Opened BTC • long binance / short bybit — 0.5 @ 100.00 (café, 日本, 📋)"
    )
    failed = {
        "event": "log.message",
        "level": "error",
        "ts": datetime(2026, 3, 10, 12, 0, 2, tzinfo=UTC),
        "logger": "asyncio",
        "message": "Task failed\twith tab",
        "exc": 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
        "\tboom()\nValueError: bad",
    }
    assert format_record(failed, colour=False) == (
        "2026-03-10 12:00:02 | ERROR    | asyncio                                  | Task failed\twith tab\n"
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n\tboom()\nValueError: bad'
    )
    banner = {
        "event": "stage.changed",
        "level": "info",
        "ts": "2026-03-10T12:00:03+00:00",
        "message": "1. 📋 BTC • Opportunity Validation",
    }
    assert format_record(banner, colour=True) == f"{'=' * 55}\n1. 📋 BTC • Opportunity Validation\n{'=' * 55}"


async def test_console_sink_end_to_end_escapes_bidi() -> None:
    """Through the real pipeline (structlog → encoder → console sink), not only ``format_record``."""
    from arbdash.helpers.unified_logger import get_logger
    from arbdash.logging_pipeline import Pipeline
    from arbdash.logging_pipeline.sinks.console import ConsoleSink

    out = io.StringIO()
    async with Pipeline(session_id="s", sinks=[ConsoleSink(out)]):
        get_logger("tests.escape").warning("pay \u202eredro\u202c \u2066x\u2069 \x1b[2J")
    (line,) = out.getvalue().splitlines()
    assert dangerous(line) == []
    assert line.endswith("| pay \\u202eredro\\u202c \\u2066x\\u2069 \\x1b[2J")


# --- the dashboard path -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), HOSTILE, ids=IDS)
def test_safe_text_escapes_every_hostile_string(raw: str, shown: str) -> None:
    assert safe_text(hostile(raw)) == hostile(shown)


@pytest.mark.parametrize(("raw", "shown"), HOSTILE, ids=IDS)
def test_rendered_frame_escapes_every_hostile_string(raw: str, shown: str) -> None:
    e = Events()
    r = Reducer()
    r.feed(started(e))
    r.feed(e("log.message", hostile(raw), "info"))
    frame = frame_text(r.snapshot(), 200)
    assert dangerous(frame, allowed="\n") == []
    if unicodedata.category(raw[0]) == "Cs":
        # a lone surrogate cannot be a JSON line: the reducer refuses the event, it never reaches the screen
        assert r.stats.skipped == {"not_json": 1}
        return
    assert r.stats.skipped == {}
    assert hostile(shown) in frame


def test_dashboard_cells_are_one_line() -> None:
    assert safe_text("a\nb\tc") == "a\\x0ab\\x09c"
    assert the_escaper("a\nb\tc\r", multiline=True) == "a\nb\tc\\x0d"


def test_truncation_and_no_allocation_when_nothing_needs_escaping() -> None:
    ordinary = "BTC • Opportunity Validation — café 日本 📋 [bold]"
    assert safe_text(ordinary) is ordinary
    assert the_escaper(ordinary, multiline=True) is ordinary
    assert safe_text("x" * 10, 5) == "xxxx…"
    assert safe_text("\u202e" * 3, 8) == "\\u202e\\…"  # escaped first, then cut (never a raw character)
    assert safe_text(None) == "" and safe_text(42) == "42"


def test_every_character_of_the_dangerous_categories_is_escaped() -> None:
    """Every Cc/Cf/Cs/Zl/Zp code point this Python knows (Unicode 14+) is escaped; ordinary text is not."""
    missed = [
        f"U+{cp:04X}"
        for cp in range(0x110000)
        if unicodedata.category(chr(cp)) in DANGEROUS_CATEGORIES and safe_text(chr(cp)) == chr(cp)
    ]
    assert missed == []
    for ok in ("a", "é", "—", "•", "…", "日", "📋", "🧨", "\ufe0f", "\u0301", " ", "\u00a0"):
        assert safe_text(ok) == ok
