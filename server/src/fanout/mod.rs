//! Concurrent broadcast: one tool on many backends at once (SPEC §6).
//!
//! Every target starts at once, bounded by `limits.broadcast_concurrency`, each with its own
//! server's `timeout`; the whole fan-out ends at `limits.broadcast_timeout`, when unfinished
//! targets are cancelled (the backends are told) and reported as timed out. Failures never
//! stop the others: they become entries of the report.

pub mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use rmcp::model::{CallToolResult, JsonObject, ProgressNotificationParam};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use report::{BroadcastReport, TargetFailure, TargetOutcome};

use crate::metrics::{Metrics, outcome_of};
use crate::progress::ProgressTarget;
use crate::result_shape::truncate;
use crate::upstream::identity::ForwardedIdentity;
use crate::upstream::{CallError, CallOptions, Pool};

/// Who to call with what.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FanoutPlan {
    /// The backend tool name.
    pub tool_name: String,
    /// The servers to call (each offers the tool).
    pub targets: Vec<String>,
    pub arguments: Option<JsonObject>,
    /// Targets left out, with why (not called: denied, rate limited).
    pub left_out: BTreeMap<String, TargetFailure>,
}

/// The limits a fan-out runs under.
#[derive(Debug, Clone, Copy)]
pub struct FanoutLimits {
    pub concurrency: usize,
    pub overall_timeout: Duration,
    pub max_response_bytes: usize,
}

/// Run a fan-out to completion (or to its overall deadline) for `caller`; `cancel` is the
/// caller's.
pub async fn run(
    pool: &Pool,
    metrics: &Metrics,
    plan: FanoutPlan,
    limits: FanoutLimits,
    caller: Caller,
    progress: Option<ProgressTarget>,
    cancel: &CancellationToken,
) -> BroadcastReport {
    let started = Instant::now();
    let deadline = started + limits.overall_timeout;
    let semaphore = Arc::new(Semaphore::new(limits.concurrency.max(1)));
    // Cancelled at the deadline, or when the caller cancels.
    let fanout_cancel = cancel.child_token();
    let total = plan.targets.len() + plan.left_out.len();
    // What every target is sent, shared.
    let request = Arc::new(TargetRequest {
        tool: plan.tool_name.clone(),
        arguments: plan.arguments,
        caller,
    });
    let tool_name = plan.tool_name;

    let mut outcomes: BTreeMap<String, TargetOutcome> = plan
        .left_out
        .into_iter()
        .map(|(server, failure)| {
            (
                server,
                TargetOutcome::Failed {
                    failure,
                    took: None,
                },
            )
        })
        .collect();
    let mut pending: FuturesUnordered<_> = plan
        .targets
        .iter()
        .map(|server| {
            let semaphore = Arc::clone(&semaphore);
            let request = Arc::clone(&request);
            let cancel = fanout_cancel.clone();
            async move {
                let (outcome, took) =
                    call_target(pool, server, &request, &semaphore, cancel, limits).await;
                if let Some(took) = took {
                    metrics.record_call(server, &request.tool, outcome_of(&outcome), took);
                }
                (server.clone(), outcome, took)
            }
        })
        .collect();

    let overall = sleep_until(deadline);
    tokio::pin!(overall);
    let mut deadline_passed = false;
    let mut finished = outcomes.len();
    loop {
        tokio::select! {
            next = pending.next() => {
                let Some((server, outcome, took)) = next else { break };
                let outcome = match outcome {
                    Ok(result) => TargetOutcome::Ran { result, took: took.unwrap_or_default() },
                    Err(error) => {
                        let error = match error {
                            // Cancelled by the deadline, not by the caller.
                            CallError::Cancelled if deadline_passed => {
                                CallError::Timeout(limits.overall_timeout)
                            }
                            error => error,
                        };
                        TargetOutcome::Failed { failure: TargetFailure::Call(error), took }
                    }
                };
                finished += 1;
                notify_progress(progress.as_ref(), finished, total, &server).await;
                outcomes.insert(server, outcome);
            }
            _ = &mut overall, if !deadline_passed => {
                // Unfinished targets are cancelled (the backends hear of it) and drained.
                deadline_passed = true;
                fanout_cancel.cancel();
            }
        }
    }
    drop(pending);
    BroadcastReport {
        tool_name,
        outcomes,
        execution_time: started.elapsed(),
    }
}

/// The call every target of a fan-out receives.
struct TargetRequest {
    tool: String,
    arguments: Option<JsonObject>,
    caller: Caller,
}

/// Who a fan-out runs for: what its backend calls carry of the caller.
pub struct Caller {
    /// Sent to backends with `forward_identity: true`.
    pub identity: ForwardedIdentity,
    /// The request's trace span, parent of every target's call span.
    pub trace_parent: tracing::Span,
    /// The downstream client every target's requests to its client go to.
    pub requester: Option<crate::client_requests::Requester>,
}

/// Call one target once a concurrency permit is free; with how long the call took, `None`
/// when it was never made (cancelled while waiting, or its server is gone).
async fn call_target(
    pool: &Pool,
    server: &str,
    request: &TargetRequest,
    semaphore: &Semaphore,
    cancel: CancellationToken,
    limits: FanoutLimits,
) -> (Result<CallToolResult, CallError>, Option<Duration>) {
    let _permit = tokio::select! {
        permit = semaphore.acquire() => match permit {
            Ok(permit) => permit,
            Err(_) => return (Err(CallError::Cancelled), None),
        },
        _ = cancel.cancelled() => return (Err(CallError::Cancelled), None),
    };
    let Some(upstream) = pool.get(server) else {
        return (Err(CallError::Unavailable), None);
    };
    let options = CallOptions {
        progress: None,
        cancel,
        timeout: None,
        identity: Some(request.caller.identity.clone()),
        trace_parent: request.caller.trace_parent.clone(),
        requester: request.caller.requester.clone(),
    };
    let started = Instant::now();
    let outcome = upstream
        .call_tool(&request.tool, request.arguments.clone(), options)
        .await;
    let took = started.elapsed();
    let outcome = outcome.map(|mut result| {
        truncate(&mut result, limits.max_response_bytes);
        result
    });
    (outcome, Some(took))
}

async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.into()).await;
}

/// One progress notification per finished target, when the caller asked for progress.
async fn notify_progress(
    progress: Option<&ProgressTarget>,
    done: usize,
    total: usize,
    server: &str,
) {
    let Some(target) = progress else { return };
    let params = ProgressNotificationParam::new(target.token.clone(), done as f64)
        .with_total(total as f64)
        .with_message(format!("{server} finished"));
    target.notify(params).await;
}
