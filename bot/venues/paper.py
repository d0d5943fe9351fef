"""Paper venues that replay real funding history, with modelled marks, taker fills and funding settlement.

**Mark model.** Only Binance has real prices in the data (``bot/data/market/README.md``), so:

* Binance mark = the real Binance perpetual price at the hour (``MarketData.price_at``: the 1 h kline close of the
  bar ending at that hour). At Binance's own 8 h settlements, funding is valued at the real Binance
  ``mark_price`` reported for that settlement.
* index price (every venue) = the Binance price, the only observed price (a proxy for the spot index).
* every other venue's mark = ``binance_price · (1 + premium_venue − premium_binance + noise)``, where a venue's
  premium is inferred from its own latest known funding rate with ``helpers.formulas.premium_from_funding_rate``:
  the venues' formula ``F = P + clamp(I − P, ±0.05 %)`` per 8 h (I = 0.01 %; Binance and Bybit funding-rate docs;
  Hyperliquid docs "Funding": the same 8-hour-equivalent formula, paid 1/8 hourly) is inverted — a saturated clamp
  gives ``P = F_8h ± 0.05 %`` exactly; an unsaturated one (``F_8h = I``) leaves ``P`` anywhere in
  ``[−0.04 %, +0.06 %]`` and the model takes the band's point nearest zero (deterministic, documented there).
  ``noise`` is uniform in ±``mark_noise_bps`` (steps of 0.01 bp) from ``random.Random(f"{seed}:{venue}:marks")``;
  marks are rounded to the instrument's tick.

Venue-to-venue price basis beyond this first-order premium is not in the data and not modelled.

**Fills.** Market orders fill in full at ``mark · (1 ± slippage_bps/10⁴)`` (the taker pays: buys up, sells down,
rounded to the tick against the taker) with fee ``price · qty · taker_fee``. An order that opens or increases
exposure is rejected with probability ``order_failure_rate`` (``random.Random(f"{seed}:{venue}:orders")``);
reduce-only orders are never rejected on paper, so a rollback always restores a flat book.

**Funding.** At each of a venue's own settlement times (Hyperliquid hourly, Binance/Bybit 00/08/16 UTC) the open
position receives ``helpers.formulas.funding_payment(side, qty, price, rate)`` with the realised rate of that
settlement from the data, valued at the price the venue uses: Binance its reported settlement ``mark_price``,
Bybit its mark, Hyperliquid its **oracle** price ("position_size × oracle_price × funding_rate", Hyperliquid docs
"Trading › Funding"; the oracle is a weighted median of CEX spot prices, proxied here by the index, i.e. the
Binance price). The credit's ``mark_price`` field carries that valuation price. Margin per leg = notional /
leverage (``helpers.formulas.margin_for``).

**Accounts and liquidation** (``bot.venues.accounts``). Each venue has one cross-margined collateral account
(``venues.<name>.collateral_usd``): fills book their price PnL and fee to it, settlements their funding. An order
that opens or increases exposure is rejected with ``INSUFFICIENT_MARGIN`` when its initial margin (qty · mark /
leverage) exceeds the available balance, and with ``RISK_LIMIT_EXCEEDED`` when the position's notional would pass
the last band of the venue's maintenance-margin schedule. At each hour, for the bar that just closed, every holding's liquidation
price is solved at the hour's marks (the account is cross margined: its other holdings move it too) and a long
is liquidated when the venue's low ≤ it, a short when the high ≥ it — the furthest past first, the others solved
again after each (``PaperVenue._liquidate_crossed``); Binance's open/high/low are the real kline's, another
venue's are Binance's × (its mark / the Binance price) at that hour. The holding is closed at the liquidation
price (rounded to the tick; the bar's open if the hour opened past it) and the venue keeps the leg's maintenance
margin at that price as the liquidation fee (``MarketStep.liquidations``). The bars are of the last-traded price
(the only intra-hour prices in the data) while venues liquidate on their mark price, which wicks less: the paper
venues liquidate somewhat more readily than real ones.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from arbdash.bot.config import BotConfig, InstrumentConfig, VenueConfig
from arbdash.bot.venues.accounts import AccountFigures, MarginTier, VenueAccount, load_tiers
from arbdash.bot.venues.base import Fill, FundingCredit, FundingQuote, OrderRejectedError, OrderSide
from arbdash.bot.venues.market_data import MarketData
from arbdash.helpers.formulas import funding_payment, premium_from_funding_rate, side_sign, taker_fee

REFERENCE_VENUE = "binance"
#: Venues that value funding at their oracle (index) price instead of their mark (Hyperliquid docs, "Funding").
ORACLE_FUNDING_VENUES = frozenset({"hyperliquid"})
_HOUR = timedelta(hours=1)
_BP = Decimal("0.0001")
_NOISE_STEP = Decimal("0.000001")  # 0.01 bp
_REJECT_REASONS = ("INSUFFICIENT_LIQUIDITY", "PRICE_BAND_EXCEEDED", "RATE_LIMITED")
_PPM = 1_000_000
#: how far past its price a holding is when no price could keep it (liquidated before any other)
_PAST_ANY_PRICE = Decimal("Infinity")


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
        tiers: dict[str, tuple[MarginTier, ...]] | None = None,
    ) -> None:
        """``tiers``: the venue's maintenance-margin schedule per symbol (default: the shipped
        ``bot/data/risk/maintenance_tiers.csv``); the account starts with ``config.collateral_usd``."""
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
        self.account = VenueAccount(
            name,
            config.collateral_usd,
            tiers if tiers is not None else load_tiers().for_venue(name),
            config.leverage,
        )

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
        if not reduce_only:
            # the initial margin of the new exposure (at the mark) must fit the account's available balance
            needed = self.account.initial_margin(qty * ref, symbol) - self.account.initial_margin()
            if needed > self.account.available():
                raise OrderRejectedError(self.name, "INSUFFICIENT_MARGIN")
            # and the position must stay within the venue's published schedule (its last band's cap)
            if not self.account.within_schedule(symbol, abs(held + signed) * ref):
                raise OrderRejectedError(self.name, "RISK_LIMIT_EXCEEDED")
        slip = ((price / ref - 1) * sign / _BP).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
        self._positions[symbol] = held + signed
        self.account.book_fill(symbol, signed, price, fee)
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
        self.account.set_mark(symbol, mark)
        self._index[symbol] = index
        self._quotes[symbol] = quote

    def _settle(
        self, t: datetime, symbol: str, rate: Decimal, interval_s: int, mark: Decimal
    ) -> FundingCredit | None:
        qty = self.position_qty(symbol)
        if qty == 0:
            return None
        side = "long" if qty > 0 else "short"
        payment = funding_payment(side, abs(qty), mark, rate)
        self.account.book_funding(payment)
        return FundingCredit(
            venue=self.name,
            symbol=symbol,
            settled_at=t,
            side=side,
            qty=abs(qty),
            rate=rate,
            interval_s=interval_s,
            mark_price=mark,
            payment=payment,
        )

    # --- the account (bot.venues.accounts) ------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        """The leverage ``symbol``'s initial margin is held at (as a venue's change-leverage call)."""
        self.account.set_leverage(symbol, leverage)

    def account_figures(self) -> AccountFigures:
        """The account's current figures (USD), as ``account.updated`` carries them."""
        return self.account.figures()

    def projected_liquidation_price(self, symbol: str, side: OrderSide, qty: Decimal) -> Decimal | None:
        """Where this venue would liquidate ``symbol``'s holding after a market ``side`` fill of ``qty`` at the
        current mark (the account otherwise as it is; nothing is booked): the liquidation price an entry would
        start at (USD; ``None`` when no price could)."""
        signed = qty * side_sign(side)
        return self.account.projected_liquidation_price(symbol, signed, self.mark_price(symbol))

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """Where this venue would liquidate the open holding in ``symbol`` (USD, rounded half-even to the tick),
        ``None`` when flat or when no price can (``bot.venues.accounts.liquidation_price``)."""
        lp = self.account.liquidation_price(symbol)
        if lp is None:
            return None
        lp = lp.quantize(self.tick_size(symbol), rounding=ROUND_HALF_EVEN)
        return lp if lp > 0 else None

    def transfer_collateral(self, amount: Decimal, to: PaperVenue) -> None:
        """Move ``amount`` USD of collateral from this account to ``to``'s (at most what this account may
        transfer, ``VenueAccount.transferable``; raises ``ValueError`` otherwise)."""
        if not amount > 0:
            raise ValueError(f"transfer amount must be > 0 USD, got {amount}")
        self.account.transfer_out(amount)
        to.account.transfer_in(amount)

    def _liquidate_crossed(self, ranges: Mapping[str, tuple[Decimal, Decimal, Decimal]]) -> list[Liquidation]:
        """Liquidate what the hour's bars took past their liquidation price; ``ranges``: per held symbol the bar's
        ``(open, low, high)`` on this venue (USD).

        The account is cross margined, so every holding's liquidation price is solved again at the hour's marks
        (``liquidation_price``: the other holdings where they closed the hour) — a move that drags several legs
        of the account together is seen, not only a leg's own move. A long is liquidated when the bar's low ≤ its
        liquidation price, a short when the high ≥ it; when several are, the one taken furthest past (relative to
        the price) goes first, then the others' prices are solved again with what that liquidation booked, until
        none is crossed. The fill: the liquidation price, or the bar's open when the hour opened already past it
        (a gap: the first price there was), so a fill always lies inside the bar. A short of an account already
        under its maintenance margin at any price (``VenueAccount.under_water_at_any_price``: no liquidation
        price exists) is liquidated first, at the open."""
        out: list[Liquidation] = []
        while True:
            worst: tuple[Decimal, str, Decimal, Decimal] | None = None
            for symbol, (open_, low, high) in ranges.items():
                qty = self.position_qty(symbol)
                if qty == 0:
                    continue
                trigger = low if qty > 0 else high
                lp = self.liquidation_price(symbol)
                if lp is None:
                    if qty < 0 and self.account.under_water_at_any_price(
                        symbol
                    ):  # a bankrupt account's short
                        worst = (_PAST_ANY_PRICE, symbol, open_, trigger)
                        break
                    continue
                past = (lp - trigger if qty > 0 else trigger - lp) / lp
                if past >= 0 and (worst is None or past > worst[0]):
                    fill = min(lp, open_) if qty > 0 else max(lp, open_)
                    worst = (past, symbol, fill, trigger)
            if worst is None:
                return out
            _, symbol, fill, trigger = worst
            out.append(self._liquidate(symbol, fill, trigger))

    def _liquidate(self, symbol: str, price: Decimal, trigger: Decimal) -> Liquidation:
        """Close the whole holding in ``symbol`` at ``price`` (its liquidation price) and charge the liquidation
        fee (the leg's maintenance margin at that price, ``VenueAccount.liquidation_fee``)."""
        qty = self.position_qty(symbol)
        held = self.account.holding(symbol)
        assert held is not None and qty != 0
        fee = self.account.liquidation_fee(symbol, price)
        pnl = self.account.book_liquidation(symbol, price, fee)
        self._positions[symbol] = Decimal(0)
        return Liquidation(
            venue=self.name,
            symbol=symbol,
            side="long" if qty > 0 else "short",
            qty=abs(qty),
            entry_price=held[1],
            liquidation_price=price,
            trigger_price=trigger,
            liquidation_fee=fee,
            realized_pnl=pnl,
        )


@dataclass(frozen=True, slots=True)
class MarkTick:
    """One venue's prices for a symbol at an hour (USD)."""

    venue: str
    symbol: str
    mark_price: Decimal
    index_price: Decimal


@dataclass(frozen=True, slots=True)
class Liquidation:
    """A venue liquidated a holding during the bar that closed at the step's hour: closed at
    ``liquidation_price`` (USD: the holding's liquidation price, or the bar's open when the hour opened past it)
    because the bar's low (long) / high (short) on that venue, ``trigger_price``, crossed it;
    ``liquidation_fee`` (USD) charged; ``realized_pnl`` the price PnL at that price."""

    venue: str
    symbol: str
    side: str
    qty: Decimal
    entry_price: Decimal
    liquidation_price: Decimal
    trigger_price: Decimal
    liquidation_fee: Decimal
    realized_pnl: Decimal


@dataclass(slots=True)
class MarketStep:
    """What changed at one market hour: marks, funding quotes that changed, funding credited to open legs,
    holdings the venues liquidated during the bar that just closed."""

    t: datetime
    marks: list[MarkTick] = field(default_factory=list)
    rate_changes: list[tuple[str, str, FundingQuote]] = field(default_factory=list)
    credits: list[FundingCredit] = field(default_factory=list)
    liquidations: list[Liquidation] = field(default_factory=list)


class PaperMarket:
    """Replays ``MarketData`` into one ``PaperVenue`` per scanned exchange, one market hour per ``advance_to``."""

    def __init__(self, data: MarketData, config: BotConfig) -> None:
        self._data = data
        self.symbols = config.all_symbols
        seed = config.market.seed
        instruments = {s: config.market.instruments[s] for s in self.symbols}
        tiers = load_tiers(config.risk.tiers_file)  # checked when the config was loaded
        self.venues: dict[str, PaperVenue] = {
            name: PaperVenue(
                name,
                quote=data.quote(name),
                funding_interval_s=data.interval_s(name),
                config=config.venues[name],
                instruments=instruments,
                seed=seed,
                tiers=tiers.for_venue(name),
            )
            for name in config.all_venues
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
        on open positions (payments valued at the settlement mark; Binance: its reported ``mark_price``;
        Hyperliquid: its oracle, the index price)."""
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
        step.liquidations = self._liquidations(t)  # before funding: a liquidated leg is not paid
        for name, venue in self.venues.items():
            for symbol in self.symbols:
                settlement = self._data.settlement_at(name, symbol, t)
                if settlement is None:
                    continue
                if settlement.mark_price is not None:
                    mark = settlement.mark_price
                elif name in ORACLE_FUNDING_VENUES:
                    mark = venue.index_price(symbol)
                else:
                    mark = venue.mark_price(symbol)
                credit = venue._settle(t, symbol, settlement.rate, settlement.interval_s, mark)
                if credit is not None:
                    step.credits.append(credit)
        return step

    def _liquidations(self, t: datetime) -> list[Liquidation]:
        """Liquidate the holdings the bar that closed at ``t`` took past their liquidation price, venue by venue
        (``PaperVenue._liquidate_crossed``).

        The bar's range on a venue: Binance has the real hourly open/high/low (its kline); another venue's are
        Binance's × (that venue's mark / the Binance price) at ``t``, the same ratio its modelled mark has to
        Binance's price at that hour (module docstring), rounded to the tick. A first hour without a closed bar
        liquidates nothing."""
        out: list[Liquidation] = []
        for venue in self.venues.values():
            ranges: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
            for symbol in self.symbols:
                if venue.position_qty(symbol) == 0:
                    continue
                bar = self._data.bar_closing_at(symbol, t)
                if bar is None:
                    continue
                ratio = venue.mark_price(symbol) / venue.index_price(symbol)
                tick = venue.tick_size(symbol)
                ranges[symbol] = (
                    (bar.open * ratio).quantize(tick, rounding=ROUND_HALF_EVEN),
                    (bar.low * ratio).quantize(tick, rounding=ROUND_HALF_EVEN),
                    (bar.high * ratio).quantize(tick, rounding=ROUND_HALF_EVEN),
                )
            out.extend(venue._liquidate_crossed(ranges))
        return out


__all__ = [
    "ORACLE_FUNDING_VENUES",
    "REFERENCE_VENUE",
    "Liquidation",
    "MarkTick",
    "MarketStep",
    "PaperMarket",
    "PaperVenue",
]
