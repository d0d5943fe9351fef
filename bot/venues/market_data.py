"""Load the replay data set (``bot/data/market/``) into exact ``Decimal`` series.

Two kinds of series (columns and provenance in ``bot/data/market/README.md``):

* **funding settlements** per ``(venue, symbol)``: the realised rate of each settlement (fraction per funding
  interval, venue convention: positive = longs pay shorts), its interval in seconds and, on Binance only, the
  venue's mark price at that settlement. Settlement times carry the venue's millisecond jitter
  (``08:00:00.088``); they are floored to the hour so venues line up.
* **hourly klines** per base (Binance USDⓈ-M perpetual, last-traded price, USDT): ``open_time`` is the bar's
  open, so ``open`` is the price *at* ``open_time`` and ``close`` the price at ``open_time + 1 h``.

The canonical symbol is the base asset (``BTC``, ``ETH``, ``SOL``), taken from the data's ``canonical_symbol``
(``BTC-USDT-PERP`` → ``BTC``); the quote currency (USDT / USDC) is kept per venue. Numbers are parsed with
``Decimal(text)``, never through ``float``.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class FundingSettlement:
    """One realised funding settlement.

    ``settled_at`` is the settlement time floored to the hour (UTC); ``rate`` is the fraction per interval as the
    venue reported it; ``interval_s`` the accrual period in seconds; ``mark_price`` the venue's mark at the
    settlement (USD, Binance only, else ``None``).
    """

    venue: str
    symbol: str
    quote: str
    settled_at: datetime
    rate: Decimal
    interval_s: int
    mark_price: Decimal | None


@dataclass(frozen=True, slots=True)
class Kline:
    """One 1-hour bar of the Binance perpetual's last-traded price (USDT); volume in base units."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class MarketData:
    """The replay data: funding settlements per ``(venue, symbol)`` and hourly klines per symbol, time-sorted."""

    funding: dict[tuple[str, str], tuple[FundingSettlement, ...]]
    klines: dict[str, tuple[Kline, ...]]
    _funding_times: dict[tuple[str, str], list[datetime]] = field(init=False, repr=False)
    _kline_times: dict[str, list[datetime]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_funding_times", {k: [s.settled_at for s in v] for k, v in self.funding.items()}
        )
        object.__setattr__(
            self, "_kline_times", {k: [b.open_time for b in v] for k, v in self.klines.items()}
        )

    @property
    def venues(self) -> list[str]:
        return sorted({venue for venue, _ in self.funding})

    @property
    def symbols(self) -> list[str]:
        return sorted(self.klines)

    def quote(self, venue: str) -> str:
        """The venue's quote currency (``USDT`` or ``USDC``; both treated as 1 USD)."""
        for (v, _), series in self.funding.items():
            if v == venue and series:
                return series[0].quote
        raise KeyError(venue)

    def interval_s(self, venue: str) -> int:
        """The venue's funding interval in seconds (from its latest settlement in the data)."""
        for (v, _), series in self.funding.items():
            if v == venue and series:
                return series[-1].interval_s
        raise KeyError(venue)

    def window(self) -> tuple[datetime, datetime]:
        """The hours where every series has data: ``(first common hour, last common hour)``.

        Starts at the latest first settlement/bar and ends at the earliest last settlement/bar *open* across all
        loaded series, so a price and a known funding rate exist for every venue and symbol at every hour.
        """
        firsts = [s[0].settled_at for s in self.funding.values()] + [
            k[0].open_time for k in self.klines.values()
        ]
        lasts = [k[-1].open_time for k in self.klines.values()]
        lasts += [s[-1].settled_at for s in self.funding.values() if s[-1].interval_s <= 3600]
        return max(firsts), min(lasts)

    def price_at(self, symbol: str, t: datetime) -> Decimal:
        """Binance last-traded price at hour ``t`` (USDT): the ``close`` of the bar ending at ``t``, else the
        ``open`` of the bar starting at ``t``. Raises ``KeyError`` when neither bar exists."""
        times = self._kline_times[symbol]
        bars = self.klines[symbol]
        i = bisect.bisect_left(times, t - HOUR)
        if i < len(times) and times[i] == t - HOUR:
            return bars[i].close
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] == t:
            return bars[i].open
        raise KeyError(f"no {symbol} price at {t.isoformat()}")

    def bar_closing_at(self, symbol: str, t: datetime) -> Kline | None:
        """The hourly bar that closes at hour ``t`` (opened at ``t − 1 h``), or ``None`` when there is none."""
        times = self._kline_times[symbol]
        i = bisect.bisect_left(times, t - HOUR)
        if i < len(times) and times[i] == t - HOUR:
            return self.klines[symbol][i]
        return None

    def settlement_at(self, venue: str, symbol: str, t: datetime) -> FundingSettlement | None:
        """The settlement of ``(venue, symbol)`` at hour ``t``, or ``None`` if the venue does not settle then."""
        times = self._funding_times[(venue, symbol)]
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] == t:
            return self.funding[(venue, symbol)][i]
        return None

    def latest_settlement(self, venue: str, symbol: str, t: datetime) -> FundingSettlement | None:
        """The last settlement of ``(venue, symbol)`` at or before ``t`` (the latest *known* rate), or ``None``."""
        times = self._funding_times[(venue, symbol)]
        i = bisect.bisect_right(times, t)
        return self.funding[(venue, symbol)][i - 1] if i else None


def default_data_dir() -> Path:
    """The data set shipped inside the package (``bot/data/market``)."""
    return Path(str(resources.files("arbdash.bot") / "data" / "market"))


def _floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _base(canonical_symbol: str) -> str:
    return canonical_symbol.split("-", 1)[0]


def _quote(canonical_symbol: str) -> str:
    parts = canonical_symbol.split("-")
    return parts[1] if len(parts) > 1 else "USD"


def load_funding(
    path: Path, symbols: set[str] | None = None
) -> dict[tuple[str, str], tuple[FundingSettlement, ...]]:
    """Read one venue's funding CSV into settlements per ``(venue, symbol)``, sorted by ``settled_at``."""
    out: dict[tuple[str, str], list[FundingSettlement]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None) or []
        for fields in reader:
            row = dict(zip(header, fields, strict=True))
            symbol = _base(row["canonical_symbol"])
            if symbols is not None and symbol not in symbols:
                continue
            settled = datetime.fromisoformat(row["settlement_ts"])
            if settled.tzinfo is None:
                raise ValueError(f"{path}: naive settlement_ts {row['settlement_ts']!r}")
            hours = Decimal(row["interval_hours"])
            mark = row["mark_price"].strip()
            out.setdefault((row["venue"], symbol), []).append(
                FundingSettlement(
                    venue=row["venue"],
                    symbol=symbol,
                    quote=_quote(row["canonical_symbol"]),
                    settled_at=_floor_hour(settled),
                    rate=Decimal(row["rate_raw"]),
                    interval_s=int(hours * 3600),
                    mark_price=Decimal(mark) if mark else None,
                )
            )
    return {k: tuple(sorted(v, key=lambda s: s.settled_at)) for k, v in out.items()}


def load_klines(path: Path) -> tuple[Kline, ...]:
    """Read one kline CSV (``timestamp`` = bar open, epoch ms UTC) into time-sorted ``Kline`` bars."""
    bars: list[Kline] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            bars.append(
                Kline(
                    open_time=datetime.fromtimestamp(int(row["timestamp"]) // 1000, tz=UTC),
                    open=Decimal(row["open"]),
                    high=Decimal(row["high"]),
                    low=Decimal(row["low"]),
                    close=Decimal(row["close"]),
                    volume=Decimal(row["volume"]),
                )
            )
    return tuple(sorted(bars, key=lambda b: b.open_time))


def load_market_data(
    data_dir: Path | None = None, *, venues: list[str] | None = None, symbols: list[str] | None = None
) -> MarketData:
    """Load funding (``funding/<venue>.csv``) and klines (``klines_1h_binance_usdm/<BASE>_USDT_1h.csv``).

    ``venues``/``symbols`` restrict what is read (default: every file present). Raises ``FileNotFoundError``
    naming the missing file.
    """
    root = data_dir or default_data_dir()
    venue_names = venues or sorted(p.stem for p in (root / "funding").glob("*.csv"))
    key = (
        str(root.resolve()),
        tuple(venue_names),
        tuple(symbols) if symbols else None,
        tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*.csv"))),
    )
    cached = _CACHE.get(key)
    if cached is None:
        cached = _load(root, venue_names, symbols)
        _CACHE.clear()  # keep one data set: the runner loads the same one twice (window, then market)
        _CACHE[key] = cached
    return cached


#: The last data set loaded, keyed by its directory, selection and files' (name, mtime, size). ``MarketData`` is
#: immutable, so handing out the same object twice is safe.
_CACHE: dict[tuple[object, ...], MarketData] = {}


def _load(root: Path, venue_names: list[str], symbols: list[str] | None) -> MarketData:
    wanted = set(symbols) if symbols else None
    funding: dict[tuple[str, str], tuple[FundingSettlement, ...]] = {}
    for venue in venue_names:
        path = root / "funding" / f"{venue}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no funding data for venue {venue!r}: {path}")
        funding.update(load_funding(path, wanted))
    symbol_names = symbols or sorted({s for _, s in funding})
    klines: dict[str, tuple[Kline, ...]] = {}
    for symbol in symbol_names:
        path = root / "klines_1h_binance_usdm" / f"{symbol}_USDT_1h.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no price data for symbol {symbol!r}: {path}")
        klines[symbol] = load_klines(path)
    for venue in venue_names:
        for symbol in symbol_names:
            if not funding.get((venue, symbol)):
                raise FileNotFoundError(f"no funding rows for {symbol} on {venue} in {root / 'funding'}")
    return MarketData(funding=funding, klines=klines)


__all__ = [
    "FundingSettlement",
    "Kline",
    "MarketData",
    "default_data_dir",
    "load_funding",
    "load_klines",
    "load_market_data",
]
