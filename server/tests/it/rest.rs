//! The REST API (SPEC §7, §12, §13) through real sockets and real mock backends: the exact
//! keys of every answer, status codes and error codes, bare-name broadcasts, filters, limits,
//! the redacted config and `X-Request-ID`.

use std::time::Instant;

use serde_json::{Value, json};

use crate::common::*;

/// One HTTP answer: status, `X-Request-ID`, and the body as JSON (or as a string when it is
/// not JSON).
struct Answer {
    status: u16,
    request_id: Option<String>,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        request_id,
        body,
    }
}

async fn get(gateway: &TestGateway, path: &str) -> Answer {
    let response = reqwest::get(format!("{}{path}", gateway.base))
        .await
        .expect("GET");
    answer(response).await
}

async fn post(gateway: &TestGateway, path: &str, body: impl Into<reqwest::Body>) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", gateway.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    answer(response).await
}

async fn post_json(gateway: &TestGateway, path: &str, body: Value) -> Answer {
    post(gateway, path, body.to_string()).await
}

/// The sorted keys of an object (empty for anything else).
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

/// An error answer: the status, `{"error":{"code","message"}}` and the code.
fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(keys(&answer.body), ["error"], "{}", answer.body);
    assert_eq!(keys(&answer.body["error"]), ["code", "message"]);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{}", answer.body);
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|a| a.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default()
}

fn with_lines(entry: String, lines: &str) -> String {
    format!("{entry}{lines}")
}

/// alpha (http, every tool), beta (stdio, echo and fail only) and gamma (disabled).
async fn two_servers_and_a_disabled_one() -> (MockServer, TestGateway) {
    let alpha = MockServer::start("http", "alpha", &[]);
    let yaml = format!(
        "servers:\n{}{}{}",
        with_lines(
            url_entry("alpha", "http", alpha.url()),
            "    description: Alpha mock\n    tags: [prod]\n"
        ),
        stdio_mock_entry("beta", &["--tools", "echo,fail"]),
        with_lines(stdio_mock_entry("gamma", &[]), "    enabled: false\n"),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    gateway.wait_for_tool("beta__echo", true).await;
    gateway.wait_for_tool("alpha__echo", true).await;
    (alpha, gateway)
}

#[tokio::test]
async fn tools_lists_exposed_tools_with_three_keys_each() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let answer = get(&gateway, "/tools").await;
    assert_eq!(answer.status, 200);
    assert_eq!(keys(&answer.body), ["tools"]);
    let tools = answer.body["tools"].as_array().expect("tools array");
    for tool in tools {
        assert_eq!(keys(tool), ["description", "inputSchema", "name"], "{tool}");
    }
    let listed = names(&answer.body["tools"]);
    for expected in [
        "alpha__echo",
        "alpha__check_health",
        "beta__echo",
        "broadcast__echo",
    ] {
        assert!(listed.contains(&expected), "{expected} missing: {listed:?}");
    }
    assert!(
        !listed.iter().any(|n| n.starts_with("gamma__")),
        "{listed:?}"
    );
}

#[tokio::test]
async fn invoking_an_exposed_name_answers_the_call_tool_result() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let answer = post_json(&gateway, "/tools/alpha__echo/invoke", json!({"k": "v"})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(keys(&answer.body), ["content", "isError", "resultType"]);
    assert_eq!(answer.body["isError"], false);
    let text = answer.body["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Value>(text).ok(),
        Some(json!({"k": "v"}))
    );

    // An empty body is `{}`; a tool error is still a 200 result.
    let empty = post(&gateway, "/tools/beta__echo/invoke", "").await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["content"][0]["text"], "{}");
    let failed = post_json(
        &gateway,
        "/tools/beta__fail/invoke",
        json!({"message": "boom"}),
    )
    .await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    assert_eq!(failed.body["isError"], true);
    assert_eq!(failed.body["content"][0]["text"], "boom");
}

#[tokio::test]
async fn invoking_a_bare_backend_name_broadcasts_it() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let answer = post_json(&gateway, "/tools/echo/invoke", json!({"n": 1})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        keys(&answer.body),
        ["content", "isError", "resultType", "structuredContent"]
    );
    let report = &answer.body["structuredContent"];
    assert_eq!(report["total_servers"], 2, "{report}");
    assert_eq!(keys(&report["results"]), ["alpha", "beta"]);
    assert_eq!(report["results"]["beta"], json!({"n": 1}));
    let summary = answer.body["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        summary.starts_with("BROADCAST RESULTS: echo\n"),
        "{summary}"
    );

    // Even a tool only one server offers is broadcast (SPEC §13).
    let single = post(&gateway, "/tools/check_health/invoke", "{}").await;
    assert_eq!(single.status, 200, "{}", single.body);
    assert_eq!(single.body["structuredContent"]["total_servers"], 1);
    assert_eq!(
        single.body["structuredContent"]["results"]["alpha"],
        json!({"server": "alpha", "status": "ok"})
    );
}

#[tokio::test]
async fn tool_invocation_errors() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    assert_error(
        &post(&gateway, "/tools/nope/invoke", "{}").await,
        404,
        "not_found",
    );
    assert_error(
        &post(&gateway, "/tools/alpha__nope/invoke", "{}").await,
        404,
        "not_found",
    );
    let broken = post(&gateway, "/tools/alpha__echo/invoke", "{\"k\":").await;
    assert_error(&broken, 400, "bad_request");
    let array = post(&gateway, "/tools/alpha__echo/invoke", "[1,2]").await;
    assert_error(&array, 400, "bad_request");
    assert!(
        array.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("JSON object")),
        "{}",
        array.body
    );
}

#[tokio::test]
async fn servers_lists_every_configured_server() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let answer = get(&gateway, "/mcp/servers").await;
    assert_eq!(answer.status, 200);
    assert_eq!(keys(&answer.body), ["servers"]);
    let servers = answer.body["servers"].as_array().expect("servers");
    for server in servers {
        assert_eq!(
            keys(server),
            [
                "description",
                "enabled",
                "healthy",
                "last_error",
                "name",
                "tags",
                "tool_count",
                "type"
            ]
        );
    }
    assert_eq!(names(&answer.body["servers"]), ["alpha", "beta", "gamma"]);
    let alpha = &servers[0];
    assert_eq!(alpha["type"], "http");
    assert_eq!(alpha["description"], "Alpha mock");
    assert_eq!(alpha["tags"], json!(["prod"]));
    assert_eq!(alpha["healthy"], true);
    assert_eq!(servers[1]["tool_count"], 2);
    assert_eq!(servers[2]["enabled"], false);
    assert_eq!(servers[2]["healthy"], false);
}

#[tokio::test]
async fn server_info_adds_handshake_and_tools() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let answer = get(&gateway, "/mcp/server/beta/info").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        keys(&answer.body),
        [
            "description",
            "enabled",
            "healthy",
            "last_error",
            "name",
            "server_info",
            "tags",
            "tool_count",
            "tools",
            "type"
        ]
    );
    assert_eq!(
        keys(&answer.body["server_info"]),
        ["name", "protocol_version", "version"]
    );
    assert_eq!(answer.body["server_info"]["name"], "beta");
    let tools = answer.body["tools"].as_array().expect("tools");
    for tool in tools {
        assert_eq!(
            keys(tool),
            ["description", "exposed_name", "inputSchema", "name"]
        );
    }
    assert_eq!(names(&answer.body["tools"]), ["echo", "fail"]);
    assert_eq!(tools[0]["exposed_name"], "beta__echo");

    let disabled = get(&gateway, "/mcp/server/gamma/info").await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(disabled.body["server_info"], Value::Null);
    assert_eq!(disabled.body["tools"], json!([]));

    assert_error(
        &get(&gateway, "/mcp/server/zeta/info").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn list_tools_uses_backend_names() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let answer = get(&gateway, "/mcp/list-tools?mcp_server=beta").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(keys(&answer.body), ["count", "mcp_server", "tools"]);
    assert_eq!(answer.body["mcp_server"], "beta");
    assert_eq!(answer.body["count"], 2);
    for tool in answer.body["tools"].as_array().expect("tools") {
        assert_eq!(keys(tool), ["description", "inputSchema", "name"]);
    }
    assert_eq!(names(&answer.body["tools"]), ["echo", "fail"]);

    assert_error(&get(&gateway, "/mcp/list-tools").await, 400, "bad_request");
    assert_error(
        &get(&gateway, "/mcp/list-tools?mcp_server=").await,
        400,
        "bad_request",
    );
    assert_error(
        &get(&gateway, "/mcp/list-tools?mcp_server=zeta").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn invoke_by_backend_name() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let answer = post_json(
        &gateway,
        "/mcp/invoke?mcp_server=alpha",
        json!({"tool_name": "echo", "parameters": {"q": "x"}}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        keys(&answer.body),
        [
            "call_result",
            "execution_time_ms",
            "mcp_server",
            "result",
            "success",
            "tool_name"
        ]
    );
    assert_eq!(answer.body["success"], true);
    assert_eq!(answer.body["tool_name"], "echo");
    assert_eq!(answer.body["mcp_server"], "alpha");
    // The payload: the echoed text parses as JSON, so `result` is that JSON.
    assert_eq!(answer.body["result"], json!({"q": "x"}));
    assert_eq!(
        keys(&answer.body["call_result"]),
        ["content", "isError", "resultType"]
    );
    assert!(answer.body["execution_time_ms"].is_u64());

    let structured = post_json(
        &gateway,
        "/mcp/invoke?mcp_server=alpha",
        json!({"tool_name": "check_health"}),
    )
    .await;
    assert_eq!(
        structured.body["result"],
        json!({"server": "alpha", "status": "ok"})
    );
}

#[tokio::test]
async fn a_failing_tool_is_200_with_success_false() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let answer = post_json(
        &gateway,
        "/mcp/invoke?mcp_server=beta",
        json!({"tool_name": "fail", "parameters": {"message": "it broke"}}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], false);
    assert_eq!(answer.body["result"], "it broke");
    assert_eq!(answer.body["call_result"]["isError"], true);
}

#[tokio::test]
async fn invoke_errors() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let echo = json!({"tool_name": "echo"});
    let cases = [
        ("/mcp/invoke", echo.to_string(), 400, "bad_request"),
        (
            "/mcp/invoke?mcp_server=zeta",
            echo.to_string(),
            404,
            "not_found",
        ),
        (
            "/mcp/invoke?mcp_server=beta",
            json!({"tool_name": "check_health"}).to_string(),
            404,
            "not_found",
        ),
        (
            "/mcp/invoke?mcp_server=alpha",
            "{oops".to_owned(),
            400,
            "bad_request",
        ),
        (
            "/mcp/invoke?mcp_server=alpha",
            String::new(),
            400,
            "bad_request",
        ),
        (
            "/mcp/invoke?mcp_server=alpha",
            json!({"tool_name": "echo", "parameters": [1]}).to_string(),
            400,
            "bad_request",
        ),
        (
            "/mcp/invoke?mcp_server=alpha",
            json!({"tool": "echo"}).to_string(),
            400,
            "bad_request",
        ),
        // Disabled: configured, but its tools are unknown and it will not answer.
        (
            "/mcp/invoke?mcp_server=gamma",
            echo.to_string(),
            503,
            "backend_unavailable",
        ),
    ];
    for (path, body, status, code) in cases {
        let answer = post(&gateway, path, body.clone()).await;
        assert_eq!(answer.status, status, "{path} {body}: {}", answer.body);
        assert_error(&answer, status, code);
    }
    let missing = post(&gateway, "/mcp/invoke", echo.to_string()).await;
    assert_eq!(
        missing.body["error"]["message"],
        "query parameter mcp_server is required"
    );
}

#[tokio::test]
async fn a_body_over_max_request_bytes_is_413() {
    let alpha = MockServer::start("http", "alpha", &[]);
    let yaml = format!(
        "servers:\n{}limits:\n  max_request_bytes: 1024\n",
        url_entry("alpha", "http", alpha.url())
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    gateway.wait_for_tool("alpha__echo", true).await;
    let big = json!({"tool_name": "echo", "parameters": {"pad": "x".repeat(2000)}}).to_string();
    for path in [
        "/mcp/invoke?mcp_server=alpha",
        "/mcp/invoke-broadcast",
        "/tools/alpha__echo/invoke",
    ] {
        assert_error(
            &post(&gateway, path, big.clone()).await,
            413,
            "payload_too_large",
        );
    }
    // A chunked body (no Content-Length) is cut off too.
    let chunks = futures::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 400]))),
    );
    let streamed = post(
        &gateway,
        "/tools/alpha__echo/invoke",
        reqwest::Body::wrap_stream(chunks),
    )
    .await;
    assert_error(&streamed, 413, "payload_too_large");
    // Within the limit it works.
    let small = post(&gateway, "/tools/alpha__echo/invoke", "{\"a\":1}").await;
    assert_eq!(small.status, 200, "{}", small.body);
}

#[tokio::test]
async fn a_down_backend_is_503() {
    let mut alpha = MockServer::start("http", "alpha", &[]);
    let yaml = format!("servers:\n{}", url_entry("alpha", "http", alpha.url()));
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    gateway.wait_for_tool("alpha__echo", true).await;
    alpha.kill();
    gateway.wait_healthy(0).await;
    let answer = post_json(
        &gateway,
        "/mcp/invoke?mcp_server=alpha",
        json!({"tool_name": "echo", "parameters": {}}),
    )
    .await;
    assert_error(&answer, 503, "backend_unavailable");
    let direct = post(&gateway, "/tools/alpha__echo/invoke", "{}").await;
    assert_error(&direct, 503, "backend_unavailable");
    // The server is still listed, unhealthy.
    let servers = get(&gateway, "/mcp/servers").await;
    assert_eq!(servers.body["servers"][0]["healthy"], false);
}

#[tokio::test]
async fn a_slow_backend_is_504() {
    let yaml = format!(
        "servers:\n{}",
        with_lines(stdio_mock_entry("slow", &[]), "    timeout: 0.5\n")
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    gateway.wait_for_tool("slow__sleep", true).await;
    let answer = post_json(
        &gateway,
        "/mcp/invoke?mcp_server=slow",
        json!({"tool_name": "sleep", "parameters": {"seconds": 2}}),
    )
    .await;
    assert_error(&answer, 504, "backend_timeout");
    assert_eq!(answer.body["error"]["message"], "timeout after 0.5 s");
}

/// a [prod, elk], b [prod], c [staging, elk].
async fn three_tagged_servers() -> TestGateway {
    let yaml = format!(
        "servers:\n{}{}{}",
        with_lines(stdio_mock_entry("a", &[]), "    tags: [prod, elk]\n"),
        with_lines(stdio_mock_entry("b", &[]), "    tags: [prod]\n"),
        with_lines(stdio_mock_entry("c", &[]), "    tags: [staging, elk]\n"),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(3).await;
    for name in ["a__search_logs", "b__search_logs", "c__search_logs"] {
        gateway.wait_for_tool(name, true).await;
    }
    gateway
}

const BROADCAST_KEYS: [&str; 9] = [
    "call_results",
    "durations_ms",
    "errors",
    "execution_time_ms",
    "failed",
    "results",
    "successful",
    "tool_name",
    "total_servers",
];

#[tokio::test]
async fn broadcast_filters_intersect() {
    let gateway = three_tagged_servers().await;
    let search = |filters: Value| {
        let mut body = json!({"tool_name": "search_logs", "parameters": {"query": "err"}});
        if let (Some(body), Some(filters)) = (body.as_object_mut(), filters.as_object()) {
            body.extend(filters.clone());
        }
        body
    };

    let all = post_json(&gateway, "/mcp/invoke-broadcast", search(json!({}))).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(keys(&all.body), BROADCAST_KEYS);
    assert_eq!(keys(&all.body["results"]), ["a", "b", "c"]);
    assert_eq!(keys(&all.body["call_results"]), ["a", "b", "c"]);
    assert_eq!(all.body["tool_name"], "search_logs");
    let a = all.body["results"]["a"].as_str().unwrap_or_default();
    assert!(a.starts_with("[a] search_logs query=err"), "{a}");

    let prod = post_json(
        &gateway,
        "/mcp/invoke-broadcast",
        search(json!({"tags": ["prod"]})),
    )
    .await;
    assert_eq!(keys(&prod.body["results"]), ["a", "b"]);
    assert_eq!(prod.body["total_servers"], 2);

    let both = post_json(
        &gateway,
        "/mcp/invoke-broadcast",
        search(json!({"tags": ["elk"], "mcp_servers": ["a", "b"]})),
    )
    .await;
    assert_eq!(both.status, 200, "{}", both.body);
    assert_eq!(keys(&both.body["results"]), ["a"]);
    assert_eq!(both.body["total_servers"], 1);
    assert_eq!(both.body["successful"], 1);
    assert_eq!(both.body["failed"], 0);
    assert_eq!(both.body["errors"], json!({}));

    let unknown = post_json(
        &gateway,
        "/mcp/invoke-broadcast",
        search(json!({"mcp_servers": ["a", "zeta"]})),
    )
    .await;
    assert_error(&unknown, 404, "not_found");
    let nothing = post_json(
        &gateway,
        "/mcp/invoke-broadcast",
        search(json!({"tags": ["staging"], "mcp_servers": ["b"]})),
    )
    .await;
    assert_error(&nothing, 404, "not_found");
    let no_tool = post_json(
        &gateway,
        "/mcp/invoke-broadcast",
        json!({"tool_name": "no_such_tool"}),
    )
    .await;
    assert_error(&no_tool, 404, "not_found");
}

#[tokio::test]
async fn a_broadcast_where_every_target_fails_is_still_200() {
    let gateway = three_tagged_servers().await;
    let answer = post_json(
        &gateway,
        "/mcp/invoke-broadcast",
        json!({"tool_name": "fail", "parameters": {"message": "nope"}, "tags": ["elk"]}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(keys(&answer.body), BROADCAST_KEYS);
    assert_eq!(answer.body["total_servers"], 2);
    assert_eq!(answer.body["successful"], 0);
    assert_eq!(answer.body["failed"], 2);
    // Both targets were called: each has its own time.
    assert_eq!(keys(&answer.body["durations_ms"]), ["a", "c"]);
    assert_eq!(answer.body["results"]["c"], "nope");
}

#[tokio::test]
async fn broadcast_body_errors() {
    let gateway = three_tagged_servers().await;
    let cases = [
        "",
        "[]",
        "{\"tool_name\":",
        r#"{"parameters": {}}"#,
        r#"{"tool_name": "echo", "tags": "prod"}"#,
        r#"{"tool_name": "echo", "mcp_server": ["a"]}"#,
    ];
    for body in cases {
        let answer = post(&gateway, "/mcp/invoke-broadcast", body).await;
        assert_error(&answer, 400, "bad_request");
    }
}

#[tokio::test]
async fn config_shows_no_secret() {
    let stdio = with_lines(
        stdio_mock_entry("local", &["--api-key", "arg-s3cr3t"]),
        "    env:\n      LITERAL_VALUE: literal-s3cr3t\n      FROM_REF: env://SOME_TOKEN\n",
    );
    let yaml = format!(
        "servers:\n{stdio}{}",
        url_entry(
            "remote",
            "http",
            "http://someone:pa55w0rd@127.0.0.1:9/mcp?token=query-s3cr3t"
        )
    );
    let gateway = TestGateway::start(&yaml).await;
    let response = reqwest::get(format!("{}/config", gateway.base))
        .await
        .expect("GET /config");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("body");
    for secret in [
        "literal-s3cr3t",
        "pa55w0rd",
        "someone",
        "query-s3cr3t",
        "arg-s3cr3t",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let config: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        keys(&config),
        ["authorization", "limits", "llm", "rate_limits", "servers"]
    );
    assert_eq!(keys(&config["servers"]), ["local", "remote"]);
    assert_eq!(
        config["servers"]["remote"]["url"],
        "http://[REDACTED]@127.0.0.1:9/mcp?token=[REDACTED]"
    );
    assert_eq!(
        config["servers"]["local"]["env"],
        json!({"FROM_REF": "env://SOME_TOKEN", "LITERAL_VALUE": "[REDACTED]"})
    );
}

#[tokio::test]
async fn x_request_id_is_echoed_or_generated() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let client = reqwest::Client::new();
    let sent = client
        .get(format!("{}/tools", gateway.base))
        .header("x-request-id", "caller-id-42")
        .send()
        .await
        .expect("GET /tools");
    assert_eq!(
        answer(sent).await.request_id.as_deref(),
        Some("caller-id-42")
    );

    // Generated: a UUID v4, on successes, errors, other routes and unknown paths alike.
    let mut seen = Vec::new();
    for answer in [
        get(&gateway, "/tools").await,
        get(&gateway, "/mcp/server/zeta/info").await,
        post(&gateway, "/mcp/invoke", "{").await,
        get(&gateway, "/health").await,
        get(&gateway, "/no/such/route").await,
    ] {
        let id = answer.request_id.expect("X-Request-ID on every answer");
        let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        seen.push(id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "ids are not reused");

    // An unusable caller id is replaced.
    let long = "x".repeat(129);
    for bad in ["has space", long.as_str()] {
        let replaced = client
            .get(format!("{}/tools", gateway.base))
            .header("x-request-id", bad)
            .send()
            .await
            .expect("GET /tools");
        let id = answer(replaced).await.request_id.expect("X-Request-ID");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{bad} kept as {id}");
    }
}

#[tokio::test]
async fn guard_refusals_carry_the_request_id_too() {
    let (_alpha, gateway) = two_servers_and_a_disabled_one().await;
    let response = reqwest::Client::new()
        .get(format!("{}/tools", gateway.base))
        .header("origin", "https://evil.example.com")
        .header("x-request-id", "refused-1")
        .send()
        .await
        .expect("GET /tools");
    let refused = answer(response).await;
    assert_error(&refused, 403, "forbidden_origin");
    assert_eq!(refused.request_id.as_deref(), Some("refused-1"));
}

#[tokio::test]
async fn execution_time_is_measured() {
    let yaml = format!("servers:\n{}", stdio_mock_entry("s", &[]));
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    gateway.wait_for_tool("s__sleep", true).await;
    let started = Instant::now();
    let answer = post_json(
        &gateway,
        "/mcp/invoke?mcp_server=s",
        json!({"tool_name": "sleep", "parameters": {"seconds": 0.2}}),
    )
    .await;
    let wall = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let measured = answer.body["execution_time_ms"].as_u64().expect("a number");
    // The backend slept 200 ms; the gateway cannot have measured less, nor more than the
    // caller waited.
    assert!(measured >= 200, "{measured}");
    assert!(measured <= wall, "{measured} > {wall}");
}
