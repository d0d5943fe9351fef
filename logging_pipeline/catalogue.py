"""Everything derived from the event declarations in ``logging_pipeline.events``, built once at import.

* ``CATALOGUE``: names, categories and display flags (timeline, console) by event name;
* ``check(event)``: the writer's validation — the event is encoded and decoded back with its strict *wire* type,
  and its money fields must be finite ``Decimal`` instances, so the bot can never write a line its readers
  would refuse (raises ``EventError``);
* ``fields_of(event)``: the event's fields as the pipeline writes them (line order, ``None`` left out);
* ``line_type(event class, reads)`` / ``line_decoder`` / ``LINE_DECODER``: the readers' typed form of a
  whole line — the envelope plus the event's fields (all, or those a reader reads), money as its exact decimal
  *text* (``DecimalText``: a reader turns into ``Decimal`` only what it shows, so a replay does not build a
  ``Decimal`` for every tick that the next tick overwrites), datetimes aware, and a newer writer's extra keys
  skipped;
* ``event_line(event, ...)``: one JSONL line for an event, for tests and tools that need a real one.

Wire types are generated with ``msgspec.defstruct`` from the declarations' field types: ``Decimal`` becomes
``str`` (the writer's check also requires a finite ``Decimal`` instance), nested structs their wire form,
everything else as declared. Readers are lenient where a newer writer may legitimately differ (a ``Literal``
field reads as ``str``: a new health or lifecycle name is shown, not refused); writers are strict.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NewType

import msgspec

from arbdash.logging_pipeline.encoding import dumps
from arbdash.logging_pipeline.events import EVENTS, SCHEMA_VERSION, Category, Envelope, Event

__all__ = [
    "CATALOGUE",
    "DecimalText",
    "EventError",
    "LINE_DECODER",
    "LINE_ERRORS",
    "Line",
    "ShownLine",
    "check",
    "event_line",
    "fields_of",
    "line_decoder",
    "line_type",
]

#: The exact decimal text of a money / price / rate field as written (``"84123.45"``). ``Decimal(text)`` is exact.
DecimalText = NewType("DecimalText", str)


class EventError(ValueError):
    """An event instance does not match its declaration (``check``): the message names the field."""


class _Catalogue:
    """Event classes by name, with their category and display flags. Read-only after import."""

    def __init__(self, events: tuple[type[Event], ...]) -> None:
        self._by_name: dict[str, type[Event]] = {cls.__struct_config__.tag: cls for cls in events}  # type: ignore[misc]
        #: Events the dashboard's timeline does not show (high-rate or housekeeping; still folded).
        self.not_in_timeline = frozenset(n for n, cls in self._by_name.items() if not cls.TIMELINE)
        #: Events the human console does not print below warning level.
        self.console_quiet = frozenset(n for n, cls in self._by_name.items() if not cls.CONSOLE)

    def name_for(self, cls: type[Event]) -> str:
        """The event name of an event class. Raises ``KeyError`` for a class not in the catalogue."""
        tag = getattr(getattr(cls, "__struct_config__", None), "tag", None)
        if tag is None or self._by_name.get(tag) is not cls:
            raise KeyError(cls)
        return tag

    def model_for(self, event: str) -> type[Event] | None:
        """The class declaring ``event``, or ``None`` for a name not in the catalogue (a newer writer's)."""
        return self._by_name.get(event)

    def category_for(self, event: str, level: str = "info") -> Category:
        """The envelope ``category`` of ``event`` logged at ``level``: the declared one; a plain log line, an
        unknown event or one declared ``CATEGORY_BY_LEVEL`` is ``warning`` / ``error`` by its level, else
        ``info``."""
        cls = self._by_name.get(event)
        if cls is None or event == "log.message" or cls.CATEGORY_BY_LEVEL:
            if level == "warning":
                return "warning"
            if level in ("error", "critical"):
                return "error"
            return "info"
        return cls.CATEGORY

    def fields(self, event: str) -> tuple[str, ...]:
        """The field names of ``event`` in line order (empty for an unknown event)."""
        cls = self._by_name.get(event)
        return cls.__struct_fields__ if cls is not None else ()

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, event: object) -> bool:
        return event in self._by_name


CATALOGUE = _Catalogue(EVENTS)


# --- wire types ------------------------------------------------------------------------------------------


def _wire(tp: Any, *, strict: bool) -> Any:
    """The wire (JSON) form of a declared field type; see the module docstring."""
    if tp is Decimal:
        return (
            DecimalText  # the writer's check also requires a finite ``Decimal`` instance (``_decimal_paths``)
        )
    origin = typing.get_origin(tp)
    if origin is Literal:
        return tp if strict or not all(type(a) is str for a in typing.get_args(tp)) else str
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_wire(a, strict=strict) for a in typing.get_args(tp))]  # noqa: UP007
    if origin is list:
        return list[_wire(typing.get_args(tp)[0], strict=strict)]  # type: ignore[misc]
    if origin is dict:
        key, value = typing.get_args(tp)
        return dict[key, _wire(value, strict=strict)]  # type: ignore[valid-type]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and not issubclass(tp, Event):
        return _struct(tp, strict=strict)
    return tp


def _wire_default(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _field_specs(cls: type[msgspec.Struct], *, strict: bool) -> list[tuple[Any, ...]]:
    """``msgspec.defstruct`` field specs of ``cls``'s wire form: (name, type[, default]) in declaration order."""
    specs: list[tuple[Any, ...]] = []
    for f in msgspec.structs.fields(cls):
        tp = _wire(f.type, strict=strict)
        if f.default is not msgspec.NODEFAULT:
            specs.append((f.name, tp, _wire_default(f.default)))
        elif f.default_factory is not msgspec.NODEFAULT:
            specs.append((f.name, tp, msgspec.field(default_factory=f.default_factory)))
        else:
            specs.append((f.name, tp))
    return specs


_NESTED: dict[tuple[type, bool], type] = {}


def _struct(cls: type[msgspec.Struct], *, strict: bool) -> type:
    key = (cls, strict)
    if key not in _NESTED:
        _NESTED[key] = msgspec.defstruct(
            cls.__name__, _field_specs(cls, strict=strict), kw_only=True, module=__name__
        )
    return _NESTED[key]


def _check_type(cls: type[Event]) -> type:
    return msgspec.defstruct(
        cls.__name__,
        _field_specs(cls, strict=True),
        kw_only=True,
        tag_field="event",
        tag=cls.__struct_config__.tag,
        module=__name__,
    )


class Line(msgspec.Struct, kw_only=True, gc=False, tag_field="event"):
    """Base of the readers' line types: the envelope fields every reader needs (``logging_pipeline.events.Envelope``
    less ``level`` / ``logger`` / ``category`` / ``message``, which ``ShownLine`` adds for the events a timeline
    shows). Subclasses add the event's fields and carry ``EVENT`` (the declaring class), ``NAME`` (the event
    name), ``TIMELINE`` and ``CATEGORY``."""

    EVENT: typing.ClassVar[type[Event]]
    NAME: typing.ClassVar[str]
    TIMELINE: typing.ClassVar[bool]
    CATEGORY: typing.ClassVar[str]

    v: Literal[1]
    ts: typing.Annotated[datetime, msgspec.Meta(tz=True)]
    session_id: str
    seq: typing.Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    market_ts: typing.Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    strategy: str | None = None


class ShownLine(Line, kw_only=True, gc=False):
    """A ``Line`` of an event the timeline shows: also its ``level`` and ``category`` (any string: a reader maps
    one outside the schema by level) and ``message``."""

    level: str = "info"
    category: str = ""
    message: str = ""


assert set(ShownLine.__struct_fields__) | {"event", "logger"} == set(Envelope.__struct_fields__)
_LINE_TYPES: dict[tuple[type[Event], tuple[str, ...] | None], type[Line]] = {}


def line_type(cls: type[Event], reads: tuple[str, ...] | None = None) -> type[Line]:
    """The readers' type of a line holding event ``cls``: the envelope (``Line`` or, for an event the timeline
    shows, ``ShownLine``) plus the event's fields — all of them, or only ``reads`` (the rest are skipped unread,
    as a newer writer's extra keys are). Raises ``KeyError`` for a name in ``reads`` the event does not declare."""
    key = (cls, reads)
    got = _LINE_TYPES.get(key)
    if got is None:
        specs = _field_specs(cls, strict=False)
        if reads is not None:
            by_name = {spec[0]: spec for spec in specs}
            specs = [by_name[name] for name in reads]
        got = _LINE_TYPES[key] = msgspec.defstruct(
            cls.__name__ + "Line",
            specs,
            bases=(ShownLine if cls.TIMELINE else Line,),
            kw_only=True,
            gc=False,
            tag=cls.__struct_config__.tag,
            module=__name__,
            namespace={
                "EVENT": cls,
                "NAME": cls.__struct_config__.tag,
                "TIMELINE": cls.TIMELINE,
                "CATEGORY": cls.CATEGORY,
            },
        )
    return got


def line_decoder(types_: typing.Iterable[type[Line]]) -> msgspec.json.Decoder[Any]:
    """A decoder of lines into one of ``types_`` (one per event, tagged by ``event``); it raises one of
    ``LINE_ERRORS`` for a line of another event, a bad envelope or a field of the wrong type."""
    return msgspec.json.Decoder(typing.Union[tuple(types_)])  # noqa: UP007


_CHECK: dict[type[Event], msgspec.json.Decoder[Any]] = {
    cls: msgspec.json.Decoder(_check_type(cls)) for cls in EVENTS
}

#: ``LINE_DECODER.decode(line: bytes) -> Line``: every field of every catalogue event (a reader that needs only
#: some builds its own with ``line_type(cls, reads)`` and ``line_decoder``).
LINE_DECODER = line_decoder(line_type(cls) for cls in EVENTS)
#: What a line decoder raises (RecursionError: absurdly nested input).
LINE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)


_encode = msgspec.json.Encoder().encode


def _has_decimal(tp: Any) -> bool:
    return tp is Decimal or any(_has_decimal(a) for a in typing.get_args(tp))


def _decimal_paths(cls: type[msgspec.Struct]) -> tuple[tuple[str, type | None], ...]:
    """The fields of ``cls`` that hold a ``Decimal`` (nested ``None``), a ``dict`` of them (nested ``dict``) or a
    list of structs that do (nested: the struct)."""
    out: list[tuple[str, type | None]] = []
    for f in msgspec.structs.fields(cls):
        dicts = [a for a in (f.type, *typing.get_args(f.type)) if typing.get_origin(a) is dict]
        if dicts and _has_decimal(dicts[0]):
            out.append((f.name, dict))
        elif _has_decimal(f.type) and typing.get_origin(f.type) is not list:
            out.append((f.name, None))
        elif typing.get_origin(f.type) is list:
            (item,) = typing.get_args(f.type)
            if isinstance(item, type) and issubclass(item, msgspec.Struct) and _decimal_paths(item):
                out.append((f.name, item))
    return tuple(out)


_DECIMALS: dict[type[msgspec.Struct], tuple[tuple[str, type | None], ...]] = {}


def _check_decimals(obj: msgspec.Struct) -> None:
    paths = _DECIMALS.get(type(obj))
    if paths is None:
        paths = _DECIMALS[type(obj)] = _decimal_paths(type(obj))
    for name, nested in paths:
        value = getattr(obj, name)
        if nested is dict:
            for key, item in (value or {}).items():
                if type(item) is not Decimal or not item.is_finite():
                    raise EventError(
                        f"{type(obj).__name__}: {name}[{key!r}] must be a finite Decimal, got {item!r:.60}"
                    )
        elif nested is not None:
            for item in value:
                _check_decimals(item)
        elif value is not None and (type(value) is not Decimal or not value.is_finite()):
            raise EventError(f"{type(obj).__name__}: {name} must be a finite Decimal, got {value!r:.60}")


def check(event: Event) -> None:
    """Validate ``event`` against its declaration: every field of the declared type (a money field a finite
    ``Decimal``, a datetime aware, a ``Literal`` one of its values), as its wire type decodes the encoded event.
    Raises ``EventError`` naming the field, or ``KeyError`` for a class outside the catalogue."""
    decoder = _CHECK[type(event)]  # type: ignore[index]
    try:
        decoder.decode(_encode(event))
    except (msgspec.ValidationError, msgspec.EncodeError, TypeError) as e:
        raise EventError(f"{type(event).__name__}: {e}") from None
    _check_decimals(event)


def fields_of(event: Event) -> dict[str, Any]:
    """The event's fields as the pipeline writes them: declaration order, ``None`` values left out, values as
    given (``Decimal``, ``datetime``; nested structs as dicts)."""
    out: dict[str, Any] = {}
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if value is None:
            continue
        if type(value) is list and value and isinstance(value[0], msgspec.Struct):
            value = [msgspec.structs.asdict(item) for item in value]
        out[name] = value
    return out


def event_line(
    event: Event,
    *,
    session_id: str,
    seq: int,
    ts: datetime,
    market_ts: datetime | None = None,
    message: str = "",
    level: str = "info",
    logger: str = "",
    strategy: str | None = None,
) -> bytes:
    """One schema-v1 JSONL line (no newline) for ``event``, written as the pipeline writes it (envelope, then
    the event's fields; ``logging_pipeline.encoding.dumps``). ``strategy``: the envelope's (an event that
    declares a ``strategy`` field, ``session.started``, gives its own). Checks the event first (``check``)."""
    check(event)
    name = CATALOGUE.name_for(type(event))
    record: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "ts": ts,
        "session_id": session_id,
        "seq": seq,
        "level": level,
        "logger": logger,
        "event": name,
        "category": CATALOGUE.category_for(name, level),
        "message": message,
    }
    if market_ts is not None:
        record["market_ts"] = market_ts
    fields = fields_of(event)
    strategy = fields.pop("strategy", strategy)
    if strategy is not None:
        record["strategy"] = strategy
    record.update(fields)
    return dumps(record)
