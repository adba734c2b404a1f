//! `authorization:` and `rate_limits:`.

use serde_yaml::Number;

use super::super::model::{AuthorizationConfig, AuthzRule, Effect, Rate, RateLimitsConfig};
use super::super::problems::{KeyPath, Problems};
use super::super::raw::{Field, RawAuthorization, RawAuthzRule, RawRate, RawRateLimits};
use super::{one_of, optional, optional_text, positive_whole, text_list, unknown_keys};

const EFFECTS: &[(&str, Effect)] = &[("allow", Effect::Allow), ("deny", Effect::Deny)];

/// `None` when the section is absent: every authenticated caller may call every tool.
/// A section that is present (even empty) without `default` denies what no rule allows
/// (SPEC §12).
pub(super) fn authorization(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<RawAuthorization>,
) -> Option<AuthorizationConfig> {
    let raw = match field {
        Field::Absent => return None,
        Field::Null => RawAuthorization::default(),
        Field::Present(raw) => raw,
        Field::WrongType(kind) => {
            problems.add(
                path,
                format!(
                    "must be a mapping with `default` and `rules`, found {}",
                    kind.described()
                ),
            );
            return None;
        }
    };
    unknown_keys(problems, path, &raw.unknown);
    let default_path = path.key("default");
    let default = optional_text(problems, &default_path, raw.default)
        .and_then(|text| one_of(problems, &default_path, &text, EFFECTS))
        .unwrap_or(Effect::Deny);

    let rules_path = path.key("rules");
    let mut rules = Vec::new();
    let items = optional(problems, &rules_path, raw.rules, "a list of rules").unwrap_or_default();
    for (index, item) in items.into_iter().enumerate() {
        let rule_path = rules_path.index(index);
        match item {
            Field::Present(raw_rule) => rules.push(rule(problems, &rule_path, raw_rule)),
            Field::Absent | Field::Null => {
                problems.add(&rule_path, "must be a rule (a mapping with `roles`)")
            }
            Field::WrongType(kind) => problems.add(
                &rule_path,
                format!(
                    "must be a rule (a mapping with `roles`), found {}",
                    kind.described()
                ),
            ),
        }
    }
    Some(AuthorizationConfig { default, rules })
}

fn rule(problems: &mut Problems, path: &KeyPath, raw: RawAuthzRule) -> AuthzRule {
    unknown_keys(problems, path, &raw.unknown);
    let roles_path = path.key("roles");
    let roles_given = raw.roles.is_given();
    let roles_were_empty = matches!(&raw.roles, Field::Present(items) if items.is_empty());
    let roles = text_list(problems, &roles_path, raw.roles, "a list of role names");
    if !roles_given {
        problems.add(&roles_path, "is required: a list of role names");
    } else if roles_were_empty {
        problems.add(&roles_path, "must not be empty");
    }
    AuthzRule {
        roles,
        allow: text_list(
            problems,
            &path.key("allow"),
            raw.allow,
            "a list of tool-name patterns",
        ),
        deny: text_list(
            problems,
            &path.key("deny"),
            raw.deny,
            "a list of tool-name patterns",
        ),
    }
}

pub(super) fn rate_limits(
    problems: &mut Problems,
    path: &KeyPath,
    raw: RawRateLimits,
) -> RateLimitsConfig {
    unknown_keys(problems, path, &raw.unknown);
    let per_user_path = path.key("per_user");
    let per_user = optional(problems, &per_user_path, raw.per_user, RATE_EXPECTED)
        .and_then(|raw| rate(problems, &per_user_path, raw));

    let per_tool_path = path.key("per_tool");
    let mut per_tool = Vec::new();
    let entries = optional(
        problems,
        &per_tool_path,
        raw.per_tool,
        "a mapping of tool-name patterns to rates",
    );
    for (pattern, entry) in entries.map(|map| map.0).unwrap_or_default() {
        let entry_path = per_tool_path.key(&pattern);
        if pattern.trim().is_empty() {
            problems.add(&entry_path, "a tool-name pattern must not be empty");
        }
        match entry {
            Field::Present(raw) => {
                if let Some(rate) = rate(problems, &entry_path, raw) {
                    per_tool.push((pattern, rate));
                }
            }
            Field::Absent | Field::Null => {
                problems.add(&entry_path, format!("must be {RATE_EXPECTED}"))
            }
            Field::WrongType(kind) => problems.add(
                &entry_path,
                format!("must be {RATE_EXPECTED}, found {}", kind.described()),
            ),
        }
    }
    RateLimitsConfig { per_user, per_tool }
}

const RATE_EXPECTED: &str = "a mapping with requests_per_minute and burst";

fn rate(problems: &mut Problems, path: &KeyPath, raw: RawRate) -> Option<Rate> {
    unknown_keys(problems, path, &raw.unknown);
    let requests_per_minute = required_count(
        problems,
        &path.key("requests_per_minute"),
        raw.requests_per_minute,
    );
    let burst = required_count(problems, &path.key("burst"), raw.burst);
    Some(Rate {
        requests_per_minute: requests_per_minute?,
        burst: burst?,
    })
}

fn required_count(problems: &mut Problems, path: &KeyPath, field: Field<Number>) -> Option<u32> {
    if matches!(field, Field::Absent | Field::Null) {
        problems.add(path, "is required: a positive whole number");
        return None;
    }
    positive_whole(problems, path, field)
}
