//! `api_keys` and `llm_keys` in the audit database (Postgres or SQLite, the same pools as
//! the audit log): API keys kept as digests, looked up on every request that presents one,
//! so that a revocation holds at once on every gateway sharing the database; users' own
//! upstream keys kept sealed (`sealed`).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::types::Json;

use super::ApiKey;
use crate::audit::StoreError;
use crate::audit::record::format_timestamp;
use crate::audit::store::Store;

const COLUMNS: &str = "id, name, owner, subject, roles, created_at, expires_at, revoked_at";

/// The API keys of one database.
#[derive(Clone, Debug)]
pub struct KeyStore {
    store: Store,
}

impl KeyStore {
    /// The keys of the auditor's database; `None` when it has none.
    pub fn of(auditor: &crate::audit::Auditor) -> Option<KeyStore> {
        auditor.reader().map(|reader| KeyStore {
            store: reader.store().clone(),
        })
    }

    /// Keep `key` under `digest`.
    pub async fn insert(&self, key: &ApiKey, digest: &str) -> Result<(), StoreError> {
        match &self.store {
            Store::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO api_keys (id, name, owner, subject, roles, digest, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&key.id)
                .bind(&key.name)
                .bind(&key.owner)
                .bind(&key.subject)
                .bind(&key.roles)
                .bind(digest)
                .bind(key.created_at)
                .bind(key.expires_at)
                .execute(pool)
                .await?;
            }
            Store::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO api_keys (id, name, owner, subject, roles, digest, created_at, expires_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&key.id)
                .bind(&key.name)
                .bind(&key.owner)
                .bind(&key.subject)
                .bind(Json(&key.roles))
                .bind(digest)
                .bind(format_timestamp(&key.created_at))
                .bind(key.expires_at.as_ref().map(format_timestamp))
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// The key stored under `digest`, revoked or expired ones included.
    pub async fn by_digest(&self, digest: &str) -> Result<Option<ApiKey>, StoreError> {
        self.one("digest", digest).await
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        self.one("id", id).await
    }

    /// Every key of `owner` (every key when `None`), oldest first.
    pub async fn list(&self, owner: Option<&str>) -> Result<Vec<ApiKey>, StoreError> {
        let filter = if owner.is_some() {
            " WHERE owner = $1"
        } else {
            ""
        };
        let sql = format!("SELECT {COLUMNS} FROM api_keys{filter} ORDER BY created_at, id");
        match &self.store {
            Store::Postgres(pool) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                if let Some(owner) = owner {
                    query = query.bind(owner);
                }
                query.fetch_all(pool).await?.iter().map(pg_row).collect()
            }
            Store::Sqlite(pool) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.replace("$1", "?")));
                if let Some(owner) = owner {
                    query = query.bind(owner);
                }
                query
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(sqlite_row)
                    .collect()
            }
        }
    }

    /// Mark the key revoked at `now` (a key revoked already keeps its first time): the key as
    /// it is afterwards and whether this call revoked it, or `None` when there is no such key.
    pub async fn revoke(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiKey, bool)>, StoreError> {
        let changed = match &self.store {
            Store::Postgres(pool) => sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected(),
            Store::Sqlite(pool) => sqlx::query(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            )
            .bind(format_timestamp(&now))
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        Ok(self.by_id(id).await?.map(|key| (key, changed > 0)))
    }

    /// Keep `owner`'s sealed upstream key (replacing one kept before).
    pub async fn put_sealed(
        &self,
        owner: &str,
        sealed: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match &self.store {
            Store::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO llm_keys (owner, sealed, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (owner) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = EXCLUDED.updated_at",
                )
                .bind(owner)
                .bind(sealed)
                .bind(now)
                .execute(pool)
                .await?;
            }
            Store::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO llm_keys (owner, sealed, updated_at) VALUES (?, ?, ?) \
                     ON CONFLICT (owner) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                )
                .bind(owner)
                .bind(sealed)
                .bind(format_timestamp(&now))
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// `owner`'s sealed upstream key and when it was stored.
    pub async fn sealed(&self, owner: &str) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        match &self.store {
            Store::Postgres(pool) => Ok(sqlx::query_as::<_, (String, DateTime<Utc>)>(
                "SELECT sealed, updated_at FROM llm_keys WHERE owner = $1",
            )
            .bind(owner)
            .fetch_optional(pool)
            .await?),
            Store::Sqlite(pool) => {
                let row = sqlx::query_as::<_, (String, String)>(
                    "SELECT sealed, updated_at FROM llm_keys WHERE owner = ?",
                )
                .bind(owner)
                .fetch_optional(pool)
                .await?;
                row.map(|(sealed, at)| {
                    DateTime::parse_from_rfc3339(&at)
                        .map(|t| (sealed, t.with_timezone(&Utc)))
                        .map_err(|_| {
                            StoreError::Config("llm_keys.updated_at: not an RFC 3339 time".into())
                        })
                })
                .transpose()
            }
        }
    }

    /// Forget `owner`'s upstream key; whether there was one.
    pub async fn remove_sealed(&self, owner: &str) -> Result<bool, StoreError> {
        let removed = match &self.store {
            Store::Postgres(pool) => sqlx::query("DELETE FROM llm_keys WHERE owner = $1")
                .bind(owner)
                .execute(pool)
                .await?
                .rows_affected(),
            Store::Sqlite(pool) => sqlx::query("DELETE FROM llm_keys WHERE owner = ?")
                .bind(owner)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(removed > 0)
    }

    async fn one(&self, column: &'static str, value: &str) -> Result<Option<ApiKey>, StoreError> {
        match &self.store {
            Store::Postgres(pool) => {
                let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE {column} = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(pg_row).transpose()
            }
            Store::Sqlite(pool) => {
                let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE {column} = ?");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(sqlite_row).transpose()
            }
        }
    }
}

fn pg_row(row: &sqlx::postgres::PgRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        owner: row.try_get("owner")?,
        subject: row.try_get("subject")?,
        roles: row.try_get("roles")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Result<ApiKey, StoreError> {
    let time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| StoreError::Config(format!("api_keys.{column}: not an RFC 3339 time")))
        })
        .transpose()
    };
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        owner: row.try_get("owner")?,
        subject: row.try_get("subject")?,
        roles: row.try_get::<Json<Vec<String>>, _>("roles")?.0,
        created_at: time("created_at")?
            .ok_or_else(|| StoreError::Config("api_keys.created_at is empty".into()))?,
        expires_at: time("expires_at")?,
        revoked_at: time("revoked_at")?,
    })
}
