"""``arbtail stats PATH``: a summary of a log — counts by event and level, time span, ``seq`` gaps and steps
back, skipped lines by reason, positions and net PnL — as plain text (no colour, no cursor control); in a
session of two or more strategy instances, also per strategy: its events, positions and PnL (the roll-up the
dashboard's strategies pane shows, ``dashboard.snapshot``; it adds up to the session's).

One pass: every line is parsed once; events are counted here and folded by the same reducer the dashboard
uses (``Reducer.feed``), which supplies the skip reasons, the positions and the PnL. A line counts as an event
when the reducer takes its envelope (``dashboard.reducer.envelope_problem``): ``{}`` is a skipped line, not an
event without a name.

A log may hold several sessions (``cat a.jsonl b.jsonl``): every one is listed (id, events, first and last wall
time, last ``seq``); the counts by event and level cover them all, while the positions and the PnL are one
session's, never a sum — the last session's, as ``arbtail`` draws it, or the one ``--session`` names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from arbdash.dashboard.sources.protocol import SourceError
from arbdash.dashboard.text import fmt_duration, fmt_usd, safe_text

if TYPE_CHECKING:  # imported where used, so ``arbtail --help`` does not load the reducer
    from arbdash.dashboard.reducer import Reducer


@dataclass
class LogStats:
    """Counters of one pass. ``gaps``: per session, (after seq, before seq) pairs where seqs are missing;
    ``backwards``: (seq, next seq) pairs where a session's ``seq`` went back from one event to the next;
    ``sessions``: per session (in the order of their first event), ``[first ts, last ts, events]``."""

    lines: int = 0
    events: Counter[str] = field(default_factory=Counter)
    levels: Counter[str] = field(default_factory=Counter)
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    last_seq: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    missing: int = 0
    prev_seq: dict[str, int] = field(default_factory=dict)
    backwards: list[tuple[int, int]] = field(default_factory=list)
    sessions: dict[str, list[Any]] = field(default_factory=dict)
    strategies: Counter[str] = field(
        default_factory=Counter
    )  # events by the envelope's strategy (of all sessions)

    def count(self, ev: dict[str, Any]) -> None:
        self.events[safe_text(ev.get("event"), 60)] += 1
        strategy = ev.get("strategy")
        if type(strategy) is str and ev.get("event") != "session.started":  # that one names the session
            self.strategies[strategy] += 1
        self.levels[safe_text(ev.get("level"), 20)] += 1
        ts = ev.get("ts")
        t = None
        if type(ts) is str:
            try:
                t = datetime.fromisoformat(ts)
            except ValueError:
                t = None
            if t is not None and t.tzinfo is not None:
                self.first_ts = t if self.first_ts is None or t < self.first_ts else self.first_ts
                self.last_ts = t if self.last_ts is None or t > self.last_ts else self.last_ts
        sid, seq = ev.get("session_id"), ev.get("seq")
        if type(sid) is str and t is not None and t.tzinfo is not None:
            row = self.sessions.get(sid)
            if row is None:
                self.sessions[sid] = [t, t, 1]
            else:
                row[0], row[1], row[2] = min(row[0], t), max(row[1], t), row[2] + 1
        if type(sid) is str and type(seq) is int:
            last = self.last_seq.get(sid)
            if last is not None and seq > last + 1:
                self.gaps.setdefault(sid, []).append((last, seq))
                self.missing += seq - last - 1
            if last is None or seq > last:
                self.last_seq[sid] = seq
            prev = self.prev_seq.get(sid)
            if prev is not None and seq < prev:
                self.backwards.append((prev, seq))
            self.prev_seq[sid] = seq


def collect(path: Path, reducer: Reducer) -> LogStats:
    """One pass over ``path`` (all rotated members). Raises ``SourceError``."""
    from arbdash.dashboard.reducer import between_nul_runs, envelope_problem
    from arbdash.dashboard.sources.jsonl import iter_batches

    stats = LogStats()
    for batch in iter_batches(path, reducer.note_skip):
        for raw in batch:
            stats.lines += 1
            try:
                ev = orjson.loads(raw)
            except orjson.JSONDecodeError:
                reducer.feed_line(raw)  # classified and counted there
                if b"\x00" in raw:  # NUL runs: the reducer folded the records between them
                    for part in between_nul_runs(raw) or ():
                        try:
                            ev = orjson.loads(part)
                        except orjson.JSONDecodeError:
                            continue
                        if envelope_problem(ev) is None:
                            stats.count(ev)
                continue
            if envelope_problem(ev) is None:
                stats.count(ev)
            reducer.feed(ev)
    return stats


def render(path: Path, stats: LogStats, reducer: Reducer) -> str:
    """The summary as plain text lines."""
    from arbdash.dashboard.render_plain import multi_strategy, strategy_label

    snap = reducer.snapshot(closed_rows=1000)
    ing = reducer.stats
    out = [f"{safe_text(path)}: {stats.lines} lines, {sum(stats.events.values())} events"]
    if stats.first_ts and stats.last_ts:
        span = int((stats.last_ts - stats.first_ts).total_seconds())
        out.append(
            f"time span  {stats.first_ts.isoformat()} → {stats.last_ts.isoformat()} ({fmt_duration(span)})"
            " wall clock"
        )
    s = snap.session
    if s.market_start and s.market_now:
        out.append(
            f"market     {s.market_start.isoformat()} → {s.market_now.isoformat()}"
            f" ({fmt_duration(s.market_uptime_s)}) market clock"
        )
    out += _session_lines(stats, reducer.session)
    gaps = [f"{a}→{b}" for g in stats.gaps.values() for a, b in g]
    back = [f"{a}→{b}" for a, b in stats.backwards]
    out.append(
        f"seq gaps   {len(gaps)} ({stats.missing} seqs missing)"
        + (f": {', '.join(gaps[:10])}" if gaps else "")
        + f", seq backwards {len(back)}"
        + (f": {', '.join(back[:10])}" if back else "")
    )
    out.append("levels     " + ", ".join(f"{k} {v}" for k, v in sorted(stats.levels.items())))
    skipped = (
        snap.session.ingest.skipped
    )  # without another session's events (``SessionState.other_sessions``)
    out.append(
        f"skipped    {sum(skipped.values())}" + "".join(f", {k} {v}" for k, v in sorted(skipped.items()))
    )
    out.append(
        f"bad events {ing.rejected_total}" + "".join(f", {k} {v}" for k, v in sorted(ing.rejected.items()))
    )
    out.append(
        f"unknown    {ing.unknown_total}" + "".join(f", {k} {v}" for k, v in sorted(ing.unknown.items()))
    )
    out.append("events:")
    width = max((len(k) for k in stats.events), default=0)
    out += [
        f"  {name:<{width}}  {n:>9}"
        for name, n in sorted(stats.events.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    pf = snap.portfolio
    out.append(
        f"positions  opened {pf.positions_opened}, closed {pf.positions_closed}, open {pf.positions_open}"
    )
    for p in snap.positions:
        opened = _when(p.entry_ts)
        closed = f" → closed {_when(p.closed_ts)}" if p.closed_ts is not None else ""
        out.append(
            f"  {safe_text(p.position_id, 40)}  {safe_text(p.symbol, 12)}  {p.lifecycle:<11}"
            f"  opened {opened}{closed}"
            f"  net {fmt_usd(p.net_pnl, signed=True)} USD  {safe_text(p.exit_reason or '', 40)}"
        )
    out.append(
        f"net PnL    {fmt_usd(pf.net_pnl, signed=True)} USD (realized {fmt_usd(pf.realized_pnl, signed=True)},"
        f" unrealized {fmt_usd(pf.unrealized_pnl, signed=True)}, funding {fmt_usd(pf.funding, signed=True)},"
        f" fees {fmt_usd(pf.fees)})"
    )
    if multi_strategy(snap):
        out.append("strategies:")
        for v in snap.strategies:
            events = stats.strategies.get(v.name, 0) if v.name is not None else None
            out.append(
                f"  {strategy_label(v.name, 40)}  {safe_text(v.type or '—', 30)}"
                + (f"  events {events}" if events is not None else "")
                + f"  positions opened {v.positions_opened}, closed {v.positions_closed}, open {v.positions_open}"
                f"  net {fmt_usd(v.net_pnl, signed=True)} USD (realized {fmt_usd(v.realized_pnl, signed=True)},"
                f" unrealized {fmt_usd(v.unrealized_pnl, signed=True)}, funding {fmt_usd(v.funding, signed=True)},"
                f" fees {fmt_usd(v.fees)})"
            )
    return "\n".join(out) + "\n"


def _when(t: datetime | None) -> str:
    """A position's open or close time on the market clock, to the minute, UTC (``—`` when unknown)."""
    return t.strftime("%Y-%m-%d %H:%MZ") if t is not None else "—"


def _session_lines(stats: LogStats, shown: str | None) -> list[str]:
    """``sessions   N`` and a line per session: id, events, first → last wall time, last seq; with several, which
    one the positions and PnL below are of."""
    n = len(stats.sessions)
    head = f"sessions   {n}"
    if n > 1 and shown is not None:
        head += f" (positions and PnL below: session {safe_text(shown, 64)} only; --session ID picks another)"
    out = [head]
    for sid, (first, last, events) in stats.sessions.items():
        mark = "  *" if n > 1 and sid == shown else ""
        out.append(
            f"  {safe_text(sid, 64)}  {events} events  {first.isoformat()} → {last.isoformat()}"
            f"  last seq {stats.last_seq.get(sid, '—')}{mark}"
        )
    return out


def register(app: typer.Typer) -> None:
    """Add ``stats`` to ``app``."""

    @app.command("stats")
    def stats_cmd(
        path: Annotated[
            Path, typer.Argument(metavar="FILE", help="Session log (.jsonl, rotated set or .gz).")
        ],
        session: Annotated[
            str | None,
            typer.Option(
                "--session",
                metavar="ID",
                help="With several sessions in the log: the one whose positions and PnL are shown (id or"
                " unique prefix; default: the last one).",
            ),
        ] = None,
    ) -> None:
        """Counts by event and level, time span, sessions, seq gaps, skipped lines, positions and net PnL."""
        try:
            from arbdash.dashboard.reducer import Reducer
            from arbdash.dashboard.sources.jsonl import resolve_session

            reducer = Reducer(session=resolve_session(path, session))
            stats = collect(path, reducer)
        except SourceError as exc:
            typer.echo(f"arbtail: {exc}", err=True)
            raise typer.Exit(2) from None
        from arbdash.tools.arbtail_view import nothing_folded

        if empty := nothing_folded(str(path), reducer):  # not a session log: as ``arbtail FILE --once`` says
            typer.echo(f"arbtail: {empty}", err=True)
            raise typer.Exit(2)
        typer.echo(render(path, stats, reducer), nl=False)
