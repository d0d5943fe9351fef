"""The control server over HTTP, on a real socket, fed by a real pipeline (JSONL + reducer tee + ring) inside the
test's event loop: paging, the stream's resume across the ring → JSONL fallback, auth, the guard's limits and
headers, JSON errors, ``/metrics``."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from arbdash.control.app import CSP
from arbdash.control.server import ControlServer, bind_socket
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.service import DashboardService
from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee

TOKEN = "a-long-test-token-0123456789"
log = get_logger("test.control")


@dataclass
class Served:
    url: str
    server: ControlServer
    pipeline: Pipeline
    service: DashboardService
    reducer: Reducer
    jsonl: Path

    def settle(self) -> None:
        """Every event logged so far is dispatched, in the ring and folded (test helper, on the loop)."""
        self.pipeline.flush(5.0)
        self.server.ring.pump()
        self.service.drain()

    async def on_disk(self) -> list[dict[str, Any]]:
        """The JSONL once it holds every event dispatched so far."""
        self.settle()
        want = self.pipeline.tee.last_seq
        for _ in range(400):
            lines = self.jsonl.read_bytes().splitlines()
            if lines and orjson.loads(lines[-1])["seq"] >= want:
                return [orjson.loads(x) for x in lines]
            await asyncio.sleep(0.025)
        raise AssertionError("the JSONL writer never caught up")


@asynccontextmanager
async def served(
    tmp_path: Path, *, token: str | None = None, ring_capacity: int = 64, max_queued: int = 4096
) -> AsyncIterator[Served]:
    tee, reducer = ReducerTee(), Reducer()
    jsonl = JsonlSink(tmp_path / "session.jsonl")
    server: ControlServer | None = None
    from arbdash.control.ring import RingSink

    ring = RingSink(ring_capacity, index_every=16)
    async with Pipeline(session_id=str(uuid.uuid4()), sinks=[jsonl, tee, ring]) as pipeline:
        async with DashboardService(tee, reducer, mode="silent") as service:
            server = ControlServer(
                reducer=reducer,
                jsonl=jsonl.path,
                token=token,
                ring=ring,
                max_queued=max_queued,
                sock=bind_socket("127.0.0.1", 0),
            )
            url = await server.start()
            try:
                yield Served(url, server, pipeline, service, reducer, jsonl.path)
            finally:
                await server.stop()


def emit(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        log.info(f"event {i} <b>not markup</b> \x1b[31m", i=i)


async def sse(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """The SSE events of a streaming response: ``{"id", "event", "data"}`` (fields present as sent)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for ln in response.aiter_lines():
        if ln == "":
            if data:
                yield {**fields, "data": "\n".join(data)}
            fields, data = {}, []
        elif not ln.startswith(":"):
            key, _, value = ln.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "data":
                data.append(value)
            else:
                fields[key] = value


def assert_json_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["error"] == code and body["status"] == status and body["message"]
    assert resp.headers["content-security-policy"] == CSP


# --- /api/events ----------------------------------------------------------------------------------------------


async def test_events_pages_through_the_jsonl_then_the_ring_without_gap(tmp_path: Path) -> None:
    async with served(tmp_path, ring_capacity=64) as s:
        emit(300)
        record = await s.on_disk()
        last = record[-1]["seq"]
        got: list[dict[str, Any]] = []
        sources: list[str] = []
        after = 0
        async with httpx.AsyncClient(base_url=s.url) as client:
            while True:
                resp = await client.get("/api/events", params={"after_seq": after, "limit": 50})
                assert resp.status_code == 200 and resp.headers["content-security-policy"] == CSP
                page = resp.json()
                assert page["after_seq"] == after and page["limit"] == 50 and len(page["events"]) <= 50
                got += page["events"]
                sources.append(page["source"])
                after = page["next_after_seq"]
                if not page["more"]:
                    break
        # every event, in order, exactly as the JSONL has it (on a busy machine the service may log one more —
        # a checkpoint, a health change — after the record was read: those come after it, without a gap)
        assert got[: len(record)] == record
        assert [e["seq"] for e in got] == list(range(1, len(got) + 1)) and len(got) >= last
        assert sources[0] == "jsonl" and sources[-1] == "ring"
        assert s.server.hub.jsonl_reads >= 1
        # log text reaches the client as a JSON string, as written
        assert got[len(record) - 1]["message"].endswith("<b>not markup</b> \x1b[31m")


async def test_events_from_the_middle_and_past_the_end(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        emit(100)
        record = await s.on_disk()
        async with httpx.AsyncClient(base_url=s.url) as client:
            page = (await client.get("/api/events?after_seq=90&limit=5")).json()
            assert [e["seq"] for e in page["events"]] == [91, 92, 93, 94, 95]
            assert page["source"] == "ring" and page["more"] is True and page["next_after_seq"] == 95
            end = (await client.get(f"/api/events?after_seq={record[-1]['seq']}")).json()
            later = [e["seq"] for e in end["events"]]  # only what the service logged since (a busy machine)
            assert later == list(range(record[-1]["seq"] + 1, record[-1]["seq"] + 1 + len(later)))
            assert end["more"] is False and (end["source"] == "none") == (not later)
            beyond = (await client.get("/api/events?after_seq=100000")).json()
            assert beyond["events"] == [] and beyond["next_after_seq"] == 100000


@pytest.mark.parametrize(
    "query",
    [
        "after_seq=abc",
        "after_seq=-1",
        "after_seq=1.5",
        "after_seq=",
        f"after_seq={2**63}",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "after_seq=1&after_seq=2",
        "afterseq=3",
        "after_seq=%EF%BC%91",  # a full-width digit: not ASCII
    ],
)
async def test_malformed_queries_are_400_json(tmp_path: Path, query: str) -> None:
    async with served(tmp_path) as s, httpx.AsyncClient(base_url=s.url) as client:
        assert_json_error(await client.get(f"/api/events?{query}"), 400, "bad_query")


async def test_an_oversized_chunked_body_is_413_not_500(tmp_path: Path) -> None:
    """A body sent without Content-Length (chunked) is counted as it arrives: past the limit the answer is the
    same 413 as for a declared length, on every endpoint that reads a body, and the server goes on."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 1024

    async with served(tmp_path, token=TOKEN) as s, httpx.AsyncClient(base_url=s.url) as client:
        resp = await client.post("/api/login", content=chunks())
        assert "content-length" not in resp.request.headers  # it really went chunked
        assert_json_error(resp, 413, "body_too_large")
        assert (await client.get("/healthz")).status_code == 200


async def test_guard_limits_methods_paths_and_hosts(tmp_path: Path) -> None:
    async with served(tmp_path) as s, httpx.AsyncClient(base_url=s.url) as client:
        assert_json_error(await client.get("/api/events?after_seq=" + "1" * 2000), 414, "query_too_long")
        assert_json_error(await client.post("/api/snapshot", content=b"x" * 20_000), 413, "body_too_large")
        assert_json_error(await client.post("/api/snapshot", content=b"{}"), 405, "method_not_allowed")
        assert_json_error(await client.get("/api/nothing"), 404, "not_found")
        assert_json_error(await client.get("/api/snapshot?x=1"), 400, "bad_query")
        assert_json_error(await client.get("/api/stream", headers={"last-event-id": "x1"}), 400, "bad_query")
        # without a token the server answers only to a loopback Host (a browser page cannot rebind to it)
        assert_json_error(
            await client.get("/api/snapshot", headers={"host": "evil.example"}), 421, "bad_host"
        )
        ok = await client.get("/api/snapshot", headers={"host": "localhost:1234"})
        assert ok.status_code == 200
        for header, value in (
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
            ("content-security-policy", CSP),
        ):
            assert ok.headers[header] == value
        assert "access-control-allow-origin" not in ok.headers


# --- auth -------------------------------------------------------------------------------------------------------


async def test_token_is_required_when_configured(tmp_path: Path) -> None:
    async with served(tmp_path, token=TOKEN) as s, httpx.AsyncClient(base_url=s.url) as client:
        for path in ("/api/snapshot", "/api/events", "/api/stream", "/metrics"):
            missing = await client.get(path)
            assert_json_error(missing, 401, "unauthorized")
            assert missing.headers["www-authenticate"].startswith("Bearer")
            assert_json_error(
                await client.get(path, headers={"authorization": f"Bearer {TOKEN}x"}), 401, "unauthorized"
            )
            assert_json_error(
                await client.get(path, headers={"authorization": f"Basic {TOKEN}"}), 401, "unauthorized"
            )
        good = {"authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/api/snapshot", headers=good)).status_code == 200
        assert (await client.get("/metrics", headers=good)).status_code == 200
        assert (await client.get("/healthz")).json() == {"status": "ok"}  # liveness needs no token
        # with a token, any Host may ask (the token is the lock)
        assert (await client.get("/api/snapshot", headers={**good, "host": "bot.example"})).status_code == 200


# --- /api/stream ----------------------------------------------------------------------------------------------


async def read_ids(stream: AsyncIterator[dict[str, str]], until: int, events: list[dict[str, str]]) -> None:
    """Append the stream's events to ``events`` up to the one with id ``until``."""
    async for ev in stream:
        events.append(ev)
        if ev.get("id") and int(ev["id"]) >= until:
            return


async def test_stream_starts_with_the_snapshot_then_every_event(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        emit(20)
        s.settle()
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
            async with client.stream("GET", "/api/stream") as resp:
                assert resp.headers["content-type"].startswith("text/event-stream")
                assert resp.headers["content-security-policy"] == CSP
                events: list[dict[str, str]] = []
                it = sse(resp)
                first = await anext(it)
                assert first["event"] == "snapshot"
                snap = orjson.loads(first["data"])
                assert int(first["id"]) == snap["seq"] == s.reducer.state.last_seq[s.reducer.session]
                emit(30, start=20)
                s.settle()
                last = s.pipeline.tee.last_seq  # not a later one: the pipeline may log on its own
                await read_ids(it, last, events)
        ids = [int(e["id"]) for e in events]
        assert ids == list(range(snap["seq"] + 1, last + 1))
        assert all("event" not in e for e in events)  # plain messages: EventSource's onmessage
        messages = [orjson.loads(e["data"])["message"] for e in events]
        assert [m for m in messages if m.startswith("event ")][-1].startswith("event 49 <b>")


async def test_stream_resumes_from_a_seq_across_the_jsonl_and_the_ring(tmp_path: Path) -> None:
    async with served(tmp_path, ring_capacity=64) as s:
        emit(400)
        record = await s.on_disk()
        assert s.server.ring.first_seq > 100  # seq 11 left the ring long ago
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
            # Last-Event-ID (what EventSource sends on reconnect) wins over the query it reconnects with
            headers = {"last-event-id": "10"}
            async with client.stream("GET", "/api/stream?after_seq=300", headers=headers) as resp:
                events: list[dict[str, str]] = []
                it = sse(resp)
                await read_ids(it, record[-1]["seq"], events)
                emit(25, start=400)  # live events after the catch-up
                s.settle()
                # the pipeline may log on its own (a session.health event on a slow machine): read up to the
                # last seq dispatched now, and compare with that, not with a later one
                last = s.pipeline.tee.last_seq
                await read_ids(it, last, events)
            async with client.stream("GET", "/api/stream?after_seq=380") as resp2:
                tail: list[dict[str, str]] = []
                await read_ids(sse(resp2), last, tail)
        ids = [int(e["id"]) for e in events]
        assert ids == list(range(11, last + 1))  # no gap, no duplicate
        assert [orjson.loads(e["data"]) for e in events[: len(record) - 10]] == record[10:]
        assert [int(e["id"]) for e in tail] == list(range(381, last + 1))
        assert s.server.hub.jsonl_reads >= 1 and s.server.hub.resyncs == 0


async def test_stream_from_an_unknown_seq_resyncs_with_a_snapshot(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        emit(5)
        s.settle()
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
            async with client.stream("GET", "/api/stream", headers={"last-event-id": "999999"}) as resp:
                it = sse(resp)
                resync, snapshot = await anext(it), await anext(it)
        assert resync["event"] == "resync" and orjson.loads(resync["data"])["reason"] == "unknown_seq"
        assert (
            snapshot["event"] == "snapshot"
            and int(snapshot["id"]) == s.reducer.state.last_seq[s.reducer.session]
        )


async def test_a_stuck_client_is_bounded_and_resynced_when_it_reads_again(tmp_path: Path) -> None:
    """A client that stops reading: its socket fills, the server's send waits, its queue overflows and is
    dropped (the pipeline and other clients go on); when it reads again it gets a resync and a snapshot."""
    async with served(tmp_path, ring_capacity=4096, max_queued=200) as s:
        loop = asyncio.get_running_loop()
        host, port = s.url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, int(port)))
        await loop.sock_sendall(sock, b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        # ... and read nothing: the socket fills
        while not s.server.hub.clients:
            await asyncio.sleep(0.01)
        (stuck,) = s.server.hub.clients
        sent = 0
        while s.server.hub.overflows == 0:  # the bot logs on, whatever the client does
            emit(200, start=sent)
            sent += 200
            s.settle()
            await asyncio.sleep(0)
            assert stuck.queued <= 200 and sent < 200_000
        assert stuck.high_water <= 200 and stuck.overflowed
        emit(50, start=sent)
        s.settle()
        assert stuck.queued == 0  # dropped: nothing more is queued for it until it resyncs
        seen = b""  # the client reads again
        while b"event: resync" not in seen:
            seen += await loop.sock_recv(sock, 1 << 16)
        sock.close()
        assert s.server.hub.resyncs == 1
        assert b'"reason":"overflow"' in seen


# --- /metrics --------------------------------------------------------------------------------------------------


async def test_metrics_parse_and_follow_the_snapshot(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        emit(10)
        s.settle()
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
            async with client.stream("GET", "/api/stream") as resp:
                await anext(sse(resp))
                text = (await client.get("/metrics")).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        samples = {x.name: x.value for f in families.values() for x in f.samples if not x.labels}
        snap = s.server.snapshots.current()
        assert samples["arbdash_pnl_net_usd"] == float(snap.model.portfolio.net_pnl)
        assert samples["arbdash_events_applied_total"] == snap.model.session.ingest.applied
        assert samples["arbdash_stream_clients"] == 1
        assert samples["arbdash_snapshot_seq"] == snap.seq
        assert families["arbdash_fees_usd"].type == "counter" and "arbdash_fees_usd_total" in samples
        assert families["arbdash_pnl_net_usd"].type == "gauge"
        assert "process_resident_memory_bytes" in samples
        for name in families:
            assert name.startswith(("arbdash_", "process_")), name
