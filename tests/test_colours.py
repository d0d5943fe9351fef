"""Right colours (issue 14 item 3): each figure coloured by its own sign or threshold; placeholders uncoloured.

Frames are rendered to a truecolor terminal and each figure's style is read back from the segments that carry
its text (the renderer's own formatting of the value), so the test sees what the operator sees.
"""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
from rich.console import Console
from rich.style import Style

from arbdash.dashboard.models import (
    BestSpread,
    DashboardSnapshot,
    FundingSnapshot,
    PortfolioSnapshot,
    PositionSnapshot,
    SessionState,
    VenueLeg,
)
from arbdash.dashboard.render_rich import build_layout, funding_pane, portfolio_pane, positions_pane
from arbdash.dashboard.text import fmt_usd


def _segments(renderable: object, width: int = 220, height: int | None = None) -> list:
    console = Console(width=width, height=height or 25, color_system="truecolor", force_terminal=True)
    return list(console.render(renderable, console.options.update(height=height) if height else None))


def _pick(segments: list, text: str) -> set:
    """The styles of the segments showing ``text``: a segment that is the text, else (an unstyled cell merges
    with its unstyled neighbours) one holding it as a word."""
    exact = {s.style for s in segments if s.text.strip() == text}
    return exact or {s.style for s in segments if text in s.text.split()}


def _style_of(renderable: object, text: str, **kw: object) -> Style:
    """The one style the renderer gave ``text`` (a whole cell line)."""
    styles = _pick(_segments(renderable, **kw), text)
    assert len(styles) == 1, (text, styles)
    (style,) = styles
    return style or Style.null()


def _colour(style: Style) -> str | None:
    return style.color.name if style.color is not None else None


def _snap(*positions: PositionSnapshot, **fields: object) -> DashboardSnapshot:
    return DashboardSnapshot(
        session=SessionState(health="running"),
        positions=list(positions),
        funding=fields.pop("funding", FundingSnapshot()),  # type: ignore[arg-type]
        portfolio=fields.pop("portfolio", PortfolioSnapshot()),  # type: ignore[arg-type]
        recent_events=[],
    )


def _position(long_upnl: str, short_upnl: str) -> PositionSnapshot:
    legs = {
        "binance": VenueLeg(venue="binance", side="long", qty=D("1"), unrealized_pnl=D(long_upnl)),
        "bybit": VenueLeg(venue="bybit", side="short", qty=D("1"), unrealized_pnl=D(short_upnl)),
    }
    total = D(long_upnl) + D(short_upnl)
    return PositionSnapshot(
        position_id="P0001-BTC",
        symbol="BTC",
        lifecycle="open",
        legs=legs,
        unrealized_pnl=total,
        net_pnl=total - D("3.21"),
        fees=D("3.21"),
        roi_pct=None,  # no margin announced: a placeholder
    )


def test_a_legs_upnl_is_coloured_by_its_own_sign_not_the_positions_sum() -> None:
    snap = _snap(_position("96.60", "-101.10"))  # the case: +96.60 shown red because Σ < 0
    pane = positions_pane(snap)
    assert _colour(_style_of(pane, "+96.60")) == "green"
    assert _colour(_style_of(pane, "-101.10")) == "red"
    sigma = _style_of(pane, "Σ -4.50")
    assert _colour(sigma) == "red" and sigma.bold  # the sum by the sum's sign
    assert _colour(_style_of(pane, "-7.71")) == "red"  # net


def test_the_same_colours_in_the_live_layout() -> None:
    snap = _snap(_position("96.60", "-101.10"))
    layout = build_layout(snap)
    assert _colour(_style_of(layout, "+96.60", width=120, height=40)) == "green"
    assert _colour(_style_of(layout, "-101.10", width=120, height=40)) == "red"


def test_placeholders_and_zero_are_uncoloured() -> None:
    snap = _snap(_position("0", "-1.5"))
    pane = positions_pane(snap)
    for seg in _segments(pane):
        if seg.text.strip() in ("—", "n/a") and seg.style is not None:
            assert seg.style.color is None, seg  # an em-dash is never green
    zeros = _pick(_segments(pane), "+0.00")  # the zero leg, rPnL and funding: neither gain nor loss
    assert zeros and all(_colour(st or Style.null()) is None for st in zeros)
    assert _colour(_style_of(pane, "-1.50")) == "red"


def test_portfolio_figures_each_by_their_own_sign() -> None:
    p = PortfolioSnapshot(
        realized_pnl=D("-7.23"),
        unrealized_pnl=D("2.40"),
        funding=D("0.88"),
        fees=D("23.49"),
        net_pnl=D("-27.44"),
        wins=2,
        losses=5,
    )
    pane = portfolio_pane(_snap(portfolio=p))
    segs = _segments(pane)

    def colour_of(text: str) -> str | None:
        (style,) = _pick(segs, text)
        return _colour(style or Style.null())

    assert colour_of(fmt_usd(D("-7.23"), signed=True)) == "red"
    assert colour_of(fmt_usd(D("2.40"), signed=True)) == "green"
    assert colour_of(fmt_usd(D("0.88"), signed=True)) == "green"
    assert colour_of("23.49") is None  # fees are a cost, not a sign
    assert colour_of("-27.44 USD") == "red"
    assert colour_of("2") == "green" and colour_of("5") == "red"  # wins / losses


def test_entry_gap_is_green_only_when_the_pair_clears_the_threshold() -> None:
    best = [
        BestSpread(
            symbol="SOL",
            long_venue="binance",
            short_venue="bybit",
            spread_apr=D("0.30"),
            net_apr=D("0.21"),
            vs_min=D("0.01"),
        ),
        BestSpread(
            symbol="BTC",
            long_venue="binance",
            short_venue="bybit",
            spread_apr=D("0.10"),
            net_apr=D("-0.02"),
            vs_min=D("-0.22"),
        ),
    ]
    pane = funding_pane(_snap(funding=FundingSnapshot(best=best, min_profit_rate=D("0.20"))))
    assert _colour(_style_of(pane, "+1.00")) == "green"
    assert _colour(_style_of(pane, "-22.00")) is None  # below the threshold: not an alarm, just not yet
    assert _colour(_style_of(pane, "-2.00")) == "red"  # a negative net APR, by its sign


def test_erosion_over_the_threshold_is_red_while_the_hold_code_says_why_it_is_held() -> None:
    p = msgspec.structs.replace(
        _position("1", "-1"), profit_erosion_pct=D("165.2"), hold_code="MIN_HOLD_ACTIVE", hold_left_s=3600
    )
    pane = positions_pane(
        msgspec.structs.replace(_snap(p), session=SessionState(erosion_threshold_pct=D("80")))
    )
    assert _colour(_style_of(pane, "165.2")) == "red"
    assert _colour(_style_of(pane, "MIN_HOLD_ACTIVE")) == "yellow"
    assert _style_of(pane, "ends in 1h00m").dim
