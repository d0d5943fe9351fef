"""Your own bot on the arbdash pipeline: a three-day BTC funding carry between two venues, using only the public
API (``arbdash.session``, ``arbdash.events``). Run it, then replay what it wrote:

    python examples/carry_bot.py [LOG_DIR]        # the live dashboard in a terminal, text frames otherwise
    arbtail LOG_DIR/<session>.jsonl --once        # the same frame, from the record
"""

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import arbdash
from arbdash.events import (
    FundingPayment,
    FundingRate,
    LegOpen,
    MarkPrice,
    OrderFilled,
    PositionClosed,
    PositionClosing,
    PositionOpened,
)

START, QTY, FEE_RATE, DAY = datetime(2026, 3, 2, tzinfo=UTC), D("0.05"), D("0.0005"), 86_400
RATES = {"alpha": D("0.00002"), "beta": D("0.00030")}  # per 8 h: long the cheap venue, short the dear one
SIGN = {"alpha": 1, "beta": -1}  # +1 long, -1 short
P1 = {"position_id": "P1", "symbol": "BTC"}


def mark(venue: str, hour: int) -> D:  # a deterministic path: BTC near 84,000 USD, beta a little below
    return D(84_000) + D(hour * 37 % 400) - (D(20 + hour % 7) if venue == "beta" else 0)


async def main(log_dir: str) -> None:
    now, mode = START, "live" if sys.stdout.isatty() else "plain"
    limits = {"max_positions": 1, "max_total_exposure_usd": 10_000}
    async with arbdash.session("carry-example", venues=list(RATES), symbols=["BTC"], log_dir=log_dir,
                               dashboard=mode, market_clock=lambda: now, **limits) as s:

        def fill(venue: str, hour: int, opening: bool) -> D:  # a market order at the mark; returns the fee
            side = "buy" if (SIGN[venue] > 0) == opening else "sell"
            fee = (mark(venue, hour) * QTY * FEE_RATE).quantize(D("0.000001"))
            order = {"order_id": f"{venue}-{hour}", "venue": venue, "side": side, "fee_rate": FEE_RATE}
            s.log.emit(OrderFilled(**P1, **order, qty=QTY, price=mark(venue, hour), fee=fee))
            return fee

        fees = {v: fill(v, 0, opening=True) for v in RATES}
        notional = {v: mark(v, 0) * QTY for v in RATES}
        legs = [
            LegOpen(venue=v, side="long" if SIGN[v] > 0 else "short", qty=QTY, entry_price=mark(v, 0),
                    notional=notional[v], fee=fees[v], leverage=D(3), margin=notional[v] / 3)
            for v in RATES
        ]
        s.log.emit(
            PositionOpened(**P1, long_venue="alpha", short_venue="beta", legs=legs,
                           target_exposure_usd=notional["alpha"], filled_exposure_usd=notional["alpha"],
                           entry_spread_apr=(RATES["beta"] - RATES["alpha"]) * 3 * 365,
                           entry_long_rate=RATES["alpha"], entry_short_rate=RATES["beta"]),
            message="Opened BTC alpha long / beta short",
        )
        funding = D(0)
        for hour in range(1, 73):
            now = START + timedelta(hours=hour)
            for v, rate in RATES.items():
                px, nxt = mark(v, hour), START + timedelta(hours=(hour // 8 + 1) * 8)
                s.log.emit(MarkPrice(venue=v, symbol="BTC", mark_price=px, index_price=px))
                s.log.emit(FundingRate(venue=v, symbol="BTC", rate=rate, interval_s=28_800,
                                       apr=rate * 3 * 365, next_funding_ts=nxt))
                if hour % 8 == 0:  # the venues settle every 8 hours: a long pays a positive rate
                    pay = -SIGN[v] * QTY * px * rate
                    funding += pay
                    s.log.emit(FundingPayment(**P1, venue=v, side="long" if SIGN[v] > 0 else "short",
                                              rate=rate, entry_rate=rate, interval_s=28_800, qty=QTY,
                                              mark_price=px, notional=QTY * px, payment=pay,
                                              expected_payment=pay))
            await asyncio.sleep(0.02)  # your bot's real work goes here
        s.log.emit(PositionClosing(**P1, reason="MAX_AGE"))
        fee = sum(fees.values()) + sum(fill(v, 72, opening=False) for v in RATES)
        realized = sum(SIGN[v] * (mark(v, 72) - mark(v, 0)) * QTY for v in RATES)
        net = realized + funding - fee
        s.log.emit(PositionClosed(**P1, reason="MAX_AGE", realized_pnl=realized, fees=fee, funding=funding,
                                  net_pnl=net, hold_s=3 * DAY), message="Closed BTC carry after 72 h")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "logs"))
