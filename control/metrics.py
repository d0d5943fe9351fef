"""``/metrics``: Prometheus exposition (``prometheus_client``), read from the latest snapshot at scrape time.

A custom collector (``ArbdashCollector``) builds every family when Prometheus scrapes, on the event loop, from
``SnapshotSource.current()`` (cached per reducer version) and a few counters the server and the pipeline already
keep — nothing is counted per event for metrics' sake. Names follow Prometheus conventions: the ``arbdash_``
prefix, base units in the name (``_usd``, ``_seconds``, ``_ratio``), ``_total`` for counters (monotonic over a
session: a restarted bot starts them again, which ``rate()`` handles). Money is ``Decimal`` in the snapshot and a
float64 here (Prometheus has no other number type); the exact figures are in ``/api/snapshot``.

Families (labels in braces):

* PnL and funding (USD, session totals as the dashboard's portfolio pane shows them): ``arbdash_pnl_realized_usd``,
  ``arbdash_pnl_unrealized_usd``, ``arbdash_pnl_net_usd``, ``arbdash_funding_actual_usd``,
  ``arbdash_funding_expected_usd``, ``arbdash_fees_usd_total``; per position not closed
  ``arbdash_position_net_pnl_usd{position_id,symbol}`` and ``arbdash_position_unrealized_pnl_usd{...}``;
* per strategy instance (``{strategy}``; each adds up to the session figure): ``arbdash_strategy_pnl_realized_usd``,
  ``arbdash_strategy_pnl_unrealized_usd``, ``arbdash_strategy_pnl_net_usd``, ``arbdash_strategy_funding_actual_usd``,
  ``arbdash_strategy_fees_usd_total``, ``arbdash_strategy_positions_open``, ``arbdash_strategy_exposure_usd``,
  ``arbdash_strategy_exposure_limit_usd``;
* risk (no sample while a figure is not known): ``arbdash_account_equity_usd{venue}``,
  ``arbdash_account_maintenance_margin_usd{venue}``, ``arbdash_account_mm_headroom_usd{venue}``,
  ``arbdash_account_margin_ratio{venue}``, ``arbdash_leg_liquidation_distance_ratio{position_id,venue}`` (signed),
  ``arbdash_var_usd``, ``arbdash_expected_shortfall_usd``, ``arbdash_stress_loss_usd``;
* positions and risk: ``arbdash_positions_open``, ``arbdash_positions_opened_total``,
  ``arbdash_positions_closed_total``, ``arbdash_exposure_usd``, ``arbdash_exposure_limit_usd``,
  ``arbdash_notional_usd``, ``arbdash_margin_used_usd``, ``arbdash_funding_rate_ratio{venue,symbol}`` (fraction
  per funding interval);
* session: ``arbdash_session_info{session_id,strategy,strategy_version}``, ``arbdash_session_health{state}``
  (1 for the current state), ``arbdash_last_event_timestamp_seconds``, ``arbdash_market_time_seconds``,
  ``arbdash_snapshot_seq``;
* ingest (the reducer's counters): ``arbdash_events_applied_total``, ``arbdash_lines_skipped_total{reason}``,
  ``arbdash_events_rejected_total{reason}``, ``arbdash_events_unknown_total{reason}``;
* pipeline (``RuntimeStats``, when the composer passes a probe): ``arbdash_sink_health{sink,state}``,
  ``arbdash_dispatch_queue_depth``, ``arbdash_dispatch_dropped_events_total``, ``arbdash_dispatch_errors_total``,
  ``arbdash_reducer_queue_depth``, ``arbdash_dashboard_frames_dropped_total``;
* alerts (when configured): ``arbdash_alerts_fired_total``, ``arbdash_alerts_resolved_total``,
  ``arbdash_alerts_suppressed_total{rule}`` (held back by a cooldown), ``arbdash_alert_notifications_{sent,failed,
  dropped}_total``;
* the server itself: ``arbdash_ring_events``, ``arbdash_ring_capacity_events``, ``arbdash_ring_received_events_total``,
  ``arbdash_ring_gaps_total``, ``arbdash_stream_clients``, ``arbdash_stream_queued_events`` (all clients),
  ``arbdash_stream_queued_events_max`` (the fullest client), ``arbdash_stream_queue_capacity_events``,
  ``arbdash_stream_overflows_total``, ``arbdash_stream_resyncs_total``, ``arbdash_stream_events_sent_total``,
  ``arbdash_stream_connections_total``, ``arbdash_history_jsonl_reads_total``, ``arbdash_snapshot_builds_total``;
* and ``prometheus_client``'s standard ``process_*`` families (CPU, resident memory, open files).

Events per second is ``rate(arbdash_ring_received_events_total[1m])`` (every event reaches the ring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from arbdash.control.hub import StreamHub
from arbdash.control.ring import RingSink
from arbdash.control.snapshots import SnapshotSource
from arbdash.dashboard.models import DashboardSnapshot, StrategyView

HEALTH_STATES = ("starting", "running", "idle", "degraded", "error", "stopping", "stopped")
SINK_STATES = ("ok", "degraded", "failed")


@dataclass(frozen=True)
class RuntimeStats:
    """What the composer (``tools/runbot_run.py``) reads off the pipeline and the dashboard at scrape time:
    events waiting for the dispatcher and for the reducer, losses, the terminal's dropped frames and each sink's
    health (``(name, "ok" | "degraded" | "failed")``)."""

    dispatch_queue: int = 0
    dispatch_dropped: int = 0
    dispatch_errors: int = 0
    reducer_queue: int = 0
    frames_dropped: int = 0
    sinks: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: the alert watcher's counters when the config has rules (``None``: no alerts configured)
    alerts: AlertStats | None = None


@dataclass(frozen=True)
class AlertStats:
    """Alerts so far: ``fired`` / ``resolved`` (announced), ``suppressed`` per rule (firings a cooldown held
    back: silent, so only counted), and notifications ``sent`` / ``failed`` (after retries) / ``dropped`` (the
    queue was full)."""

    fired: int = 0
    resolved: int = 0
    suppressed: tuple[tuple[str, int], ...] = ()
    sent: int = 0
    failed: int = 0
    dropped: int = 0


RuntimeProbe = Callable[[], RuntimeStats]


def _f(value: Decimal | int | None) -> float:
    return float(value) if value is not None else float("nan")


def _gauge(name: str, doc: str, value: Decimal | int | float | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=_f(value) if not isinstance(value, float) else value)


def _counter(name: str, doc: str, value: Decimal | int) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=float(value))


class ArbdashCollector:
    """The ``prometheus_client`` collector: every family from the current snapshot and counters (see the module
    docstring). ``collect`` runs on the event loop (``/metrics`` calls ``generate_latest`` there)."""

    def __init__(
        self,
        snapshots: SnapshotSource,
        *,
        ring: RingSink | None = None,
        hub: StreamHub | None = None,
        runtime: RuntimeProbe | None = None,
    ) -> None:
        self.snapshots = snapshots
        self.ring = ring
        self.hub = hub
        self.runtime = runtime

    def describe(self) -> list[Metric]:
        return []  # registration must not build a snapshot; names are checked at scrape

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshots.current()
        s = snap.model
        p, session, ingest = s.portfolio, s.session, s.session.ingest
        yield _gauge(
            "arbdash_pnl_realized_usd", "Realized PnL of every position of the session, USD.", p.realized_pnl
        )
        yield _gauge(
            "arbdash_pnl_unrealized_usd", "Unrealized PnL of the positions not closed, USD.", p.unrealized_pnl
        )
        yield _gauge(
            "arbdash_pnl_net_usd", "Net PnL: realized + unrealized + funding - fees, USD.", p.net_pnl
        )
        yield _gauge(
            "arbdash_funding_actual_usd", "Funding received (negative: paid), session total, USD.", p.funding
        )
        yield _gauge(
            "arbdash_funding_expected_usd",
            "Funding expected at the entry rates, session total, USD.",
            p.funding_expected,
        )
        yield _counter("arbdash_fees_usd", "Trading fees paid in the session, USD.", p.fees)
        yield _gauge("arbdash_positions_open", "Positions not closed.", p.positions_open)
        yield _counter("arbdash_positions_opened", "Positions opened in the session.", p.positions_opened)
        yield _counter("arbdash_positions_closed", "Positions closed in the session.", p.positions_closed)
        yield _gauge(
            "arbdash_exposure_usd",
            "Exposure of the positions not closed (the limited quantity), USD.",
            p.exposure_used_usd,
        )
        yield _gauge(
            "arbdash_exposure_limit_usd",
            "The strategy's max_total_exposure_usd (NaN until announced), USD.",
            session.max_total_exposure_usd,
        )
        yield _gauge(
            "arbdash_notional_usd", "Notional of the open legs, both counted, USD.", p.total_notional
        )
        yield _gauge("arbdash_margin_used_usd", "Initial margin of the open legs, USD.", p.margin_used)

        net = GaugeMetricFamily(
            "arbdash_position_net_pnl_usd",
            "Net PnL of a position not closed, USD.",
            labels=["position_id", "symbol"],
        )
        upnl = GaugeMetricFamily(
            "arbdash_position_unrealized_pnl_usd",
            "Unrealized PnL of a position not closed, USD.",
            labels=["position_id", "symbol"],
        )
        for pos in s.positions:
            if pos.lifecycle != "closed":
                net.add_metric([pos.position_id, pos.symbol], float(pos.net_pnl))
                upnl.add_metric([pos.position_id, pos.symbol], float(pos.unrealized_pnl))
        yield net
        yield upnl
        yield from _strategy_families(s.strategies)
        yield from _risk_families(s)
        rates = GaugeMetricFamily(
            "arbdash_funding_rate_ratio",
            "Latest funding rate, fraction per funding interval.",
            labels=["venue", "symbol"],
        )
        for r in s.funding.rates:
            rates.add_metric([r.venue, r.symbol], float(r.rate))
        yield rates

        info = GaugeMetricFamily(
            "arbdash_session_info",
            "The session (value 1).",
            labels=["session_id", "strategy", "strategy_version"],
        )
        info.add_metric([snap.session_id or "", session.strategy or "", session.strategy_version or ""], 1.0)
        yield info
        health = GaugeMetricFamily(
            "arbdash_session_health", "The session's health: 1 for the current state.", labels=["state"]
        )
        for state in HEALTH_STATES:
            health.add_metric([state], 1.0 if session.health == state else 0.0)
        yield health
        yield _gauge(
            "arbdash_last_event_timestamp_seconds",
            "Wall time of the last folded event (Unix seconds).",
            s.generated_at.timestamp() if s.generated_at is not None else float("nan"),
        )
        yield _gauge(
            "arbdash_market_time_seconds",
            "The simulated market clock of the last event (Unix seconds).",
            session.market_now.timestamp() if session.market_now is not None else float("nan"),
        )
        yield _gauge("arbdash_snapshot_seq", "The last event seq the snapshot has folded.", snap.seq)

        yield _counter("arbdash_events_applied", "Events the reducer folded.", ingest.applied)
        for name, doc, counts in (
            ("arbdash_lines_skipped", "Input lines the reducer skipped, by reason.", ingest.skipped),
            ("arbdash_events_rejected", "Events a fold refused, by reason.", ingest.rejected),
            (
                "arbdash_events_unknown",
                "Events of an unknown kind or newer schema, by reason.",
                ingest.unknown,
            ),
        ):
            family = CounterMetricFamily(name, doc, labels=["reason"])
            for reason, count in sorted(counts.items()):
                family.add_metric([reason], float(count))
            yield family

        if self.runtime is not None:
            rt = self.runtime()
            sinks = GaugeMetricFamily(
                "arbdash_sink_health",
                "Health of each pipeline sink: 1 for its current state.",
                labels=["sink", "state"],
            )
            for name, state in rt.sinks:
                for candidate in SINK_STATES:
                    sinks.add_metric([name, candidate], 1.0 if state == candidate else 0.0)
            yield sinks
            yield _gauge(
                "arbdash_dispatch_queue_depth",
                "Events logged and not yet dispatched to the sinks.",
                rt.dispatch_queue,
            )
            yield _counter(
                "arbdash_dispatch_dropped_events",
                "Events the dispatcher dropped (queue full).",
                rt.dispatch_dropped,
            )
            yield _counter(
                "arbdash_dispatch_errors", "Events the dispatcher could not build.", rt.dispatch_errors
            )
            yield _gauge(
                "arbdash_reducer_queue_depth", "Events waiting to be folded by the reducer.", rt.reducer_queue
            )
            yield _counter(
                "arbdash_dashboard_frames_dropped",
                "Dashboard frames the terminal could not take.",
                rt.frames_dropped,
            )
            a = rt.alerts
            if a is not None:
                yield _counter("arbdash_alerts_fired", "Alerts fired (announced).", a.fired)
                yield _counter("arbdash_alerts_resolved", "Alerts resolved (announced).", a.resolved)
                yield _labelled(
                    "arbdash_alerts_suppressed",
                    "Alert firings a rule's cooldown held back (silent), by rule.",
                    True,
                    "rule",
                    a.suppressed,
                )
                for what, doc, value in (
                    ("sent", "Alert notifications delivered.", a.sent),
                    ("failed", "Alert notifications that failed after their retries.", a.failed),
                    ("dropped", "Alert notifications dropped (their queue was full).", a.dropped),
                ):
                    yield _counter(f"arbdash_alert_notifications_{what}", doc, value)

        ring = self.ring
        if ring is not None:
            yield _gauge("arbdash_ring_events", "Events held in the server's in-memory ring.", len(ring))
            yield _gauge("arbdash_ring_capacity_events", "Capacity of the in-memory ring.", ring.capacity)
            yield _counter(
                "arbdash_ring_received_events", "Events the pipeline handed to the ring.", ring.received
            )
            yield _counter(
                "arbdash_ring_gaps", "Times events were lost between the dispatcher and the loop.", ring.gaps
            )
        hub = self.hub
        if hub is not None:
            st = hub.stats()
            yield _gauge("arbdash_stream_clients", "Connected /api/stream clients.", st.clients)
            yield _gauge(
                "arbdash_stream_queued_events",
                "Events queued for stream clients, all clients.",
                st.queued_total,
            )
            yield _gauge(
                "arbdash_stream_queued_events_max",
                "Events queued for the fullest stream client.",
                st.queued_max,
            )
            yield _gauge(
                "arbdash_stream_queue_capacity_events",
                "Events a stream client may have queued before it is dropped and resynced.",
                st.max_queued,
            )
            yield _counter(
                "arbdash_stream_overflows",
                "Stream client queues dropped because they overflowed.",
                st.overflows,
            )
            yield _counter(
                "arbdash_stream_resyncs",
                "Resync events (with a fresh snapshot) sent to stream clients.",
                st.resyncs,
            )
            yield _counter("arbdash_stream_events_sent", "Events sent to stream clients.", st.events_sent)
            yield _counter("arbdash_stream_connections", "Stream connections opened.", st.connections)
            yield _counter(
                "arbdash_history_jsonl_reads",
                "Reads of the session JSONL for events no longer in the ring.",
                st.jsonl_reads,
            )
        yield _counter(
            "arbdash_snapshot_builds", "Snapshots built (once per changed state read).", self.snapshots.builds
        )


#: Per strategy instance: (name, help, the ``StrategyView`` field, counter?). Over every instance each one adds
#: up to the session family of the same figure.
_STRATEGY_FIGURES: tuple[tuple[str, str, str, bool], ...] = (
    (
        "arbdash_strategy_pnl_realized_usd",
        "Realized PnL of the strategy's positions, USD.",
        "realized_pnl",
        False,
    ),
    (
        "arbdash_strategy_pnl_unrealized_usd",
        "Unrealized PnL of the strategy's positions not closed, USD.",
        "unrealized_pnl",
        False,
    ),
    (
        "arbdash_strategy_pnl_net_usd",
        "Net PnL of the strategy: realized + unrealized + funding - fees, USD.",
        "net_pnl",
        False,
    ),
    (
        "arbdash_strategy_funding_actual_usd",
        "Funding the strategy received (negative: paid), USD.",
        "funding",
        False,
    ),
    ("arbdash_strategy_fees_usd", "Trading fees the strategy paid, USD.", "fees", True),
    ("arbdash_strategy_positions_open", "The strategy's positions not closed.", "positions_open", False),
    (
        "arbdash_strategy_exposure_usd",
        "Exposure of the strategy's open positions, USD.",
        "exposure_used_usd",
        False,
    ),
    (
        "arbdash_strategy_exposure_limit_usd",
        "The strategy's own max_total_exposure_usd, USD.",
        "max_total_exposure_usd",
        False,
    ),
)


def _labelled(
    name: str,
    doc: str,
    counter: bool,
    label: str,
    samples: Iterable[tuple[str, Decimal | int | float | None]],
) -> Metric:
    """One family with one label: a sample per ``(label value, value)``; a ``None`` value has no sample (a
    figure not known rather than a made-up one)."""
    family = (CounterMetricFamily if counter else GaugeMetricFamily)(name, doc, labels=[label])
    for key, value in samples:
        if value is not None:
            family.add_metric([key], float(value))
    return family


def _risk_families(s: DashboardSnapshot) -> Iterator[Metric]:
    """What is nearest to hurting: each venue account's equity, maintenance margin, headroom and margin ratio
    (``{venue}``), each open leg's liquidation distance (``{position_id,venue}``, a ratio of the mark, signed:
    ≤ 0 is past it), and the book's 1-day VaR / ES / stress (USD, a loss > 0). A figure not known (no account
    yet, a leg no price can liquidate, a VaR still gathering history) has no sample — never a made-up 0."""
    accounts = s.accounts
    for name, doc, attr in (
        ("arbdash_account_equity_usd", "A venue account's equity (wallet + unrealized), USD.", "equity"),
        (
            "arbdash_account_maintenance_margin_usd",
            "A venue account's maintenance margin, USD.",
            "maintenance_margin",
        ),
        (
            "arbdash_account_mm_headroom_usd",
            "Equity − maintenance margin of a venue account, USD.",
            "mm_headroom_usd",
        ),
        (
            "arbdash_account_margin_ratio",
            "Maintenance margin / equity (the venue liquidates at 1).",
            "margin_ratio",
        ),
    ):
        yield _labelled(name, doc, False, "venue", ((a.venue, getattr(a, attr)) for a in accounts))
    distance = GaugeMetricFamily(
        "arbdash_leg_liquidation_distance_ratio",
        "Signed distance of an open leg's mark to its liquidation price, a fraction of the mark (≤ 0: past it).",
        labels=["position_id", "venue"],
    )
    for pos in s.positions:
        if pos.lifecycle != "closed":
            for venue, leg in pos.legs.items():
                if leg.liquidation_distance_pct is not None:
                    distance.add_metric([pos.position_id, venue], float(leg.liquidation_distance_pct / 100))
    yield distance
    risk = s.portfolio.risk
    for name, doc, value in (
        ("arbdash_var_usd", "1-day value at risk of the open book (historical simulation), USD.", "var"),
        ("arbdash_expected_shortfall_usd", "1-day expected shortfall of the open book, USD.", "es"),
        (
            "arbdash_stress_loss_usd",
            "Worst 1-day loss of the open book over the history kept, USD.",
            "stress",
        ),
    ):
        family = GaugeMetricFamily(name, doc)
        figure = getattr(risk, value) if risk is not None else None
        if figure is not None:
            family.add_metric([], float(figure))
        yield family


def _strategy_families(views: list[StrategyView]) -> Iterator[Metric]:
    """The per-strategy families, labelled ``strategy`` (the instance's name; ``""`` for the positions of no
    strategy, in a session that has both). Nothing when the session announced no strategy."""
    if not views:
        return
    for name, doc, attr, counter in _STRATEGY_FIGURES:
        yield _labelled(name, doc, counter, "strategy", ((v.name or "", getattr(v, attr)) for v in views))


def fleet_exposition(sessions: list[Any]) -> bytes:
    """``/metrics`` of ``arbtail serve --db DSN`` without ``--session`` (the fleet): one sample per session of
    the database listing (``tools.pg_admin.SessionSummary``, newest first), labelled ``session_id``, so one
    scrape watches every bot writing to that PostgreSQL. Families: ``arbdash_fleet_sessions`` (sessions
    listed), ``arbdash_fleet_session_info{session_id,strategy,host}`` (1), ``arbdash_fleet_session_health
    {session_id,state}`` (1, labelled with its current state: one series a session), ``arbdash_fleet_session_pnl_net_usd``, ``arbdash_fleet_session_
    positions_open``, ``arbdash_fleet_session_positions_opened_total``, ``arbdash_fleet_session_events_total``
    (its last seq) and ``arbdash_fleet_session_last_event_timestamp_seconds`` (Unix seconds; a session
    without events has no sample), and the process families. A served session's own figures are on its page
    (``/api/snapshot?session=ID``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FleetCollector(sessions))  # type: ignore[arg-type]
    ProcessCollector(registry=registry)
    return generate_latest(registry)


#: Per session of the fleet: (name, help, counter?, the figure of a ``tools.pg_admin.SessionSummary``).
_FLEET_FIGURES: tuple[tuple[str, str, bool, Callable[[Any], Decimal | int | float | None]], ...] = (
    ("arbdash_fleet_session_pnl_net_usd", "A session's net PnL, USD.", False, lambda s: s.net_pnl),
    (
        "arbdash_fleet_session_positions_open",
        "A session's positions not closed.",
        False,
        lambda s: (s.positions_opened or 0) - (s.positions_closed or 0),
    ),
    (
        "arbdash_fleet_session_positions_opened",
        "Positions a session opened.",
        True,
        lambda s: s.positions_opened or 0,
    ),
    (
        "arbdash_fleet_session_events",
        "Events a session logged (its last seq).",
        True,
        lambda s: s.last_seq or 0,
    ),
    (
        "arbdash_fleet_session_last_event_timestamp_seconds",
        "Wall time of a session's last event (Unix seconds).",
        False,
        lambda s: s.last_event_at.timestamp() if s.last_event_at is not None else None,
    ),
)


class _FleetCollector:
    def __init__(self, sessions: list[Any]) -> None:
        self.sessions = sessions

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        sessions = self.sessions
        yield _gauge(
            "arbdash_fleet_sessions", "Sessions listed from the database (newest first).", len(sessions)
        )
        info = GaugeMetricFamily(
            "arbdash_fleet_session_info", "A session (value 1).", labels=["session_id", "strategy", "host"]
        )
        health = GaugeMetricFamily(
            "arbdash_fleet_session_health",
            "A session's health (value 1, labelled with its state).",
            labels=["session_id", "state"],
        )
        for s in sessions:
            sid = str(s.session_id)
            info.add_metric([sid, s.strategy or "", getattr(s, "host", None) or ""], 1.0)
            health.add_metric([sid, s.health], 1.0)  # one series per session, not one per possible state
        yield info
        yield health
        for name, doc, counter, figure in _FLEET_FIGURES:
            yield _labelled(
                name, doc, counter, "session_id", ((str(s.session_id), figure(s)) for s in sessions)
            )


def make_registry(collector: ArbdashCollector, *, process: bool = True) -> CollectorRegistry:
    """A registry of its own (never the global one: two servers in one process, tests) holding ``collector`` and
    the standard process collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    if process:
        ProcessCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry`` (call on the event loop: collectors read loop-owned state)."""
    return generate_latest(registry)
