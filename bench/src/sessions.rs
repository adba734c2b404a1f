//! Opening MCP sessions: for each of N new clients, the time from sending `initialize` to
//! holding the answer of its first `tools/list` (the handshake a client does before it can
//! show any tool). Sessions are opened one after the other, so each is timed alone.

use std::time::{Duration, Instant};

use anyhow::Result;
use reqwest::{Url, header::HeaderValue};

use crate::{
    results::{ClientKind, Connections, SessionsResult},
    session::{McpSession, http_client},
    stats::LatencySummary,
};

/// A validated `sessions` run.
#[derive(Debug, Clone)]
pub struct SessionsPlan {
    pub url: Url,
    pub label: String,
    pub client: ClientKind,
    pub connections: Connections,
    pub sessions: usize,
    pub warmup: usize,
    pub timeout: Duration,
    /// `Authorization` of every request, when the server wants a bearer token.
    pub bearer: Option<HeaderValue>,
}

pub async fn run(plan: SessionsPlan) -> Result<SessionsResult> {
    let http = http_client(plan.connections, plan.bearer.as_ref())?;
    for _ in 0..plan.warmup {
        // A failing warm-up fails again below, where it is counted.
        let _ = open_and_list(&plan, &http).await;
    }
    let mut durations = Vec::with_capacity(plan.sessions);
    let mut errors = 0;
    let mut tools_listed = 0;
    let mut first_error = None;
    for _ in 0..plan.sessions {
        match open_and_list(&plan, &http).await {
            Ok((duration, tools)) => {
                durations.push(duration);
                tools_listed = tools;
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    Ok(SessionsResult {
        label: plan.label.clone(),
        client: plan.client,
        connections: plan.connections,
        sessions: plan.sessions,
        errors,
        tools_listed,
        open: LatencySummary::from_samples(&mut durations),
        first_error,
    })
}

/// Time to an answered `tools/list` for one new session, and how many tools it listed; the
/// session is closed afterwards, outside the timing.
async fn open_and_list(
    plan: &SessionsPlan,
    http: &reqwest::Client,
) -> Result<(Duration, usize), String> {
    let started = Instant::now();
    let opened = tokio::time::timeout(plan.timeout, async {
        let session = McpSession::open(plan.client, http, &plan.url).await?;
        let tools = session.list_tools().await;
        anyhow::Ok((session, tools))
    })
    .await;
    let elapsed = started.elapsed();
    match opened {
        Ok(Ok((session, tools))) => {
            session.close().await;
            tools
                .map(|tools| (elapsed, tools))
                .map_err(|error| format!("{error:#}"))
        }
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(_) => Err(format!("no session within {:?}", plan.timeout)),
    }
}
