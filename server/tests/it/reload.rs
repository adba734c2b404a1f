//! Reload under a live session: servers added, changed and removed; clients told; an invalid
//! file refused with the old config kept.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;
use crate::mcp::{list_changed_count, recording_client};

#[tokio::test]
async fn a_reload_adds_changes_and_removes_servers_under_a_live_session() {
    let http = MockServer::start("http", "alpha", &[]);
    let initial = format!(
        "servers:\n{}{}",
        url_entry("alpha", "http", http.url()),
        stdio_mock_entry("beta", &[])
    );
    let gateway = TestGateway::start(&initial).await;
    gateway.wait_healthy(2).await;
    let (client, recorder) = recording_client(&gateway.mcp_url()).await;
    let before = client.peer().list_all_tools().await.expect("list");
    assert!(before.iter().any(|t| t.name == "beta__sleep"));
    let notified_before = list_changed_count(&recorder);

    // alpha removed; beta changed (fewer tools); gamma added.
    let next = format!(
        "servers:\n{}{}",
        stdio_mock_entry("beta", &["--tools", "echo,search_logs"]),
        stdio_mock_entry("gamma", &[])
    );
    gateway.rewrite_config(&next);
    gateway.wait_for_tool("gamma__echo", true).await;
    gateway.wait_for_tool("alpha__echo", false).await;
    gateway.wait_for_tool("beta__sleep", false).await;
    // A changed server reconnects: its tools are back once the new process answered.
    gateway.wait_for_tool("beta__echo", true).await;

    // Same session, no reconnect: the list and calls reflect the new config.
    let after = client
        .peer()
        .list_all_tools()
        .await
        .expect("list after reload");
    let names: Vec<_> = after.iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"gamma__echo".to_owned()), "{names:?}");
    assert!(names.contains(&"beta__echo".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("alpha__")), "{names:?}");
    assert!(!names.contains(&"beta__sleep".to_owned()), "{names:?}");
    let result = call(&client, "gamma__echo", json!({"new": 1}))
        .await
        .expect("call");
    assert!(text_of(&result).contains("new"));

    let deadline = Instant::now() + PATIENCE;
    while list_changed_count(&recorder) == notified_before {
        assert!(
            Instant::now() < deadline,
            "no tools/list_changed reached the client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_invalid_config_is_refused_and_the_old_one_stays() {
    let initial = format!("servers:\n{}", stdio_mock_entry("beta", &[]));
    let gateway = TestGateway::start(&initial).await;
    gateway.wait_healthy(1).await;
    gateway.rewrite_config("servers:\n  bad__name:\n    type: carrier-pigeon\n");
    // Give the watcher time to see and refuse it, then check nothing changed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gateway.gateway.config().servers.len(), 1);
    assert_eq!(gateway.gateway.config().servers[0].name, "beta");
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "beta__echo", json!({"still": "served"}))
        .await
        .expect("call");
    assert!(text_of(&result).contains("served"));
}
