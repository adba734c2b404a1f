-- The audit log (SPEC §9, §13): one row per audit record, columns named as the record's
-- JSON keys. `seq` orders the database's hash chain (prev_hash -> hash); it is assigned by
-- the gateway under an advisory lock, never by a sequence, so that it follows the chain.
CREATE TABLE audit_log (
    seq          BIGINT      NOT NULL,
    id           UUID        NOT NULL PRIMARY KEY,
    "timestamp"  TIMESTAMPTZ NOT NULL,
    event        TEXT        NOT NULL,
    request_id   TEXT,
    session_id   TEXT,
    "user"       TEXT,
    subject      TEXT,
    roles        TEXT[]      NOT NULL DEFAULT '{}',
    client_ip    TEXT,
    transport    TEXT,
    tool         TEXT,
    mcp_server   TEXT,
    backend_tool TEXT,
    parameters   JSONB       NOT NULL DEFAULT 'null',
    status       TEXT        NOT NULL,
    duration_ms  BIGINT,
    error        TEXT,
    broadcast_id UUID,
    truncated    BOOLEAN     NOT NULL DEFAULT FALSE,
    details      JSONB       NOT NULL DEFAULT '{}',
    prev_hash    TEXT        NOT NULL,
    hash         TEXT        NOT NULL
);

CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);

-- GET /audit: newest first by (timestamp, id), optionally narrowed by one of the filters.
CREATE INDEX audit_log_time ON audit_log ("timestamp" DESC, id DESC);
CREATE INDEX audit_log_user_time ON audit_log ("user", "timestamp" DESC, id DESC);
CREATE INDEX audit_log_tool_time ON audit_log (tool, "timestamp" DESC, id DESC);
CREATE INDEX audit_log_server_time ON audit_log (mcp_server, "timestamp" DESC, id DESC);
CREATE INDEX audit_log_status_time ON audit_log (status, "timestamp" DESC, id DESC);
CREATE INDEX audit_log_broadcast ON audit_log (broadcast_id) WHERE broadcast_id IS NOT NULL;
