//! `Host` and `Origin` checks (DNS-rebinding and cross-site protection, SPEC §3 and §13).
//!
//! A request whose `Host` is not in `GATEWAY_ALLOWED_HOSTS` gets 403 `forbidden_host`; one
//! carrying an `Origin` not in `GATEWAY_ALLOWED_ORIGINS` gets 403 `forbidden_origin`. A request
//! without `Origin` (every non-browser client) passes the origin check. `/health` is exempt
//! from the host check so that probes addressing the pod by IP keep working.

use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The allow-lists, normalised once at start.
#[derive(Debug, Clone)]
pub struct RequestGuard {
    hosts: Vec<String>,
    origins: Vec<OriginPattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OriginPattern {
    scheme: String,
    host: String,
    /// None = any port (`:*`).
    port: Option<u16>,
}

impl RequestGuard {
    pub fn new(hosts: &[String], origins: &[String]) -> Self {
        Self {
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            origins: origins
                .iter()
                .filter_map(|o| parse_origin(o, true))
                .collect(),
        }
    }

    /// Is this `Host` header allowed? Entries without a port match any port.
    pub fn host_allowed(&self, host: &str) -> bool {
        // Entries are lower case already; compared without a lower-cased copy per request.
        let (name, _) = split_host_port(host);
        self.hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host) || allowed.eq_ignore_ascii_case(name))
    }

    /// The answer refusing `request`, when its `Host` or `Origin` is not allowed.
    pub fn refusal<B>(&self, request: &http::Request<B>) -> Option<Response> {
        let headers = request.headers();
        if request.uri().path() != "/health" {
            let host = headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| request.uri().authority().map(|a| a.as_str()))
                .unwrap_or("");
            if !self.host_allowed(host) {
                tracing::warn!(host, "request refused: Host not in GATEWAY_ALLOWED_HOSTS");
                return Some(
                    ApiError::ForbiddenHost("Host header is not allowed".into()).into_response(),
                );
            }
        }
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            let allowed = origin
                .to_str()
                .map(|o| self.origin_allowed(o))
                .unwrap_or(false);
            if !allowed {
                tracing::warn!(origin = ?origin, "request refused: Origin not in GATEWAY_ALLOWED_ORIGINS");
                return Some(
                    ApiError::ForbiddenOrigin("Origin is not allowed".into()).into_response(),
                );
            }
        }
        None
    }

    /// Is this `Origin` header allowed?
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let Some(origin) = parse_origin(origin, false) else {
            return false;
        };
        self.origins.iter().any(|allowed| {
            allowed.scheme == origin.scheme
                && allowed.host == origin.host
                && (allowed.port.is_none() || allowed.port == origin.port)
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` -> (host without brackets, port).
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (authority, None),
    }
}

/// Parse `scheme://host[:port]`; `:*` (patterns only) means any port. A missing port is the
/// scheme's default for origins, and "any port" for patterns (kept for ease of configuration).
fn parse_origin(text: &str, pattern: bool) -> Option<OriginPattern> {
    let text = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = text.split_once("://")?;
    let (host, port) = split_host_port(authority);
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => 0,
    };
    let port = match port {
        Some("*") if pattern => None,
        Some(p) => Some(p.parse().ok()?),
        None if pattern => None,
        None => Some(default_port),
    };
    Some(OriginPattern {
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> RequestGuard {
        RequestGuard::new(
            &[
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "gw.example.com:8443".into(),
            ],
            &[
                "https://gw.example.com".into(),
                "http://localhost:*".into(),
                "http://127.0.0.1:3000".into(),
            ],
        )
    }

    #[test]
    fn hosts_match_with_and_without_port() {
        let g = guard();
        assert!(g.host_allowed("localhost"));
        assert!(g.host_allowed("localhost:8000"));
        assert!(g.host_allowed("LOCALHOST:8000"));
        assert!(g.host_allowed("127.0.0.1:1"));
        assert!(g.host_allowed("[::1]:8000"));
        assert!(g.host_allowed("gw.example.com:8443"));
        assert!(!g.host_allowed("gw.example.com:9999"));
        assert!(!g.host_allowed("gw.example.com"));
        assert!(!g.host_allowed("evil.example.com"));
        assert!(!g.host_allowed(""));
        assert!(!g.host_allowed("localhost.evil.com"));
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let g = guard();
        assert!(g.origin_allowed("https://gw.example.com"));
        assert!(g.origin_allowed("https://gw.example.com:443"));
        assert!(g.origin_allowed("http://localhost:6274"));
        assert!(g.origin_allowed("http://127.0.0.1:3000"));
        assert!(!g.origin_allowed("http://127.0.0.1:3001"));
        assert!(!g.origin_allowed("http://gw.example.com"));
        assert!(!g.origin_allowed("https://evil.example.com"));
        assert!(!g.origin_allowed("null"));
        assert!(!g.origin_allowed("garbage"));
    }
}
