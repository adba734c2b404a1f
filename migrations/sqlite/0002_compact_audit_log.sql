-- A smaller, cheaper audit_log: the same columns and rows, with
-- * `seq` as the INTEGER PRIMARY KEY (the rowid): the table itself is kept in chain order,
--   so the unique index on `seq` is gone, and every index entry ends in `seq` anyway;
-- * no index on `id`: the writer, the only one to insert, skips ids already present within
--   its transaction (looked up through `audit_log_time`), as it did before;
-- * query indexes on (column, "timestamp") instead of (column, "timestamp" DESC, id DESC):
--   `/audit` still orders by ("timestamp", id), with SQLite sorting only the rows that share
--   a timestamp.
-- Each index cost about as much per insert as the row itself; this takes the database from
-- ~970 to ~700 bytes and from about 12 to 8 µs of writer time per record.
-- SQLite cannot change a primary key in place: the table is rebuilt, rows copied in chain
-- order, within the migration's transaction.
CREATE TABLE audit_log_compact (
    seq          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL,
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

INSERT INTO audit_log_compact
SELECT seq, id, "timestamp", event, request_id, session_id, "user", subject, roles, client_ip,
       transport, tool, mcp_server, backend_tool, parameters, status, duration_ms, error,
       broadcast_id, truncated, details, prev_hash, hash
FROM audit_log
ORDER BY seq;

DROP TABLE audit_log;
ALTER TABLE audit_log_compact RENAME TO audit_log;

CREATE INDEX audit_log_time ON audit_log ("timestamp");
CREATE INDEX audit_log_user_time ON audit_log ("user", "timestamp");
CREATE INDEX audit_log_tool_time ON audit_log (tool, "timestamp");
CREATE INDEX audit_log_server_time ON audit_log (mcp_server, "timestamp");
CREATE INDEX audit_log_status_time ON audit_log (status, "timestamp");
CREATE INDEX audit_log_broadcast ON audit_log (broadcast_id) WHERE broadcast_id IS NOT NULL;
