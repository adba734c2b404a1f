//! Authorization: may this caller call this tool? (SPEC §4 `authorization:`, §8, §12, §13.)
//!
//! A [`Policy`] is compiled once per config load from `authorization:` and asked on every
//! listing and call. Deciding allocates nothing: it walks the rules, checks role and scope
//! membership in the caller's sets and runs precompiled [`ToolPattern`]s.
//!
//! The rules, in the order they are applied:
//! - no `authorization:` section: everyone may call everything;
//! - a rule applies to a caller holding one of its roles, or one of the scopes it names as
//!   `scope:<value>` (a scope counts only there: never as a role, never as `admin`);
//! - a `deny` pattern of any applicable rule matching the tool wins over every `allow`;
//! - else an `allow` pattern of any applicable rule matching the tool allows it;
//! - else `default` (which the config resolved to `deny` when the section omits it).
//!
//! Patterns match the tool's full name (`<server>__<tool>` before any shortening, or a
//! `broadcast__…` name); see [`ToolPattern`] for their syntax.

mod pattern;

pub use pattern::ToolPattern;

use crate::config::{AuthorizationConfig, AuthzRule, Effect};
use crate::principal::Principal;

/// The prefix that makes an entry of a rule's `roles` name an OAuth scope (SPEC §13).
pub const SCOPE_PREFIX: &str = "scope:";

/// The compiled `authorization:` section.
#[derive(Debug, Clone)]
pub struct Policy {
    mode: Mode,
}

#[derive(Debug, Clone)]
enum Mode {
    /// No `authorization:` section.
    AllowAll,
    Rules {
        default: Effect,
        rules: Box<[Rule]>,
    },
}

/// One compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    /// Role names from `roles`, without the `scope:` entries.
    roles: Box<[Box<str>]>,
    /// Scope values of the `scope:<value>` entries of `roles`.
    scopes: Box<[Box<str>]>,
    allow: Box<[ToolPattern]>,
    deny: Box<[ToolPattern]>,
}

/// A rule that cannot mean what its author meant. The config loader rejects these already;
/// the policy refuses them again rather than silently matching nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("authorization.rules[{rule}].roles: a role name must not be empty")]
    EmptyRole { rule: usize },
    #[error("authorization.rules[{rule}].roles: `scope:` must be followed by a scope value")]
    EmptyScope { rule: usize },
    #[error("authorization.rules[{rule}].{list}: a tool-name pattern must not be empty")]
    EmptyPattern { rule: usize, list: &'static str },
}

impl Policy {
    /// `None` = no `authorization:` section: everyone may call everything.
    pub fn new(config: Option<&AuthorizationConfig>) -> Result<Policy, PolicyError> {
        let Some(config) = config else {
            return Ok(Policy::allow_all());
        };
        let rules = config
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| Rule::compile(index, rule))
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            mode: Mode::Rules {
                default: config.default,
                rules,
            },
        })
    }

    /// The policy without an `authorization:` section.
    pub fn allow_all() -> Policy {
        Policy {
            mode: Mode::AllowAll,
        }
    }

    /// Whether there is no `authorization:` section (every caller may call every tool).
    pub fn is_allow_all(&self) -> bool {
        matches!(self.mode, Mode::AllowAll)
    }

    /// May this principal call the tool whose full name (before any shortening:
    /// `<server>__<tool>`, or a `broadcast__…` name) is `full_name`?
    pub fn may_call(&self, principal: &Principal, full_name: &str) -> bool {
        let Mode::Rules { default, rules } = &self.mode else {
            return true;
        };
        let mut allowed = false;
        for rule in rules.iter().filter(|rule| rule.applies_to(principal)) {
            // A deny anywhere wins, so it ends the walk; an allow only remembers.
            if rule.deny.iter().any(|p| p.matches(full_name)) {
                return false;
            }
            allowed = allowed || rule.allow.iter().any(|p| p.matches(full_name));
        }
        allowed || *default == Effect::Allow
    }

    /// Whether this principal may call anything at all: `false` means every [`may_call`]
    /// answers `false` for them, so listings can stop early. `true` promises nothing about a
    /// given tool.
    ///
    /// [`may_call`]: Policy::may_call
    pub fn may_call_anything(&self, principal: &Principal) -> bool {
        let Mode::Rules { default, rules } = &self.mode else {
            return true;
        };
        let mut could_allow = *default == Effect::Allow;
        for rule in rules.iter().filter(|rule| rule.applies_to(principal)) {
            if rule.deny.iter().any(ToolPattern::matches_everything) {
                return false;
            }
            could_allow = could_allow || !rule.allow.is_empty();
        }
        could_allow
    }
}

impl Default for Policy {
    /// No `authorization:` section.
    fn default() -> Self {
        Policy::allow_all()
    }
}

impl Rule {
    fn compile(index: usize, raw: &AuthzRule) -> Result<Rule, PolicyError> {
        let mut roles = Vec::new();
        let mut scopes = Vec::new();
        for entry in &raw.roles {
            if let Some(scope) = entry.strip_prefix(SCOPE_PREFIX) {
                if scope.is_empty() {
                    return Err(PolicyError::EmptyScope { rule: index });
                }
                scopes.push(Box::from(scope));
            } else if entry.is_empty() {
                return Err(PolicyError::EmptyRole { rule: index });
            } else {
                roles.push(Box::from(entry.as_str()));
            }
        }
        Ok(Rule {
            roles: roles.into(),
            scopes: scopes.into(),
            allow: compile_patterns(index, "allow", &raw.allow)?,
            deny: compile_patterns(index, "deny", &raw.deny)?,
        })
    }

    /// Roles are matched against roles only and `scope:` entries against scopes only, so a
    /// client cannot obtain a role by asking for a scope of the same name.
    fn applies_to(&self, principal: &Principal) -> bool {
        self.roles
            .iter()
            .any(|role| principal.roles.contains(&**role))
            || self
                .scopes
                .iter()
                .any(|scope| principal.scopes.contains(&**scope))
    }
}

fn compile_patterns(
    rule: usize,
    list: &'static str,
    sources: &[String],
) -> Result<Box<[ToolPattern]>, PolicyError> {
    sources
        .iter()
        .map(|source| {
            if source.is_empty() {
                Err(PolicyError::EmptyPattern { rule, list })
            } else {
                Ok(ToolPattern::new(source))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[&str], scopes: &[&str]) -> Principal {
        Principal::from(crate::principal::Identity {
            user: "alice".into(),
            subject: "sub-alice".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            credential: crate::principal::Credential::Jwt,
        })
    }

    fn rule(roles: &[&str], allow: &[&str], deny: &[&str]) -> AuthzRule {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        AuthzRule {
            roles: strings(roles),
            allow: strings(allow),
            deny: strings(deny),
        }
    }

    fn compiled(default: Effect, rules: Vec<AuthzRule>) -> Policy {
        match Policy::new(Some(&AuthorizationConfig { default, rules })) {
            Ok(policy) => policy,
            Err(error) => panic!("policy should compile: {error}"),
        }
    }

    /// The example of SPEC §4.
    fn spec_example() -> Policy {
        compiled(
            Effect::Deny,
            vec![
                rule(&["admin"], &["*"], &[]),
                rule(
                    &["user"],
                    &[
                        "*__search_logs",
                        "broadcast__search_logs",
                        "prod-db-*__check_health",
                    ],
                    &["*__delete_*"],
                ),
            ],
        )
    }

    #[test]
    fn spec_example_admin_may_call_everything() {
        let policy = spec_example();
        let admin = principal(&["admin"], &[]);
        for name in [
            "prod-elk-1__search_logs",
            "prod-db-1__delete_rows",
            "broadcast__search_logs",
            "broadcast__by_tag__logging",
            "anything",
        ] {
            assert!(policy.may_call(&admin, name), "{name}");
        }
    }

    #[test]
    fn spec_example_user() {
        let policy = spec_example();
        let user = principal(&["user"], &[]);
        assert!(policy.may_call(&user, "prod-elk-1__search_logs"));
        assert!(policy.may_call(&user, "staging-elk__search_logs"));
        assert!(policy.may_call(&user, "broadcast__search_logs"));
        assert!(policy.may_call(&user, "prod-db-1__check_health"));
        assert!(policy.may_call(&user, "prod-db-eu-west__check_health"));
        assert!(!policy.may_call(&user, "staging-db-1__check_health"));
        assert!(!policy.may_call(&user, "prod-elk-1__get_indices"));
        assert!(!policy.may_call(&user, "broadcast__check_health"));
        assert!(!policy.may_call(&user, "prod-elk-1__search_logs_v2"));
        assert!(!policy.may_call(&user, "prod-db-1__delete_rows"));
    }

    #[test]
    fn spec_example_deny_beats_the_users_own_allow() {
        // `*__search_logs` would allow it; `*__delete_*` denies it.
        let policy = spec_example();
        let user = principal(&["user"], &[]);
        assert!(!policy.may_call(&user, "logs__delete___search_logs"));
    }

    #[test]
    fn spec_example_without_a_matching_role_uses_the_default() {
        let policy = spec_example();
        assert!(!policy.may_call(&principal(&["viewer"], &[]), "prod-elk-1__search_logs"));
        assert!(!policy.may_call(&principal(&[], &[]), "prod-elk-1__search_logs"));
    }

    #[test]
    fn deny_in_one_rule_wins_over_allow_in_another() {
        let policy = spec_example();
        // admin allows `*`; user denies deletes; holding both, the deny wins.
        let both = principal(&["admin", "user"], &[]);
        assert!(!policy.may_call(&both, "prod-db-1__delete_rows"));
        assert!(policy.may_call(&both, "prod-db-1__get_rows"));

        // Order of the rules does not matter.
        let reversed = compiled(
            Effect::Allow,
            vec![
                rule(&["ops"], &[], &["db__drop"]),
                rule(&["dba"], &["db__*"], &[]),
            ],
        );
        let dba_ops = principal(&["dba", "ops"], &[]);
        assert!(!reversed.may_call(&dba_ops, "db__drop"));
        assert!(reversed.may_call(&dba_ops, "db__select"));
    }

    #[test]
    fn deny_of_a_rule_that_does_not_apply_is_ignored() {
        let policy = compiled(
            Effect::Deny,
            vec![rule(&["admin"], &["*"], &[]), rule(&["user"], &[], &["*"])],
        );
        assert!(policy.may_call(&principal(&["admin"], &[]), "a__b"));
        assert!(!policy.may_call(&principal(&["user"], &[]), "a__b"));
        assert!(!policy.may_call(&principal(&["admin", "user"], &[]), "a__b"));
    }

    #[test]
    fn several_roles_combine_their_allows() {
        let policy = compiled(
            Effect::Deny,
            vec![
                rule(&["logs"], &["*__search_logs"], &[]),
                rule(&["metrics"], &["*__query_metrics"], &[]),
                rule(&["db", "dba"], &["db-*"], &[]),
            ],
        );
        let both = principal(&["logs", "metrics"], &[]);
        assert!(policy.may_call(&both, "elk__search_logs"));
        assert!(policy.may_call(&both, "prom__query_metrics"));
        assert!(!policy.may_call(&both, "db-1__select"));
        let logs = principal(&["logs"], &[]);
        assert!(!policy.may_call(&logs, "prom__query_metrics"));
        // Any one of a rule's roles is enough.
        assert!(policy.may_call(&principal(&["dba"], &[]), "db-1__select"));
        assert!(policy.may_call(&principal(&["db"], &[]), "db-1__select"));
    }

    #[test]
    fn question_mark_and_literal_brackets_in_rules() {
        let policy = compiled(
            Effect::Deny,
            vec![rule(&["user"], &["node?__status", "[ab]__x"], &[])],
        );
        let user = principal(&["user"], &[]);
        assert!(policy.may_call(&user, "node1__status"));
        assert!(!policy.may_call(&user, "node12__status"));
        assert!(!policy.may_call(&user, "node__status"));
        assert!(!policy.may_call(&user, "a__x"));
        assert!(!policy.may_call(&user, "b__x"));
        assert!(policy.may_call(&user, "[ab]__x"));
    }

    #[test]
    fn scope_rules_apply_to_callers_with_the_scope() {
        let policy = compiled(
            Effect::Deny,
            vec![
                rule(&["scope:logs.read"], &["*__search_logs"], &[]),
                rule(&["ops", "scope:db.admin"], &["db__*"], &[]),
            ],
        );
        let reader = principal(&[], &["logs.read"]);
        assert!(policy.may_call(&reader, "elk__search_logs"));
        assert!(!policy.may_call(&reader, "db__select"));
        let db = principal(&[], &["db.admin", "openid"]);
        assert!(policy.may_call(&db, "db__select"));
        assert!(policy.may_call(&principal(&["ops"], &[]), "db__select"));
    }

    #[test]
    fn scopes_never_act_as_roles_nor_roles_as_scopes() {
        let policy = compiled(
            Effect::Deny,
            vec![
                rule(&["admin"], &["*"], &[]),
                rule(&["scope:logs.read"], &["*__search_logs"], &[]),
            ],
        );
        // A scope named like a role grants nothing.
        assert!(!policy.may_call(&principal(&[], &["admin"]), "a__b"));
        assert!(!policy.may_call(&principal(&["user"], &["admin"]), "elk__search_logs"));
        // A role named like a scope is still a role: it does not satisfy `scope:` entries,
        // and the bare scope value held as a role does not either.
        assert!(!policy.may_call(&principal(&["scope:logs.read"], &[]), "elk__search_logs"));
        assert!(!policy.may_call(&principal(&["logs.read"], &[]), "elk__search_logs"));
    }

    #[test]
    fn a_scope_deny_also_wins() {
        let policy = compiled(
            Effect::Allow,
            vec![
                rule(&["admin"], &["*"], &[]),
                rule(&["scope:restricted"], &[], &["*__delete_*"]),
            ],
        );
        let restricted_admin = principal(&["admin"], &["restricted"]);
        assert!(!policy.may_call(&restricted_admin, "db__delete_rows"));
        assert!(policy.may_call(&restricted_admin, "db__select"));
    }

    #[test]
    fn no_section_allows_everything() {
        let policy = match Policy::new(None) {
            Ok(policy) => policy,
            Err(error) => panic!("{error}"),
        };
        assert!(policy.is_allow_all());
        let nobody = principal(&[], &[]);
        assert!(policy.may_call(&nobody, "a__delete_everything"));
        assert!(policy.may_call(&nobody, "broadcast__x"));
        assert!(policy.may_call_anything(&nobody));
        assert!(Policy::default().may_call(&nobody, "x"));
    }

    #[test]
    fn empty_rules_use_the_default() {
        let anyone = principal(&["admin"], &["openid"]);
        let allow = compiled(Effect::Allow, vec![]);
        assert!(!allow.is_allow_all());
        assert!(allow.may_call(&anyone, "a__b"));
        assert!(allow.may_call_anything(&anyone));
        let deny = compiled(Effect::Deny, vec![]);
        assert!(!deny.may_call(&anyone, "a__b"));
        assert!(!deny.may_call_anything(&anyone));
    }

    #[test]
    fn default_allow_with_denies() {
        let policy = compiled(Effect::Allow, vec![rule(&["user"], &[], &["*__delete_*"])]);
        let user = principal(&["user"], &[]);
        assert!(policy.may_call(&user, "db__select"));
        assert!(!policy.may_call(&user, "db__delete_rows"));
        // The deny applies only to `user`.
        assert!(policy.may_call(&principal(&["other"], &[]), "db__delete_rows"));
    }

    #[test]
    fn may_call_anything() {
        let policy = compiled(
            Effect::Deny,
            vec![
                rule(&["admin"], &["*"], &[]),
                rule(&["user"], &["*__search_logs"], &[]),
                rule(&["banned"], &[], &["**"]),
                rule(&["denier"], &[], &["a__*"]),
            ],
        );
        assert!(policy.may_call_anything(&principal(&["admin"], &[])));
        assert!(policy.may_call_anything(&principal(&["user"], &[])));
        assert!(!policy.may_call_anything(&principal(&["viewer"], &[])));
        assert!(!policy.may_call_anything(&principal(&[], &["admin"])));
        assert!(!policy.may_call_anything(&principal(&["admin", "banned"], &[])));
        assert!(!policy.may_call_anything(&principal(&["denier"], &[])));

        let open = policy_with_default_allow_and_ban();
        assert!(open.may_call_anything(&principal(&["anyone"], &[])));
        assert!(!open.may_call_anything(&principal(&["banned"], &[])));
    }

    fn policy_with_default_allow_and_ban() -> Policy {
        compiled(Effect::Allow, vec![rule(&["banned"], &[], &["*"])])
    }

    #[test]
    fn may_call_anything_is_consistent_with_may_call() {
        let policy = spec_example();
        for roles in [&[][..], &["user"], &["admin"], &["admin", "user"], &["x"]] {
            let caller = principal(roles, &[]);
            let any_allowed = [
                "a__search_logs",
                "a__b",
                "prod-db-1__check_health",
                "broadcast__search_logs",
            ]
            .iter()
            .any(|name| policy.may_call(&caller, name));
            if any_allowed {
                assert!(policy.may_call_anything(&caller), "{roles:?}");
            }
        }
    }

    #[test]
    fn broken_rules_are_refused() {
        let new = |rules| {
            Policy::new(Some(&AuthorizationConfig {
                default: Effect::Deny,
                rules,
            }))
            .err()
        };
        assert_eq!(
            new(vec![rule(&["a"], &["x"], &[]), rule(&["b"], &[""], &[])]),
            Some(PolicyError::EmptyPattern {
                rule: 1,
                list: "allow"
            })
        );
        assert_eq!(
            new(vec![rule(&["a"], &[], &["ok", ""])]),
            Some(PolicyError::EmptyPattern {
                rule: 0,
                list: "deny"
            })
        );
        assert_eq!(
            new(vec![rule(&["a", "scope:"], &["*"], &[])]),
            Some(PolicyError::EmptyScope { rule: 0 })
        );
        assert_eq!(
            new(vec![rule(&[""], &["*"], &[])]),
            Some(PolicyError::EmptyRole { rule: 0 })
        );
        assert_eq!(
            PolicyError::EmptyPattern {
                rule: 2,
                list: "deny"
            }
            .to_string(),
            "authorization.rules[2].deny: a tool-name pattern must not be empty"
        );
    }
}
