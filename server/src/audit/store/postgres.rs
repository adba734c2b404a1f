//! PostgreSQL: `TIMESTAMPTZ` times, `UUID` ids, `TEXT[]` roles, `JSONB` parameters and details.

use std::borrow::Cow;
use std::str::FromStr;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Row, SqlSafeStr};
use uuid::Uuid;

use super::{
    ACQUIRE_TIMEOUT, COLUMNS, MAX_CONNECTIONS, StoreError, StoredRow, duration_column, link_new,
};
use crate::audit::query::AuditFilter;
use crate::audit::record::{AuditRecord, transport_str};

const MIGRATION_0001: &str = include_str!("../../../../migrations/postgres/0001_audit_log.sql");

/// Key of the advisory lock that serialises chain appends (ASCII "auditlog").
const CHAIN_LOCK_KEY: i64 = 0x6175_6469_746c_6f67;

/// Rows per INSERT statement: 23 parameters each, PostgreSQL allows 65535.
const ROWS_PER_STATEMENT: usize = 2000;

pub(super) fn connect_lazy(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|_| StoreError::Config("DATABASE_URL is not a valid PostgreSQL URL".into()))?
        .application_name("mcp-gateway");
    Ok(PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

pub(super) async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        Cow::Borrowed("audit_log"),
        MigrationType::Simple,
        MIGRATION_0001.into_sql_str(),
        false,
    )]);
    migrator.run(pool).await?;
    Ok(())
}

pub(super) async fn insert(pool: &PgPool, records: &[AuditRecord]) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
    let existing: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM audit_log WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
    let linked = link_new(records, &existing, head);
    let mut inserted = 0;
    for chunk in linked.chunks(ROWS_PER_STATEMENT) {
        let mut builder =
            QueryBuilder::<Postgres>::new(format!("INSERT INTO audit_log (seq, {COLUMNS}) "));
        builder.push_values(chunk, |mut row, (seq, r)| {
            row.push_bind(*seq)
                .push_bind(r.id)
                .push_bind(r.timestamp)
                .push_bind(r.event.as_str())
                .push_bind(&r.request_id)
                .push_bind(&r.session_id)
                .push_bind(&r.user)
                .push_bind(&r.subject)
                .push_bind(&r.roles)
                .push_bind(&r.client_ip)
                .push_bind(r.transport.map(transport_str))
                .push_bind(&r.tool)
                .push_bind(&r.mcp_server)
                .push_bind(&r.backend_tool)
                .push_bind(Json(&r.parameters))
                .push_bind(r.status.as_str())
                .push_bind(duration_column(r))
                .push_bind(&r.error)
                .push_bind(r.broadcast_id)
                .push_bind(r.truncated)
                .push_bind(Json(&r.details))
                .push_bind(&r.prev_hash)
                .push_bind(&r.hash);
        });
        // Never true under the chain lock; kept so that no path can ever duplicate a row.
        builder.push(" ON CONFLICT (id) DO NOTHING");
        // Batch sizes vary: do not fill the statement cache with one plan per size.
        let result = builder.build().persistent(false).execute(&mut *tx).await?;
        inserted += result.rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}

pub(super) async fn query(
    pool: &PgPool,
    filter: &AuditFilter,
    fetch: i64,
) -> Result<Vec<StoredRow>, StoreError> {
    let mut builder =
        QueryBuilder::<Postgres>::new(format!("SELECT seq, {COLUMNS} FROM audit_log WHERE TRUE"));
    if let Some(user) = &filter.user {
        builder.push(r#" AND "user" = "#).push_bind(user);
    }
    if let Some(tool) = &filter.tool {
        builder.push(" AND tool = ").push_bind(tool);
    }
    if let Some(server) = &filter.server {
        builder.push(" AND mcp_server = ").push_bind(server);
    }
    if let Some(status) = filter.status {
        builder.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(since) = filter.since {
        builder.push(r#" AND "timestamp" >= "#).push_bind(since);
    }
    if let Some(until) = filter.until {
        builder.push(r#" AND "timestamp" < "#).push_bind(until);
    }
    if let Some(cursor) = filter.cursor {
        builder
            .push(r#" AND ("timestamp", id) < ("#)
            .push_bind(cursor.timestamp)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    builder
        .push(r#" ORDER BY "timestamp" DESC, id DESC LIMIT "#)
        .push_bind(fetch);
    let rows = builder.build().persistent(false).fetch_all(pool).await?;
    rows.iter()
        .map(|row| read_row(row).map_err(StoreError::Database))
        .collect()
}

pub(super) async fn chain_page(
    pool: &PgPool,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<(i64, Result<StoredRow, String>)>, StoreError> {
    let sql = format!("SELECT seq, {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let mut page = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        page.push((seq, read_row(row).map_err(|e| e.to_string())));
    }
    Ok(page)
}

fn read_row(row: &PgRow) -> Result<StoredRow, sqlx::Error> {
    Ok(StoredRow {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        timestamp: row.try_get("timestamp")?,
        event: row.try_get("event")?,
        request_id: row.try_get("request_id")?,
        session_id: row.try_get("session_id")?,
        user: row.try_get("user")?,
        subject: row.try_get("subject")?,
        roles: row.try_get("roles")?,
        client_ip: row.try_get("client_ip")?,
        transport: row.try_get("transport")?,
        tool: row.try_get("tool")?,
        mcp_server: row.try_get("mcp_server")?,
        backend_tool: row.try_get("backend_tool")?,
        parameters: row.try_get::<Json<serde_json::Value>, _>("parameters")?.0,
        status: row.try_get("status")?,
        duration_ms: row.try_get("duration_ms")?,
        error: row.try_get("error")?,
        broadcast_id: row.try_get("broadcast_id")?,
        truncated: row.try_get("truncated")?,
        details: row.try_get::<Json<serde_json::Value>, _>("details")?.0,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}
