"""Venue accounts, maintenance-margin tiers, liquidation prices, the liquidation guard and an injected wick.

The arithmetic is checked against cases computed by hand from the cited formulas (Binance "How to Calculate
Liquidation Price of USDⓈ-M Futures Contracts", the venues' ``notional · MMR − maintenance amount``), not by
calling the code under test twice. The replay copies the shipped data into a tmp dir and gives one hourly SOL bar
a low 25 % under its open while a position is long SOL; the JSONL is then checked in plain Python.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from arbdash.bot.venues.accounts import (
    VenueAccount,
    liquidation_price,
    load_tiers,
    maintenance_margin,
    tier_for,
)
from arbdash.bot.venues.market_data import default_data_dir
from arbdash.helpers.formulas import liquidation_distance_pct as distance_pct

ROOT = Path(__file__).resolve().parent.parent
D = Decimal


# --- account arithmetic ---------------------------------------------------------------------------------------


def _binance_account(collateral: str) -> VenueAccount:
    tiers = load_tiers().for_venue("binance")
    return VenueAccount("binance", D(collateral), tiers, D(5))


def test_tier_rows_match_the_published_tables() -> None:
    t = load_tiers()
    btc = t.tiers("binance", "BTC")
    # Binance 2021-03-18: ≤50k 125x 0.40 %, ≤250k 100x 0.50 %, ≤1M 50x 1.00 %, ≤10M 20x 2.50 %
    assert [(r.cap, r.max_leverage, r.mmr) for r in btc[:4]] == [
        (D(50000), D(125), D("0.004")),
        (D(250000), D(100), D("0.005")),
        (D(1000000), D(50), D("0.01")),
        (D(10000000), D(20), D("0.025")),
    ]
    # cum(n) = cum(n−1) + floor(n)·(mmr(n) − mmr(n−1)): 0, 50, 50 + 250k·0.005 = 1,300, 1,300 + 1M·0.015 = 16,300
    assert [r.maintenance_amount for r in btc[:4]] == [D(0), D(50), D(1300), D(16300)]
    # Hyperliquid: MMR = half the initial margin rate at max leverage: BTC 40x → 1.25 %, SOL 20x → 2.5 %
    assert t.tiers("hyperliquid", "BTC")[0].mmr == D(1) / D(40) / 2
    assert t.tiers("hyperliquid", "SOL")[0].mmr == D("0.025")
    assert t.tiers("hyperliquid", "SOL")[1].maintenance_amount == D(70_000_000) * (D("0.05") - D("0.025"))
    # Bybit BTCUSDT: level 1 risk limit 2,000,000 USDT at 0.5 %
    assert (t.tiers("bybit", "BTC")[0].cap, t.tiers("bybit", "BTC")[0].mmr) == (D(2000000), D("0.005"))
    for venue in ("binance", "bybit", "hyperliquid"):
        for symbol in ("BTC", "ETH", "SOL", "XRP", "DOGE"):
            assert t.has(venue, symbol), (venue, symbol)


def test_maintenance_margin_uses_the_band_of_the_notional() -> None:
    btc = load_tiers().tiers("binance", "BTC")
    assert maintenance_margin(D(50000), tier_for(btc, D(50000))) == D(200)  # 50,000 · 0.4 %
    assert maintenance_margin(D(60000), tier_for(btc, D(60000))) == D(250)  # 60,000 · 0.5 % − 50


def test_account_figures_by_hand() -> None:
    a = _binance_account("1000")
    a.set_mark("BTC", D(50000))
    a.book_fill("BTC", D("0.01"), D(50000), D("0.25"))
    a.set_mark("BTC", D(48000))
    f = a.figures()
    assert f.wallet_balance == D("999.75")  # 1000 − 0.25 fee
    assert f.unrealized_pnl == D(-20)  # 0.01 · (48,000 − 50,000)
    assert f.equity == D("979.75")
    assert f.initial_margin == D(96)  # 480 / 5
    assert f.maintenance_margin == D("1.92")  # 480 · 0.4 %
    assert f.margin_ratio == D("1.92") / D("979.75")
    assert f.available_balance == D("883.75")
    a.book_funding(D("-1.5"))
    a.book_fill("BTC", D("-0.01"), D(49000), D("0.245"))
    g = a.figures()
    assert g.wallet_balance == D(1000) - D("0.25") - D("1.5") - D(10) - D("0.245")
    assert (g.unrealized_pnl, g.initial_margin, g.maintenance_margin) == (D(0), D(0), D(0))


def test_liquidation_price_long_by_hand() -> None:
    # wallet 149.75, long 0.01 BTC at 50,000, MMR 0.4 %, cum 0: equity = MM at P:
    # 149.75 + 0.01·(P − 50,000) = 0.01·P·0.004  →  P = 350.25 / 0.00996
    a = _binance_account("150")
    a.set_mark("BTC", D(50000))
    a.book_fill("BTC", D("0.01"), D(50000), D("0.25"))
    expected = D("350.25") / D("0.00996")
    assert a.liquidation_price("BTC") == expected
    assert (
        liquidation_price(
            wallet=D("149.75"),
            other_maintenance=D(0),
            other_unrealized=D(0),
            maintenance_amount=D(0),
            side=1,
            qty=D("0.01"),
            entry_price=D(50000),
            mmr=D("0.004"),
        )
        == expected
    )
    # the fee the venue keeps at that price: the leg's maintenance margin there
    assert a.liquidation_fee("BTC", D(35000)) == D(350) * D("0.004")
    # well collateralised: the formula's price is ≤ 0 → None
    rich = _binance_account("1000")
    rich.set_mark("BTC", D(50000))
    rich.book_fill("BTC", D("0.01"), D(50000), D(0))
    assert rich.liquidation_price("BTC") is None


def test_liquidation_price_short_cross_margined_by_hand() -> None:
    # Hyperliquid, short 0.01 BTC at 50,000 and long 1 ETH at 2,000 (mark 1,900) in the same account, wallet 100:
    # TMM₁ = 1,900 · 2 % = 38, UPNL₁ = −100;  LP = (100 − 38 − 100 + 0 + 500) / (0.01·0.0125 + 0.01)
    tiers = load_tiers().for_venue("hyperliquid")
    a = VenueAccount("hyperliquid", D(100), tiers, D(3))
    a.set_mark("BTC", D(50000))
    a.set_mark("ETH", D(2000))
    a.book_fill("BTC", D("-0.01"), D(50000), D(0))
    a.book_fill("ETH", D(1), D(2000), D(0))
    a.set_mark("ETH", D(1900))
    assert a.liquidation_price("BTC") == D(462) / D("0.010125")
    # moving collateral in lifts a short's LP by amount / (qty·MMR + qty)
    target = D(48000)
    need = a.collateral_for("BTC", target)
    assert need == (target - D(462) / D("0.010125")) * D("0.010125")
    a.transfer_in(need)
    assert a.liquidation_price("BTC") == target


def test_distance_and_insufficient_margin() -> None:
    assert distance_pct("long", D(100), D(80)) == D(20)  # a long 20 % above its liquidation price
    assert distance_pct("short", D(100), D(120)) == D(20)  # a short 20 % below
    assert distance_pct("long", D(100), D(105)) == D(-5)  # a long already 5 % past it: negative, never "safe"
    assert distance_pct("sell", D(100), D(95)) == D(-5)  # the short leg a sell opens
    with pytest.raises(ValueError):
        distance_pct("long", D(0), D(80))
    a = _binance_account("100")
    a.set_mark("BTC", D(50000))
    a.book_fill("BTC", D("0.009"), D(50000), D(0))  # 450 / 5 = 90 initial margin of 100
    assert a.available() == D(10)
    with pytest.raises(ValueError):
        a.transfer_out(D(11))


def test_what_may_leave_an_account_by_hand() -> None:
    """Unrealized profit stays (Binance ``maxWithdrawAmount``); a loss reduces what may leave; a transfer
    never brings the account's own holding nearer its liquidation price than asked."""
    a = _binance_account("1000")
    a.set_mark("BTC", D(50000))
    a.book_fill("BTC", D("0.01"), D(50000), D(0))
    a.set_mark("BTC", D(55000))  # +50 unrealized: equity 1,050, initial margin 550 / 5 = 110
    assert a.available() == D(940) and a.transferable() == D(890)  # min(wallet 1,000, equity) − 110
    with pytest.raises(ValueError):
        a.transfer_out(D(891))
    a.set_mark("BTC", D(45000))  # −50: equity 950, initial margin 90
    assert a.transferable() == D(860)
    # keep BTC ≥ 20 % from its liquidation price: LP = (wallet − 0.01·50,000) / (0.01·0.004 − 0.01) must stay
    # ≤ 36,000, so the wallet may drop to 500 − 36,000 · 0.00996 = 141.44: 858.56 may leave
    assert a.spare_collateral(D(20)) == D("858.56")
    a.transfer_out(D("858.56"))
    assert a.liquidation_price("BTC") == D(36000)
    assert distance_pct("long", D(45000), a.liquidation_price("BTC")) == D(20)
    assert a.spare_collateral(D(20)) == 0


def _paper_binance(collateral: str) -> object:
    """A paper Binance venue of the shipped config with ``collateral`` USD, no fees, no slippage, no failures."""
    from arbdash.bot.config import load_config
    from arbdash.bot.venues.paper import PaperVenue

    cfg = load_config(ROOT / "configs" / "funding_arb_paper.yml")
    vcfg = cfg.venues["binance"].model_copy(
        update={
            "collateral_usd": D(collateral),
            "leverage": D(10),
            "taker_fee": D(0),
            "slippage_bps": D(0),
            "order_failure_rate": D(0),
        }
    )
    return PaperVenue(
        "binance",
        quote="USDT",
        funding_interval_s=28800,
        config=vcfg,
        instruments=cfg.market.instruments,
        seed=1,
    )


def _entered(collateral: str, orders: list[tuple[str, str, str]]) -> tuple[Any, Any]:
    """A paper Binance account (``_paper_binance``) at 2026-01-01 00:00 with BTC at 60,000 and ETH at 3,000,
    after market ``orders`` ``(symbol, buy|sell, qty)``; returns the venue and the funding quote used."""
    import asyncio

    from arbdash.bot.venues.base import FundingQuote

    venue = _paper_binance(collateral)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    quote = FundingQuote(rate=D("0.0001"), interval_s=28800, next_funding_ts=t0)
    venue._set_market(t0, "BTC", D(60000), D(60000), quote)
    venue._set_market(t0, "ETH", D(3000), D(3000), quote)

    async def enter() -> None:
        for i, (symbol, side, qty) in enumerate(orders):
            await venue.market_order(symbol, side, D(qty), order_id=f"o{i}")

    asyncio.run(enter())
    return venue, quote


def test_legs_dragged_down_together_are_liquidated_though_neither_crossed_its_own_old_price() -> None:
    """Cross margin: long 0.05 BTC at 60,000 and long 1 ETH at 3,000 on one 1,000 USD account. Each leg alone sits
    ~32 % from its liquidation price; BTC falls 30 % and ETH 25 % in the same hour, so neither bar reaches the
    price it had when the hour began — but the account is then under its maintenance margin (equity −650 USD).
    The venue solves the prices again at the hour's marks and liquidates, inside each bar; afterwards the
    account is back over its maintenance margin or flat."""
    venue, quote = _entered("1000", [("BTC", "buy", "0.05"), ("ETH", "buy", "1")])
    before = {s: venue.liquidation_price(s) for s in ("BTC", "ETH")}
    assert all(
        lp is not None and lp < px * D("0.7") for lp, px in zip(before.values(), (60000, 3000), strict=True)
    )
    # the hour: BTC 60,000 → 42,000 (low 41,800), ETH 3,000 → 2,250 (low 2,240)
    t1 = datetime(2026, 1, 1, 1, tzinfo=UTC)
    venue._set_market(t1, "BTC", D(42000), D(42000), quote)
    venue._set_market(t1, "ETH", D(2250), D(2250), quote)
    assert before["BTC"] < D(41800) and before["ETH"] < D(2240)  # neither crossed its own old price
    assert venue.account.equity() < venue.account.maintenance()  # yet the account is under maintenance
    ranges = {"BTC": (D(60000), D(41800), D(60100)), "ETH": (D(3000), D(2240), D(3005))}
    liquidated = venue._liquidate_crossed(ranges)
    assert liquidated, "an account under its maintenance margin must be liquidated"
    for liq in liquidated:
        open_, low, high = ranges[liq.symbol]
        assert low <= liq.liquidation_price <= high  # the fill lies inside the bar
        assert liq.trigger_price == low
    held = [s for s in ("BTC", "ETH") if venue.position_qty(s) != 0]
    account = venue.account
    assert not held or account.equity() >= account.maintenance()
    # what was not liquidated is now safe at the hour's marks: its distance is positive
    for s in held:
        assert distance_pct("long", venue.mark_price(s), venue.liquidation_price(s)) > 0


def test_a_short_of_an_account_under_water_at_any_price_is_liquidated_at_the_open() -> None:
    """The account's other leg lost more than the wallet and the short's notional together: no price can keep
    the short (the solved price is ≤ 0, so ``liquidation_price`` is None) — it is liquidated at the open, not
    left as if no price could liquidate it."""
    venue, quote = _entered("1000", [("BTC", "sell", "0.001"), ("ETH", "buy", "1")])
    t1 = datetime(2026, 1, 1, 1, tzinfo=UTC)
    venue._set_market(t1, "BTC", D(60000), D(60000), quote)
    venue._set_market(t1, "ETH", D(1500), D(1500), quote)  # −1,500 on a 1,000 USD wallet
    assert venue.liquidation_price("BTC") is None and venue.account.under_water_at_any_price("BTC")
    (liq,) = venue._liquidate_crossed({"BTC": (D(59990), D(59900), D(60100))})  # ETH: no bar this hour
    assert (liq.symbol, liq.side, liq.liquidation_price) == ("BTC", "short", D(59990))
    assert venue.position_qty("BTC") == 0


def test_an_hour_that_opens_past_the_liquidation_price_fills_at_the_open() -> None:
    """A gap: the liquidation price lies above the whole bar of a long; the venue could only close it at the
    first price the hour had, its open, never at a price the market never traded."""
    venue, quote = _entered("200", [("BTC", "buy", "0.01")])
    lp = venue.liquidation_price("BTC")
    assert lp is not None
    gap_open = (lp * D("0.95")).quantize(D("0.1"))
    venue._set_market(datetime(2026, 1, 1, 1, tzinfo=UTC), "BTC", gap_open, gap_open, quote)
    (liq,) = venue._liquidate_crossed({"BTC": (gap_open, gap_open - 100, gap_open + 50)})
    assert liq.liquidation_price == gap_open < lp


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda r: r.update(mmr="NaN"), "every number must be finite"),
        (lambda r: r.update(mmr="1.5"), "mmr must be a fraction in (0, 1)"),
        (lambda r: r.update(maintenance_amount="-1"), "maintenance_amount must be ≥ 0"),
        (lambda r: r.update(notional_cap="0"), "0 ≤ floor < cap"),
        (lambda r: r.update(notional_floor="10"), "the first band must start at 0"),
    ],
)
def test_a_bad_tier_row_is_refused_with_its_line(tmp_path: Path, edit, says: str) -> None:
    """Every way a schedule row can be wrong is a ``ValueError`` naming the file and line (the config turns it
    into one line, exit 2), never a ``decimal`` exception mid-run."""
    src = ROOT / "bot" / "data" / "risk" / "maintenance_tiers.csv"
    rows = list(csv.DictReader(src.open(encoding="utf-8", newline="")))
    first = next(i for i, r in enumerate(rows) if r["venue"] == "bybit" and r["symbol"] == "BTC")
    edit(rows[first])
    bad = tmp_path / "tiers.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ValueError, match=re.escape(says)) as err:
        load_tiers(bad)
    assert str(bad) in str(err.value)


def test_a_gap_between_bands_is_refused(tmp_path: Path) -> None:
    src = ROOT / "bot" / "data" / "risk" / "maintenance_tiers.csv"
    rows = list(csv.DictReader(src.open(encoding="utf-8", newline="")))
    btc = [r for r in rows if r["venue"] == "binance" and r["symbol"] == "BTC"]
    btc[1]["notional_floor"] = str(D(btc[1]["notional_floor"]) + 1)
    bad = tmp_path / "tiers.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ValueError, match="binance BTC: bands must follow each other") as err:
        load_tiers(bad)
    assert str(err.value).startswith(f"{bad}:3: ")  # the second BTC row (line 3: the header is line 1)


def test_an_order_past_the_schedule_is_refused() -> None:
    """A position whose notional would pass the last band of the venue's schedule: RISK_LIMIT_EXCEEDED."""
    import asyncio

    from arbdash.bot.venues.base import OrderRejectedError

    cap = load_tiers().tiers("binance", "BTC")[-1].cap
    assert cap is not None
    lot = D("0.001")
    within = (cap / 60000 / lot).to_integral_value(rounding="ROUND_FLOOR") * lot
    venue, _ = _entered("100000000", [("BTC", "buy", str(within))])
    assert venue.lot_size("BTC") == lot
    with pytest.raises(OrderRejectedError, match="RISK_LIMIT_EXCEEDED"):
        asyncio.run(venue.market_order("BTC", "buy", lot * 100, order_id="b"))


# --- config errors ---------------------------------------------------------------------------------------------


def _shipped() -> dict:
    return yaml.safe_load((ROOT / "configs" / "funding_arb_paper.yml").read_text(encoding="utf-8"))


def _runbot(cfg: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "arbdash.tools.runbot_cli", "--config", str(path), "--speed", "0"]
        + ["--dashboard-mode=silent", "--log-dir", str(tmp_path / "logs")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c["venues"]["bybit"].update(collateral_usd=0), "collateral_usd"),
        (lambda c: c["venues"]["binance"].update(collateral_usd=-5), "collateral_usd"),
        (lambda c: c["venues"]["hyperliquid"].update(leverage=45), "tier-1 max leverage"),
        (lambda c: c.setdefault("risk", {}).update(tiers_file="TIERS"), "no maintenance-margin tiers for"),
    ],
)
def test_bad_risk_config_is_one_line_exit_2(change, words: str, tmp_path: Path) -> None:
    cfg = _shipped()
    change(cfg)
    if cfg.get("risk", {}).get("tiers_file") == "TIERS":  # a tier file without one traded symbol
        src = (ROOT / "bot" / "data" / "risk" / "maintenance_tiers.csv").read_text(encoding="utf-8")
        kept = [ln for ln in src.splitlines() if not ln.startswith("bybit,ETH,")]
        (tmp_path / "tiers.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
        cfg["risk"]["tiers_file"] = str(tmp_path / "tiers.csv")
    done = _runbot(cfg, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").glob("*.jsonl"))


# --- the injected wick -----------------------------------------------------------------------------------------

COLLATERAL = 430  # per venue: a fresh 1,500 USD leg at 5x starts ~28 % from its liquidation price
GUARD = D("25.5")  # percent: above the wick's 25 %, so a guarded leg survives it
TICK = D("0.001")  # SOL


def _wick_config(data_dir: Path, log_dir: Path, guard: D, mode: str = "close") -> dict:
    cfg = _shipped()
    cfg["strategy"].update(symbols=["SOL"], max_positions=1, max_leverage=5, target_margin=300)
    for v in cfg["venues"].values():
        v.update(leverage=5, collateral_usd=COLLATERAL, order_failure_rate=0)
    cfg["risk"] = {"min_liquidation_distance_pct": str(guard), "on_liquidation_risk": mode}
    cfg["market"]["data_dir"] = str(data_dir)
    cfg["logging"] = {"log_dir": str(log_dir)}
    return cfg


def _run(tmp_path: Path, name: str, cfg: dict) -> list[dict]:
    d = tmp_path / name
    d.mkdir()
    cfg["logging"]["log_dir"] = str(d / "logs")
    done = _runbot(cfg, d)
    assert done.returncode == 0, done.stderr[-2000:]
    (jsonl,) = (d / "logs").glob("*.jsonl")
    return [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]


def _ts(e: dict) -> str:
    return e.get("market_ts") or ""


def _pick_wick_hour(events: list[dict]) -> tuple[str, str, str]:
    """An hour at which a position's long leg is < 22 % from its published liquidation price (so a 25 % wick in
    the next bar crosses it): ``(hour, position_id, long venue)``."""
    opened = {e["position_id"]: e for e in events if e["event"] == "position.opened"}
    closed = {e["position_id"]: _ts(e) for e in events if e["event"] == "position.closed"}
    lp: dict[str, D] = {}
    nearest = D(1)
    for e in events:
        if e["event"] == "position.updated" and e.get("long_liquidation_price"):
            lp[e["position_id"]] = D(e["long_liquidation_price"])
        elif e["event"] == "market.mark_price":
            t, mark = _ts(e), D(e["mark_price"])
            for pid, o in opened.items():
                if o["long_venue"] == e["venue"] and pid in lp and _ts(o) < t < closed.get(pid, "9999"):
                    distance = (mark - lp[pid]) / mark
                    nearest = min(nearest, distance)
                    if distance < D("0.22"):
                        return t, pid, o["long_venue"]
    raise AssertionError(f"no long leg came within 22 % of its liquidation price (nearest {nearest})")


def _inject_wick(data_dir: Path, hour: str) -> None:
    """The SOL bar opening at ``hour`` (it closes one hour later) gets a low 25 % under its open."""
    from datetime import datetime

    path = data_dir / "klines_1h_binance_usdm" / "SOL_USDT_1h.csv"
    ms = str(int(datetime.fromisoformat(hour).timestamp()) * 1000)
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    hit = [r for r in rows[1:] if r[0] == ms]
    assert len(hit) == 1
    hit[0][3] = str(D(hit[0][1]) * D("0.75"))
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


@pytest.fixture(scope="module")
def wick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("wick")
    clean = tmp / "data_clean"
    shutil.copytree(default_data_dir(), clean)
    first = _run(tmp, "first", _wick_config(clean, tmp, D(0)))
    hour, pid, venue = _pick_wick_hour(first)
    wicked = tmp / "data_wick"
    shutil.copytree(clean, wicked)
    _inject_wick(wicked, hour)
    return {
        "hour": hour,
        "position_id": pid,
        "venue": venue,
        "first": first,
        "off": _run(tmp, "off", _wick_config(wicked, tmp, D(0))),
        "close": _run(tmp, "close", _wick_config(wicked, tmp, GUARD, "close")),
        "rebalance": _run(tmp, "rebalance", _wick_config(wicked, tmp, GUARD, "rebalance")),
    }


def _of(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["event"] == name]


def test_guard_off_the_venue_liquidates_and_the_other_leg_closes_in_the_same_hour(wick: dict) -> None:
    ev = wick["off"]
    (liq,) = _of(ev, "position.liquidated")
    assert liq["position_id"] == wick["position_id"] and liq["venue"] == wick["venue"]
    assert liq["side"] == "long"
    assert D(liq["trigger_price"]) <= D(liq["liquidation_price"])
    closed = next(e for e in _of(ev, "position.closed") if e["position_id"] == liq["position_id"])
    assert closed["reason"] == f"LIQUIDATION_{wick['venue'].upper()}"
    assert _ts(closed) == _ts(liq)  # same market hour: the survivor is closed in the same cycle
    # the surviving leg left by a reduce-only fill in that hour
    pid = liq["position_id"]
    exits = [e for e in _of(ev, "order.filled") if e["position_id"] == pid and e["reduce_only"]]
    assert len(exits) == 1 and exits[0]["venue"] != liq["venue"] and _ts(exits[0]) == _ts(liq)


def test_guard_off_net_pnl_reconciles_to_the_last_digit(wick: dict) -> None:
    ev = wick["off"]
    (liq,) = _of(ev, "position.liquidated")
    pid = liq["position_id"]
    fills = [e for e in _of(ev, "order.filled") if e["position_id"] == pid]
    legs: dict[str, dict] = {}
    for f in fills:  # entry fill, then the exit fill (or the liquidation) per venue
        leg = legs.setdefault(f["venue"], {"fees": D(0)})
        leg["fees"] += D(f["fee"])
        if not f["reduce_only"]:
            leg["side"] = 1 if f["side"] == "buy" else -1
            leg["qty"], leg["entry"] = D(f["qty"]), D(f["price"])
        else:
            leg["exit"] = D(f["price"])
    legs[liq["venue"]]["exit"] = D(liq["liquidation_price"])
    legs[liq["venue"]]["fees"] += D(liq["liquidation_fee"])
    price = sum(lg["side"] * lg["qty"] * (lg["exit"] - lg["entry"]) for lg in legs.values())
    fees = sum(lg["fees"] for lg in legs.values())
    funding = sum(D(e["payment"]) for e in _of(ev, "funding.payment") if e["position_id"] == pid)
    closed = next(e for e in _of(ev, "position.closed") if e["position_id"] == pid)
    assert D(closed["realized_pnl"]) == price
    assert D(closed["fees"]) == fees
    assert D(closed["funding"]) == funding
    assert D(closed["net_pnl"]) == price + funding - fees
    lg = legs[liq["venue"]]
    assert D(liq["realized_pnl"]) == lg["side"] * lg["qty"] * (lg["exit"] - lg["entry"])
    # the fee is the leg's maintenance margin at the liquidation price (the venue's tier for SOL)
    mmr = {"binance": D("0.01"), "bybit": D("0.01"), "hyperliquid": D("0.025")}[liq["venue"]]
    assert D(liq["liquidation_fee"]) == lg["qty"] * D(liq["liquidation_price"]) * mmr


def test_guard_close_exits_before_the_wick(wick: dict) -> None:
    ev = wick["close"]
    assert not _of(ev, "position.liquidated")
    risk = [e for e in _of(ev, "position.closed") if e["reason"].startswith("LIQUIDATION_RISK_")]
    assert risk, "the guard never closed an at-risk position"
    assert any(_ts(e) <= wick["hour"] for e in risk)


def test_guard_rebalance_moves_collateral_before_the_wick(wick: dict) -> None:
    ev = wick["rebalance"]
    assert not _of(ev, "position.liquidated")
    moves = _of(ev, "position.rebalanced")
    risky = [e for e in _of(ev, "position.closed") if e["reason"].startswith("LIQUIDATION_RISK_")]
    if not moves:  # the documented fallback: nothing could move, so the position was closed
        assert risky
        return
    m = moves[0]
    assert D(m["amount_usd"]) > 0 and m["from_venue"] != m["to_venue"] and m["venue"] == m["to_venue"]
    assert D(m["amount_usd"]) == D(m["amount_usd"]).quantize(D("0.01"))
    # both accounts report the transfer in their collateral
    after = {}
    for e in ev:
        if e["event"] == "account.updated" and e["seq"] > m["seq"] and e["venue"] not in after:
            after[e["venue"]] = D(e["collateral_usd"])
    assert after[m["to_venue"]] >= COLLATERAL + D(m["amount_usd"]) - sum(
        D(x["amount_usd"]) for x in moves if x["from_venue"] == m["to_venue"]
    )
    assert after[m["from_venue"]] <= COLLATERAL - D(m["amount_usd"]) + sum(
        D(x["amount_usd"]) for x in moves if x["to_venue"] == m["from_venue"]
    )


def _sol_tiers() -> dict[str, tuple[D, D]]:
    out = {}
    with (ROOT / "bot" / "data" / "risk" / "maintenance_tiers.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["symbol"] == "SOL" and D(row["notional_floor"]) == 0:
                out[row["venue"]] = (D(row["mmr"]), D(row["maintenance_amount"]))
    return out


@pytest.mark.parametrize("run", ["first", "off", "rebalance"])
def test_published_liquidation_prices_equal_an_independent_recomputation(wick: dict, run: str) -> None:
    """Wallet per venue from the events (collateral + realized − fees + funding ± transfers), the leg's qty and
    entry from its fills, the mark from ``market.mark_price``, then Binance's formula written out here; one
    position at a time, so TMM₁ = UPNL₁ = 0. Every published LP must match."""
    tiers = _sol_tiers()
    wallet = {v: D(COLLATERAL) for v in tiers}
    held: dict[str, tuple[int, D, D]] = {}  # venue → (side, qty, entry)
    marks: dict[str, D] = {}
    legs: dict[str, dict[str, str]] = {}  # position → side → venue
    checked = 0
    for e in wick[run]:
        kind = e["event"]
        if kind == "market.mark_price":
            marks[e["venue"]] = D(e["mark_price"])
        elif kind == "position.opened":
            legs[e["position_id"]] = {"long": e["long_venue"], "short": e["short_venue"]}
        elif kind == "order.filled":
            v, qty, price = e["venue"], D(e["qty"]), D(e["price"])
            wallet[v] -= D(e["fee"])
            if v in held:
                side, q, entry = held.pop(v)
                wallet[v] += side * q * (price - entry)
            else:
                held[v] = (1 if e["side"] == "buy" else -1, qty, price)
        elif kind == "funding.payment":
            wallet[e["venue"]] += D(e["payment"])
        elif kind == "position.liquidated":
            v = e["venue"]
            side, q, entry = held.pop(v)
            wallet[v] += side * q * (D(e["liquidation_price"]) - entry) - D(e["liquidation_fee"])
        elif kind == "position.rebalanced" and e.get("amount_usd"):
            wallet[e["from_venue"]] -= D(e["amount_usd"])
            wallet[e["to_venue"]] += D(e["amount_usd"])
        elif kind == "position.updated":
            for side_name in ("long", "short"):
                v = legs[e["position_id"]][side_name]
                published = e.get(f"{side_name}_liquidation_price")
                if v not in held:
                    assert published is None
                    continue
                side, qty, entry = held[v]
                mmr, cum = tiers[v]
                lp = (wallet[v] - 0 + 0 + cum - side * qty * entry) / (qty * mmr - side * qty)
                expected = lp.quantize(TICK, rounding=ROUND_HALF_EVEN) if lp > 0 else None
                assert published == (None if expected is None else str(expected)), (e["seq"], side_name)
                checked += 1
    assert checked > 10


def test_the_screen_shows_the_published_price_and_its_distance(wick: dict) -> None:
    """Fold the guard-off run hour by hour: every open leg's liquidation price on screen is the last published
    one, and its signed distance is (mark − price) / mark · 100 for a long, (price − mark) / mark · 100 for a
    short, from the venue's last mark (positive for every leg of this run) — recomputed here from the
    events, compared with the snapshot the renderers draw."""
    import orjson

    from arbdash.dashboard.reducer import Reducer

    reducer = Reducer()
    published: dict[tuple[str, str], str | None] = {}
    venue_of: dict[tuple[str, str], str] = {}
    marks: dict[str, D] = {}
    hour, checked = None, 0
    for e in wick["off"]:
        ts = e.get("market_ts")
        if ts and hour and ts != hour:
            for p in reducer.snapshot().positions:
                if p.lifecycle != "open":
                    continue
                for venue, leg in p.legs.items():
                    side = "long" if venue == venue_of.get((p.position_id, "long")) else "short"
                    price = published.get((p.position_id, side))
                    assert leg.liquidation_price == (D(price) if price is not None else None)
                    if price is None:
                        assert leg.liquidation_distance_pct is None
                        continue
                    mark = marks[venue]
                    # signed: long (mark − LP) / mark · 100, short (LP − mark) / mark · 100 (≤ 0: past it)
                    want = (mark - D(price) if side == "long" else D(price) - mark) / mark * 100
                    assert leg.liquidation_distance_pct is not None
                    assert abs(leg.liquidation_distance_pct - want) < D("0.01"), (p.position_id, venue)
                    checked += 1
        hour = ts or hour
        if e["event"] == "market.mark_price" and e["symbol"] == "SOL":
            marks[e["venue"]] = D(e["mark_price"])
        elif e["event"] == "position.opened":
            venue_of[(e["position_id"], "long")] = e["long_venue"]
            venue_of[(e["position_id"], "short")] = e["short_venue"]
        elif e["event"] == "position.updated":
            for side in ("long", "short"):
                published[(e["position_id"], side)] = e.get(f"{side}_liquidation_price")
        reducer.feed_line(orjson.dumps(e))
    assert checked > 20


def test_an_entry_that_would_start_inside_the_guard_is_skipped(tmp_path: Path) -> None:
    """Collateral so thin that a fresh 5x leg starts ~28 % from its liquidation price, guard at 40 %: the guard
    would close it at its first check, so the strategy does not open it (``LIQUIDATION_RISK`` skips); with the
    guard at 20 % it opens, and skips only an entry that would start under 20 % (collateral spent on fees)."""
    import re

    def starts(events: list[dict]) -> list[D]:
        return [
            D(re.search(r"would start ([\d.]+)%", e["message"]).group(1))  # type: ignore[union-attr]
            for e in _of(events, "opportunity.skipped")
            if e["reason"] == "LIQUIDATION_RISK"
        ]

    data = tmp_path / "data"
    shutil.copytree(default_data_dir(), data)
    tight = _run(tmp_path, "tight", _wick_config(data, tmp_path, D(40)))
    skipped = [e for e in _of(tight, "opportunity.skipped") if e["reason"] == "LIQUIDATION_RISK"]
    assert skipped and "from its liquidation price" in skipped[0]["message"]
    assert not _of(tight, "position.opened") and all(d < 40 for d in starts(tight))
    loose = _run(tmp_path, "loose", _wick_config(data, tmp_path, D(20)))
    assert _of(loose, "position.opened")
    assert all(d < 20 for d in starts(loose))
