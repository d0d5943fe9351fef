"""``tail -F`` semantics of the JSONL follower: a file that does not exist yet, appends in two pieces, rotation
(with a late write to the old file), truncation and deletion — and the final state equals a fresh
``arbtail --once`` of everything that was appended, in order."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_builder import Events, mark, round_trip
from typer.testing import CliRunner

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.follow import follow_file
from arbdash.tools.arbtail import app


def line(ev: dict[str, Any]) -> bytes:
    return orjson.dumps(ev) + b"\n"


async def _until(cond: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("follower did not catch up in time")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("notify", [True, False], ids=["watchfiles", "polling"])
def test_follow_survives_rotation_truncation_deletion(tmp_path: Path, notify: bool) -> None:
    e = Events()
    opening, closing = round_trip(e)
    extra = [mark(e, "binance", f"{101 + i}") for i in range(6)]
    path = tmp_path / "s.jsonl"
    appended: list[bytes] = []
    notices: list[str] = []
    reducer = Reducer()

    def folded() -> int:
        st = reducer.stats
        return st.applied + st.skipped_total + st.rejected_total + st.unknown_total

    def write(target: Path, evs: list[dict[str, Any]], mode: str = "ab") -> None:
        data = b"".join(line(x) for x in evs)
        with open(target, mode) as fh:
            fh.write(data)
        appended.append(data)

    async def scenario() -> None:
        async def consume() -> None:
            async for _ in follow_file(path, reducer, poll_s=0.05, notify=notify, on_notice=notices.append):
                pass

        task = asyncio.create_task(consume())
        try:
            await _until(lambda: any("waiting for" in n for n in notices))  # not there yet
            write(path, opening[:4])
            await _until(lambda: folded() == 4)
            half = line(opening[4])  # a line written in two pieces: never parsed half
            with open(path, "ab") as fh:
                fh.write(half[:20])
            await asyncio.sleep(0.2)
            assert folded() == 4 and reducer.stats.skipped == {}
            with open(path, "ab") as fh:
                fh.write(half[20:])
            appended.append(half)
            await _until(lambda: folded() == 5)
            # rotation: rename, a late write to the old file, then a new file at the path
            os.rename(path, tmp_path / "s.jsonl.1")
            write(tmp_path / "s.jsonl.1", opening[5:7])
            write(path, opening[7:], "wb")
            await _until(lambda: folded() == len(opening))
            assert any("rotated" in n for n in notices)
            # truncation: the file shrinks, then new lines arrive
            os.truncate(path, 0)
            await _until(lambda: any("truncated" in n for n in notices))
            write(path, closing)
            await _until(lambda: folded() == len(opening) + len(closing))
            # deletion, then the file comes back
            path.unlink()
            await _until(lambda: any("deleted" in n for n in notices))
            write(path, extra, "wb")
            await _until(lambda: folded() == len(opening) + len(closing) + len(extra))
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    asyncio.run(scenario())
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b"".join(appended))
    fresh = CliRunner().invoke(app, [str(whole), "--once", "--width", "140"])
    assert fresh.exit_code == 0
    assert frame_text(reducer.snapshot(), 140) == fresh.stdout
    assert reducer.stats.skipped == {} and reducer.stats.applied == len(opening) + len(closing) + len(extra)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def test_follow_reads_past_a_byte_order_mark_at_offset_0(tmp_path: Path) -> None:
    """A file that starts with a UTF-8 byte-order mark (an editor adds one) loses no line when followed from its
    start: neither when it is first read nor when it is read again from its start after a truncation (issue 10,
    item 6). A mark anywhere else is not at a file's start and is left to the reducer."""
    bom = b"\xef\xbb\xbf"
    e = Events()
    opening, closing = round_trip(e)
    path = tmp_path / "s.jsonl"
    path.write_bytes(bom + b"".join(line(x) for x in opening))
    notices: list[str] = []
    reducer = Reducer()

    async def scenario() -> None:
        async def consume() -> None:
            async for _ in follow_file(path, reducer, poll_s=0.05, notify=False, on_notice=notices.append):
                pass

        task = asyncio.create_task(consume())
        try:
            await _until(lambda: reducer.stats.applied + reducer.stats.skipped_total >= len(opening), 20)
            os.truncate(path, 0)
            await _until(lambda: any("truncated" in n for n in notices), 20)
            _append(path, bom + b"".join(line(x) for x in closing))
            await _until(
                lambda: reducer.stats.applied + reducer.stats.skipped_total >= len(opening) + len(closing), 20
            )
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    asyncio.run(scenario())
    assert reducer.stats.skipped == {}
    assert reducer.stats.applied == len(opening) + len(closing)
