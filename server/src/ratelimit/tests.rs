//! Unit tests of the rate limiter, on an injected clock.

use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn rate(requests_per_minute: u32, burst: u32) -> Rate {
    Rate {
        requests_per_minute,
        burst,
    }
}

fn limiter(per_user: Option<Rate>, per_tool: &[(&str, Rate)]) -> RateLimiter {
    let config = RateLimitsConfig {
        per_user,
        per_tool: per_tool.iter().map(|(p, r)| (p.to_string(), *r)).collect(),
    };
    match RateLimiter::new(Some(&config)) {
        Ok(limiter) => limiter,
        Err(error) => panic!("limiter should build: {error}"),
    }
}

fn refused(result: Result<(), RetryAfter>) -> Duration {
    match result {
        Ok(()) => panic!("expected a refusal"),
        Err(RetryAfter(wait)) => wait,
    }
}

#[test]
fn burst_then_refusal_with_the_time_to_the_next_token() {
    let limits = limiter(Some(rate(60, 3)), &[]);
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(limits.charge_target_at("alice", "a__x", t0), Ok(()));
    }
    assert_eq!(
        refused(limits.charge_target_at("alice", "a__x", t0)),
        SECOND
    );
    let later = t0 + Duration::from_millis(250);
    assert_eq!(
        refused(limits.charge_target_at("alice", "a__x", later)),
        Duration::from_millis(750)
    );
}

#[test]
fn refills_at_requests_per_minute_up_to_burst() {
    let limits = limiter(Some(rate(60, 3)), &[]);
    let t0 = Instant::now();
    for _ in 0..3 {
        assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
    }
    // One token a second.
    assert!(
        limits
            .charge_target_at("alice", "a__x", t0 + SECOND)
            .is_ok()
    );
    assert!(
        limits
            .charge_target_at("alice", "a__x", t0 + SECOND)
            .is_err()
    );
    assert!(
        limits
            .charge_target_at("alice", "a__x", t0 + 2 * SECOND)
            .is_ok()
    );
    // A long pause refills the bucket to `burst`, never beyond.
    let idle = t0 + Duration::from_secs(3_600);
    for _ in 0..3 {
        assert!(limits.charge_target_at("alice", "a__x", idle).is_ok());
    }
    assert!(limits.charge_target_at("alice", "a__x", idle).is_err());
}

#[test]
fn never_more_than_the_configured_rate() {
    // 7 a minute does not divide a minute evenly; rounding must not add a token.
    let limits = limiter(Some(rate(7, 1)), &[]);
    let t0 = Instant::now();
    let mut granted = 0;
    for tenth in 0..=600 {
        let now = t0 + Duration::from_millis(100 * tenth);
        if limits.charge_target_at("alice", "a__x", now).is_ok() {
            granted += 1;
        }
    }
    // The first token at t0, then 7 a minute: the 8th lands just after the minute ends.
    assert_eq!(granted, 7);
}

#[test]
fn users_are_isolated() {
    let limits = limiter(Some(rate(60, 1)), &[("a__*", rate(60, 1))]);
    let t0 = Instant::now();
    assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
    assert!(limits.charge_target_at("alice", "a__x", t0).is_err());
    assert!(limits.charge_target_at("bob", "a__x", t0).is_ok());
    assert!(limits.charge_target_at("bob", "a__x", t0).is_err());
    assert!(limits.charge_target_at("carol", "a__x", t0).is_ok());
}

#[test]
fn per_tool_limits_only_names_that_match() {
    let limits = limiter(None, &[("*__search", rate(60, 1))]);
    let t0 = Instant::now();
    assert!(limits.charge_target_at("alice", "a__search", t0).is_ok());
    assert!(limits.charge_target_at("alice", "a__search", t0).is_err());
    // The pattern's bucket is shared by every name it matches, per user.
    assert!(limits.charge_target_at("alice", "b__search", t0).is_err());
    for _ in 0..10 {
        assert!(limits.charge_target_at("alice", "a__other", t0).is_ok());
        assert!(
            limits
                .charge_target_at("alice", "a__search_logs", t0)
                .is_ok()
        );
    }
}

#[test]
fn each_matching_pattern_has_its_own_bucket() {
    let limits = limiter(None, &[("a__*", rate(60, 2)), ("*__x", rate(60, 1))]);
    let t0 = Instant::now();
    assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
    // `*__x` is empty now; `a__*` still has one token.
    assert!(limits.charge_target_at("alice", "a__x", t0).is_err());
    assert!(limits.charge_target_at("alice", "a__y", t0).is_ok());
    assert!(limits.charge_target_at("alice", "a__y", t0).is_err());
    assert!(limits.charge_target_at("alice", "b__y", t0).is_ok());
}

#[test]
fn charge_call_charges_only_per_tool_patterns_of_the_called_name() {
    let limits = limiter(Some(rate(60, 1)), &[("broadcast__*", rate(60, 2))]);
    let t0 = Instant::now();
    // per_user is untouched by charge_call.
    for _ in 0..2 {
        assert!(limits.charge_call_at("alice", "broadcast__x", t0).is_ok());
    }
    assert!(limits.charge_call_at("alice", "broadcast__x", t0).is_err());
    assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
    // A called name no pattern matches costs nothing.
    for _ in 0..10 {
        assert!(limits.charge_call_at("alice", "a__x", t0).is_ok());
    }
}

#[test]
fn broadcast_accounting() {
    let limits = limiter(Some(rate(60, 3)), &[("broadcast__*", rate(60, 1))]);
    let t0 = Instant::now();
    // One broadcast over four targets: the call once, per_user once per target.
    assert!(limits.charge_call_at("alice", "broadcast__x", t0).is_ok());
    assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
    assert!(limits.charge_target_at("alice", "b__x", t0).is_ok());
    assert!(limits.charge_target_at("alice", "c__x", t0).is_ok());
    assert_eq!(
        refused(limits.charge_target_at("alice", "d__x", t0)),
        SECOND
    );
    // The next broadcast is refused as a whole.
    assert_eq!(
        refused(limits.charge_call_at("alice", "broadcast__x", t0)),
        SECOND
    );
    // Another user's broadcast is unaffected.
    assert!(limits.charge_call_at("bob", "broadcast__x", t0).is_ok());
}

#[test]
fn a_pattern_matching_call_and_targets_is_charged_for_each() {
    // SPEC §13: per_tool is charged once per call for the called name and once per target
    // for patterns matching target names.
    let limits = limiter(None, &[("*__search_logs", rate(60, 3))]);
    let t0 = Instant::now();
    assert!(
        limits
            .charge_call_at("alice", "broadcast__search_logs", t0)
            .is_ok()
    );
    assert!(
        limits
            .charge_target_at("alice", "a__search_logs", t0)
            .is_ok()
    );
    assert!(
        limits
            .charge_target_at("alice", "b__search_logs", t0)
            .is_ok()
    );
    assert!(
        limits
            .charge_target_at("alice", "c__search_logs", t0)
            .is_err()
    );
}

#[test]
fn a_refused_check_spends_nothing() {
    let limits = limiter(Some(rate(60, 2)), &[("a__*", rate(60, 1))]);
    let t0 = Instant::now();
    assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
    // Refused by `a__*`: per_user must keep its second token.
    assert!(limits.charge_target_at("alice", "a__y", t0).is_err());
    assert!(limits.charge_target_at("alice", "b__x", t0).is_ok());
    assert!(limits.charge_target_at("alice", "b__y", t0).is_err());

    // Refused by per_user: the per_tool bucket keeps its token.
    let limits = limiter(Some(rate(60, 1)), &[("b__*", rate(60, 1))]);
    let t0 = Instant::now();
    assert!(limits.charge_target_at("bob", "a__x", t0).is_ok());
    assert!(limits.charge_target_at("bob", "b__x", t0).is_err());
    let refilled = t0 + SECOND;
    assert!(limits.charge_target_at("bob", "b__x", refilled).is_ok());
}

#[test]
fn a_refused_call_spends_no_other_pattern() {
    let limits = limiter(
        None,
        &[("broadcast__*", rate(60, 2)), ("*__x", rate(60, 1))],
    );
    let t0 = Instant::now();
    assert!(limits.charge_call_at("alice", "broadcast__x", t0).is_ok());
    assert!(limits.charge_call_at("alice", "broadcast__x", t0).is_err());
    // `broadcast__*` still holds its second token.
    assert!(limits.charge_call_at("alice", "broadcast__y", t0).is_ok());
    assert!(limits.charge_call_at("alice", "broadcast__y", t0).is_err());
}

#[test]
fn retry_after_is_the_longest_wait_of_the_refusing_buckets() {
    let limits = limiter(Some(rate(60, 1)), &[("a__*", rate(6, 1))]);
    let t0 = Instant::now();
    assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
    assert_eq!(
        refused(limits.charge_target_at("alice", "a__x", t0)),
        Duration::from_secs(10)
    );
    assert_eq!(
        refused(limits.charge_target_at("alice", "b__x", t0)),
        SECOND
    );
    let later = t0 + Duration::from_secs(4);
    assert_eq!(
        refused(limits.charge_target_at("alice", "a__x", later)),
        Duration::from_secs(6)
    );
}

#[test]
fn unlimited_without_limits() {
    let t0 = Instant::now();
    for limits in [
        RateLimiter::new(None),
        RateLimiter::new(Some(&RateLimitsConfig {
            per_user: None,
            per_tool: vec![],
        })),
    ] {
        let limits = match limits {
            Ok(limits) => limits,
            Err(error) => panic!("{error}"),
        };
        assert!(limits.is_unlimited());
        for _ in 0..1_000 {
            assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
            assert!(limits.charge_call_at("alice", "broadcast__x", t0).is_ok());
        }
        assert_eq!(limits.tracked_users(), 0);
    }
    assert!(
        RateLimiter::default()
            .charge_target("alice", "a__x")
            .is_ok()
    );
    assert!(!limiter(Some(rate(1, 1)), &[]).is_unlimited());
}

#[test]
fn charges_that_touch_no_bucket_track_nobody() {
    let limits = limiter(None, &[("broadcast__*", rate(60, 1))]);
    let t0 = Instant::now();
    assert!(limits.charge_target_at("alice", "a__x", t0).is_ok());
    assert_eq!(limits.tracked_users(), 0);
    assert!(limits.charge_call_at("alice", "broadcast__x", t0).is_ok());
    assert_eq!(limits.tracked_users(), 1);
}

#[test]
fn idle_users_are_evicted_and_busy_ones_kept() {
    let limits = limiter(Some(rate(60, 2)), &[]);
    let t0 = Instant::now();
    for user in 0..100 {
        assert!(
            limits
                .charge_target_at(&format!("u{user}"), "a__x", t0)
                .is_ok()
        );
    }
    assert!(limits.charge_target_at("busy", "a__x", t0).is_ok());
    assert!(limits.charge_target_at("busy", "a__x", t0).is_ok());
    assert_eq!(limits.tracked_users(), 101);
    // Not yet full: kept.
    limits.evict_idle_at(t0 + Duration::from_millis(500));
    assert_eq!(limits.tracked_users(), 101);
    // One token used 1 s ago is back: those users are full and forgotten; `busy` is not.
    limits.evict_idle_at(t0 + SECOND);
    assert_eq!(limits.tracked_users(), 1);
    assert!(limits.charge_target_at("busy", "a__x", t0 + SECOND).is_ok());
    assert!(
        limits
            .charge_target_at("busy", "a__x", t0 + SECOND)
            .is_err()
    );
    // A forgotten user starts full, as they would have been.
    assert!(limits.charge_target_at("u7", "a__x", t0 + SECOND).is_ok());
    assert!(limits.charge_target_at("u7", "a__x", t0 + SECOND).is_ok());
    assert!(limits.charge_target_at("u7", "a__x", t0 + SECOND).is_err());
}

#[test]
fn memory_stays_bounded_as_users_come_and_go() {
    let mut limits = limiter(Some(rate(60, 1)), &[("a__*", rate(60, 1))]);
    let min_sweep_len = 4;
    if let Some(inner) = limits.limits.as_mut() {
        inner.min_sweep_len = min_sweep_len;
        for shard in inner.shards.iter() {
            lock(shard).sweep_at = min_sweep_len;
        }
    }
    let t0 = Instant::now();
    // Each user calls once, two seconds after the previous one: at most one is busy.
    for user in 0..2_000u64 {
        let now = t0 + 2 * SECOND * u32::try_from(user).unwrap_or(u32::MAX);
        assert!(
            limits
                .charge_target_at(&format!("user-{user}"), "a__x", now)
                .is_ok()
        );
        assert!(limits.tracked_users() <= SHARDS * min_sweep_len);
    }
}

#[test]
fn instants_before_construction_and_huge_bursts_do_not_panic() {
    let before = Instant::now();
    // per_user: a tolerance past u64 nanoseconds; per_tool: a 14 ns interval.
    let limits = limiter(Some(rate(1, u32::MAX)), &[("*", rate(u32::MAX, 1_000))]);
    for _ in 0..100 {
        assert!(limits.charge_target_at("alice", "a__x", before).is_ok());
        assert!(limits.charge_call_at("alice", "a__x", before).is_ok());
    }
    let far = Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600);
    assert!(limits.charge_target_at("alice", "a__x", far).is_ok());
}

#[test]
fn many_patterns_past_the_inline_bits() {
    let names: Vec<String> = (0..200).map(|i| format!("s{i}__*")).collect();
    let per_tool: Vec<(&str, Rate)> = names.iter().map(|n| (n.as_str(), rate(60, 1))).collect();
    let limits = limiter(None, &per_tool);
    let t0 = Instant::now();
    for server in [0, 127, 128, 199] {
        let name = format!("s{server}__x");
        assert!(
            limits.charge_target_at("alice", &name, t0).is_ok(),
            "{name}"
        );
        assert!(
            limits.charge_target_at("alice", &name, t0).is_err(),
            "{name}"
        );
    }
    assert!(limits.charge_target_at("alice", "s5__x", t0).is_ok());
}

#[test]
fn retry_after_in_whole_seconds() {
    assert_eq!(RetryAfter(Duration::from_millis(1)).whole_seconds(), 1);
    assert_eq!(RetryAfter(Duration::ZERO).whole_seconds(), 1);
    assert_eq!(RetryAfter(SECOND).whole_seconds(), 1);
    assert_eq!(RetryAfter(Duration::from_millis(1_001)).whole_seconds(), 2);
    assert_eq!(RetryAfter(Duration::from_secs(12)).whole_seconds(), 12);
    assert_eq!(
        RetryAfter(Duration::from_millis(2_500)).to_string(),
        "rate limit exceeded, retry after 3 s"
    );
}

#[test]
fn unusable_rates_are_refused() {
    let build = |per_user, per_tool: Vec<(String, Rate)>| {
        RateLimiter::new(Some(&RateLimitsConfig { per_user, per_tool })).err()
    };
    assert_eq!(
        build(Some(rate(0, 1)), vec![]),
        Some(RateLimitConfigError::ZeroRate {
            what: "per_user".into()
        })
    );
    assert_eq!(
        build(None, vec![("a__*".into(), rate(5, 0))]),
        Some(RateLimitConfigError::ZeroRate {
            what: "per_tool.a__*".into()
        })
    );
    assert_eq!(
        build(None, vec![(String::new(), rate(5, 5))]),
        Some(RateLimitConfigError::EmptyPattern)
    );
}

#[test]
fn debug_names_the_limits_not_the_users() {
    let limits = limiter(Some(rate(60, 1)), &[("broadcast__*", rate(30, 5))]);
    assert!(
        limits
            .charge_target_at("alice", "a__x", Instant::now())
            .is_ok()
    );
    let debug = format!("{limits:?}");
    assert!(debug.contains("broadcast__*"), "{debug}");
    assert!(!debug.contains("alice"), "{debug}");
    assert_eq!(
        format!("{:?}", RateLimiter::unlimited()),
        "RateLimiter(unlimited)"
    );
}

#[test]
fn concurrent_charges_never_overspend() {
    let limits = limiter(Some(rate(60, 100)), &[]);
    let t0 = Instant::now();
    let granted: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..100)
                        .filter(|_| limits.charge_target_at("alice", "a__x", t0).is_ok())
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    assert_eq!(granted, 100);
}
