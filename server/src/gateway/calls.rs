//! One tool call or broadcast, end to end: the ordered policy steps.
//!
//! The order is security-relevant and lives here only:
//! 1. resolve the exposed name in the catalog (unknown → protocol error / 404);
//! 2. authorize the called name (denied → indistinguishable from unknown over MCP, 403 REST);
//! 3. for broadcasts, narrow the targets to those the caller may call (others invisible);
//! 4. charge rate limits (the called name refuses the whole call; a target only itself);
//! 5. call the backend(s) with their deadlines;
//! 6. audit every outcome — the tool-call record reaches the audit file before the answer.

use std::collections::BTreeMap;
use std::time::Instant;

use rmcp::model::{CallToolResult, JsonObject};
use serde_json::Value;

use super::{BroadcastRequest, Gateway, Snapshot, ToolCallError};
use crate::audit::{AuditRecord, AuditStatus};
use crate::catalog::{Target, direct_full_name};
use crate::fanout::{self, BroadcastReport, FanoutLimits, FanoutPlan, TargetOutcome};
use crate::principal::RequestContext;
use crate::result_shape::truncate;
use crate::upstream::identity::ForwardedIdentity;
use crate::upstream::{CallError, CallOptions};

/// The `errors` text of a target left out by its rate limit (SPEC §13).
const RATE_LIMITED: &str = "rate limit exceeded";
/// The `errors` text of a target the caller named but may not call (SPEC §13).
const ACCESS_DENIED: &str = "access denied";

impl Gateway {
    /// Route one `tools/call` by its exposed name.
    pub async fn call_tool(
        &self,
        ctx: &RequestContext,
        name: &str,
        arguments: Option<JsonObject>,
        options: CallOptions,
    ) -> Result<CallToolResult, ToolCallError> {
        let snapshot = self.snapshot();
        let catalog = self.catalog();
        let parameters = arguments.clone().map(Value::Object);
        let mut options = options;
        options.identity = Some(forwarded_identity(ctx));
        // 1. Resolve.
        let entry = catalog
            .lookup(name)
            .ok_or_else(|| ToolCallError::UnknownTool(name.to_owned()))?;
        // 2. Authorize the called name (the full, unshortened one).
        let full_name = entry.target.full_name();
        if !snapshot.policy.may_call(&ctx.principal, &full_name) {
            self.audit
                .emit(AuditRecord::access_denied(ctx, name, parameters.as_ref()));
            return Err(ToolCallError::Denied(name.to_owned()));
        }
        match &entry.target {
            Target::Direct { server, tool } => {
                // 4. A direct call is one target: per-user and per-tool buckets, once.
                if let Err(retry) = snapshot
                    .limiter
                    .charge_target(&ctx.principal.user, &full_name)
                {
                    self.audit.emit(AuditRecord::rate_limited(
                        ctx,
                        name,
                        parameters.as_ref(),
                        retry.0,
                    ));
                    return Err(ToolCallError::RateLimited(retry));
                }
                // 5, 6.
                let record = AuditRecord::tool_call(ctx, name, server, tool, parameters.as_ref());
                self.call_direct(&snapshot, server, tool, arguments, options, record)
                    .await
            }
            Target::Broadcast { tool, servers } => {
                let plan = FanoutPlan {
                    tool_name: tool.clone(),
                    targets: servers.clone(),
                    arguments,
                    preset_errors: BTreeMap::new(),
                    identity: Some(forwarded_identity(ctx)),
                };
                let report = self
                    .broadcast_checked(ctx, &snapshot, name, plan, None, options)
                    .await?;
                Ok(report.to_call_tool_result())
            }
            Target::TagBroadcast {
                tag,
                servers,
                tools,
            } => {
                let (tool, inner) = tag_broadcast_arguments(tag, tools, arguments)?;
                let targets = servers
                    .iter()
                    .filter(|server| catalog.offers(server, &tool))
                    .cloned()
                    .collect();
                let plan = FanoutPlan {
                    tool_name: tool,
                    targets,
                    arguments: inner,
                    preset_errors: BTreeMap::new(),
                    identity: Some(forwarded_identity(ctx)),
                };
                let report = self
                    .broadcast_checked(ctx, &snapshot, name, plan, None, options)
                    .await?;
                Ok(report.to_call_tool_result())
            }
        }
    }

    /// A broadcast by backend tool name with optional filters (REST). `tags` and `servers`
    /// narrow together (SPEC §12); an unknown server or a tool no server in scope offers is
    /// `NotFound`; no permitted target at all is `Denied`.
    pub async fn broadcast(
        &self,
        ctx: &RequestContext,
        request: BroadcastRequest,
        options: CallOptions,
    ) -> Result<BroadcastReport, ToolCallError> {
        let snapshot = self.snapshot();
        let config = &snapshot.config;
        if let Some(named) = &request.servers
            && let Some(unknown) = named.iter().find(|n| config.server(n).is_none())
        {
            return Err(ToolCallError::NotFound(format!(
                "unknown server: {unknown}"
            )));
        }
        let catalog = self.catalog();
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
            return Err(ToolCallError::NotFound(format!(
                "no server in scope offers tool {}",
                request.tool
            )));
        }
        let called = format!("{}{}", crate::catalog::BROADCAST_PREFIX, request.tool);
        let plan = FanoutPlan {
            tool_name: request.tool,
            targets,
            arguments: request.arguments,
            preset_errors: BTreeMap::new(),
            identity: Some(forwarded_identity(ctx)),
        };
        self.broadcast_checked(
            ctx,
            &snapshot,
            &called,
            plan,
            request.servers.as_deref(),
            options,
        )
        .await
    }

    /// Steps 3–6 of a broadcast whose called name is already resolved (and, for MCP's
    /// `broadcast__*` tools, authorized as a name).
    async fn broadcast_checked(
        &self,
        ctx: &RequestContext,
        snapshot: &Snapshot,
        called: &str,
        mut plan: FanoutPlan,
        named_servers: Option<&[String]>,
        options: CallOptions,
    ) -> Result<BroadcastReport, ToolCallError> {
        let parameters = plan.arguments.clone().map(Value::Object);
        let user = &ctx.principal.user;
        // 3. Only permitted targets; the others are invisible unless the caller named them.
        let (permitted, denied): (Vec<String>, Vec<String>) =
            plan.targets.drain(..).partition(|server| {
                snapshot
                    .policy
                    .may_call(&ctx.principal, &direct_full_name(server, &plan.tool_name))
            });
        if permitted.is_empty() {
            self.audit
                .emit(AuditRecord::access_denied(ctx, called, parameters.as_ref()));
            return Err(ToolCallError::Denied(called.to_owned()));
        }
        for server in denied {
            if named_servers.is_some_and(|named| named.contains(&server)) {
                plan.preset_errors.insert(server, ACCESS_DENIED.to_owned());
            }
        }
        // 4. The called name once (so `broadcast__*` limits broadcasts), then each target.
        if let Err(retry) = snapshot.limiter.charge_call(user, called) {
            self.audit.emit(AuditRecord::rate_limited(
                ctx,
                called,
                parameters.as_ref(),
                retry.0,
            ));
            return Err(ToolCallError::RateLimited(retry));
        }
        for server in permitted {
            let target = direct_full_name(&server, &plan.tool_name);
            match snapshot.limiter.charge_target(user, &target) {
                Ok(()) => plan.targets.push(server),
                Err(_) => {
                    plan.preset_errors.insert(server, RATE_LIMITED.to_owned());
                }
            }
        }
        // 5.
        let parent = AuditRecord::broadcast(ctx, called, &plan.tool_name, parameters.as_ref());
        let report = self.run_fanout(snapshot, plan, options).await;
        // 6. One child per target, then the parent.
        for (server, outcome) in &report.outcomes {
            let child = AuditRecord::broadcast_target(&parent, server);
            let child = match outcome {
                TargetOutcome::Ran(result) => child
                    .with_status(result_status(result))
                    .with_truncated(is_truncated(result)),
                TargetOutcome::Failed(message) => child
                    .with_status(failure_status(message))
                    .with_error(message.clone()),
            };
            self.audit.emit(child);
        }
        let status = if report.total() > 0 && report.successful() == 0 {
            AuditStatus::Error
        } else {
            AuditStatus::Success
        };
        self.audit
            .record(
                parent
                    .with_status(status)
                    .with_duration(report.execution_time)
                    .with_details(serde_json::json!({
                        "total_servers": report.total(),
                        "successful": report.successful(),
                        "failed": report.failed(),
                    })),
            )
            .await;
        Ok(report)
    }

    /// Steps 5–6 of a direct call.
    async fn call_direct(
        &self,
        snapshot: &Snapshot,
        server: &str,
        tool: &str,
        arguments: Option<JsonObject>,
        options: CallOptions,
        record: AuditRecord,
    ) -> Result<CallToolResult, ToolCallError> {
        let started = Instant::now();
        let outcome = match self.pool.get(server) {
            Some(upstream) => upstream.call_tool(tool, arguments, options).await,
            None => Err(CallError::Unavailable),
        };
        let elapsed = started.elapsed();
        self.metrics
            .record_call(server, crate::metrics::outcome_of(&outcome), elapsed);
        match outcome {
            Ok(mut result) => {
                let truncated = truncate(&mut result, snapshot.config.limits.max_response_bytes);
                let record = record
                    .finished(result_status(&result), elapsed, None)
                    .with_truncated(truncated);
                self.audit.record(record).await;
                Ok(result)
            }
            Err(error) => {
                let status = match error {
                    CallError::Timeout(_) => AuditStatus::Timeout,
                    _ => AuditStatus::Error,
                };
                let record = record.finished(status, elapsed, Some(error.to_string()));
                self.audit.record(record).await;
                Err(ToolCallError::Backend(error))
            }
        }
    }

    async fn run_fanout(
        &self,
        snapshot: &Snapshot,
        plan: FanoutPlan,
        options: CallOptions,
    ) -> BroadcastReport {
        let limits = FanoutLimits {
            concurrency: snapshot.config.limits.broadcast_concurrency,
            overall_timeout: snapshot.config.limits.broadcast_timeout,
            max_response_bytes: snapshot.config.limits.max_response_bytes,
        };
        self.metrics.record_broadcast();
        fanout::run(
            &self.pool,
            &self.metrics,
            plan,
            limits,
            options.progress,
            &options.cancel,
        )
        .await
    }
}

/// What backends with `forward_identity: true` learn of the caller (never the token).
fn forwarded_identity(ctx: &RequestContext) -> ForwardedIdentity {
    ForwardedIdentity {
        user: ctx.principal.user.clone(),
        request_id: ctx.request_id.clone(),
    }
}

fn result_status(result: &CallToolResult) -> AuditStatus {
    if result.is_error == Some(true) {
        AuditStatus::Error
    } else {
        AuditStatus::Success
    }
}

/// The audit status of a target that gave no result, from its `errors` text.
fn failure_status(message: &str) -> AuditStatus {
    if message == RATE_LIMITED {
        AuditStatus::RateLimited
    } else if message == ACCESS_DENIED {
        AuditStatus::Denied
    } else if message.starts_with("timeout") {
        AuditStatus::Timeout
    } else {
        AuditStatus::Error
    }
}

/// Whether `truncate` cut this result (its last item says so).
fn is_truncated(result: &CallToolResult) -> bool {
    result
        .content
        .last()
        .and_then(|c| c.as_text())
        .is_some_and(|t| t.text.starts_with(crate::result_shape::TRUNCATION_MARK))
}

/// The `{tool_name, arguments}` of a tag broadcast, checked against the tag's tools.
fn tag_broadcast_arguments(
    tag: &str,
    tools: &[String],
    arguments: Option<JsonObject>,
) -> Result<(String, Option<JsonObject>), ToolCallError> {
    let mut arguments = arguments.unwrap_or_default();
    let tool = match arguments.remove("tool_name") {
        Some(Value::String(tool)) if tools.contains(&tool) => tool,
        Some(Value::String(tool)) => {
            return Err(ToolCallError::InvalidParams(format!(
                "tool_name {tool:?} is not offered by servers tagged {tag}"
            )));
        }
        _ => {
            return Err(ToolCallError::InvalidParams(
                "tool_name (string) is required".to_owned(),
            ));
        }
    };
    let inner = match arguments.remove("arguments") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            return Err(ToolCallError::InvalidParams(
                "arguments must be an object".to_owned(),
            ));
        }
    };
    Ok((tool, inner))
}
