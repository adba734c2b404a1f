//! `mcpgw doctor` (SPEC §14): replays, step by step, what an MCP client (Claude Desktop,
//! Cursor, VS Code) meets when pointed at this gateway, and says for each failure what to do.
//!
//! The checks run in the order a client meets them; one that later checks depend on (the
//! gateway answering, the issuer's discovery) marks those as not checked rather than letting
//! them fail for a reason already given. Each line is `✓ name` or
//! `✗ name: what is wrong — what to do`; exit 0 when every check passes, else 1.

use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};

use crate::args::OutputFormat;
use crate::client::{Failure, Gateway};
use crate::credentials::Credentials;
use crate::{exit, oidc};

/// MCP clients refuse tool names longer than this (the MCP specification's limit).
const MAX_TOOL_NAME: usize = 64;

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do, for a failed check (`null` for one that passed).
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn not_checked(name: &'static str, because: &str) -> Check {
        Check::fail(name, format!("not checked: {because}"), "fix that first")
    }

    /// `✓ name` or `✗ name: detail — fix`.
    pub fn line(&self) -> String {
        match &self.fix {
            None => format!("✓ {}", self.name),
            Some(fix) => format!("✗ {}: {} — {}", self.name, self.detail, fix),
        }
    }
}

/// Run every check; print them; exit 0 when all pass, else 1.
pub fn run(gateway: &Gateway, format: OutputFormat, out: &mut dyn Write) -> u8 {
    let checks = gateway.block_on(checks(gateway));
    let _ = match format {
        OutputFormat::Json => crate::output::json(out, &json!({ "checks": checks })),
        OutputFormat::Table => checks
            .iter()
            .try_for_each(|check| writeln!(out, "{}", check.line())),
    };
    if checks.iter().all(|check| check.ok) {
        exit::OK
    } else {
        exit::FAILURE
    }
}

async fn checks(gateway: &Gateway) -> Vec<Check> {
    let base = gateway.base();
    let mut checks = Vec::new();

    // 1. The gateway answers, and is one.
    let root = match get(gateway, "/", None).await {
        Ok((200, root)) if root["name"] == "secure-mcp-gateway" => {
            checks.push(Check::pass(
                "gateway answers",
                format!("{base}, version {}", root["version"]),
            ));
            root
        }
        Ok((status, _)) => {
            checks.push(Check::fail(
                "gateway answers",
                format!("{base} answers HTTP {status}, but not as a Secure MCP Gateway"),
                "point --url (MCP_GATEWAY_URL) at the gateway",
            ));
            return checks;
        }
        Err(_) => {
            checks.push(Check::fail(
                "gateway answers",
                format!("no answer from {base}"),
                "start the gateway, or point --url (MCP_GATEWAY_URL) at it",
            ));
            return checks;
        }
    };

    // 2. Health.
    checks.push(match get(gateway, "/health", None).await {
        Ok((200, health)) => health_check(&health),
        Ok((status, _)) => Check::fail(
            "health",
            format!("/health answers HTTP {status}"),
            "see the gateway's log",
        ),
        Err(_) => Check::fail("health", "no answer from /health", "see the gateway's log"),
    });

    // 3–5. What an OAuth client reads before it has a token.
    let auth_on = root["endpoints"]["protected_resource_metadata"].is_string();
    let issuer = if auth_on {
        let mut issuer = None;
        for (name, path, resource) in [
            (
                "protected resource metadata",
                "/.well-known/oauth-protected-resource",
                base.to_owned(),
            ),
            (
                "protected resource metadata (/mcp)",
                "/.well-known/oauth-protected-resource/mcp",
                format!("{base}/mcp"),
            ),
        ] {
            let (check, named) = metadata_check(gateway, name, path, &resource).await;
            checks.push(check);
            issuer = issuer.or(named);
        }
        issuer
    } else {
        checks.push(Check::pass(
            "protected resource metadata",
            "authentication is off: clients connect without OAuth",
        ));
        None
    };
    if auth_on {
        checks.extend(issuer_checks(gateway, issuer.as_deref()).await);
    }

    // 6. The token this caller has.
    let (token_check, bearer) = token_check(gateway, auth_on, issuer.as_deref()).await;
    let token_ok = token_check.ok;
    checks.push(token_check);

    // 7–8. The tools this caller sees, and their names.
    if !token_ok {
        checks.push(Check::not_checked("tools", "no token the gateway accepts"));
        checks.push(Check::not_checked(
            "tool names",
            "no token the gateway accepts",
        ));
        return checks;
    }
    match get(gateway, "/tools", bearer.as_deref()).await {
        Ok((200, tools)) => {
            let names: Vec<&str> = tools["tools"]
                .as_array()
                .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
                .unwrap_or_default();
            checks.push(tools_check(&names));
            checks.push(names_check(&names));
        }
        Ok((status, _)) => {
            checks.push(Check::fail(
                "tools",
                format!("/tools answers HTTP {status}"),
                "see the gateway's log",
            ));
            checks.push(Check::not_checked("tool names", "no tool list"));
        }
        Err(_) => {
            checks.push(Check::fail(
                "tools",
                "no answer from /tools",
                "see the gateway's log",
            ));
            checks.push(Check::not_checked("tool names", "no tool list"));
        }
    }
    checks
}

fn health_check(health: &Value) -> Check {
    let healthy = health["servers"]["healthy"].as_u64().unwrap_or(0);
    let total = health["servers"]["total"].as_u64().unwrap_or(0);
    if total == 0 {
        Check::fail(
            "health",
            "no servers are configured",
            "add servers to mcp_servers.yaml (`mcpgw config validate` checks it)",
        )
    } else if healthy < total {
        Check::fail(
            "health",
            format!("{healthy}/{total} servers healthy: the others' tools are missing"),
            "`mcpgw servers list` shows which and their last error",
        )
    } else {
        Check::pass("health", format!("{healthy}/{total} servers healthy"))
    }
}

/// One protected resource metadata document: its `resource` must be the URL clients use, or
/// they refuse the tokens the issuer gives them for it. Also the issuer it names.
async fn metadata_check(
    gateway: &Gateway,
    name: &'static str,
    path: &str,
    expected: &str,
) -> (Check, Option<String>) {
    let document = match get(gateway, path, None).await {
        Ok((200, document)) => document,
        Ok((status, _)) => {
            let check = Check::fail(
                name,
                format!("{path} answers HTTP {status}"),
                "clients cannot find the issuer: see the gateway's log",
            );
            return (check, None);
        }
        Err(_) => {
            return (
                Check::fail(
                    name,
                    format!("no answer from {path}"),
                    "see the gateway's log",
                ),
                None,
            );
        }
    };
    let issuer = document["authorization_servers"][0]
        .as_str()
        .map(str::to_owned);
    let resource = document["resource"].as_str().unwrap_or_default();
    let check = if resource.trim_end_matches('/') != expected {
        let public = expected.trim_end_matches("/mcp");
        Check::fail(
            name,
            format!("resource is {resource}, but clients reach it at {expected}"),
            format!("set GATEWAY_PUBLIC_URL={public} on the gateway (the URL clients use)"),
        )
    } else if issuer.is_none() {
        Check::fail(
            name,
            "authorization_servers is empty",
            "set KEYCLOAK_URL/KEYCLOAK_REALM or JWT_ISSUER on the gateway",
        )
    } else {
        Check::pass(name, format!("resource {resource}"))
    };
    (check, issuer)
}

/// 4–5: the issuer's discovery, as a client on this machine fetches it, and its registration
/// endpoint for clients that register themselves.
async fn issuer_checks(gateway: &Gateway, issuer: Option<&str>) -> Vec<Check> {
    let Some(issuer) = issuer else {
        return vec![
            Check::not_checked("issuer discovery", "no issuer named"),
            Check::not_checked("client registration", "no issuer named"),
        ];
    };
    if oidc::check_safe(issuer).is_err() {
        return vec![
            Check::fail(
                "issuer discovery",
                format!(
                    "{issuer} is plain HTTP on another machine: clients will not send credentials there"
                ),
                "serve the issuer over https:// (KC_HOSTNAME, JWT_ISSUER)",
            ),
            Check::not_checked("client registration", "no usable issuer"),
        ];
    }
    let discovery = match oidc::discover(gateway.http(), issuer).await {
        Ok(discovery) => discovery,
        Err(failure) => {
            let reason = failure.line();
            return vec![
                Check::fail(
                    "issuer discovery",
                    reason.trim_start_matches("mcpgw: ").to_owned(),
                    format!(
                        "clients fetch {issuer} from their own machine: make it reachable there, or set KC_HOSTNAME / JWT_ISSUER on the gateway to a URL they can reach"
                    ),
                ),
                Check::not_checked("client registration", "issuer discovery failed"),
            ];
        }
    };
    let registration = match &discovery.registration_endpoint {
        Some(endpoint) => Check::pass("client registration", endpoint.clone()),
        None => Check::fail(
            "client registration",
            "the issuer offers no dynamic client registration",
            "Claude Desktop, Cursor and VS Code register themselves: allow it for loopback redirects in the realm (Keycloak: Clients → Client registration → Trusted Hosts), or give those clients a client id",
        ),
    };
    vec![
        Check::pass("issuer discovery", discovery.issuer.clone()),
        registration,
    ]
}

/// 6: the token this caller would send — there, unexpired (refreshed when it can be), and
/// accepted by the gateway; when refused, the likeliest reason from its claims.
async fn token_check(
    gateway: &Gateway,
    auth_on: bool,
    issuer: Option<&str>,
) -> (Check, Option<String>) {
    const NAME: &str = "token";
    if !auth_on {
        return (
            Check::pass(NAME, "authentication is off: no token needed"),
            None,
        );
    }
    if matches!(gateway.credentials(), Credentials::None) {
        let check = Check::fail(
            NAME,
            format!("not logged in to {}", gateway.base()),
            "run `mcpgw login` (or pass --token)",
        );
        return (check, None);
    }
    let bearer = match gateway.credentials().bearer(gateway.http()).await {
        Ok(bearer) => bearer.unwrap_or_default(),
        Err(failure) => {
            let detail = match failure {
                Failure::LoginExpired => {
                    "the kept login has expired, and so has its refresh token".to_owned()
                }
                other => other.line().trim_start_matches("mcpgw: ").to_owned(),
            };
            return (Check::fail(NAME, detail, "run `mcpgw login`"), None);
        }
    };
    let claims = oidc::claims(&bearer);
    let now = chrono::Utc::now().timestamp();
    if let Some(exp) = claims["exp"].as_i64()
        && exp <= now
    {
        let check = Check::fail(
            NAME,
            format!("expired {} ago", minutes(now - exp)),
            "run `mcpgw login`",
        );
        return (check, None);
    }
    match get(gateway, "/whoami", Some(&bearer)).await {
        Ok((200, whoami)) => {
            let expires = claims["exp"]
                .as_i64()
                .map(|exp| format!(", expires in {}", minutes(exp - now)))
                .unwrap_or_default();
            let check = Check::pass(
                NAME,
                format!("{} with roles {}{expires}", whoami["user"], whoami["roles"]),
            );
            (check, Some(bearer))
        }
        Ok((401, _)) => (refused_token(&claims, issuer), None),
        Ok((status, _)) => (
            Check::fail(
                NAME,
                format!("/whoami answers HTTP {status}"),
                "see the gateway's log",
            ),
            None,
        ),
        Err(_) => (
            Check::fail(NAME, "no answer from /whoami", "see the gateway's log"),
            None,
        ),
    }
}

/// Why the gateway likely refuses an unexpired token: another issuer, or no audience for it.
fn refused_token(claims: &Value, issuer: Option<&str>) -> Check {
    const NAME: &str = "token";
    if claims.is_null() {
        return Check::fail(
            NAME,
            "the gateway refuses it, and it is not a JWT",
            "run `mcpgw login`, or pass a JWT from the gateway's issuer",
        );
    }
    let token_issuer = claims["iss"].as_str().unwrap_or("an unknown issuer");
    if let Some(issuer) = issuer
        && token_issuer.trim_end_matches('/') != issuer.trim_end_matches('/')
    {
        return Check::fail(
            NAME,
            format!("issued by {token_issuer}, but the gateway trusts {issuer}"),
            "run `mcpgw login` to get a token from the gateway's issuer",
        );
    }
    Check::fail(
        NAME,
        format!("the gateway refuses it; its aud is {}", claims["aud"]),
        "add an audience mapper to the client's tokens that adds the gateway's JWT_AUDIENCE (default mcp-gateway) — Keycloak: Client scopes → Add mapper → Audience",
    )
}

fn tools_check(names: &[&str]) -> Check {
    if names.is_empty() {
        Check::fail(
            "tools",
            "this caller sees no tools",
            "check the authorization rules for its roles (`mcpgw whoami`) and the servers' health (`mcpgw servers list`)",
        )
    } else {
        Check::pass("tools", format!("{} tools visible", names.len()))
    }
}

fn names_check(names: &[&str]) -> Check {
    let long: Vec<&&str> = names
        .iter()
        .filter(|n| n.chars().count() > MAX_TOOL_NAME)
        .collect();
    match long.first() {
        None => Check::pass(
            "tool names",
            format!(
                "all {} names are {MAX_TOOL_NAME} characters or fewer",
                names.len()
            ),
        ),
        Some(first) => Check::fail(
            "tool names",
            format!(
                "{} names are longer than {MAX_TOOL_NAME} characters (first: {first}), and clients refuse them",
                long.len()
            ),
            "give the server a shorter name in mcp_servers.yaml",
        ),
    }
}

/// `GET path` with an optional bearer: its status and JSON (`Null` when not JSON).
async fn get(gateway: &Gateway, path: &str, bearer: Option<&str>) -> Result<(u16, Value), Failure> {
    let mut request = gateway
        .http()
        .get(format!("{}{path}", gateway.base()))
        .header("x-client", "mcpgw");
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.map_err(|_| Failure::Unreachable {
        url: gateway.base().to_owned(),
    })?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

fn minutes(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_a_tick_or_a_cross_with_what_to_do() {
        assert_eq!(Check::pass("health", "3/3").line(), "✓ health");
        assert_eq!(
            Check::fail("token", "expired 3 min ago", "run `mcpgw login`").line(),
            "✗ token: expired 3 min ago — run `mcpgw login`"
        );
    }

    #[test]
    fn health_fails_when_a_server_is_down_or_none_exist() {
        assert!(health_check(&json!({"servers": {"healthy": 2, "total": 2}})).ok);
        assert!(!health_check(&json!({"servers": {"healthy": 1, "total": 2}})).ok);
        assert!(!health_check(&json!({"servers": {"healthy": 0, "total": 0}})).ok);
    }

    #[test]
    fn names_over_64_characters_fail_with_the_first_one() {
        let long = "s".repeat(40) + "__" + &"t".repeat(23);
        let check = names_check(&["a__b", &long]);
        assert!(!check.ok);
        assert!(check.detail.contains(&long) && check.detail.starts_with("1 names"));
        assert!(names_check(&["a__b", &"x".repeat(64)]).ok);
        assert!(!tools_check(&[]).ok);
    }

    #[test]
    fn a_refused_token_names_the_likely_cause() {
        let ours = "http://127.0.0.1:1/realms/mcp-gateway";
        let other = refused_token(
            &json!({"iss": "https://other/realms/x", "aud": "mcp-gateway"}),
            Some(ours),
        );
        assert!(
            other.detail.contains("issued by https://other"),
            "{}",
            other.detail
        );
        let no_audience = refused_token(&json!({"iss": ours, "aud": "account"}), Some(ours));
        assert!(no_audience.fix.unwrap().contains("audience mapper"));
        assert!(
            refused_token(&Value::Null, Some(ours))
                .detail
                .contains("not a JWT")
        );
    }

    #[test]
    fn json_shape_is_name_ok_detail_fix() {
        let value = serde_json::to_value(Check::fail("a", "b", "c")).unwrap();
        assert_eq!(
            value,
            json!({"name": "a", "ok": false, "detail": "b", "fix": "c"})
        );
        let value = serde_json::to_value(Check::pass("a", "b")).unwrap();
        assert_eq!(
            value,
            json!({"name": "a", "ok": true, "detail": "b", "fix": null})
        );
    }
}
