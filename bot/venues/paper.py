"""Paper venues that replay real funding history, with modelled marks, taker fills and funding settlement.

**Mark model.** Only Binance has real prices in the data (``bot/data/market/README.md``), so:

* Binance mark = the real Binance perpetual price at the hour (``MarketData.price_at``: the 1 h kline close of the
  bar ending at that hour). At Binance's own 8 h settlements, funding is valued at the real Binance
  ``mark_price`` reported for that settlement.
* index price (every venue) = the Binance price, the only observed price (a proxy for the spot index).
* every other venue's mark = ``binance_price · (1 + premium_venue − premium_binance + noise)``, where a venue's
  premium is inferred from its own latest known funding rate with
  ``helpers.formulas.premium_from_funding_rate`` (funding ≈ average premium + clamp(interest − premium, ±0.05 %),
  Binance/Bybit funding-rate docs; Hyperliquid docs: 8 h-equivalent rate = premium + 0.01 %/8 h interest, paid
  1/8 hourly; so premium ≈ rate_8h − 0.0001). ``noise`` is uniform in ±``mark_noise_bps`` (steps of 0.01 bp)
  from ``random.Random(f"{seed}:{venue}:marks")``; marks are rounded to the instrument's tick.

Venue-to-venue price basis beyond this first-order premium is not in the data and not modelled.

**Fills.** Market orders fill in full at ``mark · (1 ± slippage_bps/10⁴)`` (the taker pays: buys up, sells down,
rounded to the tick against the taker) with fee ``price · qty · taker_fee``. An order that opens or increases
exposure is rejected with probability ``order_failure_rate`` (``random.Random(f"{seed}:{venue}:orders")``);
reduce-only orders are never rejected on paper, so a rollback always restores a flat book.

**Funding.** At each of a venue's own settlement times (Hyperliquid hourly, Binance/Bybit 00/08/16 UTC) the open
position receives ``helpers.formulas.funding_payment(side, qty, mark, rate)`` with the realised rate of that
settlement from the data. Margin per leg = notional / leverage (``helpers.formulas.margin_for``).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from bot.config import BotConfig, InstrumentConfig, VenueConfig
from bot.venues.base import Fill, FundingCredit, FundingQuote, OrderRejectedError, OrderSide
from bot.venues.market_data import MarketData
from helpers.formulas import funding_payment, premium_from_funding_rate, side_sign, taker_fee

REFERENCE_VENUE = "binance"
_HOUR = timedelta(hours=1)
_BP = Decimal("0.0001")
_NOISE_STEP = Decimal("0.000001")  # 0.01 bp
_REJECT_REASONS = ("INSUFFICIENT_LIQUIDITY", "PRICE_BAND_EXCEEDED", "RATE_LIMITED")
_PPM = 1_000_000


class PaperVenue:
    """One simulated exchange (implements ``bot.venues.base.Venue``). Prices and rates are set by ``PaperMarket``."""

    def __init__(
        self,
        name: str,
        *,
        quote: str,
        funding_interval_s: int,
        config: VenueConfig,
        instruments: dict[str, InstrumentConfig],
        seed: int,
    ) -> None:
        self.name = name
        self.quote = quote
        self.funding_interval_s = funding_interval_s
        self.taker_fee_rate = config.taker_fee
        self.maker_fee_rate = config.maker_fee
        self.leverage = config.leverage
        self.slippage_bps = config.slippage_bps
        self._failure_ppm = int(config.order_failure_rate * _PPM)
        self._instruments = instruments
        self._order_rng = random.Random(f"{seed}:{name}:orders")
        self._now: datetime | None = None
        self._marks: dict[str, Decimal] = {}
        self._index: dict[str, Decimal] = {}
        self._quotes: dict[str, FundingQuote] = {}
        self._positions: dict[str, Decimal] = {}
        self._order_seq = 0

    # --- read side ----------------------------------------------------------------------------------------

    def mark_price(self, symbol: str) -> Decimal:
        return self._marks[symbol]

    def index_price(self, symbol: str) -> Decimal:
        return self._index[symbol]

    def funding_quote(self, symbol: str) -> FundingQuote:
        return self._quotes[symbol]

    def lot_size(self, symbol: str) -> Decimal:
        return self._instruments[symbol].lot_size

    def tick_size(self, symbol: str) -> Decimal:
        return self._instruments[symbol].tick_size

    def position_qty(self, symbol: str) -> Decimal:
        return self._positions.get(symbol, Decimal(0))

    def next_order_id(self) -> str:
        self._order_seq += 1
        return f"{self.name}-{self._order_seq:06d}"

    # --- orders -------------------------------------------------------------------------------------------

    async def market_order(
        self, symbol: str, side: OrderSide, qty: Decimal, *, order_id: str, reduce_only: bool = False
    ) -> Fill:
        """Fill ``qty`` (base units, a multiple of the lot size) at mark ± slippage, or raise
        ``OrderRejectedError``. See the module docstring for the fill and rejection model."""
        await asyncio.sleep(0)
        if symbol not in self._marks or self._now is None:
            raise OrderRejectedError(self.name, "NO_MARKET")
        if qty <= 0 or qty % self.lot_size(symbol) != 0:
            raise OrderRejectedError(self.name, "INVALID_QTY")
        signed = qty * side_sign(side)
        held = self.position_qty(symbol)
        if reduce_only and (held == 0 or (held > 0) == (signed > 0) or abs(signed) > abs(held)):
            raise OrderRejectedError(self.name, "REDUCE_ONLY_WOULD_INCREASE")
        if not reduce_only:
            draw = self._order_rng.randrange(_PPM)
            if draw < self._failure_ppm:
                raise OrderRejectedError(self.name, _REJECT_REASONS[draw % len(_REJECT_REASONS)])
        ref = self._marks[symbol]
        sign = side_sign(side)
        raw = ref * (1 + sign * self.slippage_bps * _BP)
        price = raw.quantize(self.tick_size(symbol), rounding=ROUND_CEILING if sign > 0 else ROUND_FLOOR)
        fee = taker_fee(price * qty, self.taker_fee_rate)
        slip = ((price / ref - 1) * sign / _BP).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
        self._positions[symbol] = held + signed
        return Fill(
            order_id=order_id,
            venue=self.name,
            symbol=symbol,
            side=side,
            qty=qty,
            price=price,
            ref_price=ref,
            fee=fee,
            fee_rate=self.taker_fee_rate,
            slippage_bps=slip,
            reduce_only=reduce_only,
            filled_at=self._now,
        )

    # --- driven by PaperMarket ----------------------------------------------------------------------------

    def _set_market(
        self, t: datetime, symbol: str, mark: Decimal, index: Decimal, quote: FundingQuote
    ) -> None:
        self._now = t
        self._marks[symbol] = mark
        self._index[symbol] = index
        self._quotes[symbol] = quote

    def _settle(
        self, t: datetime, symbol: str, rate: Decimal, interval_s: int, mark: Decimal
    ) -> FundingCredit | None:
        qty = self.position_qty(symbol)
        if qty == 0:
            return None
        side = "long" if qty > 0 else "short"
        return FundingCredit(
            venue=self.name,
            symbol=symbol,
            settled_at=t,
            side=side,
            qty=abs(qty),
            rate=rate,
            interval_s=interval_s,
            mark_price=mark,
            payment=funding_payment(side, abs(qty), mark, rate),
        )


@dataclass(frozen=True, slots=True)
class MarkTick:
    """One venue's prices for a symbol at an hour (USD)."""

    venue: str
    symbol: str
    mark_price: Decimal
    index_price: Decimal


@dataclass(slots=True)
class MarketStep:
    """What changed at one market hour: marks, funding quotes that changed, funding credited to open legs."""

    t: datetime
    marks: list[MarkTick] = field(default_factory=list)
    rate_changes: list[tuple[str, str, FundingQuote]] = field(default_factory=list)
    credits: list[FundingCredit] = field(default_factory=list)


class PaperMarket:
    """Replays ``MarketData`` into one ``PaperVenue`` per scanned exchange, one market hour per ``advance_to``."""

    def __init__(self, data: MarketData, config: BotConfig) -> None:
        self._data = data
        self.symbols = list(config.strategy.symbols)
        seed = config.market.seed
        instruments = {s: config.market.instruments[s] for s in self.symbols}
        self.venues: dict[str, PaperVenue] = {
            name: PaperVenue(
                name,
                quote=data.quote(name),
                funding_interval_s=data.interval_s(name),
                config=config.venues[name],
                instruments=instruments,
                seed=seed,
            )
            for name in config.strategy.scan_exchanges
        }
        self._noise_steps = int(config.market.mark_noise_bps * 100)
        self._mark_rngs = {name: random.Random(f"{seed}:{name}:marks") for name in self.venues}
        self._last_quotes: dict[tuple[str, str], FundingQuote] = {}
        first, last = data.window()
        self.start = config.market.start or first
        self.end = config.market.end or last
        if self.start < first or self.end > last:
            raise ValueError(
                f"market window {self.start.isoformat()} → {self.end.isoformat()} is outside the data "
                f"({first.isoformat()} → {last.isoformat()})"
            )

    def hours(self) -> list[datetime]:
        """Every market hour from ``start`` to ``end`` inclusive (aware UTC)."""
        out, t = [], self.start
        while t <= self.end:
            out.append(t)
            t += _HOUR
        return out

    def _quote(self, venue: str, symbol: str, t: datetime) -> FundingQuote:
        s = self._data.latest_settlement(venue, symbol, t)
        if s is None:
            raise ValueError(f"no {venue} {symbol} funding rate known at {t.isoformat()}")
        return FundingQuote(
            rate=s.rate,
            interval_s=s.interval_s,
            next_funding_ts=s.settled_at + timedelta(seconds=s.interval_s),
        )

    def advance_to(self, t: datetime) -> MarketStep:
        """Move every venue to hour ``t``: update known funding rates and marks, then settle funding due at ``t``
        on open positions (payments valued at the settlement mark; Binance: its reported ``mark_price``)."""
        step = MarketStep(t=t)
        for symbol in self.symbols:
            price = self._data.price_at(symbol, t)
            ref = self._quote(REFERENCE_VENUE, symbol, t)
            ref_premium = premium_from_funding_rate(ref.rate, ref.interval_s)
            for name, venue in self.venues.items():
                quote = ref if name == REFERENCE_VENUE else self._quote(name, symbol, t)
                if name == REFERENCE_VENUE:
                    mark = price
                else:
                    noise = self._mark_rngs[name].randint(-self._noise_steps, self._noise_steps) * _NOISE_STEP
                    premium = premium_from_funding_rate(quote.rate, quote.interval_s)
                    mark = (price * (1 + premium - ref_premium + noise)).quantize(
                        venue.tick_size(symbol), rounding=ROUND_HALF_EVEN
                    )
                venue._set_market(t, symbol, mark, price, quote)
                step.marks.append(MarkTick(name, symbol, mark, price))
                if self._last_quotes.get((name, symbol)) != quote:
                    self._last_quotes[(name, symbol)] = quote
                    step.rate_changes.append((name, symbol, quote))
        for name, venue in self.venues.items():
            for symbol in self.symbols:
                settlement = self._data.settlement_at(name, symbol, t)
                if settlement is None:
                    continue
                mark = (
                    settlement.mark_price if settlement.mark_price is not None else venue.mark_price(symbol)
                )
                credit = venue._settle(t, symbol, settlement.rate, settlement.interval_s, mark)
                if credit is not None:
                    step.credits.append(credit)
        return step


__all__ = ["REFERENCE_VENUE", "MarkTick", "MarketStep", "PaperMarket", "PaperVenue"]
