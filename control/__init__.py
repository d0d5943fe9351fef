"""The control plane: a read-only HTTP server inside the bot (issue 12, part 1).

    runbot --config configs/funding_arb_paper.yml --serve 8765          # http://127.0.0.1:8765
    curl -s localhost:8765/api/snapshot | jq .snapshot.portfolio.net_pnl

What it serves, all from the bot's own event loop (``control.server``):

* ``GET /api/snapshot`` — the live reducer's ``DashboardSnapshot`` (the frame the terminal draws) and the ``seq``
  it has folded (``control.snapshots``);
* ``GET /api/events?after_seq=N&limit=M`` — the session's events after ``N``, from an in-memory ring the
  pipeline tees to (``control.ring``), else from the session's JSONL;
* ``GET /api/stream`` — Server-Sent Events: a snapshot, then every event (``id:`` = ``seq``), resumable with
  ``Last-Event-ID`` / ``?after_seq=`` without a gap or a duplicate (``control.hub``);
* ``GET /metrics`` — Prometheus exposition read from the latest snapshot at scrape time (``control.metrics``);
* ``GET /healthz``.

How data reaches it (DESIGN.md "one way, no back-calls"): the pipeline's tee writes each event line to
``ring.RingSink`` on its dispatcher thread; the sink only appends to a bounded deque and wakes the loop once per
batch; on the loop the ring keeps the last events and the hub fans them out to a bounded queue per stream
client. Snapshots are built on the loop from the reducer ``dashboard.service.DashboardService`` owns. Nothing here
writes back into the bot: readers never act.

Part 2 (not built yet) plugs in here: ``POST /api/commands`` (token only, a command queue the strategy drains at
its safe points, ``command.*`` events as the audit trail), the web page at ``/`` (static files in this package,
drawn from ``/api/snapshot`` + ``/api/stream``; the CSP in ``control.app`` is written so that page needs only
``'self'`` sources) and ``arbtail serve`` (the same app over a replay source instead of a live reducer: the
app takes a ``SnapshotSource``, a ``RingSink``-like event store and a hub, not the bot).

``control.address`` imports only the standard library (the CLI and the config check use it); the other modules
import Starlette, uvicorn and prometheus_client, so they are imported only when a server is started.
"""
