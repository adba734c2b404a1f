//! `llm:`, the Anthropic API proxy (SPEC §14).

use super::super::credentials::CredentialRef;
use super::super::model::{
    AnthropicConfig, GuardAction, GuardConfig, LlmBudget, LlmConfig, default_llm,
};
use super::super::problems::{KeyPath, Problems};
use super::super::raw::{Field, RawAnthropic, RawGuard, RawLlm, RawLlmBudget, RawLlmLimits};
use super::server::checked_url;
use super::{
    one_of, optional, optional_text, positive_seconds, positive_whole, required, text_list,
    unknown_keys,
};

const ACTIONS: &[(&str, GuardAction)] = &[("reject", GuardAction::Reject)];

/// `None` when the section is absent: the gateway proxies no model.
pub(super) fn llm(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<RawLlm>,
) -> Option<LlmConfig> {
    let raw = optional(problems, path, field, "a mapping with `anthropic`")?;
    unknown_keys(problems, path, &raw.unknown);
    let anthropic_path = path.key("anthropic");
    let anthropic = required(
        problems,
        &anthropic_path,
        raw.anthropic,
        "a mapping",
        "is required: the upstream (`base_url`, `api_key_ref`, `models`)",
    )
    .map(|raw| anthropic(problems, &anthropic_path, raw));
    let budget = optional(
        problems,
        &path.key("limits"),
        raw.limits,
        "a mapping with `per_user`",
    )
    .and_then(|raw| limits(problems, &path.key("limits"), raw));
    let guards = guards(problems, &path.key("guards"), raw.guards);
    let log_prompts = optional(
        problems,
        &path.key("log_prompts"),
        raw.log_prompts,
        "true or false",
    )
    .unwrap_or(false);
    Some(LlmConfig {
        anthropic: anthropic?,
        budget,
        guards,
        log_prompts,
    })
}

fn anthropic(problems: &mut Problems, path: &KeyPath, raw: RawAnthropic) -> AnthropicConfig {
    unknown_keys(problems, path, &raw.unknown);
    let base_url_path = path.key("base_url");
    let base_url = optional_text(problems, &base_url_path, raw.base_url)
        .and_then(|text| checked_url(problems, &base_url_path, &text))
        .and_then(|url| upstream_url(problems, &base_url_path, &url))
        .unwrap_or_else(|| default_llm::BASE_URL.to_owned());
    let key_path = path.key("api_key_ref");
    let api_key = optional_text(problems, &key_path, raw.api_key_ref).and_then(|text| {
        CredentialRef::parse(&text)
            .map_err(|why| problems.add(&key_path, why))
            .ok()
    });
    let timeout = positive_seconds(problems, &path.key("timeout"), raw.timeout)
        .unwrap_or(default_llm::TIMEOUT);
    let models_path = path.key("models");
    let models = if raw.models.is_given() {
        let models = text_list(
            problems,
            &models_path,
            raw.models,
            "a list of model patterns",
        );
        if models.is_empty() {
            problems.add(
                &models_path,
                "must name at least one model pattern (\"*\" for every model)",
            );
        }
        models
    } else {
        vec!["*".to_owned()]
    };
    AnthropicConfig {
        base_url,
        api_key,
        timeout,
        models,
    }
}

/// The upstream gets the gateway's key: over `https://`, or plain `http://` to this machine
/// only; and `/v1/messages` is appended, so no query or fragment.
fn upstream_url(problems: &mut Problems, path: &KeyPath, url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let local = parsed
        .host_str()
        .is_some_and(crate::config::is_loopback_host);
    if parsed.scheme() == "http" && !local {
        problems.add(
            path,
            "must be https:// (the gateway's key would travel in clear); http:// only to this machine",
        );
        return None;
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        problems.add(
            path,
            "must have no query or fragment (/v1/messages is appended)",
        );
        return None;
    }
    Some(url.trim_end_matches('/').to_owned())
}

fn limits(problems: &mut Problems, path: &KeyPath, raw: RawLlmLimits) -> Option<LlmBudget> {
    unknown_keys(problems, path, &raw.unknown);
    let per_user_path = path.key("per_user");
    let raw = optional(
        problems,
        &per_user_path,
        raw.per_user,
        "a mapping of budgets",
    )?;
    Some(budget(problems, &per_user_path, raw))
}

fn budget(problems: &mut Problems, path: &KeyPath, raw: RawLlmBudget) -> LlmBudget {
    unknown_keys(problems, path, &raw.unknown);
    LlmBudget {
        requests_per_minute: positive_whole(
            problems,
            &path.key("requests_per_minute"),
            raw.requests_per_minute,
        ),
        tokens_per_minute: positive_whole(
            problems,
            &path.key("tokens_per_minute"),
            raw.tokens_per_minute,
        ),
        tokens_per_day: positive_whole(problems, &path.key("tokens_per_day"), raw.tokens_per_day),
    }
}

fn guards(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<Vec<Field<RawGuard>>>,
) -> Vec<GuardConfig> {
    let items = optional(problems, path, field, "a list of guards").unwrap_or_default();
    let mut guards = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let item_path = path.index(index);
        let raw = match item {
            Field::Present(raw) => raw,
            Field::Absent | Field::Null => {
                problems.add(&item_path, "must be a guard ({pattern, action})");
                continue;
            }
            Field::WrongType(kind) => {
                problems.add(
                    &item_path,
                    format!(
                        "must be a guard ({{pattern, action}}), found {}",
                        kind.described()
                    ),
                );
                continue;
            }
        };
        unknown_keys(problems, &item_path, &raw.unknown);
        let pattern_path = item_path.key("pattern");
        let pattern = required(
            problems,
            &pattern_path,
            raw.pattern,
            "a string",
            "is required: a regular expression",
        )
        .filter(|pattern| match regex::Regex::new(pattern) {
            Ok(_) => true,
            Err(error) => {
                problems.add(
                    &pattern_path,
                    format!("is not a valid regular expression: {error}"),
                );
                false
            }
        });
        let action_path = item_path.key("action");
        let action = optional_text(problems, &action_path, raw.action)
            .map(|text| one_of(problems, &action_path, &text, ACTIONS))
            .unwrap_or(Some(GuardAction::Reject));
        if let (Some(pattern), Some(action)) = (pattern, action) {
            guards.push(GuardConfig { pattern, action });
        }
    }
    guards
}
