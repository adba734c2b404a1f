//! Audit figures, printed rather than asserted (machines differ). Run with
//! `cargo test --release -p mcp-gateway --test it audit::bench -- --ignored --nocapture`.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use mcp_gateway::audit::{AuditRecord, AuditSettings, AuditStatus, Auditor, Store, WriterTuning};
use mcp_gateway::principal::{Identity, Principal, RequestContext, Transport};
use serde_json::json;

use super::{PG_ADDR, PgDb, Relay, settings};

fn ctx() -> RequestContext {
    RequestContext {
        endpoint: Default::default(),
        principal: Principal::from(Identity {
            user: "bench".into(),
            subject: "bench".into(),
            roles: ["user".to_owned()].into(),
            scopes: Default::default(),
            credential: mcp_gateway::principal::Credential::Jwt,
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        session_id: Some("session".into()),
        client_ip: Some("127.0.0.1".into()),
        transport: Transport::Mcp,
        span: tracing::Span::none(),
    }
}

fn call(ctx: &RequestContext, i: usize) -> AuditRecord {
    AuditRecord::tool_call(
        ctx,
        "prod-elk-1__search_logs",
        "prod-elk-1",
        "search_logs",
        Some(&json!({"query": "level:error AND service:api", "size": 100, "i": i, "api_key": "k"})),
    )
    .finished(AuditStatus::Success, Duration::from_millis(45), None)
}

/// Like `super::wait_written`, with room for a slow (debug) build.
async fn wait_written(auditor: &Auditor) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while auditor.pending() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(auditor.pending(), 0, "records still pending");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Records per second from the queue into PostgreSQL: the queue is filled while the
/// database is cut off, then drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn bench_postgres_records_per_second() {
    const N: usize = 100_000;
    let db = PgDb::create().await;
    let relay = Relay::start(PG_ADDR).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), &db.url_via(&relay));
    settings.memory_queue = N;
    let auditor = Auditor::start(&settings).await.unwrap();
    // Migrations first, so that only inserts are timed.
    auditor.record(call(&ctx(), 0));
    wait_written(&auditor).await;
    relay.cut();
    let ctx = ctx();
    for i in 0..N {
        auditor.record(call(&ctx, i));
    }
    relay.restore();
    // Time from the first batch in: reconnecting after the restore is not insert work.
    while auditor.pending() == N as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let started = Instant::now();
    let queued = auditor.pending();
    wait_written(&auditor).await;
    let drained = started.elapsed();
    println!(
        "postgres drain: {queued} queued records in {:.2} s = {:.0} records/s (batches of {})",
        drained.as_secs_f64(),
        queued as f64 / drained.as_secs_f64(),
        settings.writer.batch_size
    );

    // Steady state: records produced and written at the same time.
    let started = Instant::now();
    for i in 0..N {
        auditor.record(call(&ctx, i));
    }
    let produced = started.elapsed();
    wait_written(&auditor).await;
    let total = started.elapsed();
    println!(
        "postgres steady: {N} records produced in {:.2} s, all in the table after {:.2} s = {:.0} records/s",
        produced.as_secs_f64(),
        total.as_secs_f64(),
        N as f64 / total.as_secs_f64()
    );
    auditor.flush_and_close(Duration::from_secs(30)).await;
}

/// What `record()` costs the request path, against a plain append of a line of the same
/// size to a file in the same folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn bench_record_request_path_cost() {
    const N: usize = 50_000;
    let db = PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx();

    let line = serde_json::to_string(&call(&ctx, 0)).unwrap() + "\n";
    let mut raw = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("raw.json"))
        .unwrap();
    let mut plain = Vec::with_capacity(N);
    for _ in 0..N {
        let started = Instant::now();
        raw.write_all(line.as_bytes()).unwrap();
        plain.push(started.elapsed());
    }
    plain.sort();

    let mut results = Vec::new();
    for (name, settings) in [
        (
            "file only",
            AuditSettings::file_only(dir.path().join("file-only.json")),
        ),
        ("file + postgres queue", {
            let mut s = settings(dir.path(), &db.url());
            s.audit_log_file = dir.path().join("with-db.json");
            s
        }),
    ] {
        let auditor = Auditor::start(&settings).await.unwrap();
        let mut costs = Vec::with_capacity(N);
        for i in 0..N {
            let record = call(&ctx, i);
            let started = Instant::now();
            auditor.record(record);
            costs.push(started.elapsed());
        }
        costs.sort();
        results.push((name, costs));
        auditor.flush_and_close(Duration::from_secs(30)).await;
    }

    println!(
        "plain append of a {}-byte line: p50 {:?}, p99 {:?}",
        line.len(),
        percentile(&plain, 0.5),
        percentile(&plain, 0.99)
    );
    for (name, costs) in results {
        let p50 = percentile(&costs, 0.5);
        println!(
            "record() [{name}]: p50 {:?}, p99 {:?}; beyond the plain append at p50: {:?}",
            p50,
            percentile(&costs, 0.99),
            p50.saturating_sub(percentile(&plain, 0.5))
        );
    }
}

/// Where this machine's PostgreSQL listens locally, if it does.
const PG_SOCKET_DIR: &str = "/var/run/postgresql";

/// The database side of the figures above, without the queue: `Store::insert` of one batch
/// of the writer's size (chain head read, linking, the insert, the commit), 30 times. Over
/// TCP, as the other figures, and over the Unix socket where the server has one: no TCP,
/// so no wait for a delayed ACK (see docs/benchmarks.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn bench_postgres_batch_insert() {
    const ROUNDS: usize = 30;
    let batch = WriterTuning::default().batch_size;
    let db = PgDb::create().await;
    let mut ways = vec![("TCP", db.url())];
    if Path::new(PG_SOCKET_DIR).join(".s.PGSQL.5432").exists() {
        let url = format!(
            "postgres://postgres@localhost/{}?host={PG_SOCKET_DIR}",
            db.name
        );
        ways.push(("the Unix socket", url));
    }
    let ctx = ctx();
    for (way, url) in ways {
        let store = Store::connect_lazy(&url).unwrap();
        store.migrate().await.unwrap();
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let records: Vec<AuditRecord> = (0..batch).map(|i| call(&ctx, i)).collect();
            let started = Instant::now();
            assert_eq!(store.insert(&records).await.unwrap(), batch as u64);
            times.push(started.elapsed());
        }
        store.close().await;
        times.sort();
        let p50 = percentile(&times, 0.5);
        let stalled = times
            .iter()
            .filter(|t| **t > p50 + Duration::from_millis(30))
            .count();
        println!(
            "postgres insert of {batch} records over {way}: p50 {p50:.1?} = {:.0} records/s; fastest {:.1?}, slowest {:.1?}; {stalled} of {ROUNDS} over p50 + 30 ms",
            batch as f64 / p50.as_secs_f64(),
            times[0],
            times[ROUNDS - 1],
        );
    }
}
