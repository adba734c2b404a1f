//! Wall time of single calls, one after the other, on one session: meant for a broadcast tool
//! that fans out to many backends, where the interesting figure is how long the whole fan-out
//! takes. It starts nothing itself; the caller brings the gateway and its backends.

use std::time::{Duration, Instant};

use anyhow::Result;
use reqwest::{Url, header::HeaderValue};

use crate::{
    results::{ClientKind, Connections, FanoutResult},
    session::{McpSession, PreparedCall, http_client},
    stats::LatencySummary,
};

/// A validated `fanout` run.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    pub url: Url,
    pub label: String,
    pub call: PreparedCall,
    pub client: ClientKind,
    pub connections: Connections,
    pub calls: usize,
    pub warmup: usize,
    pub call_timeout: Duration,
    /// `Authorization` of every request, when the server wants a bearer token.
    pub bearer: Option<HeaderValue>,
}

pub async fn run(plan: FanoutPlan) -> Result<FanoutResult> {
    let http = http_client(plan.connections, plan.bearer.as_ref())?;
    let session = McpSession::open(plan.client, &http, &plan.url).await?;
    for _ in 0..plan.warmup {
        let _ = timed_call(&session, &plan).await;
    }
    let mut walls = Vec::with_capacity(plan.calls);
    let mut errors = 0;
    let mut first_error = None;
    let mut result_bytes = 0;
    for _ in 0..plan.calls {
        match timed_call(&session, &plan).await {
            Ok((wall, bytes)) => {
                walls.push(wall);
                result_bytes = bytes;
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    session.close().await;
    Ok(FanoutResult {
        label: plan.label.clone(),
        tool: plan.call.tool.clone(),
        client: plan.client,
        connections: plan.connections,
        calls: plan.calls,
        errors,
        result_bytes,
        wall: LatencySummary::from_samples(&mut walls),
        first_error,
    })
}

/// Wall time and payload size of one call. A result with `isError` still counts as a
/// finished fan-out (a broadcast reports partial failures inside its result).
async fn timed_call(session: &McpSession, plan: &FanoutPlan) -> Result<(Duration, usize), String> {
    let started = Instant::now();
    let outcome = tokio::time::timeout(plan.call_timeout, session.call_tool(&plan.call)).await;
    let wall = started.elapsed();
    match outcome {
        Ok(Ok(outcome)) => Ok((wall, outcome.payload_bytes)),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(_) => Err(format!("no answer within {:?}", plan.call_timeout)),
    }
}
