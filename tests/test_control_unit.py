"""The control plane's parts without a server: the address rule, the config and ``--serve`` checks, the ring
(thread hand-off, contiguity, JSONL offsets), the stream hub's bounded queues and the layering."""

from __future__ import annotations

import ast
import asyncio
import gzip
import socket
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from arbdash.bot.config import ConfigError, load_config, parse_config
from arbdash.control.address import is_loopback, parse_bind
from arbdash.control.hub import StreamHub
from arbdash.control.ring import RingSink, line_seq, read_jsonl_after
from arbdash.control.snapshots import SnapshotSource
from arbdash.dashboard.reducer import Reducer
from arbdash.tools.runbot_cli import app

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "configs" / "funding_arb_paper.yml"
TOKEN = "s3cret-token-0123456789"


def line(seq: int, message: str = "x") -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "ts": "2026-03-01T00:00:00+00:00",
            "session_id": "s",
            "seq": seq,
            "level": "info",
            "logger": "t",
            "event": "log.message",
            "category": "info",
            "message": message,
        }
    )


# --- address and config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
        ("localhost.evil.com", False),
    ],
)
def test_loopback_rule(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("8765", (None, 8765)),
        ("0", (None, 0)),
        ("127.0.0.1:8765", ("127.0.0.1", 8765)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_bind(text: str, parsed: tuple[str | None, int]) -> None:
    assert parse_bind(text) == parsed


@pytest.mark.parametrize(
    "text", ["", "abc", "65536", "-1", ":80", "::1:80", "[::1]80", "host:", "a b:80", "1e3"]
)
def test_parse_bind_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bind(text)


def _config_with(tmp_path: Path, server: dict[str, Any]) -> Path:
    data = yaml.safe_load(SHIPPED.read_text())
    data.setdefault("dashboard", {})["server"] = server
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_server_config_defaults_to_loopback_and_off() -> None:
    server = load_config(SHIPPED).dashboard.server
    assert (server.enabled, server.host, server.token) == (False, "127.0.0.1", None)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ({"enabled": True, "host": "0.0.0.0", "port": 8765}, "is not a loopback address"),
        ({"enabled": False, "host": "10.0.0.5"}, "is not a loopback address"),  # --serve could enable it
        ({"token": "short"}, "at least 16 characters"),
        ({"port": 70000}, "dashboard.server.port"),
        ({"host": ""}, "dashboard.server.host"),
        ({"bogus": 1}, "dashboard.server.bogus"),
    ],
)
def test_server_config_errors(tmp_path: Path, server: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_config_with(tmp_path, server))
    assert expected in str(err.value)


def test_a_token_allows_any_host_and_is_redacted(tmp_path: Path) -> None:
    cfg = load_config(_config_with(tmp_path, {"enabled": True, "host": "0.0.0.0", "token": TOKEN}))
    assert cfg.dashboard.server.host == "0.0.0.0"
    assert TOKEN in cfg.secret_values()
    assert TOKEN not in repr(cfg)


def test_parse_config_keeps_the_rule_without_a_file() -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    data["dashboard"] = {"server": {"host": "0.0.0.0"}}
    with pytest.raises(ConfigError, match="needs a token"):
        parse_config(data)


# --- runbot --serve -------------------------------------------------------------------------------------------


def _runbot(*args: str) -> Any:
    return CliRunner().invoke(app, ["--config", str(SHIPPED), *args])


@pytest.mark.parametrize("where", ["0.0.0.0:8765", "192.168.1.10:0", "[::]:8765"])
def test_serve_on_a_non_loopback_host_without_a_token_exits_2(where: str) -> None:
    out = _runbot("--serve", where, "--speed", "0")
    assert out.exit_code == 2
    assert out.stderr.startswith(f"runbot: --serve {where}: host ")
    assert "needs a token" in out.stderr and out.stderr.count("\n") == 1


@pytest.mark.parametrize("where", ["x", "127.0.0.1:", "99999", "::1:80"])
def test_serve_with_a_malformed_address_exits_2(where: str) -> None:
    out = _runbot("--serve", where, "--speed", "0")
    assert out.exit_code == 2
    assert out.stderr.startswith("runbot: --serve ") and out.stderr.count("\n") == 1


def test_serve_on_a_port_in_use_exits_2(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        out = _runbot("--serve", f"127.0.0.1:{port}", "--speed", "0", "--log-dir", str(tmp_path))
    finally:
        busy.close()
    assert out.exit_code == 2
    assert out.stderr.startswith(f"runbot: cannot serve on 127.0.0.1:{port}: ")
    assert not list(tmp_path.glob("*.jsonl"))  # refused before the session started


def test_serve_with_a_configured_token_may_bind_beyond_loopback(tmp_path: Path) -> None:
    from arbdash.tools.runbot_cli import with_server

    cfg = load_config(_config_with(tmp_path, {"token": TOKEN}))
    served = with_server(cfg, "0.0.0.0:0").dashboard.server
    assert (served.enabled, served.host, served.port) == (True, "0.0.0.0", 0)
    assert served.token is not None and served.token.get_secret_value() == TOKEN
    assert with_server(cfg, "9000").dashboard.server.host == "127.0.0.1"  # the configured host


# --- the ring -------------------------------------------------------------------------------------------------


async def test_ring_takes_events_from_another_thread_and_wakes_the_loop_once_per_batch() -> None:
    ring = RingSink(capacity=100)
    await ring.start()
    got: list[list[int]] = []
    ring.listener = lambda run: got.append([s for s, _ in run])

    def dispatcher() -> None:
        for seq in range(1, 51):
            ring.write(line(seq), {"seq": seq})

    t = threading.Thread(target=dispatcher)
    t.start()
    t.join()
    assert ring.wakeups == 1  # the loop has not run yet: one wake-up covers the whole batch
    while ring.last_seq != 50:
        await asyncio.sleep(0)
    assert [s for run in got for s in run] == list(range(1, 51))
    assert (ring.first_seq, len(ring), ring.gaps) == (1, 50, 0)


def test_ring_keeps_the_newest_events_contiguous_and_restarts_after_a_gap() -> None:
    ring = RingSink(capacity=10)
    for seq in range(1, 26):
        ring.write(line(seq), {"seq": seq})
    # the loop never ran: the inbox kept the newest 10 (a gap after nothing: no restart counted)
    ring.pump()
    assert (ring.first_seq, ring.last_seq) == (16, 25)
    assert [s for s, _ in ring.after(19, 3)] == [20, 21, 22]
    assert [s for s, _ in ring.after(22, 100)] == [23, 24, 25]
    assert ring.after(25, 5) == [] and ring.after(10, 5) == []
    assert ring.covers(15) and not ring.covers(14)
    for seq in range(40, 43):  # 26..39 never reached the loop
        ring.write(line(seq), {"seq": seq})
    ring.pump()
    assert (ring.first_seq, ring.last_seq, ring.gaps) == (40, 42, 1)


def test_jsonl_fallback_seeks_by_remembered_offsets_and_checks_them(tmp_path: Path) -> None:
    ring = RingSink(capacity=4, index_every=10)
    path = tmp_path / "s.jsonl"
    with path.open("wb") as f:
        for seq in range(1, 101):
            ln = line(seq, "é" * (seq % 7))  # lines of different lengths
            ring.write(ln, {"seq": seq})
            f.write(ln + b"\n")
        f.write(line(101)[:30])  # a torn last line: being written
    ring.pump()
    hint = ring.offset_before(57)
    assert hint[0] == 51
    got = read_jsonl_after(path, 56, 5, hint)
    assert [s for s, _ in got] == [57, 58, 59, 60, 61]
    assert got[0][1] == line(57, "é")
    assert [s for s, _ in read_jsonl_after(path, 95, 100, ring.offset_before(96))] == [96, 97, 98, 99, 100]
    # a wrong hint (a file that does not match the offsets) falls back to the top of the file
    assert [s for s, _ in read_jsonl_after(path, 56, 2, (51, 7))] == [57, 58]
    assert line_seq(b'{"v":1,"seq":12}') == 12 and line_seq(b"garbage") is None


def test_jsonl_fallback_reads_across_rotated_members_and_one_session(tmp_path: Path) -> None:
    """The bot rotates its log (``logging.rotate_mb``): an event that left the ring may sit in an older member,
    gzipped or not; a log holding two sessions restarts ``seq``, so one session's read skips the other's lines
    before comparing."""
    path = tmp_path / "s.jsonl"

    def member(name: str, seqs: range, session: str = "s") -> None:
        body = b"".join(line(q).replace(b'"s"', f'"{session}"'.encode(), 1) + b"\n" for q in seqs)
        target = tmp_path / name
        target.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)

    member("s.jsonl.3.gz", range(1, 11))
    member("s.jsonl.2", range(11, 21))
    member("s.jsonl.1", range(21, 31))
    member("s.jsonl", range(31, 41))
    seqs = lambda after, limit=100, **kw: [s for s, _ in read_jsonl_after(path, after, limit, **kw)]  # noqa: E731
    assert seqs(0) == list(range(1, 41))
    assert seqs(5, 8) == list(range(6, 14))  # from the gzipped member into the next
    assert seqs(20) == list(range(21, 41))  # starts in the member that holds seq 21
    assert seqs(33, hint=(31, 0)) == list(range(34, 41))
    assert seqs(33, hint=(31, 999)) == list(range(34, 41))  # a stale offset (another member's) is checked
    assert seqs(40) == []
    # a second session in the newest members, its seq restarting at 1
    member("s.jsonl.1", range(21, 26))
    member("s.jsonl", range(1, 9), session="t")
    keep_t = lambda ln: b'"session_id":"t"' in ln  # noqa: E731
    assert seqs(3, keep=keep_t) == list(range(4, 9))
    keep_s = lambda ln: b'"session_id":"s"' in ln  # noqa: E731
    assert seqs(3, keep=keep_s) == list(range(4, 26))


def _member(path: Path, seqs: range) -> None:
    path.write_bytes(b"".join(line(q) + b"\n" for q in seqs))


def _rotate(path: Path, nxt: range) -> None:
    """What the bot's JSONL writer does: shift the numbered members up, the live file to ``.1``, a fresh live
    file (here already holding ``nxt``)."""
    numbered = sorted(
        (int(p.name.rsplit(".", 1)[1]), p) for p in path.parent.glob(path.name + ".*") if p.name[-1].isdigit()
    )
    for n, p in reversed(numbered):
        p.rename(path.with_name(f"{path.name}.{n + 1}"))
    path.rename(path.with_name(path.name + ".1"))
    _member(path, nxt)


@pytest.mark.parametrize("at_call", [1, 2, 5, 30, 70])
def test_a_rotation_during_a_read_neither_skips_nor_repeats(tmp_path: Path, at_call: int) -> None:
    """The bot rotates (renames) its members while a read is under way — while the members are being chosen and
    opened, or in the middle of reading them: the result is every event after the cursor, in order, once."""
    path = tmp_path / "s.jsonl"
    _member(tmp_path / "s.jsonl.2", range(1, 51))
    _member(tmp_path / "s.jsonl.1", range(51, 101))
    _member(path, range(101, 151))
    calls = [0]

    def keep(_line: bytes) -> bool:  # every line is kept; the n-th look rotates the log under the reader
        calls[0] += 1
        if calls[0] == at_call:
            _rotate(path, range(151, 161))
        return True

    got = [s for s, _ in read_jsonl_after(path, 40, 1000, keep=keep)]
    assert got == list(range(41, got[-1] + 1)) and got[-1] >= 150


def test_the_live_file_missing_mid_rotation_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the rename of the live file and the new one's creation the name does not exist: a read then
    tries again instead of failing the request or the stream."""
    import arbdash.control.ring as ring_module

    path = tmp_path / "s.jsonl"
    _member(tmp_path / "s.jsonl.1", range(1, 11))
    _member(path, range(11, 21))
    real_open, missing = ring_module._open, [2]

    def flaky_open(member: Path) -> Any:
        if member == path and missing[0]:
            missing[0] -= 1
            raise FileNotFoundError(member)
        return real_open(member)

    monkeypatch.setattr(ring_module, "_open", flaky_open)
    assert [s for s, _ in read_jsonl_after(path, 5, 100)] == list(range(6, 21))
    assert missing == [0]


def test_a_damaged_gzip_member_is_an_os_error_and_a_half_gzipped_one_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    body = b"".join(line(q) + b"\n" for q in range(1, 51))
    (tmp_path / "s.jsonl.1.gz").write_bytes(gzip.compress(body)[:-40])  # truncated: gzip was interrupted
    _member(path, range(51, 61))
    with pytest.raises(OSError, match="cannot be read"):
        read_jsonl_after(path, 0, 100)
    # a gzip under way: ``.1`` complete and ``.1.gz`` partial side by side — the plain one is read, once
    (tmp_path / "s.jsonl.1").write_bytes(body)
    assert [s for s, _ in read_jsonl_after(path, 0, 100)] == list(range(1, 61))


def test_a_stale_hint_bisects_the_live_file(tmp_path: Path) -> None:
    """After a rotation the ring's offsets are the old file's: the check fails and the read bisects the live
    file by seq (damaged lines included) instead of scanning it from the top — the same events either way."""
    path = tmp_path / "s.jsonl"
    with path.open("wb") as f:
        for q in range(1, 5001):
            f.write(line(q, "x" * (q % 50)) + b"\n")
            if q % 700 == 0:
                f.write(b"{damaged\n")
    for after in (0, 1, 2499, 4321, 4999, 5000):
        want = list(range(after + 1, min(after + 5, 5000) + 1))
        assert [s for s, _ in read_jsonl_after(path, after, 5, (123, 45_678))] == want, after


def test_the_offset_index_stays_bounded_and_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import arbdash.control.ring as ring_module

    monkeypatch.setattr(ring_module, "MAX_OFFSETS", 8)
    ring = RingSink(capacity=4, index_every=2)
    path = tmp_path / "s.jsonl"
    with path.open("wb") as f:
        for seq in range(1, 201):
            ring.write(line(seq), {"seq": seq})
            f.write(line(seq) + b"\n")
    assert len(ring.offsets) <= 8 and ring.index_every > 2
    seq0, _ = hint = ring.offset_before(150)
    assert seq0 <= 150
    assert [s for s, _ in read_jsonl_after(path, 149, 3, hint)] == [150, 151, 152]


# --- the hub --------------------------------------------------------------------------------------------------


def _frames(chunk: bytes) -> list[dict[str, str]]:
    out = []
    for block in chunk.decode().split("\n\n"):
        fields: dict[str, str] = {}
        for ln in block.splitlines():
            if ln and not ln.startswith(":"):
                k, _, v = ln.partition(": ")
                fields[k] = v
        if "data" in fields:
            out.append(fields)
    return out


async def test_a_client_that_does_not_read_is_bounded_then_resynced() -> None:
    reducer = Reducer()
    reducer.feed_lines([line(s) for s in range(1, 4)])
    ring = RingSink(capacity=1000)
    ring.bind_loop(asyncio.get_running_loop())
    hub = StreamHub(ring, SnapshotSource(reducer).current, None, max_queued=10)
    client = hub.try_open()
    assert client is not None
    stream = hub.stream(client, None)
    first = _frames(await anext(stream))
    assert first[0]["event"] == "snapshot" and first[0]["id"] == "3"
    seq = 3
    for _ in range(40):  # the bot goes on; the client reads nothing
        for _ in range(3):
            seq += 1
            ring.write(line(seq), {"seq": seq})
        ring.pump()
        assert client.queued <= hub.max_queued
    assert client.overflowed and client.queued == 0 and not client.batches
    assert hub.overflows == 1 and client.high_water <= 10
    reducer.feed_lines([line(s) for s in range(4, seq + 1)])  # the dashboard folded meanwhile
    after = _frames(await anext(stream))
    assert [f.get("event") for f in after] == ["resync", "snapshot"]
    assert orjson.loads(after[0]["data"])["reason"] == "overflow"
    assert after[1]["id"] == str(seq) and hub.resyncs == 1
    ring.write(line(seq + 1), {"seq": seq + 1})
    ring.pump()
    assert [f["id"] for f in _frames(await anext(stream))] == [str(seq + 1)]
    await stream.aclose()
    assert not hub.clients


async def test_a_resumed_client_gets_the_ring_then_its_queue_without_duplicates() -> None:
    ring = RingSink(capacity=1000)
    ring.bind_loop(asyncio.get_running_loop())
    for seq in range(1, 21):
        ring.write(line(seq), {"seq": seq})
    ring.pump()
    reducer = Reducer()
    reducer.feed_lines([line(s) for s in range(1, 21)])
    hub = StreamHub(ring, SnapshotSource(reducer).current, None, max_queued=100)
    client = hub.try_open()
    assert client is not None
    stream = hub.stream(client, 5)
    assert b"retry:" in await anext(stream)
    for seq in range(21, 26):  # live events reach the queue while the read-back is pending
        ring.write(line(seq), {"seq": seq})
    ring.pump()
    ids: list[int] = []
    while len(ids) < 20:
        ids += [int(f["id"]) for f in _frames(await anext(stream))]
    assert ids == list(range(6, 26))
    hub.close()
    assert [x async for x in stream] == []


async def test_a_log_that_cannot_be_read_back_resyncs_the_client(tmp_path: Path) -> None:
    """A client resuming before the ring, from a log whose older member is damaged: a resync with the reason and
    a fresh snapshot, then live events — never a dead stream."""
    path = tmp_path / "s.jsonl"
    (tmp_path / "s.jsonl.1.gz").write_bytes(
        gzip.compress(b"".join(line(q) + b"\n" for q in range(1, 21)))[:-40]
    )
    _member(path, range(21, 31))
    ring = RingSink(capacity=5)
    ring.bind_loop(asyncio.get_running_loop())
    for seq in range(1, 31):
        ring.write(line(seq), {"seq": seq})
    ring.pump()
    reducer = Reducer()
    reducer.feed_lines([line(s) for s in range(1, 31)])
    hub = StreamHub(ring, SnapshotSource(reducer).current, path, max_queued=100)
    client = hub.try_open()
    assert client is not None
    stream = hub.stream(client, 3)
    assert b"retry:" in await anext(stream)
    frames = _frames(await anext(stream))
    assert [f.get("event") for f in frames] == ["resync", "snapshot"]
    assert orjson.loads(frames[0]["data"])["reason"] == "history_unreadable" and frames[1]["id"] == "30"
    ring.write(line(31), {"seq": 31})
    ring.pump()
    assert [f["id"] for f in _frames(await anext(stream))] == ["31"]
    await stream.aclose()


def test_layering_control_is_read_only_and_nothing_below_imports_it() -> None:
    """``control`` reads the dashboard and the pipeline; they never import it (one way, no back-calls). The bot
    imports only two contract modules: the config its stdlib-only address rule, the strategies, the instance set
    and the runner the command vocabulary (``control.commands``: msgspec and the event catalogue, nothing of the server)."""

    def imports(path: Path) -> set[str]:
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        return {n.removeprefix("arbdash.") for n in names}

    below = [*(ROOT / "dashboard").rglob("*.py"), *(ROOT / "logging_pipeline").rglob("*.py")]
    assert not [p for p in below if any(m.split(".")[0] == "control" for m in imports(p))]
    bot = [p for p in (ROOT / "bot").rglob("*.py") if any(m.split(".")[0] == "control" for m in imports(p))]
    assert sorted(str(p.relative_to(ROOT / "bot")) for p in bot) == [
        "config.py",
        "runner.py",
        "strategies/base.py",
        "strategies/funding_arbitrage/strategy.py",
        "strategies/instances.py",
        "strategies/settlement_timing/strategy.py",
    ]
    for path in bot:
        assert {m for m in imports(path) if m.startswith("control")} <= {
            "control.address",
            "control.commands",
        }
    assert {m for m in imports(ROOT / "bot" / "config.py") if m.startswith("control")} == {"control.address"}
    contract = {m.split(".")[0] for m in imports(ROOT / "control" / "commands.py")}
    assert contract <= {
        "__future__",
        "asyncio",
        "contextlib",
        "collections",
        "dataclasses",
        "datetime",
        "decimal",
    } | {
        "typing",
        "msgspec",
        "logging_pipeline",
    }
    assert {m.split(".")[0] for m in imports(ROOT / "control" / "address.py")} <= {"__future__", "ipaddress"}
    for path in (ROOT / "control").glob("*.py"):
        assert not [m for m in imports(path) if m.split(".")[0] in ("bot", "tools", "helpers")], path
