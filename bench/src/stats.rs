//! Latency statistics over per-call samples: percentiles by nearest rank on the sorted
//! samples, plus mean, minimum and maximum. Pure, so the figures a report prints can be
//! checked by hand.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A summary of latency samples, every figure in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub samples: usize,
    pub min_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl LatencySummary {
    /// Summarizes `samples` (in any order). `None` when there is no sample at all.
    pub fn from_samples(samples: &mut [Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        // Widening to f64 before dividing keeps the mean exact enough for microsecond figures.
        let mean_us = micros(total) / samples.len() as f64;
        Some(Self {
            samples: samples.len(),
            min_us: micros(samples[0]),
            p50_us: micros(percentile(samples, 50.0)?),
            p90_us: micros(percentile(samples, 90.0)?),
            p99_us: micros(percentile(samples, 99.0)?),
            p999_us: micros(percentile(samples, 99.9)?),
            max_us: micros(samples[samples.len() - 1]),
            mean_us,
        })
    }
}

/// The nearest-rank percentile of already sorted samples: the smallest sample such that at
/// least `pct` % of the samples are less than or equal to it.
pub fn percentile(sorted: &[Duration], pct: f64) -> Option<Duration> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&pct) {
        return None;
    }
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    // Rank 0 (pct = 0) means the smallest sample.
    let index = rank.saturating_sub(1).min(sorted.len() - 1);
    sorted.get(index).copied()
}

/// A duration in microseconds, fractional.
pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Calls per second, or 0 when no time passed.
pub fn throughput(calls: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        calls as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_micros(*v)).collect()
    }

    #[test]
    fn percentile_of_one_to_hundred_is_the_rank() {
        let samples = us(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&samples, 50.0), Some(Duration::from_micros(50)));
        assert_eq!(percentile(&samples, 99.0), Some(Duration::from_micros(99)));
        assert_eq!(
            percentile(&samples, 100.0),
            Some(Duration::from_micros(100))
        );
        assert_eq!(percentile(&samples, 0.0), Some(Duration::from_micros(1)));
        assert_eq!(percentile(&samples, 0.5), Some(Duration::from_micros(1)));
        assert_eq!(percentile(&samples, 50.5), Some(Duration::from_micros(51)));
    }

    #[test]
    fn percentile_of_few_samples_rounds_up() {
        let samples = us(&[10, 20, 30]);
        assert_eq!(percentile(&samples, 50.0), Some(Duration::from_micros(20)));
        assert_eq!(percentile(&samples, 34.0), Some(Duration::from_micros(20)));
        assert_eq!(percentile(&samples, 33.0), Some(Duration::from_micros(10)));
        assert_eq!(percentile(&samples, 99.0), Some(Duration::from_micros(30)));
    }

    #[test]
    fn percentile_refuses_nonsense() {
        assert_eq!(percentile(&[], 50.0), None);
        let samples = us(&[1]);
        assert_eq!(percentile(&samples, -1.0), None);
        assert_eq!(percentile(&samples, 100.5), None);
        assert_eq!(percentile(&samples, f64::NAN), None);
    }

    #[test]
    fn summary_sorts_and_summarizes() {
        let mut samples = us(&[400, 100, 300, 200]);
        let summary = LatencySummary::from_samples(&mut samples).expect("samples");
        assert_eq!(summary.samples, 4);
        assert_eq!(summary.min_us, 100.0);
        assert_eq!(summary.max_us, 400.0);
        assert_eq!(summary.p50_us, 200.0);
        assert_eq!(summary.p99_us, 400.0);
        assert!((summary.mean_us - 250.0).abs() < 1e-9);
    }

    #[test]
    fn summary_of_nothing_is_none() {
        assert_eq!(LatencySummary::from_samples(&mut []), None);
    }

    #[test]
    fn summary_keeps_sub_microsecond_precision() {
        let mut samples = vec![Duration::from_nanos(1500)];
        let summary = LatencySummary::from_samples(&mut samples).expect("samples");
        assert!((summary.p50_us - 1.5).abs() < 1e-9);
    }

    #[test]
    fn throughput_is_calls_over_seconds() {
        assert_eq!(throughput(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(throughput(10, Duration::ZERO), 0.0);
    }
}
