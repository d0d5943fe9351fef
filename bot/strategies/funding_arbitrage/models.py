"""Value types of the funding-arbitrage strategy: a ranked opportunity, an open leg and a two-leg position.

Units: prices and money in USD (USDT = USDC = 1 USD), quantities in base units, rates as fractions per funding
interval (``interval_s`` seconds), APRs as fractions per 365-day year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from arbdash.helpers.formulas import realized_pnl


@dataclass(frozen=True, slots=True)
class Opportunity:
    """Long ``long_venue`` (cheaper funding) / short ``short_venue`` (dearer funding) in ``symbol``.

    ``spread_apr`` = APR(short) − APR(long) (``helpers.formulas.spread_apr``); ``net_apr`` after round-trip taker
    fees amortised over the expected hold (``helpers.formulas.net_spread_apr``).
    """

    symbol: str
    long_venue: str
    short_venue: str
    long_rate: Decimal
    short_rate: Decimal
    long_interval_s: int
    short_interval_s: int
    spread_apr: Decimal
    net_apr: Decimal


@dataclass(slots=True)
class Leg:
    """One leg as filled. ``notional`` = qty·entry_price; ``margin`` = notional / leverage; ``entry_fee`` and
    ``exit_fee`` USD; ``funding`` the signed sum of funding received (+) or paid (−) so far; ``entry_rate`` the
    venue's funding rate known at entry (basis of the *expected* payment)."""

    venue: str
    side: Literal["long", "short"]
    qty: Decimal
    entry_price: Decimal
    notional: Decimal
    entry_fee: Decimal
    leverage: Decimal
    margin: Decimal
    entry_rate: Decimal
    interval_s: int
    exit_price: Decimal | None = None
    exit_fee: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    expected_funding: Decimal = Decimal(0)

    @property
    def order_side_to_close(self) -> Literal["buy", "sell"]:
        return "sell" if self.side == "long" else "buy"

    @property
    def realized(self) -> Decimal:
        """Price PnL of the closed leg (``helpers.formulas.realized_pnl``); 0 while open."""
        if self.exit_price is None:
            return Decimal(0)
        return realized_pnl(self.side, self.qty, self.entry_price, self.exit_price)


@dataclass(slots=True)
class Position:
    """A delta-neutral pair: equal base ``qty`` long on one venue and short on another."""

    position_id: str
    symbol: str
    long: Leg
    short: Leg
    opened_at: datetime
    entry_spread_apr: Decimal
    target_exposure_usd: Decimal
    closed_at: datetime | None = None
    exit_reason: str | None = None
    last_update_key: tuple[object, ...] | None = field(default=None, repr=False)

    @property
    def legs(self) -> tuple[Leg, Leg]:
        return (self.long, self.short)

    @property
    def exposure_usd(self) -> Decimal:
        """Exposure counted against ``max_total_exposure_usd``: the long leg's entry notional (USD)."""
        return self.long.notional

    @property
    def fees(self) -> Decimal:
        return sum((leg.entry_fee + leg.exit_fee for leg in self.legs), Decimal(0))

    @property
    def funding(self) -> Decimal:
        return self.long.funding + self.short.funding

    @property
    def realized_pnl(self) -> Decimal:
        return self.long.realized + self.short.realized

    @property
    def net_pnl(self) -> Decimal:
        """``realized_pnl + funding − fees`` (USD)."""
        return self.realized_pnl + self.funding - self.fees

    def age_s(self, now: datetime) -> int:
        """Whole market seconds since entry."""
        return (now - self.opened_at) // timedelta(seconds=1)

    def age_hours(self, now: datetime) -> Decimal:
        return Decimal(self.age_s(now)) / 3600
