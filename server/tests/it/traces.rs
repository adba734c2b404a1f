//! OTLP traces from the gateway binary to a receiver this test runs (OTLP/HTTP with JSON
//! bodies): a span per request, a child per backend call with the MCP attributes, the
//! caller's `traceparent` continued, and the backend's own `traceparent` naming its span.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

use crate::common::process::GatewayProcess;
use crate::common::*;

/// OTLP span kinds.
const SERVER: u64 = 2;
const CLIENT: u64 = 3;

/// Every span received, flattened: `{trace, id, parent, name, kind, attributes, service}`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Value>>>);

async fn collect(State(received): State<Received>, body: Bytes) -> &'static str {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut spans = received.0.lock().unwrap();
    for resource in request["resourceSpans"].as_array().into_iter().flatten() {
        let service = attribute(&resource["resource"]["attributes"], "service.name");
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let mut attributes = serde_json::Map::new();
                for pair in span["attributes"].as_array().into_iter().flatten() {
                    let value = &pair["value"];
                    let value = value
                        .get("stringValue")
                        .or(value.get("intValue"))
                        .or(value.get("boolValue"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    attributes.insert(pair["key"].as_str().unwrap_or_default().to_owned(), value);
                }
                spans.push(json!({
                    "trace": span["traceId"],
                    "id": span["spanId"],
                    "parent": span["parentSpanId"],
                    "name": span["name"],
                    "kind": span["kind"],
                    "attributes": attributes,
                    "service": service,
                }));
            }
        }
    }
    "{}"
}

fn attribute(attributes: &Value, key: &str) -> Value {
    attributes
        .as_array()
        .into_iter()
        .flatten()
        .find(|pair| pair["key"] == key)
        .map(|pair| pair["value"]["stringValue"].clone())
        .unwrap_or(Value::Null)
}

async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(collect))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

impl Received {
    /// Wait for spans matching `predicate` until there are `count` of them.
    async fn wait_for(
        &self,
        what: &str,
        count: usize,
        predicate: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found: Vec<Value> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|s| predicate(s))
                .cloned()
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} span: {:#?}",
                self.0.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A plain JSON-RPC `tools/call` of `tool`, with `traceparent` when given; the result's text.
async fn plain_call(gateway: &GatewayProcess, tool: &str, traceparent: Option<&str>) -> String {
    let mut request = reqwest::Client::new()
        .post(format!("{}/mcp", gateway.base))
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": {}}
        }));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

#[tokio::test]
async fn requests_and_backend_calls_become_spans_and_backends_get_traceparent() {
    let (collector, received) = receiver().await;
    let alpha = MockServer::start("http", "alpha", &[]);
    let beta = MockServer::start("http", "beta", &[]);
    let yaml = format!(
        "servers:\n{}{}",
        url_entry("alpha", "http", alpha.url()),
        url_entry("beta", "http", beta.url())
    );
    let gateway = GatewayProcess::start(
        &yaml,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_SERVICE_NAME", "gateway-under-test".to_owned()),
            // `traceparent` goes out through the gateway's own HTTP client (rmcp's client,
            // which `make test`'s second pass selects, sends no per-call headers).
            ("GATEWAY_UPSTREAM_CLIENT", "auto".to_owned()),
        ],
    )
    .await;
    gateway.wait_healthy(2).await;

    // A call whose caller started the trace: the gateway continues it.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let seen = plain_call(
        &gateway,
        "alpha__headers",
        Some(&format!("00-{caller_trace}-{caller_span}-01")),
    )
    .await;
    let seen: Value = serde_json::from_str(&seen).expect("the headers the backend saw");

    let request = received
        .wait_for("request", 1, |s| {
            s["kind"] == SERVER
                && s["attributes"]["mcp.method.name"] == "tools/call"
                && s["trace"] == caller_trace
        })
        .await
        .remove(0);
    assert_eq!(request["parent"], caller_span, "{request}");
    assert_eq!(request["name"], "POST /mcp");
    assert_eq!(request["service"], "gateway-under-test");
    assert_eq!(
        request["attributes"]["http.response.status_code"]
            .to_string()
            .trim_matches('"'),
        "200"
    );
    let backend = received
        .wait_for("backend call", 1, |s| s["parent"] == request["id"])
        .await
        .remove(0);
    assert_eq!(backend["trace"], caller_trace);
    assert_eq!(backend["kind"], CLIENT);
    assert_eq!(backend["name"], "tools/call headers");
    assert_eq!(backend["attributes"]["gen_ai.tool.name"], "headers");
    assert_eq!(backend["attributes"]["mcp.server"], "alpha");
    assert_eq!(backend["attributes"]["mcp.call.status"], "success");
    // The backend was told which span called it.
    let traceparent = seen["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("{seen}"));
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts[1], caller_trace, "{traceparent}");
    assert_eq!(parts[2], backend["id"].as_str().unwrap(), "{traceparent}");

    // A broadcast: one request span, a child per target.
    plain_call(&gateway, "broadcast__echo", None).await;
    let request = received
        .wait_for("broadcast request", 1, |s| {
            s["kind"] == SERVER
                && s["attributes"]["mcp.method.name"] == "tools/call"
                && s["trace"] != caller_trace
        })
        .await
        .remove(0);
    let targets = received
        .wait_for("broadcast target", 2, |s| s["parent"] == request["id"])
        .await;
    let mut servers: Vec<&str> = targets
        .iter()
        .map(|s| s["attributes"]["mcp.server"].as_str().unwrap())
        .collect();
    servers.sort();
    assert_eq!(servers, ["alpha", "beta"]);
    assert!(targets.iter().all(|s| s["trace"] == request["trace"]));

    // A session's call (rmcp serves it in the session's own task): the same parentage.
    let client = rmcp_client(&format!("{}/mcp", gateway.base)).await;
    let result = call(&client, "beta__echo", json!({"in": "session"}))
        .await
        .expect("call");
    assert_ne!(result.is_error, Some(true));
    let backend = received
        .wait_for("session backend call", 1, |s| {
            s["kind"] == CLIENT
                && s["attributes"]["gen_ai.tool.name"] == "echo"
                && s["attributes"]["mcp.server"] == "beta"
                && !targets.iter().any(|t| t["id"] == s["id"])
        })
        .await
        .remove(0);
    let parent = received
        .wait_for("session request", 1, |s| s["id"] == backend["parent"])
        .await
        .remove(0);
    assert_eq!(parent["kind"], SERVER);
    assert_eq!(parent["attributes"]["mcp.method.name"], "tools/call");
    assert!(
        parent["attributes"]["mcp.session.id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{parent}"
    );
}
