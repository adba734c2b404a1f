//! `tools/call` under load: one MCP session per concurrent worker, warm-up calls first, then
//! a fixed number of calls shared among the workers, each timed with `Instant`. The CPU time
//! and memory of the watched processes are read around the measured phase only.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use futures::future::try_join_all;
use reqwest::{Url, header::HeaderValue};
use tokio::{sync::Barrier, task::JoinHandle};

use crate::{
    procfs::{self, ProcId, WatchedProcess},
    results::{CallsResult, ClientKind, Connections, ProcessUsage},
    session::{McpSession, PreparedCall, http_client},
    stats::{self, LatencySummary},
};

/// How often resident memory is sampled during the measured phase.
const RSS_SAMPLE_PERIOD: Duration = Duration::from_millis(50);

/// A validated `calls` run.
#[derive(Debug, Clone)]
pub struct CallsPlan {
    pub url: Url,
    pub label: String,
    pub call: PreparedCall,
    pub client: ClientKind,
    pub connections: Connections,
    pub concurrency: usize,
    pub calls: usize,
    pub warmup_per_session: usize,
    pub call_timeout: Duration,
    /// `Authorization` of every request, when the server wants a bearer token.
    pub bearer: Option<HeaderValue>,
    /// The measured phase stops taking new calls after this long, even short of `calls`.
    pub time_cap: Option<Duration>,
    pub watched: Vec<WatchedProcess>,
}

/// What one worker brings back.
struct WorkerReport {
    session: McpSession,
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

pub async fn run(plan: CallsPlan) -> Result<CallsResult> {
    let http = http_client(plan.connections, plan.bearer.as_ref())?;
    let plan = Arc::new(plan);
    let sessions = try_join_all(
        (0..plan.concurrency).map(|_| McpSession::open(plan.client, &http, &plan.url)),
    )
    .await?;

    // Every worker warms up, then waits here, so the measured phase starts for all at once
    // and the CPU counters are read when no warm-up call is still running.
    let start_line = Arc::new(Barrier::new(plan.concurrency + 1));
    let next_call = Arc::new(AtomicUsize::new(0));
    let workers: Vec<JoinHandle<WorkerReport>> = sessions
        .into_iter()
        .map(|session| {
            tokio::spawn(worker(
                session,
                Arc::clone(&plan),
                Arc::clone(&start_line),
                Arc::clone(&next_call),
            ))
        })
        .collect();

    start_line.wait().await;
    let ticks_per_second = procfs::clock_ticks_per_second();
    let cpu_before = read_cpu_times(&plan.watched, ticks_per_second);
    let threads_before = read_thread_ticks(&plan.watched);
    let client_cpu_before = procfs::read_cpu_time(ProcId::SelfProcess, ticks_per_second).ok();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_peak_rss(plan.watched.clone(), Arc::clone(&sampling)));
    let started = Instant::now();

    let mut reports = Vec::with_capacity(workers.len());
    for worker in workers {
        reports.push(worker.await.context("a worker panicked")?);
    }

    let elapsed = started.elapsed();
    let cpu_after = read_cpu_times(&plan.watched, ticks_per_second);
    let threads_after = read_thread_ticks(&plan.watched);
    let client_cpu_after = procfs::read_cpu_time(ProcId::SelfProcess, ticks_per_second).ok();
    sampling.store(false, Ordering::Relaxed);
    let peaks = sampler.await.unwrap_or_default();

    let mut latencies = Vec::with_capacity(plan.calls);
    let mut errors = 0;
    let mut first_error = None;
    let mut sessions = Vec::with_capacity(reports.len());
    for report in reports {
        latencies.extend(report.latencies);
        errors += report.errors;
        first_error = first_error.or(report.first_error);
        sessions.push(report.session);
    }
    futures::future::join_all(sessions.into_iter().map(McpSession::close)).await;

    let ok = latencies.len();
    let calls_made = ok + errors;
    let processes = plan
        .watched
        .iter()
        .enumerate()
        .filter_map(|(index, process)| {
            let before = cpu_before.get(index).copied().flatten()?;
            let after = cpu_after.get(index).copied().flatten()?;
            let cpu = after.saturating_sub(before);
            let rss_end_kib = procfs::read_rss_kib(ProcId::Pid(process.pid)).unwrap_or(0);
            Some(ProcessUsage {
                name: process.name.clone(),
                pid: process.pid,
                cpu_s: cpu.as_secs_f64(),
                cpu_ms_per_call: per_call_ms(cpu, calls_made),
                rss_peak_kib: peaks.get(index).copied().unwrap_or(0).max(rss_end_kib),
                rss_end_kib,
                threads_cpu_ms_per_call: per_thread_group_ms(
                    &threads_before[index],
                    &threads_after[index],
                    ticks_per_second,
                    calls_made,
                ),
            })
        })
        .collect();
    let client_cpu_ms_per_call = match (client_cpu_before, client_cpu_after) {
        (Some(before), Some(after)) => Some(per_call_ms(after.saturating_sub(before), calls_made)),
        _ => None,
    };

    Ok(CallsResult {
        label: plan.label.clone(),
        tool: plan.call.tool.clone(),
        client: plan.client,
        connections: plan.connections,
        concurrency: plan.concurrency,
        calls: calls_made,
        capped: calls_made < plan.calls,
        ok,
        errors,
        elapsed_s: elapsed.as_secs_f64(),
        throughput_per_s: stats::throughput(ok, elapsed),
        latency: LatencySummary::from_samples(&mut latencies),
        processes,
        client_cpu_ms_per_call,
        first_error,
        interleaved_with: None,
    })
}

async fn worker(
    session: McpSession,
    plan: Arc<CallsPlan>,
    start_line: Arc<Barrier>,
    next_call: Arc<AtomicUsize>,
) -> WorkerReport {
    // Warm-up gets a fifth of the time cap, so a stalling server cannot stretch it.
    let warmup_deadline = plan.time_cap.map(|cap| Instant::now() + cap / 5);
    for _ in 0..plan.warmup_per_session {
        if warmup_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        // Warm-up failures show again in the measured phase, where they are counted.
        let _ = timed_call(&session, &plan.call, plan.call_timeout).await;
    }
    start_line.wait().await;
    let deadline = plan.time_cap.map(|cap| Instant::now() + cap);

    // Each worker takes call slots until all are taken, so a slow session does fewer calls
    // and the total stays exact.
    let mut latencies = Vec::with_capacity(plan.calls / plan.concurrency + 1);
    let mut errors = 0;
    let mut first_error = None;
    while next_call.fetch_add(1, Ordering::Relaxed) < plan.calls {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        match timed_call(&session, &plan.call, plan.call_timeout).await {
            Ok(latency) => latencies.push(latency),
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    WorkerReport {
        session,
        latencies,
        errors,
        first_error,
    }
}

/// The latency of one successful call, or why it failed.
pub async fn timed_call(
    session: &McpSession,
    call: &PreparedCall,
    call_timeout: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    let outcome = tokio::time::timeout(call_timeout, session.call_tool(call)).await;
    let latency = started.elapsed();
    match outcome {
        Ok(Ok(outcome)) if !outcome.is_error => Ok(latency),
        Ok(Ok(_)) => Err("the tool answered with isError".to_owned()),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(_) => Err(format!("no answer within {call_timeout:?}")),
    }
}

pub fn read_cpu_times(watched: &[WatchedProcess], ticks_per_second: u64) -> Vec<Option<Duration>> {
    watched
        .iter()
        .map(|process| procfs::read_cpu_time(ProcId::Pid(process.pid), ticks_per_second).ok())
        .collect()
}

/// The CPU ticks of each watched process's thread groups.
fn read_thread_ticks(watched: &[WatchedProcess]) -> Vec<BTreeMap<String, u64>> {
    watched
        .iter()
        .map(|process| procfs::read_thread_group_ticks(process.pid))
        .collect()
}

/// CPU milliseconds per call of each thread group between two readings (a group that
/// appeared in between counts from zero).
pub fn per_thread_group_ms(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    ticks_per_second: u64,
    calls: usize,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(group, ticks)| {
            let spent = ticks.saturating_sub(before.get(group).copied().unwrap_or(0));
            let cpu = procfs::ticks_to_duration(spent, ticks_per_second);
            (group.clone(), per_call_ms(cpu, calls))
        })
        .collect()
}

/// The highest VmRSS of each watched process until `sampling` turns false.
pub async fn sample_peak_rss(watched: Vec<WatchedProcess>, sampling: Arc<AtomicBool>) -> Vec<u64> {
    let mut peaks = vec![0; watched.len()];
    let mut ticker = tokio::time::interval(RSS_SAMPLE_PERIOD);
    while sampling.load(Ordering::Relaxed) {
        ticker.tick().await;
        for (peak, process) in peaks.iter_mut().zip(&watched) {
            if let Ok(rss) = procfs::read_rss_kib(ProcId::Pid(process.pid)) {
                *peak = (*peak).max(rss);
            }
        }
    }
    peaks
}

/// CPU milliseconds per call; 0 when no call was made.
pub fn per_call_ms(cpu: Duration, calls: usize) -> f64 {
    if calls == 0 {
        0.0
    } else {
        cpu.as_secs_f64() * 1e3 / calls as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_groups_are_charged_what_they_spent_in_between() {
        let before = BTreeMap::from([("http".to_owned(), 100), ("rt".to_owned(), 50)]);
        let after = BTreeMap::from([
            ("http".to_owned(), 150),
            ("rt".to_owned(), 50),
            ("new".to_owned(), 10),
        ]);
        let per_call = per_thread_group_ms(&before, &after, 100, 1000);
        assert!((per_call["http"] - 0.5).abs() < 1e-12);
        assert_eq!(per_call["rt"], 0.0);
        assert!((per_call["new"] - 0.1).abs() < 1e-12);
    }

    #[test]
    fn per_call_cost_divides_cpu_by_calls() {
        assert!((per_call_ms(Duration::from_millis(500), 5000) - 0.1).abs() < 1e-12);
        assert_eq!(per_call_ms(Duration::from_secs(1), 0), 0.0);
        assert_eq!(per_call_ms(Duration::ZERO, 10), 0.0);
    }
}
