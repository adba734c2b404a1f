//! The web console at `/ui/`: its files as the gateway serves them (policy, caching, pages
//! by address), `GET /audit/verify` which it uses, and the console itself in a real browser
//! (`testdeps/console-browser.mjs`: Playwright driving Debian's chromium) against the real
//! gateway binary, mock backends, server-everything and the Keycloak-shaped issuer.
//!
//! `CONSOLE_SCREENSHOTS=<dir>` keeps a screenshot of each page there (`make screenshots`
//! writes docs/ui/).

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::keycloak::{KeycloakLike, RealmOptions};
use crate::common::node::server_everything;
use crate::common::process::GatewayProcess;
use crate::common::*;

/// The browser's executable (Debian's chromium; `.ci/run` installs it).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Three servers with the seed's tags, and a role `user` that may use two of them.
fn signed_in_yaml(elk: &MockServer) -> String {
    format!(
        "servers:\n{}    tags: [logging, elk-cluster, production]\n{}    tags: [logging, elk-cluster, staging]\n{}    tags: [database, postgres, production]\n\
         authorization:\n  default: deny\n  rules:\n    - roles: [admin]\n      allow: [\"*\"]\n    - roles: [user]\n      allow: [\"prod-elk-1__*\", \"staging-elk__*\", \"broadcast__search_logs\"]\n",
        url_entry("prod-elk-1", "http", elk.url()),
        stdio_mock_entry("staging-elk", &[]),
        stdio_mock_entry("prod-db-primary", &[]),
    )
}

/// Run one scenario of the browser test; its step lines are printed, and a failure fails
/// the test with what the page showed.
async fn browser(scenario: &str, gateway: &str, issuer: Option<&str>) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)"
    );
    assert!(
        workspace_root()
            .join("testdeps/node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: run `make test-deps` (make test does)"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg(workspace_root().join("testdeps/console-browser.mjs"))
        .env("SCENARIO", scenario)
        .env("GATEWAY_URL", gateway)
        .env("CHROMIUM", CHROMIUM)
        .kill_on_drop(true);
    if let Some(issuer) = issuer {
        command.env("ISSUER_URL", issuer);
    }
    if let Ok(dir) = std::env::var("CONSOLE_SCREENSHOTS") {
        command.env("SCREENSHOTS", workspace_root().join(dir));
    }
    let output = tokio::time::timeout(Duration::from_secs(240), command.output())
        .await
        .expect("the browser test finished in 4 minutes")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "console in the browser ({scenario}) failed:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn a_user_signs_in_sees_only_their_tools_calls_them_and_an_admin_audits_the_call() {
    let issuer = KeycloakLike::start_with(RealmOptions {
        // Short-lived access tokens, so that the console's silent refresh happens in the test.
        access_ttl_seconds: 12,
        login_form: true,
        ..RealmOptions::default()
    });
    let elk = MockServer::start("http", "prod-elk-1", &[]);
    let gateway = GatewayProcess::start(&signed_in_yaml(&elk), &issuer.gateway_env()).await;
    gateway.wait_healthy(3).await;
    issuer.wait_trusted_by(&gateway.base).await;

    browser("sign-in", &gateway.base, Some(&issuer.url)).await;

    // The console's calls are audited like any REST call, with the signed-in user.
    let records = gateway.audit_records();
    let call = records
        .iter()
        .find(|r| r["event"] == "tool_call" && r["tool"] == "prod-elk-1__search_logs")
        .expect("the form's call is audited");
    assert_eq!(call["user"], "testuser");
    assert_eq!(call["transport"], "rest");
    let children: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "tool_call" && !r["broadcast_id"].is_null())
        .collect();
    assert_eq!(children.len(), 2, "one record per permitted target");
}

#[tokio::test]
async fn without_auth_the_console_needs_no_sign_in_and_forms_follow_real_schemas() {
    let (node, everything) = server_everything();
    let yaml = format!(
        "servers:\n{}    tags: [demo-tag]\n  everything:\n    type: stdio\n    command: {node}\n    args: [{:?}, \"stdio\"]\n    tags: [demo-tag]\n",
        stdio_mock_entry("alpha", &[]),
        everything.display().to_string(),
    );
    let gateway = GatewayProcess::start(&yaml, &[]).await;
    gateway.wait_healthy(2).await;

    browser("auth-off", &gateway.base, None).await;

    let records = gateway.audit_records();
    let sum = records
        .iter()
        .find(|r| r["tool"] == "everything__get-sum")
        .expect("the sum is audited");
    // Numbers from the form's number inputs reach the backend as JSON numbers.
    assert_eq!(sum["parameters"], serde_json::json!({"a": 2.5, "b": 4}));
    assert_eq!(sum["user"], "anonymous");
}

/// A plain HTTP client on the console's routes: what a browser gets.
async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("gateway answers")
}

#[tokio::test]
async fn the_console_is_public_cached_by_etag_and_allowed_to_talk_only_to_the_issuer() {
    let issuer = KeycloakLike::start();
    let yaml = format!("servers:\n{}", stdio_mock_entry("alpha", &[]));
    let gateway = GatewayProcess::start(&yaml, &issuer.gateway_env()).await;
    let base = &gateway.base;

    // No token needed for the files (auth is on): they hold no data.
    let index = get(&format!("{base}/ui/"), &[]).await;
    assert_eq!(index.status(), StatusCode::OK);
    let headers = index.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'self'; "), "{policy}");
    assert!(
        policy.contains(&format!("connect-src 'self' {}; ", issuer.url)),
        "the issuer's origin, and no other, besides 'self': {policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let html = index.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/ui/main.js"></script>"#));
    // Nothing in the page loads from elsewhere.
    assert!(!html.contains("http://") && !html.contains("https://"));

    // An unchanged file is not sent again.
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let again = get(&format!("{base}/ui/"), &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());

    // Scripts are JavaScript, compressed for a browser that accepts it.
    let script = get(
        &format!("{base}/ui/main.js"),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.headers()["content-encoding"], "gzip");

    // A page's address is the console (its script routes it); a missing file is 404.
    for page in ["/ui/tools", "/ui/tools/alpha__echo", "/ui/servers/alpha"] {
        let answer = get(&format!("{base}{page}"), &[]).await;
        assert_eq!(answer.status(), StatusCode::OK, "{page}");
        assert!(
            answer.text().await.unwrap().contains("/ui/main.js"),
            "{page}"
        );
    }
    let missing = get(&format!("{base}/ui/nothing.js"), &[]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bare = get(&format!("{base}/ui"), &[]).await;
    assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.headers()["location"], "/ui/");

    // `GET /` tells the console where clients reach the gateway and where it lives.
    let root: Value = get(&format!("{base}/"), &[]).await.json().await.unwrap();
    assert_eq!(root["public_url"], base.as_str());
    assert_eq!(root["endpoints"]["console"], "/ui/");
}

#[tokio::test]
async fn audit_verify_reports_the_chain_to_admins_only() {
    let issuer = KeycloakLike::start();
    let yaml = format!("servers:\n{}", stdio_mock_entry("alpha", &[]));
    let gateway = GatewayProcess::start(&yaml, &issuer.gateway_env()).await;
    gateway.wait_healthy(1).await;
    issuer.wait_trusted_by(&gateway.base).await;
    let admin = issuer.password_token("admin", "admin123").await;
    let user = issuer.password_token("testuser", "testpass").await;
    let client = reqwest::Client::new();
    let verify = |token: &str| {
        client
            .get(format!("{}/audit/verify", gateway.base))
            .bearer_auth(token)
            .send()
    };

    let refused = verify(&user).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");

    // Some records first: the health and list records of a start, and a call.
    let call = client
        .post(format!("{}/tools/alpha__echo/invoke", gateway.base))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"text": "chain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + PATIENCE;
    let report = loop {
        let report: Value = verify(&admin).await.unwrap().json().await.unwrap();
        if report["checked"].as_u64().unwrap_or(0) >= 2 {
            break report;
        }
        assert!(std::time::Instant::now() < deadline, "{report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["broken"], Value::Null);
    assert_eq!(report["source"], "sqlite audit_log");

    // Someone with the database edits the call's record: the next check names it.
    let database =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", gateway.database_path().display()))
            .await
            .expect("open the audit database");
    // (The writer may not have stored the call's record yet.)
    let deadline = std::time::Instant::now() + PATIENCE;
    while sqlx::query("UPDATE audit_log SET \"user\" = 'mallory' WHERE tool = 'alpha__echo'")
        .execute(&database)
        .await
        .expect("edit a record")
        .rows_affected()
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the call was never stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report: Value = verify(&admin).await.unwrap().json().await.unwrap();
    assert_eq!(report["intact"], false, "{report}");
    let broken = &report["broken"];
    assert!(
        broken["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the record was edited")),
        "{report}"
    );
    assert!(broken["id"].is_string(), "{report}");
}
