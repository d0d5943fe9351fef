"""PostgreSQL snapshots come from the ``dashboard.checkpoint`` events the sink receives (issue 10 item 3, "no
back-calls"): the sink has no reducer and calls nothing of the dashboard; it files each checkpoint's state under
the seq of the last event that state folded, keeps the checkpoint as an event row, spaces snapshots by
``snapshot_interval_s`` of the checkpoints' own time and stores the newest at close; a replay from a snapshot
reaches the full replay's state, counters and log bytes included."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import orjson
import pytest
from pg_fixtures import TcpProxy, make_events, with_checkpoints

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.sources.postgres import PostgresSource
from arbdash.logging_pipeline.encoding import dumps
from arbdash.logging_pipeline.postgres import PostgresSink
from arbdash.logging_pipeline.postgres.rows import checkpoint_snapshot, row_from_event, unwrap_jsonb
from arbdash.tools.pg_admin import list_sessions

ROOT = Path(__file__).resolve().parent.parent


async def _snapshots(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT seq, generated_at, payload::text AS payload FROM dashboard_snapshots ORDER BY seq"
        )
    finally:
        await conn.close()


async def _write_all(sink: PostgresSink, stream: list[tuple[bytes, dict]]) -> None:
    async with sink:
        for line, rec in stream:
            sink.write(line, rec)


@pytest.mark.pg
async def test_the_sink_stores_each_checkpoints_state_without_a_reducer(pg_dsn: str, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    stream = with_checkpoints(make_events(sid, 1000), every=300)
    sink = PostgresSink(
        pg_dsn, session_id=sid, flush_interval_s=0.02, spool_dir=tmp_path, snapshot_interval_s=0
    )
    await _write_all(sink, stream)
    checkpoints = [rec for _, rec in stream if rec["event"] == "dashboard.checkpoint"]
    assert len(checkpoints) == 3 and sink.stats["snapshots"] == 3
    rows = await _snapshots(pg_dsn)
    # filed under the seq of the last event the state folded: the checkpoint's own seq - 1
    assert [r["seq"] for r in rows] == [cp["seq"] - 1 for cp in checkpoints]
    for row, cp in zip(rows, checkpoints, strict=True):
        state = unwrap_jsonb(row["payload"])
        assert orjson.dumps(state) == orjson.dumps(cp["state"]), "the state verbatim, key order included"
        assert row["generated_at"] == cp["ts"]
    lines = [line for line, _ in stream]
    assert sink.stats["written"] == len(lines), "the checkpoints are event rows too"
    full = Reducer()
    full.feed_lines(lines)
    async with PostgresSource(pg_dsn, sid) as src:
        resumed, fed = Reducer(), [0]
        await src.load(resumed, progress=lambda n, _total: fed.append(n))
    assert fed[-1] == len(lines) - rows[-1]["seq"], "started from the newest snapshot"
    assert resumed.state == full.state
    assert resumed.stats.fed_bytes == sum(len(x) + 1 for x in lines), "the log bytes a full replay counts"


@pytest.mark.pg
async def test_snapshots_are_spaced_on_the_checkpoints_clock_and_the_newest_is_stored_at_close(
    pg_dsn: str, tmp_path: Path
) -> None:
    sid = str(uuid.uuid4())
    # make_events spaces events 1 ms apart: a checkpoint every 100 events is one every 0.1 s of their ts
    stream = with_checkpoints(make_events(sid, 1000, stop=False), every=100)
    sink = PostgresSink(
        pg_dsn, session_id=sid, flush_interval_s=0.02, spool_dir=tmp_path, snapshot_interval_s=0.25
    )
    await _write_all(sink, stream)
    checkpoints = [rec for _, rec in stream if rec["event"] == "dashboard.checkpoint"]
    expected, last = [], None
    for cp in checkpoints:
        if last is None or cp["ts"] - last >= timedelta(seconds=0.25):
            expected.append(cp["seq"] - 1)
            last = cp["ts"]
    assert expected[-1] != checkpoints[-1]["seq"] - 1, "the newest one falls inside the interval"
    expected.append(checkpoints[-1]["seq"] - 1)  # ... and is stored at close
    assert [r["seq"] for r in await _snapshots(pg_dsn)] == expected
    assert sink.stats["snapshots"] == len(expected)


@pytest.mark.pg
async def test_checkpoints_that_waited_in_the_spool_become_snapshots(pg_dsn: str, tmp_path: Path) -> None:
    """PostgreSQL down at first: the checkpoints go to the spool with the other events, and their snapshots are
    stored when the spool is written — the same ones the live path stores."""
    sid = str(uuid.uuid4())
    stream = with_checkpoints(make_events(sid, 600), every=200)
    target = urlsplit(pg_dsn)
    async with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        proxy.drop()
        sink = PostgresSink(
            proxy.dsn(pg_dsn),
            session_id=sid,
            flush_interval_s=0.02,
            buffer_max_events=50,
            spool_dir=tmp_path,
            retry_max_s=0.1,
            connect_timeout_s=0.5,
            snapshot_interval_s=0,
        )
        async with sink:
            for line, rec in stream:
                sink.write(line, rec)
            while not sink.stats["spooled"]:
                await asyncio.sleep(0.02)
            proxy.restore()
    assert sink.stats["spooled"] > 0 and sink.stats["backlog"] == 0
    checkpoints = [rec for _, rec in stream if rec["event"] == "dashboard.checkpoint"]
    assert [r["seq"] for r in await _snapshots(pg_dsn)] == [cp["seq"] - 1 for cp in checkpoints]


@pytest.mark.pg
async def test_a_checkpoint_that_is_no_snapshot_of_this_session_is_kept_as_an_event_only(
    pg_dsn: str, tmp_path: Path
) -> None:
    sid = str(uuid.uuid4())
    stream = with_checkpoints(make_events(sid, 200), every=100)
    (i, cp) = next((k, rec) for k, (_, rec) in enumerate(stream) if rec["event"] == "dashboard.checkpoint")
    foreign = {**cp, "state": {**cp["state"], "last_seq": {str(uuid.uuid4()): cp["seq"] - 1}}}
    stream[i] = (dumps(foreign), foreign)
    sink = PostgresSink(
        pg_dsn, session_id=sid, flush_interval_s=0.02, spool_dir=tmp_path, snapshot_interval_s=0
    )
    await _write_all(sink, stream)
    assert await _snapshots(pg_dsn) == [] and sink.stats["snapshots"] == 0
    assert sink.stats["written"] == len(stream)
    assert "no snapshot of this session" in sink.last_problem


def test_which_checkpoints_carry_a_snapshot() -> None:
    """``rows.checkpoint_snapshot``: the state and the seq it folded up to, for this session's checkpoints only."""
    sid = str(uuid.uuid4())
    stream = with_checkpoints(make_events(sid, 20), every=10)
    line, rec = stream[10]
    assert rec["event"] == "dashboard.checkpoint" and rec["seq"] == 11
    assert checkpoint_snapshot(row_from_event(line, rec)) == (10, orjson.loads(line)["state"])

    def variant(**state: object) -> tuple[bytes, dict]:
        changed = {**rec, "state": {**rec["state"], **state}}
        return dumps(changed), changed

    for bad in (
        variant(last_seq={sid: 11}),  # not before the checkpoint's own seq
        variant(last_seq={sid: 10, str(uuid.uuid4()): 3}),  # another session folded in too
        variant(last_seq={}),
        variant(last_seq=None),
        variant(last_seq={sid: "10"}),
    ):
        assert checkpoint_snapshot(row_from_event(*bad)) is None
    no_state = {k: v for k, v in rec.items() if k != "state"}
    assert checkpoint_snapshot(row_from_event(dumps(no_state), no_state)) is None
    assert checkpoint_snapshot(row_from_event(*stream[3])) is None  # not a checkpoint


@pytest.mark.pg
def test_a_real_run_through_a_bare_sink_is_listed_with_the_reducers_net_pnl(
    pg_dsn: str, real_log: Path, tmp_path: Path
) -> None:
    """The lines of a real paper run (with its rollback, whose costs no ``position.closed`` carries) written by a
    sink that has no reducer: its checkpoint becomes the snapshot, and ``arbtail --db DSN sessions`` lists the
    reducer's net PnL, folded when listed from that snapshot plus the events after it."""
    lines = real_log.read_bytes().splitlines()
    records = [orjson.loads(x) for x in lines]
    sid = records[0]["session_id"]
    sink = PostgresSink(pg_dsn, session_id=sid, batch_size=2000, flush_interval_s=0.02, spool_dir=tmp_path)
    asyncio.run(_write_all(sink, list(zip(lines, records, strict=True))))
    reducer = Reducer()
    reducer.feed_lines(lines)
    expected = reducer.snapshot().portfolio.net_pnl
    booked = sum((Decimal(e["net_pnl"]) for e in records if e["event"] == "position.closed"), Decimal(0))
    assert expected != booked
    cps = [e for e in records if e["event"] == "dashboard.checkpoint"]
    assert cps, "a real run writes a checkpoint"
    # the first checkpoint, and the newest at close (a --speed 0 run lasts less than snapshot_interval_s)
    stored = sorted({cps[0]["seq"] - 1, cps[-1]["seq"] - 1})
    assert [r["seq"] for r in asyncio.run(_snapshots(pg_dsn))] == stored
    [s] = asyncio.run(list_sessions(pg_dsn))
    assert s.net_pnl == expected
    out = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.arbtail", "--db", pg_dsn, "sessions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    row = next(x for x in out.stdout.splitlines() if x.startswith(sid))
    assert str(expected.quantize(Decimal("0.01"))) in row.split()
