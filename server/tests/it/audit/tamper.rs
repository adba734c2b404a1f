//! The hash chains catch an edited, a deleted and an inserted record, in the file (through
//! `mcp-gateway audit verify --file`) and in the database (PostgreSQL and SQLite, through
//! the verifier and `audit verify --database`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use mcp_gateway::audit::chain::BreakKind;
use mcp_gateway::audit::{AuditRecord, AuditSettings, AuditStatus, Auditor};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;

use super::{PgDb, audit_file, file_records, settings, sqlite_url, table_records, verify_table};

fn verify_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["audit", "verify"])
        .args(args)
        .output()
        .expect("run mcp-gateway audit verify")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn record_on(day: u32, minute: u32) -> AuditRecord {
    AuditRecord::new(
        mcp_gateway::audit::AuditEvent::ToolCall,
        AuditStatus::Success,
    )
    .with_timestamp(Utc.with_ymd_and_hms(2026, 11, day, 10, minute, 0).unwrap())
}

fn rewrite_lines(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    edit(&mut lines);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn the_file_chain_check_names_the_first_broken_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = audit_file(dir.path());
    let auditor = Auditor::start(&AuditSettings::file_only(&path))
        .await
        .unwrap();
    // Five records on each of two days: one rotated file and the active one.
    for day in [20, 21] {
        for minute in 0..5 {
            auditor.record(record_on(day, minute));
        }
    }
    auditor.flush_and_close(Duration::from_secs(5)).await;
    let file = path.to_str().unwrap();
    assert!(dir.path().join("audit.json.2026-11-20").exists());

    let intact = verify_cli(&["--file", file]);
    assert_eq!(intact.status.code(), Some(0), "{}", stdout(&intact));
    assert!(
        stdout(&intact).contains("OK: 10 record(s)"),
        "{}",
        stdout(&intact)
    );

    let original = std::fs::read_to_string(&path).unwrap();
    let third_id = file_records(&path)[2]["id"].as_str().unwrap().to_owned();

    // Edited: the 3rd line of the active file is record 8 of the chain.
    rewrite_lines(&path, |lines| {
        lines[2] = lines[2].replace("\"success\"", "\"error\"");
    });
    let edited = verify_cli(&["--file", file]);
    assert_eq!(edited.status.code(), Some(1));
    let text = stdout(&edited);
    assert!(text.contains("record 8"), "{text}");
    assert!(text.contains(&third_id), "{text}");
    assert!(text.contains("audit.json:3"), "{text}");
    assert!(text.contains("edited"), "{text}");

    // Deleted.
    std::fs::write(&path, &original).unwrap();
    rewrite_lines(&path, |lines| {
        lines.remove(2);
    });
    let deleted = verify_cli(&["--file", file]);
    assert_eq!(deleted.status.code(), Some(1));
    assert!(
        stdout(&deleted).contains("record 8"),
        "{}",
        stdout(&deleted)
    );
    assert!(stdout(&deleted).contains("deleted or inserted"));

    // Inserted: a record forged from another one, placed after the 2nd line.
    std::fs::write(&path, &original).unwrap();
    rewrite_lines(&path, |lines| {
        let forged = lines[0].replace(&lines[0][7..43], "0190f2a0-0000-7000-8000-000000000001");
        lines.insert(2, forged);
    });
    let inserted = verify_cli(&["--file", file]);
    assert_eq!(inserted.status.code(), Some(1));
    assert!(
        stdout(&inserted).contains("record 8"),
        "{}",
        stdout(&inserted)
    );

    // Restored: intact again. A file that is not there: not checked.
    std::fs::write(&path, &original).unwrap();
    assert_eq!(verify_cli(&["--file", file]).status.code(), Some(0));
    let missing = dir.path().join("missing.json");
    let not_checked = verify_cli(&["--file", missing.to_str().unwrap()]);
    assert_eq!(not_checked.status.code(), Some(2));
}

/// Raw SQL on either backend.
enum Raw {
    Pg(sqlx::PgPool),
    Lite(sqlx::SqlitePool),
}

impl Raw {
    async fn connect(url: &str) -> Raw {
        if url.starts_with("postgres") {
            Raw::Pg(PgPoolOptions::new().connect(url).await.unwrap())
        } else {
            Raw::Lite(SqlitePoolOptions::new().connect(url).await.unwrap())
        }
    }

    async fn exec(&self, sql: &str) {
        match self {
            Raw::Pg(pool) => sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .map(|_| ()),
            Raw::Lite(pool) => sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn new_id(&self) -> &'static str {
        match self {
            Raw::Pg(_) => "gen_random_uuid()",
            Raw::Lite(_) => "'0190f2a0-0000-7000-8000-000000000001'",
        }
    }

    async fn close(self) {
        match self {
            Raw::Pg(pool) => pool.close().await,
            Raw::Lite(pool) => pool.close().await,
        }
    }
}

const REST: &str = r#""timestamp", event, request_id, session_id, "user", subject, roles, client_ip, transport, tool, mcp_server, backend_tool, parameters, status, duration_ms, error, broadcast_id, truncated, details, prev_hash, hash"#;

/// Write 10 records, then tamper with the table three ways, checking and restoring each time.
async fn database_chain_check(url: &str, dir: &Path) {
    let auditor = Auditor::start(&settings(dir, url)).await.unwrap();
    for minute in 0..10 {
        auditor.record(record_on(21, minute));
    }
    auditor.flush_and_close(Duration::from_secs(10)).await;
    let rows = table_records(url).await;
    let intact = verify_table(url).await;
    assert!(intact.intact(), "{intact:?}");
    assert_eq!(intact.checked, 10);

    let raw = Raw::connect(url).await;
    raw.exec("CREATE TABLE audit_backup AS SELECT * FROM audit_log")
        .await;
    let restore = "DELETE FROM audit_log; INSERT INTO audit_log SELECT * FROM audit_backup";

    raw.exec("UPDATE audit_log SET status = 'error' WHERE seq = 4")
        .await;
    let broken = verify_table(url).await.broken.expect("edit caught");
    assert_eq!(broken.position, 4);
    assert_eq!(broken.id.as_deref(), rows[3]["id"].as_str());
    assert_eq!(broken.location, "seq 4");
    assert!(matches!(broken.kind, BreakKind::Content { .. }));
    raw.exec(restore).await;
    assert!(verify_table(url).await.intact());

    raw.exec("DELETE FROM audit_log WHERE seq = 5").await;
    let broken = verify_table(url).await.broken.expect("deletion caught");
    assert_eq!(broken.position, 5);
    assert_eq!(broken.id.as_deref(), rows[5]["id"].as_str());
    assert!(matches!(broken.kind, BreakKind::Linkage { .. }));
    raw.exec(restore).await;

    // Make room after seq 6 and insert a copy of row 6 under a new id.
    raw.exec("UPDATE audit_log SET seq = -seq WHERE seq > 6")
        .await;
    raw.exec("UPDATE audit_log SET seq = 1 - seq WHERE seq < 0")
        .await;
    raw.exec(&format!(
        "INSERT INTO audit_log (seq, id, {REST}) SELECT 7, {}, {REST} FROM audit_log WHERE seq = 6",
        raw.new_id()
    ))
    .await;
    let broken = verify_table(url).await.broken.expect("insertion caught");
    assert_eq!(broken.position, 7);
    assert_eq!(broken.location, "seq 7");
    assert!(matches!(broken.kind, BreakKind::Linkage { .. }));

    if url.starts_with("postgres") {
        let cli = verify_cli(&["--database", url]);
        assert_eq!(cli.status.code(), Some(1), "{}", stdout(&cli));
        assert!(stdout(&cli).contains("record 7"), "{}", stdout(&cli));
    }
    raw.exec(restore).await;
    if url.starts_with("postgres") {
        let cli = verify_cli(&["--database", url]);
        assert_eq!(cli.status.code(), Some(0), "{}", stdout(&cli));
    }
    raw.close().await;
}

#[tokio::test]
async fn the_postgres_chain_check_catches_edits_deletions_and_insertions() {
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    database_chain_check(&db.url(), dir.path()).await;
}

#[tokio::test]
async fn the_sqlite_chain_check_catches_edits_deletions_and_insertions() {
    let dir = tempfile::tempdir().unwrap();
    database_chain_check(&sqlite_url(dir.path()), dir.path()).await;
}

#[tokio::test]
async fn a_bad_database_url_is_not_checked_and_not_echoed() {
    let cli = verify_cli(&["--database", "postgres://u:hunter2@127.0.0.1:1/x"]);
    assert_eq!(cli.status.code(), Some(2));
    let all = format!("{}{}", stdout(&cli), String::from_utf8_lossy(&cli.stderr));
    assert!(!all.contains("hunter2"), "{all}");
}
