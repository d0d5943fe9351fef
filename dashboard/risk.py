"""Risk of the current book: the hourly history it is computed from, and the one function computing the 1-day
VaR, expected shortfall and stress (``historical_var``).

The history (``dashboard.state.HourSeries``, one per venue × symbol) is kept by the folds: the mark fold
(``dashboard.folds.market``) records each hour's last mark (``sample_mark``), the rate fold
(``dashboard.folds.funding``) each change of the funding rate (``sample_rate``). Both are O(1) per event; the
VaR is computed at snapshot time only, cached by the content it depends on (``book_risk``), so a replay folds
as fast as before and a snapshot rebuilt in the same market hour costs a dictionary lookup.

Everything is a function of the folded events (no wall clock, no look-ahead: the history holds only what was
folded up to that moment), so a live run, a JSONL replay and a PostgreSQL replay compute the same figures.
Money is ``Decimal`` throughout, the quantile rule included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from arbdash.dashboard.state import DashboardState, HourSeries

__all__ = [
    "DEFAULT_CONFIDENCE",
    "HISTORY_HOURS",
    "HORIZON_HOURS",
    "MIN_HISTORY_HOURS",
    "MIN_SCENARIOS",
    "RiskFigures",
    "book_risk",
    "historical_var",
    "hour_of",
    "sample_mark",
    "sample_rate",
]

#: Hours of history kept per venue × symbol (30 days: 90 days made a checkpoint ~12× larger; see the module
#: doc): the scenarios come from this window.
HISTORY_HOURS = 30 * 24
#: The series is trimmed back to ``HISTORY_HOURS`` once it is this much longer (amortised trimming).
TRIM_SLACK_HOURS = 24
#: The VaR horizon: one day of hourly marks.
HORIZON_HOURS = 24
#: Scenarios needed before a VaR is shown (one week of hourly 1-day windows).
MIN_SCENARIOS = 168
#: The hours of history those scenarios need: the scenario ending at hour h also needs the mark of h − 24 h, so
#: N scenarios need N + ``HORIZON_HOURS`` hours of marks (192 h); before, the figures read
#: ``n/a (needs 192 h)``.
MIN_HISTORY_HOURS = MIN_SCENARIOS + HORIZON_HOURS
#: The confidence when ``session.started`` gives no ``var_confidence``.
DEFAULT_CONFIDENCE = Decimal("0.99")
_ZERO = Decimal(0)
_SECONDS_PER_HOUR = 3600


def hour_of(seconds: float) -> int:
    """The hour (since the Unix epoch, UTC) holding ``seconds`` (a POSIX timestamp)."""
    return int(seconds // _SECONDS_PER_HOUR)


def _series(state: DashboardState, venue: str, symbol: str, hour: int) -> HourSeries:
    by_symbol = state.history.get(venue)
    if by_symbol is None:
        by_symbol = state.history[venue] = {}
    series = by_symbol.get(symbol)
    if series is None:
        series = by_symbol[symbol] = HourSeries(start=hour)
    return series


def _trim_rates(series: HourSeries) -> None:
    """Drop rate changes before ``series.start``, keeping the last one (the rate in force at the start)."""
    rates = series.rates
    k = 0
    while k + 1 < len(rates) and rates[k + 1][0] <= series.start:
        k += 1
    if k:
        del rates[:k]


def sample_mark(state: DashboardState, venue: str, symbol: str, hour: int, price: str) -> None:
    """Record ``price`` (validated text) as the mark of ``venue`` × ``symbol`` in ``hour`` (the last one folded
    in an hour wins). An hour older than the series' start is ignored; a gap is filled with ``None``; a jump
    of more than ``HISTORY_HOURS`` starts the series again at ``hour`` (the rate in force is kept)."""
    series = _series(state, venue, symbol, hour)
    marks = series.marks
    i = hour - series.start
    n = len(marks)
    if i == n:
        marks.append(price)
    elif 0 <= i < n:
        marks[i] = price
        return
    elif i > n:
        if i - n >= HISTORY_HOURS:
            series.start = hour
            marks.clear()
            marks.append(price)
            _trim_rates(series)
            return
        marks.extend([None] * (i - n))
        marks.append(price)
    else:
        return
    if len(marks) > HISTORY_HOURS + TRIM_SLACK_HOURS:
        cut = len(marks) - HISTORY_HOURS
        del marks[:cut]
        series.start += cut
        _trim_rates(series)


def sample_rate(
    state: DashboardState, venue: str, symbol: str, hour: int, rate: str, interval_s: int
) -> None:
    """Record a funding rate of ``venue`` × ``symbol`` folded in ``hour`` (fraction per ``interval_s``, validated
    text): a change is appended, the last one folded in an hour wins, an hour before the last change is
    ignored (the rate in force is what was folded last)."""
    series = _series(state, venue, symbol, hour)
    rates = series.rates
    if rates:
        last = rates[-1]
        if hour < last[0]:
            return
        if last[1] == rate and last[2] == interval_s:
            return
        if hour == last[0]:
            rates[-1] = (hour, rate, interval_s)
            return
    rates.append((hour, rate, interval_s))
    if len(rates) > HISTORY_HOURS + TRIM_SLACK_HOURS:
        floor = hour - HISTORY_HOURS
        k = 0
        while k + 1 < len(rates) and rates[k + 1][0] <= floor:
            k += 1
        if k:
            del rates[:k]


@dataclass(frozen=True, slots=True)
class RiskFigures:
    """The VaR figures of one book (USD; a loss is positive): ``var`` and ``es`` at ``confidence`` over
    ``scenarios`` 1-day scenarios, ``stress`` = the worst of them; all three ``None`` while
    ``scenarios < MIN_SCENARIOS`` (or the book is empty: ``scenarios`` 0 and ``empty``)."""

    confidence: Decimal
    scenarios: int
    var: Decimal | None = None
    es: Decimal | None = None
    stress: Decimal | None = None
    empty: bool = False


#: One leg of a book: (venue, symbol, side "long" | "short", qty in base units).
Leg = tuple[str, str, str, Decimal]


def _unit_pnl(series: HourSeries, first: int, last: int) -> dict[int, Decimal]:
    """Per base unit held long, the 1-day P&L ending at each hour h in [first, last] the history can price:
    ``mark_h − mark_{h−24} − Σ_k mark_k · rate_k`` over the settlement hours k in (h−24, h] (see
    ``historical_var``). Hours it cannot price (a mark or the rate in force missing) are left out."""
    marks, start = series.marks, series.start
    n = len(marks)
    rates = series.rates
    # the funding paid per unit long at each hour: mark · rate at a settlement hour, 0 otherwise, None unknown
    lo = max(first - HORIZON_HOURS + 1, start)
    paid: list[Decimal | None] = []
    r = -1
    for k in range(lo, last + 1):
        while r + 1 < len(rates) and rates[r + 1][0] <= k:
            r += 1
        i = k - start
        text = marks[i] if 0 <= i < n else None
        if r < 0:
            paid.append(None)
            continue
        _, rate_text, interval = rates[r]
        if (k * _SECONDS_PER_HOUR) % interval:
            paid.append(_ZERO)
        elif text is None:
            paid.append(None)
        else:
            paid.append(Decimal(text) * Decimal(rate_text))
    out: dict[int, Decimal] = {}
    for h in range(max(first, start + HORIZON_HOURS), last + 1):
        i, j = h - start, h - start - HORIZON_HOURS
        if i >= n or marks[i] is None or marks[j] is None:
            continue
        window = paid[h - HORIZON_HOURS + 1 - lo : h + 1 - lo]
        if len(window) != HORIZON_HOURS or any(x is None for x in window):
            continue
        funding = sum(window, _ZERO)  # type: ignore[arg-type]
        out[h] = Decimal(marks[i]) - Decimal(marks[j]) - funding  # type: ignore[arg-type]
    return out


def historical_var(pnls: Sequence[Decimal], confidence: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """1-day value at risk, expected shortfall and stress of a book by historical simulation (USD, a loss > 0).

    Source: the historical-simulation VaR of J. Hull, *Risk Management and Financial Institutions*, ch. 13
    ("Historical Simulation"), and the expected shortfall of the Basel Committee's FRTB (BCBS d457, ¶33.3), here
    over overlapping 1-day windows of this session's own folded history.

    * Scenarios: for each hour h of the last ``HISTORY_HOURS`` hours (market clock) with 24 h of history before
      it, the P&L the *current* book would have made held from h − 24 h to h:
      ``P_h = Σ_legs s·q·(m_h − m_{h−24}) − Σ_legs s·q·Σ_k m_k·r_k`` — s = +1 long, −1 short, q = the leg's
      quantity now (base units), m = the hourly mark of the leg's venue × symbol (the last ``market.mark_price``
      folded in that hour), and the funding term over the settlement hours k in (h − 24 h, h] of the venue (the
      hours whose epoch seconds are a multiple of the rate's ``interval_s``), r_k the rate in force then (the
      last ``funding.rate`` folded at or before hour k, a fraction per interval; + = longs pay), i.e.
      ``formulas.funding_payment`` at each settlement. A scenario needs every leg's marks at h, h − 24 and each
      settlement hour, and its rate; hours lacking one are left out. ``pnls`` are those P_h, horizon 24 h.
    * Confidence c (``var_confidence`` of ``session.started``, default 0.99). With the N scenarios sorted
      worst first, k = max(1, floor((1 − c) · N)) (Decimal arithmetic): VaR = −P_(k), the k-th worst;
      ES = −mean of every P_h ≤ P_(k) (the k worst, and any equal to the k-th); stress = −P_(1), the worst.
    * What the sample can say: at 99 % and fewer than 200 scenarios k = 1, so VaR = ES = stress (the single worst
      window); a full 30-day history gives ~700 scenarios (k = 6) but, the windows overlapping by 23 h, only ~29
      independent days — read the figures as "the worst days of the last month", not as a 1-in-100 estimate.

    Returns ``(var, es, stress)``; ``pnls`` must not be empty.
    """
    ordered = sorted(pnls)
    n = len(ordered)
    k = max(1, int(((1 - confidence) * n).to_integral_value(rounding="ROUND_FLOOR")))
    cut = ordered[k - 1]
    tail = [p for p in ordered if p <= cut]
    es = -(sum(tail, _ZERO) / len(tail))
    return -cut, es, -ordered[0]


_CACHE: dict[tuple[object, ...], dict[int, Decimal]] = {}
_CACHE_MAX = 64


def _cached_unit_pnl(series: HourSeries, key: tuple[str, str], first: int, last: int) -> dict[int, Decimal]:
    """``_unit_pnl``, cached by everything it reads (the series' content and the window)."""
    ck = (key, series.start, first, last, hash(tuple(series.marks)), hash(tuple(series.rates)))
    got = _CACHE.get(ck)
    if got is None:
        got = _unit_pnl(series, first, last)
        if len(_CACHE) >= _CACHE_MAX:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[ck] = got
    return got


def book_risk(state: DashboardState, legs: Sequence[Leg], now_hour: int | None) -> RiskFigures:
    """The VaR figures (``historical_var``) of the book ``legs`` at the market hour ``now_hour``: the
    scenarios end at hours h in (now − ``HISTORY_HOURS`` + 24, now] every leg can price."""
    confidence = state.session.var_confidence or DEFAULT_CONFIDENCE
    if not legs:
        return RiskFigures(confidence=confidence, scenarios=0, empty=True)
    if now_hour is None:
        return RiskFigures(confidence=confidence, scenarios=0)
    first = now_hour - HISTORY_HOURS + HORIZON_HOURS + 1
    total: dict[int, Decimal] | None = None
    for venue, symbol, side, qty in legs:
        series = state.history.get(venue, {}).get(symbol)
        if series is None:
            return RiskFigures(confidence=confidence, scenarios=0)
        unit = _cached_unit_pnl(series, (venue, symbol), first, now_hour)
        weight = qty if side == "long" else -qty
        if total is None:
            total = {h: weight * u for h, u in unit.items()}
        else:
            total = {h: p + weight * unit[h] for h, p in total.items() if h in unit}
    assert total is not None
    n = len(total)
    if n < MIN_SCENARIOS:
        return RiskFigures(confidence=confidence, scenarios=n)
    var, es, stress = historical_var([total[h] for h in sorted(total)], confidence)
    return RiskFigures(confidence=confidence, scenarios=n, var=var, es=es, stress=stress)
