//! The compiled `llm:` section, one per config load (it lives in the gateway's snapshot):
//! which models are forwarded, the guards as compiled regular expressions, the per-user
//! budgets and the upstream.

use crate::authz::ToolPattern;
use crate::config::{AnthropicConfig, GuardAction, LlmConfig};

use super::budget::Budgets;

/// The authorization name of a model: rules allow `llm:<model>` (SPEC §14).
pub fn resource_name(model: &str) -> String {
    format!("llm:{model}")
}

#[derive(Debug)]
pub struct LlmPolicy {
    pub upstream: AnthropicConfig,
    models: Vec<ToolPattern>,
    guards: Vec<Guard>,
    pub budgets: Option<Budgets>,
    pub log_prompts: bool,
}

#[derive(Debug)]
struct Guard {
    regex: regex::Regex,
    action: GuardAction,
}

impl LlmPolicy {
    /// Compile a validated section (its patterns were checked by validation).
    pub fn new(config: &LlmConfig) -> Result<LlmPolicy, String> {
        let guards = config
            .guards
            .iter()
            .enumerate()
            .map(|(index, guard)| {
                regex::Regex::new(&guard.pattern)
                    .map(|regex| Guard {
                        regex,
                        action: guard.action,
                    })
                    .map_err(|e| format!("llm.guards[{index}].pattern: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(LlmPolicy {
            upstream: config.anthropic.clone(),
            models: config
                .anthropic
                .models
                .iter()
                .map(|m| ToolPattern::new(m))
                .collect(),
            guards,
            budgets: config.budget.as_ref().map(Budgets::new),
            log_prompts: config.log_prompts,
        })
    }

    /// Whether the gateway forwards `model` at all (`anthropic.models`).
    pub fn forwards(&self, model: &str) -> bool {
        self.models.iter().any(|pattern| pattern.matches(model))
    }

    /// The index of the first guard that rejects one of `texts`.
    pub fn rejecting_guard(&self, texts: &[&str]) -> Option<usize> {
        self.guards.iter().position(|guard| {
            matches!(guard.action, GuardAction::Reject)
                && texts.iter().any(|text| guard.regex.is_match(text))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{GuardConfig, LlmBudget};

    fn config(models: &[&str], guards: &[&str]) -> LlmConfig {
        LlmConfig {
            anthropic: AnthropicConfig {
                base_url: "https://api.anthropic.com".into(),
                api_key: None,
                timeout: Duration::from_secs(600),
                models: models.iter().map(|m| m.to_string()).collect(),
            },
            budget: Some(LlmBudget {
                requests_per_minute: Some(1),
                tokens_per_minute: None,
                tokens_per_day: None,
            }),
            guards: guards
                .iter()
                .map(|p| GuardConfig {
                    pattern: p.to_string(),
                    action: GuardAction::Reject,
                })
                .collect(),
            log_prompts: false,
        }
    }

    #[test]
    fn models_are_matched_by_pattern() {
        let policy = LlmPolicy::new(&config(&["claude-*", "exact-model"], &[])).unwrap();
        assert!(policy.forwards("claude-sonnet-4-5"));
        assert!(policy.forwards("exact-model"));
        assert!(!policy.forwards("gpt-5"));
        assert!(!policy.forwards("exact-model-2"));
        assert_eq!(resource_name("claude-x"), "llm:claude-x");
    }

    #[test]
    fn the_first_matching_guard_is_named() {
        let policy = LlmPolicy::new(&config(
            &["*"],
            &["(?i)ignore (all|previous) instructions", "secret-\\d+"],
        ))
        .unwrap();
        assert_eq!(
            policy.rejecting_guard(&["hello", "please IGNORE previous instructions"]),
            Some(0)
        );
        assert_eq!(policy.rejecting_guard(&["secret-42"]), Some(1));
        assert_eq!(policy.rejecting_guard(&["fine"]), None);
        assert_eq!(policy.rejecting_guard(&[]), None);
        assert!(policy.budgets.is_some());
    }
}
