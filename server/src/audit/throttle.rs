//! At most one log line per interval for conditions that repeat on every record (database
//! down, stdout full), so an outage does not flood the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Throttle {
    origin: Instant,
    interval_ms: u64,
    /// Milliseconds after `origin` when the next line may go out; 0 = now.
    next_ms: AtomicU64,
}

impl Throttle {
    pub fn every_secs(seconds: u64) -> Self {
        Self::every(Duration::from_secs(seconds))
    }

    pub fn every(interval: Duration) -> Self {
        Throttle {
            origin: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            next_ms: AtomicU64::new(0),
        }
    }

    /// Whether a line may go out now (and if so, the next one waits an interval).
    pub fn ready(&self) -> bool {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.interval_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Let the next line out at once (the condition ended).
    pub fn reset(&self) {
        self.next_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_until_reset() {
        let throttle = Throttle::every_secs(3600);
        assert!(throttle.ready());
        assert!(!throttle.ready());
        assert!(!throttle.ready());
        throttle.reset();
        assert!(throttle.ready());
        assert!(!throttle.ready());
    }

    #[test]
    fn a_zero_interval_always_lets_lines_out() {
        let throttle = Throttle::every(Duration::ZERO);
        assert!(throttle.ready());
        assert!(throttle.ready());
    }
}
