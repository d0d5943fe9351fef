"""The control plane (issue 12): an HTTP server inside the bot — and, without the bot, over a stored session.

    runbot --config configs/funding_arb_paper.yml --serve 8765          # http://127.0.0.1:8765
    curl -s localhost:8765/api/snapshot | jq .snapshot.portfolio.net_pnl
    ARBDASH_TOKEN=… runbot command pause-entries                        # needs the server's token
    arbtail serve logs/<session>.jsonl                                  # the same API and page, read-only

What it serves, all from one event loop (``control.server``; ``control.app`` lists the endpoints):

* ``GET /`` — the web page (``control.web``, static files in ``control/static``): the terminal's panes drawn from
  the snapshot, updated from the stream, commands with the token, a time slider and the fleet in replay mode;
* ``GET /api/snapshot`` — the reducer's ``DashboardSnapshot`` (the frame the terminal draws) and the ``seq`` it
  has folded (``control.snapshots``);
* ``GET /api/events?after_seq=N&limit=M`` — the session's events after ``N``, from an in-memory ring the
  pipeline tees to (``control.ring``), else from the session's JSONL;
* ``GET /api/stream`` — Server-Sent Events: a snapshot, then every event (``id:`` = ``seq``), resumable with
  ``Last-Event-ID`` / ``?after_seq=`` without a gap or a duplicate (``control.hub``);
* ``POST /api/commands`` — operator commands (``control.commands``): bearer token only, idempotent ids, carried
  out by the strategy at its safe points, ``command.*`` events as the audit trail;
* ``GET /metrics`` — Prometheus exposition read from the latest snapshot at scrape time (``control.metrics``);
* ``GET /healthz``; ``GET /api/info`` (what this server is: live or replay, token, commands, history, fleet).

How data reaches it (DESIGN.md "one way, no back-calls"): the pipeline's tee writes each event line to
``ring.RingSink`` on its dispatcher thread; the sink only appends to a bounded deque and wakes the loop once per
batch; on the loop the ring keeps the last events and the hub fans them out to a bounded queue per stream
client. Snapshots are built on the loop from the reducer ``dashboard.service.DashboardService`` owns. The one
way back into the bot is the command desk (``control.commands.CommandDesk``), which the composer
(``tools/runbot_run.py``) hands both to the server and to the runner; what a command did comes back, like
everything else, as events. ``arbtail serve`` (``tools.arbtail_serve``) runs the same app over a replay source:
``control.replay`` holds the followed sessions, ``?at=`` time travel and the PostgreSQL fleet; it has no desk.

``control.address`` imports only the standard library (the CLI and the config check use it) and
``control.commands`` only msgspec and the event catalogue (the bot's strategy and runner use it); the other
modules import Starlette, uvicorn and prometheus_client, so they are imported only when a server is started.
"""
