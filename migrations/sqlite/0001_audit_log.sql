-- The audit log (SPEC §9, §13): one row per audit record, columns named as the record's
-- JSON keys. Times are fixed-width RFC 3339 UTC text (`2026-11-21T16:19:00.123456Z`), which
-- sorts and compares as time; ids are hyphenated lower-case UUIDs; roles, parameters and
-- details are JSON text. `seq` orders the database's hash chain (prev_hash -> hash).
CREATE TABLE audit_log (
    seq          INTEGER NOT NULL,
    id           TEXT    NOT NULL PRIMARY KEY,
    "timestamp"  TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    request_id   TEXT,
    session_id   TEXT,
    "user"       TEXT,
    subject      TEXT,
    roles        TEXT    NOT NULL DEFAULT '[]',
    client_ip    TEXT,
    transport    TEXT,
    tool         TEXT,
    mcp_server   TEXT,
    backend_tool TEXT,
    parameters   TEXT    NOT NULL DEFAULT 'null',
    status       TEXT    NOT NULL,
    duration_ms  INTEGER,
    error        TEXT,
    broadcast_id TEXT,
    truncated    INTEGER NOT NULL DEFAULT 0,
    details      TEXT    NOT NULL DEFAULT '{}',
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
);

CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);

-- GET /audit: newest first by (timestamp, id), optionally narrowed by one of the filters.
CREATE INDEX audit_log_time ON audit_log ("timestamp" DESC, id DESC);
CREATE INDEX audit_log_user_time ON audit_log ("user", "timestamp" DESC, id DESC);
CREATE INDEX audit_log_tool_time ON audit_log (tool, "timestamp" DESC, id DESC);
CREATE INDEX audit_log_server_time ON audit_log (mcp_server, "timestamp" DESC, id DESC);
CREATE INDEX audit_log_status_time ON audit_log (status, "timestamp" DESC, id DESC);
CREATE INDEX audit_log_broadcast ON audit_log (broadcast_id) WHERE broadcast_id IS NOT NULL;
