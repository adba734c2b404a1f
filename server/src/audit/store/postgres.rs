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
    if linked.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let columns = Columns::of(&linked);
    // One array per column, whatever the batch size: one statement text, prepared once per
    // connection, and a parse cost independent of the number of rows.
    let result = sqlx::query(INSERT)
        .bind(columns.seq)
        .bind(columns.id)
        .bind(columns.timestamp)
        .bind(columns.event)
        .bind(columns.request_id)
        .bind(columns.session_id)
        .bind(columns.user)
        .bind(columns.subject)
        .bind(columns.roles)
        .bind(columns.client_ip)
        .bind(columns.transport)
        .bind(columns.tool)
        .bind(columns.mcp_server)
        .bind(columns.backend_tool)
        .bind(columns.parameters)
        .bind(columns.status)
        .bind(columns.duration_ms)
        .bind(columns.error)
        .bind(columns.broadcast_id)
        .bind(columns.truncated)
        .bind(columns.details)
        .bind(columns.prev_hash)
        .bind(columns.hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(result.rows_affected())
}

/// The batch insert. Roles travel as one JSON array per row (arrays of arrays must be
/// rectangular) and become `TEXT[]` again here. `ON CONFLICT` never fires under the chain
/// lock; it is kept so that no path can ever duplicate a row.
const INSERT: &str = r#"INSERT INTO audit_log (seq, id, "timestamp", event, request_id, session_id, "user", subject, roles, client_ip, transport, tool, mcp_server, backend_tool, parameters, status, duration_ms, error, broadcast_id, truncated, details, prev_hash, hash)
SELECT seq, id, ts, event, request_id, session_id, usr, subject,
       ARRAY(SELECT jsonb_array_elements_text(roles)), client_ip, transport, tool, mcp_server,
       backend_tool, parameters, status, duration_ms, error, broadcast_id, truncated, details,
       prev_hash, hash
FROM UNNEST($1::BIGINT[], $2::UUID[], $3::TIMESTAMPTZ[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
            $7::TEXT[], $8::TEXT[], $9::JSONB[], $10::TEXT[], $11::TEXT[], $12::TEXT[],
            $13::TEXT[], $14::TEXT[], $15::JSONB[], $16::TEXT[], $17::BIGINT[], $18::TEXT[],
            $19::UUID[], $20::BOOLEAN[], $21::JSONB[], $22::TEXT[], $23::TEXT[])
     AS t(seq, id, ts, event, request_id, session_id, usr, subject, roles, client_ip,
          transport, tool, mcp_server, backend_tool, parameters, status, duration_ms, error,
          broadcast_id, truncated, details, prev_hash, hash)
ON CONFLICT (id) DO NOTHING"#;

/// A batch as one array per column.
struct Columns<'a> {
    seq: Vec<i64>,
    id: Vec<Uuid>,
    timestamp: Vec<chrono::DateTime<chrono::Utc>>,
    event: Vec<&'static str>,
    request_id: Vec<Option<&'a str>>,
    session_id: Vec<Option<&'a str>>,
    user: Vec<Option<&'a str>>,
    subject: Vec<Option<&'a str>>,
    roles: Vec<Json<&'a Vec<String>>>,
    client_ip: Vec<Option<&'a str>>,
    transport: Vec<Option<&'static str>>,
    tool: Vec<Option<&'a str>>,
    mcp_server: Vec<Option<&'a str>>,
    backend_tool: Vec<Option<&'a str>>,
    parameters: Vec<Json<&'a serde_json::Value>>,
    status: Vec<&'static str>,
    duration_ms: Vec<Option<i64>>,
    error: Vec<Option<&'a str>>,
    broadcast_id: Vec<Option<Uuid>>,
    truncated: Vec<bool>,
    details: Vec<Json<&'a serde_json::Value>>,
    prev_hash: Vec<&'a str>,
    hash: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn of(linked: &'a [(i64, AuditRecord)]) -> Self {
        let n = linked.len();
        let mut c = Columns {
            seq: Vec::with_capacity(n),
            id: Vec::with_capacity(n),
            timestamp: Vec::with_capacity(n),
            event: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            session_id: Vec::with_capacity(n),
            user: Vec::with_capacity(n),
            subject: Vec::with_capacity(n),
            roles: Vec::with_capacity(n),
            client_ip: Vec::with_capacity(n),
            transport: Vec::with_capacity(n),
            tool: Vec::with_capacity(n),
            mcp_server: Vec::with_capacity(n),
            backend_tool: Vec::with_capacity(n),
            parameters: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            duration_ms: Vec::with_capacity(n),
            error: Vec::with_capacity(n),
            broadcast_id: Vec::with_capacity(n),
            truncated: Vec::with_capacity(n),
            details: Vec::with_capacity(n),
            prev_hash: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
        };
        for (seq, r) in linked {
            c.seq.push(*seq);
            c.id.push(r.id);
            c.timestamp.push(r.timestamp);
            c.event.push(r.event.as_str());
            c.request_id.push(r.request_id.as_deref());
            c.session_id.push(r.session_id.as_deref());
            c.user.push(r.user.as_deref());
            c.subject.push(r.subject.as_deref());
            c.roles.push(Json(&r.roles));
            c.client_ip.push(r.client_ip.as_deref());
            c.transport.push(r.transport.map(transport_str));
            c.tool.push(r.tool.as_deref());
            c.mcp_server.push(r.mcp_server.as_deref());
            c.backend_tool.push(r.backend_tool.as_deref());
            c.parameters.push(Json(&r.parameters));
            c.status.push(r.status.as_str());
            c.duration_ms.push(duration_column(r));
            c.error.push(r.error.as_deref());
            c.broadcast_id.push(r.broadcast_id);
            c.truncated.push(r.truncated);
            c.details.push(Json(&r.details));
            c.prev_hash.push(r.prev_hash.as_deref().unwrap_or_default());
            c.hash.push(r.hash.as_deref().unwrap_or_default());
        }
        c
    }
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
