"""Moments of a real paper run found from its own events (``position.opened`` / ``position.closed``), so tests that
replay ``real_log`` up to "two positions open in their minimum hold" do not hard-code dates of one data window or
one market model (issue 11 changed both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Life:
    """One position of the run: opened and closed at these market times (``closed`` None: open at the end)."""

    position_id: str
    opened: datetime
    closed: datetime | None

    def open_at(self, t: datetime) -> bool:
        return self.opened <= t and (self.closed is None or t < self.closed)


def lives(log: Path) -> list[Life]:
    """Every position that opened, in opening order."""
    opened: dict[str, datetime] = {}
    closed: dict[str, datetime] = {}
    for raw in log.read_bytes().splitlines():
        e = orjson.loads(raw)
        if e["event"] == "position.opened":
            opened[e["position_id"]] = datetime.fromisoformat(e["market_ts"])
        elif e["event"] == "position.closed":
            closed[e["position_id"]] = datetime.fromisoformat(e["market_ts"])
    return [Life(pid, t, closed.get(pid)) for pid, t in opened.items()]


def first_position_alone(log: Path, span: timedelta) -> Life:
    """The run's first position when it is the only one the run has seen from its opening to ``span`` later (no
    other opened, it did not close): a snapshot in that stretch carries exactly this one position."""
    all_lives = lives(log)
    first = all_lives[0]
    end = first.opened + span
    assert first.closed is None or first.closed >= end, "the first position closed too early for this test"
    assert all(o.opened > end for o in all_lives[1:]), "another position opened too early for this test"
    return first


def hour_with_open(log: Path, n: int, *, max_age: timedelta | None = None) -> datetime:
    """The first market hour at which exactly ``n`` positions are open, one hour or more after each opened (fills
    and the first check are in), and, with ``max_age``, each younger than it."""
    all_lives = lives(log)
    for life in all_lives:
        t = life.opened + HOUR
        live = [x for x in all_lives if x.open_at(t) and x.opened + HOUR <= t]
        if len(live) == n and (max_age is None or all(t - x.opened < max_age for x in live)):
            if all(x.open_at(t) for x in live) and sum(1 for x in all_lives if x.open_at(t)) == n:
                return t
    raise AssertionError(f"the run never has exactly {n} positions open")


def last_hour_with_one_open(log: Path, *, min_closed: int) -> datetime:
    """The last market hour (one after an opening) with exactly one position open and ``min_closed`` or more
    closed before it."""
    all_lives = lives(log)
    best = None
    for life in all_lives:
        t = life.opened + HOUR
        n_open = sum(1 for x in all_lives if x.open_at(t))
        n_closed = sum(1 for x in all_lives if x.closed is not None and x.closed <= t)
        if n_open == 1 and life.open_at(t) and n_closed >= min_closed:
            best = t
    assert best is not None, "no such moment in the run"
    return best
