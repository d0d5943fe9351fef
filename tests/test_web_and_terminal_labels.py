"""What the views say where a newcomer could misread them (terminal: Rich and plain; the web page in a browser):

* a leg no price can liquidate (the bot gives no liquidation price while it logs the venue's cross-margined
  account) reads ``none`` in the liquidation price / distance cells, never ``—`` (which stays: not known — an
  older bot that logs no accounts); the legend says so, and the distance is signed (no ``|mark − liq px|``);
* the funding pane's row of a symbol whose strategy has no APR entry rule (``settlement_timing``) says
  ``no rule`` in ``vs min`` (its Net % stays unknown);
* ``Esc`` closes the help page (``?``) in every view; in the viewer it quits only from the frame;
* the flatten question counts its positions in words (``the 1 open position`` / ``all 2 open positions``);
* the web page: the collateral imbalance names its venues (``binance − bybit equity``), the minimum hold says
  ``ends in 3h00m``, the exposure bar's empty track is dark and its fill proportional.
"""

from __future__ import annotations

import asyncio
import io
import re
import struct
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_builder import Events, build, fill, leg, mark, opened, started
from rich.console import Console
from support_browser import arbtail_serve, browser_page
from support_strategies import write_jsonl
from test_dashboard_risk import _account, _update

from arbdash.dashboard.focus import focus_snapshot
from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.operator_keys import OperatorKeys
from arbdash.dashboard.pane_keys import PaneKeys
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import best_line, entry_rule, legend_text, plain_summary
from arbdash.dashboard.render_rich import _best_row, _liq_cells, build_layout, frame_text
from arbdash.dashboard.sources.file_source import JsonlSource
from arbdash.logging_pipeline.events import (
    FundingRate,
    PositionUpdated,
    StrategyStarted,
    VenueConnected,
)
from arbdash.tools.arbtail_view import view

D = Decimal
NONE_LEGEND = "none: no price can liquidate it (the account covers any move)"


def _rate(e: Events, venue: str, symbol: str, rate: str, interval: int) -> dict[str, Any]:
    return e.emit(
        build(
            FundingRate,
            venue=venue,
            symbol=symbol,
            rate=rate,
            interval_s=interval,
            apr=D(rate) * 365 * 86400 / interval,
            next_funding_ts=e.market,
        )
    )


#: the entry rule each strategy type announces in ``strategy.started`` (as the bot's strategies do)
ENTRY_RULES = {"funding_arbitrage": "net_apr", "settlement_timing": "settlement_window"}


def _instance(e: Events, name: str, type_: str, symbol: str) -> dict[str, Any]:
    return e.emit(
        build(
            StrategyStarted,
            type=type_,
            version="1.0.0",
            venues=["binance", "bybit"],
            symbols=[symbol],
            max_positions=2,
            max_total_exposure_usd="500",
            entry_rule=ENTRY_RULES[type_],
        ),
        f"strategy {name} started",
        strategy=name,
    )


def ui_run(
    *,
    accounts: bool = True,
    long_lp: str | None = None,
    short_lp: str | None = "112",
    then: tuple[str | None, str | None] | None = None,
    lps: bool = True,
) -> list[dict]:
    """A session of two instances: ``alpha`` (funding_arbitrage, BTC) holds P1 (long binance / short bybit, 50 of
    1,000 USD exposure, minimum hold 3 h more) and ``beta`` (settlement_timing, ETH) holds nothing; ETH's rates
    give a positive spread; both venues' accounts logged (``accounts``), the liquidation prices as given (a
    second update with ``then``'s); ``lps=False``: an update carrying no liquidation price fields at all, only
    a strategy's own figures (as ``settlement_timing``'s)."""
    e = Events()
    out = [started(e, strategy="alpha+beta", symbols=["BTC", "ETH"], max_total_exposure_usd="1000")]
    out += [
        _instance(e, "alpha", "funding_arbitrage", "BTC"),
        _instance(e, "beta", "settlement_timing", "ETH"),
    ]
    for venue in ("binance", "bybit"):
        out.append(
            e.emit(
                build(
                    VenueConnected,
                    venue=venue,
                    quote="USDT",
                    funding_interval_s=28800,
                    taker_fee_rate="0.0005",
                    maker_fee_rate="0.0002",
                )
            )
        )
    out += [mark(e, "binance", "100"), mark(e, "bybit", "100"), mark(e, "binance", "2000", "ETH")]
    out += [mark(e, "bybit", "2001", "ETH"), _rate(e, "binance", "ETH", "0.0001", 28800)]
    out.append(_rate(e, "bybit", "ETH", "0.0004", 28800))
    e.strategy = "alpha"
    out += [
        fill(e, "P1", "binance", "buy", "0.5", "100", "0.025"),
        fill(e, "P1", "bybit", "sell", "0.5", "100", "0.025"),
    ]
    out.append(
        opened(
            e,
            "P1",
            [leg("binance", "long", "0.5", "100", "0.025"), leg("bybit", "short", "0.5", "100", "0.025")],
        )
    )
    e.strategy = None
    if accounts:
        out += [_account(e, "binance", "1200", "5"), _account(e, "bybit", "1000", "5")]
    e.strategy = "alpha"
    hold = {"hold_code": "MIN_HOLD_ACTIVE", "hold_until": "2026-03-01T11:00:00+00:00"}
    if not lps:
        out.append(e.emit(build(PositionUpdated, position_id="P1", figures={"captured": D(1)}, **hold)))
    else:
        out.append(_update(e, long_lp, short_lp, **hold))
    if then is not None:
        out.append(_update(e, *then, **hold))
    e.strategy = None
    return out


def _snap(events: list[dict[str, Any]]) -> DashboardSnapshot:
    r = Reducer()
    r.feed_lines([orjson.dumps(ev) for ev in events])
    return r.snapshot()


# --- liquidation: none (no price can) vs — (not known) -------------------------------------------------------


def test_a_leg_no_price_can_liquidate_reads_none_in_every_view() -> None:
    snap = _snap(ui_run())
    (p,) = snap.positions
    long, short = p.legs["binance"], p.legs["bybit"]
    assert long.liquidation_price is None and long.no_liquidation_price
    assert short.liquidation_price == D(112) and not short.no_liquidation_price
    prices, dists = _liq_cells(p)
    assert prices[0].split("\n")[0] == "none" and dists[0].split("\n") == ["none", "12.00"]
    assert "liq binance none, bybit 112" in plain_summary(snap)
    frame = frame_text(snap, 220)
    assert re.search(r"binance L .* none +none ", frame), frame


def test_an_older_bot_without_accounts_keeps_the_dash_for_an_unknown_price() -> None:
    snap = _snap(ui_run(accounts=False))
    (p,) = snap.positions
    assert not p.legs["binance"].no_liquidation_price
    prices, dists = _liq_cells(p)
    assert prices[0].split("\n")[0] == "—" and dists[0].split("\n")[0] == "—"
    assert "liq binance —, bybit 112" in plain_summary(snap)


def test_a_strategy_that_reports_no_liquidation_prices_leaves_them_unknown() -> None:
    """``settlement_timing``'s updates carry its own figures and no LP at all: each leg stays ``—``, not
    ``none`` (nothing was said about them), accounts logged or not."""
    (p,) = _snap(ui_run(lps=False)).positions
    assert not any(leg.no_liquidation_price for leg in p.legs.values())
    prices, dists = _liq_cells(p)
    assert prices[0].split("\n") == ["—", "—"] and dists[0].split("\n") == ["—", "—"]


def test_once_a_position_reported_a_price_an_update_without_any_means_none_for_both() -> None:
    snap = _snap(ui_run(then=(None, None)))
    (p,) = snap.positions
    assert p.legs["binance"].no_liquidation_price and p.legs["bybit"].no_liquidation_price
    assert "liq binance none, bybit none" in plain_summary(snap)
    # and a price reported again replaces the none
    (p,) = _snap(ui_run(then=(None, "115"))).positions
    assert p.legs["bybit"].liquidation_price == D(115) and not p.legs["bybit"].no_liquidation_price


def test_the_legend_explains_none_and_the_signed_distance() -> None:
    text = legend_text()
    assert NONE_LEGEND in text
    assert "|mark − liq px|" not in text
    assert "signed distance side · (mark − liq px) / mark · 100 (negative: past it)" in text


# --- the funding pane: a strategy with no APR entry rule -------------------------------------------------------


def test_a_settlement_timing_symbol_says_no_rule_in_vs_min() -> None:
    snap = _snap(ui_run())
    by_symbol = {b.symbol: b for b in snap.funding.best}
    eth = by_symbol["ETH"]
    assert eth.no_entry_rule and eth.net_apr is None and eth.vs_min is None and eth.spread_apr is not None
    cells = _best_row(eth)
    assert cells[3][0] == "—" and cells[4] == ("no rule", "dim")  # Net % unknown, vs min: why
    assert "(no rule: its strategy has no APR entry rule)" in best_line(eth)
    frame = frame_text(snap, 220)
    assert re.search(r"ETH +binance/bybit +\+[\d.]+ +— +no rule", frame), frame
    assert "BTC" not in by_symbol or not by_symbol["BTC"].no_entry_rule
    # the whole session has a funding_arbitrage instance: its rule is not announced yet (not "no rule")
    assert entry_rule(snap) == "entry rule not announced"
    # focused on the settlement_timing instance: it has none
    beta = focus_snapshot(snap, "beta")
    assert entry_rule(beta) == "no APR entry rule"
    assert [b.symbol for b in beta.funding.best] == ["ETH"]
    assert entry_rule(focus_snapshot(snap, "alpha")) == "entry rule not announced"


# --- keys ---------------------------------------------------------------------------------------------------------


def _render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=120, height=40, record=True)
    console.print(renderable)
    return console.export_text()


def test_esc_closes_the_help_page() -> None:
    snap = _snap(ui_run())
    keys = PaneKeys()
    assert not keys.press("esc", snap)  # on the frame Esc is not these keys' (the view's: quit, cancel)
    assert keys.press("?", snap) and keys.legend
    assert "Esc" in _render(keys.body(snap))  # the help page lists it
    assert keys.press("esc", snap) and not keys.legend
    assert _render(keys.body(snap)) == _render(build_layout(snap))


def test_in_the_viewer_esc_closes_help_first_then_quits(tmp_path: Path) -> None:
    log_path = write_jsonl(tmp_path / "ui.jsonl", ui_run())

    async def run(keys: tuple[str, ...]) -> int:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for key in keys:
            queue.put_nowait(key)
        console = Console(file=io.StringIO(), width=120, height=40, force_terminal=True, record=True)
        async with JsonlSource(log_path) as src:
            end = Reducer()
            await src.load(end)
            await view(src, end, console, clock="market", keys=queue)
        return queue.qsize()

    assert asyncio.run(run(("?", "esc", "q"))) == 0  # Esc closed the help page; q quit
    assert asyncio.run(run(("esc", "q"))) == 1  # from the frame Esc quits


def test_the_flatten_question_counts_in_words() -> None:
    snap = _snap(ui_run())
    keys = OperatorKeys(lambda command: None)  # type: ignore[arg-type,return-value]
    keys.press("F", snap)
    assert keys.prompt() == "close the 1 open position and pause entries? y / n"
    keys.press("n", snap)
    none_open = _snap(ui_run()[:3])
    keys.press("F", none_open)
    prompt = keys.prompt()
    assert prompt is not None and "0 open positions" not in prompt and "none is open" in prompt


# --- the web page ----------------------------------------------------------------------------------------------


def _png_rows(data: bytes) -> list[list[tuple[int, int, int]]]:
    """The RGB pixels of a PNG (8-bit RGB or RGBA, not interlaced: what chromium's screenshots are)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    bpp = 3 if ctype == 2 else 4
    raw, stride, prev, rows = zlib.decompress(idat), width * bpp, bytearray(width * bpp), []
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp : x * bpp + 3]) for x in range(width)])
        prev = line
    return rows  # type: ignore[return-value]


def _dark(px: tuple[int, int, int]) -> bool:
    return sum(px) / 3 < 80


async def test_the_web_page_names_the_imbalance_venues_the_hold_end_none_and_no_rule(tmp_path: Path) -> None:
    log_path = write_jsonl(tmp_path / "ui.jsonl", ui_run(then=(None, None)))
    with arbtail_serve(log_path) as url:
        async with browser_page() as page:
            await page.goto(url + "/")
            await page.locator("#p-accounts .line").first.wait_for(timeout=10_000)
            imbalance = await page.locator("#p-accounts .line").first.inner_text()
            assert "+200.00 USD imbalance (binance − bybit equity)" in imbalance, imbalance
            row = await page.locator("#p-open tbody tr").first.inner_text()
            assert "MIN_HOLD_ACTIVE (ends in 3h00m)" in row, row
            liq = page.locator("#p-open tbody tr td").nth(-2)
            assert await liq.inner_text() == "none"
            assert "no price can liquidate" in (await liq.locator("span").get_attribute("title") or "")
            funding = await page.locator("#p-funding tbody").first.inner_text()
            eth = next(line for line in funding.splitlines() if line.startswith("ETH"))
            assert "no rule" in eth and "n/a" in eth, eth  # Net% unknown, vs min: why
            # the exposure bar: 50 / 1,000 USD → a 5 % fill on a dark track
            bar = page.locator("#exposure-bar")
            assert await bar.evaluate("m => [m.value, m.max]") == [50, 1000]
            rows = _png_rows(await bar.screenshot())
            mid = rows[len(rows) // 2]
            assert all(_dark(px) for px in mid[len(mid) // 4 : -2]), "the empty track must be dark"
            assert not _dark(mid[2]), "the filled part shows"
            assert not page.problems, page.problems


async def test_the_web_exposure_bar_is_empty_at_zero(tmp_path: Path) -> None:
    e = Events()
    events = [started(e, max_total_exposure_usd="4500"), mark(e, "binance", "100"), mark(e, "bybit", "100")]
    log_path = write_jsonl(tmp_path / "empty.jsonl", events)
    with arbtail_serve(log_path) as url:
        async with browser_page() as page:
            await page.goto(url + "/")
            bar = page.locator("#exposure-bar")
            await bar.wait_for(timeout=10_000)
            assert await bar.evaluate("m => [m.value, m.max]") == [0, 4500]
            rows = _png_rows(await bar.screenshot())
            mid = rows[len(rows) // 2]
            assert all(_dark(px) for px in mid[2:-2]), "0 / 4,500: an empty (dark) track"
            assert not page.problems, page.problems


def test_an_instance_that_does_not_say_its_entry_rule_is_not_shown_as_having_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An older log's ``strategy.started`` has no ``entry_rule``: its symbols are not "no rule" (unknown is not
    none) — the rule comes from the event, not from a list of strategy types in the dashboard."""
    monkeypatch.setitem(ENTRY_RULES, "settlement_timing", None)
    snap = _snap(ui_run())
    eth = next(b for b in snap.funding.best if b.symbol == "ETH")
    assert not eth.no_entry_rule and "no rule" not in frame_text(snap, 220)
