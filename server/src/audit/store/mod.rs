//! The `audit_log` table: PostgreSQL when `DATABASE_URL` is `postgres://`/`postgresql://`,
//! else SQLite at the path of `sqlite://…` (relative to the working directory, created with
//! its parent folders).
//!
//! Runtime queries only (no compile-time checked macros): the gateway builds without a
//! database. The database keeps its own hash chain, ordered by the `seq` column: each batch is
//! linked inside one transaction that first takes the chain lock (an advisory lock on
//! PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and reads the chain head, so several gateways
//! sharing a database still build one unbroken chain. Records already present (a retry after
//! an ambiguous failure, a spool replayed after a crash) are left out before linking, so a
//! retry can neither duplicate a row nor break the chain.

mod postgres;
mod sqlite;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::migrate::MigrateError;
use uuid::Uuid;

use super::chain::{self, GENESIS};
use super::query::{AuditFilter, Cursor};
use super::record::{AuditRecord, format_timestamp};

/// How long a pool waits for a connection before the attempt counts as failed.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: u32 = 4;

/// The columns of a record, in the order the backends bind them (after `seq`).
const COLUMNS: &str = r#"id, "timestamp", event, request_id, session_id, "user", subject, roles, client_ip, transport, tool, mcp_server, backend_tool, parameters, status, duration_ms, error, broadcast_id, truncated, details, prev_hash, hash, auth, key_id"#;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] MigrateError),
    /// A message safe to show (never the URL: it may hold a password).
    #[error("{0}")]
    Config(String),
}

impl StoreError {
    /// Whether the database refused the data itself (a value out of range, a constraint),
    /// rather than being unreachable or unwell: retrying the same record cannot succeed.
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Encode(_)) => true,
            StoreError::Database(sqlx::Error::Database(error)) => {
                error.code().is_some_and(|code| is_data_error_code(&code))
            }
            _ => false,
        }
    }
}

/// PostgreSQL SQLSTATE classes 22 (data exception), 23 (integrity constraint) and 54
/// (program limit exceeded); SQLite primary result codes TOOBIG (18), CONSTRAINT (19),
/// MISMATCH (20) and RANGE (25), also within extended codes.
fn is_data_error_code(code: &str) -> bool {
    // SQLSTATEs have five characters; SQLite's (extended) result codes at most four digits.
    if code.len() == 5 {
        return ["22", "23", "54"]
            .iter()
            .any(|class| code.starts_with(class));
    }
    code.parse::<u32>()
        .is_ok_and(|number| matches!(number & 0xff, 18 | 19 | 20 | 25))
}

/// A pool on the audit database. Cheap to clone.
#[derive(Clone)]
pub enum Store {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Store::Postgres(_) => "Store::Postgres",
            Store::Sqlite(_) => "Store::Sqlite",
        })
    }
}

impl Store {
    /// A pool that connects on first use, for reading: an unreachable database never fails
    /// this. Must run inside a Tokio runtime.
    pub fn connect_lazy(url: &str) -> Result<Store, StoreError> {
        Self::connect(url, MAX_CONNECTIONS)
    }

    /// The writer's pool: like [`Store::connect_lazy`], with one connection, as the writer
    /// writes one batch at a time (on SQLite, one connection also keeps its page cache valid
    /// from batch to batch). Kept apart from the readers' pool: reads come from the serving
    /// threads, and a PostgreSQL connection opened there is driven by that thread's runtime,
    /// which is gone when the writer drains the last records at shutdown.
    pub fn connect_writer(url: &str) -> Result<Store, StoreError> {
        Self::connect(url, 1)
    }

    fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            postgres::connect_lazy(url, max_connections).map(Store::Postgres)
        } else if url.starts_with("sqlite:") {
            sqlite::connect_lazy(url, max_connections).map(Store::Sqlite)
        } else {
            Err(StoreError::Config(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql://".into(),
            ))
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Sqlite(_) => "sqlite",
        }
    }

    /// Apply the migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Postgres(pool) => postgres::migrate(pool).await,
            Store::Sqlite(pool) => sqlite::migrate(pool).await,
        }
    }

    /// Link and insert `records` in one transaction. Returns how many rows were new.
    pub async fn insert(&self, records: &[AuditRecord]) -> Result<u64, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        match self {
            Store::Postgres(pool) => postgres::insert(pool, records).await,
            Store::Sqlite(pool) => sqlite::insert(pool, records).await,
        }
    }

    /// One page of `/audit`: up to `filter.limit` records, newest first, and the cursor of
    /// the next page when there is one.
    pub async fn query(&self, filter: &AuditFilter) -> Result<Page, StoreError> {
        let fetch = i64::from(filter.limit) + 1;
        let mut rows = match self {
            Store::Postgres(pool) => postgres::query(pool, filter, fetch).await?,
            Store::Sqlite(pool) => sqlite::query(pool, filter, fetch).await?,
        };
        let more = rows.len() > filter.limit as usize;
        rows.truncate(filter.limit as usize);
        let next_cursor = if more {
            rows.last().map(|row| Cursor {
                timestamp: row.timestamp,
                id: row.id,
            })
        } else {
            None
        };
        Ok(Page {
            records: rows.iter().map(StoredRow::to_json).collect(),
            next_cursor,
        })
    }

    /// Rows in chain order after `after_seq`, for verification. A row that cannot be read
    /// back is an `Err` with the reason, at its place.
    pub async fn chain_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Result<StoredRow, String>)>, StoreError> {
        match self {
            Store::Postgres(pool) => postgres::chain_page(pool, after_seq, limit).await,
            Store::Sqlite(pool) => sqlite::chain_page(pool, after_seq, limit).await,
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Postgres(pool) => pool.close().await,
            Store::Sqlite(pool) => pool.close().await,
        }
    }
}

/// One page of `/audit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<Value>,
    pub next_cursor: Option<Cursor>,
}

/// A row as stored: strings where the record has enums, so that a tampered row is still
/// read (and then fails verification) instead of failing to load.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub seq: i64,
    pub id: Uuid,
    pub timestamp: DateTime<Utc>,
    pub event: String,
    pub request_id: Option<String>,
    pub session_id: Option<String>,
    pub user: Option<String>,
    pub subject: Option<String>,
    pub roles: Vec<String>,
    pub client_ip: Option<String>,
    pub transport: Option<String>,
    pub tool: Option<String>,
    pub mcp_server: Option<String>,
    pub backend_tool: Option<String>,
    pub parameters: Value,
    pub status: String,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub broadcast_id: Option<Uuid>,
    pub truncated: bool,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
    /// `NULL` in rows written before the column existed, and for unknown callers.
    pub auth: Option<String>,
    pub key_id: Option<String>,
}

impl StoredRow {
    /// The record as JSON, exactly as [`AuditRecord`] serializes (so it hashes the same).
    pub fn to_json(&self) -> Value {
        let mut json = json!({
            "id": self.id,
            "timestamp": format_timestamp(&self.timestamp),
            "event": self.event,
            "request_id": self.request_id,
            "session_id": self.session_id,
            "user": self.user,
            "subject": self.subject,
            "roles": self.roles,
            "client_ip": self.client_ip,
            "transport": self.transport,
            "tool": self.tool,
            "mcp_server": self.mcp_server,
            "backend_tool": self.backend_tool,
            "parameters": self.parameters,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "broadcast_id": self.broadcast_id,
            "truncated": self.truncated,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        });
        // Absent, not null, when unset: as the record serializes (and hashes).
        if let Some(auth) = &self.auth {
            json["auth"] = json!(auth);
        }
        if let Some(key_id) = &self.key_id {
            json["key_id"] = json!(key_id);
        }
        json
    }
}

/// A record of a batch with its place in the database's chain.
pub(crate) struct Linked<'a> {
    pub seq: i64,
    pub record: &'a AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// The records of a batch that are not in the table yet (`existing`), each linked after the
/// chain head `head` (`(seq, hash)` of the last row) with its `seq`. The records are not
/// copied: a failed batch goes back to the backlog as it was.
pub(crate) fn link_new<'a>(
    records: &'a [AuditRecord],
    existing: &[Uuid],
    head: Option<(i64, String)>,
) -> Vec<Linked<'a>> {
    let mut seen: HashSet<Uuid> = existing.iter().copied().collect();
    let (mut seq, mut prev) = head.unwrap_or((0, GENESIS.to_owned()));
    let mut linked = Vec::with_capacity(records.len());
    for record in records {
        if !seen.insert(record.id) {
            continue;
        }
        let hash = chain::hash_after(record, &prev);
        seq += 1;
        linked.push(Linked {
            seq,
            record,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    linked
}

/// `duration_ms` as the database keeps it.
fn duration_column(record: &AuditRecord) -> Option<i64> {
    record
        .duration_ms
        .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::audit::chain::{ChainStart, ChainVerifier};
    use crate::audit::record::{AuditEvent, AuditStatus, transport_str};
    use crate::principal::Transport;

    fn row_of(linked: &Linked<'_>) -> StoredRow {
        let record = linked.record;
        StoredRow {
            seq: linked.seq,
            id: record.id,
            timestamp: record.timestamp,
            event: record.event.as_str().to_owned(),
            request_id: record.request_id.clone(),
            session_id: record.session_id.clone(),
            user: record.user.clone(),
            subject: record.subject.clone(),
            roles: record.roles.clone(),
            client_ip: record.client_ip.clone(),
            transport: record.transport.map(|t| transport_str(t).to_owned()),
            tool: record.tool.clone(),
            mcp_server: record.mcp_server.clone(),
            backend_tool: record.backend_tool.clone(),
            parameters: record.parameters.clone(),
            status: record.status.as_str().to_owned(),
            duration_ms: duration_column(record),
            error: record.error.clone(),
            broadcast_id: record.broadcast_id,
            truncated: record.truncated,
            details: record.details.clone(),
            prev_hash: linked.prev_hash.clone(),
            hash: linked.hash.clone(),
            auth: record.auth.map(|a| a.as_str().to_owned()),
            key_id: record.key_id.clone(),
        }
    }

    fn sample() -> AuditRecord {
        let mut record = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Timeout)
            .with_timestamp(Utc.with_ymd_and_hms(2026, 11, 21, 1, 2, 3).unwrap())
            .with_duration(Duration::from_millis(45))
            .with_error("timeout after 30 s")
            .with_truncated(true)
            .with_details(json!({"x": [1, 2.5]}));
        record.request_id = Some("r".into());
        record.user = Some("u".into());
        record.roles = vec!["admin".into(), "user".into()];
        record.transport = Some(Transport::Rest);
        record.tool = Some("a__b".into());
        record.broadcast_id = Some(Uuid::now_v7());
        record.parameters = json!({"q": "x", "n": 18446744073709551615u64});
        record
    }

    #[test]
    fn a_row_reads_back_as_the_json_the_record_was_hashed_from() {
        let records = [sample()];
        let linked = link_new(&records, &[], None);
        assert_eq!(linked[0].seq, 1);
        let row = row_of(&linked[0]);
        let mut record = records[0].clone();
        record.prev_hash = Some(linked[0].prev_hash.clone());
        record.hash = Some(linked[0].hash.clone());
        assert_eq!(row.to_json(), serde_json::to_value(&record).unwrap());
        let mut verifier = ChainVerifier::new(ChainStart::Genesis);
        verifier.check(&row.to_json()).unwrap();
    }

    #[test]
    fn link_new_continues_the_head_and_skips_present_and_repeated_ids() {
        let records: Vec<AuditRecord> = (0..4).map(|_| sample()).collect();
        let mut batch = records.clone();
        batch.push(records[3].clone());
        let linked = link_new(&batch, &[records[1].id], Some((41, "h".repeat(64))));
        let seqs: Vec<i64> = linked.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [42, 43, 44]);
        let ids: Vec<Uuid> = linked.iter().map(|l| l.record.id).collect();
        assert_eq!(ids, [records[0].id, records[2].id, records[3].id]);
        assert_eq!(linked[0].prev_hash, "h".repeat(64));
        assert_eq!(linked[1].prev_hash, linked[0].hash);
        assert_eq!(linked[2].prev_hash, linked[1].hash);
    }

    #[test]
    fn data_errors_are_told_from_outages() {
        for code in [
            "22008", "22P02", "23505", "54000", "18", "19", "2067", "1555", "20", "25",
        ] {
            assert!(is_data_error_code(code), "{code}");
        }
        for code in [
            "08006", "57P01", "53300", "42P01", "40001", "5", "261", "14", "x", "",
        ] {
            assert!(!is_data_error_code(code), "{code}");
        }
        let unreachable = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert!(!unreachable.is_data_error());
        assert!(!StoreError::Config("x".into()).is_data_error());
    }

    #[test]
    fn an_unknown_url_scheme_is_refused_without_quoting_it() {
        let error = Store::connect_lazy("mysql://root:hunter2@db/x").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn the_writer_has_one_connection_and_readers_several() {
        let max = |store: &Store| match store {
            Store::Postgres(pool) => pool.options().get_max_connections(),
            Store::Sqlite(pool) => pool.options().get_max_connections(),
        };
        for url in ["sqlite://unused.db", "postgres://u@127.0.0.1:1/db"] {
            assert_eq!(max(&Store::connect_writer(url).unwrap()), 1, "{url}");
            assert_eq!(
                max(&Store::connect_lazy(url).unwrap()),
                MAX_CONNECTIONS,
                "{url}"
            );
        }
    }
}
