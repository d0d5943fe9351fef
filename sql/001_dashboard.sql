-- 001: dashboard history — sessions, events (one row per JSONL line), reducer snapshots.
-- Applied by logging_pipeline.postgres.migrations inside one transaction under an advisory lock.
-- All timestamps are timestamptz (UTC on the wire); payloads are jsonb.

CREATE TABLE dashboard_sessions (
    session_id        uuid        PRIMARY KEY,
    strategy          text,
    config_path       text,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    health            text        NOT NULL DEFAULT 'starting'
        CHECK (health IN ('starting', 'running', 'idle', 'degraded', 'error', 'stopping', 'stopped')),
    last_seq          bigint,
    last_event_at     timestamptz,
    positions_opened  integer,
    positions_closed  integer,
    net_pnl           numeric,
    metadata          jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX dashboard_sessions_started_idx ON dashboard_sessions (started_at DESC);

-- One row per event. ``payload`` is the complete original JSON object (envelope included) so an export
-- reproduces the JSONL line's content; the envelope columns serve filtering and ordering.
-- No foreign key to dashboard_sessions on purpose: a per-row FK check would halve COPY throughput;
-- tools.pg_admin.prune deletes from all three tables.
CREATE TABLE dashboard_events (
    session_id  uuid        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq >= 0),
    ts          timestamptz NOT NULL,
    level       text        NOT NULL,
    logger      text        NOT NULL DEFAULT '',
    category    text        NOT NULL,
    event       text        NOT NULL,
    message     text        NOT NULL DEFAULT '',
    payload     jsonb       NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX dashboard_events_session_ts_idx ON dashboard_events (session_id, ts DESC);

-- The reducer state after applying every event with seq <= this seq (dashboard.state.state_to_dict).
CREATE TABLE dashboard_snapshots (
    session_id    uuid        NOT NULL,
    seq           bigint      NOT NULL CHECK (seq >= 0),
    generated_at  timestamptz NOT NULL,
    payload       jsonb       NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX dashboard_snapshots_session_ts_idx ON dashboard_snapshots (session_id, generated_at DESC);
