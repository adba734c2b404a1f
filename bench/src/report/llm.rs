//! The Anthropic proxy part of the report (`scripts/bench-llm.sh`): a streamed message
//! through the gateway's `/anthropic/v1/messages` against the same message straight from the
//! upstream, by time to first byte (TTFB: the first bytes of the answer's body) and time to
//! the end of the stream, and the gateway's CPU per request.
//!
//! The runs come in rounds, like the auth runs: at concurrency 1 each round interleaves the
//! two paths request by request (`mcp-bench llm --url-b`), at higher concurrency the two
//! paths run one after the other. Each round gives one TTFB p50 difference (gateway −
//! direct), and the figure held against the target is their median; latency figures are the
//! medians of the rounds' figures; CPU per request is pooled over all rounds.
//!
//! Rounds of their own interleave the direct path with a bare TCP relay in front of the same
//! upstream (`relay_direct` and `relay` runs): what one more hop costs on this machine with
//! no work at all, the floor the gateway's figures are read against.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{
    Bound, DIRECT, GATEWAY, RELAY, Target, auth::median, comparison_heading, number, ratio,
};
use crate::{results::LlmResult, stats::LatencySummary};

/// The watched-process name of the upstream.
pub const UPSTREAM_PROCESS: &str = "upstream";
/// The direct path of the rounds interleaved with the relay.
pub const RELAY_DIRECT: &str = "relay_direct";
/// A path's own process is watched under its label.
const GATEWAY_PROCESS: &str = GATEWAY;
/// The bound of the issue: what the gateway may add to TTFB at concurrency 1, ms.
pub const ADDED_TTFB_BOUND_MS: f64 = 1.0;

/// Every proxy run of a results file, by concurrency, in the order measured.
#[derive(Debug, Default)]
pub struct LlmRuns {
    direct: BTreeMap<usize, Vec<LlmResult>>,
    gateway: BTreeMap<usize, Vec<LlmResult>>,
    relay_direct: BTreeMap<usize, Vec<LlmResult>>,
    relay: BTreeMap<usize, Vec<LlmResult>>,
}

/// The relay against the direct path at one concurrency, from rounds of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct Floor {
    pub rounds: usize,
    /// relay − direct, medians of the rounds' differences, µs.
    pub added_ttfb_p50_us: Option<f64>,
    pub added_total_p50_us: Option<f64>,
    /// The relay's CPU over all its runs divided by their requests, ms.
    pub relay_cpu_ms: Option<f64>,
}

/// The gateway path against the direct one at one concurrency. Pairs of figures are
/// `[direct, gateway]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmComparison {
    pub concurrency: usize,
    /// Rounds with both paths measured (the i-th direct run with the i-th gateway run).
    pub rounds: usize,
    /// Every run interleaved its requests with the other path's.
    pub interleaved: bool,
    pub requests: [usize; 2],
    pub errors: [usize; 2],
    pub ttfb_p50_us: [Option<f64>; 2],
    pub ttfb_p99_us: [Option<f64>; 2],
    pub total_p50_us: [Option<f64>; 2],
    pub total_p99_us: [Option<f64>; 2],
    pub throughput_per_s: [Option<f64>; 2],
    pub events_per_stream: [Option<f64>; 2],
    pub reads_per_stream: [Option<f64>; 2],
    /// gateway − direct TTFB p50 of each round, µs, and their median.
    pub added_ttfb_p50_per_round_us: Vec<f64>,
    pub added_ttfb_p50_us: Option<f64>,
    /// The same for the time to the end of the stream.
    pub added_total_p50_us: Option<f64>,
    /// The gateway's CPU over all its runs divided by their requests, ms.
    pub gateway_cpu_ms: Option<f64>,
    /// The same by thread group.
    pub gateway_threads_ms: BTreeMap<String, f64>,
    pub upstream_cpu_ms: [Option<f64>; 2],
    pub client_cpu_ms: [Option<f64>; 2],
    pub capped: bool,
    pub first_error: Option<String>,
    /// The relay's rounds at this concurrency, if any.
    pub floor: Option<Floor>,
}

impl LlmRuns {
    /// Keeps a run of either path; runs of other labels (measured by hand) are left out.
    pub fn take(&mut self, run: LlmResult) {
        let side = match run.label.as_str() {
            DIRECT => &mut self.direct,
            GATEWAY => &mut self.gateway,
            RELAY_DIRECT => &mut self.relay_direct,
            RELAY => &mut self.relay,
            _ => return,
        };
        side.entry(run.concurrency).or_default().push(run);
    }

    pub fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.gateway.is_empty()
    }

    /// One comparison per concurrency measured on either path, ascending.
    pub fn comparisons(&self) -> Vec<LlmComparison> {
        let mut concurrencies: Vec<usize> = self
            .direct
            .keys()
            .chain(self.gateway.keys())
            .copied()
            .collect();
        concurrencies.sort_unstable();
        concurrencies.dedup();
        concurrencies
            .into_iter()
            .map(|concurrency| {
                let mut comparison = compare(
                    concurrency,
                    runs_at(&self.direct, concurrency),
                    runs_at(&self.gateway, concurrency),
                );
                comparison.floor = floor(
                    runs_at(&self.relay_direct, concurrency),
                    runs_at(&self.relay, concurrency),
                );
                comparison
            })
            .collect()
    }

    /// The target, at the lowest concurrency measured; none without proxy runs.
    pub fn targets(&self) -> Vec<Target> {
        let Some(lowest) = self.comparisons().into_iter().next() else {
            return Vec::new();
        };
        vec![Target {
            name: format!(
                "Anthropic proxy: added TTFB p50, concurrency {}",
                lowest.concurrency
            ),
            measured: lowest.added_ttfb_p50_us.map(|us| us / 1000.0),
            bound: Bound::AtMost(ADDED_TTFB_BOUND_MS),
            unit: "ms",
            decimals: 3,
        }]
    }
}

fn ttfb(run: &LlmResult) -> Option<&LatencySummary> {
    run.ttfb.as_ref()
}

fn total(run: &LlmResult) -> Option<&LatencySummary> {
    run.total.as_ref()
}

/// The runs of one path at one concurrency.
fn runs_at(side: &BTreeMap<usize, Vec<LlmResult>>, concurrency: usize) -> &[LlmResult] {
    side.get(&concurrency).map_or(&[], Vec::as_slice)
}

/// p50 differences `later − earlier` of each round (the i-th run of one with the i-th of
/// the other).
fn added_per_round(
    earlier: &[LlmResult],
    later: &[LlmResult],
    of: fn(&LlmResult) -> Option<&LatencySummary>,
) -> Vec<f64> {
    earlier
        .iter()
        .zip(later)
        .filter_map(|(e, l)| Some(of(l)?.p50_us - of(e)?.p50_us))
        .collect()
}

/// A process's CPU over all `runs` divided by the requests its figure was charged to, ms.
fn pooled_cpu_ms(runs: &[LlmResult], name: &str) -> Option<f64> {
    let mut cpu_s = 0.0;
    let mut requests = 0;
    for run in runs {
        let usage = run.process(name)?;
        cpu_s += usage.cpu_s;
        // The requests the figure was charged to (interleaved, the upstream's: both paths'
        // requests), recovered from the figure itself.
        requests += if usage.cpu_ms_per_call > 0.0 {
            (usage.cpu_s * 1e3 / usage.cpu_ms_per_call).round() as usize
        } else {
            run.requests
        };
    }
    (requests > 0).then(|| cpu_s * 1e3 / requests as f64)
}

fn floor(direct: &[LlmResult], relay: &[LlmResult]) -> Option<Floor> {
    if relay.is_empty() {
        return None;
    }
    Some(Floor {
        rounds: direct.len().min(relay.len()),
        added_ttfb_p50_us: median(added_per_round(direct, relay, ttfb)),
        added_total_p50_us: median(added_per_round(direct, relay, total)),
        relay_cpu_ms: pooled_cpu_ms(relay, RELAY),
    })
}

fn compare(concurrency: usize, direct: &[LlmResult], gateway: &[LlmResult]) -> LlmComparison {
    let sides = [direct, gateway];
    let medians = |pick: fn(&LatencySummary) -> f64,
                   of: fn(&LlmResult) -> Option<&LatencySummary>| {
        sides.map(|runs| median(runs.iter().filter_map(of).map(pick).collect()))
    };
    let p50 = |summary: &LatencySummary| summary.p50_us;
    let p99 = |summary: &LatencySummary| summary.p99_us;
    let added_ttfb = added_per_round(direct, gateway, ttfb);
    // Means over every successful stream of a path's runs.
    let mean = |runs: &[LlmResult], pick: fn(&LlmResult) -> Option<f64>| {
        let ok: usize = runs
            .iter()
            .filter(|run| pick(run).is_some())
            .map(|run| run.ok)
            .sum();
        let sum: f64 = runs
            .iter()
            .filter_map(|run| Some(pick(run)? * run.ok as f64))
            .sum();
        (ok > 0).then(|| sum / ok as f64)
    };
    let client_cpu = |runs: &[LlmResult]| {
        let requests: usize = runs.iter().map(|run| run.requests).sum();
        let cpu: Option<f64> = runs
            .iter()
            .map(|run| Some(run.client_cpu_ms_per_request? * run.requests as f64))
            .sum();
        cpu.filter(|_| requests > 0)
            .map(|cpu| cpu / requests as f64)
    };
    let mut gateway_threads_ms = BTreeMap::new();
    let gateway_requests: usize = gateway.iter().map(|run| run.requests).sum();
    for run in gateway {
        if let Some(usage) = run.process(GATEWAY_PROCESS) {
            for (group, ms) in &usage.threads_cpu_ms_per_call {
                *gateway_threads_ms.entry(group.clone()).or_insert(0.0) +=
                    ms * run.requests as f64 / gateway_requests.max(1) as f64;
            }
        }
    }
    LlmComparison {
        concurrency,
        rounds: direct.len().min(gateway.len()),
        interleaved: !direct.is_empty()
            && direct
                .iter()
                .chain(gateway)
                .all(|run| run.interleaved_with.is_some()),
        requests: sides.map(|runs| runs.iter().map(|run| run.requests).sum()),
        errors: sides.map(|runs| runs.iter().map(|run| run.errors).sum()),
        ttfb_p50_us: medians(p50, ttfb),
        ttfb_p99_us: medians(p99, ttfb),
        total_p50_us: medians(p50, total),
        total_p99_us: medians(p99, total),
        throughput_per_s: sides
            .map(|runs| median(runs.iter().map(|run| run.throughput_per_s).collect())),
        events_per_stream: sides.map(|runs| mean(runs, |run| run.events_per_stream)),
        reads_per_stream: sides.map(|runs| mean(runs, |run| run.reads_per_stream)),
        added_ttfb_p50_us: median(added_ttfb.clone()),
        added_ttfb_p50_per_round_us: added_ttfb,
        added_total_p50_us: median(added_per_round(direct, gateway, total)),
        gateway_cpu_ms: pooled_cpu_ms(gateway, GATEWAY_PROCESS),
        gateway_threads_ms,
        upstream_cpu_ms: sides.map(|runs| pooled_cpu_ms(runs, UPSTREAM_PROCESS)),
        client_cpu_ms: sides.map(client_cpu),
        capped: direct.iter().chain(gateway).any(|run| run.capped),
        first_error: direct
            .iter()
            .chain(gateway)
            .find_map(|run| run.first_error.clone()),
        floor: None,
    }
}

/// The section of the report, one block per concurrency.
pub fn render(out: &mut String, runs: &LlmRuns) {
    for comparison in runs.comparisons() {
        render_comparison(out, &comparison);
    }
}

fn render_comparison(out: &mut String, comparison: &LlmComparison) {
    let title = format!("Anthropic proxy, concurrency {}", comparison.concurrency);
    let _ = comparison_heading(
        out,
        &title,
        &["direct", "gateway", "gw − direct", "gw/direct"],
        (comparison.interleaved, comparison.rounds),
        ("requests", "paths"),
    );
    if comparison.rounds > 1 {
        out.push_str("; latencies are medians of the rounds' figures");
    }
    out.push('\n');
    // Counts without a difference; latencies with one and a ratio.
    let mut row = |name: &str, pair: [Option<f64>; 2], decimals: usize, compared: bool| {
        let [direct, gateway] = pair;
        let (difference, quotient) = match (compared, direct, gateway) {
            (true, Some(d), Some(g)) => (number(Some(g - d), decimals), number(ratio(g, d), 2)),
            _ => (String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "  {name:<34}{:>12}{:>12}{:>12}{:>12}",
            number(direct, decimals),
            number(gateway, decimals),
            difference,
            quotient
        );
    };
    let counts = |pair: [usize; 2]| pair.map(|n| Some(n as f64));
    row("streams", counts(comparison.requests), 0, false);
    row("errors", counts(comparison.errors), 0, false);
    row("TTFB p50, µs", comparison.ttfb_p50_us, 0, true);
    row("TTFB p99, µs", comparison.ttfb_p99_us, 0, true);
    row("total p50, µs", comparison.total_p50_us, 0, true);
    row("total p99, µs", comparison.total_p99_us, 0, true);
    row(
        "throughput, streams/s",
        comparison.throughput_per_s,
        0,
        true,
    );
    row("events per stream", comparison.events_per_stream, 1, false);
    row(
        "client reads per stream",
        comparison.reads_per_stream,
        1,
        false,
    );
    row(
        "gateway CPU per request, ms",
        [None, comparison.gateway_cpu_ms],
        3,
        false,
    );
    row(
        "upstream CPU per request, ms",
        comparison.upstream_cpu_ms,
        3,
        !comparison.interleaved,
    );
    row(
        "load generator CPU per request, ms",
        comparison.client_cpu_ms,
        3,
        false,
    );
    let per_round: Vec<String> = comparison
        .added_ttfb_p50_per_round_us
        .iter()
        .map(|added| format!("{added:+.0}"))
        .collect();
    let _ = writeln!(
        out,
        "  added TTFB p50 per round, µs: {}; median {}; added total p50, median {} µs",
        if per_round.is_empty() {
            "n/a".to_owned()
        } else {
            per_round.join(", ")
        },
        number(comparison.added_ttfb_p50_us, 0),
        number(comparison.added_total_p50_us, 0),
    );
    if let Some(floor) = &comparison.floor {
        let beyond = |gateway: Option<f64>, relay: Option<f64>, decimals: usize| {
            number(gateway.zip(relay).map(|(g, r)| g - r), decimals)
        };
        let _ = writeln!(
            out,
            "  TCP relay (the floor of any proxy here, {} round(s) of its own): added TTFB p50 \
             {} µs, total p50 {} µs, CPU {} ms per request; the gateway beyond it: TTFB {} µs, \
             CPU {} ms",
            floor.rounds,
            number(floor.added_ttfb_p50_us, 0),
            number(floor.added_total_p50_us, 0),
            number(floor.relay_cpu_ms, 3),
            beyond(comparison.added_ttfb_p50_us, floor.added_ttfb_p50_us, 0),
            beyond(comparison.gateway_cpu_ms, floor.relay_cpu_ms, 3),
        );
    }
    if let Some(line) = super::thread_breakdown(&comparison.gateway_threads_ms) {
        let _ = writeln!(out, "  {}", line.replace("per call", "per request"));
    }
}

/// Notes for the report's `notes` section.
pub fn problems(runs: &LlmRuns) -> Vec<String> {
    let mut notes = Vec::new();
    for comparison in runs.comparisons() {
        let concurrency = comparison.concurrency;
        if comparison.capped {
            notes.push(format!(
                "Anthropic proxy at concurrency {concurrency}: a run stopped at its time cap"
            ));
        }
        for (path, p50) in [DIRECT, GATEWAY].iter().zip(comparison.ttfb_p50_us) {
            if p50.is_some_and(|p50| (39_000.0..=50_000.0).contains(&p50)) {
                notes.push(format!(
                    "Anthropic proxy, {path} at concurrency {concurrency}: TTFB p50 near 40 ms \
                     looks like a delayed-ACK stall (a server writing an answer in pieces \
                     without TCP_NODELAY)"
                ));
            }
        }
        if let Some(error) = &comparison.first_error {
            notes.push(format!(
                "Anthropic proxy at concurrency {concurrency}: {} errors direct, {} through \
                 the gateway, first: {error}",
                comparison.errors[0], comparison.errors[1]
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ProcessUsage;

    fn summary(p50_us: f64) -> LatencySummary {
        LatencySummary {
            samples: 1000,
            min_us: p50_us / 2.0,
            p50_us,
            p90_us: p50_us,
            p99_us: p50_us * 2.0,
            p999_us: p50_us * 3.0,
            max_us: p50_us * 4.0,
            mean_us: p50_us,
        }
    }

    fn usage(name: &str, cpu_s: f64, requests: usize) -> ProcessUsage {
        ProcessUsage {
            name: name.to_owned(),
            pid: 1,
            cpu_s,
            cpu_ms_per_call: cpu_s * 1e3 / requests as f64,
            rss_peak_kib: 1,
            rss_end_kib: 1,
            threads_cpu_ms_per_call: BTreeMap::from([(
                "gateway-http".to_owned(),
                cpu_s * 1e3 / requests as f64,
            )]),
        }
    }

    fn run(label: &str, concurrency: usize, ttfb_us: f64, total_us: f64) -> LlmResult {
        let mut processes = Vec::new();
        if label == GATEWAY {
            processes.push(usage(GATEWAY_PROCESS, 0.3, 1000));
        }
        processes.push(usage(UPSTREAM_PROCESS, 0.1, 1000));
        LlmResult {
            label: label.to_owned(),
            url: "http://127.0.0.1:1/v1/messages".to_owned(),
            concurrency,
            requests: 1000,
            warmup_requests: 0,
            capped: false,
            ok: 1000,
            errors: 0,
            elapsed_s: 1.0,
            throughput_per_s: 1000.0,
            ttfb: Some(summary(ttfb_us)),
            total: Some(summary(total_us)),
            events_per_stream: Some(26.0),
            bytes_per_stream: Some(3000.0),
            reads_per_stream: Some(if label == GATEWAY { 20.0 } else { 4.0 }),
            processes,
            client_cpu_ms_per_request: Some(0.05),
            first_error: None,
            interleaved_with: None,
        }
    }

    fn three_rounds() -> LlmRuns {
        let mut runs = LlmRuns::default();
        for (direct, gateway) in [(200.0, 350.0), (210.0, 330.0), (190.0, 400.0)] {
            let mut d = run(DIRECT, 1, direct, direct * 3.0);
            let mut g = run(GATEWAY, 1, gateway, gateway * 3.0);
            d.interleaved_with = Some(GATEWAY.to_owned());
            g.interleaved_with = Some(DIRECT.to_owned());
            runs.take(d);
            runs.take(g);
        }
        runs
    }

    #[test]
    fn rounds_pair_in_order_and_the_median_difference_counts() {
        let comparison = three_rounds().comparisons().remove(0);
        assert_eq!(comparison.rounds, 3);
        assert!(comparison.interleaved);
        assert_eq!(
            comparison.added_ttfb_p50_per_round_us,
            [150.0, 120.0, 210.0]
        );
        assert_eq!(comparison.added_ttfb_p50_us, Some(150.0));
        assert_eq!(comparison.added_total_p50_us, Some(450.0));
        assert_eq!(comparison.ttfb_p50_us, [Some(200.0), Some(350.0)]);
        assert_eq!(comparison.requests, [3000, 3000]);
        // 0.9 s of gateway CPU over 3000 requests.
        let cpu = comparison.gateway_cpu_ms.expect("cpu");
        assert!((cpu - 0.3).abs() < 1e-9, "{cpu}");
        let upstream = comparison.upstream_cpu_ms[1].expect("cpu");
        assert!((upstream - 0.1).abs() < 1e-9, "{upstream}");
        assert_eq!(comparison.reads_per_stream, [Some(4.0), Some(20.0)]);
        let target = three_rounds().targets().remove(0);
        assert_eq!(target.measured, Some(0.15));
        assert_eq!(target.verdict(), super::super::Verdict::Met);
    }

    #[test]
    fn relay_rounds_give_the_floor() {
        let mut runs = three_rounds();
        assert_eq!(runs.comparisons()[0].floor, None);
        for (direct, relay) in [(200.0, 260.0), (220.0, 250.0)] {
            runs.take(run(RELAY_DIRECT, 1, direct, direct * 3.0));
            let mut relayed = run(RELAY, 1, relay, relay * 3.0);
            relayed.processes = vec![usage(RELAY, 0.05, 1000)];
            runs.take(relayed);
        }
        let comparison = runs.comparisons().remove(0);
        // The relay's rounds stay out of the gateway comparison.
        assert_eq!(comparison.rounds, 3);
        assert_eq!(comparison.added_ttfb_p50_us, Some(150.0));
        let floor = comparison.floor.clone().expect("floor");
        assert_eq!(floor.rounds, 2);
        // +60 and +30: the median of two is their mean.
        assert_eq!(floor.added_ttfb_p50_us, Some(45.0));
        assert_eq!(floor.added_total_p50_us, Some(135.0));
        let cpu = floor.relay_cpu_ms.expect("cpu");
        assert!((cpu - 0.05).abs() < 1e-9, "{cpu}");
        let mut out = String::new();
        render(&mut out, &runs);
        assert!(
            out.contains(
                "TCP relay (the floor of any proxy here, 2 round(s) of its own): added TTFB p50 \
                 45 µs, total p50 135 µs, CPU 0.050 ms per request; the gateway beyond it: \
                 TTFB 105 µs, CPU 0.250 ms"
            ),
            "{out}"
        );
    }

    #[test]
    fn other_labels_and_no_runs_give_nothing() {
        let mut runs = LlmRuns::default();
        runs.take(run("by-hand", 1, 1.0, 2.0));
        assert!(runs.is_empty());
        assert!(runs.comparisons().is_empty());
        assert!(runs.targets().is_empty());
    }

    #[test]
    fn section_shows_differences_ratios_and_rounds() {
        let mut out = String::new();
        render(&mut out, &three_rounds());
        assert!(out.contains("Anthropic proxy, concurrency 1"), "{out}");
        assert!(
            out.contains("3 round(s), requests interleaved one by one"),
            "{out}"
        );
        assert!(
            out.contains("added TTFB p50 per round, µs: +150, +120, +210; median 150"),
            "{out}"
        );
        // TTFB p50 200 direct, 350 through the gateway: +150, 1.75.
        assert!(
            out.contains(
                "TTFB p50, µs                               200         350         150        1.75"
            ),
            "{out}"
        );
        assert!(
            out.contains("gateway CPU per request by thread, ms: gateway-http 0.300"),
            "{out}"
        );
        assert!(problems(&three_rounds()).is_empty());
    }

    #[test]
    fn errors_caps_and_stalls_become_notes() {
        let mut runs = LlmRuns::default();
        let mut failed = run(GATEWAY, 16, 44_000.0, 50_000.0);
        failed.errors = 2;
        failed.capped = true;
        failed.first_error = Some("HTTP 502 Bad Gateway: {}".to_owned());
        runs.take(run(DIRECT, 16, 300.0, 900.0));
        runs.take(failed);
        let notes = problems(&runs);
        assert_eq!(notes.len(), 3, "{notes:#?}");
        assert!(notes[0].contains("time cap"));
        assert!(notes[1].contains("gateway at concurrency 16: TTFB p50 near 40 ms"));
        assert!(
            notes[2].ends_with(
                "0 errors direct, 2 through the gateway, first: HTTP 502 Bad Gateway: {}"
            )
        );
        assert!(!runs.comparisons()[0].interleaved);
    }
}
