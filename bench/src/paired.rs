//! `tools/call` on two servers in turn, one call at a time: A B, B A, A B, … Each side gets
//! its own session and its own latency samples, but both are measured over the same seconds,
//! so whatever else the machine does in that time (a build, a CPU clock change) falls on both
//! alike. That is what a comparison of a few microseconds needs: two runs made one after the
//! other differ by more than that by themselves. The pairs alternate which side goes first,
//! so neither always follows the other's call (warm caches, a just-woken core).
//!
//! Only one call is in flight at any time, so only one server is under load at a time.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Result;
use reqwest::{Url, header::HeaderValue};

use crate::{
    calls::{per_call_ms, read_cpu_times, sample_peak_rss, timed_call},
    procfs::{self, ProcId, WatchedProcess},
    results::{CallsResult, ClientKind, Connections, ProcessUsage},
    session::{McpSession, PreparedCall, http_client},
    stats::{self, LatencySummary},
};

/// One of the two servers.
#[derive(Debug, Clone)]
pub struct Side {
    pub url: Url,
    pub label: String,
    /// The server's process, whose CPU and memory are read as `gateway`.
    pub pid: Option<u32>,
}

/// A validated `paired` run.
#[derive(Debug, Clone)]
pub struct PairedPlan {
    pub a: Side,
    pub b: Side,
    pub call: PreparedCall,
    pub client: ClientKind,
    pub connections: Connections,
    /// `Authorization` of every request on both sides.
    pub bearer: Option<HeaderValue>,
    /// Measured calls per side.
    pub calls: usize,
    /// Unmeasured calls per side first.
    pub warmup: usize,
    pub call_timeout: Duration,
    pub time_cap: Option<Duration>,
}

/// Which side goes first in pair `index`: A, then B, then B, then A, …
pub fn a_goes_first(index: usize) -> bool {
    index.is_multiple_of(2)
}

/// What one side collected.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    /// Time spent in this side's calls, failed ones included.
    busy: Duration,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, started: Instant, outcome: Result<Duration, String>) {
        self.busy += started.elapsed();
        match outcome {
            Ok(latency) => self.latencies.push(latency),
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }
}

/// Both sides' results, A first.
pub async fn run(plan: PairedPlan) -> Result<[CallsResult; 2]> {
    let http = http_client(plan.connections, plan.bearer.as_ref())?;
    let (a, b) = futures::try_join!(
        McpSession::open(plan.client, &http, &plan.a.url),
        McpSession::open(plan.client, &http, &plan.b.url),
    )?;
    let sessions = [&a, &b];

    let warmup_deadline = plan.time_cap.map(|cap| Instant::now() + cap / 5);
    for index in 0..plan.warmup {
        if warmup_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        for side in order(index) {
            // Warm-up failures show again in the measured phase, where they are counted.
            let _ = timed_call(sessions[side], &plan.call, plan.call_timeout).await;
        }
    }

    let watched: Vec<WatchedProcess> = [&plan.a, &plan.b]
        .iter()
        .filter_map(|side| side.pid)
        .map(|pid| WatchedProcess {
            name: "gateway".to_owned(),
            pid,
        })
        .collect();
    let ticks_per_second = procfs::clock_ticks_per_second();
    let cpu_before = read_cpu_times(&watched, ticks_per_second);
    let client_cpu_before = procfs::read_cpu_time(ProcId::SelfProcess, ticks_per_second).ok();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_peak_rss(watched.clone(), Arc::clone(&sampling)));
    let started = Instant::now();
    let deadline = plan.time_cap.map(|cap| started + cap);

    let mut tallies = [Tally::default(), Tally::default()];
    let mut pairs = 0;
    while pairs < plan.calls {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        for side in order(pairs) {
            let call_started = Instant::now();
            let outcome = timed_call(sessions[side], &plan.call, plan.call_timeout).await;
            tallies[side].record(call_started, outcome);
        }
        pairs += 1;
    }

    let cpu_after = read_cpu_times(&watched, ticks_per_second);
    let client_cpu_after = procfs::read_cpu_time(ProcId::SelfProcess, ticks_per_second).ok();
    sampling.store(false, Ordering::Relaxed);
    let peaks = sampler.await.unwrap_or_default();
    futures::future::join(a.close(), b.close()).await;

    // The load generator's CPU is shared evenly: both sides made the same number of calls.
    let client_cpu_ms_per_call = match (client_cpu_before, client_cpu_after) {
        (Some(before), Some(after)) => Some(per_call_ms(after.saturating_sub(before), 2 * pairs)),
        _ => None,
    };
    let mut next_watched = 0;
    let [tally_a, tally_b] = tallies;
    let mut results = [(&plan.a, &plan.b, tally_a), (&plan.b, &plan.a, tally_b)].map(
        |(side, other, mut tally)| {
            let calls = tally.latencies.len() + tally.errors;
            let processes = side
                .pid
                .and_then(|pid| {
                    let index = next_watched;
                    next_watched += 1;
                    let before = cpu_before.get(index).copied().flatten()?;
                    let after = cpu_after.get(index).copied().flatten()?;
                    let cpu = after.saturating_sub(before);
                    let rss_end_kib = procfs::read_rss_kib(ProcId::Pid(pid)).unwrap_or(0);
                    Some(ProcessUsage {
                        name: "gateway".to_owned(),
                        pid,
                        cpu_s: cpu.as_secs_f64(),
                        cpu_ms_per_call: per_call_ms(cpu, calls),
                        rss_peak_kib: peaks.get(index).copied().unwrap_or(0).max(rss_end_kib),
                        rss_end_kib,
                        threads_cpu_ms_per_call: BTreeMap::new(),
                    })
                })
                .into_iter()
                .collect();
            CallsResult {
                label: side.label.clone(),
                tool: plan.call.tool.clone(),
                client: plan.client,
                connections: plan.connections,
                concurrency: 1,
                calls,
                capped: calls < plan.calls,
                ok: tally.latencies.len(),
                errors: tally.errors,
                // The time this side was being called: its throughput is what one client
                // gets from it, not half of that.
                elapsed_s: tally.busy.as_secs_f64(),
                throughput_per_s: stats::throughput(tally.latencies.len(), tally.busy),
                latency: LatencySummary::from_samples(&mut tally.latencies),
                processes,
                client_cpu_ms_per_call,
                first_error: tally.first_error,
                interleaved_with: Some(other.label.clone()),
            }
        },
    );
    // A run stopped by its cap says so on both sides.
    let capped = results.iter().any(|result| result.capped);
    for result in &mut results {
        result.capped = capped;
    }
    Ok(results)
}

/// The sides of pair `index` in the order they are called: 0 is A, 1 is B.
fn order(index: usize) -> [usize; 2] {
    if a_goes_first(index) { [0, 1] } else { [1, 0] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_alternate_which_side_goes_first() {
        let sequence: Vec<usize> = (0..4).flat_map(order).collect();
        assert_eq!(sequence, [0, 1, 1, 0, 0, 1, 1, 0]);
    }

    #[test]
    fn tally_counts_successes_and_failures() {
        let mut tally = Tally::default();
        let started = Instant::now();
        tally.record(started, Ok(Duration::from_micros(5)));
        tally.record(started, Err("first".to_owned()));
        tally.record(started, Err("second".to_owned()));
        assert_eq!(tally.latencies, [Duration::from_micros(5)]);
        assert_eq!(tally.errors, 2);
        assert_eq!(tally.first_error.as_deref(), Some("first"));
    }
}
