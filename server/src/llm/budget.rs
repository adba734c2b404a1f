//! Per-user budgets of the Anthropic proxy (SPEC §14 `llm.limits.per_user`): requests per
//! minute, tokens per minute and tokens per day.
//!
//! Each limit is a token bucket of `limit` units refilling over its window (a minute, a day),
//! kept as one number in the GCRA form the rate limiter uses: the instant at which the bucket
//! is full again (`tat`). A fresh or long idle bucket is full.
//! - A request takes one unit of the request bucket at admission; refused when it would go
//!   past the window.
//! - Tokens are known only when the answer is complete, so a request is admitted while each
//!   token bucket has room for at least one token, and charged afterwards with the usage
//!   reported; a long answer may overdraw the bucket, and the user then waits until it has
//!   refilled past the overdraft. "Tokens per day" is therefore a rolling day, not a
//!   calendar one.
//!
//! Buckets live as long as the config that set them (a reload starts them again, as for
//! `rate_limits`). Users whose buckets are all full are forgotten when the map has doubled
//! since its last sweep, which changes nothing for them. Time is injected (`*_at`) for tests.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::LlmBudget;
use crate::ratelimit::RetryAfter;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// The map is not swept before it holds this many users.
const MIN_SWEEP_LEN: usize = 256;

/// Which budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    RequestsPerMinute(RetryAfter),
    TokensPerMinute(RetryAfter),
    TokensPerDay(RetryAfter),
}

impl Exhausted {
    pub fn retry_after(&self) -> RetryAfter {
        match *self {
            Exhausted::RequestsPerMinute(r)
            | Exhausted::TokensPerMinute(r)
            | Exhausted::TokensPerDay(r) => r,
        }
    }

    /// For messages and audit records.
    pub fn budget(&self) -> &'static str {
        match self {
            Exhausted::RequestsPerMinute(_) => "requests_per_minute",
            Exhausted::TokensPerMinute(_) => "tokens_per_minute",
            Exhausted::TokensPerDay(_) => "tokens_per_day",
        }
    }
}

/// One limit: `units` per `window`.
#[derive(Debug, Clone, Copy)]
struct Limit {
    units: u64,
    window: Duration,
}

impl Limit {
    fn new(units: Option<u64>, window: Duration) -> Option<Limit> {
        units
            .filter(|&n| n > 0)
            .map(|units| Limit { units, window })
    }

    /// How long `n` units take to refill, in nanoseconds.
    fn refill_nanos(&self, n: u64) -> u64 {
        let nanos = self.window.as_nanos() * u128::from(n) / u128::from(self.units);
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    fn window_nanos(&self) -> u64 {
        u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The buckets of one user, as "full again at" instants in nanoseconds since `origin`.
#[derive(Debug, Clone, Copy, Default)]
struct Buckets {
    requests: u64,
    minute_tokens: u64,
    day_tokens: u64,
}

impl Buckets {
    fn all_full(&self, now: u64) -> bool {
        self.requests <= now && self.minute_tokens <= now && self.day_tokens <= now
    }
}

/// The budgets of one config.
#[derive(Debug)]
pub struct Budgets {
    requests_per_minute: Option<Limit>,
    tokens_per_minute: Option<Limit>,
    tokens_per_day: Option<Limit>,
    origin: Instant,
    users: Mutex<Users>,
}

#[derive(Debug, Default)]
struct Users {
    buckets: HashMap<String, Buckets>,
    swept_len: usize,
}

impl Budgets {
    pub fn new(budget: &LlmBudget) -> Budgets {
        Budgets {
            requests_per_minute: Limit::new(budget.requests_per_minute, MINUTE),
            tokens_per_minute: Limit::new(budget.tokens_per_minute, MINUTE),
            tokens_per_day: Limit::new(budget.tokens_per_day, DAY),
            origin: Instant::now(),
            users: Mutex::new(Users::default()),
        }
    }

    /// Admit one request of `user` now (taking a unit of its request budget), or say which
    /// budget is spent and when to come back.
    pub fn admit(&self, user: &str) -> Result<(), Exhausted> {
        self.admit_at(user, Instant::now())
    }

    /// Charge `tokens` the answer used.
    pub fn charge(&self, user: &str, tokens: u64) {
        self.charge_at(user, tokens, Instant::now());
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn admit_at(&self, user: &str, at: Instant) -> Result<(), Exhausted> {
        let now = self.nanos(at);
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = users.buckets.get(user).copied().unwrap_or_default();
        // Token budgets: room for one more token in each.
        for (limit, tat, refused) in [
            (
                self.tokens_per_minute,
                buckets.minute_tokens,
                Exhausted::TokensPerMinute as fn(_) -> _,
            ),
            (
                self.tokens_per_day,
                buckets.day_tokens,
                Exhausted::TokensPerDay,
            ),
        ] {
            let Some(limit) = limit else { continue };
            // One more token would make the bucket full again at `needed`; a bucket holds
            // a window's worth.
            let needed = tat.max(now).saturating_add(limit.refill_nanos(1));
            let most = now.saturating_add(limit.window_nanos());
            if needed > most {
                return Err(refused(RetryAfter(Duration::from_nanos(needed - most))));
            }
        }
        let mut requests = buckets.requests;
        if let Some(limit) = self.requests_per_minute {
            let next = requests.max(now).saturating_add(limit.refill_nanos(1));
            if next - now > limit.window_nanos() {
                let wait = next - now - limit.window_nanos();
                return Err(Exhausted::RequestsPerMinute(RetryAfter(
                    Duration::from_nanos(wait),
                )));
            }
            requests = next;
        }
        if self.requests_per_minute.is_some() {
            Self::sweep(&mut users, now);
            users.buckets.entry(user.to_owned()).or_default().requests = requests;
        }
        Ok(())
    }

    pub fn charge_at(&self, user: &str, tokens: u64, at: Instant) {
        if tokens == 0 || (self.tokens_per_minute.is_none() && self.tokens_per_day.is_none()) {
            return;
        }
        let now = self.nanos(at);
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        Self::sweep(&mut users, now);
        let buckets = users.buckets.entry(user.to_owned()).or_default();
        if let Some(limit) = self.tokens_per_minute {
            buckets.minute_tokens = buckets
                .minute_tokens
                .max(now)
                .saturating_add(limit.refill_nanos(tokens));
        }
        if let Some(limit) = self.tokens_per_day {
            buckets.day_tokens = buckets
                .day_tokens
                .max(now)
                .saturating_add(limit.refill_nanos(tokens));
        }
    }

    /// Forget users whose buckets are all full, once the map has doubled since last time.
    fn sweep(users: &mut Users, now: u64) {
        let len = users.buckets.len();
        if len < MIN_SWEEP_LEN || len < users.swept_len.saturating_mul(2) {
            return;
        }
        users.buckets.retain(|_, buckets| !buckets.all_full(now));
        users.swept_len = users.buckets.len();
    }

    #[cfg(test)]
    fn known_users(&self) -> usize {
        self.users.lock().unwrap().buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(rpm: Option<u64>, tpm: Option<u64>, tpd: Option<u64>) -> Budgets {
        Budgets::new(&LlmBudget {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            tokens_per_day: tpd,
        })
    }

    #[test]
    fn requests_per_minute_allow_a_full_bucket_then_refill_one_by_one() {
        let b = budgets(Some(3), None, None);
        let t0 = b.origin;
        for _ in 0..3 {
            b.admit_at("u", t0).unwrap();
        }
        let refused = b.admit_at("u", t0).unwrap_err();
        assert!(matches!(refused, Exhausted::RequestsPerMinute(_)));
        assert_eq!(refused.retry_after().0, Duration::from_secs(20));
        // Another user has a budget of its own.
        b.admit_at("v", t0).unwrap();
        // One unit back every 20 s.
        b.admit_at("u", t0 + Duration::from_secs(20)).unwrap();
        assert!(b.admit_at("u", t0 + Duration::from_secs(21)).is_err());
    }

    #[test]
    fn tokens_are_charged_after_and_an_overdraft_is_waited_out() {
        let b = budgets(None, Some(1000), None);
        let t0 = b.origin;
        b.admit_at("u", t0).unwrap();
        // A long answer: 3000 tokens against 1000 a minute.
        b.charge_at("u", 3000, t0);
        let refused = b.admit_at("u", t0).unwrap_err();
        assert!(matches!(refused, Exhausted::TokensPerMinute(_)));
        // Full again at 3 min; room for one token 1 min before that (plus one token's time).
        let wait = refused.retry_after().0;
        assert!(
            wait > Duration::from_secs(119) && wait < Duration::from_secs(121),
            "{wait:?}"
        );
        assert!(b.admit_at("u", t0 + Duration::from_secs(119)).is_err());
        b.admit_at("u", t0 + Duration::from_secs(121)).unwrap();
    }

    #[test]
    fn a_budget_with_room_admits_even_a_request_that_will_overdraw_it() {
        let b = budgets(None, Some(100), None);
        let t0 = b.origin;
        b.charge_at("u", 99, t0);
        b.admit_at("u", t0).unwrap();
        b.charge_at("u", 1, t0);
        assert!(b.admit_at("u", t0).is_err(), "100 of 100 spent");
    }

    #[test]
    fn the_day_budget_is_a_rolling_day() {
        let b = budgets(None, Some(1_000_000), Some(1000));
        let t0 = b.origin;
        b.charge_at("u", 1000, t0);
        let refused = b.admit_at("u", t0 + Duration::from_secs(60)).unwrap_err();
        assert_eq!(refused.budget(), "tokens_per_day");
        // 1000 a day is one token per 86.4 s.
        b.admit_at("u", t0 + Duration::from_secs(87)).unwrap();
    }

    #[test]
    fn no_limits_no_state() {
        let b = budgets(None, None, None);
        b.admit_at("u", b.origin).unwrap();
        b.charge_at("u", 1_000_000, b.origin);
        b.admit_at("u", b.origin).unwrap();
        assert_eq!(b.known_users(), 0);
    }

    #[test]
    fn idle_users_are_forgotten_when_the_map_doubles() {
        let b = budgets(Some(60), None, None);
        let t0 = b.origin;
        for i in 0..MIN_SWEEP_LEN {
            b.admit_at(&format!("u{i}"), t0).unwrap();
        }
        assert_eq!(b.known_users(), MIN_SWEEP_LEN);
        // A minute later every bucket is full again; the next new user sweeps them.
        b.admit_at("late", t0 + Duration::from_secs(61)).unwrap();
        assert_eq!(b.known_users(), 1);
    }
}
