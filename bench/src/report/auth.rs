//! The "auth on" part of the report: what validating a bearer token adds to a `tools/call`.
//!
//! Two gateways run in front of the same backend, one with auth off (`auth_off` runs) and one
//! checking the token the benchmark issuer minted (`auth_on` runs), never both under load at
//! once. At concurrency 1 their calls are interleaved one by one (`mcp-bench paired`), so both
//! are measured over the same seconds; at higher concurrency they are measured one after the
//! other. Either way the runs come in rounds: each round gives one p50 difference (on − off)
//! and the figure held against the target is their median, because a difference of a few
//! microseconds is within the noise of a single round. CPU per call is pooled over all rounds
//! (CPU time comes in 10 ms ticks, so more calls make it finer).

use std::{collections::BTreeMap, fmt::Write as _};

use super::{GATEWAY_PROCESS, comparison_heading, number};
use crate::results::CallsResult;

/// Labels of the two kinds of runs.
pub const AUTH_OFF: &str = "auth_off";
pub const AUTH_ON: &str = "auth_on";

/// Every auth round of a results file, in the order measured, by concurrency.
#[derive(Debug, Default)]
pub struct AuthRuns {
    off: BTreeMap<usize, Vec<CallsResult>>,
    on: BTreeMap<usize, Vec<CallsResult>>,
}

/// Auth on against auth off at one concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthComparison {
    pub concurrency: usize,
    /// Rounds with both runs measured (the i-th `auth_off` with the i-th `auth_on`).
    pub rounds: usize,
    pub calls_off: usize,
    pub calls_on: usize,
    pub errors_off: usize,
    pub errors_on: usize,
    pub p50_off_us: Option<f64>,
    pub p50_on_us: Option<f64>,
    /// on − off of each round, µs.
    pub added_p50_per_round_us: Vec<f64>,
    /// Median of `added_p50_per_round_us`: the figure of the target.
    pub added_p50_us: Option<f64>,
    pub p99_off_us: Option<f64>,
    pub p99_on_us: Option<f64>,
    /// Gateway CPU per call over all rounds, µs.
    pub cpu_off_us: Option<f64>,
    pub cpu_on_us: Option<f64>,
    /// Every round interleaved its calls between the two gateways (`paired`).
    pub interleaved: bool,
    pub first_error: Option<String>,
}

impl AuthRuns {
    /// Keeps `run` if it is an auth round; gives it back otherwise.
    pub fn take(&mut self, run: CallsResult) -> Option<CallsResult> {
        let side = match run.label.as_str() {
            AUTH_OFF => &mut self.off,
            AUTH_ON => &mut self.on,
            _ => return Some(run),
        };
        side.entry(run.concurrency).or_default().push(run);
        None
    }

    /// One comparison per concurrency measured on either side, ascending.
    pub fn comparisons(&self) -> Vec<AuthComparison> {
        let mut concurrencies: Vec<usize> =
            self.off.keys().chain(self.on.keys()).copied().collect();
        concurrencies.sort_unstable();
        concurrencies.dedup();
        concurrencies
            .into_iter()
            .map(|concurrency| {
                let empty = Vec::new();
                compare(
                    concurrency,
                    self.off.get(&concurrency).unwrap_or(&empty),
                    self.on.get(&concurrency).unwrap_or(&empty),
                )
            })
            .collect()
    }

    /// The target's figure: the median added p50 at the lowest concurrency measured.
    pub fn added_p50_lowest(&self) -> Option<(usize, f64)> {
        let lowest = self.comparisons().into_iter().next()?;
        Some((lowest.concurrency, lowest.added_p50_us?))
    }
}

fn compare(concurrency: usize, off: &[CallsResult], on: &[CallsResult]) -> AuthComparison {
    let p50 = |run: &CallsResult| run.latency.as_ref().map(|latency| latency.p50_us);
    let p99 = |run: &CallsResult| run.latency.as_ref().map(|latency| latency.p99_us);
    let added_p50_per_round_us: Vec<f64> = off
        .iter()
        .zip(on)
        .filter_map(|(off, on)| Some(p50(on)? - p50(off)?))
        .collect();
    AuthComparison {
        concurrency,
        rounds: off.len().min(on.len()),
        calls_off: off.iter().map(|run| run.calls).sum(),
        calls_on: on.iter().map(|run| run.calls).sum(),
        errors_off: off.iter().map(|run| run.errors).sum(),
        errors_on: on.iter().map(|run| run.errors).sum(),
        p50_off_us: median(off.iter().filter_map(p50).collect()),
        p50_on_us: median(on.iter().filter_map(p50).collect()),
        added_p50_us: median(added_p50_per_round_us.clone()),
        added_p50_per_round_us,
        p99_off_us: median(off.iter().filter_map(p99).collect()),
        p99_on_us: median(on.iter().filter_map(p99).collect()),
        cpu_off_us: pooled_cpu_us(off),
        cpu_on_us: pooled_cpu_us(on),
        interleaved: !off.is_empty()
            && off
                .iter()
                .chain(on)
                .all(|run| run.interleaved_with.is_some()),
        first_error: off
            .iter()
            .chain(on)
            .find_map(|run| run.first_error.as_ref())
            .map(|error| error.to_owned()),
    }
}

/// The middle value (the mean of the two middle ones for an even count); `None` when empty.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|value| value.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    })
}

/// The gateway's CPU over all `runs` divided by all their calls, µs; `None` when a run did
/// not read the gateway's CPU or no call was made.
fn pooled_cpu_us(runs: &[CallsResult]) -> Option<f64> {
    let mut cpu_s = 0.0;
    let mut calls = 0;
    for run in runs {
        cpu_s += run.process(GATEWAY_PROCESS)?.cpu_s;
        calls += run.calls;
    }
    (calls > 0).then(|| cpu_s * 1e6 / calls as f64)
}

/// The section of the report, one block per concurrency.
pub fn render(out: &mut String, runs: &AuthRuns) {
    for comparison in runs.comparisons() {
        let title = format!("auth, concurrency {}", comparison.concurrency);
        let _ = comparison_heading(
            out,
            &title,
            &["auth off", "auth on", "on − off"],
            (comparison.interleaved, comparison.rounds),
            ("calls", "gateways"),
        );
        out.push('\n');
        // Counts are shown without a difference; figures with one.
        let mut row = |name: &str, off: Option<f64>, on: Option<f64>, decimals: Option<usize>| {
            let Some(decimals) = decimals else {
                let _ = writeln!(
                    out,
                    "  {name:<34}{:>12}{:>12}",
                    number(off, 0),
                    number(on, 0)
                );
                return;
            };
            let difference = match (on, off) {
                (Some(on), Some(off)) => number(Some(on - off), decimals),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {name:<34}{:>12}{:>12}{:>12}",
                number(off, decimals),
                number(on, decimals),
                difference
            );
        };
        let count = |n: usize| Some(n as f64);
        row(
            "calls",
            count(comparison.calls_off),
            count(comparison.calls_on),
            None,
        );
        row(
            "errors",
            count(comparison.errors_off),
            count(comparison.errors_on),
            None,
        );
        row(
            "p50 latency, µs (median of rounds)",
            comparison.p50_off_us,
            comparison.p50_on_us,
            Some(0),
        );
        row(
            "p99 latency, µs (median of rounds)",
            comparison.p99_off_us,
            comparison.p99_on_us,
            Some(0),
        );
        row(
            "gateway CPU per call, µs",
            comparison.cpu_off_us,
            comparison.cpu_on_us,
            Some(1),
        );
        let per_round: Vec<String> = comparison
            .added_p50_per_round_us
            .iter()
            .map(|added| format!("{added:+.0}"))
            .collect();
        let _ = writeln!(
            out,
            "  added p50 per round, µs: {}; median {}",
            if per_round.is_empty() {
                "n/a".to_owned()
            } else {
                per_round.join(", ")
            },
            number(comparison.added_p50_us, 0)
        );
    }
}

/// Notes for the report's `notes` section.
pub fn problems(runs: &AuthRuns) -> Vec<String> {
    runs.comparisons()
        .into_iter()
        .filter_map(|comparison| {
            let error = comparison.first_error?;
            Some(format!(
                "auth rounds at concurrency {}: {} errors off, {} on, first: {error}",
                comparison.concurrency, comparison.errors_off, comparison.errors_on
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        results::{ClientKind, Connections, ProcessUsage},
        stats::LatencySummary,
    };

    fn run(label: &str, concurrency: usize, p50_us: f64, gateway_cpu_s: f64) -> CallsResult {
        CallsResult {
            label: label.to_owned(),
            tool: "bench__echo".to_owned(),
            client: ClientKind::Raw,
            connections: Connections::KeepAlive,
            concurrency,
            calls: 1000,
            capped: false,
            ok: 1000,
            errors: 0,
            elapsed_s: 1.0,
            throughput_per_s: 1000.0,
            latency: Some(LatencySummary {
                samples: 1000,
                min_us: p50_us / 2.0,
                p50_us,
                p90_us: p50_us,
                p99_us: p50_us * 2.0,
                p999_us: p50_us * 3.0,
                max_us: p50_us * 4.0,
                mean_us: p50_us,
            }),
            processes: vec![ProcessUsage {
                name: GATEWAY_PROCESS.to_owned(),
                pid: 1,
                cpu_s: gateway_cpu_s,
                cpu_ms_per_call: gateway_cpu_s,
                rss_peak_kib: 1,
                rss_end_kib: 1,
                threads_cpu_ms_per_call: Default::default(),
            }],
            client_cpu_ms_per_call: None,
            first_error: None,
            interleaved_with: None,
        }
    }

    fn three_rounds() -> AuthRuns {
        let mut runs = AuthRuns::default();
        for (off, on) in [(300.0, 306.0), (310.0, 309.0), (295.0, 305.0)] {
            assert!(runs.take(run(AUTH_OFF, 1, off, 0.30)).is_none());
            assert!(runs.take(run(AUTH_ON, 1, on, 0.31)).is_none());
        }
        runs
    }

    #[test]
    fn rounds_pair_in_order_and_the_median_difference_counts() {
        let comparison = three_rounds().comparisons().remove(0);
        assert_eq!(comparison.rounds, 3);
        assert_eq!(comparison.added_p50_per_round_us, [6.0, -1.0, 10.0]);
        assert_eq!(comparison.added_p50_us, Some(6.0));
        assert_eq!(comparison.p50_off_us, Some(300.0));
        assert_eq!(comparison.p50_on_us, Some(306.0));
        assert_eq!((comparison.calls_off, comparison.calls_on), (3000, 3000));
        // 0.90 s over 3000 calls against 0.93 s: 300 µs and 310 µs per call.
        let added_cpu = comparison.cpu_on_us.expect("cpu") - comparison.cpu_off_us.expect("cpu");
        assert!((added_cpu - 10.0).abs() < 1e-9, "{added_cpu}");
        assert_eq!(three_rounds().added_p50_lowest(), Some((1, 6.0)));
    }

    #[test]
    fn other_labels_are_given_back() {
        let mut runs = AuthRuns::default();
        assert!(runs.take(run("gateway", 1, 1.0, 0.0)).is_some());
        assert!(runs.comparisons().is_empty());
        assert_eq!(runs.added_p50_lowest(), None);
    }

    #[test]
    fn an_unpaired_run_has_no_difference() {
        let mut runs = AuthRuns::default();
        runs.take(run(AUTH_OFF, 16, 900.0, 1.0));
        let comparison = runs.comparisons().remove(0);
        assert_eq!(comparison.rounds, 0);
        assert_eq!(comparison.added_p50_us, None);
        assert_eq!(comparison.cpu_on_us, None);
        assert_eq!(runs.added_p50_lowest(), None);
    }

    #[test]
    fn cpu_is_unknown_when_a_run_did_not_read_it() {
        let mut unread = run(AUTH_ON, 1, 1.0, 0.0);
        unread.processes.clear();
        assert_eq!(pooled_cpu_us(&[run(AUTH_ON, 1, 1.0, 0.5), unread]), None);
        assert_eq!(pooled_cpu_us(&[]), None);
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN]), None);
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn section_lists_rounds_and_differences() {
        let mut out = String::new();
        render(&mut out, &three_rounds());
        assert!(out.contains("auth, concurrency 1"), "{out}");
        assert!(
            out.contains("3 round(s), one gateway after the other"),
            "{out}"
        );
        assert!(
            out.contains("added p50 per round, µs: +6, -1, +10; median 6"),
            "{out}"
        );
        assert!(out.contains("300.0       310.0        10.0"), "{out}");
        assert!(problems(&three_rounds()).is_empty());
    }

    #[test]
    fn interleaved_rounds_are_named_so() {
        let mut runs = AuthRuns::default();
        for label in [AUTH_OFF, AUTH_ON] {
            let mut paired = run(label, 1, 300.0, 0.3);
            paired.interleaved_with = Some("other".to_owned());
            runs.take(paired);
        }
        assert!(runs.comparisons()[0].interleaved);
        let mut out = String::new();
        render(&mut out, &runs);
        assert!(
            out.contains("1 round(s), calls interleaved one by one"),
            "{out}"
        );
        assert!(!three_rounds().comparisons()[0].interleaved);
    }

    #[test]
    fn errors_become_notes() {
        let mut runs = three_rounds();
        let mut failed = run(AUTH_ON, 1, 1.0, 0.0);
        failed.errors = 2;
        failed.first_error = Some("HTTP 401 Unauthorized".to_owned());
        runs.take(failed);
        assert_eq!(
            problems(&runs),
            ["auth rounds at concurrency 1: 0 errors off, 2 on, first: HTTP 401 Unauthorized"]
        );
    }
}
