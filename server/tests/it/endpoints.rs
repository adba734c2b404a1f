//! The scoped endpoints `/mcp/tag/<tag>` and `/mcp/server/<name>` and the search view
//! `?view=search` (SPEC §14), through rmcp's client, the Python SDK's (both eras) and plain
//! HTTP.

use serde_json::{Value, json};

use crate::common::python::{python, run_client, script};
use crate::common::*;

/// Mocks `alpha` and `beta` tagged `elk`, `gamma` tagged `db`, and the Python SDK server
/// `py` (prompts and resources) tagged `docs`.
async fn tagged_gateway() -> TestGateway {
    let py_args = json!([
        script("backend.py").display().to_string(),
        "--name",
        "py",
        "--transport",
        "stdio"
    ]);
    let yaml = format!(
        "servers:\n{}    tags: [elk]\n{}    tags: [elk]\n{}    tags: [db]\n  py:\n    type: stdio\n    command: {}\n    args: {py_args}\n    tags: [docs]\n",
        stdio_mock_entry("alpha", &[]),
        stdio_mock_entry("beta", &[]),
        stdio_mock_entry("gamma", &[]),
        python().display(),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(4).await;
    gateway
}

async fn tool_names(client: &McpClient) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

/// The names `search_tools` returned, from its structured result.
fn found_names(structured: &Value) -> Vec<&str> {
    structured["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools found: {structured}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect()
}

/// A plain JSON-RPC request to `path`.
async fn post(gateway: &TestGateway, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", gateway.base))
        .json(&body)
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn a_tag_endpoint_shows_and_broadcasts_over_its_servers_only() {
    let gateway = tagged_gateway().await;
    let client = rmcp_client(&format!("{}/mcp/tag/elk", gateway.base)).await;
    let names = tool_names(&client).await;
    assert!(names.contains(&"alpha__echo".to_owned()), "{names:?}");
    assert!(names.contains(&"beta__echo".to_owned()), "{names:?}");
    assert!(
        names.contains(&"broadcast__search_logs".to_owned()),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| n.starts_with("alpha__")
            || n.starts_with("beta__")
            || n.starts_with("broadcast__")),
        "only elk's servers: {names:?}"
    );
    let result = call(&client, "broadcast__search_logs", json!({"query": "q"}))
        .await
        .expect("broadcast");
    let text = text_of(&result);
    assert!(text.contains("Total Servers: 2"), "{text}");
    assert!(!text.contains("[gamma]"), "{text}");
    // Another scope's tool is unknown here.
    let outside = call(&client, "gamma__echo", json!({})).await;
    assert!(
        format!("{outside:?}").contains("Unknown tool: gamma__echo"),
        "{outside:?}"
    );
    // On `/mcp` the same broadcast reaches every server offering the tool (py does too).
    let everywhere = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&everywhere, "broadcast__search_logs", json!({"query": "q"}))
        .await
        .expect("broadcast");
    assert!(
        text_of(&result).contains("Total Servers: 4"),
        "{}",
        text_of(&result)
    );
}

#[tokio::test]
async fn a_server_endpoint_shows_one_server_in_both_eras() {
    let gateway = tagged_gateway().await;
    let url = format!("{}/mcp/server/gamma", gateway.base);
    let client = rmcp_client(&url).await;
    let names = tool_names(&client).await;
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.starts_with("gamma__")),
        "one server, no broadcasts: {names:?}"
    );
    for mode in ["legacy", "auto"] {
        let report = run_client(json!({
            "url": url,
            "mode": mode,
            "steps": [["list_tools"], ["call", "gamma__echo", {"x": 1}], ["capabilities"]]
        }))
        .await;
        let results = &report["results"];
        let listed: Vec<&str> = results[0]
            .as_array()
            .unwrap_or_else(|| panic!("{report}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(listed, names, "{mode}");
        assert_eq!(results[1]["text"], "{\"x\":1}", "{report}");
        // gamma offers no prompts or resources: neither does its endpoint.
        assert!(results[2]["prompts"].is_null(), "{report}");
        assert!(results[2]["resources"].is_null(), "{report}");
    }
    // The `docs` endpoint has py's prompts, and says so.
    let report = run_client(json!({
        "url": format!("{}/mcp/tag/docs", gateway.base),
        "mode": "legacy",
        "steps": [["capabilities"], ["list_prompts"], ["list_tools"]]
    }))
    .await;
    let results = &report["results"];
    assert!(results[0]["prompts"].is_object(), "{report}");
    let prompts = results[1]["names"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    assert!(prompts.contains(&json!("py__incident_summary")), "{report}");
    assert!(
        prompts
            .iter()
            .all(|p| p.as_str().is_some_and(|p| p.starts_with("py__"))),
        "py's prompts only: {report}"
    );
    let tools = results[2].as_array().unwrap_or_else(|| panic!("{report}"));
    assert!(tools.contains(&json!("py__add")), "{report}");
    assert!(
        tools
            .iter()
            .all(|t| t.as_str().is_some_and(|t| t.starts_with("py__"))),
        "{report}"
    );
}

#[tokio::test]
async fn unknown_scopes_are_404_and_sessions_belong_to_one_endpoint() {
    let gateway = tagged_gateway().await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    for unknown in ["/mcp/tag/nope", "/mcp/server/nope", "/mcp/other/alpha"] {
        let response = post(&gateway, unknown, ping.clone()).await;
        assert_eq!(response.status(), 404, "{unknown}");
    }
    // A configured tag has an endpoint.
    assert_eq!(
        post(&gateway, "/mcp/tag/db", ping.clone()).await.status(),
        200
    );

    // A session opened on /mcp/tag/elk.
    let opened = reqwest::Client::new()
        .post(format!("{}/mcp/tag/elk", gateway.base))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .send()
        .await
        .expect("initialize");
    assert_eq!(opened.status(), 200);
    let session = opened
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session")
        .to_owned();
    let in_session = |path: &str| {
        reqwest::Client::new()
            .post(format!("{}{path}", gateway.base))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
    };
    assert_eq!(
        in_session("/mcp/tag/elk").await.expect("POST").status(),
        202
    );
    for other in ["/mcp", "/mcp/tag/db", "/mcp/server/alpha"] {
        assert_eq!(
            in_session(other).await.expect("POST").status(),
            404,
            "the session is /mcp/tag/elk's, not {other}'s"
        );
    }
}

#[tokio::test]
async fn the_search_view_finds_and_calls_tools() {
    let gateway = tagged_gateway().await;
    let report = run_client(json!({
        "url": format!("{}/mcp?view=search", gateway.base),
        "mode": "legacy",
        "steps": [
            ["list_tools"],
            ["call", "search_tools", {"query": "search logs", "limit": 3}],
            ["call", "call_tool", {"name": "beta__echo", "arguments": {"found": true}}],
            ["call", "call_tool", {"name": "nobody__echo", "arguments": {}}],
            ["call", "search_tools", {}],
        ]
    }))
    .await;
    let results = &report["results"];
    assert_eq!(results[0], json!(["call_tool", "search_tools"]), "{report}");
    let found = found_names(&results[1]["structured"]);
    assert_eq!(found.len(), 3, "the limit: {found:?}");
    assert!(
        found.iter().all(|n| n.contains("search_logs")),
        "names count most: {found:?}"
    );
    let first = &results[1]["structured"]["tools"][0];
    assert!(
        first["description"].is_string() && first["inputSchema"].is_object(),
        "{first}"
    );
    assert_eq!(results[2]["text"], "{\"found\":true}", "{report}");
    assert!(
        results[3]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Unknown tool: nobody__echo"),
        "{report}"
    );
    assert!(
        results[4]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("query"),
        "{report}"
    );
    // The call is an ordinary call of beta__echo in the audit.
    let record = gateway
        .wait_for_audit("beta__echo", |r| {
            r["event"] == "tool_call" && r["tool"] == "beta__echo"
        })
        .await;
    assert_eq!(record["parameters"], json!({"found": true}));

    // In a scope, the search sees that scope only; the 2026 era works the same.
    let report = run_client(json!({
        "url": format!("{}/mcp/tag/db?view=search", gateway.base),
        "mode": "auto",
        "steps": [["list_tools"], ["call", "search_tools", {"query": "echo"}]]
    }))
    .await;
    let results = &report["results"];
    assert_eq!(results[0], json!(["call_tool", "search_tools"]), "{report}");
    let found = found_names(&results[1]["structured"]);
    assert_eq!(found, ["gamma__echo"], "{report}");
}

#[tokio::test]
async fn the_search_view_finds_only_what_the_caller_may_call() {
    let yaml = format!(
        "servers:\n{}{}authorization:\n  default: deny\n  rules:\n    - roles: [user]\n      allow: [\"alpha__*\"]\n",
        stdio_mock_entry("alpha", &[]),
        stdio_mock_entry("beta", &[]),
    );
    let gateway = TestGateway::start_with_env(&yaml, &[("ANONYMOUS_ROLES", "user")]).await;
    gateway.wait_healthy(2).await;
    let response = post(
        &gateway,
        "/mcp?view=search",
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "search_tools", "arguments": {"query": "echo"}}}),
    )
    .await;
    let body: Value = response.json().await.expect("JSON");
    let found = found_names(&body["result"]["structuredContent"]);
    assert_eq!(found, ["alpha__echo"], "{body}");
    let response = post(
        &gateway,
        "/mcp?view=search",
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "call_tool", "arguments": {"name": "beta__echo"}}}),
    )
    .await;
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["error"]["code"], -32602,
        "denied looks unknown: {body}"
    );
    gateway
        .wait_for_audit("denied", |r| {
            r["event"] == "access_denied" && r["tool"] == "beta__echo"
        })
        .await;
}
