"""Operator commands (``control.commands``): parsing, the desk's idempotency and audit trail, and commands end to
end over ``POST /api/commands`` in a real paper run — pause / resume, close a position (``OPERATOR_CLOSE``,
reconciled), a repeated id applied once, flatten all, refusals with their events, and a command while the bot
stops."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from test_control_run import _run, with_token

import arbdash.bot.strategies.funding_arbitrage.strategy as strategy_module
from arbdash.bot.clock import SimClock
from arbdash.control.app import ControlState, create_app
from arbdash.control.commands import (
    ClosePosition,
    CommandDesk,
    CommandError,
    Outcome,
    PauseEntries,
    SetLimit,
    http_status,
    parse_command,
)
from arbdash.control.hub import StreamHub
from arbdash.control.metrics import make_registry
from arbdash.control.ring import RingSink
from arbdash.control.snapshots import SnapshotSource
from arbdash.dashboard.reducer import Reducer
from arbdash.logging_pipeline.events import Event

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}


# --- parsing ------------------------------------------------------------------------------------------------


def test_parse_command_reads_each_command_and_refuses_what_is_not_one() -> None:
    cmd = parse_command(b'{"id": "a-1", "command": "close_position", "position_id": "P0001-BTC"}')
    assert cmd == ClosePosition(id="a-1", position_id="P0001-BTC")
    limit = parse_command(
        b'{"id":"x","command":"set_limit","limit":"max_total_exposure_usd","value":"2500.5"}'
    )
    assert isinstance(limit, SetLimit) and limit.value == Decimal("2500.5")
    cases = {
        b"{not json": "bad_json",
        b'{"id": "a", "command": "sell_everything"}': "unknown_command",
        b'{"id": "a", "command": "close_position"}': "bad_command",  # no position_id
        b'{"id": "a b", "command": "pause_entries"}': "bad_command",  # id with a space
        b'{"id": "' + b"x" * 65 + b'", "command": "pause_entries"}': "bad_command",
        b'{"command": "pause_entries"}': "bad_command",  # no id
        b'{"id": "a", "command": "pause_entries", "extra": 1}': "bad_command",
        b'{"id": "a", "command": "set_limit", "limit": "leverage", "value": "3"}': "bad_command",
        b"[1, 2]": "bad_command",
    }
    for body, code in cases.items():
        with pytest.raises(CommandError) as err:
            parse_command(body)
        assert err.value.code == code, body


# --- the desk -------------------------------------------------------------------------------------------------


class _Target:
    def __init__(self) -> None:
        self.ran: list[Any] = []

    async def execute(self, command: Any, now: datetime) -> Outcome:
        self.ran.append(command)
        if isinstance(command, ClosePosition) and command.position_id == "boom":
            raise RuntimeError("venue said no")
        return Outcome("executed", "done", entries_paused=isinstance(command, PauseEntries) or None)


def _desk() -> tuple[CommandDesk, list[tuple[str, Event]]]:
    events: list[tuple[str, Event]] = []

    def emit(event: Event, message: str, level: str) -> None:
        events.append((type(event).__struct_config__.tag, event))  # type: ignore[arg-type]

    return CommandDesk(emit=emit), events


NOW = datetime.fromisoformat("2026-03-01T00:00:00+00:00")


def test_a_repeated_id_runs_once_and_a_reused_id_is_refused() -> None:
    async def main() -> None:
        desk, events = _desk()
        target = _Target()
        first = desk.submit(PauseEntries(id="p1"), source="http")
        again = desk.submit(PauseEntries(id="p1"), source="terminal")  # a retry before it ran
        assert desk.pending == 1 and again.duplicate
        assert await desk.run_pending(target, NOW) == 1
        assert (await first.wait(1)).outcome.status == "executed"
        assert (await again.wait(1)).duplicate
        later = desk.submit(PauseEntries(id="p1"), source="http")  # a retry after it ran
        assert later.duplicate and (await later.wait(0)).outcome.status == "executed"
        assert await desk.run_pending(target, NOW) == 0
        reused = await desk.submit(ClosePosition(id="p1", position_id="P1"), source="http").wait(0)
        assert reused.outcome.reason == "ID_REUSED" and http_status(reused) == 409
        assert len(target.ran) == 1
        assert [name for name, _ in events] == [
            "command.received",
            "command.executed",
            "command.received",
            "command.rejected",
        ]

    asyncio.run(main())


def test_a_failing_command_is_an_outcome_and_stopping_refuses_the_rest() -> None:
    async def main() -> None:
        desk, events = _desk()
        boom = desk.submit(ClosePosition(id="c1", position_id="boom"), source="http")
        queued = desk.submit(PauseEntries(id="c2"), source="http")
        await desk.run_pending(_Target(), NOW)
        answer = await boom.wait(1)
        assert answer.outcome.reason == "FAILED" and "venue said no" in answer.outcome.message
        assert (await queued.wait(1)).outcome.status == "executed"
        never = desk.submit(PauseEntries(id="c3"), source="http")
        desk.close()
        assert (await never.wait(1)).outcome.reason == "STOPPING"
        late = await desk.submit(PauseEntries(id="c4"), source="http").wait(1)
        assert late.outcome.reason == "STOPPING" and http_status(late) == 503
        tags = Counter(name for name, _ in events)
        assert tags == {"command.received": 4, "command.executed": 1, "command.rejected": 3}

    asyncio.run(main())


def test_the_desk_forgets_old_ids_but_never_a_queued_command() -> None:
    async def main() -> None:
        desk, _ = _desk()
        desk.max_remembered = 3
        tickets = [desk.submit(PauseEntries(id=f"q{i}"), source="http") for i in range(5)]
        assert desk.pending == 5  # all kept: none has run
        await desk.run_pending(_Target(), NOW)
        assert all(t.future.done() for t in tickets)
        desk.submit(PauseEntries(id="q9"), source="http")
        assert desk.status("q0") is None and desk.status("q9") is not None

    asyncio.run(main())


def test_the_clock_runs_commands_while_it_sleeps_and_keeps_its_pace() -> None:
    async def main() -> None:
        clock = SimClock(NOW, Decimal(3600 * 10))  # one market hour = 0.1 s
        woken: list[datetime] = []
        wake = asyncio.Event()

        async def on_wake() -> None:
            woken.append(clock.now())

        loop = asyncio.get_running_loop()
        loop.call_later(0.03, wake.set)
        started = loop.time()
        await clock.advance_to(NOW.replace(hour=1), wake=wake, on_wake=on_wake)
        assert woken == [NOW]  # ran at the market time of the wait, at once
        assert loop.time() - started >= 0.09  # and the hour still took its wall time
        assert clock.now() == NOW.replace(hour=1)

    asyncio.run(main())


# --- the endpoint, without a bot ------------------------------------------------------------------------------


def _app(*, token: str | None, desk: Any, mode: str = "live") -> Any:
    reducer = Reducer()
    snapshots = SnapshotSource(reducer)
    hub = StreamHub(RingSink(), snapshots.current, None)
    state = ControlState(snapshots, hub, make_registry(None), mode=mode, token_required=token is not None)
    state.commands = desk
    return create_app(state, token=token)


async def _post(app: Any, body: bytes, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.post("/api/commands", content=body, headers=headers)


def test_the_endpoint_refuses_without_the_right_token_and_bad_bodies_log_nothing() -> None:
    async def main() -> None:
        desk, events = _desk()
        json = {"content-type": "application/json"}
        ok = b'{"id": "e1", "command": "pause_entries"}'
        app = _app(token=TOKEN, desk=desk)
        assert (await _post(app, ok, json)).status_code == 401
        assert (
            await _post(app, ok, {**json, "authorization": "Bearer wrong-token-0123456789"})
        ).status_code == 401
        bad = await _post(app, b'{"id": "e1", "command": "nuke"}', {**json, **AUTH})
        assert bad.status_code == 400 and bad.json()["error"] == "unknown_command"
        assert (await _post(app, ok, {**AUTH, "content-type": "text/plain"})).status_code == 415
        big = await _post(
            app, b'{"id": "e1", "command": "pause_entries", "x": "' + b"y" * 20000 + b'"}', {**json, **AUTH}
        )
        assert big.status_code == 413
        assert events == []  # nothing understood, nothing logged
        # no token configured: every command refused, even from this machine
        closed = await _post(_app(token=None, desk=None), ok, json)
        assert closed.status_code == 403 and "token" in closed.json()["message"]
        replay = await _post(_app(token=None, desk=None, mode="replay"), ok, json)
        assert replay.status_code == 403 and "read-only" in replay.json()["message"]

    asyncio.run(main())


# --- end to end in a paper run ------------------------------------------------------------------------------


def _tokened(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``_opts`` of ``test_control_run`` gets the token (commands are refused without one)."""
    import test_control_run

    real = test_control_run._opts
    monkeypatch.setattr(test_control_run, "_opts", lambda tmp_path: with_token(real(tmp_path), TOKEN))


class _Gate:
    """Holds the market clock when ``when(strategy)`` is true, until ``release``: the test acts on a state that
    cannot move under it (the bot's loop keeps serving meanwhile)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.when: Callable[[Any], bool] | None = None
        self.open = asyncio.Event()
        self.held = asyncio.Event()
        self.strategy: Any = None
        self.clock: SimClock | None = None
        self.slow = 0.0  # wall seconds added to each market step (a run slow enough for a person's commands)
        real_init, real_advance = strategy_module.FundingArbitrageStrategy.__init__, SimClock.advance_to
        gate = self

        def init(s: Any, *args: Any, **kwargs: Any) -> None:
            real_init(s, *args, **kwargs)
            gate.strategy = s

        async def advance(clock: SimClock, t: datetime, **kwargs: Any) -> None:
            gate.clock = clock
            if gate.slow:
                await asyncio.sleep(gate.slow)
            if gate.when is not None and gate.strategy is not None and gate.when(gate.strategy):
                gate.when = None
                gate.open.clear()
                gate.held.set()
                await gate.open.wait()
            await real_advance(clock, t, **kwargs)

        monkeypatch.setattr(strategy_module.FundingArbitrageStrategy, "__init__", init)
        monkeypatch.setattr(SimClock, "advance_to", advance)

    async def hold(self, when: Callable[[Any], bool]) -> None:
        self.held.clear()
        self.when = when
        await asyncio.wait_for(self.held.wait(), 60)

    def release(self) -> None:
        self.open.set()


async def _caught_up_snapshot(client: httpx.AsyncClient) -> httpx.Response:
    """``/api/snapshot`` once the reducer has folded every event written so far (the dashboard folds every
    0.25 s, so a snapshot taken right after the last command may not include it yet)."""
    for _ in range(200):
        snap = await client.get("/api/snapshot")
        last = (await client.get("/api/events", params={"after_seq": 0, "limit": 1})).json()["last_seq"]
        if snap.json()["seq"] >= last:
            return snap
        await asyncio.sleep(0.05)
    raise AssertionError(f"the snapshot stayed behind seq {last}")


def test_commands_end_to_end_in_a_paper_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tokened(monkeypatch)
    gate = _Gate(monkeypatch)
    answers: dict[str, httpx.Response] = {}

    async def bot(server: Any, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(base_url=server.url, timeout=60, headers=AUTH) as client:

            async def send(key: str, body: dict[str, Any]) -> httpx.Response:
                answers[key] = resp = await client.post("/api/commands", json=body)
                return resp

            async def held_then(key: str, body: dict[str, Any]) -> httpx.Response:
                """Send while the clock is held; the command runs at the safe point right after release."""
                task = asyncio.create_task(send(key, body))
                await asyncio.sleep(0.05)
                gate.release()
                return await task

            trading = asyncio.create_task(real(*args, **kwargs))
            await gate.hold(lambda s: s.open_position_count() >= 1)
            pid = next(iter(gate.strategy._positions.open))
            body = {"id": "close-1", "command": "close_position", "position_id": pid}
            assert (await held_then("close", body)).status_code == 200
            assert (await send("close-again", body)).json()["duplicate"] is True
            await send("close-closed", {**body, "id": "close-2"})
            await send("close-unknown", {**body, "id": "close-3", "position_id": "P9999-NOPE"})
            await send("pause", {"id": "pause-1", "command": "pause_entries"})
            await send(
                "limit", {"id": "limit-1", "command": "set_limit", "limit": "max_positions", "value": "2"}
            )
            await send(
                "bad-limit",
                {"id": "limit-2", "command": "set_limit", "limit": "max_positions", "value": "1.5"},
            )
            assert gate.clock is not None
            paused_at = gate.clock.now()
            await gate.hold(lambda s: gate.clock is not None and (gate.clock.now() - paused_at).days >= 10)
            assert (
                await held_then("resume", {"id": "resume-1", "command": "resume_entries"})
            ).status_code == 200
            await gate.hold(lambda s: s.open_position_count() >= 1)
            assert (await held_then("flatten", {"id": "flat-1", "command": "flatten_all"})).status_code == 200
            result = await trading
            await send("late", {"id": "late-1", "command": "resume_entries"})
            answers["snapshot"] = await _caught_up_snapshot(client)
            return result

    code, _server, jsonl = _run(tmp_path, monkeypatch, bot)
    assert code == 0
    record = [orjson.loads(x) for x in jsonl.read_bytes().splitlines()]

    # the answers
    close = answers["close"].json()
    assert close["status"] == "executed" and close["position_ids"] == [
        answers["close"].json()["position_ids"][0]
    ]
    pid = close["position_ids"][0]
    assert answers["close-again"].status_code == 200 and answers["close-again"].json()["status"] == "executed"
    assert (
        answers["close-closed"].status_code == 409
        and answers["close-closed"].json()["reason"] == "ALREADY_CLOSED"
    )
    assert answers["close-unknown"].status_code == 404
    assert answers["limit"].json()["value"] == "2" and answers["bad-limit"].status_code == 422
    assert answers["late"].status_code == 503 and answers["late"].json()["reason"] == "STOPPING"

    # the audit trail: each understood command once received, once answered; the repeat added nothing
    by_id: dict[str, list[str]] = {}
    for e in record:
        if e["event"].startswith("command."):
            by_id.setdefault(e["command_id"], []).append(e["event"])
    assert by_id["close-1"] == ["command.received", "command.executed"]
    for cid in ("close-2", "close-3", "limit-2", "late-1"):
        assert by_id[cid] == ["command.received", "command.rejected"], cid
    assert all(e["source"] == "http" for e in record if e["event"] == "command.received")

    # close_position: one exit, OPERATOR_CLOSE, reconciled by the reducer (no PnL mismatch)
    closings = [e for e in record if e["event"] == "position.closing" and e["position_id"] == pid]
    assert len(closings) == 1 and closings[0]["reason"] == "OPERATOR_CLOSE"
    (closed,) = [e for e in record if e["event"] == "position.closed" and e["position_id"] == pid]
    assert closed["reason"] == "OPERATOR_CLOSE"
    assert not any("pnl_mismatch" in (e.get("message") or "") for e in record)
    snap = answers["snapshot"].json()["snapshot"]
    reducer = Reducer(timeline_size=10_000)  # the whole session's timeline: no PnL mismatch anywhere
    reducer.feed_lines(jsonl.read_bytes().splitlines())
    final = reducer.snapshot()
    (row,) = [p for p in final.positions if p.position_id == pid]
    assert row.lifecycle == "closed" and row.net_pnl == row.booked_net_pnl == Decimal(closed["net_pnl"])
    rows = final.recent_events
    assert not any(r.event == "dashboard.pnl_mismatch" for r in rows)
    assert [r.message for r in rows if r.category == "command"][:2] == [
        m["message"] for m in record if m["event"].startswith("command.")
    ][:2]

    # pause_entries … resume_entries: opportunities were skipped, nothing opened in between
    def executed(cid: str) -> int:
        return next(e["seq"] for e in record if e["event"] == "command.executed" and e["command_id"] == cid)

    paused, resumed, flat = executed("pause-1"), executed("resume-1"), executed("flat-1")
    opened = [e["seq"] for e in record if e["event"] == "position.opened"]
    assert not [s for s in opened if paused < s < resumed]
    assert any(
        e["event"] == "opportunity.skipped"
        and e["reason"] == "ENTRIES_PAUSED"
        and paused < e["seq"] < resumed
        for e in record
    )
    assert [s for s in opened if resumed < s < flat], "entries resumed"
    # set_limit reached the session pane
    assert snap["session"]["max_positions"] == 2

    # flatten_all: everything open was closed by the operator, and entries stayed paused to the end
    flat_ev = next(e for e in record if e["event"] == "command.executed" and e["command_id"] == "flat-1")
    assert flat_ev["position_ids"] and flat_ev["entries_paused"] is True
    for p in flat_ev["position_ids"]:
        assert any(
            e["event"] == "position.closed" and e["position_id"] == p and e["reason"] == "OPERATOR_CLOSE"
            for e in record
        )
    assert not [s for s in opened if s > flat]
    assert answers["snapshot"].json()["seq"] >= flat
    assert snap["session"]["entries_paused"] is True


def test_runbot_command_sends_commands_to_a_running_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``runbot command …`` as a person types it, against the server of a paper run (held at its start)."""
    _tokened(monkeypatch)
    gate = _Gate(monkeypatch)
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("ARBDASH_TOKEN", "ARBDASH_URL")}
        if token is not None:
            env["ARBDASH_TOKEN"] = token
        return subprocess.run(
            [sys.executable, "-m", "arbdash.tools.runbot_cli", "command", *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=60,
            cwd=ROOT,
        )

    async def bot(server: Any, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        trading = asyncio.create_task(real(*args, **kwargs))
        gate.slow = 0.05  # 20 market hours a second: the run outlasts the commands
        url = server.url
        runs = {
            "pause": ("pause-entries", "--url", url, "--id", "cli-pause-1"),
            "pause-again": ("pause-entries", "--url", url, "--id", "cli-pause-1"),
            "unknown": ("close-position", "P9999-NOPE", "--url", url, "--yes"),
            "unasked": ("close-position", "P0001-BTC", "--url", url),
            "limit": ("set-limit", "max_total_exposure_usd", "3000", "--url", url),
            "status": ("status", "cli-pause-1", "--url", url),
        }
        for key, argv in runs.items():
            results[key] = await asyncio.to_thread(cli, *argv)
        results["no-token"] = await asyncio.to_thread(cli, "pause-entries", "--url", url, token=None)
        results["wrong-token"] = await asyncio.to_thread(cli, "pause-entries", "--url", url, token="x" * 20)
        results["no-server"] = await asyncio.to_thread(cli, "pause-entries", "--url", "http://127.0.0.1:9")
        gate.slow = 0.0
        return await trading

    code, _server, jsonl = _run(tmp_path, monkeypatch, bot)
    assert code == 0
    r = results
    assert r["pause"].returncode == 0 and "pause_entries executed: entries paused" in r["pause"].stdout
    assert r["pause-again"].returncode == 0 and "applied once" in r["pause-again"].stdout
    assert r["unknown"].returncode == 1 and "UNKNOWN_POSITION" in r["unknown"].stdout
    assert r["unasked"].returncode == 2 and "--yes" in r["unasked"].stderr
    assert r["limit"].returncode == 0 and "max_total_exposure_usd" in r["limit"].stdout
    assert r["status"].returncode == 0 and "executed" in r["status"].stdout
    assert r["no-token"].returncode == 2 and "ARBDASH_TOKEN" in r["no-token"].stderr
    assert r["wrong-token"].returncode == 2 and "401" in r["wrong-token"].stderr
    assert r["no-server"].returncode == 2 and "cannot reach" in r["no-server"].stderr
    record = [orjson.loads(x) for x in jsonl.read_bytes().splitlines()]
    assert [e["command_id"] for e in record if e["event"] == "command.received"].count("cli-pause-1") == 1
    assert TOKEN not in jsonl.read_text()
