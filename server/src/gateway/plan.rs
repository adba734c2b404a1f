//! The plan of one call: which backend tool(s) a `tools/call` or a REST broadcast reaches, or
//! why it reaches none. A function of (snapshot, catalog, caller, name, arguments): no I/O,
//! no audit, nothing awaited; its only effect is charging the rate limiter's buckets.
//!
//! The order of the steps is security-relevant and lives here only:
//! 1. resolve the exposed name in the catalog — an unknown name is refused before anything
//!    about the caller is looked at;
//! 2. authorize the called name (the full, unshortened one) — before any rate limit, so that
//!    a denied caller cannot drain a bucket, nor learn from a 429 that the tool exists;
//!    A tag broadcast then reads which tool it calls from its arguments (refused when it
//!    cannot, after authorization, so that a denied caller learns nothing of the tag);
//! 3. for broadcasts, narrow the targets to those the caller may call — the others are
//!    invisible, except servers the caller named (`access denied` in `errors`); none left is
//!    a denial of the whole call;
//! 4. charge rate limits: a broadcast's called name once (so `broadcast__*` limits
//!    broadcasts; over it refuses the whole call), then each target once (`per_user` and the
//!    target's `per_tool` patterns; over it leaves only that target out). A direct call is
//!    one target.

use std::collections::BTreeMap;

use rmcp::model::JsonObject;
use serde_json::Value;

use super::{BroadcastRequest, Snapshot, ToolCallError};
use crate::catalog::{BROADCAST_PREFIX, Catalog, Target, direct_full_name};
use crate::fanout::{FanoutPlan, TargetFailure};
use crate::principal::Principal;
use crate::ratelimit::RetryAfter;

/// What an admitted call will do.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// One tool of one server.
    Direct(DirectCall),
    /// One tool on several servers.
    Fanout(Fanout),
}

/// A call of one backend tool.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectCall {
    pub server: String,
    /// The backend's own tool name.
    pub tool: String,
    pub arguments: Option<JsonObject>,
}

/// A broadcast: the name it was called by and who is called with what.
#[derive(Debug, Clone, PartialEq)]
pub struct Fanout {
    /// `broadcast__<tool>`, `broadcast__by_tag__<tag>` (as called), or for a REST broadcast
    /// `broadcast__<tool>`.
    pub called: String,
    pub plan: FanoutPlan,
}

/// Why a call reaches no backend. Denials and rate limits are audited by the gateway; the
/// rest concern names and arguments only.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Never seen: a protocol error over MCP, 404 over REST.
    UnknownTool(String),
    /// The arguments of an authorized `called` name cannot be routed (a tag broadcast's
    /// `tool_name`).
    InvalidParams { called: String, message: String },
    /// A server or tool named in a REST broadcast that is not there.
    NotFound(String),
    /// The caller may not call `called` (or, for a broadcast, any of its targets).
    Denied { called: String },
    /// `called` is over a rate limit.
    RateLimited { called: String, retry: RetryAfter },
}

impl From<Refusal> for ToolCallError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::UnknownTool(name) => ToolCallError::UnknownTool(name),
            Refusal::InvalidParams { message, .. } => ToolCallError::InvalidParams(message),
            Refusal::NotFound(message) => ToolCallError::NotFound(message),
            Refusal::Denied { called } => ToolCallError::Denied(called),
            Refusal::RateLimited { retry, .. } => ToolCallError::RateLimited(retry),
        }
    }
}

/// The plan of a `tools/call` of the exposed name `name` (steps 1–4 of the module docs).
pub fn call(
    snapshot: &Snapshot,
    catalog: &Catalog,
    principal: &Principal,
    name: &str,
    arguments: Option<JsonObject>,
) -> Result<Plan, Refusal> {
    // 1. Resolve.
    let entry = catalog
        .lookup(name)
        .ok_or_else(|| Refusal::UnknownTool(name.to_owned()))?;
    // 2. Authorize the called name: patterns match the full, unshortened name.
    let full_name = entry.target.full_name();
    if !snapshot.policy.may_call(principal, &full_name) {
        return Err(Refusal::Denied {
            called: name.to_owned(),
        });
    }
    let (tool, targets, arguments) = match &entry.target {
        Target::Direct { server, tool } => {
            // 4. One target: charged once.
            if let Err(retry) = snapshot.limiter.charge_target(&principal.user, &full_name) {
                return Err(Refusal::RateLimited {
                    called: name.to_owned(),
                    retry,
                });
            }
            return Ok(Plan::Direct(DirectCall {
                server: server.clone(),
                tool: tool.clone(),
                arguments,
            }));
        }
        Target::Broadcast { tool, servers } => (tool.clone(), servers.clone(), arguments),
        Target::TagBroadcast {
            tag,
            servers,
            tools,
        } => {
            let (tool, inner) =
                tag_broadcast_arguments(tag, tools, arguments).map_err(|message| {
                    Refusal::InvalidParams {
                        called: name.to_owned(),
                        message,
                    }
                })?;
            let targets = servers
                .iter()
                .filter(|server| catalog.offers(server, &tool))
                .cloned()
                .collect();
            (tool, targets, inner)
        }
    };
    fanout(snapshot, principal, name, tool, targets, arguments, None).map(Plan::Fanout)
}

/// The plan of a REST broadcast of a backend tool, narrowed by `tags` and `servers` together
/// (SPEC §12): an unknown server or a tool no server in scope offers is `NotFound`. The called
/// name `broadcast__<tool>` is not authorized as a name (it need not exist): the targets are.
pub fn broadcast(
    snapshot: &Snapshot,
    catalog: &Catalog,
    principal: &Principal,
    request: BroadcastRequest,
) -> Result<Fanout, Refusal> {
    let config = &snapshot.config;
    if let Some(named) = &request.servers
        && let Some(unknown) = named.iter().find(|n| config.server(n).is_none())
    {
        return Err(Refusal::NotFound(format!("unknown server: {unknown}")));
    }
    let targets: Vec<String> = catalog
        .servers_offering(&request.tool)
        .iter()
        .filter(|server| {
            request
                .servers
                .as_ref()
                .is_none_or(|named| named.iter().any(|n| n == *server))
        })
        .filter(|server| {
            request.tags.as_ref().is_none_or(|tags| {
                config
                    .server(server)
                    .is_some_and(|s| s.tags.iter().any(|t| tags.contains(t)))
            })
        })
        .cloned()
        .collect();
    if targets.is_empty() {
        return Err(Refusal::NotFound(format!(
            "no server in scope offers tool {}",
            request.tool
        )));
    }
    let called = format!("{BROADCAST_PREFIX}{}", request.tool);
    fanout(
        snapshot,
        principal,
        &called,
        request.tool,
        targets,
        request.arguments,
        request.servers.as_deref(),
    )
}

/// Steps 3 and 4 of a broadcast whose called name is resolved (and, for `broadcast__*`
/// tools, authorized). `named`: the servers the caller named (REST `mcp_servers`).
fn fanout(
    snapshot: &Snapshot,
    principal: &Principal,
    called: &str,
    tool: String,
    targets: Vec<String>,
    arguments: Option<JsonObject>,
    named: Option<&[String]>,
) -> Result<Fanout, Refusal> {
    // 3. Only permitted targets; the others are invisible unless the caller named them.
    let (permitted, denied): (Vec<String>, Vec<String>) = targets.into_iter().partition(|server| {
        snapshot
            .policy
            .may_call(principal, &direct_full_name(server, &tool))
    });
    if permitted.is_empty() {
        return Err(Refusal::Denied {
            called: called.to_owned(),
        });
    }
    let mut left_out: BTreeMap<String, TargetFailure> = denied
        .into_iter()
        .filter(|server| named.is_some_and(|named| named.contains(server)))
        .map(|server| (server, TargetFailure::Denied))
        .collect();
    // 4. The called name once, then each target.
    if let Err(retry) = snapshot.limiter.charge_call(&principal.user, called) {
        return Err(Refusal::RateLimited {
            called: called.to_owned(),
            retry,
        });
    }
    let mut targets = Vec::with_capacity(permitted.len());
    for server in permitted {
        let target = direct_full_name(&server, &tool);
        match snapshot.limiter.charge_target(&principal.user, &target) {
            Ok(()) => targets.push(server),
            Err(_) => {
                left_out.insert(server, TargetFailure::RateLimited);
            }
        }
    }
    Ok(Fanout {
        called: called.to_owned(),
        plan: FanoutPlan {
            tool_name: tool,
            targets,
            arguments,
            left_out,
        },
    })
}

/// The `{tool_name, arguments}` of a tag broadcast, checked against the tag's tools; else
/// what is wrong with them.
fn tag_broadcast_arguments(
    tag: &str,
    tools: &[String],
    arguments: Option<JsonObject>,
) -> Result<(String, Option<JsonObject>), String> {
    let mut arguments = arguments.unwrap_or_default();
    let tool = match arguments.remove("tool_name") {
        Some(Value::String(tool)) if tools.contains(&tool) => tool,
        Some(Value::String(tool)) => {
            return Err(format!(
                "tool_name {tool:?} is not offered by servers tagged {tag}"
            ));
        }
        _ => return Err("tool_name (string) is required".to_owned()),
    };
    let inner = match arguments.remove("arguments") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err("arguments must be an object".to_owned()),
    };
    Ok((tool, inner))
}

#[cfg(test)]
mod tests;
