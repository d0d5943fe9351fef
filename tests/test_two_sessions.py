"""A log holding two sessions — ``cat a.jsonl b.jsonl``, or two writers on one file — is never folded as one: the
reader folds one session (by default the log's last, the session of its last event; ``session=`` a full id or
a unique prefix picks another), counts the other's events by session (``other_session:<id>``, not bad lines)
and names it in the frame. Every path agrees: the block decoder, line by line, parsed dicts, the untyped
path; the checkpoint seek starts only from the chosen session's checkpoint; ``arbtail stats`` lists every
session."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_builder import SID, Events, mark, round_trip
from rich.console import Console
from typer.testing import CliRunner

from arbdash.dashboard import reducer as reducer_mod
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import plain_summary
from arbdash.dashboard.render_rich import build_layout, frame_text
from arbdash.dashboard.sources import jsonl
from arbdash.dashboard.sources.jsonl import SourceError, load
from arbdash.dashboard.state import state_to_dict
from arbdash.tools.arbtail import app
from arbdash.tools.bench_arbtail import generate

A = "aaaaaaaa-0000-4000-8000-00000000000a"
B = "bbbbbbbb-0000-4000-8000-00000000000b"


def _session(sid: str, price: str, booked: str = "0.083665") -> list[dict[str, Any]]:
    """A round trip (position ``P1``, the same id in every session) and marks, as session ``sid``."""
    e = Events()
    opening, closing = round_trip(e, booked)
    events = opening + closing + [mark(e, "binance", price), mark(e, "bybit", price)]
    return [{**ev, "session_id": sid} for ev in events]


def _bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(ev) + b"\n" for ev in events)


def _figures(r: Reducer) -> dict[str, Any]:
    """The folded state without the ingest counters (which count the other session's lines too)."""
    d = state_to_dict(r.state)
    stats = d.pop("stats")
    d["applied"] = stats["applied"]
    d["rejected"] = stats["rejected"]
    return d


def _alone(tmp_path: Path, name: str, events: list[dict[str, Any]]) -> Reducer:
    path = tmp_path / name
    path.write_bytes(_bytes(events))
    r = Reducer()
    load(path, r, seek=False)
    assert r.stats.skipped == {}
    return r


def test_concatenated_logs_fold_the_last_session_only(tmp_path: Path) -> None:
    a, b = _session(A, "101.5"), _session(B, "99.25")
    path = tmp_path / "cat.jsonl"
    path.write_bytes(_bytes(a) + _bytes(b))
    r = Reducer()
    res = load(path, r)
    assert _figures(r) == _figures(_alone(tmp_path, "b.jsonl", b))
    assert r.stats.skipped == {f"other_session:{A}": len(a)}
    assert res.session == B and r.session == B
    snap = r.snapshot()
    assert snap.session.session_id == B
    text = frame_text(snap, 160)
    assert f"session {B[:8]}" in text
    assert "skipped lines: 0 " in text  # another session's events are not bad lines
    assert f"not shown, other session in this log: {A} {len(a)} events" in text
    assert f"not shown, other session in this log: {A}" in plain_summary(snap)
    # the live layout makes room for the notice
    buf = StringIO()
    Console(file=buf, width=160, height=60, color_system=None, legacy_windows=False).print(build_layout(snap))
    assert f"other session in this log: {A}" in buf.getvalue()
    # a log of one session says nothing of the kind
    one = _alone(tmp_path, "a.jsonl", a)
    assert "other session" not in frame_text(one.snapshot(), 160)


def test_interleaved_writers_every_path_folds_one_session(tmp_path: Path) -> None:
    """Two writers on one file (each envelope its session's): the block path (``feed_block``, which decodes
    64 KiB pieces at once), line by line, event dicts and the untyped path each fold only the session chosen."""
    a, b = _session(A, "101.5"), _session(B, "99.25")
    a.append({**a[-1], "seq": a[-1]["seq"] + 1, "event": "some.future_event"})  # untyped: an unknown event
    mixed = [ev for pair in zip(a, b, strict=False) for ev in pair] + a[len(b) :] + b[len(a) :]
    if mixed[-1]["session_id"] != B:
        mixed.append({**b[-1], "seq": b[-1]["seq"] + 1, "event": "heartbeat", "message": ""})
        b = b + [mixed[-1]]
    want = _figures(_alone(tmp_path, "b.jsonl", b))
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(_bytes(mixed))
    block = Reducer()
    load(path, block)
    assert _figures(block) == want
    lines = Reducer(session=B)
    lines.feed_lines(_bytes(mixed).splitlines())
    dicts = Reducer(session=B)
    for ev in mixed:
        dicts.feed(ev)
    for r in (block, lines, dicts):
        assert _figures(r) == want
        assert r.stats.skipped == {f"other_session:{A}": len(a)}
        assert r.stats.unknown == {}  # the unknown event was the other session's
    # a reducer given no session folds the first one it sees (it never mixes)
    first = Reducer()
    first.feed_block(_bytes(mixed))
    assert first.session == A and first.stats.skipped == {f"other_session:{B}": len(b)}


def test_session_by_full_id_or_unique_prefix(tmp_path: Path) -> None:
    a, b = _session(A, "101.5"), _session(B, "99.25")
    path = tmp_path / "cat.jsonl"
    path.write_bytes(_bytes(a) + _bytes(b))
    want = _figures(_alone(tmp_path, "a.jsonl", a))
    for wanted in (A, "aaaa", "a"):
        r = Reducer()
        assert load(path, r, session=wanted).session == A
        assert _figures(r) == want and r.stats.skipped == {f"other_session:{B}": len(b)}
    spans = jsonl.list_sessions(path)
    assert [(s.session_id, s.events) for s in spans] == [(A, len(a)), (B, len(b))]
    assert spans[0].first_ts.isoformat() == a[0]["ts"] and spans[1].last_ts == max(s.last_ts for s in spans)
    assert jsonl.resolve_session(path, None) == jsonl.last_session(path) == B
    with pytest.raises(SourceError, match=r"no session 'zz' in this log; its sessions: aaaaaaaa.*bbbbbbbb"):
        load(path, Reducer(), session="zz")
    third = _session("aaaaaaaa-9999-4000-8000-000000000003", "1")
    path.write_bytes(_bytes(a) + _bytes(third) + _bytes(b))
    with pytest.raises(SourceError, match="'aaaa' is a prefix of 2"):
        load(path, Reducer(), session="aaaa")
    assert load(path, Reducer(), session="aaaaaaaa-0").session == A


@pytest.fixture(scope="module")
def checkpointed(real_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real run's events with a ``dashboard.checkpoint`` (its true state) every 2,000 events."""
    path = tmp_path_factory.mktemp("cps") / "a.jsonl"
    generate(real_log, path, 1, 2000)
    return path


def test_seek_starts_only_from_the_chosen_sessions_checkpoint(checkpointed: Path, tmp_path: Path) -> None:
    """``a`` (a real run with checkpoints) then ``b`` (the first two thirds of another run, checkpoints too). For
    ``a`` the seek passes over ``b``'s (newer) checkpoints and starts from ``a``'s last: the state of a full
    replay of ``a`` in that file, ``b``'s lines counted. For ``b`` (the default) no checkpoint is usable —
    ``a``'s lines come before them, which only a replay counts — and the replay gives ``b``'s state."""
    data = checkpointed.read_bytes()
    sid_a = orjson.loads(data[: data.index(b"\n")])["session_id"]
    lines = data.splitlines(keepends=True)
    other = b"".join(lines[: 2 * len(lines) // 3]).replace(sid_a.encode(), B.encode())
    path = tmp_path / "cat.jsonl"
    path.write_bytes(data + other)
    last_cp_a = max(orjson.loads(x)["seq"] for x in lines if b'"dashboard.checkpoint"' in x)

    full, fast = Reducer(), Reducer()
    res_full = load(path, full, session=sid_a, seek=False)
    res_fast = load(path, fast, session=sid_a, seek_min_bytes=0)
    assert res_full.checkpoint_seq is None and res_fast.checkpoint_seq == last_cp_a
    assert res_fast.bytes_read < len(other) + len(data) // 10
    assert state_to_dict(fast.state) == state_to_dict(full.state)
    assert full.stats.skipped == {f"other_session:{B}": len(other.splitlines())}
    alone = Reducer()
    load(checkpointed, alone, seek=False)
    assert _figures(full) == _figures(alone)

    default = Reducer()
    res = load(path, default, seek_min_bytes=0)
    assert res.session == B and res.checkpoint_seq is None
    b_alone = tmp_path / "b.jsonl"
    b_alone.write_bytes(other)
    want = Reducer()
    load(b_alone, want, seek=False)
    assert _figures(default) == _figures(want)
    assert default.stats.skipped == {f"other_session:{sid_a}": len(lines)}


def test_other_sessions_are_counted_by_name_up_to_a_few(tmp_path: Path) -> None:
    """A hostile log naming a new session on every line costs a bounded counter; ids are cut and made inert."""
    r = Reducer(session=SID)
    evs = _session(SID, "100")
    for ev in evs:
        r.feed(ev)
    for k in range(20):
        r.feed({**evs[-1], "seq": 1, "session_id": f"s{k}\x1b[2J" + "x" * 100})
    keys = [k for k in r.stats.skipped if k.startswith("other_session:")]
    assert len(keys) == reducer_mod.MAX_OTHER_SESSIONS + 1
    assert r.stats.skipped["other_session:*"] == 20 - reducer_mod.MAX_OTHER_SESSIONS
    assert "other_session:s0??2Jxxxx" in keys[0] and all(len(k) <= 14 + 64 for k in keys)
    assert r.stats.applied == len(evs) and r.stats.last_problem == ""


def test_arbtail_stats_lists_every_session(tmp_path: Path) -> None:
    a, b = _session(A, "101.5"), _session(B, "99.25", booked="0.07")
    path = tmp_path / "cat.jsonl"
    path.write_bytes(_bytes(a) + _bytes(b))
    out = CliRunner().invoke(app, ["stats", str(path)]).stdout
    assert f"{len(a) + len(b)} lines, {len(a) + len(b)} events" in out
    assert f"sessions   2 (positions and PnL below: session {B} only" in out
    rows = [x for x in out.splitlines() if x.startswith("  aaaaaaaa") or x.startswith("  bbbbbbbb")]
    assert rows[0].startswith(f"  {A}  {len(a)} events  {a[0]['ts']} → ")
    assert rows[1].startswith(f"  {B}  {len(b)} events  ") and rows[1].endswith("*")
    assert "skipped    0" in out
    assert "positions  opened 1, closed 1, open 0" in out  # one session's, not the sum of two
    picked = CliRunner().invoke(app, ["stats", str(path), "--session", "aaaa"]).stdout
    assert f"positions and PnL below: session {A} only" in picked
    bad = CliRunner().invoke(app, ["stats", str(path), "--session", "zz"])
    assert bad.exit_code == 2 and "no session 'zz'" in bad.stderr


def test_arbtail_session_picks_one_session_of_a_log_in_every_view(tmp_path: Path) -> None:
    """``arbtail FILE --session ID`` on ``cat a b``: the one frame, a playback and an export each show that
    session as its own log would; without ``--session`` they show the last one; an unknown prefix is exit 2."""
    a, b = _session(A, "100.5"), _session(B, "222.25")
    both = tmp_path / "both.jsonl"
    both.write_bytes(_bytes(a) + _bytes(b))

    def once(*extra: str) -> str:
        out = CliRunner().invoke(app, [str(both), "--once", "--width", "120", *extra])
        assert out.exit_code == 0, out.output
        return out.stdout

    def frame_of(events: list[dict[str, Any]]) -> str:
        return frame_text(_alone(tmp_path, f"{events[0]['session_id']}.jsonl", events).snapshot(), 120)

    def without_notice(frame: str) -> str:
        return "\n".join(line for line in frame.splitlines() if "other session" not in line)

    shown = without_notice(once())
    assert B[:8] in shown and A[:8] not in shown and A[:8] in once()  # b shown, a named in the notice
    assert without_notice(once("--session", A[:6])) == without_notice(frame_of(a))
    assert without_notice(once()) == without_notice(frame_of(b))
    last_ts = a[-1]["ts"]
    played = CliRunner().invoke(
        app,
        [
            str(both),
            "--session",
            A,
            "--from",
            a[0]["ts"],
            "--to",
            last_ts,
            "--speed",
            "1e9",
            "--clock",
            "wall",
        ],
    )
    assert played.exit_code == 0, played.output
    assert without_notice(played.stdout.rstrip("\n")).endswith(without_notice(frame_of(a)).rstrip("\n"))
    bad = CliRunner().invoke(app, [str(both), "--once", "--session", "ffff"])
    assert bad.exit_code == 2 and "ffff" in bad.output
