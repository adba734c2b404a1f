//! Plain JSON-RPC over `POST /mcp`, as `curl -d` sends it (SPEC §12), and the other HTTP
//! answers of this layer: `/`, `/health`, Host and Origin checks, malformed input.

use serde_json::{Value, json};

use crate::common::*;

async fn gateway_with_alpha() -> (MockServer, TestGateway) {
    let http = MockServer::start("http", "alpha", &[]);
    let yaml = format!(
        "servers:\n{}{}    tags: [logs]\n",
        url_entry("alpha", "http", http.url()),
        stdio_mock_entry("beta", &[])
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    (http, gateway)
}

/// POST a body the way curl does: `Accept: */*`, form content type, no MCP headers.
async fn curl_post(gateway: &TestGateway, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(gateway.mcp_url())
        .header("accept", "*/*")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST /mcp");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

#[tokio::test]
async fn tools_list_answers_with_json() {
    let (_http, gateway) = gateway_with_alpha().await;
    let (status, body) = curl_post(
        &gateway,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], 1);
    let names: Vec<_> = body["result"]["tools"]
        .as_array()
        .expect("tools array")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(names.contains(&"alpha__echo".to_owned()));
    assert!(names.contains(&"beta__echo".to_owned()));
}

/// A client that accepts event streams but sends no session or protocol header is answered
/// statelessly too, unless it is opening a session with `initialize`.
#[tokio::test]
async fn a_lone_request_accepting_event_streams_is_answered_statelessly() {
    let (_http, gateway) = gateway_with_alpha().await;
    let post = |body: Value| {
        reqwest::Client::new()
            .post(gateway.mcp_url())
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
    };
    let response = post(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}))
        .await
        .expect("POST /mcp");
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("mcp-session-id").is_none());
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["id"], 7, "{body}");
    assert!(
        body["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    // `initialize` still opens a session.
    let response = post(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}
    }))
    .await
    .expect("POST /mcp");
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("mcp-session-id").is_some());
}

#[tokio::test]
async fn tools_list_can_be_narrowed_to_one_server() {
    let (_http, gateway) = gateway_with_alpha().await;
    let (_, body) = curl_post(
        &gateway,
        r#"{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"server":"beta"}}"#,
    )
    .await;
    let tools = body["result"]["tools"].as_array().expect("tools");
    assert!(!tools.is_empty());
    assert!(
        tools
            .iter()
            .all(|t| t["name"].as_str().unwrap_or("").starts_with("beta__"))
    );
}

#[tokio::test]
async fn tools_call_routes_and_reports_errors_as_results() {
    let (_http, gateway) = gateway_with_alpha().await;
    let (status, body) = curl_post(
        &gateway,
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"alpha__echo","arguments":{"k":"v"}}}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], r#"{"k":"v"}"#);
    let (_, body) = curl_post(
        &gateway,
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"alpha__fail","arguments":{"message":"nope"}}}"#,
    )
    .await;
    assert_eq!(body["result"]["isError"], true);
}

#[tokio::test]
async fn bad_requests_get_clean_json_rpc_errors() {
    let (_http, gateway) = gateway_with_alpha().await;
    let (status, body) = curl_post(&gateway, "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32700);

    let (status, body) = curl_post(&gateway, r#"{"id":1,"method":"tools/list"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32600);

    let (status, body) = curl_post(&gateway, r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32600);

    let (_, body) = curl_post(&gateway, r#"{"jsonrpc":"2.0","id":2,"method":"no/such"}"#).await;
    assert_eq!(body["error"]["code"], -32601);

    let (_, body) = curl_post(
        &gateway,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ghost__tool"}}"#,
    )
    .await;
    assert_eq!(body["error"]["code"], -32602);
    assert_eq!(body["error"]["message"], "Unknown tool: ghost__tool");

    let (_, body) = curl_post(
        &gateway,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"alpha__echo","arguments":[1]}}"#,
    )
    .await;
    assert_eq!(body["error"]["code"], -32602);
}

#[tokio::test]
async fn root_and_health_describe_the_gateway() {
    let (_http, gateway) = gateway_with_alpha().await;
    let root: Value = reqwest::get(&gateway.base)
        .await
        .expect("GET /")
        .json()
        .await
        .expect("json");
    assert_eq!(root["name"], "secure-mcp-gateway");
    assert_eq!(root["endpoints"]["mcp"], "/mcp");
    // Every endpoint listed is routed: nothing listed answers 404 (POST-only ones 405).
    let endpoints = root["endpoints"].as_object().expect("endpoints");
    assert!(endpoints.len() >= 15, "{root}");
    for path in endpoints.values().filter_map(Value::as_str) {
        let path = path
            .replace("{tool_name}", "alpha__echo")
            .replace("{name}", "alpha")
            .replace("{tag}", "logs");
        let url = format!("{}{path}", gateway.base);
        let status = match path.as_str() {
            // An event stream that stays open: its status is enough.
            "/sse" => reqwest::get(&url).await.expect("GET /sse").status(),
            _ => reqwest::get(&url).await.expect("GET").status(),
        };
        assert_ne!(status.as_u16(), 404, "{path} is listed but not routed");
    }
    let health = gateway.health().await;
    assert_eq!(
        health,
        json!({"status": "ok", "servers": {"healthy": 2, "total": 2}})
    );
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let (_http, gateway) = gateway_with_alpha().await;
    let client = reqwest::Client::new();
    let response = client
        .post(gateway.mcp_url())
        .header("host", "evil.example.com")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden_host");

    let response = client
        .post(gateway.mcp_url())
        .header("origin", "https://evil.example.com")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden_origin");

    let response = client
        .post(gateway.mcp_url())
        .header("origin", "http://localhost:6274")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(
        response.status().as_u16(),
        200,
        "a loopback origin is allowed"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let http = MockServer::start("http", "alpha", &[]);
    let yaml = format!(
        "servers:\n{}limits:\n  max_request_bytes: 1024\n",
        url_entry("alpha", "http", http.url())
    );
    let gateway = TestGateway::start(&yaml).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"alpha__echo","arguments":{{"x":"{}"}}}}}}"#,
        "a".repeat(4096)
    );
    let (status, body) = curl_post(&gateway, &big).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
}
