"""``arbtail serve`` (issue 12 part 3): the control API over a replay source — the snapshot equals ``arbtail
--once``'s fold, ``?at=T`` equals ``--at T``, a growing log is followed into ``/api/events`` and the snapshot, the
PostgreSQL fleet (``/api/sessions``, ``?session=``), the command line (URL, SIGINT, the token rule)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from typer.testing import CliRunner

from arbdash.control.app import ControlState, create_app
from arbdash.control.hub import StreamHub
from arbdash.control.metrics import ArbdashCollector, make_registry
from arbdash.control.replay import ReplayProvider
from arbdash.control.ring import RingSink
from arbdash.control.snapshots import SnapshotSource
from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.file_source import JsonlSource
from arbdash.tools.arbtail import app as arbtail_app
from arbdash.tools.arbtail_serve import build_provider, make_server

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def api(provider: ReplayProvider) -> AsyncIterator[httpx.AsyncClient]:
    """The replay app of ``provider`` in process (no socket); closes the provider after."""
    server = make_server(provider, token=None, sock=None)
    transport = httpx.ASGITransport(app=server.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client
    finally:
        provider.close_streams()
        await provider.aclose()


def folded(path: Path, **load: Any) -> Reducer:
    """What ``arbtail FILE --once`` (or ``--at``) folds: ``JsonlSource.load`` into a ``--timeline 20`` reducer."""

    async def run() -> Reducer:
        async with JsonlSource(path) as source:
            reducer = Reducer(timeline_size=20, session=source.session)
            await source.load(reducer, **load)
            return reducer

    return asyncio.run(run())


def snapshot_json(reducer: Reducer) -> Any:
    return orjson.loads(msgspec.json.encode(reducer.snapshot()))


def iso(t: Any) -> str:
    return t.isoformat().replace("+00:00", "Z")


# --- one file ---------------------------------------------------------------------------------------------------


def test_snapshot_and_at_equal_the_once_and_at_folds(real_log: Path) -> None:
    whole = folded(real_log)
    state = whole.state
    first, last = state.market_now, state.market_now
    lines = real_log.read_bytes().splitlines()
    first = msgspec.json.decode(lines[0])["market_ts"]
    assert first is not None and last is not None
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat(first)
    moments = [
        t0 + timedelta(days=3, hours=5, minutes=17),
        t0 + timedelta(days=40),
        last - timedelta(hours=1),
    ]
    expected_at = {t: snapshot_json(folded(real_log, until=t, clock="market", seek=False)) for t in moments}

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        provider = await build_provider(real_log, None, None, 0.05)
        async with api(provider) as client:
            out["info"] = (await client.get("/api/info")).json()
            out["snap"] = (await client.get("/api/snapshot")).json()
            for t in moments:
                r = await client.get("/api/snapshot", params={"at": iso(t)})
                assert r.status_code == 200, r.text
                out[iso(t)] = r.json()
            again = await client.get("/api/snapshot", params={"at": iso(moments[0])})  # from the cache
            assert again.json() == out[iso(moments[0])]
            out["after"] = (
                await client.get("/api/snapshot", params={"at": iso(last + timedelta(days=9))})
            ).json()
            out["before"] = await client.get("/api/snapshot", params={"at": "2020-01-01T00:00:00Z"})
            out["naive"] = await client.get("/api/snapshot", params={"at": "2026-03-01T00:00:00"})
            out["garbage"] = await client.get("/api/snapshot", params={"at": "yesterday"})
            out["events_at"] = await client.get("/api/events", params={"at": iso(moments[0])})
            out["sessions"] = await client.get("/api/sessions")
            out["command"] = await client.post("/api/commands", json={"command": "pause"})
            out["events"] = (await client.get("/api/events", params={"after_seq": 0, "limit": 5})).json()
            tail = out["snap"]["seq"] - 3
            out["tail"] = (await client.get("/api/events", params={"after_seq": tail})).json()
        return out

    out = asyncio.run(run())
    snap = out["snap"]
    assert snap["session_id"] == whole.session
    assert snap["snapshot"] == snapshot_json(whole)
    info = out["info"]
    assert info["mode"] == "replay" and info["commands"] is False and info["fleet"] is False
    assert info["history"]["clock"] == "market"
    assert info["history"]["first"] == t0.isoformat() and info["history"]["last"] == last.isoformat()
    for t in moments:
        body = out[iso(t)]
        assert body["snapshot"] == expected_at[t], t
        assert body["at"] == t.isoformat() and body["end"] is False
    assert out["after"]["snapshot"] == snapshot_json(whole) and out["after"]["end"] is True
    before = out["before"]
    assert before.status_code == 404 and before.json()["error"] == "no_event_at"
    assert "no event at or before 2020-01-01" in before.json()["message"]
    for name in ("naive", "garbage", "events_at"):
        assert out[name].status_code == 400, name
        assert out[name].json()["status"] == 400
    assert out["sessions"].status_code == 404
    assert out["command"].status_code == 403  # read-only: nothing to command
    assert [e["seq"] for e in out["events"]["events"]] == [1, 2, 3, 4, 5]
    assert [e["seq"] for e in out["tail"]["events"]] == [snap["seq"] - 2, snap["seq"] - 1, snap["seq"]]

    # ``arbtail FILE --at T --once``'s frame is the frame of the API's ``?at=T`` snapshot
    t = moments[0]
    res = CliRunner().invoke(arbtail_app, [str(real_log), "--at", iso(t), "--once", "--width", "120"])
    assert res.exit_code == 0, res.output
    model = msgspec.json.decode(orjson.dumps(out[iso(t)]["snapshot"]), type=DashboardSnapshot)
    assert frame_text(model, 120) in res.stdout


def test_a_growing_log_is_followed_into_events_and_the_snapshot(real_log: Path, tmp_path: Path) -> None:
    lines = real_log.read_bytes().splitlines(keepends=True)
    cut = len(lines) // 2
    grow = tmp_path / "grow.jsonl"
    grow.write_bytes(b"".join(lines[:cut]))
    whole = snapshot_json(folded(real_log))
    last_seq = orjson.loads(lines[-1])["seq"]

    sources: list[str] = []

    async def run() -> tuple[Any, Any, Any, list[int]]:
        provider = await build_provider(grow, None, None, 0.05)
        async with api(provider) as client:
            first = (await client.get("/api/snapshot")).json()
            with grow.open("ab") as fh:  # the bot goes on writing: the second half, in a few appends
                step = (len(lines) - cut) // 3 + 1
                for i in range(cut, len(lines), step):
                    fh.write(b"".join(lines[i : i + step]))
                    fh.flush()
                    await asyncio.sleep(0.05)
            deadline = time.monotonic() + 20
            snap = first
            while snap["seq"] < last_seq and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                snap = (await client.get("/api/snapshot")).json()
            new = (await client.get("/api/events", params={"after_seq": first["seq"], "limit": 50})).json()
            seqs: list[int] = []
            after = last_seq - 2500  # the newest events: in the ring (the last 8192)
            while True:
                page = (await client.get("/api/events", params={"after_seq": after, "limit": 1000})).json()
                seqs += [e["seq"] for e in page["events"]]
                sources.append(page["source"])
                if not page["more"]:
                    break
                after = page["next_after_seq"]
        return first, snap, new, seqs

    first, snap, new, seqs = asyncio.run(run())
    assert first["seq"] < last_seq
    assert snap["seq"] == last_seq
    assert snap["snapshot"] == whole
    assert [e["seq"] for e in new["events"]] == list(range(first["seq"] + 1, first["seq"] + 51))
    assert new["source"] == "history"  # over 8192 events ago: read back from the file
    assert sources[-1] == "ring"
    assert seqs == list(range(last_seq - 2499, last_seq + 1))


def test_live_mode_refuses_at_and_session() -> None:
    reducer = Reducer()
    snapshots = SnapshotSource(reducer)
    ring = RingSink(16)
    hub = StreamHub(ring, snapshots.current, None)
    state = ControlState(snapshots, hub, make_registry(ArbdashCollector(snapshots, ring=ring, hub=hub)))
    app = create_app(state, token=None)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return [
                await client.get("/api/snapshot", params={"at": "2026-03-01T00:00:00Z"}),
                await client.get("/api/events", params={"session": "x"}),
                await client.get("/api/sessions"),
                await client.get("/api/info"),
            ]

    at, session, sessions, info = asyncio.run(run())
    assert at.status_code == 400 and at.json()["error"] == "not_replay"
    assert session.status_code == 400
    assert sessions.status_code == 404
    assert info.json()["fleet"] is False and "history" not in info.json()


# --- the PostgreSQL fleet -----------------------------------------------------------------------------------------


def _small_session(path: Path) -> None:
    """A short session built event by event: one BTC position opened and held (open at the end)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from events_builder import Events, round_trip

    opening, _closing = round_trip(Events())
    path.write_bytes(b"".join(orjson.dumps(ev) + b"\n" for ev in opening))


def test_fleet_lists_every_session_and_serves_each(pg_dsn: str, real_log: Path, tmp_path: Path) -> None:
    from arbdash.tools.pg_admin import import_jsonl, list_sessions

    small = tmp_path / "small.jsonl"
    _small_session(small)

    async def load() -> list[Any]:
        await import_jsonl(pg_dsn, real_log)
        await import_jsonl(pg_dsn, small)
        return await list_sessions(pg_dsn)

    summaries = asyncio.run(load())
    assert len(summaries) == 2
    real_id = orjson.loads(real_log.read_bytes().split(b"\n", 1)[0])["session_id"]
    small_id = orjson.loads(small.read_bytes().split(b"\n", 1)[0])["session_id"]

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        provider = await build_provider(None, pg_dsn, None, 0.1)
        provider.max_followed = 1
        async with api(provider) as client:
            out["info"] = (await client.get("/api/info")).json()
            out["info_one"] = (await client.get("/api/info", params={"session": real_id[:12]})).json()
            out["info_unknown"] = await client.get("/api/info", params={"session": "00000000-dead-beef"})
            out["sessions"] = (await client.get("/api/sessions")).json()
            out["metrics"] = await client.get("/metrics")
            out["no_session"] = await client.get("/api/snapshot")
            out["unknown"] = await client.get("/api/snapshot", params={"session": "00000000-dead-beef"})
            out["small"] = (await client.get("/api/snapshot", params={"session": small_id})).json()
            out["real"] = (await client.get("/api/snapshot", params={"session": real_id[:12]})).json()
            out["followed"] = provider.followed
            out["real_events"] = (
                await client.get("/api/events", params={"session": real_id, "after_seq": 0, "limit": 3})
            ).json()
            out["real_at"] = (
                await client.get("/api/snapshot", params={"session": real_id, "at": "2026-03-10T00:00:00Z"})
            ).json()
        return out

    out = asyncio.run(run())
    assert out["info"]["fleet"] is True and out["info"]["history"] is None
    # one session of the fleet: its own span, for the page's time slider
    one = out["info_one"]
    assert one["fleet"] is True and one["session_id"] == real_id
    assert (
        one["history"]["first"]
        and one["history"]["last"]
        and one["history"]["first"] < one["history"]["last"]
    )
    assert out["info_unknown"].status_code == 404
    rows = {r["session_id"]: r for r in out["sessions"]["sessions"]}
    assert set(rows) == {real_id, small_id}
    res = CliRunner().invoke(arbtail_app, ["--db", pg_dsn, "sessions"])
    assert res.exit_code == 0, res.output
    for s in summaries:
        row = rows[str(s.session_id)]
        assert row["open_positions"] == s.positions_opened - s.positions_closed
        assert Decimal(row["net_pnl"]) == s.net_pnl
        assert row["events"] == s.last_seq and row["health"] == s.health
        assert row["strategy"] == s.strategy
        # the host the bot wrote in session.started (the real run's machine; the built session has none)
        assert row["host"] == (socket.gethostname() if row["session_id"] == real_id else None)
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith(str(s.session_id)))
        assert str(Decimal(row["net_pnl"]).quantize(Decimal("0.01"))) in line.split()
    assert rows[small_id]["open_positions"] == 1
    # /metrics of the fleet: a sample per session of the database, none made up for a session not chosen
    from prometheus_client.parser import text_string_to_metric_families

    assert out["metrics"].status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(out["metrics"].text)}
    assert "arbdash_pnl_net_usd" not in families and "arbdash_positions_open" not in families
    (listed,) = families["arbdash_fleet_sessions"].samples
    assert listed.value == 2

    def per_session(name: str) -> dict[str, float]:
        return {x.labels["session_id"]: x.value for x in families[name].samples}

    health = {
        x.labels["session_id"]: x.labels["state"]
        for x in families["arbdash_fleet_session_health"].samples
        if x.value == 1
    }
    for s in summaries:
        sid = str(s.session_id)
        assert per_session("arbdash_fleet_session_pnl_net_usd")[sid] == float(s.net_pnl)
        assert per_session("arbdash_fleet_session_positions_open")[sid] == rows[sid]["open_positions"]
        assert per_session("arbdash_fleet_session_events")[sid] == s.last_seq
        assert per_session("arbdash_fleet_session_last_event_timestamp_seconds")[sid] == (
            s.last_event_at.timestamp()
        )
        assert health[sid] == s.health
    assert out["no_session"].status_code == 400
    assert out["unknown"].status_code == 404 and out["unknown"].json()["error"] == "unknown_session"
    assert out["small"]["session_id"] == small_id
    assert out["small"]["snapshot"]["portfolio"]["positions_open"] == 1
    small_row = rows[small_id]
    assert Decimal(out["small"]["snapshot"]["portfolio"]["net_pnl"]) == Decimal(small_row["net_pnl"])
    assert out["real"]["session_id"] == real_id
    assert out["real"]["snapshot"] == snapshot_json(folded(real_log))
    assert out["followed"] == [real_id]  # at most one followed: the small session was closed
    assert [e["seq"] for e in out["real_events"]["events"]] == [1, 2, 3]
    from datetime import datetime

    expected = folded(real_log, until=datetime.fromisoformat("2026-03-10T00:00:00+00:00"), clock="market")
    assert out["real_at"]["snapshot"] == snapshot_json(expected)


# --- the command line ---------------------------------------------------------------------------------------------


def test_cli_prints_its_url_answers_and_stops_on_sigint(real_log: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARBDASH_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbdash.tools.arbtail", "serve", str(real_log), "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.fullmatch(r"arbtail serve: (http://127\.0\.0\.1:\d+) \(Ctrl-C stops\)\n", line)
        assert m, line
        url = m.group(1)
        assert httpx.get(url + "/healthz").json() == {"status": "ok"}
        snap = httpx.get(url + "/api/snapshot").json()
        assert snap["session_id"] == orjson.loads(real_log.read_bytes().split(b"\n", 1)[0])["session_id"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refusals_are_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBDASH_TOKEN", raising=False)
    runner = CliRunner()
    res = runner.invoke(arbtail_app, ["serve", str(tmp_path / "s.jsonl"), "--host", "0.0.0.0"])
    assert res.exit_code == 2
    assert "not a loopback address" in res.stderr and "ARBDASH_TOKEN" in res.stderr
    monkeypatch.setenv("SHORT_TOKEN", "secret-123")
    res = runner.invoke(
        arbtail_app, ["serve", str(tmp_path / "s.jsonl"), "--host", "0.0.0.0", "--token-env", "SHORT_TOKEN"]
    )
    assert res.exit_code == 2 and "at least 16 characters" in res.stderr
    assert "secret-123" not in res.output
    res = runner.invoke(arbtail_app, ["serve", str(tmp_path / "missing.jsonl"), "--port", "0"])
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "missing.jsonl" in res.stderr
    res = runner.invoke(arbtail_app, ["serve"])
    assert res.exit_code == 2


# --- the web page over arbtail serve (control/static, a real browser) ---------------------------------------------


@asynccontextmanager
async def listening(provider: ReplayProvider) -> AsyncIterator[str]:
    """``provider`` served on a real loopback socket (as ``arbtail serve`` does); yields the base URL."""
    from arbdash.control.server import bind_socket

    server = make_server(provider, token=None, sock=bind_socket("127.0.0.1", 0))
    url = await server.start()
    try:
        yield url
    finally:
        provider.close_streams()
        await server.stop()
        await provider.aclose()


def test_page_time_slider_and_fleet_table(real_log: Path, pg_dsn: str, tmp_path: Path) -> None:
    from support_browser import browser_page, require_browser

    from arbdash.tools.pg_admin import import_jsonl

    require_browser()
    small = tmp_path / "small.jsonl"
    _small_session(small)

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        provider = await build_provider(real_log, None, None, 0.05)
        async with listening(provider) as url, browser_page() as page:
            await page.goto(url + "/")
            await page.wait_for_selector("#replay:not(.hidden)")
            await page.wait_for_selector("#seq[data-seq]")
            out["live_seq"] = int(await page.get_attribute("#seq", "data-seq") or 0)
            out["max"] = int(await page.get_attribute("#slider", "max") or 0)
            async with page.expect_response(lambda r: "/api/snapshot?at=" in r.url) as answer:
                await page.eval_on_selector(
                    "#slider",
                    "el => { el.value = String(86400 * 10); el.dispatchEvent(new Event('input')); }",
                )
            resp = await answer.value
            out["at_url"], out["at_body"] = resp.url, await resp.json()
            await page.wait_for_function(
                "want => document.querySelector('#seq').dataset.seq === String(want)",
                arg=out["at_body"]["seq"],
            )
            out["problems"] = list(page.problems)
        await import_jsonl(pg_dsn, real_log)
        await import_jsonl(pg_dsn, small)
        fleet = await build_provider(None, pg_dsn, None, 0.1)
        async with listening(fleet) as url, browser_page() as page:
            requested: list[str] = []
            page.on("request", lambda req: requested.append(req.url))
            await page.goto(url + "/")
            await page.wait_for_selector("#fleet:not(.hidden) table")
            out["fleet_text"] = await page.inner_text("#fleet-body")
            await page.wait_for_timeout(1500)  # time for a stream / snapshot poll to be (wrongly) opened
            out["fleet_requests"] = list(requested)
            out["fleet_conn"] = await page.inner_text("#conn")
            out["fleet_conn_class"] = await page.get_attribute("#conn", "class") or ""
            out["fleet_problems"] = list(page.problems)
        return out

    out = asyncio.run(run())
    whole = folded(real_log)
    first = msgspec.json.decode(real_log.read_bytes().split(b"\n", 1)[0])["market_ts"]
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat(first)
    assert out["live_seq"] == orjson.loads(real_log.read_bytes().splitlines()[-1])["seq"]
    assert out["max"] == int((whole.state.market_now - t0).total_seconds())
    want_at = t0 + timedelta(days=10)
    assert out["at_body"]["at"] == want_at.isoformat()
    assert out["at_body"]["snapshot"] == snapshot_json(folded(real_log, until=want_at, clock="market"))
    assert out["problems"] == []
    real_id = orjson.loads(real_log.read_bytes().split(b"\n", 1)[0])["session_id"]
    small_id = orjson.loads(small.read_bytes().split(b"\n", 1)[0])["session_id"]
    assert real_id[:8] in out["fleet_text"] and small_id[:8] in out["fleet_text"]
    # the fleet landing page (no ?session=) neither follows a stream nor polls a snapshot (both need a
    # session: 400 session_required) and its badge is neutral, not an endless "reconnecting"
    assert not [u for u in out["fleet_requests"] if "/api/stream" in u or "/api/snapshot" in u]
    assert any("/api/sessions" in u for u in out["fleet_requests"])
    assert out["fleet_conn"] != "reconnecting" and "pick a session" in out["fleet_conn"]
    assert "conn-off" not in out["fleet_conn_class"]
    assert out["fleet_problems"] == []
