"""Edges of time travel and of stored state, found in review (each failed before its fix): a checkpoint line
stamped later than its state on the market clock, database snapshots in another state form, logs and sessions
without market times, events stored verbatim because of a NUL, and checkpoint values the fold would refuse."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.jsonl import load
from arbdash.dashboard.state import state_to_dict


def _definition(lines: list[bytes], until: datetime) -> Reducer:
    """feed lines one by one until the first event whose market_ts is later than ``until``."""
    r = Reducer()
    for raw in lines:
        t = orjson.loads(raw).get("market_ts")
        if t is not None and datetime.fromisoformat(t) > until:
            break
        r.feed_line(raw)
    return r


# --- a checkpoint line later than T on the market clock is not folded ------------------------------------


def test_checkpoint_line_later_than_until_on_market_clock_is_not_folded(
    real_log: Path, tmp_path: Path
) -> None:
    """The bot stamps a checkpoint with the market clock *at emission*; the clock may already be past the last
    folded event (state.market_now). For T in [market_now, checkpoint market_ts) a full replay stops AT the
    checkpoint line, but the seek path picks it (market_now <= T) and then feeds ``cp.line`` unconditionally."""
    lines = real_log.read_bytes().splitlines()
    j = max(k for k, x in enumerate(lines) if b'"dashboard.checkpoint"' in x)
    cp = orjson.loads(lines[j])
    market_now = datetime.fromisoformat(cp["state"]["market_now"])
    cp["market_ts"] = (market_now + timedelta(minutes=30)).isoformat()  # the clock ticked before the drain
    log = tmp_path / "cp-ahead.jsonl"
    log.write_bytes(b"\n".join([*lines[:j], orjson.dumps(cp), *lines[j + 1 :]]) + b"\n")
    at = market_now
    want = _definition(log.read_bytes().splitlines(), at)
    full = Reducer()
    load(log, full, until=at, clock="market", seek=False)
    assert state_to_dict(full.state) == state_to_dict(want.state)  # the full replay is right
    seek = Reducer()
    res = load(log, seek, until=at, clock="market", seek_min_bytes=0)
    assert res.checkpoint_seq == cp["seq"]
    assert seek.state.market_now == want.state.market_now, "market now moved past --at"
    assert state_to_dict(seek.state) == state_to_dict(want.state)
    assert frame_text(seek.snapshot(), 120) == frame_text(want.snapshot(), 120)


# --- a stored snapshot that does not decode: the DB replay starts from the first event -------------------


@pytest.mark.pg
async def test_db_snapshot_in_previous_state_form_does_not_fold_tail_onto_empty_state(
    pg_dsn: str, tmp_path: Path
) -> None:
    """Snapshots stored in PostgreSQL by the previous version hold ``rates[..].rate`` (not ``rate_text``).
    ``load_checkpoint`` refuses them (bad_checkpoint) but ``PostgresSource.load`` still sets ``after`` to the
    snapshot's seq, so only the events after it are folded, onto an empty state (the JSONL seek path was fixed
    for exactly this in 2840b6e; ``tools/pg_admin.session_net_pnl`` checks the return value)."""
    import asyncpg
    from pg_fixtures import make_events
    from pg_fixtures import record_session as _record

    from arbdash.dashboard.sources.postgres import PostgresSource
    from arbdash.logging_pipeline.postgres.rows import unwrap_jsonb, wrap_json_text

    sid = str(uuid.uuid4())
    events = make_events(sid, 1500)
    sink = await _record(pg_dsn, sid, events, tmp_path)
    assert sink.stats["snapshots"] >= 1
    conn = await asyncpg.connect(pg_dsn)
    try:
        for row in await conn.fetch("SELECT seq, payload::text AS p FROM dashboard_snapshots"):
            state = unwrap_jsonb(row["p"])
            for by_symbol in state["rates"].values():
                for r in by_symbol.values():
                    r["rate"] = r.pop("rate_text")  # the form written before 276fed9
            await conn.execute(
                "UPDATE dashboard_snapshots SET payload = $1::jsonb WHERE seq = $2",
                wrap_json_text(orjson.dumps(state).decode()),
                row["seq"],
            )
    finally:
        await conn.close()
    async with PostgresSource(pg_dsn, sid) as src:
        got = Reducer()
        await src.load(got)
        full = Reducer()
        await src.load(full, seek=False)
    assert frame_text(got.snapshot(), 140) == frame_text(full.snapshot(), 140)


# --- no market times: export and the DB view fall back to the wall clock, as the file view does ----------


def _wall_log(tmp_path: Path, n: int = 300) -> tuple[Path, list[bytes], str]:
    from pg_fixtures import make_events

    sid = str(uuid.uuid4())
    lines = [line for line, _ in make_events(sid, n)]
    assert not any(b'"market_ts"' in x for x in lines)
    path = tmp_path / f"{sid}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines, sid


def test_export_at_on_a_log_without_market_ts_falls_back_like_show(tmp_path: Path) -> None:
    """``arbtail FILE --at T`` falls back to the wall clock (with a notice) for a log without market_ts, but
    ``arbtail export FILE --at T`` (default --clock market) never stops and exports the END of the log."""
    from typer.testing import CliRunner

    from arbdash.dashboard.sources.file_source import JsonlSource
    from arbdash.tools.arbtail import app
    from arbdash.tools.arbtail_export import export_frame

    path, lines, _ = _wall_log(tmp_path)
    at = orjson.loads(lines[150])["ts"]
    want = tmp_path / "want.svg"
    asyncio.run(
        export_frame(JsonlSource(path), svg=want, html=None, at=datetime.fromisoformat(at), clock="wall")
    )
    got = tmp_path / "got.svg"
    out = CliRunner().invoke(app, ["export", str(path), "--svg", str(got), "--at", at])
    assert out.exit_code == 0, out.output
    assert got.read_text() == want.read_text()


@pytest.mark.pg
def test_db_at_on_a_session_without_market_ts_is_not_the_end_frame(pg_dsn: str, tmp_path: Path) -> None:
    """Same for ``arbtail --db DSN --session ID --at T --once``: no fallback, no notice, the end-of-session
    frame is printed as if it were the state at T."""
    import asyncio

    from typer.testing import CliRunner

    from arbdash.tools.arbtail import app
    from arbdash.tools.pg_admin import import_jsonl

    path, lines, sid = _wall_log(tmp_path)
    asyncio.run(import_jsonl(pg_dsn, path))
    at = orjson.loads(lines[150])["ts"]
    want = Reducer()
    for raw in lines[:151]:
        want.feed_line(raw)
    out = CliRunner().invoke(app, ["--db", pg_dsn, "--session", sid, "--at", at, "--once", "--width", "120"])
    assert out.exit_code == 0, out.output
    assert "STOPPED" not in out.stdout, "the frame of the session's end (session.stopped folded), not at --at"
    assert frame_text(want.snapshot(), 120).strip() in out.stdout


# --- the DB market-clock scan reads events stored verbatim (a NUL escape) ---------------------------------


@pytest.mark.pg
async def test_db_market_clock_stops_at_an_event_with_a_nul_escape(pg_dsn: str, tmp_path: Path) -> None:
    """``_first_seq_later`` reads ``payload ? 'market_ts'`` / ``payload->>'market_ts'``; an event containing a
    NUL escape is stored wrapped as ``{"_arbdash_raw": "..."}``, so its market_ts is invisible and the DB replay
    folds it although the JSONL replay (the reference) stops there."""
    from arbdash.dashboard.sources.postgres import PostgresSource
    from arbdash.logging_pipeline.encoding import dumps
    from arbdash.tools.pg_admin import import_jsonl

    sid = str(uuid.uuid4())
    t0 = datetime.fromisoformat("2026-11-29T10:00:00+00:00")
    m0 = datetime.fromisoformat("2026-03-01T00:00:00+00:00")
    env = {"v": 1, "session_id": sid, "level": "info", "logger": "t"}
    recs = [
        {
            **env,
            "seq": 1,
            "ts": t0,
            "market_ts": m0,
            "event": "session.started",
            "category": "stage",
            "message": "started",
            "strategy": "s",
            "strategy_version": "1",
            "venues": ["binance"],
            "symbols": ["BTC"],
            "max_positions": 1,
            "max_total_exposure_usd": "1000",
        }
    ]
    for seq in range(2, 40):
        hour = seq // 10
        rec = {
            **env,
            "seq": seq,
            "ts": t0 + timedelta(milliseconds=seq),
            "market_ts": m0 + timedelta(hours=hour),
        }
        if seq == 20:  # first event of market hour 2: a log line with a NUL in it
            rec |= {"event": "log.message", "category": "info", "message": "venue said \x00 odd"}
        else:
            rec |= {
                "event": "market.mark_price",
                "category": "market",
                "message": "",
                "venue": "binance",
                "symbol": "BTC",
                "mark_price": str(100 + seq),
            }
        recs.append(rec)
    path = tmp_path / f"{sid}.jsonl"
    path.write_bytes(b"".join(dumps(r) + b"\n" for r in recs))
    await import_jsonl(pg_dsn, path)
    at = m0 + timedelta(hours=1)
    want = Reducer()
    load(path, want, until=at, clock="market")
    async with PostgresSource(pg_dsn, sid) as src:
        got = Reducer()
        await src.load(got, until=at, clock="market")
    assert got.state.last_seq == want.state.last_seq == {sid: 19}
    assert frame_text(got.snapshot(), 120) == frame_text(want.snapshot(), 120)


# --- checkpoint values are re-validated as the fold validates them ---------------------------------------


def test_checkpoint_with_a_mark_the_fold_would_reject_is_refused(real_log: Path) -> None:
    """``on_mark`` only keeps marks that are positive (and adjusted() <= 60); ``state_from_dict`` accepts
    "0" / "-1" for a mark, so ``checkpoint_usable`` and ``load_checkpoint`` take such a checkpoint and the next
    ``snapshot()`` raises ValueError (arbtail dies with a traceback instead of replaying in full)."""
    lines = real_log.read_bytes().splitlines()
    r = Reducer()
    for k in range(1000, len(lines), 1000):
        r = Reducer()
        r.feed_lines(lines[:k])
        if r.state.positions:
            break
    assert r.state.positions
    data = state_to_dict(r.state)
    for by_symbol in data["marks"].values():
        for symbol in by_symbol:
            by_symbol[symbol] = "0"
    fresh = Reducer()
    loaded = fresh.load_checkpoint(orjson.loads(orjson.dumps(data)))
    if loaded:
        fresh.snapshot()  # must not raise if the state was accepted
    assert not loaded, "a mark of 0 is not a state the fold can produce"
