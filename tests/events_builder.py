"""The tests' event builders, derived from the event catalogue (``logging_pipeline.events``).

Every catalogue event a builder writes is built as its declared ``msgspec.Struct`` and turned into the line
the pipeline would write (``logging_pipeline.catalogue.event_line``, which checks it first), read back as a
dict. So a builder cannot write a field the declaration does not have (the Struct refuses the keyword), leave
out one it requires, or give a value of a type the writer would refuse (``check`` raises ``EventError``): when
the catalogue changes, these builders follow it or fail loudly instead of drifting.

* ``Events.emit(struct, message, level)``: a typed event; ``Events(name, message, category, **fields)``: the
  *raw* path, only for what is meant to be off the catalogue (an unknown event, a deliberately broken one).
* ``build(cls, **fields)``: a Struct from test-friendly values: a decimal given as its text (``qty="0.5"``)
  becomes ``Decimal``, a datetime given as ISO text a ``datetime``, a nested struct given as a dict its
  Struct.
* ``started``, ``fill``, ``opened``, ``leg``, ``mark``, ``payment``, ``round_trip``: the usual events, typed.

Both paths share the envelope: ``seq`` increases by one per event, ``ts`` is derived from it
(``12:00:<seq % 60>`` and ``seq`` microseconds, 2026-03-10 UTC), ``market_ts`` is the ``market`` attribute
(the market clock, ISO), ``strategy`` the envelope's strategy instance (``None``: none, as in an older log; set
it around a strategy's events, or pass ``strategy=`` to ``emit``).
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from decimal import Decimal as D
from typing import Any, TypeVar

import msgspec
import orjson

from arbdash.logging_pipeline.catalogue import event_line
from arbdash.logging_pipeline.events import (
    Event,
    FundingPayment,
    LegOpen,
    MarkPrice,
    OrderFilled,
    PositionClosed,
    PositionClosing,
    PositionOpened,
    SessionStarted,
    StageChanged,
    VenueConnected,
)

__all__ = [
    "LOGGER",
    "SID",
    "Events",
    "build",
    "fill",
    "leg",
    "mark",
    "opened",
    "payment",
    "round_trip",
    "started",
]

SID = "6f1c2f7e-0000-4000-8000-000000000001"
LOGGER = "test"

S = TypeVar("S", bound=msgspec.Struct)


def _ts(seq: int) -> str:
    """The wall clock of event ``seq``: one a second within the minute, ``seq`` as microseconds (unique)."""
    return f"2026-03-10T12:00:{seq % 60:02d}.{seq:06d}+00:00"


class Events:
    """Writes schema-v1 envelopes with increasing seq; ``market`` is the market clock (ISO, UTC)."""

    def __init__(self) -> None:
        self.seq = 0
        self.market: str | None = "2026-03-01T08:00:00+00:00"
        self.strategy: str | None = None

    def __call__(
        self, name: str, message: str = "", category: str = "execution", **fields: Any
    ) -> dict[str, Any]:
        """A raw envelope with ``fields`` as given, unchecked: only for events meant to be off the catalogue
        (an unknown event name, missing or wrong-typed fields). A catalogue event goes through ``emit``."""
        self.seq += 1
        ev = {
            "v": 1,
            "ts": _ts(self.seq),
            "session_id": SID,
            "seq": self.seq,
            "level": "info",
            "logger": LOGGER,
            "event": name,
            "category": category,
            "message": message,
            "market_ts": self.market,
        }
        ev.update(fields)
        return ev

    def emit(
        self, event: Event, message: str = "", level: str = "info", *, strategy: str | None = None
    ) -> dict[str, Any]:
        """The line the pipeline writes for ``event`` (checked against its declaration; category from the
        catalogue), as a dict; its envelope's ``strategy`` is ``strategy``, else ``self.strategy``."""
        self.seq += 1
        market = datetime.fromisoformat(self.market) if self.market is not None else None
        line = event_line(
            event,
            session_id=SID,
            seq=self.seq,
            ts=datetime.fromisoformat(_ts(self.seq)),
            market_ts=market,
            message=message,
            level=level,
            logger=LOGGER,
            strategy=strategy if strategy is not None else self.strategy,
        )
        ev: dict[str, Any] = orjson.loads(line)
        if market is not None and market.tzinfo is None:
            # a naive market clock set by a test means a broken envelope (the pipeline would write it as UTC)
            ev["market_ts"] = self.market
        return ev


# --- typed construction -----------------------------------------------------------------------------------


def _leaves(tp: Any) -> tuple[Any, ...]:
    """The types a declared field type admits, with ``Annotated`` and unions unwrapped."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return tuple(leaf for arg in typing.get_args(tp) for leaf in _leaves(arg))
    return (tp,)


def _coerce(tp: Any, value: Any) -> Any:
    """``value`` for a field declared ``tp``: decimal text (or an int) → ``Decimal``, ISO text → ``datetime``,
    a dict → the nested Struct, list items likewise. Anything else is left as given, for ``check`` to judge
    (a float for a decimal is refused there, never silently converted)."""
    leaves = _leaves(tp)
    if isinstance(value, str):
        if D in leaves:
            return D(value)
        if datetime in leaves:
            return datetime.fromisoformat(value)
        return value
    if isinstance(value, int) and not isinstance(value, bool) and D in leaves and int not in leaves:
        return D(value)
    if isinstance(value, list):
        for leaf in leaves:
            if typing.get_origin(leaf) is list:
                (item,) = typing.get_args(leaf)
                return [_coerce(item, v) for v in value]
        return value
    if isinstance(value, dict):
        for leaf in leaves:
            if isinstance(leaf, type) and issubclass(leaf, msgspec.Struct):
                return build(leaf, **value)
    return value


def build(cls: type[S], **fields: Any) -> S:
    """An instance of the declared Struct ``cls`` from test-friendly values (see ``_coerce``). A field ``cls``
    does not declare, or a required one left out, raises ``TypeError``."""
    declared = {f.name: f.type for f in msgspec.structs.fields(cls)}
    unknown = sorted(set(fields) - set(declared))
    if unknown:
        raise TypeError(f"{cls.__name__} declares no field {', '.join(unknown)}")
    return cls(**{name: _coerce(declared[name], value) for name, value in fields.items()})


# --- the usual events ---------------------------------------------------------------------------------------


def started(e: Events, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        strategy="funding_arbitrage",
        strategy_version="1.2.0",
        config_path="configs/funding_arb_paper.yml",
        dry_run=True,
        venues=["binance", "bybit"],
        symbols=["BTC", "ETH"],
        max_positions=3,
        max_total_exposure_usd="1000",
        target_margin="50",
        market_start="2026-03-01T08:00:00+00:00",
    )
    fields.update(kw)
    return e.emit(build(SessionStarted, **fields), "Session started")


def fill(
    e: Events, pid: str, venue: str, side: str, qty: str, price: str, fee: str, **kw: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        position_id=pid,
        order_id=f"o{e.seq + 1}",
        venue=venue,
        symbol="BTC",
        side=side,
        qty=qty,
        price=price,
        fee=fee,
        fee_rate="0.0005",
    )
    fields.update(kw)
    return e.emit(build(OrderFilled, **fields), f"filled {venue} {side}")


def opened(e: Events, pid: str, legs: list[LegOpen] | list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        position_id=pid,
        symbol="BTC",
        long_venue="binance",
        short_venue="bybit",
        legs=legs,
        target_exposure_usd="50",
        filled_exposure_usd="50",
        entry_spread_apr="0.2190",
        entry_long_rate="0.0001",
        entry_short_rate="0.0002",
    )
    fields.update(kw)
    return e.emit(build(PositionOpened, **fields), f"Opened {pid}")


def leg(venue: str, side: str, qty: str, price: str, fee: str, leverage: str = "2") -> LegOpen:
    """One leg as filled: notional = qty · price, margin = notional / leverage."""
    notional = D(qty) * D(price)
    return build(
        LegOpen,
        venue=venue,
        side=side,
        qty=qty,
        entry_price=price,
        notional=notional,
        fee=fee,
        leverage=leverage,
        margin=notional / D(leverage),
    )


def mark(e: Events, venue: str, price: str, symbol: str = "BTC") -> dict[str, Any]:
    return e.emit(build(MarkPrice, venue=venue, symbol=symbol, mark_price=price, index_price=price))


def payment(
    e: Events,
    pid: str,
    venue: str,
    side: str,
    rate: str,
    entry_rate: str,
    qty: str,
    mark_px: str,
    pay: str,
    expected: str,
) -> dict[str, Any]:
    return e.emit(
        build(
            FundingPayment,
            position_id=pid,
            symbol="BTC",
            venue=venue,
            side=side,
            rate=rate,
            entry_rate=entry_rate,
            interval_s=28800,
            qty=qty,
            mark_price=mark_px,
            notional=D(qty) * D(mark_px),
            payment=pay,
            expected_payment=expected,
        )
    )


def round_trip(e: Events, booked_net: str = "0.083665") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One BTC position, long binance / short bybit, 0.5 BTC each, held through one funding and closed."""
    return [
        started(e),
        e.emit(
            VenueConnected(
                venue="binance",
                quote="USDT",
                funding_interval_s=28800,
                taker_fee_rate=D("0.0005"),
                maker_fee_rate=D("0.0002"),
            ),
            "binance up",
        ),
        e.emit(
            VenueConnected(
                venue="bybit",
                quote="USDT",
                funding_interval_s=28800,
                taker_fee_rate=D("0.0005"),
                maker_fee_rate=D("0.0002"),
            ),
            "bybit up",
        ),
        e.emit(
            StageChanged(
                stage_id="3",
                icon="🧨",
                title="Atomic Multi-Order Execution",
                lifecycle="opening_position",
                symbol="BTC",
            ),
            "3. 🧨 Atomic Multi-Order Execution",
        ),
        # fee = qty · price · 0.0005: 0.5·100.00·0.0005 = 0.025 ; 0.5·100.20·0.0005 = 0.02505
        fill(e, "P1", "binance", "buy", "0.5", "100.00", "0.025"),
        fill(e, "P1", "bybit", "sell", "0.5", "100.20", "0.02505"),
        opened(
            e,
            "P1",
            [
                leg("binance", "long", "0.5", "100.00", "0.025"),
                leg("bybit", "short", "0.5", "100.20", "0.02505"),
            ],
        ),
        mark(e, "binance", "101.00"),
        mark(e, "bybit", "101.10"),
        # long pays 0.5·101·0.0001 = 0.00505 (expected the same, entry rate 0.0001)
        payment(e, "P1", "binance", "long", "0.0001", "0.0001", "0.5", "101.00", "-0.00505", "-0.00505"),
        # short receives 0.5·101.10·0.0003 = 0.015165 ; expected at entry rate 0.0002: 0.5·101.10·0.0002 = 0.01011
        payment(e, "P1", "bybit", "short", "0.0003", "0.0002", "0.5", "101.10", "0.015165", "0.01011"),
    ], [
        e.emit(PositionClosing(position_id="P1", reason="PROFIT_EROSION"), "Closing P1: PROFIT_EROSION"),
        # exit fees: 0.5·102.00·0.0005 = 0.0255 ; 0.5·101.80·0.0005 = 0.02545 → written 0.0509 deliberately
        # (a 2x fee tier on bybit exit), so fees = 0.025 + 0.02505 + 0.0255 + 0.0509 = 0.12645
        fill(e, "P1", "binance", "sell", "0.5", "102.00", "0.0255", reduce_only=True),
        fill(e, "P1", "bybit", "buy", "0.5", "101.80", "0.0509", reduce_only=True),
        # realized: long 0.5·(102.00−100.00) = 1.000 ; short −0.5·(101.80−100.20) = −0.800 → 0.200
        # funding 0.010115 ; net = 0.2 + 0.010115 − 0.12645 = 0.083665
        e.emit(
            build(
                PositionClosed,
                position_id="P1",
                reason="PROFIT_EROSION",
                realized_pnl="0.200",
                fees="0.12645",
                funding="0.010115",
                net_pnl=booked_net,
                hold_s=3600,
            ),
            "Closed P1",
        ),
    ]
