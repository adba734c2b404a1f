//! The audit subsystem against real databases: PostgreSQL on 127.0.0.1:5432 (user
//! `postgres`, trust auth; a fresh database per test, dropped at the end) and SQLite in a
//! temp dir. A TCP relay the test controls stands between the auditor and PostgreSQL to cut
//! and restore the database.

mod api;
mod bench;
mod delivery;
mod tamper;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_gateway::audit::chain::ChainStart;
use mcp_gateway::audit::store::Store;
use mcp_gateway::audit::verify::{VerifyReport, verify_store};
use mcp_gateway::audit::{AuditSettings, Auditor, WriterTuning};
use mcp_gateway::config::Secret;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::common::PATIENCE;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PG_ADDR: &str = "127.0.0.1:5432";

/// A fresh PostgreSQL database, dropped when this is dropped.
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        let name = format!("audit_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(PG_ADMIN_URL)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) is needed");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        PgDb { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@{PG_ADDR}/{}", self.name)
    }

    /// The same database reached through `relay`.
    pub fn url_via(&self, relay: &Relay) -> String {
        format!("postgres://postgres@{}/{}", relay.addr, self.name)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await; a thread with its own runtime can.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(admin) = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(PG_ADMIN_URL)
                    .await
                {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// A TCP relay to `target` that the test can cut (every connection closed, new ones
/// refused) and restore.
pub struct Relay {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Relay {
    pub async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let target = target.to_owned();
        let accept = {
            let cut = Arc::clone(&cut);
            let connections = Arc::clone(&connections);
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&target).await {
                            // Forward at once: Nagle's algorithm on a relay holds the end
                            // of a message back until an ACK, up to 40 ms.
                            let _ = inbound.set_nodelay(true);
                            let _ = outbound.set_nodelay(true);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().unwrap().push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Relay {
            addr,
            cut,
            connections,
            accept,
        }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Settings for `dir/audit.json` and `database_url`, retrying fast so tests do not wait on
/// production backoff.
pub fn settings(dir: &Path, database_url: &str) -> AuditSettings {
    let mut settings = AuditSettings::file_only(dir.join("audit.json"));
    settings.database_url = Some(Secret::new(database_url));
    settings.writer = WriterTuning {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        write_timeout: Duration::from_secs(10),
        ..WriterTuning::default()
    };
    settings
}

pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("nested/db/gateway.db").display())
}

/// Wait until the database has every record (bounded: a broken build fails, not hangs).
pub async fn wait_written(auditor: &Auditor) {
    let deadline = Instant::now() + PATIENCE;
    while auditor.pending() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} audit records still pending",
            auditor.pending()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every line of an audit file, parsed.
pub fn file_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect()
}

/// Every row of `audit_log` in chain order, as record JSON.
pub async fn table_records(url: &str) -> Vec<Value> {
    let store = Store::connect_lazy(url).expect("store");
    let mut out = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = store.chain_page(after, 1000).await.expect("read audit_log");
        let Some((last, _)) = page.last() else {
            break;
        };
        after = *last;
        out.extend(page.into_iter().map(|(_, row)| row.expect("row").to_json()));
    }
    store.close().await;
    out
}

pub async fn verify_table(url: &str) -> VerifyReport {
    let store = Store::connect_lazy(url).expect("store");
    let report = verify_store(&store, ChainStart::Genesis)
        .await
        .expect("verify");
    store.close().await;
    report
}

pub fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

pub fn audit_file(dir: &Path) -> PathBuf {
    dir.join("audit.json")
}
