"""Funding-arbitrage arithmetic, in one place, on ``Decimal`` only.

The strategy uses these to decide and the dashboard reducer uses them to display, so the figure an exit was
decided on and the figure on screen are the same computation. No I/O, no imports from the project.

Conventions: a *rate* is a fraction per funding interval; an *APR* is a fraction per 365-day year; a ``*_pct``
result is a percentage; money is USD (USDT and USDC are treated as 1 USD, see ``bot/data/market/README.md``).
"""

from __future__ import annotations

from decimal import Decimal

SECONDS_PER_YEAR = Decimal(365 * 24 * 3600)
HOURS_PER_YEAR = Decimal(8760)
_HUNDRED = Decimal(100)
_ZERO = Decimal(0)


def side_sign(side: str) -> int:
    """+1 for a ``long`` leg (or a ``buy``), −1 for a ``short`` leg (or a ``sell``). Raises ``ValueError`` else."""
    if side in ("long", "buy"):
        return 1
    if side in ("short", "sell"):
        return -1
    raise ValueError(f"unknown side {side!r} (expected long/short/buy/sell)")


def rate_to_apr(rate: Decimal, interval_s: int) -> Decimal:
    """Annualise a per-interval funding rate: ``rate · (365·24·3600 / interval_s)``.

    Same convention as the data source's ``rate_apr`` (``rate_raw · 8760 / interval_hours``). Raises
    ``ValueError`` for a non-positive interval.
    """
    if interval_s <= 0:
        raise ValueError(f"funding interval must be positive, got {interval_s} s")
    return rate * SECONDS_PER_YEAR / Decimal(interval_s)


def spread_apr(
    long_rate: Decimal, long_interval_s: int, short_rate: Decimal, short_interval_s: int
) -> Decimal:
    """Funding carry of long-on-A / short-on-B, fraction per year: ``APR(short) − APR(long)``.

    The short leg receives its venue's (positive) rate and the long leg pays its own, so the position earns the
    difference of the annualised rates, independent of the two venues' funding intervals.
    """
    return rate_to_apr(short_rate, short_interval_s) - rate_to_apr(long_rate, long_interval_s)


def round_trip_fee_fraction(long_taker_fee: Decimal, short_taker_fee: Decimal) -> Decimal:
    """Fees to open and later close both legs, as a fraction of one leg's notional: ``2·(f_long + f_short)``."""
    return 2 * (long_taker_fee + short_taker_fee)


def net_spread_apr(
    spread: Decimal, long_taker_fee: Decimal, short_taker_fee: Decimal, hold_hours: Decimal
) -> Decimal:
    """Spread APR after round-trip taker fees amortised over the expected hold.

    ``net = spread − round_trip_fee_fraction · 8760 / hold_hours``. Raises ``ValueError`` if ``hold_hours`` ≤ 0.
    """
    if hold_hours <= 0:
        raise ValueError(f"expected hold must be positive, got {hold_hours} h")
    return spread - round_trip_fee_fraction(long_taker_fee, short_taker_fee) * HOURS_PER_YEAR / hold_hours


def unrealized_pnl(side: str, qty: Decimal, entry_price: Decimal, mark_price: Decimal) -> Decimal:
    """Price PnL of an open leg in USD: ``sign(side) · qty · (mark − entry)``."""
    return side_sign(side) * qty * (mark_price - entry_price)


def realized_pnl(side: str, qty: Decimal, entry_price: Decimal, exit_price: Decimal) -> Decimal:
    """Price PnL booked when ``qty`` of a leg is closed at ``exit_price`` (same formula as unrealized)."""
    return unrealized_pnl(side, qty, entry_price, exit_price)


def funding_payment(side: str, qty: Decimal, mark_price: Decimal, rate: Decimal) -> Decimal:
    """Signed funding cash flow of one leg at a settlement (USD, + = received): ``−sign(side)·qty·mark·rate``.

    Venue convention (Binance, Bybit, Hyperliquid docs): a positive rate means longs pay shorts, notional is
    valued at the mark price at settlement.
    """
    return -side_sign(side) * qty * mark_price * rate


def divergence_pct(long_mark: Decimal, short_mark: Decimal) -> Decimal:
    """Basis between the two venues' marks, percent: ``(short_mark / long_mark − 1) · 100``.

    Positive when the short venue trades rich. Raises ``ValueError`` if ``long_mark`` is not positive.
    """
    if long_mark <= 0:
        raise ValueError(f"mark price must be positive, got {long_mark}")
    return (short_mark / long_mark - 1) * _HUNDRED


def profit_erosion_pct(entry_spread_apr: Decimal, current_spread_apr: Decimal) -> Decimal:
    """How much of the entry spread is gone, percent: ``(1 − current / entry) · 100``.

    0 % = spread unchanged, 100 % = spread gone, > 100 % = spread flipped sign. An entry spread of zero or less
    (never opened by the scanner) gives 0.
    """
    if entry_spread_apr <= 0:
        return _ZERO
    return (1 - current_spread_apr / entry_spread_apr) * _HUNDRED


def margin_for(notional: Decimal, leverage: Decimal) -> Decimal:
    """Initial margin of a leg in USD: ``notional / leverage``. Raises ``ValueError`` if leverage ≤ 0."""
    if leverage <= 0:
        raise ValueError(f"leverage must be positive, got {leverage}")
    return notional / leverage


def taker_fee(notional: Decimal, fee_rate: Decimal) -> Decimal:
    """Taker fee in USD for a fill of ``notional`` USD at ``fee_rate`` (fraction)."""
    return notional * fee_rate


#: Interest component of the funding formula on Binance, Bybit and Hyperliquid: 0.01 % per 8 hours.
INTEREST_RATE_PER_8H = Decimal("0.0001")
_EIGHT_HOURS_S = 8 * 3600


def premium_from_funding_rate(
    rate: Decimal, interval_s: int, interest_per_8h: Decimal = INTEREST_RATE_PER_8H
) -> Decimal:
    """First-order premium of mark over index implied by a funding rate, fraction: ``rate_8h − interest``.

    Venue formula (Binance and Bybit funding-rate docs): ``F = P + clamp(I − P, −0.05 %, +0.05 %)`` with ``P`` the
    average premium index and ``I`` the interest rate (0.01 % per 8 h); Hyperliquid (docs, "Funding") computes the
    same 8-hour-equivalent rate and pays 1/8 of it every hour. Inverting with the clamp inactive gives
    ``P ≈ F_8h − I`` where ``F_8h = rate · 28800 / interval_s``. (Inside the clamp band the premium is not
    identified; this estimate then gives 0.) Raises ``ValueError`` for a non-positive interval.
    """
    if interval_s <= 0:
        raise ValueError(f"funding interval must be positive, got {interval_s} s")
    return rate * _EIGHT_HOURS_S / interval_s - interest_per_8h
