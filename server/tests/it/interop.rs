//! Real third-party peers: the official Python SDK as client (streamable HTTP in both protocol
//! eras, legacy SSE) and as backend (SSE, streamable HTTP), `mcp-server-time` (PyPI, stdio) and
//! `@modelcontextprotocol/server-everything` (npm, stdio) behind the gateway.

use serde_json::{Value, json};

use crate::common::node::server_everything;
use crate::common::python::{python, python_backend, run_client};
use crate::common::*;

fn assert_mock_tools_and_calls(report: &Value) {
    let results = report["results"].as_array().expect("results");
    let names: Vec<&str> = results[0]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list failed: {report}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for expected in ["alpha__echo", "beta__echo", "gamma__echo"] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    assert_eq!(results[1]["is_error"], false, "{report}");
    assert!(
        results[1]["text"]
            .as_str()
            .unwrap_or("")
            .contains("[alpha]"),
        "{report}"
    );
    assert!(
        results[2]["text"].as_str().unwrap_or("").contains("[beta]"),
        "{report}"
    );
    assert!(
        results[3]["text"]
            .as_str()
            .unwrap_or("")
            .contains("[gamma]"),
        "{report}"
    );
    assert_eq!(results[4]["is_error"], true, "{report}");
}

fn plan(url: &str, mode: &str) -> Value {
    json!({
        "url": url,
        "mode": mode,
        "steps": [
            ["list_tools"],
            ["call", "alpha__search_logs", {"query": "q"}],
            ["call", "beta__search_logs", {"query": "q"}],
            ["call", "gamma__search_logs", {"query": "q"}],
            ["call", "alpha__fail", {"message": "expected"}],
        ]
    })
}

#[tokio::test]
async fn python_sdk_client_in_legacy_mode() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let report = run_client(plan(&gateway.mcp_url(), "legacy")).await;
    assert_mock_tools_and_calls(&report);
}

#[tokio::test]
async fn python_sdk_client_in_auto_mode() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let report = run_client(plan(&gateway.mcp_url(), "auto")).await;
    assert_mock_tools_and_calls(&report);
    assert_eq!(
        report["protocol_version"], "2026-07-28",
        "auto mode negotiates the newest era"
    );
}

#[tokio::test]
async fn python_sdk_client_over_legacy_sse() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let report = run_client(plan(&format!("{}/sse", gateway.base), "sse")).await;
    assert_mock_tools_and_calls(&report);
}

/// `params.server` narrows `tools/list` on every transport (SPEC §12), legacy SSE included.
#[tokio::test]
async fn tools_list_of_one_server_over_streamable_http_and_legacy_sse() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    for (url, mode) in [
        (gateway.mcp_url(), "auto"),
        (format!("{}/sse", gateway.base), "sse"),
    ] {
        let report = run_client(json!({
            "url": url,
            "mode": mode,
            "steps": [["list_tools_of", "beta"], ["list_tools"]],
        }))
        .await;
        let names = |step: usize| -> Vec<String> {
            serde_json::from_value(report["results"][step].clone())
                .unwrap_or_else(|_| panic!("{mode}: step {step} failed: {report}"))
        };
        let of_beta = names(0);
        assert!(
            of_beta.contains(&"beta__echo".to_owned()),
            "{mode}: {report}"
        );
        assert!(
            of_beta.iter().all(|name| name.starts_with("beta__")),
            "{mode}: only beta's tools: {report}"
        );
        let all = names(1);
        assert!(all.contains(&"alpha__echo".to_owned()), "{mode}: {report}");
    }
}

#[tokio::test]
async fn python_sdk_backends_over_sse_and_streamable_http() {
    let (sse_port, http_port) = (free_port(), free_port());
    let _sse = python_backend("pysse", "sse", sse_port);
    let _http = python_backend("pyhttp", "streamable-http", http_port);
    let yaml = format!(
        "servers:\n{}{}",
        url_entry("pysse", "sse", &format!("http://127.0.0.1:{sse_port}/sse")),
        url_entry(
            "pyhttp",
            "http",
            &format!("http://127.0.0.1:{http_port}/mcp")
        ),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "pysse__add", json!({"a": 2, "b": 3}))
        .await
        .expect("add");
    assert_eq!(text_of(&result), "5");
    let result = call(&client, "pyhttp__search_logs", json!({"query": "x"}))
        .await
        .expect("search");
    assert!(
        text_of(&result).contains("[pyhttp] python search_logs"),
        "{result:?}"
    );
}

#[tokio::test]
async fn mcp_server_time_and_server_everything_over_stdio() {
    let (node, everything) = server_everything();
    let yaml = format!(
        "servers:\n  time:\n    type: stdio\n    command: {}\n    args: [\"-m\", \"mcp_server_time\", \"--local-timezone\", \"UTC\"]\n  everything:\n    type: stdio\n    command: {node}\n    args: [{:?}, \"stdio\"]\n",
        python().display(),
        everything.display().to_string(),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(
        &client,
        "time__get_current_time",
        json!({"timezone": "UTC"}),
    )
    .await
    .expect("time");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert!(text_of(&result).contains("UTC"), "{}", text_of(&result));
    let result = call(
        &client,
        "everything__echo",
        json!({"message": "hello gateway"}),
    )
    .await
    .expect("echo");
    assert!(
        text_of(&result).contains("hello gateway"),
        "{}",
        text_of(&result)
    );
}
