//! Rate limits: token buckets per user, and per user × pattern for `per_tool` (SPEC §4
//! `rate_limits:`, §12, §13).
//!
//! A [`RateLimiter`] is built once per config load and charged on every `tools/call` and REST
//! invocation. `requests_per_minute` is the refill rate and `burst` the bucket size; a fresh
//! (or long idle) bucket is full.
//!
//! Why not `governor`: one check here may touch several buckets (`per_user` and every
//! matching `per_tool` pattern) and must be all-or-nothing — a call refused by a `per_tool`
//! bucket must not spend the caller's `per_user` token. `governor` spends as it checks, one
//! key at a time, and cannot give a token back. So the buckets are kept here: every bucket of
//! one user lives in the same shard, one lock covers the whole check, and nothing is spent
//! unless every bucket has a token.
//!
//! Each bucket is one number, its "theoretical arrival time" (GCRA, the usual exact form of a
//! token bucket): the instant at which it will be full again. A bucket with `tat <= now` is
//! full, which is exactly the state of a bucket never used, so forgetting a user whose
//! buckets are all full changes nothing. That is how memory stays bounded: when a shard has
//! doubled since it was last swept, it drops such users before adding a new one.
//!
//! Time is a monotonic [`Instant`]; every `charge_*` has a `charge_*_at` twin taking `now`, so
//! tests drive the clock themselves.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::authz::ToolPattern;
use crate::config::{Rate, RateLimitsConfig};

/// Shards of the user map; a power of two. Enough that two cores rarely wait on one lock.
const SHARDS: usize = 16;

/// A shard is not swept before it holds this many users (sweeping tiny maps buys nothing).
const MIN_SWEEP_LEN: usize = 256;

const NANOS_PER_MINUTE: u64 = 60_000_000_000;

/// How long until the refused call would be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up and at least 1: the `Retry-After` header value and the `N`
    /// of "retry after N s".
    pub fn whole_seconds(&self) -> u64 {
        let seconds = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        seconds.max(1)
    }
}

impl fmt::Display for RetryAfter {
    /// The MCP error text of SPEC §12.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limit exceeded, retry after {} s",
            self.whole_seconds()
        )
    }
}

/// A `rate_limits:` entry that cannot be enforced as written. The config loader rejects
/// these already; the limiter refuses them again rather than dividing by zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitConfigError {
    #[error("rate_limits.{what}: requests_per_minute and burst must be positive")]
    ZeroRate { what: String },
    #[error("rate_limits.per_tool: a tool-name pattern must not be empty")]
    EmptyPattern,
}

/// The token buckets of `rate_limits:`.
///
/// How to charge (SPEC §13), so that no bucket is charged twice for one target:
/// - a direct call of `a__x`: `charge_target(user, "a__x")` only — **not** also
///   `charge_call`, which would charge the `per_tool` patterns matching `a__x` a second time;
/// - a broadcast `broadcast__x`: `charge_call(user, "broadcast__x")` once (refused: the whole
///   call is refused), then `charge_target(user, target)` for each target's full name (refused:
///   that target goes to `errors` as `rate limit exceeded`, the others still run).
///
/// Key by the same user string everywhere (the principal's `user`).
pub struct RateLimiter {
    /// `None`: no `rate_limits:` section, or one with no limit in it.
    limits: Option<Box<Limits>>,
}

struct Limits {
    per_user: Option<Bucket>,
    per_tool: Box<[(ToolPattern, Bucket)]>,
    /// Bucket times are nanoseconds since this instant.
    epoch: Instant,
    shard_of: RandomState,
    shards: Box<[Mutex<Shard>]>,
    min_sweep_len: usize,
}

/// The parameters of one kind of bucket (every user's bucket of that kind shares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    /// Nanoseconds per token: one minute / `requests_per_minute`, rounded up so that the
    /// configured rate is never exceeded.
    interval: u64,
    /// How far ahead of `now` a bucket's time may run and still grant a token:
    /// `interval × (burst − 1)`.
    tolerance: u64,
}

struct Shard {
    /// Per user, the time of each bucket: slot 0 is `per_user`, slot `1 + i` is `per_tool[i]`.
    users: HashMap<Box<str>, Box<[u64]>>,
    /// Sweep before adding a user once `users` is this long.
    sweep_at: usize,
}

impl RateLimiter {
    /// `None` = no `rate_limits:` section: unlimited.
    pub fn new(config: Option<&RateLimitsConfig>) -> Result<RateLimiter, RateLimitConfigError> {
        let Some(config) = config else {
            return Ok(RateLimiter::unlimited());
        };
        let per_user = config
            .per_user
            .map(|rate| Bucket::new(rate, || "per_user".to_owned()))
            .transpose()?;
        let per_tool = config
            .per_tool
            .iter()
            .map(|(pattern, rate)| {
                if pattern.is_empty() {
                    return Err(RateLimitConfigError::EmptyPattern);
                }
                let bucket = Bucket::new(*rate, || format!("per_tool.{pattern}"))?;
                Ok((ToolPattern::new(pattern), bucket))
            })
            .collect::<Result<Box<[_]>, _>>()?;
        if per_user.is_none() && per_tool.is_empty() {
            return Ok(RateLimiter::unlimited());
        }
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    users: HashMap::new(),
                    sweep_at: MIN_SWEEP_LEN,
                })
            })
            .collect();
        Ok(RateLimiter {
            limits: Some(Box::new(Limits {
                per_user,
                per_tool,
                epoch: Instant::now(),
                shard_of: RandomState::new(),
                shards,
                min_sweep_len: MIN_SWEEP_LEN,
            })),
        })
    }

    /// No limits at all.
    pub fn unlimited() -> RateLimiter {
        RateLimiter { limits: None }
    }

    /// Whether every charge succeeds.
    pub fn is_unlimited(&self) -> bool {
        self.limits.is_none()
    }

    /// Charge the called name once per call: the `per_tool` patterns matching `called_name`
    /// (so `broadcast__*` limits broadcasts). `Err`: the whole call is refused. Broadcasts
    /// only; see the type's documentation.
    pub fn charge_call(&self, user: &str, called_name: &str) -> Result<(), RetryAfter> {
        self.charge_call_at(user, called_name, Instant::now())
    }

    /// [`charge_call`](Self::charge_call) at `now`.
    pub fn charge_call_at(
        &self,
        user: &str,
        called_name: &str,
        now: Instant,
    ) -> Result<(), RetryAfter> {
        match &self.limits {
            None => Ok(()),
            Some(limits) => limits.charge(user, false, called_name, now),
        }
    }

    /// Charge one target (a direct call has one, a broadcast one per target): `per_user` once,
    /// and the `per_tool` patterns matching the target's full name. All or nothing.
    pub fn charge_target(&self, user: &str, target_full_name: &str) -> Result<(), RetryAfter> {
        self.charge_target_at(user, target_full_name, Instant::now())
    }

    /// [`charge_target`](Self::charge_target) at `now`.
    pub fn charge_target_at(
        &self,
        user: &str,
        target_full_name: &str,
        now: Instant,
    ) -> Result<(), RetryAfter> {
        match &self.limits {
            None => Ok(()),
            Some(limits) => limits.charge(user, true, target_full_name, now),
        }
    }

    /// Forget every user whose buckets are all full at `now` (a forgotten user is
    /// indistinguishable from one whose buckets refilled). Charging already does this as maps
    /// grow; a periodic call also returns memory after a burst of users has gone quiet.
    pub fn evict_idle_at(&self, now: Instant) {
        if let Some(limits) = &self.limits {
            let now = limits.nanos_since_epoch(now);
            for shard in limits.shards.iter() {
                lock(shard).sweep(now, limits.min_sweep_len);
            }
        }
    }

    /// How many users have buckets in memory.
    pub fn tracked_users(&self) -> usize {
        self.limits.as_ref().map_or(0, |limits| {
            limits
                .shards
                .iter()
                .map(|shard| lock(shard).users.len())
                .sum()
        })
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::unlimited()
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.limits {
            None => f.write_str("RateLimiter(unlimited)"),
            Some(limits) => f
                .debug_struct("RateLimiter")
                .field("per_user", &limits.per_user)
                .field("per_tool", &limits.per_tool)
                .finish_non_exhaustive(),
        }
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Nothing panics while a shard is held, and every update leaves it consistent anyway.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Bucket {
    fn new(rate: Rate, what: impl FnOnce() -> String) -> Result<Bucket, RateLimitConfigError> {
        if rate.requests_per_minute == 0 || rate.burst == 0 {
            return Err(RateLimitConfigError::ZeroRate { what: what() });
        }
        let interval = NANOS_PER_MINUTE.div_ceil(u64::from(rate.requests_per_minute));
        Ok(Bucket {
            interval,
            tolerance: interval.saturating_mul(u64::from(rate.burst - 1)),
        })
    }

    /// `None` when a bucket whose time is `tat` has a token at `now`, else how long until it
    /// has one.
    fn wait(&self, tat: u64, now: u64) -> Option<u64> {
        let latest_allowed = now.saturating_add(self.tolerance);
        (tat > latest_allowed).then(|| tat - latest_allowed)
    }

    /// The bucket's time after taking one token at `now`.
    fn take(&self, tat: u64, now: u64) -> u64 {
        tat.max(now).saturating_add(self.interval)
    }
}

impl Limits {
    fn nanos_since_epoch(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(elapsed).unwrap_or(u64::MAX)
    }

    fn bucket(&self, slot: usize) -> Option<Bucket> {
        match slot {
            0 => self.per_user,
            _ => self.per_tool.get(slot - 1).map(|(_, bucket)| *bucket),
        }
    }

    fn charge(
        &self,
        user: &str,
        charge_per_user: bool,
        name: &str,
        now: Instant,
    ) -> Result<(), RetryAfter> {
        let charge_per_user = charge_per_user && self.per_user.is_some();
        // Pattern matching happens before taking the lock, to keep the lock short.
        let matched = MatchedPatterns::of(&self.per_tool, name);
        if !charge_per_user && matched.is_empty() {
            return Ok(());
        }
        let slots = || {
            charge_per_user
                .then_some(0)
                .into_iter()
                .chain(matched.iter().map(|index| index + 1))
        };
        let now = self.nanos_since_epoch(now);

        let shard_index = (self.shard_of.hash_one(user) as usize) & (SHARDS - 1);
        let mut guard = lock(&self.shards[shard_index]);
        let shard = &mut *guard;
        // Check every bucket before spending any: the check is all or nothing. A user without
        // an entry has only full buckets (time 0).
        let times = shard.users.get_mut(user);
        let longest_wait = slots()
            .filter_map(|slot| {
                let bucket = self.bucket(slot)?;
                let tat = times.as_deref().and_then(|t| t.get(slot)).copied();
                bucket.wait(tat.unwrap_or(0), now)
            })
            .max();
        if let Some(wait) = longest_wait {
            return Err(RetryAfter(Duration::from_nanos(wait)));
        }

        let spend = |times: &mut [u64]| {
            for slot in slots() {
                if let (Some(bucket), Some(tat)) = (self.bucket(slot), times.get_mut(slot)) {
                    *tat = bucket.take(*tat, now);
                }
            }
        };
        match times {
            Some(times) => spend(times),
            None => {
                if shard.users.len() >= shard.sweep_at {
                    shard.sweep(now, self.min_sweep_len);
                }
                let mut fresh = vec![0u64; 1 + self.per_tool.len()].into_boxed_slice();
                spend(&mut fresh);
                shard.users.insert(Box::from(user), fresh);
            }
        }
        Ok(())
    }
}

impl Shard {
    /// Drop users whose buckets are all full, and sweep again once the map has doubled: the
    /// map never holds more than twice the users that were busy at the last sweep (or
    /// `min_len`), and sweeping costs O(1) per added user, amortized.
    fn sweep(&mut self, now: u64, min_len: usize) {
        self.users
            .retain(|_, times| times.iter().any(|tat| *tat > now));
        self.users.shrink_to(self.users.len() * 2);
        self.sweep_at = min_len.max(self.users.len() * 2);
    }
}

/// The indices of the `per_tool` patterns a name matches. The first 128 are bits, so the
/// usual configuration allocates nothing.
struct MatchedPatterns {
    first: u128,
    rest: Vec<usize>,
}

impl MatchedPatterns {
    fn of(patterns: &[(ToolPattern, Bucket)], name: &str) -> Self {
        let mut matched = MatchedPatterns {
            first: 0,
            rest: Vec::new(),
        };
        for (index, (pattern, _)) in patterns.iter().enumerate() {
            if pattern.matches(name) {
                if index < 128 {
                    matched.first |= 1 << index;
                } else {
                    matched.rest.push(index);
                }
            }
        }
        matched
    }

    fn is_empty(&self) -> bool {
        self.first == 0 && self.rest.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut bits = self.first;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let index = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                index
            })
        })
        .chain(self.rest.iter().copied())
    }
}

#[cfg(test)]
mod tests;
