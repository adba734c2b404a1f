//! Every record reaches the file and the table: normal operation, broadcasts, redaction,
//! a database cut in the middle of a stream, a database down at start, a shutdown with the
//! database down, and a batch retried after it was partly written.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use mcp_gateway::audit::{AuditEvent, AuditRecord, AuditStatus, Auditor, Store};
use mcp_gateway::principal::{Identity, Principal, RequestContext, Transport};
use serde_json::json;

use super::{
    PG_ADDR, PgDb, Relay, audit_file, file_records, ids, settings, sqlite_url, table_records,
    verify_table, wait_written,
};

fn ctx(user: &str) -> RequestContext {
    RequestContext {
        endpoint: Default::default(),
        principal: Principal::from(Identity {
            user: user.to_owned(),
            subject: format!("sub-{user}"),
            roles: BTreeSet::from(["user".to_owned()]),
            scopes: BTreeSet::new(),
            credential: mcp_gateway::principal::Credential::Jwt,
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        session_id: None,
        client_ip: Some("127.0.0.1".into()),
        transport: Transport::Rest,
        span: tracing::Span::none(),
    }
}

fn call(i: usize) -> AuditRecord {
    AuditRecord::tool_call(
        &ctx("testuser"),
        "prod-elk-1__search_logs",
        "prod-elk-1",
        "search_logs",
        Some(&json!({"query": format!("q{i}"), "n": i})),
    )
    .finished(AuditStatus::Success, Duration::from_millis(5), None)
}

/// `n` records, half awaited with `record`, half with `emit`; then file and table hold the
/// same ids and both chains verify.
async fn n_records_everywhere(database_url: &str, dir: &std::path::Path, n: usize) {
    let auditor = Auditor::start(&settings(dir, database_url))
        .await
        .expect("auditor starts");
    let mut sent = Vec::new();
    for i in 0..n {
        let record = call(i);
        sent.push(record.id.to_string());
        if i % 2 == 0 {
            auditor.record(record);
        } else {
            auditor.emit(record);
        }
    }
    auditor.flush_and_close(Duration::from_secs(20)).await;
    assert_eq!(auditor.pending(), 0);

    let in_file = ids(&file_records(&audit_file(dir)));
    let in_table = ids(&table_records(database_url).await);
    assert_eq!(in_file.len(), n);
    assert_eq!(in_table.len(), n);
    let sent_set: BTreeSet<_> = sent.iter().collect();
    assert_eq!(in_file.iter().collect::<BTreeSet<_>>(), sent_set);
    assert_eq!(in_table.iter().collect::<BTreeSet<_>>(), sent_set);
    let report = verify_table(database_url).await;
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.checked, n as u64);
}

#[tokio::test]
async fn postgres_gets_every_record_the_file_gets() {
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    n_records_everywhere(&db.url(), dir.path(), 300).await;
}

#[tokio::test]
async fn sqlite_gets_every_record_the_file_gets_in_a_created_folder() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    n_records_everywhere(&url, dir.path(), 300).await;
    assert!(dir.path().join("nested/db/gateway.db").exists());
}

#[tokio::test]
async fn a_record_is_on_file_before_record_returns() {
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::start(&settings(dir.path(), &db.url()))
        .await
        .unwrap();
    for i in 0..20 {
        let record = call(i);
        let id = record.id.to_string();
        auditor.record(record);
        let written = file_records(&audit_file(dir.path()));
        assert_eq!(written.len(), i + 1);
        assert_eq!(written[i]["id"], id.as_str());
    }
    auditor.flush_and_close(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn broadcast_parent_and_targets_in_file_and_table() {
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::start(&settings(dir.path(), &db.url()))
        .await
        .unwrap();
    let parent = AuditRecord::broadcast(
        &ctx("testuser"),
        "broadcast__search_logs",
        "search_logs",
        Some(&json!({"query": "error"})),
    );
    let targets: Vec<AuditRecord> = ["prod-elk-1", "prod-elk-2", "staging-elk"]
        .iter()
        .map(|server| {
            AuditRecord::broadcast_target(&parent, server).finished(
                AuditStatus::Success,
                Duration::from_millis(12),
                None,
            )
        })
        .collect();
    for target in &targets {
        auditor.record(target.clone());
    }
    auditor.record(parent.clone().with_duration(Duration::from_millis(20)));
    auditor.flush_and_close(Duration::from_secs(10)).await;

    for records in [
        file_records(&audit_file(dir.path())),
        table_records(&db.url()).await,
    ] {
        let parent_id = parent.id.to_string();
        let parents: Vec<_> = records
            .iter()
            .filter(|r| r["event"] == "broadcast")
            .collect();
        assert_eq!(parents.len(), 1);
        assert_eq!(parents[0]["id"], parent_id.as_str());
        assert_eq!(parents[0]["broadcast_id"], parent_id.as_str());
        assert_eq!(parents[0]["tool"], "broadcast__search_logs");
        let children: Vec<_> = records
            .iter()
            .filter(|r| r["event"] == "tool_call")
            .collect();
        assert_eq!(children.len(), 3);
        let servers: BTreeSet<_> = children
            .iter()
            .map(|c| c["mcp_server"].as_str().unwrap())
            .collect();
        assert_eq!(
            servers,
            BTreeSet::from(["prod-elk-1", "prod-elk-2", "staging-elk"])
        );
        for child in children {
            assert_eq!(child["broadcast_id"], parent_id.as_str());
            assert_ne!(child["id"], parent_id.as_str());
            assert_eq!(child["backend_tool"], "search_logs");
            assert_eq!(
                child["tool"],
                format!("{}__search_logs", child["mcp_server"].as_str().unwrap())
            );
        }
    }
}

#[tokio::test]
async fn secrets_are_redacted_in_file_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let auditor = Auditor::start(&settings(dir.path(), &url)).await.unwrap();
    let parameters = json!({
        "query": "visible-query",
        "api-key": "secret-value-1",
        "Nested": {
            "X_Auth_Token": "secret-value-2",
            "list": [{"PassWord": "secret-value-3"}, {"ok": "visible-item"}],
            "ClientSecret": {"deep": "secret-value-4"}
        },
        "AUTHORIZATION": "Bearer secret-value-5",
        "session_cookie": "secret-value-6"
    });
    let record = AuditRecord::tool_call(&ctx("u"), "a__b", "a", "b", Some(&parameters))
        .with_details(json!({"private_key": "secret-value-7"}));
    auditor.record(record);
    auditor.flush_and_close(Duration::from_secs(10)).await;

    let text = std::fs::read_to_string(audit_file(dir.path())).unwrap();
    for n in 1..=7 {
        assert!(
            !text.contains(&format!("secret-value-{n}")),
            "secret {n} in file"
        );
    }
    let expected = json!({
        "query": "visible-query",
        "api-key": "[REDACTED]",
        "Nested": {
            "X_Auth_Token": "[REDACTED]",
            "list": [{"PassWord": "[REDACTED]"}, {"ok": "visible-item"}],
            "ClientSecret": "[REDACTED]"
        },
        "AUTHORIZATION": "[REDACTED]",
        "session_cookie": "[REDACTED]"
    });
    let in_file = file_records(&audit_file(dir.path()));
    let in_table = table_records(&url).await;
    for record in [&in_file[0], &in_table[0]] {
        assert_eq!(record["parameters"], expected);
        assert_eq!(record["details"], json!({"private_key": "[REDACTED]"}));
    }
}

#[tokio::test]
async fn a_database_cut_during_1000_records_loses_and_duplicates_nothing() {
    let db = PgDb::create().await;
    let relay = Relay::start(PG_ADDR).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), &db.url_via(&relay));
    // A small memory queue so that the outage also goes through the spool file.
    settings.memory_queue = 100;
    let auditor = Auditor::start(&settings).await.unwrap();
    let mut sent = Vec::new();
    let mut recorded_while_cut = 0;
    for i in 0..1000 {
        if i == 300 {
            relay.cut();
        }
        if i == 700 {
            // Every record since the cut is still waiting for the database (those handed to
            // `record` are in the queue for sure; emitted ones may still be on their way).
            assert!(
                auditor.pending() >= recorded_while_cut,
                "pending {} < {recorded_while_cut}",
                auditor.pending()
            );
            assert!(auditor.spooled() > 0, "nothing spooled");
            relay.restore();
        }
        let record = call(i);
        sent.push(record.id.to_string());
        if i % 3 == 0 {
            auditor.emit(record);
        } else {
            auditor.record(record);
            if (300..700).contains(&i) {
                recorded_while_cut += 1;
            }
        }
        if i % 50 == 0 {
            // Let the writer run mid-stream, so that the cut hits batches in flight.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    wait_written(&auditor).await;
    auditor.flush_and_close(Duration::from_secs(10)).await;

    let rows = ids(&table_records(&db.url()).await);
    assert_eq!(rows.len(), 1000, "rows in audit_log");
    let unique: HashSet<_> = rows.iter().collect();
    assert_eq!(unique.len(), 1000, "duplicated rows");
    assert_eq!(unique, sent.iter().collect::<HashSet<_>>());
    let report = verify_table(&db.url()).await;
    assert!(report.intact(), "{report:?}");
    assert_eq!(file_records(&audit_file(dir.path())).len(), 1000);
}

#[tokio::test]
async fn a_database_down_at_start_does_not_stop_the_start_and_records_queue() {
    let db = PgDb::create().await;
    let relay = Relay::start(PG_ADDR).await;
    relay.cut();
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::start(&settings(dir.path(), &db.url_via(&relay)))
        .await
        .expect("starts without its database");
    for i in 0..50 {
        auditor.record(call(i));
    }
    auditor.record(AuditRecord::server_health(
        "prod-db-primary",
        false,
        Some("connection refused"),
    ));
    assert_eq!(auditor.pending(), 51);
    assert_eq!(file_records(&audit_file(dir.path())).len(), 51);
    relay.restore();
    wait_written(&auditor).await;
    let rows = table_records(&db.url()).await;
    assert_eq!(rows.len(), 51);
    let health = rows
        .iter()
        .find(|r| r["event"] == AuditEvent::ServerHealth.as_str())
        .expect("server_health row");
    assert_eq!(health["status"], "error");
    assert_eq!(health["details"]["state"], "down");
    auditor.flush_and_close(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_shutdown_with_the_database_down_spools_and_the_next_start_writes() {
    let db = PgDb::create().await;
    let relay = Relay::start(PG_ADDR).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path(), &db.url_via(&relay));
    let first = Auditor::start(&settings).await.unwrap();
    for i in 0..10 {
        first.record(call(i));
    }
    wait_written(&first).await;
    relay.cut();
    for i in 10..40 {
        first.record(call(i));
    }
    first.flush_and_close(Duration::from_millis(300)).await;
    assert_eq!(first.pending(), 30);
    assert_eq!(first.spooled(), 30);
    drop(first);

    relay.restore();
    let second = Auditor::start(&settings).await.unwrap();
    assert_eq!(second.pending(), 30);
    second.record(call(40));
    wait_written(&second).await;
    second.flush_and_close(Duration::from_secs(10)).await;
    let rows = table_records(&db.url()).await;
    assert_eq!(rows.len(), 41);
    assert_eq!(
        ids(&rows),
        ids(&file_records(&audit_file(dir.path()))),
        "the table keeps the file's order"
    );
    assert!(verify_table(&db.url()).await.intact());
    let spool = std::fs::metadata(dir.path().join("audit.json.spool")).unwrap();
    assert_eq!(spool.len(), 0);
}

#[tokio::test]
async fn two_auditors_on_one_database_build_one_chain() {
    let db = PgDb::create().await;
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let a = Auditor::start(&settings(one.path(), &db.url()))
        .await
        .unwrap();
    let b = Auditor::start(&settings(two.path(), &db.url()))
        .await
        .unwrap();
    for i in 0..200 {
        a.emit(call(i));
        b.emit(call(i));
    }
    a.flush_and_close(Duration::from_secs(20)).await;
    b.flush_and_close(Duration::from_secs(20)).await;
    let report = verify_table(&db.url()).await;
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.checked, 400);
}

#[tokio::test]
async fn a_record_the_database_refuses_is_set_aside_and_the_rest_flows() {
    let db = PgDb::create().await;
    let relay = Relay::start(PG_ADDR).await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::start(&settings(dir.path(), &db.url_via(&relay)))
        .await
        .unwrap();
    // Queued while the database is away, so that all three travel in one batch.
    relay.cut();
    let before = call(0);
    // PostgreSQL keeps no timestamp before 4713 BC: this one is refused as data.
    let refused = call(1).with_timestamp(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, -5000, 1, 1, 0, 0, 0).unwrap(),
    );
    let after = call(2);
    for record in [&before, &refused, &after] {
        auditor.record(record.clone());
    }
    relay.restore();
    wait_written(&auditor).await;
    auditor.flush_and_close(Duration::from_secs(10)).await;

    let rows = ids(&table_records(&db.url()).await);
    assert_eq!(rows, [before.id.to_string(), after.id.to_string()]);
    let set_aside = std::fs::read_to_string(dir.path().join("audit.json.rejected")).unwrap();
    let set_aside: Vec<serde_json::Value> = set_aside
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(set_aside.len(), 1);
    assert_eq!(set_aside[0]["id"], refused.id.to_string());
    assert_eq!(file_records(&audit_file(dir.path())).len(), 3);
    assert!(verify_table(&db.url()).await.intact());
}

/// A batch part of which is in the table already (retried after a commit whose answer was
/// lost, or replayed from the spool) adds only the missing records, after the others, and
/// the chain stays whole.
async fn a_partly_written_batch_adds_only_what_is_missing(database_url: &str) {
    let store = Store::connect_lazy(database_url).unwrap();
    store.migrate().await.unwrap();
    let mut records: Vec<AuditRecord> = (0..10).map(call).collect();
    // Roles that need quoting in an array literal come back as they were (else the chain
    // check below fails).
    records[4].roles = ["a\"b", "c\\d", "NULL", "", " x ", "{,}", "é"]
        .map(String::from)
        .to_vec();
    records[5].roles = Vec::new();
    assert_eq!(store.insert(&records[..6]).await.unwrap(), 6);
    assert_eq!(store.insert(&records[3..]).await.unwrap(), 4);
    assert_eq!(store.insert(&records).await.unwrap(), 0);
    store.close().await;

    let rows = ids(&table_records(database_url).await);
    let expected: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(rows, expected);
    let report = verify_table(database_url).await;
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.checked, 10);
}

#[tokio::test]
async fn postgres_takes_a_partly_written_batch_without_duplicates() {
    let db = PgDb::create().await;
    a_partly_written_batch_adds_only_what_is_missing(&db.url()).await;
}

#[tokio::test]
async fn sqlite_takes_a_partly_written_batch_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    a_partly_written_batch_adds_only_what_is_missing(&sqlite_url(dir.path())).await;
}
