//! One tool call or broadcast, from plan to audit record.
//!
//! [`plan`](super::plan) decides what a call reaches (resolve → authorize → rate-limit →
//! targets); refusals are audited here. Then the call is made, and however it ends it leaves
//! exactly one audit record, written before its answer is sent (SPEC §9, §14); a broadcast
//! one per target and its parent. A caller that cancels, or goes away — hyper drops the
//! handler's future when the client disconnects — cancels the backend request, and the call
//! is recorded `cancelled`:
//! - a call of one backend tool runs in the caller's future; its record is a [`Pending`],
//!   written when the future is dropped unfinished, and the backend call tells the backend
//!   as it is dropped (`upstream::call`);
//! - a broadcast runs in a task of its own ([`owned`]), so that the targets that finished
//!   keep their outcomes: dropping the caller's future cancels the rest, which end as
//!   `cancelled` while the task writes every record.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{CallToolResult, JsonObject};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::plan::{self, DirectCall, Fanout, Plan, Refusal};
use super::{BroadcastRequest, Gateway, Snapshot, ToolCallError};
use crate::audit::{AuditRecord, AuditStatus, Auditor};
use crate::client_requests::Requester;
use crate::fanout::{self, BroadcastReport, FanoutLimits, TargetFailure, TargetOutcome};
use crate::metrics::Refused;
use crate::principal::RequestContext;
use crate::progress::ProgressTarget;
use crate::result_shape::{error_text, truncate};
use crate::scope::View;
use crate::upstream::identity::ForwardedIdentity;
use crate::upstream::{CallError, CallOptions};

/// What the caller's side gives a call besides its name and arguments.
#[derive(Clone, Default)]
pub struct Downstream {
    /// Where the backend's progress notifications go, when the caller asked for them.
    pub progress: Option<ProgressTarget>,
    /// Cancelled when the caller cancels the call (MCP `notifications/cancelled`, its session
    /// deleted). A caller that goes away needs nothing here: see the module docs.
    pub cancel: CancellationToken,
    /// The client asked what a backend asks its client during the call; `None` when the
    /// caller has no session to be asked in (the backend then gets an error at once).
    pub requester: Option<Requester>,
}

impl Gateway {
    /// Route one `tools/call` by its exposed name, in the scope and view of the caller's
    /// endpoint. The search view's tools are answered by [`Self::call_in_search_view`], which
    /// comes back here in the full view for the tool it calls.
    pub async fn call_tool(
        self: &Arc<Self>,
        ctx: &RequestContext,
        name: &str,
        arguments: Option<JsonObject>,
        downstream: Downstream,
    ) -> Result<CallToolResult, ToolCallError> {
        if ctx.endpoint.view == View::Search {
            // Boxed: the hot path's future does not carry the search's.
            return Box::pin(self.call_in_search_view(ctx, name, arguments, downstream)).await;
        }
        let snapshot = self.snapshot();
        let parameters = arguments.clone().map(Value::Object);
        let catalog = self.catalog_for(&ctx.endpoint.scope);
        let planned = plan::call(&snapshot, &catalog, &ctx.principal, name, arguments);
        match self.admit(ctx, planned, parameters.as_ref())? {
            Plan::Direct(call) => {
                let record = Pending::new(
                    self.audit.clone(),
                    AuditRecord::tool_call(
                        ctx,
                        name,
                        &call.server,
                        &call.tool,
                        parameters.as_ref(),
                    ),
                );
                let options = CallOptions {
                    progress: downstream.progress,
                    cancel: downstream.cancel,
                    timeout: None,
                    identity: Some(forwarded_identity(ctx)),
                    trace_parent: ctx.span.clone(),
                    requester: downstream.requester,
                };
                // In the caller's future: one call of one backend needs no task of its own.
                // A caller that goes away drops it, and with it `record`, which writes the
                // call as cancelled, and the backend call, which tells the backend.
                self.call_direct(&snapshot, call, options, record).await
            }
            Plan::Fanout(fanout) => {
                let report = self.fan_out(ctx, snapshot, fanout, downstream).await?;
                Ok(report.to_call_tool_result())
            }
        }
    }

    /// A broadcast by backend tool name with optional filters (REST); see [`plan::broadcast`].
    pub async fn broadcast(
        self: &Arc<Self>,
        ctx: &RequestContext,
        request: BroadcastRequest,
        downstream: Downstream,
    ) -> Result<BroadcastReport, ToolCallError> {
        let snapshot = self.snapshot();
        let parameters = request.arguments.clone().map(Value::Object);
        let planned = plan::broadcast(&snapshot, &self.catalog(), &ctx.principal, request);
        let fanout = self.admit(ctx, planned, parameters.as_ref())?;
        self.fan_out(ctx, snapshot, fanout, downstream).await
    }

    /// The plan, or its refusal audited: denials, rate limits and the arguments of an
    /// authorized broadcast that cannot be routed (unknown names leave no record).
    fn admit<T>(
        &self,
        ctx: &RequestContext,
        planned: Result<T, Refusal>,
        parameters: Option<&Value>,
    ) -> Result<T, ToolCallError> {
        let refusal = match planned {
            Ok(plan) => return Ok(plan),
            Err(refusal) => refusal,
        };
        match &refusal {
            Refusal::Denied { called } => {
                self.metrics.record_refused(Refused::denied);
                self.audit
                    .emit(AuditRecord::access_denied(ctx, called, parameters));
            }
            Refusal::RateLimited { called, retry } => {
                self.metrics.record_refused(Refused::rate_limited);
                self.audit
                    .emit(AuditRecord::rate_limited(ctx, called, parameters, retry.0));
            }
            // Authorized, then refused for its arguments: a call all the same (SPEC §14).
            Refusal::InvalidParams { called, message } => {
                let mut record = AuditRecord::broadcast(ctx, called, "", parameters)
                    .with_status(AuditStatus::Error)
                    .with_error(message.clone());
                record.backend_tool = None;
                self.audit.emit(record);
            }
            // About names the caller may not know exist: nothing was called.
            Refusal::UnknownTool(_) | Refusal::NotFound(_) => {}
        }
        Err(refusal.into())
    }

    /// The upstream half of a direct call; runs in the call's own task.
    async fn call_direct(
        &self,
        snapshot: &Snapshot,
        call: DirectCall,
        options: CallOptions,
        record: Pending,
    ) -> Result<CallToolResult, ToolCallError> {
        let started = record.started;
        let outcome = match self.pool.get(&call.server) {
            Some(upstream) => {
                upstream
                    .call_tool(&call.tool, call.arguments, options)
                    .await
            }
            None => Err(CallError::Unavailable),
        };
        let elapsed = started.elapsed();
        self.metrics.record_call(
            &call.server,
            &call.tool,
            crate::metrics::outcome_of(&outcome),
            elapsed,
        );
        match outcome {
            Ok(mut result) => {
                let truncated = truncate(&mut result, snapshot.config.limits.max_response_bytes);
                record.finish(|record| {
                    record
                        .finished(result_status(&result), elapsed, error_text(&result))
                        .with_truncated(truncated)
                });
                Ok(result)
            }
            Err(error) => {
                record.finish(|record| {
                    record.finished(call_status(&error), elapsed, Some(error.to_string()))
                });
                Err(ToolCallError::Backend(error))
            }
        }
    }

    /// An admitted broadcast: its targets called in the call's own task, one child record per
    /// target and the parent.
    async fn fan_out(
        self: &Arc<Self>,
        ctx: &RequestContext,
        snapshot: Arc<Snapshot>,
        fanout: Fanout,
        downstream: Downstream,
    ) -> Result<BroadcastReport, ToolCallError> {
        let Fanout { called, plan } = fanout;
        // What the targets are sent (a tag broadcast's inner `arguments`).
        let sent = plan.arguments.clone().map(Value::Object);
        let parent = AuditRecord::broadcast(ctx, &called, &plan.tool_name, sent.as_ref());
        for failure in plan.left_out.values() {
            match failure {
                TargetFailure::Denied => self.metrics.record_refused(Refused::denied),
                TargetFailure::RateLimited => self.metrics.record_refused(Refused::rate_limited),
                TargetFailure::Call(_) => {}
            }
        }
        let records = PendingBroadcast {
            audit: self.audit.clone(),
            parent: Some(parent),
            targets: plan.targets.clone(),
            left_out: plan.left_out.clone(),
        };
        let gateway = Arc::clone(self);
        let caller = fanout::Caller {
            identity: forwarded_identity(ctx),
            trace_parent: ctx.span.clone(),
            requester: downstream.requester,
        };
        owned(&downstream.cancel, move |cancel| async move {
            let limits = FanoutLimits {
                concurrency: snapshot.config.limits.broadcast_concurrency,
                overall_timeout: snapshot.config.limits.broadcast_timeout,
                max_response_bytes: snapshot.config.limits.max_response_bytes,
            };
            gateway.metrics.record_broadcast();
            let report = fanout::run(
                &gateway.pool,
                &gateway.metrics,
                plan,
                limits,
                caller,
                downstream.progress,
                &cancel,
            )
            .await;
            records.finish(&report);
            Ok(report)
        })
        .await
    }
}

/// Run the upstream half of a call in a task of its own and wait for it. Dropping this future
/// (the caller went away) or cancelling `downstream` cancels the task's token: the call then
/// ends as cancelled, is audited so, and the backend is told.
async fn owned<T, F>(
    downstream: &CancellationToken,
    work: impl FnOnce(CancellationToken) -> F,
) -> Result<T, ToolCallError>
where
    F: Future<Output = Result<T, ToolCallError>> + Send + 'static,
    T: Send + 'static,
{
    let cancel = downstream.child_token();
    let _cancel_when_the_caller_is_gone = cancel.clone().drop_guard();
    match tokio::spawn(work(cancel)).await {
        Ok(outcome) => outcome,
        // The task panicked, or its runtime is shutting down; its record is written by
        // `Pending`'s drop.
        Err(_) => Err(ToolCallError::Backend(CallError::Transport(
            ENDED_WITHOUT_RESULT,
        ))),
    }
}

/// A call's audit record until the call ends. [`Pending::finish`] writes it; a call dropped
/// first (its caller went away, its thread stopped) or panicking writes it as it is dropped,
/// so that no call past authorization goes unrecorded.
pub(super) struct Pending {
    audit: Auditor,
    record: Option<AuditRecord>,
    pub(super) started: Instant,
}

impl Pending {
    pub(super) fn new(audit: Auditor, record: AuditRecord) -> Self {
        Pending {
            audit,
            record: Some(record),
            started: Instant::now(),
        }
    }

    /// Write the record as `outcome` makes it, on file before the answer is sent.
    pub(super) fn finish(mut self, outcome: impl FnOnce(AuditRecord) -> AuditRecord) {
        if let Some(record) = self.record.take() {
            self.audit.record(outcome(record));
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            let (status, error) = unfinished();
            self.audit
                .record(record.finished(status, self.started.elapsed(), Some(error)));
        }
    }
}

/// The records of a broadcast until it ends; like [`Pending`], for the parent and every
/// target.
struct PendingBroadcast {
    audit: Auditor,
    parent: Option<AuditRecord>,
    /// The targets to call.
    targets: Vec<String>,
    /// The permitted targets left out, with why.
    left_out: BTreeMap<String, TargetFailure>,
}

impl PendingBroadcast {
    /// One child record per target (queued), then the parent (on file before the answer is
    /// sent).
    fn finish(mut self, report: &BroadcastReport) {
        let Some(parent) = self.parent.take() else {
            return;
        };
        for (server, outcome) in &report.outcomes {
            let child = AuditRecord::broadcast_target(&parent, server);
            let child = match outcome {
                TargetOutcome::Ran { result, took } => child
                    .finished(result_status(result), *took, error_text(result))
                    .with_truncated(is_truncated(result)),
                TargetOutcome::Failed { failure, took } => {
                    let child = child
                        .with_status(failure_status(failure))
                        .with_error(failure.to_string());
                    match took {
                        Some(took) => child.with_duration(*took),
                        None => child,
                    }
                }
            };
            self.audit.emit(child);
        }
        let cancelled = report.outcomes.values().any(|outcome| {
            matches!(
                outcome,
                TargetOutcome::Failed {
                    failure: TargetFailure::Call(CallError::Cancelled),
                    ..
                }
            )
        });
        let status = if cancelled {
            AuditStatus::Cancelled
        } else if report.total() > 0 && report.successful() == 0 {
            AuditStatus::Error
        } else {
            AuditStatus::Success
        };
        let parent = parent
            .with_status(status)
            .with_duration(report.execution_time)
            .with_details(serde_json::json!({
                "total_servers": report.total(),
                "successful": report.successful(),
                "failed": report.failed(),
            }));
        self.audit.record(if cancelled {
            parent.with_error(CallError::Cancelled.to_string())
        } else {
            parent
        });
    }
}

impl Drop for PendingBroadcast {
    fn drop(&mut self) {
        let Some(parent) = self.parent.take() else {
            return;
        };
        let (status, error) = unfinished();
        for server in &self.targets {
            self.audit.emit(
                AuditRecord::broadcast_target(&parent, server)
                    .with_status(status)
                    .with_error(error.clone()),
            );
        }
        for (server, failure) in &self.left_out {
            self.audit.emit(
                AuditRecord::broadcast_target(&parent, server)
                    .with_status(failure_status(failure))
                    .with_error(failure.to_string()),
            );
        }
        self.audit
            .record(parent.with_status(status).with_error(error));
    }
}

/// The status and error of a record whose call never finished: its task panicked (the
/// caller is told the same), or was dropped with its runtime (the caller had gone).
fn unfinished() -> (AuditStatus, String) {
    if std::thread::panicking() {
        (
            AuditStatus::Error,
            CallError::Transport(ENDED_WITHOUT_RESULT).to_string(),
        )
    } else {
        (AuditStatus::Cancelled, CallError::Cancelled.to_string())
    }
}

/// What a caller is told, and the record says, of a call whose task ended without a result.
const ENDED_WITHOUT_RESULT: &str = "the call ended without a result";

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

/// The audit status of a call that gave no result.
pub(super) fn call_status(error: &CallError) -> AuditStatus {
    match error {
        CallError::Timeout(_) => AuditStatus::Timeout,
        CallError::Cancelled => AuditStatus::Cancelled,
        CallError::Unavailable | CallError::Rejected(_) | CallError::Transport(_) => {
            AuditStatus::Error
        }
    }
}

/// The audit status of a broadcast target that gave no result.
fn failure_status(failure: &TargetFailure) -> AuditStatus {
    match failure {
        TargetFailure::Denied => AuditStatus::Denied,
        TargetFailure::RateLimited => AuditStatus::RateLimited,
        TargetFailure::Call(error) => call_status(error),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::audit::{AuditEvent, AuditSettings};

    async fn auditor(dir: &tempfile::TempDir) -> Auditor {
        Auditor::start(&AuditSettings::file_only(dir.path().join("audit.json")))
            .await
            .expect("auditor")
    }

    fn written(dir: &tempfile::TempDir) -> Vec<Value> {
        std::fs::read_to_string(dir.path().join("audit.json"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    fn call_record() -> AuditRecord {
        AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success)
    }

    #[tokio::test]
    async fn an_owned_call_gives_its_outcome_to_the_caller_that_waits() {
        let outcome = owned(&CancellationToken::new(), |cancel| async move {
            Ok(cancel.is_cancelled())
        })
        .await;
        assert_eq!(outcome.ok(), Some(false));
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_cancels_the_owned_call_which_runs_on() {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel();
        let never = CancellationToken::new();
        let caller = owned(&never, |cancel| async move {
            let _ = started_tx.send(());
            cancel.cancelled().await;
            let _ = ended_tx.send("saw the cancellation");
            Ok(())
        });
        tokio::select! {
            _ = caller => panic!("the call ended before it was cancelled"),
            started = started_rx => assert!(started.is_ok()),
        }
        // The caller's future is gone; the call still ends, by itself.
        assert_eq!(ended_rx.await.ok(), Some("saw the cancellation"));
    }

    #[tokio::test]
    async fn the_callers_own_cancellation_reaches_the_owned_call() {
        let downstream = CancellationToken::new();
        downstream.cancel();
        let outcome = owned(
            &downstream,
            |cancel| async move { Ok(cancel.is_cancelled()) },
        )
        .await;
        assert_eq!(outcome.ok(), Some(true));
    }

    #[tokio::test]
    async fn a_record_is_written_once_when_finished() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pending = Pending::new(auditor(&dir).await, call_record());
        pending.finish(|record| record.finished(AuditStatus::Timeout, Duration::ZERO, None));
        let records = written(&dir);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["status"], "timeout");
    }

    #[tokio::test]
    async fn a_call_dropped_unfinished_is_recorded_as_cancelled() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(Pending::new(auditor(&dir).await, call_record()));
        let records = written(&dir);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["status"], "cancelled");
        assert_eq!(records[0]["error"], "cancelled by the caller");
    }

    #[tokio::test]
    async fn a_call_whose_task_panics_is_recorded_as_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pending = Pending::new(auditor(&dir).await, call_record());
        let outcome: Result<(), _> = owned(&CancellationToken::new(), |_| async move {
            let _pending = pending;
            panic!("boom");
        })
        .await;
        assert!(matches!(
            outcome,
            Err(ToolCallError::Backend(CallError::Transport(_)))
        ));
        let records = written(&dir);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["status"], "error");
        assert_eq!(
            records[0]["error"],
            "backend error: the call ended without a result"
        );
    }

    #[tokio::test]
    async fn a_broadcast_dropped_unfinished_records_every_target_and_the_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = auditor(&dir).await;
        let parent = AuditRecord::new(AuditEvent::Broadcast, AuditStatus::Success);
        drop(PendingBroadcast {
            audit: audit.clone(),
            parent: Some(parent.clone()),
            targets: vec!["a".into(), "b".into()],
            left_out: BTreeMap::from([("c".to_owned(), TargetFailure::RateLimited)]),
        });
        audit.flush_and_close(Duration::from_secs(5)).await;
        let records = written(&dir);
        assert_eq!(records.len(), 4, "{records:?}");
        // The parent is on file at once, the children follow.
        let statuses: Vec<_> = records
            .iter()
            .map(|r| (r["mcp_server"].clone(), r["status"].clone()))
            .collect();
        assert_eq!(
            statuses,
            [
                (Value::Null, json!("cancelled")),
                (json!("a"), json!("cancelled")),
                (json!("b"), json!("cancelled")),
                (json!("c"), json!("rate_limited")),
            ]
        );
    }
}
