"""Venue account arithmetic: wallet, unrealized PnL, equity, initial and maintenance margin, margin ratio,
available balance and liquidation price — pure ``Decimal`` functions plus a small ``VenueAccount``.

**One collateral account per venue, cross margined.** A funding-arbitrage bot funds one account per venue and
moves collateral *between venues* (``VenueAccount.transfer_in`` / ``transfer_out``): the account backs every leg
the bot holds on that venue, so a leg's liquidation price depends on the account's wallet and on the other legs'
maintenance margin and unrealized PnL. Cross margin is the default on Hyperliquid (docs, "Margining": "Cross
margin is the default") and what such bots run; isolated margin would strand collateral in each leg.

**Maintenance margin** follows each venue's published tiered schedule (``bot/data/risk/maintenance_tiers.csv``,
sources and dates in the ``README.md`` beside it)::

    maintenance margin of a leg = notional at mark · MMR(tier) − maintenance amount(tier)

(Binance "Leverage and Margin of USDⓈ-M Futures" / its liquidation-price FAQ, where the maintenance amount is
``cum``; Bybit "Margin Parameters": "Maintenance Margin = Position Value × MMR − Maintenance Margin Deduction";
Hyperliquid "Margin tiers": ``notional · maintenance_margin_rate − maintenance_deduction``). The tier is the one
whose notional band holds the leg's notional at the mark (floor < notional ≤ cap).

Figures (USD; USDT = USDC = 1 USD), as ``logging_pipeline.events.AccountUpdated`` documents them:

* ``wallet`` = collateral (deposit + transfers in − transfers out) + realized price PnL − fees (trading and
  liquidation) + funding;
* ``unrealized`` = Σ side·qty·(mark − entry) over open legs;
* ``equity`` = wallet + unrealized;
* ``initial margin`` = Σ qty·mark / leverage (venues compute it at the mark);
* ``maintenance margin`` = Σ (qty·mark·MMR − maintenance amount);
* ``margin ratio`` = maintenance / equity (fraction; the venue liquidates at ≥ 1; ``None`` when equity ≤ 0);
* ``available`` = equity − initial margin (what a new position or a transfer out may use).
"""

from __future__ import annotations

import copy
import csv
import itertools
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One band of a venue's maintenance-margin schedule for a symbol.

    ``floor`` < position notional (USD) ≤ ``cap`` (``None``: no upper bound); ``max_leverage`` the highest
    leverage the band allows; ``mmr`` the maintenance margin rate (fraction); ``maintenance_amount`` (USD) the
    deduction that keeps the maintenance margin continuous across bands (Binance ``cum``)."""

    venue: str
    symbol: str
    floor: Decimal
    cap: Decimal | None
    max_leverage: Decimal
    mmr: Decimal
    maintenance_amount: Decimal
    source: str
    as_of: str


class TierTable:
    """Every venue × symbol schedule, tiers sorted by ``floor``."""

    def __init__(self, tiers: dict[tuple[str, str], tuple[MarginTier, ...]]) -> None:
        self._tiers = tiers

    def has(self, venue: str, symbol: str) -> bool:
        return (venue, symbol) in self._tiers

    def tiers(self, venue: str, symbol: str) -> tuple[MarginTier, ...]:
        """The schedule of ``(venue, symbol)``; raises ``KeyError`` when there is none."""
        return self._tiers[(venue, symbol)]

    def max_leverage(self, venue: str, symbol: str) -> Decimal:
        """Tier 1's max leverage (the most any position of that symbol may use on that venue)."""
        return self._tiers[(venue, symbol)][0].max_leverage

    def for_venue(self, venue: str) -> dict[str, tuple[MarginTier, ...]]:
        return {s: t for (v, s), t in self._tiers.items() if v == venue}


def tier_for(tiers: tuple[MarginTier, ...], notional: Decimal) -> MarginTier:
    """The band holding ``notional`` (USD, ≥ 0): floor < notional ≤ cap; the last band beyond every cap (a held
    position a rally took past the schedule keeps its highest band; a new order that would pass it is refused,
    ``VenueAccount.within_schedule``)."""
    for tier in tiers:
        if tier.cap is None or notional <= tier.cap:
            return tier
    return tiers[-1]


def default_tiers_path() -> Path:
    """The schedule shipped in the package (``bot/data/risk/maintenance_tiers.csv``)."""
    return Path(str(resources.files("arbdash.bot") / "data" / "risk" / "maintenance_tiers.csv"))


@lru_cache(maxsize=8)
def load_tiers(path: Path | None = None) -> TierTable:
    """Read the tier CSV (columns ``venue, symbol, notional_floor, notional_cap, max_leverage, mmr,
    maintenance_amount, source_url, as_of``; an empty cap = unbounded). Numbers are parsed with
    ``Decimal(text)``. Raises ``OSError`` when the file cannot be read and ``ValueError`` on a bad row."""
    out: dict[tuple[str, str], list[MarginTier]] = {}
    line_of: dict[int, int] = {}  # id(tier) → its line, for a schedule error
    p = path or default_tiers_path()
    with p.open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            try:
                cap = row["notional_cap"].strip()
                tier = MarginTier(
                    venue=row["venue"].strip(),
                    symbol=row["symbol"].strip(),
                    floor=Decimal(row["notional_floor"]),
                    cap=Decimal(cap) if cap else None,
                    max_leverage=Decimal(row["max_leverage"]),
                    mmr=Decimal(row["mmr"]),
                    maintenance_amount=Decimal(row["maintenance_amount"]),
                    source=row["source_url"].strip(),
                    as_of=row["as_of"].strip(),
                )
            except (KeyError, ArithmeticError, AttributeError) as err:
                raise ValueError(f"{p}:{n}: bad tier row ({err})") from err
            problem = _bad_tier(tier)
            if problem:
                raise ValueError(f"{p}:{n}: {problem}")
            out.setdefault((tier.venue, tier.symbol), []).append(tier)
            line_of[id(tier)] = n
    table = {k: tuple(sorted(v, key=lambda t: t.floor)) for k, v in out.items()}
    for (venue, symbol), tiers in table.items():
        bad = _bad_schedule(tiers)
        if bad is not None:
            tier, problem = bad
            raise ValueError(f"{p}:{line_of[id(tier)]}: {venue} {symbol}: {problem}")
    return TierTable(table)


def _bad_tier(t: MarginTier) -> str | None:
    """What is wrong with one row, or ``None``: finite numbers, 0 < mmr < 1, max_leverage > 0, maintenance
    amount ≥ 0, 0 ≤ floor < cap."""
    numbers = (t.floor, t.max_leverage, t.mmr, t.maintenance_amount, *(() if t.cap is None else (t.cap,)))
    if not all(x.is_finite() for x in numbers):
        return "every number must be finite"
    if not (0 < t.mmr < 1):
        return f"mmr must be a fraction in (0, 1), got {t.mmr}"
    if not t.max_leverage > 0:
        return f"max_leverage must be > 0, got {t.max_leverage}"
    if t.maintenance_amount < 0:
        return f"maintenance_amount must be ≥ 0, got {t.maintenance_amount}"
    if t.floor < 0 or (t.cap is not None and t.cap <= t.floor):
        return f"the band must have 0 ≤ floor < cap, got {t.floor} → {t.cap}"
    return None


def _bad_schedule(tiers: tuple[MarginTier, ...]) -> tuple[MarginTier, str] | None:
    """The first wrong band of one venue × symbol schedule (bands sorted by floor) and what is wrong, or
    ``None``: it starts at 0 and each band starts where the previous one ends (no gap, no overlap); only the last
    band may be unbounded."""
    if tiers[0].floor != 0:
        return tiers[0], f"the first band must start at 0, not {tiers[0].floor}"
    for before, after in itertools.pairwise(tiers):
        if before.cap is None or after.floor != before.cap:
            return after, (
                f"bands must follow each other: {before.floor} → {before.cap} then {after.floor} → {after.cap}"
            )
    return None


# --- pure formulas ---------------------------------------------------------------------------------------------


def maintenance_margin(notional: Decimal, tier: MarginTier) -> Decimal:
    """Maintenance margin of one leg (USD): ``notional · MMR − maintenance amount`` (Binance, Bybit, Hyperliquid
    formulas, module docstring), never below 0."""
    return max(notional * tier.mmr - tier.maintenance_amount, _ZERO)


def margin_ratio(maintenance: Decimal, equity: Decimal) -> Decimal | None:
    """``maintenance / equity`` (fraction; ≥ 1 means the venue liquidates); ``None`` when equity ≤ 0."""
    return maintenance / equity if equity > 0 else None


def liquidation_price(
    *,
    wallet: Decimal,
    other_maintenance: Decimal,
    other_unrealized: Decimal,
    maintenance_amount: Decimal,
    side: int,
    qty: Decimal,
    entry_price: Decimal,
    mmr: Decimal,
    solve: bool = False,
) -> Decimal | None:
    """Price (USD per base unit) at which the venue liquidates a leg in a cross-margined account, or ``None``.

    Binance, "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts" (cross margin, one-way mode)::

        LP = (WB − TMM₁ + UPNL₁ + cum − side·qty·EP) / (qty·MMR − side·qty)

    ``WB`` wallet balance (``wallet``), ``TMM₁`` / ``UPNL₁`` maintenance margin and unrealized PnL of the
    account's *other* positions, ``cum`` the tier's maintenance amount, ``side`` +1 long / −1 short, ``qty`` the
    absolute size, ``EP`` entry price, ``MMR`` the tier's rate. It is the price P solving *equity = maintenance
    margin*: WB + UPNL₁ + side·qty·(P − EP) = TMM₁ + qty·P·MMR − cum. Hyperliquid ("Liquidations": a cross
    position is liquidated when account value < maintenance margin, with ``maintenance_margin = notional · MMR −
    maintenance_deduction`` from "Margin tiers") and Bybit ("Liquidation Price (USDT Contract)": liquidation
    when equity falls to the maintenance margin, MM = position value · MMR − deduction, "Margin Parameters")
    give the same equation, so the same formula with their own MMR and deduction. A result ≤ 0 or not finite
    (``qty`` = 0, a zero denominator) → ``None``: no price can liquidate the leg (``solve=True``: the price
    found even when ≤ 0 — how far the wallet is from liquidating the leg at any price — and ``None`` only for
    ``qty`` = 0 or a zero denominator)."""
    denominator = qty * mmr - side * qty
    if qty <= 0 or denominator == 0:
        return None
    price = (
        wallet - other_maintenance + other_unrealized + maintenance_amount - side * qty * entry_price
    ) / denominator
    if solve:
        return price
    if not price.is_finite() or price <= 0:
        return None
    return price


def _plain(value: Decimal) -> Decimal:
    """``value``, a zero of any exponent as ``Decimal(0)`` (``str`` of ``0E-13`` is not a plain decimal)."""
    return value if value else _ZERO


# --- the account -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """A snapshot of one account (USD), the fields of ``account.updated``."""

    venue: str
    collateral_usd: Decimal
    wallet_balance: Decimal
    unrealized_pnl: Decimal
    equity: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    margin_ratio: Decimal | None
    available_balance: Decimal


@dataclass(slots=True)
class _Holding:
    qty: Decimal  # signed: + long, − short
    entry_price: Decimal  # average entry (USD)


class VenueAccount:
    """One venue's cross-margined collateral account (module docstring). Marks are fed by the paper venue;
    fills, funding, liquidations and transfers are booked here. Not thread-safe (one market loop)."""

    def __init__(
        self,
        venue: str,
        collateral: Decimal,
        tiers: dict[str, tuple[MarginTier, ...]],
        default_leverage: Decimal,
    ) -> None:
        """``collateral`` USD > 0 (raises ``ValueError`` else); ``tiers`` per symbol; ``default_leverage`` the
        leverage a symbol's initial margin uses until ``set_leverage``."""
        if not collateral > 0:
            raise ValueError(f"{venue}: collateral must be > 0 USD, got {collateral}")
        self.venue = venue
        self.collateral = collateral
        self.realized = _ZERO
        self.fees = _ZERO
        self.funding = _ZERO
        self._tiers = tiers
        self._default_leverage = default_leverage
        self._leverage: dict[str, Decimal] = {}
        self._holdings: dict[str, _Holding] = {}
        self._marks: dict[str, Decimal] = {}

    # --- booking ---------------------------------------------------------------------------------------

    def set_mark(self, symbol: str, mark: Decimal) -> None:
        self._marks[symbol] = mark

    def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        """The leverage ``symbol``'s initial margin is computed at (> 0)."""
        if not leverage > 0:
            raise ValueError(f"leverage must be > 0, got {leverage}")
        self._leverage[symbol] = leverage

    def leverage(self, symbol: str) -> Decimal:
        return self._leverage.get(symbol, self._default_leverage)

    def book_fill(self, symbol: str, signed_qty: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        """Book a fill of ``signed_qty`` (+ buy, − sell) at ``price`` with ``fee`` (USD ≥ 0). A fill that
        reduces a holding realizes ``sign·closed·(price − entry)``; one that adds averages the entry. Returns the
        price PnL realized (USD)."""
        self.fees += fee
        held = self._holdings.get(symbol)
        if held is None or held.qty == 0:
            self._holdings[symbol] = _Holding(signed_qty, price)
            return _ZERO
        if (held.qty > 0) == (signed_qty > 0):
            total = held.qty + signed_qty
            held.entry_price = (held.entry_price * abs(held.qty) + price * abs(signed_qty)) / abs(total)
            held.qty = total
            return _ZERO
        closed = min(abs(signed_qty), abs(held.qty))
        sign = 1 if held.qty > 0 else -1
        pnl = sign * closed * (price - held.entry_price)
        self.realized += pnl
        rest = held.qty + signed_qty
        if rest == 0:
            del self._holdings[symbol]
        elif (rest > 0) == (held.qty > 0):
            held.qty = rest
        else:  # flipped through zero: the remainder opens at the fill price
            self._holdings[symbol] = _Holding(rest, price)
        return pnl

    def book_funding(self, payment: Decimal) -> None:
        """A funding payment (USD, + received)."""
        self.funding += payment

    def book_liquidation(self, symbol: str, price: Decimal, fee: Decimal) -> Decimal:
        """The venue closed the whole holding in ``symbol`` at ``price`` and charged ``fee`` (USD). Returns the
        price PnL realized."""
        held = self._holdings[symbol]
        return self.book_fill(symbol, -held.qty, price, fee)

    def transfer_in(self, amount: Decimal) -> None:
        """Collateral moved in from another venue's account (USD > 0)."""
        self.collateral += amount

    def transfer_out(self, amount: Decimal) -> None:
        """Collateral moved out to another venue's account (USD > 0, at most ``transferable()``; raises
        ``ValueError`` otherwise)."""
        room = self.transferable()
        if amount > room:
            raise ValueError(f"{self.venue}: transfer of {amount} exceeds the transferable {room}")
        self.collateral -= amount

    # --- figures -----------------------------------------------------------------------------------------

    def holding(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        """``(signed qty, entry price)`` of the open holding in ``symbol``, or ``None``."""
        held = self._holdings.get(symbol)
        return (held.qty, held.entry_price) if held is not None else None

    def wallet(self) -> Decimal:
        return self.collateral + self.realized - self.fees + self.funding

    def _notional(self, symbol: str) -> Decimal:
        return abs(self._holdings[symbol].qty) * self._marks[symbol]

    def _unrealized(self, symbol: str) -> Decimal:
        held = self._holdings[symbol]
        return held.qty * (self._marks[symbol] - held.entry_price)

    def within_schedule(self, symbol: str, notional: Decimal) -> bool:
        """Whether a position of ``notional`` (USD) in ``symbol`` lies within the venue's published schedule (its
        last band's cap, if that band has one)."""
        cap = self._tiers[symbol][-1].cap
        return cap is None or notional <= cap

    def tier(self, symbol: str, notional: Decimal) -> MarginTier:
        return tier_for(self._tiers[symbol], notional)

    def _maintenance(self, symbol: str) -> Decimal:
        notional = self._notional(symbol)
        return maintenance_margin(notional, self.tier(symbol, notional))

    def unrealized(self) -> Decimal:
        return sum((self._unrealized(s) for s in self._holdings), _ZERO)

    def equity(self) -> Decimal:
        return self.wallet() + self.unrealized()

    def initial_margin(self, extra_notional: Decimal = _ZERO, symbol: str | None = None) -> Decimal:
        """Σ notional at mark / leverage, plus ``extra_notional`` of ``symbol`` (an order being checked)."""
        total = sum((self._notional(s) / self.leverage(s) for s in self._holdings), _ZERO)
        if extra_notional and symbol is not None:
            total += extra_notional / self.leverage(symbol)
        return total

    def maintenance(self) -> Decimal:
        return sum((self._maintenance(s) for s in self._holdings), _ZERO)

    def available(self) -> Decimal:
        return self.equity() - self.initial_margin()

    def transferable(self) -> Decimal:
        """What may leave the account (USD ≥ 0): ``min(wallet, equity) − initial margin``. Unrealized profit
        backs the positions but cannot be moved out — Binance's ``maxWithdrawAmount`` and Bybit's transferable
        balance leave it out, while an unrealized loss reduces what may leave; the same rule on every venue
        (conservative where a venue would allow more)."""
        return max(min(self.wallet(), self.equity()) - self.initial_margin(), _ZERO)

    def spare_collateral(self, min_distance_pct: Decimal) -> Decimal:
        """What may leave the account (USD ≥ 0) so that every holding stays at least ``min_distance_pct``
        (percent of its mark) from its liquidation price: ``transferable()``, capped per holding by the
        collateral it has beyond that distance. A holding's liquidation price is linear in the wallet
        (``liquidation_price``: slope 1 / (qty·MMR − side·qty)), so that amount is ``(LP − target) · (qty·MMR −
        side·qty)`` with target = mark · (1 ∓ min_distance_pct / 100) — exact within the holding's tier."""
        room = self.transferable()
        for symbol, held in self._holdings.items():
            solved = self._solve(symbol)
            if solved is None:
                continue
            raw, tier = solved
            qty, side, mark = abs(held.qty), (1 if held.qty > 0 else -1), self._marks[symbol]
            target = mark * (1 - side * min_distance_pct / 100)
            room = min(room, max((raw - target) * (qty * tier.mmr - side * qty), _ZERO))
        return room

    def figures(self) -> AccountFigures:
        """The account now (USD). A zero is written ``0``, not ``0E-13`` (a difference of equal 13-decimal
        figures), so the record and the API read as plain decimals."""
        wallet = self.wallet()
        unrealized = self.unrealized()
        equity = wallet + unrealized
        maintenance = self.maintenance()
        initial = self.initial_margin()
        ratio = margin_ratio(maintenance, equity)
        return AccountFigures(
            venue=self.venue,
            collateral_usd=_plain(self.collateral),
            wallet_balance=_plain(wallet),
            unrealized_pnl=_plain(unrealized),
            equity=_plain(equity),
            initial_margin=_plain(initial),
            maintenance_margin=_plain(maintenance),
            margin_ratio=None if ratio is None else _plain(ratio),
            available_balance=_plain(equity - initial),
        )

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """The holding's liquidation price (``liquidation_price``), ``None`` when flat or when no price can
        liquidate it. The tier is the one at the mark's notional; when the price found lies in another band
        (Binance FAQ: "substitute the maintenance margin rate and amount of the position level at the
        liquidation price"), it is recomputed once with that band."""
        solved = self._solve(symbol)
        if solved is None or not solved[0].is_finite() or solved[0] <= 0:
            return None
        return solved[0]

    def under_water_at_any_price(self, symbol: str) -> bool:
        """Whether the holding in ``symbol`` is a short whose account is under its maintenance margin at every
        positive price (the price solving equity = maintenance is ≤ 0: a long there is safe at any price, a
        short is past liquidation at any price)."""
        held = self._holdings.get(symbol)
        solved = self._solve(symbol)
        return held is not None and held.qty < 0 and solved is not None and solved[0] <= 0

    def _solve(self, symbol: str) -> tuple[Decimal, MarginTier] | None:
        """The price (possibly ≤ 0: no price can liquidate) solving equity = maintenance for ``symbol``'s
        holding, the other holdings at their marks, and the tier it was solved with; ``None`` when flat."""
        held = self._holdings.get(symbol)
        if held is None or held.qty == 0:
            return None
        others = [s for s in self._holdings if s != symbol]
        other_mm = sum((self._maintenance(s) for s in others), _ZERO)
        other_upnl = sum((self._unrealized(s) for s in others), _ZERO)
        qty = abs(held.qty)
        side = 1 if held.qty > 0 else -1
        wallet = self.wallet()
        tier = self.tier(symbol, self._notional(symbol))
        for _ in range(2):
            price = liquidation_price(
                wallet=wallet,
                other_maintenance=other_mm,
                other_unrealized=other_upnl,
                maintenance_amount=tier.maintenance_amount,
                side=side,
                qty=qty,
                entry_price=held.entry_price,
                mmr=tier.mmr,
                solve=True,
            )
            if price is None:
                return None
            at_price = self.tier(symbol, qty * price) if price > 0 else tier
            if at_price == tier:
                break
            tier = at_price
        return price, tier

    def projected_liquidation_price(
        self, symbol: str, signed_qty: Decimal, price: Decimal, fee: Decimal = _ZERO
    ) -> Decimal | None:
        """The liquidation price ``symbol``'s holding would have after a fill of ``signed_qty`` at ``price``
        (with ``fee``), the account otherwise as it is — what an entry would start at. Nothing is booked."""
        trial = copy.deepcopy(self)
        trial.book_fill(symbol, signed_qty, price, fee)
        trial.set_mark(symbol, price)
        return trial.liquidation_price(symbol)

    def collateral_for(self, symbol: str, target_price: Decimal) -> Decimal:
        """USD of collateral to add so the holding's liquidation price moves to ``target_price``.

        ``LP`` is linear in the wallet balance with slope ``1 / (qty·MMR − side·qty)`` (``liquidation_price``), so
        the amount is ``(target − LP) · (qty·MMR − side·qty)`` at the tier of the mark's notional (> 0 when the
        target is farther from the mark than LP). 0 when flat or without a finite LP."""
        held = self._holdings.get(symbol)
        lp = self.liquidation_price(symbol)
        if held is None or lp is None:
            return _ZERO
        qty = abs(held.qty)
        side = 1 if held.qty > 0 else -1
        tier = self.tier(symbol, self._notional(symbol))
        return (target_price - lp) * (qty * tier.mmr - side * qty)

    def liquidation_fee(self, symbol: str, price: Decimal) -> Decimal:
        """What the venue keeps when it liquidates the holding at ``price`` (USD): the leg's maintenance margin at
        that price (``qty·price·MMR − maintenance amount``), the margin the leg still had when it reached its
        liquidation price. One conservative rule for the three venues, each of which keeps at most that much in
        the case modelled here (the whole leg closed at once, hourly data): Binance charges an insurance
        clearance fee on the amount liquidated out of the remaining collateral ("Insurance Fund" FAQ: a portion
        of the remaining collateral goes to the fund), a partial liquidation first; Bybit closes at the
        bankruptcy price, the margin left going to its insurance fund; Hyperliquid's liquidator vault keeps the
        maintenance margin only in a backstop liquidation ("Liquidations") — a liquidation through the book
        leaves it with the trader, so on Hyperliquid this overstates the loss of an orderly liquidation."""
        qty = abs(self._holdings[symbol].qty)
        notional = qty * price
        return maintenance_margin(notional, self.tier(symbol, notional))


__all__ = [
    "AccountFigures",
    "MarginTier",
    "TierTable",
    "VenueAccount",
    "default_tiers_path",
    "liquidation_price",
    "load_tiers",
    "maintenance_margin",
    "margin_ratio",
    "tier_for",
]
