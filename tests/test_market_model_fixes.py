"""Issue 11, items 6 and 7: the shipped data (cut, provenance, stress) and the market-model fixes.

Each test here fails on the code before the fix it names: the premium from the clamp formula, Hyperliquid funding
valued at its oracle, the "last settled" rate label, slippage in the entry cost, margin at the mark, and the
``SPREAD_FLIPPED`` exit code (with old ``DIVERGENCE_FLIPPED`` logs still replaying).
"""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from support_bot import START, make_config, market_for

from arbdash.bot.config import load_config
from arbdash.bot.strategies.funding_arbitrage.position_manager import PositionManager, PositionView
from arbdash.bot.strategies.funding_arbitrage.scanner import rank_opportunities
from arbdash.bot.venues.base import FundingQuote
from arbdash.bot.venues.market_data import default_data_dir, load_market_data
from arbdash.bot.venues.paper import PaperMarket
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import legend_text, plain_summary
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.snapshot import _leg_snapshot
from arbdash.dashboard.sources.jsonl import read_file
from arbdash.dashboard.state import LegState
from arbdash.helpers.formulas import (
    net_spread_apr,
    premium_band_from_funding_rate,
    premium_from_funding_rate,
    round_trip_cost_fraction,
)
from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline.events import EXIT_REASONS, LEGACY_EXIT_REASONS

D = Decimal
DATA = default_data_dir()
SHIPPED = load_config(Path(__file__).parents[1] / "configs" / "funding_arb_paper.yml")
V1_LOG = Path(__file__).parent / "fixtures" / "v1_session.jsonl"


# --- item 6: the data ------------------------------------------------------------------------------------------


def test_manifest_lists_every_shipped_file_with_its_rows_and_sha256() -> None:
    with (DATA / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    listed = {r["file"] for r in rows}
    on_disk = {str(p.relative_to(DATA)) for p in DATA.rglob("*.csv") if p.name != "manifest.csv"}
    assert listed == on_disk
    for r in rows:
        raw = (DATA / r["file"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == r["sha256"], r["file"]
        assert raw.count(b"\n") - 1 == int(r["rows"]), r["file"]  # one header line, "\n" ends every line


def test_shipped_window_starts_before_the_crash_and_carries_five_bases() -> None:
    data = load_market_data()
    first, last = data.window()
    assert first == datetime(2026, 1, 24, tzinfo=UTC) and last == datetime(2026, 5, 24, 7, tzinfo=UTC)
    assert data.symbols == ["BTC", "DOGE", "ETH", "SOL", "XRP"]
    instruments = SHIPPED.market.instruments
    assert set(data.symbols) <= set(instruments)
    # real stress inside the default run: some 24 h stretch of a default symbol drops more than 10 % (high → low)
    worst = D(0)
    for symbol in SHIPPED.strategy.symbols:
        bars = data.klines[symbol]
        for i in range(24, len(bars)):
            peak = max(b.high for b in bars[i - 24 : i])
            worst = min(worst, bars[i].low / peak - 1)
    assert worst < D("-0.10")


# --- item 7: premium from the clamp formula --------------------------------------------------------------------


def test_premium_inverts_the_clamp_formula() -> None:
    # unsaturated: F_8h equals the interest rate → P anywhere in [I − c, I + c] = [−0.04 %, +0.06 %]
    assert premium_band_from_funding_rate(D("0.0001"), 28800) == (D("-0.0004"), D("0.0006"))
    assert premium_band_from_funding_rate(D("0.0000125"), 3600) == (D("-0.0004"), D("0.0006"))
    # the documented choice inside the band: the point nearest zero
    assert premium_from_funding_rate(D("0.0001"), 28800) == 0
    # saturated above: F = P − c → P = F + 0.05 %
    assert premium_from_funding_rate(D("0.0003"), 28800) == D("0.0008")
    # saturated below: F = P + c → P = F − 0.05 % (Hyperliquid's hourly rate is 1/8 of its 8 h rate)
    assert premium_from_funding_rate(D("9.7737e-06"), 3600) == D("9.7737e-06") * 8 - D("0.0005")
    # the formula round-trips: F = P + clamp(I − P, ±c) for the premium the model picks
    for rate, interval in [
        (D("0.00031"), 28800),
        (D("-0.0002"), 28800),
        (D("0.0001"), 28800),
        (D("3e-6"), 3600),
    ]:
        p = premium_from_funding_rate(rate, interval)
        f_8h = p + min(max(D("0.0001") - p, D("-0.0005")), D("0.0005"))
        assert f_8h == rate * 28800 / interval


def test_modelled_basis_uses_the_clamp_not_f_minus_i() -> None:
    # 2026-02-12 16:00 UTC: Bybit BTC settles at exactly the interest rate 0.0001 (clamp unsaturated: P = 0 by the
    # documented choice), Binance at −0.00001728 (saturated: P = F − 0.05 % = −0.00051728). The old F − I estimate
    # put the basis at 0 − (−0.00011728) = 1.17 bp; the clamp formula puts it at 5.17 bp.
    t = datetime(2026, 2, 12, 16, tzinfo=UTC)
    cfg = make_config({"binance": "0", "bybit": "0"})
    market = PaperMarket(load_market_data(venues=["binance", "bybit"], symbols=["BTC"]), cfg)
    market.advance_to(t)
    price = market.venues["binance"].mark_price("BTC")
    assert market.venues["bybit"].funding_quote("BTC").rate == D("0.0001")
    assert market.venues["binance"].funding_quote("BTC").rate == D("-0.00001728")
    assert market.venues["bybit"].mark_price("BTC") == (price * (1 + D("0.00051728"))).quantize(D("0.1"))


# --- item 7: Hyperliquid values funding at its oracle -----------------------------------------------------------


async def test_hyperliquid_funding_is_valued_at_the_oracle_price() -> None:
    market = market_for(make_config({"binance": "0", "hyperliquid": "0"}))
    hl = market.venues["hyperliquid"]
    await hl.market_order("BTC", "buy", D("0.010"), order_id="t-1")
    step = market.advance_to(START + timedelta(hours=1))
    (credit,) = [c for c in step.credits if c.venue == "hyperliquid"]
    assert hl.mark_price("BTC") != hl.index_price("BTC")  # the modelled mark carries a premium here
    assert credit.mark_price == hl.index_price("BTC")  # valued at the oracle (index proxy), not the mark
    assert credit.payment == -D("0.010") * hl.index_price("BTC") * credit.rate


# --- item 7: the rate beside "Next in" is the last settled one --------------------------------------------------


def _v1_snapshot():  # type: ignore[no-untyped-def]
    r = Reducer()
    read_file(V1_LOG, r)
    return r.snapshot()


def test_funding_table_labels_the_last_settled_rate() -> None:
    snap = _v1_snapshot()
    frame = frame_text(snap, 160)
    assert "Last bp" in frame and "Rate bp" not in frame
    assert "last settled rate" in plain_summary(snap)
    assert "Last bp" in legend_text() and "last settled" in legend_text()


# --- item 7: slippage in the entry cost -------------------------------------------------------------------------


def test_net_spread_counts_slippage_on_both_legs_open_and_close() -> None:
    # Hyperliquid (3 bp) / Binance (2 bp): slippage 2·(3 + 2) bp = 0.10 % a round trip, fees 2·(0.045 + 0.05) %
    cost = round_trip_cost_fraction(D("0.00045"), D("0.0005"), D(3), D(2))
    assert cost == D("0.0019") + D("0.0010")
    net = net_spread_apr(
        D("0.30"), D("0.00045"), D("0.0005"), D(168), long_slippage_bps=D(3), short_slippage_bps=D(2)
    )
    assert net == D("0.30") - D("0.0029") * 8760 / 168
    quotes = {
        ("hyperliquid", "BTC"): FundingQuote(D("0.0000125"), 3600, START),
        ("binance", "BTC"): FundingQuote(D("0.0003"), 28800, START),
    }
    fees = {"hyperliquid": D("0.00045"), "binance": D("0.0005")}
    (o,) = rank_opportunities(
        ["BTC"], quotes, fees, expected_hold_hours=D(168), slippage_bps={"hyperliquid": D(3), "binance": D(2)}
    )
    assert (o.long_venue, o.short_venue) == ("hyperliquid", "binance")
    assert o.net_apr == o.spread_apr - D("0.0029") * 8760 / 168


def test_the_scanner_reads_each_venues_configured_slippage() -> None:
    market = market_for(make_config({"binance": "0", "hyperliquid": "0"}))
    assert {v.slippage_bps for v in market.venues.values()} == {D(2)}  # make_config: 2 bp on every venue


# --- item 7: margin used at the mark ----------------------------------------------------------------------------


def test_margin_used_is_initial_margin_at_the_current_mark() -> None:
    leg = LegState(venue="binance", side="long")
    leg.qty = leg.opened_qty = D("0.010")
    leg.entry_price = D("60000")
    leg.leverage = D(3)
    snap = _leg_snapshot(leg, D("66000"))
    assert snap.margin == D("0.010") * D("66000") / 3  # 220, not 200 at the entry price
    assert _leg_snapshot(leg, None).margin == D("0.010") * D("60000") / 3  # no mark yet: the entry price


# --- item 7: SPREAD_FLIPPED -------------------------------------------------------------------------------------


def test_a_flipped_funding_spread_exits_with_spread_flipped() -> None:
    assert "SPREAD_FLIPPED" in EXIT_REASONS and "DIVERGENCE_FLIPPED" not in EXIT_REASONS
    assert LEGACY_EXIT_REASONS == {"DIVERGENCE_FLIPPED": "SPREAD_FLIPPED"}
    cfg = make_config({"binance": "0", "hyperliquid": "0"}).strategy
    pm = PositionManager(cfg, {}, None, get_logger("test.pm"))  # type: ignore[arg-type]

    class _Pos:
        def age_hours(self, now: datetime) -> Decimal:
            return D(1)

    view = PositionView(D("-0.01"), D(101), D(0))
    assert pm.exit_decision(_Pos(), view, START) == ("SPREAD_FLIPPED", None)  # type: ignore[arg-type]


def test_old_logs_with_divergence_flipped_still_replay_and_show_it() -> None:
    lines = V1_LOG.read_bytes().splitlines()
    assert any(b'"reason":"DIVERGENCE_FLIPPED"' in line for line in lines)  # an old-style line is in the log
    r = Reducer()
    read_file(V1_LOG, r)
    assert not r.stats.rejected and not r.stats.unknown
    snap = r.snapshot()
    assert any(p.exit_reason == "DIVERGENCE_FLIPPED" for p in snap.positions)
    assert "DIVERGENCE_FLIPPED" in frame_text(snap, 160)


@pytest.mark.parametrize("old", ["DIVERGENCE_FLIPPED"])
def test_legacy_codes_map_to_a_current_code(old: str) -> None:
    assert LEGACY_EXIT_REASONS[old] in EXIT_REASONS
