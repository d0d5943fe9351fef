"""The bot's metrics (issue 15 item 5): cycle, scan and order timings and the pipeline's events/s and queue depth
are ``metric`` events, logged at most every few wall seconds; the reducer keeps the latest of each and the frame
shows them on one compact line (Rich and plain alike)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from events_builder import Events, build

from arbdash.bot.metrics import MetricGate
from arbdash.dashboard.folds.session import MAX_METRICS
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import metrics_line, plain_summary
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.jsonl import load
from arbdash.logging_pipeline.events import Metric


class _Log:
    def __init__(self) -> None:
        self.metrics: list[tuple[str, Decimal, str]] = []

    def metric(self, name: str, value: Decimal, unit: str = "") -> None:
        self.metrics.append((name, value, unit))


def test_the_gate_logs_the_latest_values_at_most_every_interval() -> None:
    clock = [0.0]
    log = _Log()
    gate = MetricGate(log, interval_s=10, now=lambda: clock[0])  # type: ignore[arg-type]
    gate.record("cycle_duration_ms", Decimal("1.5"), "ms")  # the first one goes out at once
    assert log.metrics == [("cycle_duration_ms", Decimal("1.5"), "ms")]
    for i in range(20):  # within the interval: kept, not logged
        clock[0] += 0.4
        gate.record("cycle_duration_ms", Decimal(i), "ms")
        gate.record("scan_duration_ms", Decimal(i) / 2, "ms")
    assert len(log.metrics) == 1
    clock[0] += 3
    gate.record("cycle_duration_ms", Decimal("7"), "ms")  # due: the latest of each
    assert log.metrics[1:] == [
        ("cycle_duration_ms", Decimal("7"), "ms"),
        ("scan_duration_ms", Decimal("9.5"), "ms"),
    ]
    gate.flush()  # nothing recorded since: nothing logged
    assert len(log.metrics) == 3


def test_the_reducer_keeps_the_latest_of_each_and_refuses_endless_names() -> None:
    e = Events()
    r = Reducer()
    r.feed(e.emit(build(Metric, name="cycle_duration_ms", value="2.5", unit="ms")))
    r.feed(e.emit(build(Metric, name="cycle_duration_ms", value="1.25", unit="ms")))
    r.feed(e.emit(build(Metric, name="events_per_s", value="850", unit="events/s")))
    snap = r.snapshot()
    assert [(m.name, m.value, m.unit) for m in snap.session.metrics] == [
        ("cycle_duration_ms", Decimal("1.25"), "ms"),
        ("events_per_s", Decimal("850"), "events/s"),
    ]
    assert metrics_line(snap.session) == "metrics cycle 1.25 ms · throughput 850 events/s"
    for i in range(MAX_METRICS + 5):
        r.feed(e.emit(build(Metric, name=f"m{i}", value="1", unit="")))
    assert len(r.snapshot().session.metrics) == MAX_METRICS
    assert r.stats.rejected  # the names beyond the cap are counted, not kept


def test_a_real_run_shows_its_metrics_in_every_frame(real_log: Path) -> None:
    events = [orjson.loads(line) for line in real_log.read_bytes().splitlines()]
    names = {e["name"] for e in events if e["event"] == "metric"}
    assert {"cycle_duration_ms", "scan_duration_ms", "order_latency_ms"} <= names
    r = Reducer()
    load(real_log, r)
    snap = r.snapshot()
    line = metrics_line(snap.session)
    assert line is not None and line.startswith("metrics cycle ")
    assert line in frame_text(snap, 200) and line in plain_summary(snap)


@pytest.mark.parametrize("bad", ["NaN", "1e999999"])
def test_a_metric_that_is_not_a_finite_number_is_refused(bad: str) -> None:
    e = Events()
    r = Reducer()
    r.feed({**e.emit(build(Metric, name="cycle_duration_ms", value="1", unit="ms")), "value": bad})
    assert r.snapshot().session.metrics == [] and r.stats.rejected
