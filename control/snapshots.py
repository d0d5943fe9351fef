"""The live snapshot as the server hands it out: built on the event loop from the reducer the dashboard owns.

``SnapshotSource.current()`` returns a ``Snapshot``: the ``DashboardSnapshot`` (``Reducer.snapshot()``, the
frame the terminal draws), the ``seq`` the reducer has folded up to (the snapshot is exactly the fold of the
session's events up to and including it — what a client resumes the stream from) and its JSON body. Building a
snapshot computes every derived figure, so it is cached per reducer ``version``: many readers of an unchanged
state (stream clients connecting, a scrape, a poll) build it once. The reducer is fed by
``DashboardService``'s refresh task (every 0.25 s), so a snapshot is at most that far behind the events; it is
never built from another thread (the reducer is not thread-safe and has one owner, the loop).

JSON: ``msgspec.json.encode`` of the snapshot, as the models define it (money and rates as decimal strings,
datetimes ISO 8601 with their offset), wrapped as ``{"session_id", "seq", "version", "snapshot"}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import orjson

from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.reducer import Reducer

_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One snapshot and what identifies it. ``body``: the JSON document ``/api/snapshot`` answers with (also the
    ``data:`` of the stream's ``snapshot`` event)."""

    session_id: str | None
    seq: int
    version: int
    model: DashboardSnapshot
    body: bytes


def folded_seq(reducer: Reducer) -> int:
    """The last ``seq`` of the reducer's session that it has folded (0 before any)."""
    state = reducer.state
    session = state.fold_session
    return state.last_seq.get(session, 0) if session is not None else 0


def snapshot_body(session_id: str | None, seq: int, version: int, model: DashboardSnapshot) -> bytes:
    head = orjson.dumps({"session_id": session_id, "seq": seq, "version": version})
    return head[:-1] + b',"snapshot":' + _encode(model) + b"}"


class SnapshotSource:
    """Snapshots of ``reducer`` (owned by the dashboard service, read here on the loop), cached per state
    version. ``builds`` counts the snapshots actually built."""

    def __init__(self, reducer: Reducer) -> None:
        self.reducer = reducer
        self._cached: Snapshot | None = None
        self._key: tuple[int, int] | None = None
        self.builds = 0

    def current(self) -> Snapshot:
        reducer = self.reducer
        key = (id(reducer.state), reducer.version)
        cached = self._cached
        if cached is not None and key == self._key:
            return cached
        model = reducer.snapshot()
        seq = folded_seq(reducer)
        session = reducer.session
        snap = Snapshot(
            session, seq, reducer.version, model, snapshot_body(session, seq, reducer.version, model)
        )
        self._cached, self._key = snap, key
        self.builds += 1
        return snap
