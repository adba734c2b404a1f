//! `authorization:` and `rate_limits:`.

use super::*;

// ---- authorization ----

#[test]
fn authorization_rules() {
    let config = ok(
        "authorization:\n  default: allow\n  rules:\n    - roles: [admin]\n      allow: ['*']\n    - roles: [user, 'scope:logs.read']\n      allow: ['*__search_logs']\n      deny: ['*__delete_*']\n",
    );
    let authz = config.authorization.unwrap();
    assert_eq!(authz.default, Effect::Allow);
    assert_eq!(authz.rules.len(), 2);
    assert_eq!(authz.rules[1].roles, ["user", "scope:logs.read"]);
    assert_eq!(authz.rules[1].deny, ["*__delete_*"]);
    assert!(authz.rules[0].deny.is_empty());
}

#[test]
fn authorization_default_is_deny_when_the_section_exists() {
    assert_eq!(
        ok("authorization:\n  rules: []\n")
            .authorization
            .unwrap()
            .default,
        Effect::Deny
    );
    assert_eq!(
        ok("authorization: {}\n").authorization.unwrap().default,
        Effect::Deny
    );
    assert_eq!(
        ok("authorization:\n").authorization.unwrap().default,
        Effect::Deny
    );
    assert_eq!(ok("servers: {}\n").authorization, None);
}

#[test]
fn authorization_problems() {
    assert_problem(
        "authorization:\n  default: maybe\n",
        2,
        None,
        "authorization.default",
        "one of: allow, deny",
    );
    assert_problem(
        "authorization:\n  rules:\n    - allow: ['*']\n",
        3,
        None,
        "authorization.rules[0].roles",
        "is required",
    );
    assert_problem(
        "authorization:\n  rules:\n    - roles: []\n",
        3,
        None,
        "authorization.rules[0].roles",
        "must not be empty",
    );
    assert_problem(
        "authorization:\n  rules:\n    - roles: admin\n",
        3,
        None,
        "authorization.rules[0].roles",
        "a list of role names, found a string",
    );
    assert_problem(
        "authorization:\n  rules:\n    - roles: [admin]\n      allow: '*'\n",
        4,
        None,
        "authorization.rules[0].allow",
        "a list of tool-name patterns",
    );
    assert_problem(
        "authorization:\n  rules:\n    - roles: [admin, '']\n",
        3,
        None,
        "authorization.rules[0].roles[1]",
        "must not be empty",
    );
    assert_problem(
        "authorization:\n  rules:\n    - [admin]\n",
        3,
        None,
        "authorization.rules[0]",
        "found a list",
    );
    assert_problem(
        "authorization:\n  rules: {roles: [a]}\n",
        2,
        None,
        "authorization.rules",
        "a list of rules",
    );
    assert_problem(
        "authorization: [a]\n",
        1,
        None,
        "authorization",
        "found a list",
    );
}

// ---- rate limits ----

#[test]
fn rate_limits_keep_file_order() {
    let config = ok(
        "rate_limits:\n  per_user: {requests_per_minute: 600, burst: 60}\n  per_tool:\n    'broadcast__*': {requests_per_minute: 30, burst: 5}\n    '*__search': {requests_per_minute: 10, burst: 1}\n",
    );
    let limits = config.rate_limits.unwrap();
    assert_eq!(
        limits.per_user,
        Some(Rate {
            requests_per_minute: 600,
            burst: 60
        })
    );
    let patterns: Vec<_> = limits.per_tool.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(patterns, ["broadcast__*", "*__search"]);
}

#[test]
fn rate_limit_problems() {
    assert_problem(
        "rate_limits:\n  per_user: {requests_per_minute: 0, burst: 1}\n",
        2,
        None,
        "rate_limits.per_user.requests_per_minute",
        "positive whole number",
    );
    assert_problem(
        "rate_limits:\n  per_user:\n    requests_per_minute: 5\n",
        2,
        None,
        "rate_limits.per_user.burst",
        "is required",
    );
    assert_problem(
        "rate_limits:\n  per_user:\n    requests_per_minute: 5\n    burst: 5000000000\n",
        4,
        None,
        "rate_limits.per_user.burst",
        "too large",
    );
    assert_problem(
        "rate_limits:\n  per_tool:\n    'x': 5\n",
        3,
        None,
        "rate_limits.per_tool.x",
        "requests_per_minute and burst, found a number",
    );
    assert_problem(
        "rate_limits:\n  per_tool: [a]\n",
        2,
        None,
        "rate_limits.per_tool",
        "found a list",
    );
}
