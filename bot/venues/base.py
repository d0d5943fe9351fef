"""The venue interface strategies trade through, and the value types it returns.

A strategy sees a venue only through ``Venue``: prices (mark, index), the funding rate it will settle next,
instrument steps, fees, leverage and market orders. Paper venues (``bot.venues.paper``) implement it by replaying
history; a live adapter would implement the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

OrderSide = Literal["buy", "sell"]


class OrderRejectedError(Exception):
    """The venue refused an order; nothing was filled. ``reason`` is a short code (e.g. ``MARGIN_CHECK_FAILED``)."""

    def __init__(self, venue: str, reason: str) -> None:
        self.venue = venue
        self.reason = reason
        super().__init__(f"{venue}: order rejected ({reason})")


@dataclass(frozen=True, slots=True)
class FundingQuote:
    """The funding rate a venue will settle next: ``rate`` fraction per ``interval_s`` seconds, settling at
    ``next_funding_ts`` (aware UTC)."""

    rate: Decimal
    interval_s: int
    next_funding_ts: datetime


@dataclass(frozen=True, slots=True)
class Fill:
    """A filled market order. ``price`` USD per base unit incl. slippage; ``ref_price`` the mark at placement;
    ``fee`` USD (≥ 0) = price·qty·fee_rate; ``slippage_bps`` = (price/ref_price − 1)·10⁴·sign(side)."""

    order_id: str
    venue: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    ref_price: Decimal
    fee: Decimal
    fee_rate: Decimal
    slippage_bps: Decimal
    reduce_only: bool
    filled_at: datetime


@dataclass(frozen=True, slots=True)
class FundingCredit:
    """A venue settled funding on its open position in ``symbol``.

    ``payment`` (USD, + = received) = ``helpers.formulas.funding_payment(side, qty, mark_price, rate)``, where
    ``mark_price`` is the price the venue values funding at (USD): its mark on Binance (the reported settlement
    mark) and Bybit, its **oracle** price on Hyperliquid (see ``bot/venues/paper.py``).
    """

    venue: str
    symbol: str
    settled_at: datetime
    side: Literal["long", "short"]
    qty: Decimal
    rate: Decimal
    interval_s: int
    mark_price: Decimal
    payment: Decimal


class Venue(Protocol):
    """What a strategy may call on an exchange. Prices in the venue's quote (USDT/USDC, treated as USD)."""

    name: str
    quote: str
    funding_interval_s: int
    taker_fee_rate: Decimal
    maker_fee_rate: Decimal
    leverage: Decimal
    #: expected slippage of a market order, basis points of the mark per fill (the entry rule counts it as cost)
    slippage_bps: Decimal

    def mark_price(self, symbol: str) -> Decimal: ...

    def index_price(self, symbol: str) -> Decimal: ...

    def funding_quote(self, symbol: str) -> FundingQuote: ...

    def lot_size(self, symbol: str) -> Decimal: ...

    def tick_size(self, symbol: str) -> Decimal: ...

    def position_qty(self, symbol: str) -> Decimal:
        """Signed open quantity in base units (+ long, − short)."""
        ...

    def next_order_id(self) -> str:
        """Reserve the id the next order will carry (so it can be logged before it is sent)."""
        ...

    async def market_order(
        self, symbol: str, side: OrderSide, qty: Decimal, *, order_id: str, reduce_only: bool = False
    ) -> Fill:
        """Fill ``qty`` at market or raise ``OrderRejectedError``."""
        ...


__all__ = ["Fill", "FundingCredit", "FundingQuote", "OrderRejectedError", "OrderSide", "Venue"]
