"""DB replay: the frame drawn from PostgreSQL (from a snapshot, at a moment, following) equals the JSONL one."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from pg_fixtures import make_events, with_checkpoints
from pg_fixtures import record_session as _record
from support_runs import short_config_file

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.postgres import PostgresSource, PostgresSourceError
from arbdash.logging_pipeline.postgres import PostgresSink

pytestmark = pytest.mark.pg


def _frame(reducer: Reducer) -> str:
    return frame_text(reducer.snapshot(), 140)


def _fold(lines: list[bytes]) -> Reducer:
    r = Reducer()
    for line in lines:
        r.feed_line(line)
    return r


async def test_replay_from_snapshot_equals_full_replay_and_jsonl(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    events = make_events(sid, 1500)
    sink = await _record(pg_dsn, sid, events, tmp_path)
    assert sink.stats["snapshots"] >= 3
    stream = [line for line, _ in with_checkpoints(events)]  # what the sink was given: the checkpoints in it
    jsonl = _fold(stream)
    expected = _frame(jsonl)
    async with PostgresSource(pg_dsn, sid) as src:
        from_snap, fed = Reducer(), [0]
        await src.load(from_snap, progress=lambda n, _total: fed.append(n))
        assert fed[-1] < len(stream), "replay must start from a stored snapshot, not from the first event"
        assert src.last_seq == len(stream)
        full, fed = Reducer(), [0]
        await src.load(full, seek=False, progress=lambda n, _total: fed.append(n))
        assert fed[-1] == len(stream)
    assert _frame(from_snap) == expected == _frame(full)
    # the whole state, ingest counters and the log bytes fed included, not only what the frame shows
    assert from_snap.state == full.state == jsonl.state


async def test_replay_at_a_moment(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    events = make_events(sid, 800)
    await _record(pg_dsn, sid, events, tmp_path)
    stream = with_checkpoints(events)
    k = 517
    at = stream[k - 1][1]["ts"]  # ts of seq k
    async with PostgresSource(pg_dsn, sid[:13]) as src:
        r = Reducer()
        await src.load(r, until=at)
        assert src.last_seq == k
    assert _frame(r) == _frame(_fold([line for line, _ in stream[:k]]))


async def test_follow_sees_new_events_within_two_seconds(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    events = make_events(sid, 600)
    sink = PostgresSink(pg_dsn, session_id=sid, flush_interval_s=0.2, spool_dir=tmp_path)
    async with sink:
        for line, rec in events[:300]:
            sink.write(line, rec)
        await asyncio.sleep(0.5)
        async with PostgresSource(pg_dsn, sid, poll_s=1.0) as src:
            r = Reducer()
            await src.load(r)
            assert src.last_seq == 300
            follower = src.follow(r)
            for line, rec in events[300:450]:
                sink.write(line, rec)
            t0 = asyncio.get_running_loop().time()
            while src.last_seq < 450:
                await asyncio.wait_for(anext(follower), 2.0)
            assert asyncio.get_running_loop().time() - t0 < 2.0
            await follower.aclose()
        for line, rec in events[450:]:
            sink.write(line, rec)
    async with PostgresSource(pg_dsn, "latest") as src:
        r2 = Reducer()
        await src.load(r2)
        done = [x async for x in src.follow(r2, stop_when_ended=True)]
        assert done == [] and src.last_seq == 600


async def test_unknown_session_and_unreachable_server_are_clear_errors(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    from arbdash.logging_pipeline.postgres.migrations import upgrade

    await upgrade(conn)
    await conn.close()
    with pytest.raises(PostgresSourceError, match="no session matches"):
        async with PostgresSource(pg_dsn, "deadbeef"):
            pass
    with pytest.raises(PostgresSourceError) as err:
        async with PostgresSource("postgresql://u:topsecretpw@127.0.0.1:1/x", "latest"):
            pass
    assert "topsecretpw" not in str(err.value) and "cannot connect" in str(err.value)


async def test_replay_at_a_market_time_equals_the_jsonl(pg_dsn: str, tmp_path: Path) -> None:
    """``at`` on the market clock (a paper run's replayed history) gives the frame the JSONL gives at that
    market time; before the history starts nothing is folded."""
    import subprocess
    import sys
    from datetime import datetime, timedelta

    import orjson

    from arbdash.dashboard.sources.jsonl import load
    from arbdash.tools.pg_admin import import_jsonl

    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "arbdash.tools.runbot_cli",
            "--config",
            str(short_config_file(tmp_path)),
            "--speed",
            "0",
            "--dashboard-mode=silent",
            "--log-dir",
            str(tmp_path),
        ],
        check=True,
        cwd=root,
        capture_output=True,
        timeout=120,
    )
    (path,) = tmp_path.glob("*.jsonl")
    await import_jsonl(pg_dsn, path)
    lines = path.read_bytes().splitlines()
    sid = orjson.loads(lines[0])["session_id"]
    market = [datetime.fromisoformat(t) for x in lines if (t := orjson.loads(x).get("market_ts"))]
    for at in (market[len(market) // 3], market[-40]):
        want = Reducer()
        load(path, want, until=at, clock="market")
        async with PostgresSource(pg_dsn, sid) as src:
            got = Reducer()
            await src.load(got, until=at, clock="market")
        assert 0 < want.state.stats.applied < len(lines)
        assert _frame(got) == _frame(want)
    async with PostgresSource(pg_dsn, sid) as src:
        before = Reducer()
        assert await src.load(before, until=market[0] - timedelta(days=1), clock="market")
        assert before.stats.applied == 0 and src.last_seq == -1


@pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="tmux is not installed")
def test_following_a_db_session_in_a_terminal_has_the_keys_and_leaves_the_frame(
    pg_dsn: str,
    tmp_path: Path,
    pane_factory: object,  # the tmux pane fixture (tests/conftest.py)
) -> None:
    """``arbtail --db DSN --session ID --follow`` on a terminal: status bar, ``space`` freezes, ``q`` quits,
    the terminal is given back and the last frame stays on the normal screen."""
    import sys

    from pg_fixtures import make_events
    from support_terminal import assert_terminal_usable

    from arbdash.tools.pg_admin import import_jsonl

    sid = str(uuid.uuid4())
    path = tmp_path / f"{sid}.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line, _ in make_events(sid, 200, stop=False)))
    asyncio.run(import_jsonl(pg_dsn, path))
    arbtail = Path(sys.executable).with_name("arbtail")
    pane = pane_factory()  # type: ignore[operator]
    pane.keys(f"{arbtail} --db {pg_dsn} --session {sid} --follow", "Enter")

    def status() -> str:
        return next((ln for ln in pane.text().splitlines() if "q quit" in ln), "")

    pane.wait(lambda: status().split()[:1] == ["following"], "the status bar")
    assert sid in status()
    pane.keys("Space")
    pane.wait(lambda: status().split()[:1] == ["frozen"], "the frozen status")
    pane.keys("q")
    # the terminal given back, then the last frame printed on the normal screen (the flags change just before)
    pane.wait(
        lambda: pane.flags() == "1 0" and "portfolio" in pane.text(), "the last frame on the normal screen"
    )
    assert_terminal_usable(pane, expect_rc=0)
