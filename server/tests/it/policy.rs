//! Authorization, rate limits and their audit records, through real sockets. Auth is off
//! here: the anonymous caller gets the roles of `ANONYMOUS_ROLES`, which is enough to drive
//! every policy path (tokens are the subject of `auth.rs`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const POLICY: &str = "\
authorization:
  default: deny
  rules:
    - roles: [admin]
      allow: [\"*\"]
    - roles: [user]
      allow: [\"*__search_logs\", \"broadcast__search_logs\", \"alpha__echo\", \"broadcast__echo\"]
      deny: [\"*__delete_*\", \"beta__echo\"]
";

async fn gateway_as(roles: &str, extra_yaml: &str) -> (MockServer, MockServer, TestGateway) {
    let alpha = MockServer::start("http", "alpha", &[]);
    let beta = MockServer::start("http", "beta", &[]);
    let yaml = format!(
        "servers:\n{}{}{POLICY}{extra_yaml}",
        url_entry("alpha", "http", alpha.url()),
        url_entry("beta", "http", beta.url()),
    );
    let gateway = TestGateway::start_with_env(&yaml, &[("ANONYMOUS_ROLES", roles)]).await;
    gateway.wait_healthy(2).await;
    (alpha, beta, gateway)
}

fn names(tools: &[rmcp::model::Tool]) -> Vec<String> {
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn tools_list_shows_only_what_the_caller_may_call() {
    let (_a, _b, gateway) = gateway_as("user", "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let tools = client.peer().list_all_tools().await.expect("list");
    assert_eq!(
        names(&tools),
        [
            "alpha__echo",
            "alpha__search_logs",
            "beta__search_logs",
            "broadcast__echo",
            "broadcast__search_logs"
        ]
    );
    // broadcast__echo reaches alpha only: beta__echo is denied, so beta is not named.
    let echo = tools
        .iter()
        .find(|t| t.name == "broadcast__echo")
        .expect("echo");
    let description = echo.description.as_deref().unwrap_or_default();
    assert!(!description.contains("beta"), "{description}");

    // REST shows the same.
    let rest: Value = reqwest::get(format!("{}/tools", gateway.base))
        .await
        .expect("GET /tools")
        .json()
        .await
        .expect("json");
    let mut rest_names: Vec<_> = rest["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    rest_names.sort();
    assert_eq!(rest_names, names(&tools));
}

#[tokio::test]
async fn a_denied_tool_looks_unknown_over_mcp_and_is_403_over_rest() {
    let (_a, _b, gateway) = gateway_as("user", "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let error = call(&client, "beta__echo", json!({}))
        .await
        .expect_err("denied");
    let unknown = call(&client, "nope__nope", json!({}))
        .await
        .expect_err("unknown");
    match (error, unknown) {
        (rmcp::ServiceError::McpError(denied), rmcp::ServiceError::McpError(unknown)) => {
            assert_eq!(denied.code, unknown.code);
            assert_eq!(denied.message, "Unknown tool: beta__echo");
        }
        other => panic!("{other:?}"),
    }
    let response = reqwest::Client::new()
        .post(format!("{}/tools/beta__echo/invoke", gateway.base))
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden");
    let response = reqwest::Client::new()
        .post(format!("{}/mcp/invoke?mcp_server=beta", gateway.base))
        .body(r#"{"tool_name":"echo","parameters":{}}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);

    let record = gateway
        .wait_for_audit("access_denied", |r| r["event"] == "access_denied")
        .await;
    assert_eq!(record["status"], "denied");
    assert_eq!(record["user"], "anonymous");
}

#[tokio::test]
async fn a_broadcast_reaches_only_permitted_targets() {
    let (_a, _b, gateway) = gateway_as("user", "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "broadcast__echo", json!({"x": 1}))
        .await
        .expect("call");
    let s = result.structured_content.expect("structured");
    assert_eq!(s["total_servers"], 1, "beta is left out silently: {s}");
    assert_eq!(s["errors"], json!({}));

    // Over REST, a server the caller names but may not call shows as `access denied`.
    let body: Value = reqwest::Client::new()
        .post(format!("{}/mcp/invoke-broadcast", gateway.base))
        .body(r#"{"tool_name":"echo","parameters":{},"mcp_servers":["alpha","beta"]}"#)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    assert_eq!(body["errors"], json!({"beta": "access denied"}), "{body}");
    assert_eq!(body["successful"], 1);

    // No permitted target at all: 403.
    let response = reqwest::Client::new()
        .post(format!("{}/mcp/invoke-broadcast", gateway.base))
        .body(r#"{"tool_name":"echo","parameters":{},"mcp_servers":["beta"]}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn non_admins_see_only_their_servers_and_not_the_config() {
    let alpha = MockServer::start("http", "alpha", &[]);
    let gamma = MockServer::start("http", "gamma", &[]);
    let yaml = format!(
        "servers:\n{}{}authorization:\n  rules:\n    - roles: [user]\n      allow: [\"alpha__*\"]\n",
        url_entry("alpha", "http", alpha.url()),
        url_entry("gamma", "http", gamma.url()),
    );
    let gateway = TestGateway::start_with_env(&yaml, &[("ANONYMOUS_ROLES", "user")]).await;
    gateway.wait_healthy(2).await;
    let servers: Value = reqwest::get(format!("{}/mcp/servers", gateway.base))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let listed: Vec<_> = servers["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(listed, [json!("alpha")]);
    let info = reqwest::get(format!("{}/mcp/server/gamma/info", gateway.base))
        .await
        .expect("GET");
    assert_eq!(info.status().as_u16(), 404);
    let config = reqwest::get(format!("{}/config", gateway.base))
        .await
        .expect("GET");
    assert_eq!(config.status().as_u16(), 403);
}

#[tokio::test]
async fn rate_limits_refuse_then_recover() {
    let extra = "rate_limits:\n  per_user: {requests_per_minute: 60, burst: 3}\n";
    let (_a, _b, gateway) = gateway_as("admin", extra).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    for i in 0..3 {
        let result = call(&client, "alpha__echo", json!({"i": i}))
            .await
            .expect("call");
        assert_ne!(result.is_error, Some(true), "call {i}: {result:?}");
    }
    let limited = call(&client, "alpha__echo", json!({}))
        .await
        .expect("a result");
    assert_eq!(limited.is_error, Some(true));
    assert!(
        text_of(&limited).starts_with("rate limit exceeded, retry after "),
        "{}",
        text_of(&limited)
    );
    let response = reqwest::Client::new()
        .post(format!("{}/tools/alpha__echo/invoke", gateway.base))
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // 60 per minute refills one token a second.
    let deadline = Instant::now() + PATIENCE;
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let result = call(&client, "alpha__echo", json!({})).await.expect("call");
        if result.is_error != Some(true) {
            break;
        }
        assert!(Instant::now() < deadline, "the limit never recovered");
    }
    gateway
        .wait_for_audit("rate_limited", |r| {
            r["event"] == "rate_limited" && r["status"] == "rate_limited"
        })
        .await;
}

#[tokio::test]
async fn broadcast_targets_over_their_limit_go_to_errors() {
    let extra = "rate_limits:\n  per_tool: {\"beta__*\": {requests_per_minute: 1, burst: 1}}\n";
    let (_a, _b, gateway) = gateway_as("admin", extra).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let first = call(&client, "broadcast__echo", json!({}))
        .await
        .expect("call");
    assert_eq!(first.structured_content.expect("s")["successful"], 2);
    let second = call(&client, "broadcast__echo", json!({}))
        .await
        .expect("call");
    let s = second.structured_content.expect("s");
    assert_eq!(s["errors"], json!({"beta": "rate limit exceeded"}), "{s}");
    assert_eq!(s["successful"], 1);
}

#[tokio::test]
async fn every_call_is_audited_on_file_before_the_answer() {
    let (_a, _b, gateway) = gateway_as("admin", "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    for i in 0..5 {
        call(&client, "alpha__echo", json!({"i": i, "api_key": "s3cret"}))
            .await
            .expect("call");
        // Written before the answer: no waiting needed.
        let calls = gateway
            .audit_records()
            .into_iter()
            .filter(|r| r["event"] == "tool_call")
            .count();
        assert_eq!(calls, i + 1);
    }
    let records = gateway.audit_records();
    let call_record = records
        .iter()
        .find(|r| r["event"] == "tool_call")
        .expect("record");
    assert_eq!(call_record["tool"], "alpha__echo");
    assert_eq!(call_record["mcp_server"], "alpha");
    assert_eq!(call_record["backend_tool"], "echo");
    assert_eq!(call_record["transport"], "mcp");
    assert_eq!(call_record["status"], "success");
    assert_eq!(call_record["parameters"]["api_key"], "[REDACTED]");
    assert!(call_record["session_id"].is_string(), "{call_record}");
    assert!(
        !std::fs::read_to_string(gateway.audit_file())
            .unwrap_or_default()
            .contains("s3cret")
    );

    let result = call(&client, "broadcast__echo", json!({}))
        .await
        .expect("broadcast");
    assert_ne!(result.is_error, Some(true));
    let records = gateway.audit_records();
    let parent = records
        .iter()
        .find(|r| r["event"] == "broadcast")
        .expect("parent");
    assert_eq!(parent["id"], parent["broadcast_id"]);
    // Children are handed to the background writer; give it a moment.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let children = gateway
            .audit_records()
            .into_iter()
            .filter(|r| r["event"] == "tool_call" && r["broadcast_id"] == parent["id"])
            .count();
        if children == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "children: {children}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// With real tokens: the Python SDK client sees and calls only what its roles allow, and a
/// refused token leaves an `auth_failure` record.
#[tokio::test]
async fn role_filtering_with_real_tokens_over_mcp_and_rest() {
    use crate::common::keycloak::KeycloakLike;
    use crate::common::python::run_client;

    let issuer = KeycloakLike::start();
    let alpha = MockServer::start("http", "alpha", &[]);
    let beta = MockServer::start("http", "beta", &[]);
    let yaml = format!(
        "servers:\n{}{}{POLICY}",
        url_entry("alpha", "http", alpha.url()),
        url_entry("beta", "http", beta.url()),
    );
    let env = issuer.gateway_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gateway = TestGateway::start_with_env(&yaml, &pairs).await;
    gateway.wait_healthy(2).await;
    issuer.wait_trusted_by(&gateway.base).await;

    let user_token = issuer.password_token("testuser", "testpass").await;
    for mode in ["auto", "legacy"] {
        let report = run_client(json!({
            "url": gateway.mcp_url(),
            "mode": mode,
            "headers": {"Authorization": format!("Bearer {user_token}")},
            "steps": [
                ["list_tools"],
                ["call", "alpha__search_logs", {"query": "q"}],
                ["call", "beta__echo", {}],
            ]
        }))
        .await;
        let results = &report["results"];
        assert_eq!(
            results[0],
            json!([
                "alpha__echo",
                "alpha__search_logs",
                "beta__search_logs",
                "broadcast__echo",
                "broadcast__search_logs"
            ]),
            "{mode}: {report}"
        );
        assert_eq!(results[1]["is_error"], false, "{mode}: {report}");
        let denied = results[2].to_string();
        assert!(
            denied.contains("Unknown tool: beta__echo"),
            "{mode}: {report}"
        );
    }

    let admin_token = issuer.password_token("admin", "admin123").await;
    let client = reqwest::Client::new();
    let config = client
        .get(format!("{}/config", gateway.base))
        .bearer_auth(&user_token)
        .send()
        .await
        .expect("GET");
    assert_eq!(config.status().as_u16(), 403);
    let config = client
        .get(format!("{}/config", gateway.base))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("GET");
    assert_eq!(config.status().as_u16(), 200);

    let refused = client
        .get(format!("{}/tools", gateway.base))
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .expect("GET");
    assert_eq!(refused.status().as_u16(), 401);
    let record = gateway
        .wait_for_audit("auth_failure", |r| r["event"] == "auth_failure")
        .await;
    assert_eq!(record["status"], "denied");
    assert!(record["client_ip"].is_string(), "{record}");
    let call = gateway
        .wait_for_audit("testuser call", |r| {
            r["event"] == "tool_call" && r["user"] == "testuser"
        })
        .await;
    assert_eq!(call["roles"], json!(["user"]));
}
