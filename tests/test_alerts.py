"""Alerts (issue 13 §5): rules checked before the run, the engine's fire / resolve / cooldown on a replay
(deterministic), delivery through apprise to a real local HTTP receiver (retried after a 500; a dead receiver
counted, never waited for by the caller), and a paper run whose alerts are events in its record."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_builder import Events, build, fill, leg, mark, opened, started
from pydantic import ValidationError

from arbdash.alerts.config import AlertRule, AlertsConfig
from arbdash.alerts.engine import AlertEngine
from arbdash.alerts.notify import Notifier
from arbdash.dashboard.reducer import Reducer
from arbdash.logging_pipeline.events import VenueConnected

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "configs" / "funding_arb_paper.yml"


# --- config ---------------------------------------------------------------------------------------------------


def test_rules_are_checked_before_the_run() -> None:
    ok = AlertsConfig(rules=[AlertRule(name="dd", figure="net_pnl_drawdown_usd", above=Decimal(50))])
    assert ok.rules[0].threshold == 50 and ok.rules[0].breached(Decimal("50.01"))
    bad = [
        {"rules": [{"name": "x", "figure": "moon_phase", "above": 1}]},  # unknown figure
        {"rules": [{"name": "x", "figure": "net_pnl_usd", "above": 1, "below": 2}]},  # both
        {"rules": [{"name": "x", "figure": "net_pnl_usd"}]},  # neither
        {"rules": [{"name": "x", "figure": "net_pnl_usd", "above": 1}] * 2},  # one name twice
        {"notify": ["nosuchscheme://example"]},  # apprise cannot use it
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            AlertsConfig.model_validate(data)


def test_a_config_with_a_bad_rule_is_one_line_and_exit_2(tmp_path: Path) -> None:
    text = SHIPPED.read_text() + "\nalerts:\n  rules:\n    - {name: x, figure: moon_phase, above: 1}\n"
    cfg = tmp_path / "bad.yml"
    cfg.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.runbot_cli", "--config", str(cfg), "--speed", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "alerts.rules.0.figure" in line and "moon_phase" in line and "bad.yml:" in line


# --- the engine on a replay ------------------------------------------------------------------------------------


def _session() -> tuple[Events, list[dict[str, Any]]]:
    e = Events()
    lines = [started(e)]
    for venue in ("binance", "bybit"):
        lines.append(
            e.emit(
                build(
                    VenueConnected,
                    venue=venue,
                    quote="USDT",
                    funding_interval_s=28800,
                    taker_fee_rate="0",
                    maker_fee_rate="0",
                )
            )
        )
    lines += [
        fill(e, "P1", "binance", "buy", "0.5", "60000", "0"),
        fill(e, "P1", "bybit", "sell", "0.5", "60000", "0"),
        opened(
            e, "P1", [leg("binance", "long", "0.5", "60000", "0"), leg("bybit", "short", "0.5", "60000", "0")]
        ),
        mark(e, "bybit", "60000"),
    ]
    return e, lines


def _replay(
    rules: list[AlertRule], lines: list[dict[str, Any]]
) -> list[tuple[int, str, str, Decimal | None]]:
    """Fold ``lines`` one by one and evaluate after each: ``(seq, kind, rule, value)`` of every transition."""
    reducer, engine, out = Reducer(), AlertEngine(rules), []
    for line in lines:
        reducer.feed_line(orjson.dumps(line))
        snap = reducer.snapshot()
        assert snap.generated_at is not None
        for t in engine.evaluate(snap, snap.generated_at):
            out.append((line["seq"], t.kind, t.rule.name, t.value))
    return out


def test_drawdown_fires_once_and_resolves_at_the_right_events() -> None:
    e, lines = _session()
    path = ["60100", "60000", "59990", "60080", "60000", "60200"]  # net +50, 0 (dd 50), -5, +40, 0, +100
    marks = [mark(e, "binance", px) for px in path]
    rule = AlertRule(name="dd", figure="net_pnl_drawdown_usd", above=Decimal(30), cooldown_s=0)
    got = _replay([rule], lines + marks)
    seqs = [m["seq"] for m in marks]
    assert got == [
        (seqs[1], "fired", "dd", Decimal("50.0")),  # peak +50 → 0
        (seqs[3], "resolved", "dd", Decimal("10.0")),  # back to +40
        (seqs[4], "fired", "dd", Decimal("50.0")),  # 0 again: the peak is still +50
        (seqs[5], "resolved", "dd", Decimal("0")),  # a new peak
    ]
    assert got == _replay([rule], lines + marks)  # deterministic


def test_the_cooldown_holds_a_flapping_alert_and_resolves_it_silently() -> None:
    e, lines = _session()
    marks = [mark(e, "binance", px) for px in ["60100", "60000", "60080", "60000", "60080"]]
    rule = AlertRule(name="dd", figure="net_pnl_drawdown_usd", above=Decimal(30), cooldown_s=3600)
    engine_rules = [rule]
    got = _replay(engine_rules, lines + marks)
    assert [(k, r) for _, k, r, _ in got] == [("fired", "dd"), ("resolved", "dd")]  # the second one held back


def test_the_cooldown_runs_on_the_market_clock() -> None:
    """A paper replay runs days of market time in seconds of wall time: the cooldown counts market time, so an
    alert that flaps two market hours apart fires twice under a one-hour cooldown (and its line is rounded)."""
    e, lines = _session()
    marks = []
    for hour, px in enumerate(["60100", "60000", "60080", "60000"]):
        e.market = f"2026-03-01T{9 + 2 * hour:02d}:00:00+00:00"
        marks.append(mark(e, "binance", px))
    rule = AlertRule(name="dd", figure="net_pnl_drawdown_usd", above=Decimal(30), cooldown_s=3600)
    got = _replay([rule], lines + marks)
    assert [(k, r) for _, k, r, _ in got] == [("fired", "dd"), ("resolved", "dd"), ("fired", "dd")]
    reducer, engine, found = Reducer(), AlertEngine([rule]), []
    for line in lines + marks[:2]:
        reducer.feed_line(orjson.dumps(line))
        snap = reducer.snapshot()
        assert snap.generated_at is not None
        found += engine.evaluate(snap, snap.generated_at)
    (t,) = found
    assert t.describe() == "WARNING dd: net_pnl_drawdown_usd 50.00 > 30 USD"


def test_per_position_alerts_and_a_stalled_bot() -> None:
    e, lines = _session()
    lines.append(mark(e, "binance", "60000"))
    div = AlertRule(name="div", figure="divergence_pct", above=Decimal("0.1"), cooldown_s=0)
    stall = AlertRule(name="stall", figure="seconds_since_event", above=Decimal(30), severity="critical")
    reducer, engine = Reducer(), AlertEngine([div, stall])
    reducer.feed_lines([orjson.dumps(x) for x in lines])
    snap = reducer.snapshot()
    assert snap.generated_at is not None
    assert engine.evaluate(snap, snap.generated_at) == []
    reducer.feed_line(orjson.dumps(mark(e, "bybit", "60120")))  # 0.2 % apart
    snap = reducer.snapshot()
    assert snap.generated_at is not None
    (t,) = engine.evaluate(snap, snap.generated_at)
    assert (t.kind, t.key, t.value) == ("fired", "P1", Decimal("0.2000"))
    later = snap.generated_at + timedelta(seconds=45)  # nothing folded for 45 s of wall time
    (t,) = engine.evaluate(snap, later)
    assert (t.rule.name, t.kind, t.value) == ("stall", "fired", Decimal(45))
    reducer.feed_line(orjson.dumps(mark(e, "bybit", "60000")))
    snap = reducer.snapshot()
    assert snap.generated_at is not None
    kinds = {(t.rule.name, t.kind) for t in engine.evaluate(snap, snap.generated_at)}
    assert kinds == {("div", "resolved"), ("stall", "resolved")}


def test_alerts_over_a_real_replay_are_deterministic_and_consistent(real_log: Path) -> None:
    """Per market hour over the first 25 days of a real paper run: every firing is past its threshold, every
    resolution within it, they alternate per alert, and a second pass gives the same sequence."""
    rules = [
        AlertRule(name="dd", figure="net_pnl_drawdown_usd", above=Decimal(5), cooldown_s=0),
        AlertRule(name="eroded", figure="position_erosion_pct", above=Decimal(60), cooldown_s=0),
    ]

    def run() -> list[tuple[str, str, str, Decimal | None]]:
        reducer, engine, out = Reducer(), AlertEngine(rules), []
        hour = None
        lines = real_log.read_bytes().splitlines()
        first = next(t for x in lines if (t := orjson.loads(x).get("market_ts")))
        until = (datetime.fromisoformat(first) + timedelta(days=25)).isoformat()
        for raw in lines:
            ts = orjson.loads(raw).get("market_ts")
            if ts is not None and ts > until:
                break
            if ts is not None and ts[:13] != hour and hour is not None:
                snap = reducer.snapshot()
                assert snap.generated_at is not None
                out += [
                    (hour, t.kind, f"{t.rule.name}:{t.key}", t.value)
                    for t in engine.evaluate(snap, snap.generated_at)
                ]
            hour = ts[:13] if ts is not None else hour
            reducer.feed_line(raw)
        return out

    first = run()
    assert first and first == run()
    state: dict[str, str] = {}
    for _, kind, ident, value in first:
        rule = next(r for r in rules if ident.startswith(r.name + ":"))
        assert state.get(ident, "resolved") != kind  # fired and resolved alternate
        state[ident] = kind
        if kind == "fired":
            assert value is not None and rule.breached(value)
        elif value is not None:
            assert not rule.breached(value)


# --- delivery --------------------------------------------------------------------------------------------------


class _Receiver:
    """A local HTTP receiver: answers each POST with the next status of ``statuses`` (then 200), keeps bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("content-length", "0"))
                outer.bodies.append(orjson.loads(self.rfile.read(length)))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver([500])
    yield r
    r.close()


def _wait(ok: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_delivery_is_retried_after_a_500(receiver: _Receiver) -> None:
    failures: list[str] = []
    n = Notifier([f"json://127.0.0.1:{receiver.port}/hook"], backoff_s=0.05, on_failure=failures.append)
    assert n.send("arbdash: dd", "WARNING dd: net_pnl_drawdown_usd 50 > 30 USD", "warning")
    _wait(lambda: n.sent == 1, "the delivery")
    n.close()
    assert len(receiver.bodies) == 2  # the 500, then the retry that got 200
    assert receiver.bodies[-1]["title"] == "arbdash: dd" and "drawdown" in receiver.bodies[-1]["message"]
    assert n.failed == 0 and not failures


def test_a_dead_receiver_is_counted_and_never_waited_for() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    failures: list[str] = []
    n = Notifier([f"json://127.0.0.1:{port}/hook"], retries=1, backoff_s=0.01, on_failure=failures.append)
    # every delivery is held before it reaches the dead receiver until the test lets it go (longer than the join
    # below): a send that delivered, or waited for a delivery, could not return before the release
    deliver, held = n._apprise.notify, threading.Event()
    n._apprise.notify = lambda **kw: held.wait(600) and deliver(**kw)  # type: ignore[method-assign]
    sender = threading.Thread(
        target=lambda: [n.send("arbdash", f"alert {i}", "critical") for i in range(5)], daemon=True
    )
    sender.start()
    sender.join(60)  # a hang guard, not a speed claim
    try:
        assert not sender.is_alive()  # send only queues: all five returned while delivery is still held
        # nothing delivered yet (the worker holds at most one message)
        assert n.sent == n.failed == 0 and n.pending >= 4
    finally:
        held.set()
    _wait(lambda: n.failed == 5, "five failed deliveries")
    n.close()
    assert failures and "not delivered" in failures[-1]


def test_a_full_queue_drops_and_counts() -> None:
    with socket.socket() as s:  # accepts connections and never answers: the worker hangs on its timeout
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        n = Notifier([f"json://127.0.0.1:{s.getsockname()[1]}/hook"], queue_size=2, retries=0, timeout_s=2)
        results = [n.send("arbdash", f"alert {i}", "info") for i in range(6)]
        assert results.count(False) >= 3 and n.dropped >= 3
        n.close(timeout_s=0.2)


# --- in a paper run --------------------------------------------------------------------------------------------


def test_a_paper_run_logs_its_alerts_and_delivers_them(tmp_path: Path, receiver: _Receiver) -> None:
    hook = f"json://127.0.0.1:{receiver.port}/secret-hook-path-1234"
    text = SHIPPED.read_text().replace("speed: 3600 ", "speed: 0    ")
    text += (
        "\nalerts:\n"
        f"  notify: ['{hook}']\n"
        "  rules:\n"
        # net PnL, not a drawdown: the watcher samples the live reducer once a wall second, so a drawdown from
        # a peak depends on which moments it saw; the run's net is below −1 USD from its first closed position
        # on, and the close sequence always evaluates once more (deterministic)
        "    - {name: drawdown, figure: net_pnl_usd, below: -1, severity: warning, cooldown_s: 0}\n"
    )
    cfg = tmp_path / "alerts.yml"
    cfg.write_text(text)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "arbdash.tools.runbot_cli",
            "--config",
            str(cfg),
            "--dashboard-mode=silent",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    raw = jsonl.read_text()
    record = [orjson.loads(x) for x in raw.splitlines()]
    fired = [e for e in record if e["event"] == "alert.fired"]
    assert fired and all(e["alert"] == "drawdown" and Decimal(e["value"]) < -1 for e in fired)
    assert all(e["level"] == "warning" for e in fired)
    assert record[-1]["event"] == "session.stopped"
    assert "secret-hook-path-1234" not in raw  # the notification URL is a secret
    _wait(lambda: len(receiver.bodies) >= 1, "a delivered alert")
    assert any("drawdown" in b["title"] for b in receiver.bodies)


def test_metrics_count_alerts_and_what_the_cooldown_held_back() -> None:
    """Suppressed firings are silent by design; /metrics is where they are counted (by rule), beside what
    fired, resolved and what the notifier delivered, failed or dropped."""
    from prometheus_client.parser import text_string_to_metric_families

    from arbdash.control.metrics import AlertStats, ArbdashCollector, RuntimeStats, exposition, make_registry
    from arbdash.control.snapshots import SnapshotSource

    e, lines = _session()
    marks = [mark(e, "binance", px) for px in ["60100", "60000", "60080", "60000", "60080"]]
    rule = AlertRule(name="dd", figure="net_pnl_drawdown_usd", above=Decimal(30), cooldown_s=3600)
    reducer, engine = Reducer(), AlertEngine([rule])
    for line in lines + marks:
        reducer.feed_line(orjson.dumps(line))
        snap = reducer.snapshot()
        assert snap.generated_at is not None
        engine.evaluate(snap, snap.generated_at)
    stats = AlertStats(fired=1, resolved=1, suppressed=tuple(engine.suppressed.items()), sent=1, failed=1)
    collector = ArbdashCollector(SnapshotSource(reducer), runtime=lambda: RuntimeStats(alerts=stats))
    text = exposition(make_registry(collector, process=False)).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("arbdash_alerts_suppressed_total", (("rule", "dd"),))] == engine.suppressed["dd"] == 1
    assert samples[("arbdash_alerts_fired_total", ())] == 1
    assert samples[("arbdash_alert_notifications_failed_total", ())] == 1
    assert samples[("arbdash_alert_notifications_dropped_total", ())] == 0


def test_an_alerts_timeline_category_follows_its_severity() -> None:
    """A critical alert is an ``error`` row of the timeline (its level is ``error``), a warning a ``warning``
    row, an info alert an ``info`` row — not every alert a ``warning``."""
    from arbdash.alerts.watch import _LEVEL as level  # severity → the level the watcher logs it at
    from arbdash.logging_pipeline.catalogue import CATALOGUE

    assert {s: CATALOGUE.category_for("alert.fired", level[s]) for s in level} == {
        "info": "info",
        "warning": "warning",
        "critical": "error",
    }
    assert CATALOGUE.category_for("alert.resolved", "info") == "info"
    assert CATALOGUE.category_for("position.opened", "error") == "execution"  # a declared category stays
