"""Layout by priority at every terminal size (issue 14 item 1).

The same snapshots of a real paper run (``real_log``) — one open position and 7 or more closed, two open positions
inside their minimum hold (moments found from the run's own events, ``support_moments``), the end of the run (none
open, every position closed) — and a
synthetic one with many open positions, drawn by ``frame_text(snap, width, height)`` (the frame the live view
draws: ``build_layout``) at 80×24, 100×30, 120×45 and 200×60. In every frame: session health and stage, every
open position's legs (or, when they cannot all fit, as many as fit and the count of the others) and the net PnL
are on screen; a pane that hides rows says exactly how many, with no blank rows left under it; the frame is
exactly the terminal's size; columns keep their place from one moment to the next.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support_moments import first_position_alone, hour_with_open, last_hour_with_one_open
from test_render import reducer_with_positions

from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.text import fmt_usd

SIZES = [(80, 24), (100, 30), (120, 45), (200, 60)]
MIN_HOLD = timedelta(hours=48)  # configs/funding_arb_paper.yml
MOMENT_NAMES = ("one_open_seven_closed", "two_open_in_min_hold", "end_of_run")


def _moments(log: Path) -> dict[str, str | None]:
    return {
        "one_open_seven_closed": last_hour_with_one_open(log, min_closed=7).isoformat(),
        "two_open_in_min_hold": hour_with_open(log, 2, max_age=MIN_HOLD).isoformat(),
        "end_of_run": None,
    }


LIVE = ("opening", "open", "closing")


def _replay(log: Path, at: str | None, *, closed_rows: int = 5) -> DashboardSnapshot:
    lines = log.read_bytes().splitlines()
    r = Reducer()
    if at is None:
        r.feed_lines(lines)
    else:
        r.feed_lines_until(lines, datetime.fromisoformat(at), "market")
    return r.snapshot(closed_rows=closed_rows)


@pytest.fixture(scope="module")
def snaps(real_log: Path) -> dict[str, DashboardSnapshot]:
    out = {name: _replay(real_log, at) for name, at in _moments(real_log).items()}
    out["many_open"] = reducer_with_positions(12).snapshot()
    return out


def pane(frame: str, name: str) -> list[str] | None:
    """The lines of pane ``name`` (top border to bottom border), cut out of its column of the frame."""
    lines = frame.splitlines()
    for i, line in enumerate(lines):
        col = line.find(f"╭─ {name}")
        if col < 0:
            continue
        end = line.index("╮", col) + 1
        out = [line[col:end]]
        for below in lines[i + 1 :]:
            out.append(below[col:end])
            if below[col] == "╰":
                return out
    return None


def body(lines: list[str]) -> list[str]:
    """A pane's content lines, borders stripped."""
    return [line[1:-1] for line in lines[1:-1]]


def note(lines: list[str]) -> str:
    """The text in a pane's bottom border (``… 3 more closed positions``), '' if none."""
    return lines[-1].strip("╰─╯ ")


def more(text: str, what: str) -> int:
    m = re.search(rf"… (\d+) more (?:{what})", text)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("moment", [*MOMENT_NAMES, "many_open"])
def test_priorities_hold_at_every_size(snaps: dict[str, DashboardSnapshot], moment: str, size: tuple) -> None:
    width, height = size
    snap = snaps[moment]
    frame = frame_text(snap, width, height)
    lines = frame.splitlines()
    assert len(lines) == height and max(len(x) for x in lines) <= width
    # session health and stage, net PnL
    assert f"health {snap.session.health.upper()}" in frame
    assert "│ stage " in frame
    assert f"net {fmt_usd(snap.portfolio.net_pnl, signed=True)} USD" in frame
    # every open position's legs — or as many as fit, and the count of the others in the pane's border
    live = [p for p in snap.positions if p.lifecycle in LIVE]
    pos = pane(frame, "positions")
    assert pos is not None
    text = "\n".join(body(pos))
    shown = [p for p in live if p.position_id[:8] in text]
    if moment != "many_open":
        assert len(shown) == len(live)  # the real run never has more open than fit at 80×24
    assert shown and len(live) - len(shown) == more(note(pos), "open positions?") or not live
    rows = body(pos)
    for p in shown:
        own = next(i for i, x in enumerate(rows) if p.position_id[:8] in x)  # the position's first line
        for venue, leg in p.legs.items():
            side = "L" if leg.side == "long" else "S"
            row = next(x for x in rows[own:] if f"{venue} {side}" in x)
            assert fmt_usd(leg.unrealized_pnl, signed=True) in row  # the leg's own line, its own uPnL
        assert fmt_usd(p.net_pnl, signed=True) in text
    if not live:
        assert "no open positions" in text


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("moment", list(MOMENT_NAMES))
def test_hidden_counts_are_right(snaps: dict[str, DashboardSnapshot], moment: str, size: tuple) -> None:
    width, height = size
    snap = snaps[moment]
    frame = frame_text(snap, width, height)
    # closed positions: rows of the snapshot not shown + those the snapshot does not carry
    rows = [p for p in snap.positions if p.lifecycle in ("closed", "rolled_back")]
    beyond = snap.portfolio.positions_closed - sum(1 for p in rows if p.lifecycle == "closed")
    closed = pane(frame, "closed")
    if closed is None:  # no room at this size: the positions pane's title still counts them
        assert f"closed {snap.portfolio.positions_closed}" in frame
    else:
        text = "\n".join(body(closed))
        shown = sum(1 for p in rows if p.position_id in text)
        assert shown >= 1
        assert more(note(closed), "closed positions?") == len(rows) - shown + beyond
        assert ("see arbtail stats" in note(closed)) == (beyond > 0)
        assert all(x.strip() for x in body(closed))  # never blank rows: the pane has the rows it shows
    # the timeline: events of its buffer not shown
    tl = pane(frame, "timeline")
    assert tl is not None
    shown_events = sum(1 for x in body(tl) if x.strip()) - 2  # header and rule
    assert more(note(tl), "events?") == len(snap.recent_events) - shown_events
    if shown_events < len(snap.recent_events):
        assert body(tl)[-1].strip()  # no blank rows under a cut pane
    # funding rates
    fu = pane(frame, "funding")
    assert fu is not None
    ftext = "\n".join(body(fu))
    shown_rates = sum(1 for x in body(fu) if re.match(r" (binance|bybit|hyperliquid) +(BTC|ETH|SOL) ", x))
    hidden_rates = re.search(r"(\d+) (?:more )?rates?", note(fu))
    assert (int(hidden_rates.group(1)) if hidden_rates else 0) == len(snap.funding.rates) - shown_rates
    assert "entry ≥ 20.00% net APR" in fu[0]  # the entry threshold, from the scanner's events
    assert snap.funding.best[0].symbol in ftext  # the best spread per symbol comes first


def test_large_terminals_show_more(snaps: dict[str, DashboardSnapshot], real_log: Path) -> None:
    snap = _replay(real_log, None, closed_rows=30)  # a snapshot carrying more closed positions than fit

    def count(frame: str, name: str) -> int:
        lines = pane(frame, name)
        return 0 if lines is None else len(body(lines))

    small, mid, big = (frame_text(snap, w, h) for w, h in ((80, 24), (120, 45), (200, 60)))
    assert count(small, "closed") <= count(mid, "closed") < count(big, "closed")
    assert count(small, "timeline") < count(mid, "timeline") <= count(big, "timeline")
    # wider messages: the timeline pane takes the width the funding pane leaves
    assert len(pane(big, "timeline")[0]) > len(pane(mid, "timeline")[0]) > len(pane(small, "timeline")[0])
    # at 200 columns the open positions' table uses the width, the liquidation columns among the first kept
    two = frame_text(snaps["two_open_in_min_hold"], 200, 60)
    header = next(x for x in body(pane(two, "positions")) if "Liq" in x and "Entry" in x)
    assert len(header.rstrip()) >= 190


def test_columns_do_not_jump_between_frames(real_log: Path) -> None:
    """The same position an hour after opening and a day and a half later (age 1h00m → 1d12h, erosion, PnL all
    wider): the header of the positions pane — where every column starts — is the same."""
    first = first_position_alone(real_log, timedelta(hours=36))
    a = _replay(real_log, (first.opened + timedelta(hours=1)).isoformat())
    b = _replay(real_log, (first.opened + timedelta(hours=36)).isoformat())
    assert [p.position_id for p in a.positions] == [p.position_id for p in b.positions] == [first.position_id]
    for width, height in SIZES:
        ha = body(pane(frame_text(a, width, height), "positions"))[:3]
        hb = body(pane(frame_text(b, width, height), "positions"))[:3]
        assert ha == hb, (width, height)


def test_pages_move_through_a_cut_pane(real_log: Path) -> None:
    snap = _replay(real_log, None, closed_rows=30)
    rows = [p for p in snap.positions if p.lifecycle in ("closed", "rolled_back")]
    first = pane(frame_text(snap, 120, 45), "closed")
    paged = pane(frame_text(snap, 120, 45, pages={"closed": 3}), "closed")
    assert rows[0].position_id in body(first)[2] and rows[3].position_id in body(paged)[2]
    assert note(paged).startswith("↑ 3 above · … ")
    assert more(note(paged), "closed positions?") == more(note(first), "closed positions?") - 3
    # past the end: the last full page
    last = pane(frame_text(snap, 120, 45, pages={"closed": 10_000}), "closed")
    assert rows[-1].position_id in body(last)[-1] and "more closed" not in note(last)
    # the timeline pages back in time, open positions page too
    tl = pane(frame_text(snap, 80, 24, pages={"timeline": 2}), "timeline")
    assert note(tl).startswith("↑ 2 above")
    assert snap.recent_events[-3].message[:8] in body(tl)[2]  # the third newest event first
    many = reducer_with_positions(12).snapshot()
    pos = pane(frame_text(many, 100, 30, pages={"positions": 4}), "positions")
    assert "pos0004-" in body(pos)[3] and note(pos).startswith("↑ 4 above")


def test_live_frame_and_natural_frame_agree(snaps: dict[str, DashboardSnapshot]) -> None:
    """The live view and ``arbtail --once`` draw the same panes: the natural-height frame (no height) shows
    everything the snapshot holds, and the sized frame shows a part of the same lines."""
    snap = snaps["one_open_seven_closed"]
    natural = frame_text(snap, 120)
    sized = frame_text(snap, 120, 45)
    pos_n, pos_s = pane(natural, "positions"), pane(sized, "positions")
    assert body(pos_n) == body(pos_s)  # the open position: the same lines
    assert "more" not in note(pane(natural, "timeline"))
