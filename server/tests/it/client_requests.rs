//! A backend's requests to its client during a call — `sampling/createMessage`,
//! `elicitation/create` (form and url), `roots/list` — reach the downstream client that made
//! the call and its answers go back; callers that cannot answer make the backend get an error
//! at once. Real peers: the Python SDK as client (with callbacks) and as backend (stdio and
//! streamable HTTP, the gateway's own HTTP client), and `server-everything` over stdio.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::node::server_everything;
use crate::common::python::{python_backend, python_stdio_entry, run_client};
use crate::common::*;

/// What the Python client answers: its model's text, a form's content, its roots.
const SAMPLED: &str = "a sampled answer from the client";
const ROOT_URI: &str = "file:///work/project";

/// A client that answers everything it can be asked.
fn answering_client(url: &str, steps: Value) -> Value {
    json!({
        "url": url,
        "mode": "legacy",
        "sampling": SAMPLED,
        "elicitation": {"content": {"name": "Ada"}},
        "roots": [{"uri": ROOT_URI, "name": "project"}],
        "steps": steps,
    })
}

fn result(report: &Value, step: usize) -> &Value {
    &report["results"][step]
}

fn text(report: &Value, step: usize) -> &str {
    result(report, step)["text"].as_str().unwrap_or_default()
}

fn asked(report: &Value) -> Vec<String> {
    report["asked"]
        .as_array()
        .map(|asked| {
            asked
                .iter()
                .filter_map(|a| a["method"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Gateway config for the Python backend over streamable HTTP, with a long call timeout so
/// that a refusal cannot be mistaken for one.
fn http_backend_yaml(port: u16) -> String {
    format!(
        "servers:\n{}    timeout: 60\n",
        url_entry("py", "http", &format!("http://127.0.0.1:{port}/mcp"))
    )
}

#[tokio::test]
async fn server_everything_over_stdio_samples_and_elicits_through_the_calling_client() {
    let (node, everything) = server_everything();
    let yaml = format!(
        "servers:\n  everything:\n    type: stdio\n    command: {node}\n    args: [{:?}, \"stdio\"]\n",
        everything.display().to_string(),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    // Registered once the backend saw the gateway declare sampling and elicitation.
    gateway
        .wait_for_tool("everything__trigger-sampling-request", true)
        .await;
    gateway
        .wait_for_tool("everything__trigger-url-elicitation", true)
        .await;
    let report = run_client(answering_client(
        &gateway.mcp_url(),
        json!([
            ["call", "everything__trigger-sampling-request", {"prompt": "say hi", "maxTokens": 20}],
            ["call", "everything__trigger-elicitation-request", {}],
            ["call", "everything__trigger-url-elicitation", {"url": "https://example.com/consent"}],
        ]),
    ))
    .await;
    assert_eq!(result(&report, 0)["is_error"], false, "{report}");
    assert!(text(&report, 0).contains(SAMPLED), "{report}");
    assert_eq!(result(&report, 1)["is_error"], false, "{report}");
    assert!(text(&report, 1).contains("Name: Ada"), "{report}");
    assert_eq!(result(&report, 2)["is_error"], false, "{report}");
    assert!(
        text(&report, 2).contains("User completed the URL elicitation flow"),
        "{report}"
    );
    let asked_texts: Vec<&str> = report["asked"]
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["text"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        asked_texts.iter().any(|t| t.contains("say hi")),
        "the client saw the backend's prompt: {report}"
    );
    assert!(
        asked_texts.contains(&"https://example.com/consent"),
        "{report}"
    );
}

/// Over streamable HTTP: the request arrives on the call's own stream (the gateway's own
/// client; rmcp's with `GATEWAY_UPSTREAM_CLIENT=rmcp`), or, for `roots/list`, which the
/// Python SDK sends without naming the call, on the session's stream. The client is a
/// streamable HTTP client, then a legacy SSE one.
#[tokio::test]
async fn a_python_backend_over_streamable_http_asks_the_calling_client() {
    let port = free_port();
    let _backend = python_backend("py", "streamable-http", port);
    let gateway = TestGateway::start(&http_backend_yaml(port)).await;
    gateway.wait_healthy(1).await;
    for (url, mode) in [
        (gateway.mcp_url(), "legacy"),
        (format!("{}/sse", gateway.base), "sse"),
    ] {
        let mut plan = answering_client(
            &url,
            json!([
                ["call", "py__sample", {"prompt": "what is 2+2?"}],
                ["call", "py__ask_name", {}],
                ["call", "py__ask_consent", {}],
                ["call", "py__roots", {}],
            ]),
        );
        plan["mode"] = json!(mode);
        let report = run_client(plan).await;
        for step in 0..4 {
            assert_eq!(result(&report, step)["is_error"], false, "{mode}: {report}");
        }
        assert_eq!(text(&report, 0), format!("sampled: {SAMPLED}"), "{report}");
        assert_eq!(text(&report, 1), "elicited: accept Ada", "{report}");
        assert_eq!(text(&report, 2), "url elicitation: accept", "{report}");
        assert_eq!(
            text(&report, 3),
            format!("roots: project={ROOT_URI}"),
            "{report}"
        );
        assert_eq!(
            asked(&report),
            [
                "sampling/createMessage",
                "elicitation/create",
                "elicitation/create",
                "roots/list"
            ],
            "{mode}: {report}"
        );
    }
}

/// Clients that did not declare what the backend asks: the backend gets an error at once and
/// the call ends with it, far sooner than the call's timeout (60 s).
#[tokio::test]
async fn clients_without_the_capability_make_the_backend_fail_at_once() {
    let port = free_port();
    let _backend = python_backend("py", "streamable-http", port);
    let gateway = TestGateway::start(&http_backend_yaml(port)).await;
    gateway.wait_healthy(1).await;
    let started = Instant::now();
    // No capability at all (its calls take the session fast path), then roots only.
    let bare = run_client(json!({
        "url": gateway.mcp_url(),
        "mode": "legacy",
        "steps": [["call", "py__sample", {"prompt": "p"}], ["call", "py__ask_name", {}]],
    }))
    .await;
    let roots_only = run_client(json!({
        "url": gateway.mcp_url(),
        "mode": "legacy",
        "roots": [{"uri": ROOT_URI, "name": "project"}],
        "steps": [["call", "py__sample", {"prompt": "p"}], ["call", "py__roots", {}]],
    }))
    .await;
    let elapsed = started.elapsed();
    for (report, step, capability) in [
        (&bare, 0, "sampling"),
        (&bare, 1, "elicitation"),
        (&roots_only, 0, "sampling"),
    ] {
        assert_eq!(result(report, step)["is_error"], true, "{report}");
        let text = text(report, step);
        assert!(
            text.contains("does not support") && text.contains(capability),
            "the backend's error names what is missing: {report}"
        );
    }
    assert!(asked(&bare).is_empty(), "{bare}");
    // What it declared is still asked.
    assert_eq!(result(&roots_only, 1)["is_error"], false, "{roots_only}");
    assert_eq!(asked(&roots_only), ["roots/list"], "{roots_only}");
    assert!(
        elapsed < Duration::from_secs(20),
        "four calls took {elapsed:?}, a third of one call's timeout: the refusals waited"
    );
}

/// A plain JSON-RPC caller has no client to ask: the call fails at once with the reason.
#[tokio::test]
async fn a_plain_json_rpc_call_that_would_sample_fails_at_once() {
    let port = free_port();
    let _backend = python_backend("py", "streamable-http", port);
    let gateway = TestGateway::start(&http_backend_yaml(port)).await;
    gateway.wait_healthy(1).await;
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(gateway.mcp_url())
        .header("content-type", "application/json")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "py__sample", "arguments": {"prompt": "p"}}})
            .to_string(),
        )
        .send()
        .await
        .expect("POST /mcp");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    let elapsed = started.elapsed();
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("does not support sampling/createMessage"),
        "{body}"
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "took {elapsed:?} of a 60 s timeout"
    );
}

/// Over stdio a request cannot say which call it belongs to: with the calls of one client in
/// flight it goes to that client; with another caller's call in flight too it is refused.
#[tokio::test]
async fn over_stdio_the_calls_in_flight_decide_and_several_callers_are_refused() {
    let yaml = format!(
        "servers:\n{}    timeout: 60\n",
        python_stdio_entry("pys", &[])
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    // Another caller's call, in flight for a while (a plain JSON-RPC caller); the backend
    // creates `marker` when it starts.
    let marker = std::env::temp_dir().join(format!("gw-wait-{}", free_port()));
    let _ = std::fs::remove_file(&marker);
    let url = gateway.mcp_url();
    let arguments = json!({"seconds": 10, "marker": marker.display().to_string()});
    let other = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "pys__wait", "arguments": arguments}})
                .to_string(),
            )
            .send()
            .await
            .expect("POST /mcp")
            .json::<Value>()
            .await
            .expect("JSON")
    });
    let deadline = Instant::now() + PATIENCE;
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the other call never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let during = run_client(answering_client(
        &gateway.mcp_url(),
        json!([["call", "pys__sample", {"prompt": "p"}]]),
    ))
    .await;
    let other = other.await.expect("the other call");
    let _ = std::fs::remove_file(&marker);
    assert_eq!(
        other["result"]["content"][0]["text"], "waited 10.0",
        "the other call was still in flight: {other}"
    );
    let alone = run_client(answering_client(
        &gateway.mcp_url(),
        json!([["call", "pys__sample", {"prompt": "p"}]]),
    ))
    .await;
    assert_eq!(result(&during, 0)["is_error"], true, "{during}");
    assert!(
        text(&during, 0).contains("several callers have calls in flight"),
        "{during}"
    );
    assert!(asked(&during).is_empty(), "{during}");
    assert_eq!(result(&alone, 0)["is_error"], false, "{alone}");
    assert_eq!(text(&alone, 0), format!("sampled: {SAMPLED}"), "{alone}");
}

/// A call that ends while its client has not answered yet (here: its timeout) does not leave
/// the backend waiting: the backend's request gets an error, and the client is told to stop.
#[tokio::test]
async fn a_call_that_ends_first_answers_the_backend_and_stops_the_client() {
    let port = free_port();
    let _backend = python_backend("py", "streamable-http", port);
    let yaml = format!(
        "servers:\n{}    timeout: 2\n",
        url_entry("py", "http", &format!("http://127.0.0.1:{port}/mcp"))
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    let outcome_file = std::env::temp_dir().join(format!("gw-sample-{}", free_port()));
    let _ = std::fs::remove_file(&outcome_file);
    let mut plan = answering_client(
        &gateway.mcp_url(),
        json!([
            ["call", "py__sample", {"prompt": "p", "outcome_file": outcome_file.display().to_string()}],
            // The client stays: its session cannot be what ends the request.
            ["sleep", 6],
        ]),
    );
    plan["sampling_delay"] = json!(600);
    let client = tokio::spawn(run_client(plan));
    let deadline = Instant::now() + PATIENCE;
    let outcome = loop {
        if let Ok(outcome) = std::fs::read_to_string(&outcome_file)
            && !outcome.is_empty()
        {
            break outcome;
        }
        assert!(
            Instant::now() < deadline,
            "the backend's request was never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = std::fs::remove_file(&outcome_file);
    assert!(
        outcome.contains("the call this request belongs to ended"),
        "{outcome}"
    );
    let report = client.await.expect("client");
    assert_eq!(result(&report, 0)["is_error"], true, "{report}");
    assert!(text(&report, 0).contains("timeout"), "{report}");
    assert_eq!(
        asked(&report),
        ["sampling/createMessage", "cancelled"],
        "the client was told to stop: {report}"
    );
}
