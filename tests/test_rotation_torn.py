"""A record a rotation cut in two: the older member of a rotated set ends mid-record (no final newline) and the
next one starts with the rest — as ``copytruncate`` or a size-based rotation leaves it while the writer is in
the middle of a line. Every reader of a rotated set (``load``, ``iter_batches`` and ``arbtail stats``, the
checkpoint seek, the follower across a rotation or a truncation) joins the halves back into the one event
they are, ``.gz`` members too; a member that is really torn (a crash) is still one ``torn_line`` and the next
member's first record is read on its own."""

from __future__ import annotations

import asyncio
import gzip
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_builder import Events, mark, round_trip
from typer.testing import CliRunner

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources import jsonl
from arbdash.dashboard.sources.follow import follow_file
from arbdash.dashboard.sources.jsonl import iter_batches, load
from arbdash.dashboard.sources.lines import LineSplitter
from arbdash.dashboard.state import state_to_dict
from arbdash.tools.arbtail import app
from arbdash.tools.bench_arbtail import generate


def _lines() -> list[bytes]:
    e = Events()
    opening, closing = round_trip(e)
    events = opening + closing + [mark(e, "binance", f"{100 + i}.5") for i in range(5)]
    return [orjson.dumps(ev) + b"\n" for ev in events]


def _whole(tmp_path: Path, lines: list[bytes]) -> Reducer:
    one = tmp_path / "whole" / "s.jsonl"
    one.parent.mkdir(exist_ok=True)
    one.write_bytes(b"".join(lines))
    r = Reducer()
    load(one, r, seek=False)
    return r


def _same(a: Reducer, b: Reducer) -> None:
    assert a.stats.skipped == b.stats.skipped == {}
    assert state_to_dict(a.state) == state_to_dict(b.state)
    assert frame_text(a.snapshot(), 140) == frame_text(b.snapshot(), 140)


def _cut(lines: list[bytes], i: int, at: int) -> tuple[bytes, bytes]:
    """The log cut inside line ``i``, ``at`` bytes into it: (older member, newer member)."""
    return b"".join(lines[:i]) + lines[i][:at], lines[i][at:] + b"".join(lines[i + 1 :])


def _really_torn(tmp_path: Path, lines: list[bytes]) -> None:
    """The older member ends with a partial record its writer never finished (a crash) and the next member
    starts with a whole record: no join — the part is one ``torn_line``, the record folds. A member ending with
    its newline joins nothing."""
    (tmp_path / "s.jsonl.1").write_bytes(b"".join(lines[:6]) + lines[6][:25])
    (tmp_path / "s.jsonl").write_bytes(b"".join(lines[7:]))
    r = Reducer()
    load(tmp_path / "s.jsonl", r, seek=False)
    assert r.stats.skipped == {"torn_line": 1}
    assert r.stats.applied == len(lines) - 1
    assert "25 bytes without a newline at the end of" in r.stats.last_problem
    # the same torn part followed by a line that does not complete it: not one value, not joined
    (tmp_path / "s.jsonl").write_bytes(b"not the rest\n" + b"".join(lines[7:]))
    r = Reducer()
    load(tmp_path / "s.jsonl", r, seek=False)
    assert r.stats.skipped == {"torn_line": 1, "not_json": 1}
    assert r.stats.applied == len(lines) - 1
    # a member that ends at a line boundary
    (tmp_path / "s.jsonl.1").write_bytes(b"".join(lines[:7]))
    (tmp_path / "s.jsonl").write_bytes(b"".join(lines[7:]))
    r = Reducer()
    load(tmp_path / "s.jsonl", r, seek=False)
    _same(r, _whole(tmp_path, lines))


def test_a_record_cut_by_a_rotation_is_one_event(tmp_path: Path) -> None:
    lines = _lines()
    whole = _whole(tmp_path, lines)
    for at in (1, 17, len(lines[6]) // 2, len(lines[6]) - 2, len(lines[6]) - 1):  # ``-1``: only "\n" is left
        d = tmp_path / f"cut{at}"
        d.mkdir()
        older, newer = _cut(lines, 6, at)
        (d / "s.jsonl.1").write_bytes(older)
        (d / "s.jsonl").write_bytes(newer)
        r = Reducer()
        res = load(d / "s.jsonl", r, seek=False)
        _same(r, whole)
        assert res.offset == len(newer) and res.carry == b""
        # the same stream line by line (playback, grep, stats read it so)
        got = [x for batch in iter_batches(d / "s.jsonl", r.note_skip) for x in batch]
        assert got == [x.rstrip(b"\n") for x in lines]
    stats = CliRunner().invoke(app, ["stats", str(tmp_path / "cut17" / "s.jsonl")]).stdout
    assert f"{len(lines)} lines" in stats and "skipped    0" in stats
    _really_torn(tmp_path / "cut17", lines)


def test_gz_members_and_three_members(tmp_path: Path) -> None:
    """``x.2.gz`` ends mid-record, ``x.1`` holds the rest and ends mid-record too, ``x`` the last rest."""
    lines = _lines()
    whole = _whole(tmp_path, lines)
    body = b"".join(lines)
    cut1 = body.find(lines[4]) + 30
    cut2 = body.find(lines[9]) + 11
    (tmp_path / "s.jsonl.2.gz").write_bytes(gzip.compress(body[:cut1]))
    (tmp_path / "s.jsonl.1").write_bytes(body[cut1:cut2])
    (tmp_path / "s.jsonl").write_bytes(body[cut2:])
    r = Reducer()
    load(tmp_path / "s.jsonl", r, seek=False)
    _same(r, whole)
    assert jsonl.list_sessions(tmp_path / "s.jsonl")[0].events == len(lines)


def test_splitter_gives_up_a_join_that_grows_past_a_line() -> None:
    """The part carried over is counted torn as soon as the line it would start outgrows ``max_line_bytes``
    (it cannot be one record), and the NUL run after it is the ``copytruncate`` hole it always was."""
    seen: list[tuple[str, str]] = []
    sp = LineSplitter(lambda reason, detail: seen.append((reason, detail)), max_line_bytes=64)
    assert sp.feed(b'{"a":1}\n{"b":') == [b'{"a":1}']
    sp.end_member("x.1")
    assert sp.pending == 0 and sp.carried == b'{"b":'
    assert sp.feed(b"\x00" * 100) == []
    assert seen == [("torn_line", "5 bytes without a newline at the end of x.1")]
    assert sp.feed(b'{"c":3}\n') == [b'{"c":3}']
    assert [r for r, _ in seen] == ["torn_line", "nul_bytes"]


@pytest.fixture(scope="module")
def log_with_checkpoints(real_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real run's events with a ``dashboard.checkpoint`` (its true folded state) every 2,000 events, as the
    bot writes them (``tools.bench_arbtail.generate``: one copy of the run)."""
    path = tmp_path_factory.mktemp("cps") / "s.jsonl"
    generate(real_log, path, 1, 2000)
    return path


def test_checkpoint_seek_over_a_cut_record_equals_full_replay(
    log_with_checkpoints: Path, tmp_path: Path
) -> None:
    """The bot folded the cut record once, so a checkpoint after it is at its place in the log's text: the seek
    and a full replay of the rotated set (which joins the halves) give one state."""
    real_log = log_with_checkpoints
    lines = real_log.read_bytes().splitlines(keepends=True)
    cps = [k for k, x in enumerate(lines) if b'"dashboard.checkpoint"' in x]
    i = (cps[0] + cps[-1]) // 2  # a cut between the first and the last checkpoint
    while b'"dashboard.checkpoint"' in lines[i]:
        i += 1
    older, newer = _cut(lines, i, len(lines[i]) // 3)
    (tmp_path / "s.jsonl.1").write_bytes(older)
    (tmp_path / "s.jsonl").write_bytes(newer)
    full, fast = Reducer(), Reducer()
    res_full = load(tmp_path / "s.jsonl", full, seek=False)
    res_fast = load(tmp_path / "s.jsonl", fast, seek_min_bytes=0)
    assert res_full.checkpoint_seq is None and res_fast.checkpoint_seq is not None
    assert full.stats.skipped == {}
    assert state_to_dict(fast.state) == state_to_dict(full.state)
    single = Reducer()
    load(real_log, single, seek=False)
    assert state_to_dict(full.state) == state_to_dict(single.state)


def test_last_session_of_a_newest_member_holding_only_the_rest(tmp_path: Path) -> None:
    lines = _lines()
    other = orjson.loads(lines[-1])
    other.update(session_id="0b0b0b0b-0000-4000-8000-00000000000b", seq=1)
    last = orjson.dumps(other) + b"\n"
    (tmp_path / "s.jsonl.1").write_bytes(b"".join(lines) + last[:40])
    (tmp_path / "s.jsonl").write_bytes(last[40:])
    assert jsonl.last_session(tmp_path / "s.jsonl") == other["session_id"]
    r = Reducer()
    assert load(tmp_path / "s.jsonl", r, seek=False).session == other["session_id"]
    assert r.stats.applied == 1


async def _until(cond: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("follower did not catch up in time")
        await asyncio.sleep(0.01)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def test_follow_joins_a_record_cut_by_rotation_and_by_copytruncate(tmp_path: Path) -> None:
    lines = _lines()
    path = tmp_path / "s.jsonl"
    reducer = Reducer()
    notices: list[str] = []

    async def scenario() -> None:
        async def consume() -> None:
            async for _ in follow_file(path, reducer, poll_s=0.05, notify=False, on_notice=notices.append):
                pass

        path.write_bytes(b"".join(lines[:3]) + lines[3][:21])
        task = asyncio.create_task(consume())
        try:
            await _until(lambda: reducer.stats.applied == 3)
            # rename rotation in the middle of line 3: the rest goes to the new file
            os.rename(path, tmp_path / "s.jsonl.1")
            path.write_bytes(lines[3][21:] + lines[4])
            await _until(lambda: reducer.stats.applied == 5)
            assert any("rotated" in n for n in notices)
            # copytruncate in the middle of line 5: the file is emptied and the writer appends the rest
            _append(path, lines[5][:33])
            await asyncio.sleep(0.2)
            os.truncate(path, 0)
            await asyncio.sleep(0.2)
            _append(path, lines[5][33:] + b"".join(lines[6:]))
            await _until(lambda: reducer.stats.applied == len(lines))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    _same(reducer, _whole(tmp_path, lines))


def test_load_then_follow_carries_the_cut_part(tmp_path: Path) -> None:
    """``load`` ends while the newest member holds only the start of the rest: ``LoadResult.carry`` hands the
    older member's part to the follower, which joins it with the rest when its newline comes (``load`` counted
    the unfinished line as torn, as it counts any last line without a newline)."""
    lines = _lines()
    (tmp_path / "s.jsonl.1").write_bytes(b"".join(lines[:5]) + lines[5][:30])
    path = tmp_path / "s.jsonl"
    path.write_bytes(lines[5][30:60])
    reducer = Reducer()
    res = load(path, reducer, seek=False)
    assert res.offset == 0 and res.carry == lines[5][:30]
    assert reducer.stats.applied == 5 and reducer.stats.skipped == {"torn_line": 1}

    async def scenario() -> None:
        async def consume() -> None:
            async for _ in follow_file(
                path, reducer, start_offset=res.offset, poll_s=0.05, notify=False, carry=res.carry
            ):
                pass

        task = asyncio.create_task(consume())
        try:
            await asyncio.sleep(0.2)
            _append(path, lines[5][60:] + b"".join(lines[6:]))
            await _until(lambda: reducer.stats.applied == len(lines))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert reducer.stats.skipped == {"torn_line": 1}
    whole = _whole(tmp_path, lines)
    assert state_to_dict(reducer.state)["positions"] == state_to_dict(whole.state)["positions"]
    assert reducer.stats.applied == whole.stats.applied
