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


_BP = Decimal("0.0001")


def round_trip_cost_fraction(
    long_taker_fee: Decimal,
    short_taker_fee: Decimal,
    long_slippage_bps: Decimal = _ZERO,
    short_slippage_bps: Decimal = _ZERO,
) -> Decimal:
    """Taker fees plus slippage to open and later close both legs, as a fraction of one leg's notional:
    ``2·(f_long + f_short) + 2·(s_long + s_short)·10⁻⁴``.

    ``s_*`` is the venue's slippage per fill in basis points (the paper venue fills a market order at
    ``mark · (1 ± s·10⁻⁴)``, ``bot/venues/paper.py``); each leg fills twice (open, close). With the default venues
    (2, 2 and 3 bp) a Hyperliquid/Binance round trip costs 0.10 % in slippage on top of 0.19 % in fees.
    """
    slippage = 2 * (long_slippage_bps + short_slippage_bps) * _BP
    return round_trip_fee_fraction(long_taker_fee, short_taker_fee) + slippage


def net_spread_apr(
    spread: Decimal,
    long_taker_fee: Decimal,
    short_taker_fee: Decimal,
    hold_hours: Decimal,
    *,
    long_slippage_bps: Decimal = _ZERO,
    short_slippage_bps: Decimal = _ZERO,
) -> Decimal:
    """Spread APR after the round trip's taker fees and slippage, amortised over the expected hold.

    ``net = spread − [2·(f_long + f_short) + 2·(s_long + s_short)·10⁻⁴] · 8760 / hold_hours``
    (``round_trip_cost_fraction``; ``f`` taker fee fractions, ``s`` slippage per fill in bp, both legs, open and
    close). Slippage defaults to 0 for callers that know none (a log written before venues reported it). Raises
    ``ValueError`` if ``hold_hours`` ≤ 0.
    """
    if hold_hours <= 0:
        raise ValueError(f"expected hold must be positive, got {hold_hours} h")
    cost = round_trip_cost_fraction(long_taker_fee, short_taker_fee, long_slippage_bps, short_slippage_bps)
    return spread - cost * HOURS_PER_YEAR / hold_hours


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


def liquidation_distance_pct(side: str, mark_price: Decimal, liquidation_price: Decimal) -> Decimal:
    """Signed distance of a leg to its liquidation price, percent of the mark: ``sign(side) · (mark − LP) / mark
    · 100`` (``side`` long/short, or buy/sell for the leg an order opens). Positive: how far the price may still
    move against the leg; ≤ 0: the mark is at or past the liquidation price (its account is under maintenance
    margin). Raises ``ValueError`` if the mark is not positive."""
    if mark_price <= 0:
        raise ValueError(f"mark price must be positive, got {mark_price}")
    return side_sign(side) * (mark_price - liquidation_price) / mark_price * _HUNDRED


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
#: Half-width of the clamp on ``I − P`` in the funding formula, per 8 hours (0.05 %; same three venues' docs).
FUNDING_CLAMP_PER_8H = Decimal("0.0005")
_EIGHT_HOURS_S = 8 * 3600


def premium_band_from_funding_rate(
    rate: Decimal,
    interval_s: int,
    interest_per_8h: Decimal = INTEREST_RATE_PER_8H,
    clamp_per_8h: Decimal = FUNDING_CLAMP_PER_8H,
) -> tuple[Decimal, Decimal]:
    """The average premium index ``P`` (fraction of the index) a realised funding rate allows: ``(low, high)``.

    Venue formula, per 8 hours: ``F = P + clamp(I − P, −c, +c)`` with ``I`` the interest rate (0.01 %) and
    ``c`` = 0.05 %. Sources: Binance FAQ "Introduction to Binance Futures Funding Rates"
    (binance.com/en/support/faq/360033525031); Bybit Help Center "What is funding rate and predicted rate"
    (bybit.com/en/help-center/article/What-is-funding-rate-and-predicted-rate: "if (I − P) is within ±0.05 %, then
    F = I"); Hyperliquid Docs "Trading › Funding" (hyperliquid.gitbook.io/hyperliquid-docs/trading/funding, also
    hyperliquid-co.gitbook.io/community-docs/…/clearinghouse/funding): the same formula as an 8-hour rate with
    I = 0.01 % per 8 h, the premium measured from impact prices against the **oracle** price, sampled every 5 s and
    averaged over the hour, 1/8 of the 8-hour rate paid every hour. With ``F_8h = rate · 28800 / interval_s``,
    inverting gives three cases:

    * ``F_8h = I`` — clamp unsaturated: any ``P`` in ``[I − c, I + c]`` (−0.04 % … +0.06 %) gives it;
    * ``F_8h > I`` — clamp saturated at −c: ``P = F_8h + c`` exactly;
    * ``F_8h < I`` — clamp saturated at +c: ``P = F_8h − c`` exactly.

    Returns ``(P, P)`` when saturated. Raises ``ValueError`` for a non-positive interval.
    """
    if interval_s <= 0:
        raise ValueError(f"funding interval must be positive, got {interval_s} s")
    f_8h = rate * _EIGHT_HOURS_S / interval_s
    if f_8h > interest_per_8h:
        return f_8h + clamp_per_8h, f_8h + clamp_per_8h
    if f_8h < interest_per_8h:
        return f_8h - clamp_per_8h, f_8h - clamp_per_8h
    return interest_per_8h - clamp_per_8h, interest_per_8h + clamp_per_8h


def premium_from_funding_rate(
    rate: Decimal,
    interval_s: int,
    interest_per_8h: Decimal = INTEREST_RATE_PER_8H,
    clamp_per_8h: Decimal = FUNDING_CLAMP_PER_8H,
) -> Decimal:
    """Premium of the perpetual over its index implied by a funding rate, fraction (model used for paper marks).

    Inverts ``F = P + clamp(I − P, ±c)`` (``premium_band_from_funding_rate``, sources there). A saturated clamp
    identifies ``P`` exactly (``F_8h ± 0.05 %``). An unsaturated one (``F_8h`` equal to the interest rate) only
    bounds it to ``[I − c, I + c]``; the choice inside the band is a **deterministic rule, no draw**: the point
    of the band nearest to zero (perp at its index), i.e. ``0`` with the venues' parameters. Why this rule: the
    rate says nothing more about ``P`` in the band, zero is the premium a market at rest converges to, and a
    stateless rule gives the same mark for the same hour whatever hour a replay starts at (a seeded draw or a
    "stay where the premium last was" rule would not); the seeded ``mark_noise_bps`` of ``bot/venues/paper.py``
    is the only randomness on marks. Raises ``ValueError`` for a non-positive interval.
    """
    low, high = premium_band_from_funding_rate(rate, interval_s, interest_per_8h, clamp_per_8h)
    return min(max(_ZERO, low), high)
