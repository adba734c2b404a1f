//! `mcpgw`, the real binary, against a real gateway: each read command in both outputs, its
//! exit codes (0, 1, 3, 4) and its one-line errors, and CLI calls audited as `transport: cli`.

use serde_json::Value;

use crate::common::cli::{Mcpgw, Run};
use crate::common::keycloak::KeycloakLike;
use crate::common::*;

/// Run `mcpgw --url <url> args…` as a user with no login.
async fn mcpgw(url: &str, args: &[&str]) -> Run {
    Mcpgw::new(url).run(args).await
}

async fn get(gateway: &TestGateway, path: &str) -> Value {
    reqwest::get(format!("{}{path}", gateway.base))
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test]
async fn read_commands_print_the_gateways_json_or_a_table() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let url = gateway.base.as_str();

    // Not a terminal: JSON, as the gateway gave it.
    let health = mcpgw(url, &["health"]).await;
    assert_eq!(health.code, 0, "{}", health.err);
    assert_eq!(health.json(), get(&gateway, "/health").await);
    let table = mcpgw(url, &["health", "--output", "table"]).await;
    assert!(
        table.out.contains("STATUS") && table.out.contains("3/3 healthy"),
        "{}",
        table.out
    );

    let whoami = mcpgw(url, &["whoami", "--output", "table"]).await;
    assert!(
        whoami.out.contains("anonymous") && whoami.out.contains("admin"),
        "{}",
        whoami.out
    );

    let servers = mcpgw(url, &["servers", "list", "--output", "json"]).await;
    assert_eq!(servers.json(), get(&gateway, "/mcp/servers").await);
    let table = mcpgw(url, &["servers", "list", "--output", "table"]).await;
    let lines: Vec<&str> = table.out.lines().collect();
    assert_eq!(lines.len(), 4, "{}", table.out);
    assert!(
        lines[0].contains("NAME") && lines[0].contains("HEALTH"),
        "{}",
        table.out
    );
    for server in ["alpha", "beta", "gamma"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(server) && l.contains(" up ")),
            "{server}: {}",
            table.out
        );
    }

    let info = mcpgw(url, &["servers", "info", "alpha", "--output", "table"]).await;
    assert_eq!(info.code, 0, "{}", info.err);
    assert!(info.out.contains("alpha__search_logs"), "{}", info.out);
    assert!(info.out.contains("(protocol "), "{}", info.out);
    let info = mcpgw(url, &["servers", "info", "alpha"]).await;
    assert_eq!(info.json(), get(&gateway, "/mcp/server/alpha/info").await);

    let tools = mcpgw(
        url,
        &["tools", "list", "--server", "alpha", "--filter", "ECHO"],
    )
    .await;
    let names: Vec<&str> = tools.json()["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|n| {
            if n == "alpha__echo" {
                "alpha__echo"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(names, ["alpha__echo"]);
    let table = mcpgw(
        url,
        &["tools", "list", "--server", "beta", "--output", "table"],
    )
    .await;
    assert!(
        table.out.lines().skip(1).all(|l| l.starts_with("beta__")),
        "{}",
        table.out
    );

    // The gateway saw the CLI.
    let record = gateway
        .wait_for_audit("the CLI's tool listing", |r| r["event"] == "list_tools")
        .await;
    assert_eq!(record["transport"], "cli", "{record}");
}

#[tokio::test]
async fn an_unknown_server_is_exit_1_with_what_to_do() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let run = mcpgw(&gateway.base, &["servers", "info", "nope"]).await;
    assert_eq!(run.code, 1);
    assert!(run.out.is_empty());
    assert_eq!(
        run.err.trim_end(),
        "mcpgw: no server named nope; see `mcpgw servers list` (HTTP 404)"
    );
}

#[tokio::test]
async fn a_gateway_that_is_not_there_is_exit_4() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = mcpgw(&url, &["servers", "list"]).await;
    assert_eq!(run.code, 4);
    assert_eq!(run.err.lines().count(), 1, "{}", run.err);
    assert!(
        run.err.contains(&url) && run.err.contains("is it running?"),
        "{}",
        run.err
    );
}

#[tokio::test]
async fn a_refused_or_missing_token_is_exit_3_and_a_good_one_works() {
    let issuer = KeycloakLike::start();
    let env = issuer.gateway_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gateway = TestGateway::start_with_env("servers: {}\n", &pairs).await;
    issuer.wait_trusted_by(&gateway.base).await;
    let url = gateway.base.as_str();

    let anonymous = mcpgw(url, &["whoami"]).await;
    assert_eq!(anonymous.code, 3, "{}", anonymous.err);
    assert!(
        anonymous.err.contains("run `mcpgw login`"),
        "{}",
        anonymous.err
    );

    let forged = mcpgw(url, &["--token", "not-a-jwt", "whoami"]).await;
    assert_eq!(forged.code, 3, "{}", forged.err);
    assert!(forged.err.contains("refused the token"), "{}", forged.err);
    assert!(!forged.err.contains("not-a-jwt"), "{}", forged.err);

    let token = issuer.password_token("testuser", "testpass").await;
    let user = mcpgw(url, &["--token", &token, "whoami"]).await;
    assert_eq!(user.code, 0, "{}", user.err);
    assert_eq!(user.json()["user"], "testuser");
    let tools = mcpgw(url, &["--token", &token, "tools", "list"]).await;
    assert_eq!(tools.code, 0, "{}", tools.err);
    // The audit is for admins: 403 is exit 3 too, with the gateway's reason.
    let audit = mcpgw(url, &["--token", &token, "audit"]).await;
    assert_eq!(audit.code, 3, "{}", audit.err);
    assert!(audit.err.contains("ask an administrator"), "{}", audit.err);
    let admin = issuer.password_token("admin", "admin123").await;
    let audit = mcpgw(url, &["--token", &admin, "audit", "--limit", "1"]).await;
    assert_eq!(audit.code, 0, "{}", audit.err);
}

#[tokio::test]
async fn call_invoke_and_broadcast_run_tools_and_exit_1_when_they_fail() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let url = gateway.base.as_str();

    let echoed = mcpgw(
        url,
        &["call", "alpha__echo", "--arg", "word=hi", "--arg", "n=5"],
    )
    .await;
    assert_eq!(echoed.code, 0, "{}", echoed.err);
    let text = echoed.json()["content"][0]["text"]
        .as_str()
        .map(str::to_owned);
    assert_eq!(
        text.and_then(|t| serde_json::from_str::<Value>(&t).ok()),
        Some(serde_json::json!({"word": "hi", "n": 5}))
    );
    let table = mcpgw(
        url,
        &[
            "call",
            "beta__echo",
            "--json",
            r#"{"a":[1]}"#,
            "--output",
            "table",
        ],
    )
    .await;
    assert_eq!(table.out.trim_end(), r#"{"a":[1]}"#);

    let failed = mcpgw(
        url,
        &[
            "call",
            "beta__fail",
            "--arg",
            "message=no disk",
            "--output",
            "table",
        ],
    )
    .await;
    assert_eq!(failed.code, 1);
    assert_eq!(failed.out.trim_end(), "no disk");

    let unknown = mcpgw(url, &["call", "alpha__nope"]).await;
    assert_eq!(unknown.code, 1);
    assert_eq!(
        unknown.err.trim_end(),
        "mcpgw: Unknown tool: alpha__nope (HTTP 404)"
    );

    let invoked = mcpgw(
        url,
        &[
            "invoke",
            "gamma",
            "search_logs",
            "--json",
            r#"{"query":"timeout"}"#,
        ],
    )
    .await;
    assert_eq!(invoked.code, 0, "{}", invoked.err);
    assert_eq!(invoked.json()["success"], true);
    assert_eq!(invoked.json()["mcp_server"], "gamma");

    let broadcast = mcpgw(
        url,
        &["broadcast", "echo", "--arg", "x=1", "--output", "table"],
    )
    .await;
    assert_eq!(broadcast.code, 0, "{}", broadcast.err);
    let lines: Vec<&str> = broadcast.out.lines().collect();
    assert_eq!(lines.len(), 4, "{}", broadcast.out);
    assert!(lines[0].starts_with("SERVER"), "{}", broadcast.out);
    for (line, server) in lines[1..].iter().zip(["alpha", "beta", "gamma"]) {
        assert!(
            line.starts_with(server) && line.contains(" ok ") && line.contains(" ms "),
            "{line}"
        );
    }
    let all_failed = mcpgw(
        url,
        &["broadcast", "fail", "--server", "alpha", "--server", "beta"],
    )
    .await;
    assert_eq!(all_failed.code, 1, "{}", all_failed.err);
    assert_eq!(all_failed.json()["total_servers"], 2);

    // Every one of those calls was the CLI's.
    let records: Vec<Value> = gateway
        .audit_records()
        .into_iter()
        .filter(|r| r["event"] == "tool_call")
        .collect();
    assert!(records.len() >= 8, "{records:?}");
    assert!(
        records.iter().all(|r| r["transport"] == "cli"),
        "{records:?}"
    );
}

#[tokio::test]
async fn audit_reads_records_and_follows_new_ones() {
    use tokio::io::AsyncBufReadExt as _;

    let (_mocks, gateway) = gateway_over_every_transport().await;
    let url = gateway.base.as_str();
    let first = mcpgw(url, &["call", "alpha__echo", "--arg", "n=1"]).await;
    assert_eq!(first.code, 0, "{}", first.err);
    // The database copy follows the file by a moment.
    let deadline = std::time::Instant::now() + PATIENCE;
    let page = loop {
        let page = mcpgw(url, &["audit", "--tool", "alpha__echo", "--output", "json"]).await;
        assert_eq!(page.code, 0, "{}", page.err);
        if page.json()["records"]
            .as_array()
            .is_some_and(|r| r.len() == 1)
        {
            break page.json();
        }
        assert!(std::time::Instant::now() < deadline, "{}", page.out);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(page["records"][0]["transport"], "cli");
    let table = mcpgw(
        url,
        &["audit", "--tool", "alpha__echo", "--output", "table"],
    )
    .await;
    assert!(table.out.starts_with("TIME"), "{}", table.out);
    assert!(
        table
            .out
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("tool_call") && l.contains("alpha__echo")),
        "{}",
        table.out
    );

    // Following: the record of a call made afterwards shows up, once.
    let user = Mcpgw::new(url);
    let mut follower = user
        .command(&[
            "audit",
            "--follow",
            "--tool",
            "beta__echo",
            "--output",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mcpgw audit --follow");
    let mut lines = tokio::io::BufReader::new(follower.stdout.take().expect("stdout")).lines();
    let later = mcpgw(url, &["call", "beta__echo", "--arg", "tag=followed"]).await;
    assert_eq!(later.code, 0, "{}", later.err);
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("a followed record in time")
        .expect("read")
        .expect("a line");
    let record: Value = serde_json::from_str(&line).expect("one JSON record per line");
    assert_eq!(record["tool"], "beta__echo");
    assert_eq!(record["parameters"]["tag"], "followed");
    // Nothing printed twice over the next polls.
    let again =
        tokio::time::timeout(std::time::Duration::from_millis(2500), lines.next_line()).await;
    assert!(again.is_err(), "printed again: {again:?}");
    let _ = follower.kill().await;
}
