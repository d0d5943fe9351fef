"""The risk figures as the three views show them (domain review): a leg past its liquidation price, a venue with
no equity left, the venue nearest liquidation beside the portfolio's summed headroom, the hours of history a VaR
needs and the window its stress covers, and the near-liquidation flag told apart from a rebalance.

* Liquidation distance, signed: long (mark − LP) / mark · 100, short (LP − mark) / mark · 100; ≤ 0 is at or past
  the liquidation price: level ``danger`` even without a threshold, shown negative, red, ``PAST LIQ``.
* An account with equity ≤ 0 has no margin ratio nor headroom %: shown ``EQUITY ≤ 0`` (red), never ``n/a``.
* Collateral is not shared between venues: the summed maintenance headroom is shown with its worst venue (an
  account with equity ≤ 0 first, else the lowest headroom %).
* ``n/a (needs N h)``: N hours of marks (168 one-day scenarios need 168 + 24 h); stress = the worst day of the
  30 days of history kept.
* ``risk.on_liquidation_risk`` (close / rebalance) is not in the events: a leg near liquidation reads ``NEAR LIQ``,
  ``REBALANCE`` only once collateral moved or a rebalance is pending.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from events_builder import Events, build
from support_browser import arbtail_serve, browser_page
from support_strategies import write_jsonl
from test_dashboard_risk import NEEDED_HOURS, _account, _open_position, _reducer, _update, built_run

from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.render_plain import account_line, plain_summary, risk_line
from arbdash.dashboard.render_rich import PAST_LIQ_STYLE, _liq_cells, _PortfolioPane, frame_text
from arbdash.logging_pipeline.events import PositionRebalanced

D = Decimal


def _red_words(text: Any) -> list[str]:
    """The substrings of a Rich ``Text`` styled bold red by a span."""
    return [text.plain[s.start : s.end] for s in text.spans if str(s.style) == "bold red"]


# --- 1. signed liquidation distance ---------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [None, "5"])
@pytest.mark.parametrize(("long_lp", "short_lp", "dist"), [("101", "99", "-1"), ("100", "100", "0")])
def test_a_leg_past_its_liquidation_price_reads_negative_danger_and_past_liq(
    threshold: str | None, long_lp: str, short_lp: str, dist: str
) -> None:
    e, events = _open_position(threshold)  # marks 100 on both venues
    events.append(_update(e, long_lp, short_lp))
    snap = _reducer(events).snapshot()
    (p,) = snap.positions
    lg, sh = p.legs["binance"], p.legs["bybit"]
    # a long whose mark (100) is below its LP, a short whose mark is above: past it, never a "safe" distance
    assert (lg.side, sh.side) == ("long", "short")
    assert lg.liquidation_distance_pct == (D(100) - D(long_lp)) / D(100) * 100 == D(dist)
    assert sh.liquidation_distance_pct == (D(short_lp) - D(100)) / D(100) * 100 == D(dist)
    assert lg.liquidation_level == sh.liquidation_level == "danger"  # with or without a threshold
    assert p.near_liquidation and not p.rebalance_flag
    text = plain_summary(snap)
    shown = f"{D(dist):.2f}"
    assert f"({shown} %) PAST LIQ" in text and "AT RISK" not in text
    dists, styles = _liq_cells(p)[1]
    assert dists.split("\n") == [shown, shown] and styles == (PAST_LIQ_STYLE, PAST_LIQ_STYLE)
    assert "red" in PAST_LIQ_STYLE


def test_a_safe_long_and_a_safe_short_keep_a_positive_distance() -> None:
    e, events = _open_position(None)
    events.append(_update(e, "80", "125"))
    (p,) = _reducer(events).snapshot().positions
    assert p.legs["binance"].liquidation_distance_pct == D(20)
    assert p.legs["bybit"].liquidation_distance_pct == D(25)
    assert p.legs["binance"].liquidation_level is None and not p.near_liquidation


# --- 2, 3. a venue with no equity; the venue nearest liquidation ----------------------------------------------


def _with_accounts(*accounts: tuple[str, str, str]) -> DashboardSnapshot:
    e, events = _open_position()
    for venue, equity, mm in accounts:
        kw: dict[str, Any] = {"available_balance": "0"}
        if D(equity) <= 0:
            kw["margin_ratio"] = None
        events.append(_account(e, venue, equity, mm, **kw))
    return _reducer(events).snapshot()


def test_a_venue_with_no_equity_is_shown_so_in_red_never_n_a() -> None:
    snap = _with_accounts(("binance", "5000", "50"), ("bybit", "-50", "45"))
    a = {x.venue: x for x in snap.accounts}["bybit"]
    assert a.margin_ratio is None and a.mm_headroom_pct is None and a.mm_headroom_usd == D(-95)
    line = account_line(a)
    assert line.startswith(
        "bybit equity -50.00 · margin ratio EQUITY ≤ 0 · mm headroom -95.00 USD (EQUITY ≤ 0)"
    )
    assert "n/a" not in line
    # the portfolio sums 4,855 USD of headroom; the bankrupt venue is named beside it
    p = snap.portfolio
    assert p.mm_headroom_usd == D(4855)
    assert (p.mm_headroom_worst_venue, p.mm_headroom_worst_usd, p.mm_headroom_worst_pct) == (
        "bybit",
        D(-95),
        None,
    )
    assert "mm headroom 4,855.00 USD (98.1%) (worst: bybit -95.00 USD, EQUITY ≤ 0)" in risk_line(snap)
    pane = _PortfolioPane(snap)
    assert "EQUITY ≤ 0" in _red_words(pane.risk)
    (bybit,) = [t for t in pane.accounts if t.plain.startswith("  bybit equity")]
    assert _red_words(bybit) == ["EQUITY ≤ 0", "EQUITY ≤ 0"]
    assert "worst: bybit -95.00 USD, EQUITY ≤ 0" in frame_text(snap, 240)


def test_the_worst_venue_is_the_one_nearest_liquidation_not_the_smallest() -> None:
    # hyperliquid holds the fewest dollars of headroom (10 USD) but carries no margin (100 %); bybit is at 5 %
    snap = _with_accounts(("binance", "5000", "50"), ("bybit", "400", "380"), ("hyperliquid", "10", "0"))
    p = snap.portfolio
    assert p.mm_headroom_usd == D(4950 + 20 + 10)
    assert (p.mm_headroom_worst_venue, p.mm_headroom_worst_usd) == ("bybit", D(20))
    assert p.mm_headroom_worst_pct == D(20) / D(400) * 100
    assert "mm headroom 4,980.00 USD (92.1%) (worst: bybit 20.00 USD, 5.0 %)" in plain_summary(snap)
    assert _red_words(_PortfolioPane(snap).risk) == []


def test_no_accounts_no_worst_venue() -> None:
    _, events = _open_position()
    p = _reducer(events).snapshot().portfolio
    assert p.mm_headroom_usd is None and p.mm_headroom_worst_venue is None and p.mm_headroom_worst_usd is None


# --- 5. near liquidation is not a rebalance -------------------------------------------------------------------


def test_near_liquidation_reads_near_liq_and_rebalance_only_once_collateral_moves() -> None:
    e, events = _open_position("5")
    events += [
        _account(e, "binance", "900", "45"),
        _account(e, "bybit", "1100", "55"),
        _update(e, "93", "120"),
    ]
    (p,) = _reducer(events).snapshot().positions
    assert p.legs["binance"].liquidation_level == "warn" and p.near_liquidation and not p.rebalance_flag
    text = plain_summary(_reducer(events).snapshot())
    assert "P1 BTC imbalance -200.00 USD (binance − bybit equity) · NEAR LIQ" in text
    assert "REBALANCE" not in text
    events.append(
        e.emit(
            build(
                PositionRebalanced,
                position_id="P1",
                venue="binance",
                reason="LIQUIDATION_RISK_BINANCE",
                amount_usd="100",
                from_venue="bybit",
                to_venue="binance",
            )
        )
    )
    (p,) = _reducer(events).snapshot().positions
    assert p.rebalance_flag and p.near_liquidation
    assert "· NEAR LIQ · REBALANCE (moved 100 bybit→binance)" in plain_summary(_reducer(events).snapshot())


# --- every view of one log ------------------------------------------------------------------------------------


def risky_run() -> list[dict[str, Any]]:
    """``built_run`` with exactly the hours a VaR needs, then: binance's account healthy, bybit's equity below
    zero, and the long leg's liquidation price above its venue's mark (past it)."""
    events = built_run(NEEDED_HOURS)
    e = Events()
    e.seq, e.market = events[-1]["seq"], events[-1]["market_ts"]
    last = {ev["venue"]: D(ev["mark_price"]) for ev in events if ev["event"] == "market.mark_price"}
    events += [
        _account(e, "binance", "5000", "50", available_balance="0"),
        _account(e, "bybit", "-50", "45", margin_ratio=None, available_balance="0"),
        _update(e, str(last["binance"] + 100), str(last["bybit"] * 2)),
    ]
    return events


def test_the_plain_and_rich_views_of_a_risky_book() -> None:
    snap = _reducer(risky_run()).snapshot()
    (p,) = snap.positions
    assert (
        p.legs["binance"].liquidation_distance_pct is not None
        and p.legs["binance"].liquidation_distance_pct < 0
    )
    text = plain_summary(snap)
    assert re.search(r"liq binance [\d,.]+ \(-0\.\d\d %\) PAST LIQ", text), text
    assert "· PAST LIQ" in text and "REBALANCE" not in text
    assert "stress (worst day, last 8 d)" in text and "needs" not in text
    frame = frame_text(snap, 300)
    for words in ("stress (worst day, last 8 d)", "worst: bybit -95.00 USD, EQUITY ≤ 0", "PAST LIQ"):
        assert words in frame, words


async def test_the_web_page_shows_the_same_risks(tmp_path: Path) -> None:
    """``arbtail serve`` on the risky log: the page names the bankrupt venue (red, not n/a) in the accounts table
    and beside the summed headroom, the leg past its liquidation price (red, PAST LIQ), and the stress window."""
    log_path = write_jsonl(tmp_path / "risky.jsonl", risky_run())
    with arbtail_serve(log_path) as url:
        async with browser_page() as page:
            await page.goto(url + "/")
            await page.locator("#p-accounts tbody tr").first.wait_for(timeout=10_000)
            rows = await page.evaluate(
                """() => [...document.querySelectorAll('#p-accounts tbody tr')].map(
                    (r) => [...r.querySelectorAll('td')].map((c) => [c.textContent, c.querySelector('.bad') != null]))"""
            )
            by_venue = {row[0][0]: row for row in rows}
            bybit = by_venue["bybit"]
            assert bybit[2] == ["equity ≤ 0", True] and bybit[3][0] == "-95.00 (equity ≤ 0)" and bybit[3][1]
            assert not by_venue["binance"][2][1]
            assert all(NA not in cell for row in rows for cell, _ in row)
            worst = page.locator("#mm-worst")
            assert await worst.inner_text() == "bybit -95.00 USD (equity ≤ 0)"
            assert "bad" in (await worst.get_attribute("class") or "")
            liq = await page.locator("#p-open tbody tr").first.inner_text()
            assert re.search(r"binance -0\.\d\d% PAST LIQ", liq), liq
            assert await page.locator("#p-accounts .tag.bad", has_text="PAST LIQ").count() == 1
            assert await page.locator("#p-accounts .tag", has_text="REBALANCE").count() == 0
            risk = await page.locator("#risk").inner_text()
            assert "stress (worst day, last 8 d)" in risk and "needs" not in risk
            assert not page.problems, page.problems


NA = "n/a"
