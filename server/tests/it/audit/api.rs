//! `GET /audit` on PostgreSQL and SQLite: admin only, every filter, relative and absolute
//! times, bad input, and cursor pagination in a stable order.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{SecondsFormat, Utc};
use mcp_gateway::audit::{AuditEvent, AuditRecord, AuditStatus, Auditor};
use mcp_gateway::http::audit_api;
use mcp_gateway::principal::{Identity, Principal};
use serde_json::Value;

use super::{PgDb, settings, sqlite_url};
use crate::common::TestGateway;

/// Stands in for authentication: `x-test-roles: a,b` makes the caller a principal with those
/// roles; no header, no principal.
async fn test_principal(mut request: Request, next: Next) -> Response {
    let roles = request
        .headers()
        .get("x-test-roles")
        .and_then(|v| v.to_str().ok())
        .map(|roles| {
            roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect::<BTreeSet<_>>()
        });
    if let Some(roles) = roles {
        request.extensions_mut().insert(Principal::from(Identity {
            user: "tester".into(),
            subject: "tester".into(),
            roles,
            scopes: BTreeSet::new(),
            credential: mcp_gateway::principal::Credential::Jwt,
        }));
    }
    next.run(request).await
}

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn serve(router: Router) -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Api {
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, query: &str, roles: Option<&str>) -> (u16, Value) {
        let mut request = self.client.get(format!("{}/audit{query}", self.base));
        if let Some(roles) = roles {
            request = request.header("x-test-roles", roles);
        }
        let response = request.send().await.expect("GET /audit");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    async fn admin(&self, query: &str) -> Value {
        let (status, body) = self.get(query, Some("admin")).await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    }

    async fn ids(&self, query: &str) -> Vec<String> {
        self.admin(query).await["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn at(record: AuditRecord, ago: Duration) -> AuditRecord {
    let time = Utc::now() - chrono::Duration::from_std(ago).unwrap();
    record.with_timestamp(time)
}

fn call(user: &str, server: &str, status: AuditStatus) -> AuditRecord {
    let mut record = AuditRecord::new(AuditEvent::ToolCall, status);
    record.user = Some(user.into());
    record.tool = Some(format!("{server}__search"));
    record.mcp_server = Some(server.into());
    record
}

async fn audit_api_answers(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::start(&settings(dir.path(), database_url))
        .await
        .unwrap();
    let two_hours = at(
        call("alice", "a", AuditStatus::Success),
        Duration::from_secs(7200),
    );
    let half_hour = at(
        call("bob", "b", AuditStatus::Denied),
        Duration::from_secs(1800),
    );
    let recent = at(
        call("alice", "a", AuditStatus::Error),
        Duration::from_secs(10),
    );
    // Five records sharing one timestamp: pages must split them by id, never lose one.
    let tied_time = Utc::now() - chrono::Duration::minutes(5);
    let tied: Vec<AuditRecord> = (0..5)
        .map(|_| call("carol", "c", AuditStatus::Success).with_timestamp(tied_time))
        .collect();
    for record in [&two_hours, &half_hour, &recent].into_iter().chain(&tied) {
        auditor.record(record.clone());
    }
    super::wait_written(&auditor).await;

    let reader = auditor.reader().expect("a database reader");
    let api =
        Api::serve(audit_api::routes(reader).layer(axum::middleware::from_fn(test_principal)))
            .await;

    // Only admins.
    for roles in [None, Some(""), Some("user"), Some("user,auditor")] {
        let (status, body) = api.get("", roles).await;
        assert_eq!(status, 403, "{roles:?}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    // A non-admin learns nothing about the filters either.
    assert_eq!(api.get("?since=soon", Some("user")).await.0, 403);

    // Everything, newest first, ties by id descending.
    let all = api.admin("").await;
    assert_eq!(all["next_cursor"], Value::Null);
    let records = all["records"].as_array().unwrap();
    assert_eq!(records.len(), 8);
    let keys: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["timestamp"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted);
    assert_eq!(records[0]["id"], recent.id.to_string());
    assert_eq!(records[7]["id"], two_hours.id.to_string());
    // Records come back whole, with the database chain's hashes.
    assert_eq!(records[0]["user"], "alice");
    assert_eq!(records[0]["status"], "error");
    assert_eq!(records[0]["hash"].as_str().unwrap().len(), 64);

    // Filters.
    assert_eq!(
        api.ids("?user=alice").await,
        [recent.id.to_string(), two_hours.id.to_string()]
    );
    assert_eq!(api.ids("?tool=b__search").await, [half_hour.id.to_string()]);
    assert_eq!(api.ids("?server=a").await.len(), 2);
    assert_eq!(api.ids("?status=denied").await, [half_hour.id.to_string()]);
    assert_eq!(api.ids("?status=error&user=alice").await.len(), 1);
    assert_eq!(api.ids("?user=nobody").await.len(), 0);
    assert_eq!(api.ids("?since=1h").await.len(), 7);
    assert_eq!(api.ids("?since=15m").await.len(), 6);
    assert_eq!(api.ids("?since=90s").await, [recent.id.to_string()]);
    assert_eq!(api.ids("?since=7d").await.len(), 8);
    assert_eq!(api.ids("?until=1h").await, [two_hours.id.to_string()]);
    assert_eq!(
        api.ids("?since=1h&until=15m").await,
        [half_hour.id.to_string()]
    );
    let absolute =
        (Utc::now() - chrono::Duration::minutes(45)).to_rfc3339_opts(SecondsFormat::Secs, true);
    assert_eq!(api.ids(&format!("?since={absolute}")).await.len(), 7);
    assert_eq!(api.ids(&format!("?until={absolute}")).await.len(), 1);

    // Bad input is 400 bad_request.
    for query in [
        "?since=soon",
        "?until=yesterday",
        "?since=1w",
        "?status=bogus",
        "?limit=0",
        "?limit=many",
        "?cursor=not-a-cursor",
        "?user=a&user=b",
    ] {
        let (status, body) = api.get(query, Some("admin")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{query}");
    }

    // Pages of 3: 3 + 3 + 2, same order as the full list, nothing repeated or lost.
    let mut paged = Vec::new();
    let mut query = "?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = api.admin(&query).await;
        pages += 1;
        let ids: Vec<String> = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(ids.len() <= 3);
        paged.extend(ids);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let full: Vec<String> = keys.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(paged, full);
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), 8);
    // Filters hold across pages.
    let first = api.admin("?user=carol&limit=4").await;
    assert_eq!(first["records"].as_array().unwrap().len(), 4);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = api
        .ids(&format!("?user=carol&limit=4&cursor={cursor}"))
        .await;
    assert_eq!(rest.len(), 1);

    auditor.flush_and_close(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn audit_api_on_postgres() {
    let db = PgDb::create().await;
    audit_api_answers(&db.url()).await;
}

#[tokio::test]
async fn audit_api_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    audit_api_answers(&sqlite_url(dir.path())).await;
}

#[tokio::test]
async fn the_gateway_serves_audit_to_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let gateway = TestGateway::start_with_env(
        "servers: {}\n",
        &[("DATABASE_URL", url.as_str()), ("ANONYMOUS_ROLES", "user")],
    )
    .await;
    let response = reqwest::get(format!("{}/audit", gateway.base))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
}
