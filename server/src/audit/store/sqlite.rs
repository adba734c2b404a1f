//! SQLite: times as fixed-width RFC 3339 text (so they compare as text), ids as hyphenated
//! text, roles, parameters and details as JSON text. WAL mode, so `/audit` reads do not wait
//! for the writer.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{
    AssertSqlSafe, ConnectOptions as _, Connection as _, QueryBuilder, Row, SqlSafeStr, SqlStr,
    Sqlite, SqlitePool,
};
use uuid::Uuid;

use super::{ACQUIRE_TIMEOUT, COLUMNS, Linked, StoreError, StoredRow, duration_column, link_new};
use crate::audit::query::AuditFilter;
use crate::audit::record::{AuditRecord, AuthKind, format_timestamp, transport_str};

const MIGRATION_0001: &str = include_str!("../../../../migrations/sqlite/0001_audit_log.sql");
const MIGRATION_0002: &str =
    include_str!("../../../../migrations/sqlite/0002_compact_audit_log.sql");
const MIGRATION_0003: &str =
    include_str!("../../../../migrations/sqlite/0003_auth_and_api_keys.sql");

/// Rows per INSERT statement (25 parameters each; SQLite allows 32766). A batch is cut into
/// statements of these sizes, largest first, so that only four SQL texts ever occur: each is
/// prepared once per connection and kept, where a statement as long as the batch was parsed
/// anew for every batch (a sixth of the writer's time).
const STATEMENT_ROWS: [usize; 4] = [128, 32, 8, 1];

pub(super) fn connect_lazy(url: &str, max_connections: u32) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::Config("DATABASE_URL is not a valid sqlite: URL".into()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL syncs at checkpoints rather than at every commit: safe against a
        // crash of the gateway, and every record is in the audit file before this anyway.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(ACQUIRE_TIMEOUT)
        // Each multi-row INSERT inside the batch's transaction keeps a statement journal (the
        // pages it changed, to undo it alone); past 64 KiB SQLite spills it to a new file in
        // /var/tmp, created, written page by page and deleted for every statement (a pwrite
        // per record). In memory it costs at most the pages one statement touches.
        .pragma("temp_store", "memory")
        // sqlx would log a slow statement with its whole text (a migration file, a 128-row
        // INSERT); the writer reports its own slowness.
        .disable_statement_logging();
    Ok(SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

/// Create the database's folder (the writer's job: a reader alone leaves no trace on disk),
/// then apply the migrations.
pub(super) async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let options = pool.connect_options();
    if let Some(parent) = options.get_filename().parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the audit database folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    // `None` on a new database (no migrations table yet).
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await
        .ok()
        .flatten();
    let rebuilds = applied.is_some_and(|version| version < 2);
    if rebuilds {
        tracing::info!(
            "audit database: rebuilding audit_log in its compact form (once; about 10 s per million records; records queue meanwhile)"
        );
    }
    migrator(LATEST_VERSION).run(pool).await?;
    if rebuilds {
        // The copy went through the write-ahead log: fold it into the database and give
        // its space back, rather than leave a log as large as the table.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await?;
        tracing::info!("audit database: audit_log rebuilt");
    }
    Ok(())
}

/// The version of the last migration.
const LATEST_VERSION: i64 = 3;

/// The migrations up to `version`, each in its own transaction.
fn migrator(version: i64) -> Migrator {
    let all = [
        (1, "audit_log", MIGRATION_0001),
        (2, "compact audit_log", MIGRATION_0002),
        (3, "auth and api_keys", MIGRATION_0003),
    ];
    Migrator::with_migrations(
        all.into_iter()
            .filter(|(number, _, _)| *number <= version)
            .map(|(number, description, sql)| {
                Migration::new(
                    number,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

pub(super) async fn insert(pool: &SqlitePool, records: &[AuditRecord]) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await?;
    // IMMEDIATE takes the write lock now: the head read below cannot go stale.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    // Records already present (a retried batch, a replayed spool) are found by time, then id:
    // `id` has no index of its own, and a record keeps its timestamp.
    let ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let Some((earliest, latest)) = time_span(records) else {
        return Ok(0);
    };
    let existing: Vec<String> = sqlx::query_scalar(
        r#"SELECT id FROM audit_log WHERE "timestamp" BETWEEN ? AND ?
           AND id IN (SELECT value FROM json_each(?))"#,
    )
    .bind(format_timestamp(&earliest))
    .bind(format_timestamp(&latest))
    .bind(ids_json)
    .fetch_all(&mut *tx)
    .await?;
    let existing: Vec<Uuid> = existing
        .iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect();
    let linked = link_new(records, &existing, head);
    let mut inserted = 0;
    let mut rest = linked.as_slice();
    for (size, rows) in STATEMENT_ROWS.into_iter().enumerate() {
        while rest.len() >= rows {
            let (chunk, tail) = rest.split_at(rows);
            rest = tail;
            let mut query = sqlx::query(insert_sql(size));
            for Linked {
                seq,
                record: r,
                prev_hash,
                hash,
            } in chunk
            {
                query = query
                    .bind(*seq)
                    .bind(r.id.to_string())
                    .bind(format_timestamp(&r.timestamp))
                    .bind(r.event.as_str())
                    .bind(r.request_id.as_deref())
                    .bind(r.session_id.as_deref())
                    .bind(r.user.as_deref())
                    .bind(r.subject.as_deref())
                    .bind(Json(&r.roles))
                    .bind(r.client_ip.as_deref())
                    .bind(r.transport.map(transport_str))
                    .bind(r.tool.as_deref())
                    .bind(r.mcp_server.as_deref())
                    .bind(r.backend_tool.as_deref())
                    .bind(Json(&r.parameters))
                    .bind(r.status.as_str())
                    .bind(duration_column(r))
                    .bind(r.error.as_deref())
                    .bind(r.broadcast_id.map(|id| id.to_string()))
                    .bind(r.truncated)
                    .bind(Json(&r.details))
                    .bind(prev_hash.as_str())
                    .bind(hash.as_str())
                    .bind(r.auth.map(AuthKind::as_str))
                    .bind(r.key_id.as_deref());
            }
            inserted += query.execute(&mut *tx).await?.rows_affected();
        }
    }
    tx.commit().await?;
    Ok(inserted)
}

/// The earliest and latest timestamps of a batch (`None` when it is empty).
fn time_span(records: &[AuditRecord]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = records.first()?.timestamp;
    Some(
        records
            .iter()
            .fold((first, first), |(earliest, latest), r| {
                (earliest.min(r.timestamp), latest.max(r.timestamp))
            }),
    )
}

/// The INSERT of as many records as `STATEMENT_ROWS[size]`; the texts are built once.
fn insert_sql(size: usize) -> SqlStr {
    static SQL: OnceLock<Vec<SqlStr>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        let row = format!("({})", ["?"; 25].join(", "));
        STATEMENT_ROWS
            .iter()
            .map(|&rows| {
                let values = vec![row.as_str(); rows].join(", ");
                let sql = format!("INSERT INTO audit_log (seq, {COLUMNS}) VALUES {values}");
                // Shared, so that handing it to a query does not copy it.
                AssertSqlSafe(Arc::<str>::from(sql)).into_sql_str()
            })
            .collect()
    });
    all[size].clone()
}

pub(super) async fn query(
    pool: &SqlitePool,
    filter: &AuditFilter,
    fetch: i64,
) -> Result<Vec<StoredRow>, StoreError> {
    let mut builder =
        QueryBuilder::<Sqlite>::new(format!("SELECT seq, {COLUMNS} FROM audit_log WHERE 1"));
    if let Some(user) = &filter.user {
        builder.push(r#" AND "user" = "#).push_bind(user.clone());
    }
    if let Some(tool) = &filter.tool {
        builder.push(" AND tool = ").push_bind(tool.clone());
    }
    if let Some(server) = &filter.server {
        builder.push(" AND mcp_server = ").push_bind(server.clone());
    }
    if let Some(status) = filter.status {
        builder.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(since) = filter.since {
        builder
            .push(r#" AND "timestamp" >= "#)
            .push_bind(format_timestamp(&since));
    }
    if let Some(until) = filter.until {
        builder
            .push(r#" AND "timestamp" < "#)
            .push_bind(format_timestamp(&until));
    }
    if let Some(cursor) = filter.cursor {
        builder
            .push(r#" AND ("timestamp", id) < ("#)
            .push_bind(format_timestamp(&cursor.timestamp))
            .push(", ")
            .push_bind(cursor.id.to_string())
            .push(")");
    }
    builder
        .push(r#" ORDER BY "timestamp" DESC, id DESC LIMIT "#)
        .push_bind(fetch);
    let rows = builder.build().persistent(false).fetch_all(pool).await?;
    rows.iter()
        .map(|row| read_row(row).map_err(StoreError::Config))
        .collect()
}

pub(super) async fn chain_page(
    pool: &SqlitePool,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<(i64, Result<StoredRow, String>)>, StoreError> {
    let sql = format!("SELECT seq, {COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let mut page = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        page.push((seq, read_row(row)));
    }
    Ok(page)
}

fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, String>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(column)
        .map_err(|e| format!("column {column}: {e}"))
}

fn uuid_column(text: &str, column: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text).map_err(|_| format!("column {column}: not a UUID"))
}

fn read_row(row: &SqliteRow) -> Result<StoredRow, String> {
    let id: String = get(row, "id")?;
    let timestamp: String = get(row, "timestamp")?;
    let broadcast_id: Option<String> = get(row, "broadcast_id")?;
    Ok(StoredRow {
        seq: get(row, "seq")?,
        id: uuid_column(&id, "id")?,
        timestamp: DateTime::parse_from_rfc3339(&timestamp)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| "column timestamp: not an RFC 3339 time".to_owned())?,
        event: get(row, "event")?,
        request_id: get(row, "request_id")?,
        session_id: get(row, "session_id")?,
        user: get(row, "user")?,
        subject: get(row, "subject")?,
        roles: get::<Json<Vec<String>>>(row, "roles")?.0,
        client_ip: get(row, "client_ip")?,
        transport: get(row, "transport")?,
        tool: get(row, "tool")?,
        mcp_server: get(row, "mcp_server")?,
        backend_tool: get(row, "backend_tool")?,
        parameters: get::<Json<serde_json::Value>>(row, "parameters")?.0,
        status: get(row, "status")?,
        duration_ms: get(row, "duration_ms")?,
        error: get(row, "error")?,
        broadcast_id: broadcast_id
            .as_deref()
            .map(|id| uuid_column(id, "broadcast_id"))
            .transpose()?,
        truncated: get(row, "truncated")?,
        details: get::<Json<serde_json::Value>>(row, "details")?.0,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
        auth: get(row, "auth")?,
        key_id: get(row, "key_id")?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration as TimeDelta, TimeZone as _};

    use super::*;
    use crate::audit::chain::ChainStart;
    use crate::audit::record::{AuditEvent, AuditStatus};
    use crate::audit::store::Store;

    fn records(count: usize) -> Vec<AuditRecord> {
        let start = Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap();
        (0..count)
            .map(|n| {
                let mut record = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success)
                    .with_timestamp(start + TimeDelta::milliseconds(n as i64 / 3));
                record.user = Some(format!("user{}", n % 4));
                record.tool = Some(format!("s__t{}", n % 5));
                record
            })
            .collect()
    }

    async fn store_at(dir: &std::path::Path) -> (SqlitePool, Store) {
        let url = format!("sqlite://{}", dir.join("audit.db").display());
        (
            connect_lazy(&url, 1).unwrap(),
            Store::connect_lazy(&url).unwrap(),
        )
    }

    async fn schema(pool: &SqlitePool) -> Vec<String> {
        sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    /// A database written before 0002 keeps every record, its order and its chain, and takes
    /// new records after the migration.
    #[tokio::test]
    async fn the_compacting_migration_keeps_every_record_and_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, store) = store_at(dir.path()).await;
        migrator(1).run(&pool).await.unwrap();
        // Today's writer also fills the columns of migration 3; the rebuild of migration 2
        // copies the first ones only (these rows have none of the later ones set).
        sqlx::query("ALTER TABLE audit_log ADD COLUMN auth TEXT; ALTER TABLE audit_log ADD COLUMN key_id TEXT")
            .execute(&pool)
            .await
            .unwrap();
        let batch = records(700);
        assert_eq!(insert(&pool, &batch[..500]).await.unwrap(), 500);
        let before = chain_page(&pool, 0, 1000).await.unwrap();

        migrate(&pool).await.unwrap();
        let tables = schema(&pool).await.join("\n");
        assert!(
            tables.contains("seq          INTEGER PRIMARY KEY"),
            "{tables}"
        );
        assert!(!tables.contains("audit_log_seq"), "{tables}");
        let after = chain_page(&pool, 0, 1000).await.unwrap();
        assert_eq!(
            format!("{after:?}"),
            format!("{before:?}"),
            "rows changed in the copy"
        );

        // New records continue the chain; ones already there are not written twice.
        assert_eq!(insert(&pool, &batch[400..]).await.unwrap(), 200);
        let report = crate::audit::verify::verify_store(&store, ChainStart::Genesis)
            .await
            .unwrap();
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.checked, 700);
        migrate(&pool).await.unwrap();
    }

    /// Statement journals (and any other temporary file) stay in memory: on disk, every
    /// multi-row INSERT created, wrote and deleted a file.
    #[tokio::test]
    async fn temporary_files_are_kept_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, _) = store_at(dir.path()).await;
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(temp_store, 2, "2 is MEMORY");
    }

    /// `/audit` pages come newest first by (timestamp, id), ties included, filtered or not.
    #[tokio::test]
    async fn pages_follow_time_then_id_through_ties() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, _) = store_at(dir.path()).await;
        migrate(&pool).await.unwrap();
        let batch = records(60);
        insert(&pool, &batch).await.unwrap();
        for user in [None, Some("user1")] {
            let mut expected: Vec<&AuditRecord> = batch
                .iter()
                .filter(|r| user.is_none_or(|u| r.user.as_deref() == Some(u)))
                .collect();
            expected.sort_by_key(|r| std::cmp::Reverse((r.timestamp, r.id.to_string())));
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let filter = AuditFilter {
                    user: user.map(str::to_owned),
                    cursor,
                    limit: 7,
                    ..AuditFilter::default()
                };
                let rows = query(&pool, &filter, 8).await.unwrap();
                let more = rows.len() > 7;
                seen.extend(rows.iter().take(7).map(|row| row.id));
                if !more {
                    break;
                }
                let last = &rows[6];
                cursor = Some(crate::audit::query::Cursor {
                    timestamp: last.timestamp,
                    id: last.id,
                });
            }
            let expected: Vec<Uuid> = expected.iter().map(|r| r.id).collect();
            assert_eq!(seen, expected, "user {user:?}");
        }
    }
}
