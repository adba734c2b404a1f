//! The MCP Inspector's CLI (`npx @modelcontextprotocol/inspector --cli`), the client people
//! reach for first to try a server, driving the gateway over streamable HTTP and legacy SSE.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::common::node::inspector;
use crate::common::*;

/// How long one CLI run may take before the test fails (it takes about a second).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// One `inspector --cli <url> --transport <http|sse> <args…>` run: its exit code, stdout as
/// JSON (`Null` when it printed none) and both outputs as text. Runs in `dir`, which is also
/// its home, so it leaves nothing elsewhere.
async fn run(dir: &Path, url: &str, args: &[&str]) -> (i32, Value, String) {
    let (node, launcher) = inspector();
    let transport = if url.ends_with("/sse") { "sse" } else { "http" };
    let mut command = Command::new(node);
    command
        .arg(launcher)
        .args(["--cli", url, "--transport", transport])
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("MCP_CATALOG_PATH", dir.join("catalog.json"))
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the inspector did not finish within {RUN_TIMEOUT:?}: {args:?}"))
        .expect("run the inspector");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        output.status.code().unwrap_or(-1),
        json,
        format!("stdout: {stdout}\nstderr: {stderr}"),
    )
}

fn text_items(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// `--method tools/call --tool-name <tool>` with one `key=value` argument, if any.
async fn call(dir: &Path, url: &str, tool: &str, argument: Option<&str>) -> (i32, Value, String) {
    let mut args = vec!["--method", "tools/call", "--tool-name", tool];
    if let Some(argument) = argument {
        args.extend(["--tool-arg", argument]);
    }
    run(dir, url, &args).await
}

#[tokio::test]
async fn the_inspector_cli_lists_and_calls_tools_of_every_transport() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let mcp = gateway.mcp_url();

    let (code, listed, output) = run(dir, &mcp, &["--method", "tools/list"]).await;
    assert_eq!(code, 0, "{output}");
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {output}"))
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    for expected in [
        "alpha__echo",
        "beta__echo",
        "gamma__echo",
        "broadcast__echo",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }

    // One call per backend transport, each answered by its own server.
    for server in ["alpha", "beta", "gamma"] {
        let tool = format!("{server}__search_logs");
        let (code, result, output) = call(dir, &mcp, &tool, Some("query=disk")).await;
        assert_eq!(code, 0, "{output}");
        assert_eq!(result["isError"], false, "{output}");
        let tagged = format!("[{server}]");
        assert!(text_items(&result).contains(&tagged), "{output}");
    }

    // A tool's failure is a result with isError, not a protocol error (the CLI prints the
    // result and exits non-zero saying so).
    let (code, result, output) = call(dir, &mcp, "alpha__fail", Some("message=boom")).await;
    assert_eq!(result["isError"], true, "{output}");
    assert!(text_items(&result).contains("boom"), "{output}");
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("tool_is_error"), "{output}");

    // A broadcast reaches every server offering the tool.
    let (code, result, output) = call(dir, &mcp, "broadcast__echo", Some("message=hi")).await;
    assert_eq!(code, 0, "{output}");
    assert!(text_items(&result).contains("Successful: 3"), "{output}");

    // Legacy HTTP+SSE (`GET /sse`, `POST /messages`).
    let sse_url = format!("{}/sse", gateway.base);
    let (code, result, output) = call(dir, &sse_url, "beta__echo", Some("message=over-sse")).await;
    assert_eq!(code, 0, "{output}");
    assert!(text_items(&result).contains("over-sse"), "{output}");
}
