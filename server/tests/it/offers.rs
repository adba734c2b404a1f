//! Prompts and resources through the gateway (SPEC §14): `@modelcontextprotocol/server-everything`
//! and a Python SDK server as backends (stdio), the official Python SDK as client in both
//! protocol eras and over legacy SSE, plain JSON-RPC; names, paging, completions,
//! subscriptions, authorization and audit.

use serde_json::{Value, json};

use crate::common::node::server_everything;
use crate::common::python::{python_stdio_entry, run_client};
use crate::common::*;

fn everything_entry() -> String {
    let (node, everything) = server_everything();
    format!(
        "  everything:\n    type: stdio\n    command: {node}\n    args: [{:?}, \"stdio\"]\n",
        everything.display().to_string()
    )
}

/// server-everything, the Python backend `py` with 150 more resources, and the mock `alpha`
/// (tools only).
async fn gateway_with_offers(extra_yaml: &str) -> TestGateway {
    let yaml = format!(
        "servers:\n{}{}{}{extra_yaml}",
        everything_entry(),
        python_stdio_entry("py", &["--resources", "150"]),
        stdio_mock_entry("alpha", &[]),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(3).await;
    gateway
}

fn names(listed: &Value) -> Vec<&str> {
    listed["names"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {listed}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// Every step of the prompt and resource tour; the same for each era and transport.
fn tour(url: &str, mode: &str) -> Value {
    json!({
        "url": url,
        "mode": mode,
        "steps": [
            ["capabilities"],
            ["list_prompts"],
            ["get_prompt", "py__incident_summary", {"service": "db"}],
            ["get_prompt", "everything__args-prompt", {"city": "Paris"}],
            ["list_resources"],
            ["list_resource_templates"],
            ["read_resource", "py+notes://runbook"],
            ["read_resource", "py+notes://disks/latest"],
            ["read_resource", "everything+demo://resource/dynamic/text/1"],
            ["complete_prompt", "everything__completable-prompt", "department", "Eng"],
            ["get_prompt", "alpha__nothing", {}],
            ["read_resource", "nobody+notes://runbook"],
        ]
    })
}

fn assert_tour(report: &Value) {
    let results = report["results"].as_array().expect("results");
    let capabilities = &results[0];
    assert!(capabilities["prompts"].is_object(), "{capabilities}");
    assert!(capabilities["resources"].is_object(), "{capabilities}");
    assert_eq!(
        capabilities["resources"]["subscribe"], true,
        "server-everything offers subscriptions: {capabilities}"
    );
    assert!(capabilities["completions"].is_object(), "{capabilities}");

    let prompts = names(&results[1]);
    for expected in [
        "everything__simple-prompt",
        "everything__args-prompt",
        "everything__completable-prompt",
        "py__incident_summary",
    ] {
        assert!(
            prompts.contains(&expected),
            "{expected} missing: {prompts:?}"
        );
    }
    assert!(
        prompts.iter().all(|p| !p.starts_with("alpha__")),
        "the mock offers no prompts: {prompts:?}"
    );

    assert_eq!(
        results[2]["texts"],
        json!(["[py] summarise the incidents of db"]),
        "{}",
        results[2]
    );
    assert!(
        results[3]["texts"][0]
            .as_str()
            .unwrap_or_default()
            .contains("Paris"),
        "{}",
        results[3]
    );

    // 151 resources of `py` and server-everything's: more than one page of 100, every one
    // listed once, in order.
    let resources = names(&results[4]);
    assert!(
        results[4]["pages"].as_u64().unwrap_or(0) >= 2,
        "{}",
        results[4]
    );
    assert!(resources.contains(&"py+notes://runbook"), "{resources:?}");
    assert!(resources.contains(&"py+notes://bulk/149"), "{resources:?}");
    assert!(
        resources
            .iter()
            .any(|r| r.starts_with("everything+demo://resource/")),
        "{resources:?}"
    );
    let mut sorted = resources.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, resources, "pages in order, nothing twice");

    let templates = names(&results[5]);
    assert!(
        templates.contains(&"py+notes://{topic}/latest"),
        "{templates:?}"
    );
    assert!(
        templates.contains(&"everything+demo://resource/dynamic/text/{resourceId}"),
        "{templates:?}"
    );

    assert_eq!(
        results[6],
        json!({"uris": ["py+notes://runbook"], "texts": ["[py] runbook"]})
    );
    assert_eq!(
        results[7]["texts"],
        json!(["[py] latest note on disks"]),
        "a template's resource: {}",
        results[7]
    );
    assert_eq!(
        results[8]["uris"],
        json!(["everything+demo://resource/dynamic/text/1"])
    );

    let values = results[9]
        .as_array()
        .unwrap_or_else(|| panic!("{}", results[9]));
    assert!(
        values.iter().any(|v| v == "Engineering"),
        "completions from the backend: {values:?}"
    );

    for unknown in [&results[10], &results[11]] {
        let error = unknown["error"].as_str().unwrap_or_default();
        assert!(error.contains("Unknown"), "{unknown}");
    }
}

#[tokio::test]
async fn prompts_and_resources_in_the_session_era() {
    let gateway = gateway_with_offers("").await;
    let report = run_client(tour(&gateway.mcp_url(), "legacy")).await;
    assert_tour(&report);

    // One record per use, by its exposed and backend names.
    let prompt = gateway
        .wait_for_audit("prompt_get", |r| {
            r["event"] == "prompt_get" && r["tool"] == "py__incident_summary"
        })
        .await;
    assert_eq!(prompt["mcp_server"], "py");
    assert_eq!(prompt["backend_tool"], "incident_summary");
    assert_eq!(prompt["parameters"], json!({"service": "db"}));
    assert_eq!(prompt["status"], "success");
    let read = gateway
        .wait_for_audit("resource_read", |r| {
            r["event"] == "resource_read" && r["tool"] == "py+notes://runbook"
        })
        .await;
    assert_eq!(read["backend_tool"], "notes://runbook");
    assert_eq!(read["status"], "success");
}

#[tokio::test]
async fn prompts_and_resources_in_the_2026_era() {
    let gateway = gateway_with_offers("").await;
    let report = run_client(tour(&gateway.mcp_url(), "auto")).await;
    assert_eq!(report["protocol_version"], "2026-07-28", "{report}");
    assert_tour(&report);
}

#[tokio::test]
async fn prompts_and_resources_over_legacy_sse() {
    let gateway = gateway_with_offers("").await;
    let report = run_client(tour(&format!("{}/sse", gateway.base), "sse")).await;
    assert_tour(&report);
}

#[tokio::test]
async fn plain_json_rpc_callers_get_prompts_and_resources() {
    let gateway = gateway_with_offers("").await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        let request = http.post(gateway.mcp_url()).json(&body);
        async move {
            request
                .send()
                .await
                .expect("POST /mcp")
                .json::<Value>()
                .await
                .expect("JSON")
        }
    };
    let listed = post(json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/list"})).await;
    let prompts = listed["result"]["prompts"].as_array().expect("prompts");
    let py = prompts
        .iter()
        .find(|p| p["name"] == "py__incident_summary")
        .expect("py__incident_summary listed");
    assert_eq!(
        py["description"],
        "[py] Summarise the incidents of a service."
    );
    for field in ["resultType", "cacheScope", "ttlMs"] {
        assert!(listed["result"].get(field).is_none(), "{field}: {listed}");
    }

    let first = post(json!({"jsonrpc": "2.0", "id": 2, "method": "resources/list"})).await;
    assert_eq!(
        first["result"]["resources"].as_array().map(Vec::len),
        Some(100),
        "one page"
    );
    let cursor = first["result"]["nextCursor"].as_str().expect("a next page");
    let second = post(
        json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list",
        "params": {"cursor": cursor}}),
    )
    .await;
    let last_of_first = first["result"]["resources"][99]["uri"].as_str().unwrap();
    let first_of_second = second["result"]["resources"][0]["uri"].as_str().unwrap();
    assert!(
        first_of_second > last_of_first,
        "{last_of_first} then {first_of_second}"
    );
    let bad = post(
        json!({"jsonrpc": "2.0", "id": 4, "method": "resources/list",
        "params": {"cursor": "not-ours"}}),
    )
    .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");

    let read = post(
        json!({"jsonrpc": "2.0", "id": 5, "method": "resources/read",
        "params": {"uri": "py+notes://runbook"}}),
    )
    .await;
    assert_eq!(
        read["result"]["contents"][0]["text"], "[py] runbook",
        "{read}"
    );
    let missing = post(
        json!({"jsonrpc": "2.0", "id": 6, "method": "resources/read",
        "params": {"uri": "alpha+notes://runbook"}}),
    )
    .await;
    assert_eq!(missing["error"]["code"], -32002, "{missing}");
    let got = post(json!({"jsonrpc": "2.0", "id": 7, "method": "prompts/get",
        "params": {"name": "everything__simple-prompt"}}))
    .await;
    assert!(
        got["result"]["messages"][0]["content"]["text"].is_string(),
        "{got}"
    );
}

#[tokio::test]
async fn denied_prompts_and_resources_are_invisible() {
    // The anonymous caller (auth off) has the role `user`, which may use everything of
    // server-everything but nothing of `py`.
    let gateway = {
        let yaml = format!(
            "servers:\n{}{}authorization:\n  default: deny\n  rules:\n    - roles: [user]\n      allow: [\"everything__*\", \"everything+*\"]\n",
            everything_entry(),
            python_stdio_entry("py", &[]),
        );
        let gateway = TestGateway::start_with_env(&yaml, &[("ANONYMOUS_ROLES", "user")]).await;
        gateway.wait_healthy(2).await;
        gateway
    };
    let report = run_client(json!({
        "url": gateway.mcp_url(),
        "mode": "legacy",
        "steps": [
            ["list_prompts"],
            ["list_resources"],
            ["list_resource_templates"],
            ["get_prompt", "py__incident_summary", {"service": "db"}],
            ["read_resource", "py+notes://runbook"],
            ["get_prompt", "everything__simple-prompt", {}],
            // A URI that could name something else than it spells is nobody's.
            ["read_resource", "everything+demo://resource/dynamic/text/../1"],
            ["read_resource", "everything+DEMO://resource/dynamic/text/1"],
        ]
    }))
    .await;
    let results = report["results"].as_array().expect("results");
    assert!(
        results[6]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Unknown resource"),
        "{}",
        results[6]
    );
    assert_eq!(
        results[7]["uris"],
        json!(["everything+demo://resource/dynamic/text/1"]),
        "the scheme is case-insensitive: {}",
        results[7]
    );
    for listed in &results[0..3] {
        let names = names(listed);
        assert!(!names.is_empty(), "{listed}");
        assert!(
            names.iter().all(|n| n.starts_with("everything")),
            "nothing of py: {names:?}"
        );
    }
    assert_eq!(
        results[3]["error"], "MCPError: Unknown prompt: py__incident_summary",
        "{}",
        results[3]
    );
    assert!(
        results[4]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Unknown resource: py+notes://runbook"),
        "{}",
        results[4]
    );
    assert!(results[5]["texts"].is_array(), "{}", results[5]);
    // The attempts are recorded as denials; nothing reached `py`.
    gateway
        .wait_for_audit("denied prompt", |r| {
            r["event"] == "access_denied" && r["tool"] == "py__incident_summary"
        })
        .await;
    gateway
        .wait_for_audit("denied read", |r| {
            r["event"] == "access_denied" && r["tool"] == "py+notes://runbook"
        })
        .await;
    assert!(
        !gateway
            .audit_records()
            .iter()
            .any(|r| r["mcp_server"] == "py" && r["event"] != "server_health"),
        "no record of a use of py"
    );
}

#[tokio::test]
async fn resource_updates_reach_the_subscribed_session() {
    let gateway = gateway_with_offers("").await;
    let uri = "everything+demo://resource/dynamic/text/1";
    let report = run_client(json!({
        "url": gateway.mcp_url(),
        "mode": "legacy",
        "steps": [
            ["clear_notifications"],
            ["subscribe", uri],
            // server-everything sends its subscribers an update at once, then every 5 s.
            ["call", "everything__toggle-subscriber-updates", {}],
            ["wait_notification", "notifications/resources/updated", 20],
            ["unsubscribe", uri],
            ["subscribe", "py+notes://runbook"],
            ["clear_notifications"],
            // A tool that adds a resource: server-everything says its list changed.
            ["call", "everything__gzip-file-as-resource",
                {"name": "hello.txt", "data": "data:text/plain;base64,aGVsbG8="}],
            ["wait_notification", "notifications/resources/list_changed", 20],
            ["list_resources"],
        ]
    }))
    .await;
    let results = &report["results"].as_array().expect("results")[1..];
    assert_eq!(results[0], "subscribed", "{report}");
    assert_eq!(results[2]["received"], true, "{report}");
    assert_eq!(
        results[2]["params"]["uri"], uri,
        "the update names the exposed URI: {report}"
    );
    assert_eq!(results[3], "unsubscribed", "{report}");
    assert!(
        results[4]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("does not offer resource subscriptions"),
        "py cannot be subscribed to: {report}"
    );
    assert_eq!(results[6]["is_error"], false, "{report}");
    assert_eq!(results[7]["received"], true, "{report}");
    assert!(
        names(&results[8]).contains(&"everything+demo://resource/session/hello.txt"),
        "{report}"
    );
}

#[tokio::test]
async fn a_prompt_the_caller_gives_up_on_is_recorded_cancelled() {
    let gateway = gateway_with_offers("").await;
    // In a session: the client cancels its request.
    let report = run_client(json!({
        "url": gateway.mcp_url(),
        "mode": "legacy",
        "steps": [["get_prompt_abandoned", "py__slow_summary", {"seconds": "30"}, 1]]
    }))
    .await;
    assert_eq!(report["results"][0], "abandoned", "{report}");
    let record = gateway
        .wait_for_audit("cancelled prompt_get", |r| {
            r["event"] == "prompt_get" && r["tool"] == "py__slow_summary"
        })
        .await;
    assert_eq!(record["status"], "cancelled", "{record}");
    assert_eq!(record["error"], "cancelled by the caller");
    // A plain caller that hangs up.
    let hung_up = reqwest::Client::new()
        .post(gateway.mcp_url())
        .timeout(std::time::Duration::from_millis(500))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/get",
            "params": {"name": "py__slow_summary", "arguments": {"seconds": "20"}}}))
        .send()
        .await;
    assert!(hung_up.is_err(), "the request was given up");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let records: Vec<Value> = gateway
            .audit_records()
            .into_iter()
            .filter(|r| r["event"] == "prompt_get" && r["tool"] == "py__slow_summary")
            .collect();
        if records.len() == 2 {
            assert_eq!(records[1]["status"], "cancelled", "{records:?}");
            assert_eq!(records[1]["transport"], "mcp");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{records:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn prompt_and_resource_uses_count_against_rate_limits() {
    let gateway =
        gateway_with_offers("rate_limits:\n  per_user: {requests_per_minute: 1, burst: 1}\n").await;
    let post = |id: u64| {
        reqwest::Client::new()
            .post(gateway.mcp_url())
            .json(
                &json!({"jsonrpc": "2.0", "id": id, "method": "resources/read",
                "params": {"uri": "py+notes://runbook"}}),
            )
            .send()
    };
    let first: Value = post(1).await.expect("POST").json().await.expect("JSON");
    assert_eq!(
        first["result"]["contents"][0]["text"], "[py] runbook",
        "{first}"
    );
    let second: Value = post(2).await.expect("POST").json().await.expect("JSON");
    assert_eq!(second["error"]["code"], -32029, "{second}");
    assert!(
        second["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rate limited: retry after"),
        "{second}"
    );
    gateway
        .wait_for_audit("rate_limited", |r| {
            r["event"] == "rate_limited" && r["tool"] == "py+notes://runbook"
        })
        .await;
}

#[tokio::test]
async fn a_backend_asking_during_a_prompt_never_reaches_another_callers_client() {
    let yaml = format!("servers:\n{}", python_stdio_entry("py", &[]));
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    // A: a client that answers sampling, with a tool call in flight on `py`.
    let a = run_client(json!({
        "url": gateway.mcp_url(),
        "mode": "legacy",
        "sampling": "A's model speaking",
        "steps": [["call", "py__wait", {"seconds": 4}]]
    }));
    // B: meanwhile, a prompt whose making asks the client's model. Over stdio nothing says
    // whose request it is: it must not go to A.
    let b = async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        run_client(json!({
            "url": gateway.mcp_url(),
            "mode": "legacy",
            "sampling": "B's model speaking",
            "steps": [["get_prompt", "py__sampled_summary", {"topic": "t"}]]
        }))
        .await
    };
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a["asked"], json!([]), "A was asked nothing: {a}");
    assert_eq!(a["results"][0]["text"], "waited 4.0", "{a}");
    let error = b["results"][0]["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "the prompt failed: {b}");
    assert!(
        !b.to_string().contains("A's model"),
        "nothing of A's reached B: {b}"
    );
}

#[tokio::test]
async fn the_demo_mock_offers_a_prompt_and_a_resource_with_prompts() {
    let yaml = format!(
        "servers:\n{}{}",
        stdio_mock_entry("demo", &["--prompts"]),
        stdio_mock_entry("plain", &[]),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    let report = run_client(json!({
        "url": gateway.mcp_url(),
        "mode": "legacy",
        "steps": [
            ["list_prompts"],
            ["get_prompt", "demo__incident_summary", {"service": "db"}],
            ["list_resources"],
            ["read_resource", "demo+mock://runbook"],
            ["read_resource", "plain+mock://runbook"],
        ]
    }))
    .await;
    let results = &report["results"];
    assert_eq!(
        results[0]["names"],
        json!(["demo__incident_summary"]),
        "{report}"
    );
    assert_eq!(
        results[1]["texts"],
        json!(["[demo] Summarise the incidents of db this week."]),
        "{report}"
    );
    assert_eq!(
        results[2]["names"],
        json!(["demo+mock://runbook"]),
        "{report}"
    );
    assert_eq!(
        results[3]["uris"],
        json!(["demo+mock://runbook"]),
        "{report}"
    );
    assert!(
        results[4]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Unknown resource"),
        "a mock without --prompts offers none: {report}"
    );
}
