"""Renderer tests: text frames contain the positions, no ANSI; markup and control characters stay inert."""

from __future__ import annotations

from decimal import Decimal as D
from io import StringIO
from typing import Any

from rich.console import Console

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import plain_summary
from arbdash.dashboard.render_rich import build_frame, build_layout, frame_text
from arbdash.dashboard.text import fmt_apr, fmt_bp, fmt_duration, fmt_price, fmt_usd, safe_text

HOSTILE = "[bold red]pwn[/] \x1b]0;title\x07 \x1b[2J\x1b[H \rCR \x9b31m C1 \u202eRTL"


def _ev(seq: int, name: str, message: str = "", **fields: Any) -> dict[str, Any]:
    ev = {
        "v": 1,
        "ts": f"2026-03-10T12:00:{seq % 60:02d}.{seq:06d}+00:00",
        "session_id": "S",
        "seq": seq,
        "level": "info",
        "logger": "t",
        "event": name,
        "category": "execution",
        "message": message,
        "market_ts": "2026-03-01T08:00:00+00:00",
    }
    ev.update(fields)
    return ev


def reducer_with_positions(n: int, *, symbol: str = "BTC", message: str = "opened") -> Reducer:
    r = Reducer(timeline_size=20)
    seq = 1
    r.feed(
        _ev(
            seq,
            "session.started",
            "start",
            strategy="funding_arbitrage",
            strategy_version="1",
            venues=["binance", "bybit"],
            symbols=[symbol],
            max_positions=n,
            max_total_exposure_usd="100000",
            target_margin="50",
        )
    )
    for i in range(n):
        pid = f"pos{i:04d}-{'x' * 28}"
        legs = [
            dict(
                venue="binance",
                side="long",
                qty="0.01",
                entry_price="65000.5",
                notional="650.005",
                fee="0.325",
                leverage="3",
                margin="216.67",
            ),
            dict(
                venue="bybit",
                side="short",
                qty="0.01",
                entry_price="65010",
                notional="650.1",
                fee="0.325",
                leverage="3",
                margin="216.7",
            ),
        ]
        seq += 1
        r.feed(
            _ev(
                seq,
                "position.opened",
                message,
                position_id=pid,
                symbol=symbol,
                long_venue="binance",
                short_venue="bybit",
                legs=legs,
                target_exposure_usd="650",
                filled_exposure_usd="650",
                entry_spread_apr="0.15",
                entry_long_rate="0.0001",
                entry_short_rate="0.0003",
            )
        )
    for venue, px in (("binance", "65100.25"), ("bybit", "65120")):
        seq += 1
        r.feed(_ev(seq, "market.mark_price", venue=venue, symbol=symbol, mark_price=px, index_price=px))
        seq += 1
        r.feed(
            _ev(
                seq,
                "funding.rate",
                venue=venue,
                symbol=symbol,
                rate="0.0001",
                interval_s=28800,
                apr="0.1095",
                next_funding_ts="2026-03-01T16:00:00+00:00",
            )
        )
    return r


def test_frame_text_width_100_contains_positions_and_no_ansi() -> None:
    snap = reducer_with_positions(3).snapshot()
    text = frame_text(snap, 100)
    assert "\x1b" not in text
    for i in range(3):
        assert f"pos{i:04d}-" in text
    assert "BTC" in text and "65,100.25" in frame_text(snap, 160)  # marks: a column wide frames add
    assert max(len(line) for line in text.splitlines()) <= 100
    assert frame_text(snap, 100) == text  # deterministic


def test_wide_frame_shows_every_column_with_units() -> None:
    text = frame_text(reducer_with_positions(2).snapshot(), 200)
    for header in (
        "Entry",
        "Mark",
        "tgt/fill",
        "rPnL",
        "Fees",
        "Funding",
        "Margin USD",
        "APR",
        "Last bp",
        "Next",
    ):
        assert header in text
    assert (
        "3× 217.00" in text
    )  # leverage × margin at the mark = 0.01·65100.25/3 → 217.00 (entry 65000.5: 216.67)


def test_markup_and_control_characters_inert_in_both_renderers() -> None:
    r = reducer_with_positions(1, symbol="BTC[red]\x1b[31m", message=HOSTILE)
    r.feed(_ev(100, "log.message", HOSTILE, level="warning", category="warning"))
    snap = r.snapshot()
    for text in (frame_text(snap, 160), plain_summary(snap)):
        assert "[bold red]pwn[/]" in text  # shown literally, not parsed
        for bad in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
            assert bad not in text
        assert "\\x1b]0;title\\x07" in text
    # a colour terminal: styles are ours, the message's escape sequences never reach the stream
    buf = StringIO()
    Console(file=buf, width=160, force_terminal=True, color_system="truecolor").print(build_frame(snap))
    out = buf.getvalue()
    assert "\x1b]0;title" not in out and "\x1b[2J" not in out and "\x07" not in out
    assert "[bold red]pwn[/]" in out


def test_layout_renders_at_several_sizes() -> None:
    snap = reducer_with_positions(5).snapshot()
    for width, height in ((80, 24), (120, 40), (200, 60)):
        buf = StringIO()
        Console(file=buf, width=width, height=height, color_system=None).print(build_layout(snap))
        assert "positions" in buf.getvalue()


def test_empty_snapshot_renders() -> None:
    snap = Reducer().snapshot()
    assert "no positions yet" in frame_text(snap, 100)
    assert "positions (0 open)" in plain_summary(snap)


def test_plain_summary_has_no_box_drawing_or_cursor_control() -> None:
    text = plain_summary(reducer_with_positions(2).snapshot())
    assert "\x1b" not in text
    assert not any(0x2500 <= ord(c) <= 0x257F for c in text)
    assert "pos0000-" in text and "skipped lines: 0" in text


def test_formatters() -> None:
    assert safe_text("a\x1bb\nc\u202e") == "a\\x1bb\\x0ac\\u202e"
    assert safe_text("x" * 10, 5) == "xxxx…"
    assert fmt_usd(D("-1234.565")) == "-1,234.56"  # half-even
    assert fmt_usd(D("-0.001")) == "0.00"
    assert fmt_usd(D("3"), signed=True) == "+3.00"
    assert fmt_price(D("65100.25")) == "65,100.25"
    assert fmt_price(D("0.000123456")) == "0.000123456"
    assert fmt_price(D("1.5")) == "1.50000"
    assert fmt_bp(D("0.0001")) == "+1.00"
    assert fmt_apr(D("0.1095")) == "+10.95"
    assert fmt_duration(90061) == "1d01h" and fmt_duration(3725) == "1h02m" and fmt_duration(7) == "7s"
    assert fmt_usd(None) == "—"


def test_narrow_and_wide_frames_never_exceed_width() -> None:
    snap = reducer_with_positions(4).snapshot()
    for width in (60, 80, 100, 140, 220):
        text = frame_text(snap, width)
        assert max(len(line) for line in text.splitlines()) <= width
        assert "pos0000-" in text or width < 70


def test_grid_drops_low_priority_columns_first() -> None:
    snap = reducer_with_positions(1).snapshot()
    narrow, wide = frame_text(snap, 100), frame_text(snap, 220)
    assert "Margin USD" in wide and "Margin USD" not in narrow  # leverage/margin goes first
    assert "Mark" in wide and "Mark" not in narrow  # marks go before the decision figures
    assert "Net" in narrow and "ROI" in narrow and "now/ent" in narrow  # net PnL, ROI and the spread stay


def test_absurd_magnitudes_do_not_break_render() -> None:
    r = reducer_with_positions(1)
    r.feed(_ev(500, "market.mark_price", venue="binance", symbol="BTC", mark_price="1e59", index_price="1"))
    r.feed(_ev(501, "market.mark_price", venue="bybit", symbol="BTC", mark_price="1e99", index_price="1"))
    assert r.stats.rejected == {"bad_field": 1}
    text = frame_text(r.snapshot(), 160) + plain_summary(r.snapshot())
    assert "E+" in text  # huge unrealized PnL shown in scientific notation, not a crash
    assert fmt_usd(D("1e30")) == "1.000000E+30" and fmt_price(D("1e-30")) == "1.000000E-30"


def test_no_hidden_positions_hint_when_every_closed_position_is_shown() -> None:
    snap = reducer_with_positions(3).snapshot()
    assert snap.portfolio.positions_closed == 0
    assert "more closed" not in frame_text(snap, 120)
    assert "more closed" not in plain_summary(snap)
