"""The control server in real paper runs (``runbot --speed 0 --dashboard-mode=silent --serve 127.0.0.1:0``): in
process, with clients on the bot's own loop while it trades — ``/api/snapshot`` equals the reducer's snapshot,
the stream has no gap and no duplicate, ``/metrics`` agrees with the snapshot, a client that never reads stays
bounded and the bot finishes — and the server stops on every exit path; then once as the real command."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support_runs import shipped_config
from test_control_api import sse

import arbdash.tools.runbot_cli as runbot_cli
import arbdash.tools.runbot_run as runbot_run
from arbdash.bot.config import load_config
from arbdash.control.hub import MAX_QUEUED
from arbdash.dashboard.reducer import Reducer
from arbdash.tools.runbot_cli import with_server

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "configs" / "funding_arb_paper.yml"


def _opts(tmp_path: Path) -> runbot_run.RunOptions:
    return runbot_run.RunOptions(
        config=with_server(shipped_config(), "127.0.0.1:0"),
        config_path=SHIPPED,
        mode=runbot_cli.DashboardMode.silent,
        speed=Decimal(0),
        log_dir=tmp_path,
        level="INFO",
        width=120,
        final_frame=None,
    )


Bot = Callable[[Any, Callable[..., Awaitable[Any]], tuple[Any, ...], dict[str, Any]], Awaitable[Any]]


def with_token(opts: runbot_run.RunOptions, token: str) -> runbot_run.RunOptions:
    """``opts`` with ``dashboard.server.token`` set (commands are refused without one)."""
    from pydantic import SecretStr

    server = opts.config.dashboard.server.model_copy(update={"token": SecretStr(token)})
    dash = opts.config.dashboard.model_copy(update={"server": server})
    return dataclasses.replace(opts, config=opts.config.model_copy(update={"dashboard": dash}))


def _run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bot: Bot,
    after: list[asyncio.Task[Any]] | None = None,
    *,
    opts: runbot_run.RunOptions | None = None,
) -> tuple[int, Any, Path]:
    """One in-process session (``opts``, default ``_opts(tmp_path)``) whose bot is ``bot(server, real_run_bot,
    args, kwargs)``; ``after``: tasks the bot started that end once the server has stopped (awaited after the
    session). Returns the exit code, the control server and the JSONL."""
    seen: dict[str, Any] = {}
    real_start, real_bot = runbot_run._start_control, runbot_run.run_bot

    async def start(*args: Any, **kwargs: Any) -> Any:
        seen["server"] = await real_start(*args, **kwargs)
        return seen["server"]

    async def run_bot(*args: Any, **kwargs: Any) -> Any:
        return await bot(seen["server"], real_bot, args, kwargs)

    async def main() -> int:
        code = await runbot_run.run_session(opts if opts is not None else _opts(tmp_path))
        for task in after or ():
            await asyncio.wait_for(task, 60)
        return code

    monkeypatch.setattr(runbot_run, "_start_control", start)
    monkeypatch.setattr(runbot_run, "run_bot", run_bot)
    code = asyncio.run(main())
    (jsonl,) = tmp_path.glob("*.jsonl")
    return code, seen["server"], jsonl


async def _stuck_client(url: str) -> socket.socket:
    """A stream client that sends its request and then never reads."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    await asyncio.get_running_loop().sock_sendall(
        sock, b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    return sock


def _check_stream(frames: list[dict[str, str]]) -> tuple[int, int]:
    """Every event follows the one before it (or the snapshot before it): no gap, no duplicate. Returns the
    number of events and of resyncs."""
    cursor, events, resyncs = None, 0, 0
    for f in frames:
        kind = f.get("event")
        if kind == "resync":
            resyncs += 1
        elif kind == "snapshot":
            cursor = int(f["id"])
            assert orjson.loads(f["data"])["seq"] == cursor
        else:
            assert cursor is not None and int(f["id"]) == cursor + 1, (cursor, f["id"])
            assert orjson.loads(f["data"])["seq"] == cursor + 1
            cursor += 1
            events += 1
    return events, resyncs


def test_a_paper_run_served_to_readers_a_scraper_and_a_stuck_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshots: list[bytes] = []
    frames: list[dict[str, str]] = []
    after: dict[str, Any] = {}
    readers: list[asyncio.Task[Any]] = []

    async def read_stream(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async with client.stream("GET", "/api/stream") as resp:
                async for ev in sse(resp):
                    frames.append(ev)

    async def bot(server: Any, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        after["stuck"] = await _stuck_client(server.url)
        readers.append(asyncio.create_task(read_stream(server.url)))
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            trading = asyncio.create_task(real(*args, **kwargs))
            while not trading.done():  # poll the snapshot while the bot trades
                snapshots.append((await client.get("/api/snapshot")).content)
                await asyncio.sleep(0.02)
            result = await trading
            reducer: Reducer = server.snapshots.reducer
            for _ in range(200):  # the bot is done; compare once no fold happened between the reads
                body = (await client.get("/api/snapshot")).content
                metrics = (await client.get("/metrics")).text
                if orjson.loads(body)["version"] == reducer.version:
                    break
                await asyncio.sleep(0.02)
        after.update(body=body, metrics=metrics, live=msgspec.json.encode(reducer.snapshot()))
        after["hub"] = server.hub.stats()
        after["stuck_client_high_water"] = max(c.high_water for c in server.hub.clients)
        return result

    code, server, jsonl = _run(tmp_path, monkeypatch, bot, readers)
    assert code == 0
    lines = jsonl.read_bytes().splitlines()
    record = [orjson.loads(x) for x in lines]
    assert record[-1]["event"] == "session.stopped" and record[-1]["reason"] == "completed"

    # /api/snapshot at the end of the run is the live reducer's snapshot, encoded the same way
    body = after["body"]
    assert body.endswith(b',"snapshot":' + after["live"] + b"}")
    # ... and each snapshot served mid-run is the fold of exactly the events up to its seq (a replay of them)
    assert len(snapshots) >= 2
    replay = Reducer(timeline_size=load_config(SHIPPED).dashboard.max_event_rows)
    fed = 0
    for served in sorted(snapshots, key=lambda b: orjson.loads(b)["seq"]):
        seq = orjson.loads(served)["seq"]
        upto = (
            next(i for i, e in enumerate(record) if e["seq"] > seq) if seq < record[-1]["seq"] else len(lines)
        )
        replay.feed_lines(lines[fed:upto])
        fed = upto
        assert served.endswith(b',"snapshot":' + msgspec.json.encode(replay.snapshot()) + b"}"), seq

    # /metrics parses, and its net PnL is the snapshot's
    samples = {
        s.name: s.value
        for f in text_string_to_metric_families(after["metrics"])
        for s in f.samples
        if not s.labels
    }
    final = orjson.loads(body)
    assert samples["arbdash_snapshot_seq"] == final["seq"]
    assert samples["arbdash_pnl_net_usd"] == float(Decimal(final["snapshot"]["portfolio"]["net_pnl"]))
    assert samples["arbdash_positions_opened_total"] == final["snapshot"]["portfolio"]["positions_opened"] > 0

    # the reader got every event, once, in order, up to session.stopped (resyncs, if it fell behind, announced)
    events, resyncs = _check_stream(frames)
    assert frames[0]["event"] == "snapshot"
    assert orjson.loads(frames[-1]["data"])["event"] == "session.stopped"
    assert events > 0 and resyncs == after["hub"].resyncs

    # the client that never read: its queue stayed within its bound and was dropped; the bot finished anyway
    hub = after["hub"]
    assert hub.overflows >= 1
    assert after["stuck_client_high_water"] <= hub.max_queued == MAX_QUEUED
    assert hub.high_water <= MAX_QUEUED
    assert not server.running and not server.hub.clients
    after["stuck"].close()


@pytest.mark.parametrize("how", ["crash", "cancel"])
def test_the_server_stops_on_every_exit_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A crash or a cancellation (Ctrl-C, SIGTERM) while a stuck client and a reader are connected: the session
    closes, the server is gone and its port closed."""
    seen: dict[str, Any] = {}

    async def bot(server: Any, real: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        seen["url"], seen["server"] = server.url, server
        seen["stuck"] = await _stuck_client(server.url)
        trading = asyncio.create_task(real(*args, **kwargs))
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            async with client.stream("GET", "/api/stream") as resp:
                it = sse(resp)
                assert (await anext(it))["event"] == "snapshot"
                await anext(it)
        if how == "crash":
            trading.cancel()
            raise RuntimeError("injected crash")
        seen["session"].cancel()  # what runbot's signal handler does
        await trading
        return None

    real_bot = runbot_run.run_bot
    real_start = runbot_run._start_control

    async def start(*args: Any, **kwargs: Any) -> Any:
        server = await real_start(*args, **kwargs)
        seen["server"] = server
        return server

    async def run_bot(*args: Any, **kwargs: Any) -> Any:
        return await bot(seen["server"], real_bot, args, kwargs)

    monkeypatch.setattr(runbot_run, "_start_control", start)
    monkeypatch.setattr(runbot_run, "run_bot", run_bot)

    async def main() -> int:
        seen["session"] = asyncio.current_task()
        return await runbot_run.run_session(_opts(tmp_path))

    code = asyncio.run(main())
    assert code == (1 if how == "crash" else 130)
    (jsonl,) = tmp_path.glob("*.jsonl")
    last = orjson.loads(jsonl.read_bytes().splitlines()[-1])
    assert last["event"] == "session.stopped"
    assert not seen["server"].running and not seen["server"].hub.clients
    host, port = seen["url"].removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5).close()
    seen["stuck"].close()


def test_runbot_serve_as_a_command(tmp_path: Path) -> None:
    """``runbot --serve 127.0.0.1:0``: the run completes and its record says where it served."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "arbdash.tools.runbot_cli",
            "--config",
            str(SHIPPED),
            "--speed",
            "0",
            "--dashboard-mode=silent",
            "--log-dir",
            str(tmp_path),
            "--serve",
            "127.0.0.1:0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    (jsonl,) = tmp_path.glob("*.jsonl")
    record = [orjson.loads(x) for x in jsonl.read_bytes().splitlines()]
    (listening,) = [e for e in record if e["message"].startswith("control server listening on ")]
    assert listening["url"].startswith("http://127.0.0.1:") and int(listening["url"].rsplit(":", 1)[1]) > 0
    assert "open to this machine only" in listening["message"]
    assert record[-1]["event"] == "session.stopped"
    # the port --serve 127.0.0.1:0 chose, on stderr from the start (before a live view takes the screen)
    said = [ln for ln in out.stderr.splitlines() if ln.startswith("runbot: control server on ")]
    assert said == [
        f"runbot: control server on {listening['url']}/ (this machine only): the web page at /, the API at /api/"
    ]


def test_ctrl_c_while_the_server_starts_closes_the_session_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancellation before the bot ran (while the control server starts) still runs the close sequence:
    ``session.stopped`` ``interrupted`` and exit code 130 — not a "generator didn't yield" traceback."""
    ran: list[bool] = []

    async def start(*args: Any, **kwargs: Any) -> Any:
        raise asyncio.CancelledError

    async def bot(*args: Any, **kwargs: Any) -> Any:
        ran.append(True)

    monkeypatch.setattr(runbot_run, "_start_control", start)
    monkeypatch.setattr(runbot_run, "run_bot", bot)
    code = asyncio.run(runbot_run.run_session(_opts(tmp_path)))
    assert code == 130 and not ran
    (jsonl,) = tmp_path.glob("*.jsonl")
    last = orjson.loads(jsonl.read_bytes().splitlines()[-1])
    assert last["event"] == "session.stopped" and last["reason"] == "interrupted"
