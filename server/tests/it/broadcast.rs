//! `broadcast__<tool>` and `broadcast__by_tag__<tag>` over MCP: concurrency, partial results,
//! timeouts, the SPEC result shapes, progress, and tools that come and go with their servers.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::python::run_client;
use crate::common::*;
use crate::mcp::{call_with_progress_token, list_changed_count, recording_client};

fn tagged_http(name: &str, url: &str, tags: &str, extra: &str) -> String {
    format!("  {name}:\n    type: http\n    url: {url}\n    tags: [{tags}]\n{extra}")
}

#[tokio::test]
async fn a_broadcast_runs_its_targets_concurrently() {
    let a = MockServer::start("http", "a", &[]);
    let b = MockServer::start("http", "b", &[]);
    let yaml = format!(
        "servers:\n{}{}",
        url_entry("a", "http", a.url()),
        url_entry("b", "http", b.url())
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let started = Instant::now();
    let result = call(&client, "broadcast__sleep", json!({"seconds": 1}))
        .await
        .expect("call");
    let elapsed = started.elapsed();
    // Two targets that each sleep 1 s: concurrent is ~1 s, sequential would be 2 s.
    assert!(elapsed < Duration::from_millis(1800), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_secs(1), "took {elapsed:?}");
    let structured = result.structured_content.expect("structuredContent");
    assert_eq!(structured["successful"], 2, "{structured}");
}

#[tokio::test]
async fn failures_and_timeouts_are_reported_while_the_rest_return() {
    let ok = MockServer::start("http", "ok", &[]);
    let slow = MockServer::start("http", "slow", &["--latency-ms", "3000"]);
    let mut dead = MockServer::start("http", "dead", &[]);
    let yaml = format!(
        "servers:\n{}{}    timeout: 0.5\n{}",
        url_entry("ok", "http", ok.url()),
        url_entry("slow", "http", slow.url()),
        url_entry("dead", "http", dead.url()),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(3).await;
    dead.kill();
    gateway.wait_healthy(2).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "broadcast__echo", json!({"q": "x"}))
        .await
        .expect("call");
    assert_eq!(result.is_error, Some(false), "one target succeeded");
    let s = result
        .structured_content
        .clone()
        .expect("structuredContent");
    assert_eq!(s["tool_name"], "echo");
    assert_eq!(s["total_servers"], 3);
    assert_eq!(s["successful"], 1);
    assert_eq!(s["failed"], 2);
    assert_eq!(s["results"]["ok"], json!({"q": "x"}));
    assert_eq!(s["errors"]["slow"], "timeout after 0.5 s");
    assert_eq!(s["errors"]["dead"], "backend unavailable");

    let text = text_of(&result);
    assert!(
        text.starts_with(
            "BROADCAST RESULTS: echo\nTotal Servers: 3\nSuccessful: 1\nFailed: 2\nExecution Time: "
        ),
        "{text}"
    );
    assert!(text.contains("RESULTS BY SERVER:\n--------------------------------------------------------------------------------\n"));
    let dead_at = text
        .find("[dead] ERROR: backend unavailable")
        .expect("dead block");
    let ok_at = text.find("[ok]\n{\"q\":\"x\"}").expect("ok block");
    let slow_at = text
        .find("[slow] ERROR: timeout after 0.5 s")
        .expect("slow block");
    assert!(
        dead_at < ok_at && ok_at < slow_at,
        "blocks sorted by server: {text}"
    );

    let wire = serde_json::to_value(&result).expect("json");
    assert_eq!(wire["content"][1]["type"], "resource");
    assert_eq!(
        wire["content"][1]["resource"]["uri"],
        "gateway://results/echo"
    );
    let resource: Value = serde_json::from_str(
        wire["content"][1]["resource"]["text"]
            .as_str()
            .expect("text"),
    )
    .expect("resource JSON");
    assert_eq!(resource, s);
}

#[tokio::test]
async fn every_target_failing_is_an_error_result() {
    let a = MockServer::start("http", "a", &[]);
    let b = MockServer::start("http", "b", &[]);
    let yaml = format!(
        "servers:\n{}{}",
        url_entry("a", "http", a.url()),
        url_entry("b", "http", b.url())
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "broadcast__fail", json!({"message": "no"}))
        .await
        .expect("call");
    assert_eq!(result.is_error, Some(true));
    let s = result.structured_content.expect("structured");
    assert_eq!(
        (s["successful"].clone(), s["failed"].clone()),
        (json!(0), json!(2))
    );
    assert_eq!(
        s["results"]["a"], "no",
        "an isError result still counts among results"
    );
}

#[tokio::test]
async fn the_overall_broadcast_timeout_ends_the_fan_out() {
    let a = MockServer::start("http", "a", &[]);
    let b = MockServer::start("http", "b", &[]);
    let yaml = format!(
        "servers:\n{}{}limits:\n  broadcast_timeout: 1\n",
        url_entry("a", "http", a.url()),
        url_entry("b", "http", b.url())
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let started = Instant::now();
    let result = call(&client, "broadcast__sleep", json!({"seconds": 5}))
        .await
        .expect("call");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let s = result.structured_content.expect("structured");
    assert_eq!(
        s["errors"],
        json!({"a": "timeout after 1 s", "b": "timeout after 1 s"})
    );
    assert_eq!(result.is_error, Some(true));
    // The backends were told to stop and keep serving.
    let result = call(&client, "a__echo", json!({"after": 1}))
        .await
        .expect("echo");
    assert_ne!(result.is_error, Some(true));
}

#[tokio::test]
async fn tag_broadcasts_call_the_chosen_tool_on_every_tagged_server() {
    let a = MockServer::start("http", "a", &[]);
    let b = MockServer::start("http", "b", &["--tools", "echo,check_health"]);
    let c = MockServer::start("http", "c", &[]);
    let yaml = format!(
        "servers:\n{}{}{}",
        tagged_http("a", a.url(), "elk-cluster, prod", ""),
        tagged_http("b", b.url(), "elk-cluster", ""),
        tagged_http("c", c.url(), "staging", ""),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(3).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let tools = client.peer().list_all_tools().await.expect("list");
    let tag_tool = tools
        .iter()
        .find(|t| t.name == "broadcast__by_tag__elk_cluster")
        .expect("tag broadcast tool");
    let schema = serde_json::to_value(&tag_tool.input_schema).expect("schema");
    let enum_values = schema["properties"]["tool_name"]["enum"]
        .as_array()
        .expect("enum");
    assert!(enum_values.contains(&json!("search_logs")) && enum_values.contains(&json!("echo")));
    assert!(
        !tools.iter().any(|t| t.name == "broadcast__by_tag__prod"),
        "one server only"
    );

    let result = call(
        &client,
        "broadcast__by_tag__elk_cluster",
        json!({"tool_name": "echo", "arguments": {"v": 1}}),
    )
    .await
    .expect("call");
    let s = result.structured_content.clone().expect("structured");
    assert_eq!(s["total_servers"], 2);
    assert_eq!(s["results"], json!({"a": {"v": 1}, "b": {"v": 1}}));
    assert!(text_of(&result).starts_with("BROADCAST RESULTS: echo\n"));

    // Only servers offering the tool are targets: b has no search_logs.
    let result = call(
        &client,
        "broadcast__by_tag__elk_cluster",
        json!({"tool_name": "search_logs", "arguments": {"query": "q"}}),
    )
    .await
    .expect("call");
    let s = result.structured_content.expect("structured");
    assert_eq!(s["total_servers"], 1, "{s}");

    let error = call(
        &client,
        "broadcast__by_tag__elk_cluster",
        json!({"tool_name": "nope"}),
    )
    .await
    .expect_err("unknown tool_name");
    match error {
        rmcp::ServiceError::McpError(e) => assert_eq!(e.code.0, -32602),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn one_progress_notification_per_finished_target() {
    let a = MockServer::start("http", "a", &[]);
    let b = MockServer::start("http", "b", &[]);
    let c = MockServer::start("http", "c", &[]);
    let yaml = format!(
        "servers:\n{}{}{}",
        url_entry("a", "http", a.url()),
        url_entry("b", "http", b.url()),
        url_entry("c", "http", c.url())
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(3).await;
    let (client, recorder) = recording_client(&gateway.mcp_url()).await;
    call_with_progress_token(&client, "broadcast__echo", json!({"p": 1})).await;
    // Progress notifications travel ahead of the response on the same stream.
    let deadline = Instant::now() + PATIENCE;
    while recorder.progress.load(Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "got {}",
            recorder.progress.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(recorder.progress.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn broadcast_tools_appear_and_vanish_with_their_servers() {
    let a = MockServer::start("http", "a", &[]);
    let b = MockServer::start("http", "b", &[]);
    let one = format!("servers:\n{}", url_entry("a", "http", a.url()));
    let gateway = TestGateway::start(&one).await;
    gateway.wait_healthy(1).await;
    let (client, recorder) = recording_client(&gateway.mcp_url()).await;
    assert!(
        !client
            .peer()
            .list_all_tools()
            .await
            .expect("list")
            .iter()
            .any(|t| t.name == "broadcast__echo")
    );
    let before = list_changed_count(&recorder);

    gateway.rewrite_config(&format!("{one}{}", url_entry("b", "http", b.url())));
    gateway.wait_for_tool("broadcast__echo", true).await;
    let tools = client.peer().list_all_tools().await.expect("list");
    let echo = tools
        .iter()
        .find(|t| t.name == "broadcast__echo")
        .expect("broadcast__echo");
    assert!(
        echo.description.as_deref().unwrap_or("").contains("a, b"),
        "{:?}",
        echo.description
    );
    assert!(
        echo.output_schema.is_some(),
        "broadcast tools declare an outputSchema"
    );
    let deadline = Instant::now() + PATIENCE;
    while list_changed_count(&recorder) == before {
        assert!(Instant::now() < deadline, "no list_changed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    gateway.rewrite_config(&one);
    gateway.wait_for_tool("broadcast__echo", false).await;
}

#[tokio::test]
async fn the_python_sdk_reads_broadcast_results() {
    let a = MockServer::start("http", "a", &[]);
    let yaml = format!(
        "servers:\n{}{}",
        url_entry("a", "http", a.url()),
        stdio_mock_entry("b", &[])
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    for mode in ["legacy", "auto"] {
        let report = run_client(json!({
            "url": gateway.mcp_url(),
            "mode": mode,
            "steps": [["call", "broadcast__search_logs", {"query": "err"}]]
        }))
        .await;
        let result = &report["results"][0];
        assert_eq!(result["is_error"], false, "{mode}: {report}");
        assert_eq!(result["structured"]["successful"], 2, "{mode}: {report}");
        assert!(
            result["text"]
                .as_str()
                .unwrap_or("")
                .contains("[b]\n[b] search_logs"),
            "{mode}: {report}"
        );
    }
}
