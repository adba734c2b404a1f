//! When the issuer's documents are fetched again: timing policy only, no I/O.
//!
//! - Periodically ([`AuthnOptions::refresh_interval`]), so that retired keys leave the cache.
//! - When a token names an unknown `kid` (the issuer may have rotated), but at most once per
//!   [`AuthnOptions::min_kid_refresh_interval`]: the `kid` comes from the caller, so a flood
//!   of invented ones must not become a flood of requests to Keycloak.
//! - After a failure, with exponential backoff, so that a gateway started before Keycloak
//!   recovers by itself.

use std::time::{Duration, Instant};

/// Timings of the key cache. [`Default`] is what the gateway runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnOptions {
    /// Fetch discovery and JWKS again this long after a success.
    pub refresh_interval: Duration,
    /// At most one fetch caused by unknown `kid`s (or by a request for the mirrored metadata)
    /// per this interval.
    pub min_kid_refresh_interval: Duration,
    /// First wait after a failed fetch; doubles up to [`AuthnOptions::retry_max`].
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Whole-request timeout of one fetch.
    pub fetch_timeout: Duration,
}

impl Default for AuthnOptions {
    fn default() -> Self {
        AuthnOptions {
            refresh_interval: Duration::from_secs(600),
            min_kid_refresh_interval: Duration::from_secs(10),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(10),
        }
    }
}

/// Exponential backoff between failed attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
        }
    }

    /// The wait before the next attempt; each call doubles the following one.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// "At most once per interval" for fetches that callers can cause.
#[derive(Debug, Clone, Default)]
pub struct Cooldown {
    last: Option<Instant>,
}

impl Cooldown {
    /// Whether a fetch may start at `now`; if so, it is recorded as started.
    pub fn try_start(&mut self, now: Instant, interval: Duration) -> bool {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < interval => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let waits: Vec<u64> = (0..5).map(|_| backoff.next_wait().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_secs(1));
    }

    #[test]
    fn backoff_cap_below_initial_is_the_initial() {
        let mut backoff = Backoff::new(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(backoff.next_wait(), Duration::from_secs(3));
        assert_eq!(backoff.next_wait(), Duration::from_secs(3));
    }

    #[test]
    fn cooldown_allows_one_start_per_interval() {
        let interval = Duration::from_secs(10);
        let start = Instant::now();
        let mut cooldown = Cooldown::default();
        assert!(cooldown.try_start(start, interval), "the first is free");
        assert!(!cooldown.try_start(start, interval));
        assert!(!cooldown.try_start(start + Duration::from_secs(9), interval));
        assert!(cooldown.try_start(start + Duration::from_secs(10), interval));
        assert!(!cooldown.try_start(start + Duration::from_secs(11), interval));
        // A clock that appears to go back never opens the gate early.
        assert!(!cooldown.try_start(start, interval));
    }

    #[test]
    fn defaults_protect_the_issuer() {
        let options = AuthnOptions::default();
        assert!(options.min_kid_refresh_interval >= Duration::from_secs(10));
        assert!(options.refresh_interval > options.min_kid_refresh_interval);
        assert!(options.retry_max >= options.retry_initial);
    }
}
