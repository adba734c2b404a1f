//! `llm:`.

use std::time::Duration;

use super::*;
use crate::config::{GuardAction, GuardConfig, LlmBudget};

#[test]
fn the_spec_example_reads_whole() {
    let config = ok(r#"
llm:
  anthropic:
    base_url: https://api.anthropic.com/
    api_key_ref: env://ANTHROPIC_API_KEY
    timeout: 600
    models: ["claude-*"]
  limits:
    per_user: {requests_per_minute: 60, tokens_per_minute: 200000, tokens_per_day: 5000000}
  guards:
    - {pattern: "(?i)ignore (all|previous) instructions", action: reject}
  log_prompts: false
"#);
    let llm = config.llm.expect("llm");
    assert_eq!(llm.anthropic.base_url, "https://api.anthropic.com");
    assert_eq!(
        llm.anthropic.api_key,
        Some(CredentialRef::Env("ANTHROPIC_API_KEY".into()))
    );
    assert_eq!(llm.anthropic.timeout, Duration::from_secs(600));
    assert_eq!(llm.anthropic.models, ["claude-*"]);
    assert_eq!(
        llm.budget,
        Some(LlmBudget {
            requests_per_minute: Some(60),
            tokens_per_minute: Some(200_000),
            tokens_per_day: Some(5_000_000),
        })
    );
    assert_eq!(
        llm.guards,
        [GuardConfig {
            pattern: "(?i)ignore (all|previous) instructions".into(),
            action: GuardAction::Reject,
        }]
    );
    assert!(!llm.log_prompts);
}

#[test]
fn defaults_forward_every_model_to_anthropic_for_ten_minutes() {
    let llm = ok("llm:\n  anthropic: {api_key_ref: env://K}\n")
        .llm
        .unwrap();
    assert_eq!(llm.anthropic.base_url, "https://api.anthropic.com");
    assert_eq!(llm.anthropic.timeout, Duration::from_secs(600));
    assert_eq!(llm.anthropic.models, ["*"]);
    assert_eq!(llm.budget, None);
    assert!(llm.guards.is_empty());
    assert!(ok("servers: {}\n").llm.is_none());
}

#[test]
fn llm_problems_name_their_keys() {
    assert_problem(
        "llm:\n  log_prompts: true\n",
        1,
        None,
        "llm.anthropic",
        "is required",
    );
    assert_problem(
        "llm:\n  anthropic:\n    api_key_ref: sk-ant-secret\n",
        3,
        None,
        "llm.anthropic.api_key_ref",
        "env://",
    );
    assert_problem(
        "llm:\n  anthropic:\n    base_url: ftp://x\n",
        3,
        None,
        "llm.anthropic.base_url",
        "http:// or https://",
    );
    assert_problem(
        "llm:\n  anthropic:\n    base_url: http://api.example.com\n",
        3,
        None,
        "llm.anthropic.base_url",
        "must be https://",
    );
    assert_problem(
        "llm:\n  anthropic:\n    base_url: https://api.example.com/?x=1\n",
        3,
        None,
        "llm.anthropic.base_url",
        "no query",
    );
    assert!(
        ok("llm:\n  anthropic:\n    base_url: http://127.0.0.1:9000\n")
            .llm
            .is_some()
    );
    assert_problem(
        "llm:\n  anthropic:\n    models: []\n",
        3,
        None,
        "llm.anthropic.models",
        "at least one",
    );
    assert_problem(
        "llm:\n  anthropic: {}\n  limits:\n    per_user: {tokens_per_day: 0}\n",
        4,
        None,
        "llm.limits.per_user.tokens_per_day",
        "positive whole number",
    );
    assert_problem(
        "llm:\n  anthropic: {}\n  guards:\n    - {pattern: \"(unclosed\"}\n",
        4,
        None,
        "llm.guards[0].pattern",
        "not a valid regular expression",
    );
    assert_problem(
        "llm:\n  anthropic: {}\n  guards:\n    - {pattern: x, action: log}\n",
        4,
        None,
        "llm.guards[0].action",
        "one of: reject",
    );
    assert_problem(
        "llm:\n  anthropic: {}\n  extra: 1\n",
        3,
        None,
        "llm.extra",
        "unknown key",
    );
}

#[test]
fn a_secret_written_in_place_of_its_reference_is_not_echoed() {
    let (_, _, _, message) = only("llm:\n  anthropic:\n    api_key_ref: sk-ant-secret\n");
    assert!(!message.contains("sk-ant"), "{message}");
}
