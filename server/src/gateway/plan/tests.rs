//! The plan's steps and their order, on a catalog of three servers:
//! `a` (tags prod, elk) and `c` (tags staging, elk) offer `search` and `sleep`; `b` (tag prod)
//! offers `search` only.

use std::collections::BTreeSet;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};

use super::*;
use crate::catalog::{self, ServerView};
use crate::config;
use crate::principal::Identity;

fn servers_yaml() -> &'static str {
    "servers:\n\
     \x20 a: {type: stdio, command: a, tags: [prod, elk]}\n\
     \x20 b: {type: stdio, command: b, tags: [prod]}\n\
     \x20 c: {type: stdio, command: c, tags: [staging, elk]}\n"
}

/// A snapshot of the three servers and `extra` YAML (authorization, rate limits).
fn snapshot(extra: &str) -> Snapshot {
    let config = config::parse_str(&format!("{}{extra}", servers_yaml()), "test.yaml")
        .unwrap_or_else(|problems| panic!("{problems}"));
    Snapshot::build(config).expect("snapshot")
}

fn tools(names: &[&str]) -> Vec<Tool> {
    names
        .iter()
        .map(|name| Tool::new(name.to_string(), "a tool", Arc::new(JsonObject::new())))
        .collect()
}

fn catalog() -> Catalog {
    let both = tools(&["search", "sleep"]);
    let search = tools(&["search"]);
    let prod_elk = ["prod".to_owned(), "elk".to_owned()];
    let prod = ["prod".to_owned()];
    let staging_elk = ["staging".to_owned(), "elk".to_owned()];
    let views = [
        ServerView {
            name: "a",
            tags: &prod_elk,
            healthy: true,
            tools: Some(&both),
        },
        ServerView {
            name: "b",
            tags: &prod,
            healthy: true,
            tools: Some(&search),
        },
        ServerView {
            name: "c",
            tags: &staging_elk,
            healthy: true,
            tools: Some(&both),
        },
    ];
    catalog::build(&views, 64)
}

fn caller(user: &str, roles: &[&str]) -> Principal {
    Principal::from(Identity {
        user: user.to_owned(),
        subject: user.to_owned(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        scopes: BTreeSet::new(),
        credential: crate::principal::Credential::Jwt,
    })
}

fn args(value: Value) -> Option<JsonObject> {
    value.as_object().cloned()
}

fn plan(
    snapshot: &Snapshot,
    who: &Principal,
    name: &str,
    arguments: Value,
) -> Result<Plan, Refusal> {
    call(snapshot, &catalog(), who, name, args(arguments))
}

fn fanout_of(planned: Result<Plan, Refusal>) -> Fanout {
    match planned {
        Ok(Plan::Fanout(fanout)) => fanout,
        other => panic!("not a fan-out: {other:?}"),
    }
}

fn rest(tool: &str, tags: Option<&[&str]>, servers: Option<&[&str]>) -> BroadcastRequest {
    let owned = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    BroadcastRequest {
        tool: tool.to_owned(),
        arguments: args(json!({"q": 1})),
        tags: tags.map(owned),
        servers: servers.map(owned),
    }
}

/// Users may call `search` only; `c__search` is denied outright.
const SEARCH_ONLY: &str = "authorization:\n  rules:\n    - roles: [user]\n      allow: ['*__search', 'broadcast__search', 'broadcast__by_tag__*']\n      deny: ['c__search']\n";

fn denied(called: &str) -> Result<Plan, Refusal> {
    Err(Refusal::Denied {
        called: called.to_owned(),
    })
}

#[test]
fn a_direct_call_reaches_its_server_and_tool_with_the_arguments() {
    let open = snapshot("");
    let who = caller("ann", &[]);
    assert_eq!(
        plan(&open, &who, "a__sleep", json!({"seconds": 1})),
        Ok(Plan::Direct(DirectCall {
            server: "a".into(),
            tool: "sleep".into(),
            arguments: args(json!({"seconds": 1})),
        }))
    );
}

#[test]
fn an_unknown_name_is_refused_before_anything_else() {
    // Even for a caller every rule denies: an unknown name says nothing about the caller.
    let locked = snapshot("authorization:\n  default: deny\n");
    let who = caller("ann", &[]);
    assert_eq!(
        plan(&locked, &who, "z__nope", json!({})),
        Err(Refusal::UnknownTool("z__nope".into()))
    );
}

#[test]
fn a_denied_name_is_refused_as_called() {
    let policy = snapshot(SEARCH_ONLY);
    let user = caller("ann", &["user"]);
    assert_eq!(
        plan(&policy, &user, "a__sleep", json!({})),
        denied("a__sleep")
    );
    assert_eq!(
        plan(&policy, &user, "c__search", json!({})),
        denied("c__search")
    );
    assert_eq!(
        plan(&policy, &user, "broadcast__sleep", json!({})),
        denied("broadcast__sleep")
    );
    assert!(matches!(
        plan(&policy, &user, "a__search", json!({})),
        Ok(Plan::Direct(_))
    ));
}

#[test]
fn a_denial_charges_no_rate_limit() {
    let limited = snapshot(&format!(
        "{SEARCH_ONLY}rate_limits:\n  per_user: {{requests_per_minute: 1, burst: 1}}\n"
    ));
    let user = caller("ann", &["user"]);
    for _ in 0..3 {
        assert_eq!(
            plan(&limited, &user, "a__sleep", json!({})),
            denied("a__sleep")
        );
    }
    // The bucket is still full.
    assert!(matches!(
        plan(&limited, &user, "a__search", json!({})),
        Ok(Plan::Direct(_))
    ));
    assert!(matches!(
        plan(&limited, &user, "a__search", json!({})),
        Err(Refusal::RateLimited { called, .. }) if called == "a__search"
    ));
}

#[test]
fn rate_limits_are_per_user() {
    let limited = snapshot("rate_limits:\n  per_user: {requests_per_minute: 1, burst: 1}\n");
    let (ann, bob) = (caller("ann", &[]), caller("bob", &[]));
    assert!(plan(&limited, &ann, "a__search", json!({})).is_ok());
    assert!(plan(&limited, &ann, "b__search", json!({})).is_err());
    assert!(plan(&limited, &bob, "a__search", json!({})).is_ok());
}

#[test]
fn a_broadcast_reaches_only_the_targets_the_caller_may_call_and_hides_the_rest() {
    let policy = snapshot(SEARCH_ONLY);
    let user = caller("ann", &["user"]);
    let fanout = fanout_of(plan(&policy, &user, "broadcast__search", json!({"q": 1})));
    assert_eq!(fanout.called, "broadcast__search");
    assert_eq!(fanout.plan.tool_name, "search");
    assert_eq!(fanout.plan.targets, ["a", "b"]);
    // `c` is invisible: not called, not reported.
    assert!(fanout.plan.left_out.is_empty());
    assert_eq!(fanout.plan.arguments, args(json!({"q": 1})));
}

#[test]
fn a_broadcast_with_no_permitted_target_is_a_denial_of_the_called_name() {
    let policy =
        snapshot("authorization:\n  rules:\n    - roles: [user]\n      allow: ['broadcast__*']\n");
    let user = caller("ann", &["user"]);
    assert_eq!(
        plan(&policy, &user, "broadcast__search", json!({})),
        denied("broadcast__search")
    );
    assert_eq!(
        broadcast(&policy, &catalog(), &user, rest("search", None, None)),
        Err(Refusal::Denied {
            called: "broadcast__search".into()
        })
    );
}

#[test]
fn a_broadcast_charges_its_called_name_once_and_each_target_once() {
    let limited = snapshot(
        "rate_limits:\n  per_user: {requests_per_minute: 1, burst: 2}\n  per_tool:\n    'broadcast__*': {requests_per_minute: 1, burst: 1}\n",
    );
    let ann = caller("ann", &[]);
    // Three targets, two per-user tokens: the third target is left out, not the call.
    let fanout = fanout_of(plan(&limited, &ann, "broadcast__search", json!({})));
    assert_eq!(fanout.plan.targets, ["a", "b"]);
    assert_eq!(
        fanout.plan.left_out,
        BTreeMap::from([("c".to_owned(), TargetFailure::RateLimited)])
    );
    // The called name's bucket held one broadcast: the next one is refused whole.
    assert!(matches!(
        plan(&limited, &ann, "broadcast__search", json!({})),
        Err(Refusal::RateLimited { called, .. }) if called == "broadcast__search"
    ));
}

#[test]
fn a_target_pattern_limits_each_target_on_its_own() {
    let limited =
        snapshot("rate_limits:\n  per_tool:\n    'b__*': {requests_per_minute: 1, burst: 1}\n");
    let ann = caller("ann", &[]);
    let first = fanout_of(plan(&limited, &ann, "broadcast__search", json!({})));
    assert_eq!(first.plan.targets, ["a", "b", "c"]);
    let second = fanout_of(plan(&limited, &ann, "broadcast__search", json!({})));
    assert_eq!(second.plan.targets, ["a", "c"]);
    assert_eq!(
        second.plan.left_out.get("b"),
        Some(&TargetFailure::RateLimited)
    );
}

#[test]
fn a_tag_broadcast_calls_the_chosen_tool_on_the_tagged_servers_offering_it() {
    let open = snapshot("");
    let ann = caller("ann", &[]);
    let fanout = fanout_of(plan(
        &open,
        &ann,
        "broadcast__by_tag__prod",
        json!({"tool_name": "sleep", "arguments": {"seconds": 1}}),
    ));
    assert_eq!(fanout.called, "broadcast__by_tag__prod");
    assert_eq!(fanout.plan.tool_name, "sleep");
    // `b` is tagged prod but has no `sleep`.
    assert_eq!(fanout.plan.targets, ["a"]);
    assert_eq!(fanout.plan.arguments, args(json!({"seconds": 1})));
}

#[test]
fn a_tag_broadcast_is_authorized_before_its_arguments_are_read() {
    let locked = snapshot("authorization:\n  default: deny\n");
    let ann = caller("ann", &[]);
    assert_eq!(
        plan(&locked, &ann, "broadcast__by_tag__prod", json!({})),
        denied("broadcast__by_tag__prod")
    );
}

#[test]
fn a_tag_broadcast_needs_a_tool_name_its_servers_offer_and_object_arguments() {
    let open = snapshot("");
    let ann = caller("ann", &[]);
    for (arguments, message) in [
        (json!({}), "tool_name (string) is required"),
        (json!({"tool_name": 3}), "tool_name (string) is required"),
        (
            json!({"tool_name": "nope"}),
            "tool_name \"nope\" is not offered by servers tagged prod",
        ),
        (
            json!({"tool_name": "search", "arguments": [1]}),
            "arguments must be an object",
        ),
    ] {
        assert_eq!(
            plan(&open, &ann, "broadcast__by_tag__prod", arguments),
            Err(Refusal::InvalidParams {
                called: "broadcast__by_tag__prod".into(),
                message: message.into()
            })
        );
    }
}

#[test]
fn a_rest_broadcast_narrows_by_tags_and_servers_together() {
    let open = snapshot("");
    let ann = caller("ann", &[]);
    let targets = |request| {
        broadcast(&open, &catalog(), &ann, request)
            .map(|fanout| fanout.plan.targets)
            .map_err(|refusal| format!("{refusal:?}"))
    };
    assert_eq!(
        targets(rest("search", None, None)),
        Ok(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(
        targets(rest("search", Some(&["elk"]), None)),
        Ok(vec!["a".into(), "c".into()])
    );
    assert_eq!(
        targets(rest("search", Some(&["elk"]), Some(&["a", "b"]))),
        Ok(vec!["a".into()])
    );
    assert_eq!(
        broadcast(&open, &catalog(), &ann, rest("search", None, Some(&["z"]))),
        Err(Refusal::NotFound("unknown server: z".into()))
    );
    assert_eq!(
        broadcast(&open, &catalog(), &ann, rest("sleep", None, Some(&["b"]))),
        Err(Refusal::NotFound(
            "no server in scope offers tool sleep".into()
        ))
    );
}

#[test]
fn a_rest_broadcast_reports_named_but_denied_servers_as_access_denied() {
    let policy = snapshot(SEARCH_ONLY);
    let user = caller("ann", &["user"]);
    let fanout = broadcast(
        &policy,
        &catalog(),
        &user,
        rest("search", None, Some(&["a", "c"])),
    )
    .expect("a fan-out");
    assert_eq!(fanout.called, "broadcast__search");
    assert_eq!(fanout.plan.targets, ["a"]);
    assert_eq!(
        fanout.plan.left_out,
        BTreeMap::from([("c".to_owned(), TargetFailure::Denied)])
    );
    // Not named: invisible.
    let fanout =
        broadcast(&policy, &catalog(), &user, rest("search", None, None)).expect("a fan-out");
    assert!(fanout.plan.left_out.is_empty());
}

#[test]
fn refusals_become_the_errors_callers_see() {
    let retry = RetryAfter(std::time::Duration::from_secs(2));
    let cases = [
        (Refusal::UnknownTool("x".into()), "Unknown tool: x"),
        (Refusal::Denied { called: "x".into() }, "access denied"),
        (
            Refusal::RateLimited {
                called: "x".into(),
                retry,
            },
            "rate limit exceeded, retry after 2 s",
        ),
        (
            Refusal::NotFound("unknown server: z".into()),
            "unknown server: z",
        ),
        (
            Refusal::InvalidParams {
                called: "x".into(),
                message: "bad".into(),
            },
            "bad",
        ),
    ];
    for (refusal, text) in cases {
        assert_eq!(ToolCallError::from(refusal).to_string(), text);
    }
}
