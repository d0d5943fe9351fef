"""``arbtail grep PATH``: the events of a log that match, as JSONL on stdout (pipes into ``jq``, ``grep`` and back
into ``arbtail``).

Filters (all must match): ``--event`` (repeatable; a trailing ``*`` matches a prefix: ``order.*``), ``--symbol``
(the event's ``symbol`` field, case-insensitive), ``--strategy`` (the envelope's ``strategy``: the events of that
strategy instance, exactly as named; session-, venue- and market-wide events carry none and are left out), ``--since``/``--until`` (inclusive bounds, ISO 8601, UTC when no
offset) on the clock chosen by ``--clock`` (``dashboard.timeaxis``: ``market`` = ``market_ts``, the default as for
``arbtail --at``/``show``/``export``; ``wall`` = the envelope ``ts``), ``--level`` (that level and above).
A filter on time keeps only events that have a time on that clock: with ``--since``/``--until`` on the market
clock, events without a ``market_ts`` (session start/stop, health, most log messages) are left out — use
``--clock wall`` to see them. A log with no market times at all is filtered by the wall clock instead, with the
notice of ``ReplaySource.time_axis`` on stderr. ``dashboard.checkpoint`` events are left out unless asked
for by name. Each line is re-serialised with a stable key order: the envelope keys in schema order, then the
event's own fields sorted by name. Lines that are not events are skipped and counted on stderr. Exit status
as ``grep``: 0 when something matched, 1 when nothing did, 2 when the path cannot be read.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from arbdash.dashboard.sources.protocol import ReplaySource, SourceError
from arbdash.dashboard.timeaxis import Clock, ClockName, event_time

ENVELOPE = ("v", "ts", "session_id", "seq", "level", "logger", "event", "category", "message", "market_ts")
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def stable(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with its keys in the stable output order (envelope first, then the rest sorted)."""
    out = {k: event[k] for k in ENVELOPE if k in event}
    for k in sorted(event.keys() - out.keys()):
        out[k] = event[k]
    return out


class Filter:
    """The match predicate of one ``grep`` call. ``prefilter(raw)`` is a cheap bytes test run before parsing.
    ``since``/``until`` are inclusive bounds (aware datetimes) on ``clock``; when either is given, an event
    without a time on that clock does not match."""

    def __init__(
        self,
        events: list[str],
        symbol: str | None,
        since: datetime | None,
        until: datetime | None,
        level: str | None,
        clock: Clock = "market",
        strategy: str | None = None,
    ) -> None:
        self.exact = {e for e in events if not e.endswith("*")}
        self.prefixes = tuple(e[:-1] for e in events if e.endswith("*"))
        self.symbol = symbol.upper() if symbol else None
        self.strategy = strategy
        self.since, self.until, self.clock = since, until, clock
        self.min_level = LEVELS[level] if level else 0
        self._needles = [orjson.dumps(e) for e in self.exact] if self.exact and not self.prefixes else []
        # whether the log names the strategy at all (an unknown name is an error, not an empty answer)
        self._strategy_needle = b'"strategy":' + orjson.dumps(strategy) if strategy is not None else b""
        self.strategy_seen = strategy is None

    def prefilter(self, raw: bytes) -> bool:
        if not self.strategy_seen and self._strategy_needle in raw:
            self.strategy_seen = True
        return not self._needles or any(n in raw for n in self._needles)

    def __call__(self, ev: dict[str, Any]) -> bool:
        name = ev.get("event")
        if type(name) is not str:
            return False
        if self.exact or self.prefixes:
            if name not in self.exact and not name.startswith(self.prefixes):
                return False
        elif name == "dashboard.checkpoint":
            return False
        if self.symbol is not None and str(ev.get("symbol", "")).upper() != self.symbol:
            return False
        if self.strategy is not None and ev.get("strategy") != self.strategy:
            return False
        if self.min_level and LEVELS.get(str(ev.get("level")), 0) < self.min_level:
            return False
        if self.since is not None or self.until is not None:
            t = event_time(ev, self.clock)
            if t is None:
                return False
            if (self.since is not None and t < self.since) or (self.until is not None and t > self.until):
                return False
        return True


async def grep(source: ReplaySource, match: Filter, out: Any, skipped: Counter[str]) -> int:
    """Write the matching events of ``source`` to the binary stream ``out``; returns how many. Bad lines are
    counted in ``skipped`` by reason. Raises ``SourceError``."""
    n = 0
    async for batch in source.batches(lambda reason, _detail: skipped.update([reason])):
        chunk = []
        for raw in batch:
            if not match.prefilter(raw):
                continue
            try:
                ev = orjson.loads(raw)
            except orjson.JSONDecodeError:
                skipped["not_json"] += 1
                continue
            if type(ev) is not dict:
                skipped["not_object"] += 1
                continue
            if match(ev):
                chunk.append(orjson.dumps(stable(ev)))
        if chunk:
            out.write(b"\n".join(chunk) + b"\n")
            n += len(chunk)
    return n


def register(app: typer.Typer) -> None:
    """Add ``grep`` to ``app``."""

    @app.command("grep")
    def grep_cmd(
        path: Annotated[
            Path, typer.Argument(metavar="FILE", help="Session log (.jsonl, rotated set or .gz).")
        ],
        event: Annotated[
            list[str] | None, typer.Option("--event", "-e", metavar="EVENT", help="Event name (or prefix*).")
        ] = None,
        symbol: Annotated[
            str | None, typer.Option("--symbol", "-s", metavar="SYMBOL", help="Only this symbol.")
        ] = None,
        since: Annotated[
            str | None,
            typer.Option(
                "--since",
                metavar="TIME",
                help="Events at or after this time on --clock (ISO 8601, UTC when no offset).",
            ),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(
                "--until",
                metavar="TIME",
                help="Events at or before this time on --clock (ISO 8601, UTC when no offset).",
            ),
        ] = None,
        clock: Annotated[
            ClockName,
            typer.Option(
                "--clock",
                help="Time axis of --since/--until: 'market' (market_ts) or 'wall' (ts). Events without "
                "a time on it are left out by these filters.",
            ),
        ] = ClockName.market,
        level: Annotated[
            str | None, typer.Option("--level", "-l", metavar="LEVEL", help="This level and above.")
        ] = None,
        strategy: Annotated[
            str | None,
            typer.Option("--strategy", metavar="NAME", help="Only the events of this strategy instance."),
        ] = None,
    ) -> None:
        """Print the matching events as JSONL (stable key order)."""
        from arbdash.dashboard.sources.file_source import JsonlSource
        from arbdash.dashboard.timeaxis import parse_time

        if level is not None and level.lower() not in LEVELS:
            raise typer.BadParameter(f"one of {', '.join(LEVELS)}", param_hint="--level")
        bounds: dict[str, datetime | None] = {}
        for hint, text in (("--since", since), ("--until", until)):
            try:
                bounds[hint] = parse_time(text)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint=hint) from None
        lo, hi = bounds["--since"], bounds["--until"]
        if lo is not None and hi is not None and lo > hi:
            raise typer.BadParameter(f"{since} is after --until {until}", param_hint="--since")
        chosen: Clock = clock.value
        if lo is not None or hi is not None:
            try:
                chosen, notice = asyncio.run(JsonlSource(path).time_axis(chosen))
            except SourceError as exc:
                typer.echo(f"arbtail: {exc}", err=True)
                raise typer.Exit(2) from None
            if notice:
                typer.echo(f"arbtail: {notice}", err=True)
        match = Filter(event or [], symbol, lo, hi, level and level.lower(), chosen, strategy)
        skipped: Counter[str] = Counter()
        try:
            n = asyncio.run(grep(JsonlSource(path), match, sys.stdout.buffer, skipped))
            sys.stdout.buffer.flush()
        except SourceError as exc:
            typer.echo(f"arbtail: {exc}", err=True)
            raise typer.Exit(2) from None
        except BrokenPipeError:  # `| head`: the reader is gone, which is fine
            sys.stderr.close()
            raise typer.Exit(0) from None
        if skipped:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
            typer.echo(f"arbtail grep: skipped {sum(skipped.values())} lines ({reasons})", err=True)
        if not match.strategy_seen:
            typer.echo(f"arbtail grep: {path}: no event of strategy {strategy!r} in this log", err=True)
            raise typer.Exit(2)
        raise typer.Exit(0 if n else 1)
