//! Helpers the benchmark script needs around the processes it starts: a free loopback port,
//! waiting until the gateway's `/health` says every backend is up and, with auth on, until
//! the gateway accepts the benchmark's token.

use std::{
    net::{Ipv4Addr, TcpListener},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use reqwest::{
    StatusCode, Url,
    header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE},
};
use serde::Deserialize;

use crate::procfs;

/// How often `/health` is asked while waiting.
const POLL_PERIOD: Duration = Duration::from_millis(100);

/// A free TCP port on 127.0.0.1, as the kernel hands it out. Someone else may take it before
/// the caller binds it; on a benchmark machine that is rare enough.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener
        .local_addr()
        .context("reading the bound address")?
        .port())
}

/// Backend counts from the gateway's `/health` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct BackendCounts {
    pub healthy: u64,
    pub total: u64,
}

#[derive(Deserialize)]
struct HealthBody {
    servers: BackendCounts,
}

/// Reads `{"status": …, "servers": {"healthy": N, "total": M}}`.
pub fn parse_health(body: &[u8]) -> Option<BackendCounts> {
    serde_json::from_slice::<HealthBody>(body)
        .ok()
        .map(|health| health.servers)
}

/// Every expected backend is up: all of them, and at least `expected` when given (at least
/// one when not; `Some(0)` accepts a gateway configured without backends, as the Anthropic
/// proxy's benchmark runs it).
pub fn is_ready(counts: BackendCounts, expected: Option<u64>) -> bool {
    counts.healthy == counts.total && counts.total >= expected.unwrap_or(1)
}

/// Polls `url` until [`is_ready`], or fails after `timeout` saying what it saw last.
pub async fn wait_until_healthy(
    url: &Url,
    expected: Option<u64>,
    timeout: Duration,
    server_pid: Option<u32>,
) -> Result<BackendCounts> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building the HTTP client")?;
    let deadline = Instant::now() + timeout;
    loop {
        let last_seen = match http.get(url.clone()).send().await {
            Ok(response) => {
                let status = response.status();
                let body = response.bytes().await.unwrap_or_default();
                match parse_health(&body) {
                    Some(counts) if is_ready(counts, expected) => return Ok(counts),
                    Some(counts) => {
                        format!("{} of {} backends healthy", counts.healthy, counts.total)
                    }
                    None => format!("HTTP {status} without backend counts"),
                }
            }
            Err(error) => format!("{error}"),
        };
        // A gateway that exited (a taken port, a bad config) will never answer: say so now.
        if let Some(pid) = server_pid.filter(|pid| !procfs::is_running(*pid)) {
            bail!("process {pid} exited: {last_seen}");
        }
        if Instant::now() >= deadline {
            bail!("not healthy after {timeout:?}: {last_seen}");
        }
        tokio::time::sleep(POLL_PERIOD).await;
    }
}

/// `/whoami` next to a `/health` URL.
pub fn whoami_url(health: &Url) -> Url {
    let mut url = health.clone();
    url.set_path("/whoami");
    url.set_query(None);
    url
}

/// With auth on, polls `/whoami` with `bearer` until it answers 200. A gateway that has not
/// loaded the issuer's keys yet answers 503 (keep waiting); 401 or 403 means the token is
/// refused, which waiting will not change.
pub async fn wait_until_authenticated(
    health: &Url,
    bearer: &HeaderValue,
    timeout: Duration,
    server_pid: Option<u32>,
) -> Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building the HTTP client")?;
    let url = whoami_url(health);
    let deadline = Instant::now() + timeout;
    loop {
        let last_seen = match http
            .get(url.clone())
            .header(AUTHORIZATION, bearer.clone())
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response)
                if matches!(
                    response.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) =>
            {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("no WWW-Authenticate")
                    .to_owned();
                bail!(
                    "{url} refused the token: HTTP {}: {challenge}",
                    response.status()
                );
            }
            Ok(response) => format!("HTTP {}", response.status()),
            Err(error) => format!("{error}"),
        };
        if let Some(pid) = server_pid.filter(|pid| !procfs::is_running(*pid)) {
            bail!("process {pid} exited: {last_seen}");
        }
        if Instant::now() >= deadline {
            bail!("{url} did not accept the token within {timeout:?}: {last_seen}");
        }
        tokio::time::sleep(POLL_PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_body_parses() {
        let body = br#"{"status":"ok","servers":{"healthy":2,"total":3},"version":"0.1.0"}"#;
        assert_eq!(
            parse_health(body),
            Some(BackendCounts {
                healthy: 2,
                total: 3
            })
        );
        assert_eq!(parse_health(br#"{"status":"ok"}"#), None);
        assert_eq!(parse_health(b"<html>"), None);
        assert_eq!(
            parse_health(br#"{"servers":{"healthy":-1,"total":1}}"#),
            None
        );
    }

    #[test]
    fn ready_means_all_expected_backends_up() {
        let counts = |healthy, total| BackendCounts { healthy, total };
        assert!(is_ready(counts(2, 2), None));
        assert!(is_ready(counts(2, 2), Some(2)));
        assert!(!is_ready(counts(1, 2), None));
        assert!(!is_ready(counts(0, 0), None));
        assert!(!is_ready(counts(1, 1), Some(2)));
        assert!(is_ready(counts(0, 0), Some(0)));
        assert!(!is_ready(counts(0, 1), Some(0)));
    }

    #[test]
    fn whoami_is_beside_health() {
        let health = Url::parse("http://127.0.0.1:8/health?x=1").expect("url");
        assert_eq!(whoami_url(&health).as_str(), "http://127.0.0.1:8/whoami");
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_port().expect("port"), 0);
    }
}
