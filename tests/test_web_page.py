"""The web dashboard (``control.web`` + ``control/static``): served with its own CSP, the cookie login and what
a cookie may do (read, never act), the session store's bounds; then in a real browser (``support_browser``):
the page draws a real paper run as the reducer folds it (net PnL, open positions, ``arbtail --once``), follows
the stream within 2 s of a new event, shows hostile log text as text, and the token flow and the commands
panel (its confirmation step and the request it sends)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from support_browser import arbtail_serve, browser_page
from test_control_api import TOKEN, log, served
from test_control_run import _run, with_token

import arbdash.tools.runbot_cli as runbot_cli
import arbdash.tools.runbot_run as runbot_run
from arbdash.bot.config import load_config
from arbdash.control.app import CSP
from arbdash.control.server import ControlServer
from arbdash.control.web import MAX_SESSIONS, PAGE_CSP, SESSION_COOKIE, SessionStore
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.text import fmt_usd
from arbdash.tools.runbot_cli import with_server

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "configs" / "funding_arb_paper.yml"
STATIC = ROOT / "control" / "static"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> & <script>alert(1)</script>"


def _client(token: str | None) -> httpx.AsyncClient:
    server = ControlServer(reducer=Reducer(), jsonl=None, token=token)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app), base_url="http://127.0.0.1")


def _cookie(resp: httpx.Response) -> str:
    header = resp.headers["set-cookie"]
    match = re.match(rf"{SESSION_COOKIE}=([^;]+);", header)
    assert match, header
    return match.group(1)


# --- server side ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, TOKEN])
async def test_page_and_static_files_served_open_with_the_page_csp(token: str | None) -> None:
    async with _client(token) as c:
        page = await c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == PAGE_CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert '<script src="/static/app.js"' in page.text
        js, css = await c.get("/static/app.js"), await c.get("/static/app.css")
        assert js.status_code == css.status_code == 200
        assert js.headers["content-type"].startswith("text/javascript")
        assert css.headers["content-type"].startswith("text/css")
        assert js.headers["content-security-policy"] == PAGE_CSP
        assert js.content == (STATIC / "app.js").read_bytes()
        for bad in ("/static/nope.js", "/static/index.html", "/static/..%2fweb.py"):
            assert (await c.get(bad)).status_code == 404, bad
        # the API keeps its strict CSP
        api = await c.get("/api/info", headers={"authorization": f"Bearer {TOKEN}"} if token else {})
        assert api.status_code == 200 and api.headers["content-security-policy"] == CSP
        assert api.json()["token_required"] is (token is not None)


def test_the_page_has_no_inline_code_and_never_writes_markup() -> None:
    html = (STATIC / "index.html").read_text()
    assert "style=" not in html and "<style" not in html
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"https?://", html + (STATIC / "app.css").read_text())  # nothing from elsewhere
    js = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    assert len(js.splitlines()) <= 600


async def test_login_cookie_reads_but_never_acts() -> None:
    async with _client(TOKEN) as c:
        assert (await c.get("/api/snapshot")).status_code == 401
        wrong = await c.post("/api/login", json={"token": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
        assert "set-cookie" not in wrong.headers
        assert (await c.post("/api/login", content=b"not json")).status_code == 400
        ok = await c.post("/api/login", json={"token": TOKEN})
        assert ok.status_code == 200 and ok.json() == {"ok": True}
        header = ok.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=strict" in header and "path=/" in header
        sid = _cookie(ok)
        assert TOKEN not in ok.headers["set-cookie"] and len(sid) >= 40
        c.cookies.clear()
        jar = {"cookie": f"{SESSION_COOKIE}={sid}"}
        for path in ("/api/info", "/api/snapshot", "/api/events", "/metrics"):
            assert (await c.get(path, headers=jar)).status_code == 200, path
        assert (await c.head("/api/snapshot", headers=jar)).status_code == 200
        # a cookie never acts: any other method needs the bearer token (the guard refuses before routing)
        for path in ("/api/commands", "/api/snapshot"):
            refused = await c.post(path, headers=jar, json={"id": "x", "command": "flatten_all"})
            assert refused.status_code == 401, path
        # a wrong bearer token is not rescued by a good cookie
        both = {**jar, "authorization": "Bearer wrong"}
        assert (await c.get("/api/snapshot", headers=both)).status_code == 401
        assert (
            await c.get("/api/snapshot", headers={"cookie": f"{SESSION_COOKIE}=forged"})
        ).status_code == 401
        out = await c.post("/api/logout", headers=jar)
        assert out.status_code == 200 and SESSION_COOKIE in out.headers["set-cookie"]
        assert (await c.get("/api/snapshot", headers=jar)).status_code == 401


async def test_failed_logins_are_bounded() -> None:
    async with _client(TOKEN) as c:
        codes = [(await c.post("/api/login", json={"token": f"bad{i}"})).status_code for i in range(25)]
        assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}


def test_the_login_bound_is_per_address_and_overall_and_forgets() -> None:
    """One address guessing is refused without locking out another; guessing spread over many addresses is
    bounded too; a minute later an address may try again; the addresses remembered are bounded."""
    from arbdash.control.web import _LoginLimiter

    now = [0.0]
    limiter = _LoginLimiter(3, max_clients=8, clock=lambda: now[0])
    for _ in range(3):
        assert not limiter.blocked("10.0.0.9")
        limiter.failed("10.0.0.9")
    assert limiter.blocked("10.0.0.9") and not limiter.blocked("127.0.0.1")
    for i in range(3 * _LoginLimiter.ALL_CLIENTS_FACTOR - 3):  # spread over many addresses
        limiter.failed(f"10.1.0.{i}")
    assert limiter.blocked("127.0.0.1")  # the overall bound
    assert len(limiter._by_client) <= 8
    now[0] = 60.0
    assert not limiter.blocked("10.0.0.9") and not limiter.blocked("127.0.0.1")


async def test_without_a_token_the_page_reads_freely_on_loopback_only() -> None:
    async with _client(None) as c:
        assert (await c.get("/")).status_code == 200
        assert (await c.get("/api/snapshot")).status_code == 200
        assert (await c.post("/api/login", json={"token": "x"})).status_code == 400
        assert (await c.get("/", headers={"host": "evil.example"})).status_code == 421
        assert (await c.get("/static/app.js", headers={"host": "evil.example"})).status_code == 421


def test_session_store_is_bounded_and_expires() -> None:
    now = [0.0]
    store = SessionStore(max_sessions=3, ttl_s=100.0, clock=lambda: now[0])
    ids = [store.create() for _ in range(4)]
    assert len(store) == 3 and not store.valid(ids[0]) and all(store.valid(i) for i in ids[1:])
    assert len(set(ids)) == 4 and all(len(i) >= 40 for i in ids)
    store.drop(ids[1])
    assert not store.valid(ids[1]) and not store.valid(None) and not store.valid("x" * 500)
    now[0] = 100.0
    assert not store.valid(ids[2])
    store.create()
    assert len(store) == 1  # expired ones purged
    assert SessionStore().max_sessions == MAX_SESSIONS == 256


def test_a_missing_browser_skips_or_fails_as_required(monkeypatch: pytest.MonkeyPatch) -> None:
    import support_browser

    monkeypatch.setattr(support_browser.shutil, "which", lambda name: None)
    monkeypatch.delenv("ARBDASH_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        support_browser.require_browser()
    monkeypatch.setenv("ARBDASH_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="ARBDASH_REQUIRE_BROWSER=1"):
        support_browser.require_browser()


# --- in a browser: a served pipeline on the test's loop -------------------------------------------------------


async def _page_state(page: Any) -> dict[str, Any]:
    """What the page shows now, read in one go (the page draws synchronously, so this is one frame)."""
    return await page.evaluate(
        """() => ({
            seq: Number(document.getElementById('seq').dataset.seq || -1),
            net: (document.getElementById('net-pnl') || {}).textContent,
            open: [...document.querySelectorAll('#p-open tbody tr')].map((r) => r.dataset.id),
            conn: document.getElementById('conn').textContent,
        })"""
    )


async def test_browser_follows_the_stream_and_shows_hostile_text_as_text(tmp_path: Path) -> None:
    async with served(tmp_path) as s, browser_page() as page:
        log.info("warming up")
        s.settle()
        await page.goto(s.url + "/")
        await page.locator("#conn", has_text="connected").wait_for(timeout=10_000)
        await page.locator("#p-timeline", has_text="warming up").wait_for(timeout=5_000)
        before = (await _page_state(page))["seq"]
        for i in range(3):  # each event reaches the page within 2 s (throttled snapshot re-fetch)
            started = time.monotonic()
            log.warning(f"{HOSTILE} #{i}")
            await page.locator("#p-timeline td", has_text=f"{HOSTILE} #{i}").wait_for(timeout=2_000)
            assert time.monotonic() - started < 2.0
        state = await _page_state(page)
        assert state["seq"] >= before + 3 and state["conn"] == "connected"
        assert await page.locator("#p-timeline img, #p-timeline script").count() == 0
        assert await page.locator("img").count() == 0
        assert await page.title() == "arbdash"
        text = await page.locator("#p-timeline").inner_text()
        assert "<img src=x" in text and "<script>alert(1)</script>" in text
        assert not page.problems, page.problems


async def test_browser_token_flow_and_commands_panel(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []

    async def fake_info(route: Any) -> None:  # the command desk is built elsewhere: the page's side only
        resp = await route.fetch()
        body = await resp.json()
        await route.fulfill(response=resp, json={**body, "commands": True})

    async def fake_commands(route: Any) -> None:
        req = route.request
        sent.append({"auth": await req.header_value("authorization"), "body": req.post_data_json})
        cmd = req.post_data_json
        answer = {
            "id": cmd["id"],
            "command": cmd["command"],
            "status": "executed",
            "reason": None,
            "message": f"done <b>{cmd['command']}</b>",
            "duplicate": False,
        }
        await route.fulfill(status=200, json=answer)

    async with served(tmp_path, token=TOKEN) as s, browser_page() as page:
        log.info("opened P0001-BTC (not really)")
        s.settle()
        await page.route("**/api/info*", fake_info)
        await page.route("**/api/commands", fake_commands)
        await page.goto(s.url + "/")
        await page.locator("#login").wait_for(state="visible", timeout=5_000)
        assert await page.locator("#dash").is_hidden()
        await page.fill("#token", "wrong-token")
        await page.click("#login-btn")
        await page.locator("#login-msg", has_text="invalid token").wait_for(timeout=5_000)
        await page.fill("#token", TOKEN)
        await page.press("#token", "Enter")
        await page.locator("#conn", has_text="connected").wait_for(timeout=10_000)
        assert await page.locator("#login").is_hidden()
        assert await page.evaluate("() => sessionStorage.getItem('arbdash_token')") == TOKEN
        assert SESSION_COOKIE not in await page.evaluate("() => document.cookie")  # HttpOnly
        (cookie,) = [c for c in await page.context.cookies() if c["name"] == SESSION_COOKIE]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != TOKEN

        # commands: pause acts at once; flatten needs the inline confirmation
        await page.click("text=Pause entries")
        await page.locator("#cmd-msg", has_text="pause_entries: executed").wait_for(timeout=5_000)
        assert "<b>pause_entries</b>" in await page.locator("#cmd-msg").inner_text()  # text, not markup
        await page.click("text=Flatten all")
        assert len(sent) == 1
        await page.click("#p-commands >> text=cancel")
        await page.click("text=Flatten all")
        await page.click("#p-commands >> text=confirm")
        await page.locator("#cmd-msg", has_text="flatten_all: executed").wait_for(timeout=5_000)
        await page.select_option("#limit-name", "max_total_exposure_usd")
        await page.fill("#limit-value", "2500.5")
        await page.click("text=Set limit")
        await page.locator("#cmd-msg", has_text="set_limit: executed").wait_for(timeout=5_000)
        assert [x["body"]["command"] for x in sent] == ["pause_entries", "flatten_all", "set_limit"]
        assert all(x["auth"] == f"Bearer {TOKEN}" for x in sent)
        assert all(re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", x["body"]["id"]) for x in sent)
        assert sent[2]["body"] == {
            "id": sent[2]["body"]["id"],
            "command": "set_limit",
            "limit": "max_total_exposure_usd",
            "value": "2500.5",
        }

        # logout: the cookie is gone server-side, the page asks for the token again
        await page.click("#logout")
        await page.locator("#login").wait_for(state="visible", timeout=5_000)
        jar = {"cookie": f"{SESSION_COOKIE}={cookie['value']}"}
        async with httpx.AsyncClient(base_url=s.url) as c:
            assert (await c.get("/api/snapshot", headers=jar)).status_code == 401
        unexpected = [p for p in page.problems if "401" not in p]
        assert not unexpected, unexpected


async def test_browser_replay_hooks_time_slider_fleet_and_session_param(tmp_path: Path) -> None:
    """The replay server (``arbtail serve``) is built elsewhere: its answers are stood in for here, the page's
    side is what is checked — the slider asks for ``?at=`` (UTC), the fleet table links each session, and
    ``?session=`` is passed on to the per-session reads."""
    seen: list[str] = []
    history = {"first": "2026-03-10T00:00:00Z", "last": "2026-03-10T02:00:00Z", "clock": "market"}
    fleet = [
        {
            "session_id": "aaaa1111-x",
            "strategy": "funding_arbitrage",
            "health": "stopped",
            "net_pnl": "-1.505",
            "last_event_ts": "2026-03-10T02:00:00Z",
            "host": "<b>h1</b>",
        },
        {
            "session_id": "bbbb2222-y",
            "strategy": "funding_arbitrage",
            "health": "running",
            "net_pnl": "2.25",
            "open_positions": 1,
        },
    ]

    async def fake_info(route: Any) -> None:
        seen.append(route.request.url)
        body = {
            "mode": "replay",
            "session_id": "aaaa1111-x",
            "token_required": False,
            "commands": False,
            "fleet": True,
            "history": history,
        }
        await route.fulfill(json=body)

    async def fake_sessions(route: Any) -> None:
        seen.append(route.request.url)
        await route.fulfill(json={"sessions": fleet})

    async def per_session(route: Any) -> None:  # the live server knows no ?session= / ?at=: strip them
        url = route.request.url
        seen.append(url)
        await route.continue_(url=url.split("?")[0])

    async with served(tmp_path) as s, browser_page() as page:
        log.info("replayed event")
        s.settle()
        await page.route("**/api/info*", fake_info)
        await page.route("**/api/sessions*", fake_sessions)
        await page.route("**/api/snapshot*", per_session)
        await page.route("**/api/stream*", per_session)
        await page.goto(s.url + "/?session=aaaa1111-x")
        await page.locator("#conn", has_text="connected").wait_for(timeout=10_000)
        await page.locator("#fleet tbody tr").nth(1).wait_for(timeout=5_000)
        links = await page.eval_on_selector_all("#fleet a", "(as) => as.map((a) => a.getAttribute('href'))")
        assert links == ["/?session=aaaa1111-x", "/?session=bbbb2222-y"]
        assert await page.locator("#fleet .neg", has_text="-1.50").count() == 1  # half-even: -1.505 -> -1.50
        assert await page.locator("#fleet .pos", has_text="+2.25").count() == 1
        assert "<b>h1</b>" in await page.locator("#fleet").inner_text()
        assert "n/a" in await page.locator("#fleet").inner_text()  # a key one session lacks
        assert any("/api/snapshot?session=aaaa1111-x" in u for u in seen)
        assert any("/api/stream?session=aaaa1111-x" in u for u in seen)
        assert any("/api/info?session=aaaa1111-x" in u for u in seen)  # that session's span for the slider
        assert not [u for u in seen if "/api/sessions" in u and "?" in u]
        await page.locator("#replay").wait_for(state="visible")
        await page.locator("#slider").fill("3600")
        await page.locator("#slider-time", has_text="2026-03-10T01:00:00Z").wait_for(timeout=2_000)
        await page.wait_for_function("() => document.getElementById('conn').textContent === 'history'")
        for _ in range(40):
            if any("at=2026-03-10T01%3A00%3A00Z" in u for u in seen):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(seen)
        await page.click("#live-btn")
        await page.locator("#conn", has_text="connected").wait_for(timeout=2_000)
        assert not page.problems, page.problems


# --- in a browser: a real paper run -------------------------------------------------------------------------


def _paper_opts(tmp_path: Path) -> runbot_run.RunOptions:
    """Two market days at 12 market hours per wall second (about 4 s): positions open on the way."""
    cfg = with_server(load_config(SHIPPED), "127.0.0.1:0")
    market = cfg.market.model_copy(
        update={"start": datetime(2026, 3, 4, 12, tzinfo=UTC), "end": datetime(2026, 3, 6, 12, tzinfo=UTC)}
    )
    return runbot_run.RunOptions(
        config=cfg.model_copy(update={"market": market}),
        config_path=SHIPPED,
        mode=runbot_cli.DashboardMode.silent,
        speed=Decimal(43200),
        log_dir=tmp_path,
        level="INFO",
        width=120,
        final_frame=None,
    )


async def _events_upto(url: str, seq: int) -> list[bytes]:
    """The session's event lines 1..``seq`` from ``/api/events`` (ring, else the JSONL)."""
    lines: list[bytes] = []
    after = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        while after < seq:
            for _ in range(100):
                body = (await c.get("/api/events", params={"after_seq": after, "limit": 1000})).json()
                if body["events"]:
                    break
                await asyncio.sleep(0.05)  # the JSONL writer has not flushed these yet
            for ev in body["events"]:
                if ev["seq"] <= seq:
                    lines.append(orjson.dumps(ev))
            after = body["next_after_seq"]
    return lines


def test_browser_draws_a_real_paper_run_as_the_reducer_folds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts = _paper_opts(tmp_path)
    seen: dict[str, Any] = {}

    async def bot(server: Any, real_bot: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async with browser_page() as page:
            await page.goto(server.url + "/")
            await page.locator("#conn", has_text="connected").wait_for(timeout=15_000)
            trading = asyncio.create_task(real_bot(*args, **kwargs))
            # mid-run: the page shows the fold of exactly the events up to the seq it shows
            await page.locator("#p-open tbody tr").first.wait_for(timeout=30_000)
            mid = await _page_state(page)
            reducer = Reducer(timeline_size=opts.config.dashboard.max_event_rows)
            reducer.feed_lines(await _events_upto(server.url, mid["seq"]))
            want = reducer.snapshot()
            assert mid["net"] == fmt_usd(want.portfolio.net_pnl, signed=True)
            assert mid["open"] == [
                p.position_id for p in want.positions if p.lifecycle not in ("closed", "rolled_back")
            ]
            assert mid["open"]
            seen["mid_risk"] = await page.locator("#risk").inner_text()  # positions open, two days of history
            result = await trading
            # the end of the run: once the reducer has folded the last trades (the service folds every
            # 0.25 s), the page shows that snapshot within 2 s
            await asyncio.sleep(1.0)
            last = server.snapshots.current()
            await page.wait_for_function(
                f"() => Number(document.getElementById('seq').dataset.seq) >= {last.seq}", timeout=2_000
            )
            end = await _page_state(page)
            assert end["seq"] == last.seq == server.snapshots.current().seq
            # the risk figures and the venue accounts, as the snapshot has them (two days in: no VaR yet, and
            # at the end nothing open)
            risk = orjson.loads(last.body)["snapshot"]["portfolio"]["risk"]
            said = await page.locator("#risk").inner_text()
            assert ("no open leg" if risk["empty"] else f"needs {risk['needed_hours']} h") in said
            mid_risk = seen.get("mid_risk")
            # the hours of marks 168 one-day scenarios take: 168 + 24
            assert mid_risk is not None and "needs 192 h" in mid_risk
            accounts = await page.locator("#p-accounts tbody tr").all_inner_texts()
            assert sorted(row.split()[0] for row in accounts) == ["binance", "bybit", "hyperliquid"]
            body = orjson.loads(last.body)
            seen["end"], seen["body"], seen["mid"] = end, body, mid
            seen["problems"] = list(page.problems)
            await page.screenshot(path=str(tmp_path / "web-dashboard.png"), full_page=True)
        return result

    assert _run(tmp_path, monkeypatch, bot, opts=opts)[0] == 0
    end, body = seen["end"], seen["body"]
    assert end["net"] == fmt_usd(Decimal(body["snapshot"]["portfolio"]["net_pnl"]), signed=True)
    assert not seen["problems"], seen["problems"]
    # ... and the same figure as arbtail's frame of the finished log
    (jsonl,) = tmp_path.glob("*.jsonl")
    out = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.arbtail", str(jsonl), "--once", "--width", "120"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    match = re.search(r"net (\S+) USD ·", out.stdout)
    assert match, out.stdout
    assert match.group(1) == end["net"]


def test_commands_from_the_page_reach_the_bot_and_its_timeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paper run with a token, the page logged in: Pause entries → the bot pauses (the session pane says so and
    the command's events show in the page's timeline); close on an open position, confirmed → it closes with
    OPERATOR_CLOSE. Nothing faked: the real desk, the real strategy, the real record."""
    opts = with_token(_paper_opts(tmp_path), TOKEN)
    market = opts.config.market.model_copy(update={"end": datetime(2026, 3, 5, 20, tzinfo=UTC)})
    opts = dataclasses.replace(
        opts, config=opts.config.model_copy(update={"market": market}), speed=Decimal(10800)
    )
    seen: dict[str, Any] = {}

    async def bot(server: Any, real_bot: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        trading = asyncio.create_task(real_bot(*args, **kwargs))
        async with browser_page() as page:
            await page.goto(server.url + "/")
            await page.fill("#token", TOKEN)
            await page.press("#token", "Enter")
            await page.locator("#conn", has_text="connected").wait_for(timeout=15_000)
            row = page.locator("#p-open tbody tr").first
            await row.wait_for(timeout=60_000)
            pid = await row.get_attribute("data-id")
            await row.locator("text=close").click()
            await row.locator("text=confirm").click()
            await page.locator("#cmd-msg", has_text="close_position: executed").wait_for(timeout=10_000)
            await page.locator("#p-timeline td", has_text=f"Closed {pid}").wait_for(timeout=5_000)
            await page.click("text=Pause entries")
            await page.locator("#cmd-msg", has_text="pause_entries: executed").wait_for(timeout=10_000)
            await page.locator("#entries-paused").wait_for(timeout=5_000)
            await page.locator("#p-timeline td", has_text="Command pause_entries executed").wait_for(
                timeout=5_000
            )
            await page.click("text=Resume entries")
            await page.locator("#cmd-msg", has_text="resume_entries: executed").wait_for(timeout=10_000)
            seen["pid"] = pid
            seen["problems"] = [p for p in page.problems if "401" not in p]  # the read before the login
        return await trading

    code, _server, jsonl = _run(tmp_path, monkeypatch, bot, opts=opts)
    assert code == 0
    record = [orjson.loads(x) for x in jsonl.read_bytes().splitlines()]
    received = [e for e in record if e["event"] == "command.received"]
    assert [e["command"] for e in received] == ["close_position", "pause_entries", "resume_entries"]
    assert all(e["source"] == "http" and e["command_id"].startswith("web-") for e in received)
    (closed,) = [e for e in record if e["event"] == "position.closed" and e["position_id"] == seen["pid"]]
    assert closed["reason"] == "OPERATOR_CLOSE"
    assert not seen["problems"], seen["problems"]


async def test_browser_shows_the_strategies_section_of_a_replayed_session(tmp_path: Path) -> None:
    """``arbtail serve`` on a two-strategy log: the page's strategies pane has a row per instance whose net PnL
    is the one recomputed here from the raw events, and the positions tables name each position's strategy."""
    from support_strategies import recompute, two_strategy_session, write_jsonl

    events = two_strategy_session()
    log_path = write_jsonl(tmp_path / "two.jsonl", events)
    expected = recompute(events)
    with arbtail_serve(log_path) as url:
        async with browser_page() as page:
            await page.goto(url + "/")
            await page.locator("#p-strategies tbody tr").first.wait_for(timeout=10_000)
            rows = await page.evaluate(
                """() => [...document.querySelectorAll('#p-strategies tbody tr')].map(
                    (r) => [...r.querySelectorAll('td')].map((c) => c.textContent))"""
            )
            header = await page.evaluate(
                "() => [...document.querySelectorAll('#p-strategies thead th')].map((c) => c.textContent.trim())"
            )
            net_at = header.index("Net USD")
            shown = {row[0]: Decimal(row[net_at].replace(",", "").replace("+", "")) for row in rows}
            assert set(shown) == {name for name in expected if name is not None}
            for name, value in shown.items():
                assert value == expected[name]["net"].quantize(Decimal("0.01")), name
            assert "Strategy" in await page.locator("#p-closed thead, #p-open thead").first.inner_text()
            assert not page.problems, page.problems
