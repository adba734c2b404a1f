//! `mcpgw login`, `logout`, `token` and `doctor`: the real `mcpgw` binary against the real
//! gateway binary and a Keycloak-shaped issuer from npm (`oauth2-mock-server`). Password and
//! browser logins, the token file's mode, silent refresh (before expiry and after a 401),
//! expired logins, and `doctor` passing and catching broken setups.

use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;

use crate::common::cli::{Mcpgw, Run};
use crate::common::keycloak::{KeycloakLike, RealmOptions};
use crate::common::process::GatewayProcess;
use crate::common::*;

/// A gateway binary trusting `issuer`, in front of one mock server over stdio; `extra` env
/// on top.
async fn gateway_for(issuer: &KeycloakLike, extra: &[(&str, String)]) -> GatewayProcess {
    let yaml = format!("servers:\n{}", stdio_mock_entry("alpha", &[]));
    let mut env = issuer.gateway_env();
    env.extend(extra.iter().cloned());
    let gateway = GatewayProcess::start(&yaml, &env).await;
    gateway.wait_healthy(1).await;
    issuer.wait_trusted_by(&gateway.base).await;
    gateway
}

async fn password_login(user: &Mcpgw, username: &str, password: &str) -> Run {
    user.run_with_stdin(
        &["login", "--username", username, "--password-stdin"],
        &format!("{password}\n"),
    )
    .await
}

fn stored(user: &Mcpgw) -> Value {
    let text = std::fs::read_to_string(user.credentials_file()).expect("credentials file");
    serde_json::from_str(&text).expect("credentials JSON")
}

fn stored_login(user: &Mcpgw) -> Value {
    stored(user)["logins"][&user.url].clone()
}

#[tokio::test]
async fn password_login_keeps_private_tokens_that_every_command_uses() {
    let issuer = KeycloakLike::start();
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);

    let before = user.run(&["whoami"]).await;
    assert_eq!(before.code, 3, "{}", before.err);

    let wrong = password_login(&user, "testuser", "not-the-password").await;
    assert_eq!(wrong.code, 3, "{}", wrong.err);
    assert!(
        wrong
            .err
            .lines()
            .last()
            .unwrap()
            .contains("Invalid user credentials"),
        "{}",
        wrong.err
    );
    assert!(!wrong.err.contains("not-the-password"), "{}", wrong.err);
    assert!(!user.credentials_file().exists());

    let login = password_login(&user, "testuser", "testpass").await;
    assert_eq!(login.code, 0, "{}", login.err);
    // Where the password goes comes first; then who the gateway sees.
    let first = login.err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("Logging in to 127.0.0.1 (issuer http://127.0.0.1:"),
        "{}",
        login.err
    );
    assert!(
        login.err.contains("as testuser (roles: user)"),
        "{}",
        login.err
    );
    assert!(login.out.is_empty(), "nothing on stdout: {}", login.out);

    // The file: mode 0600, the tokens of this gateway, never the password.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(user.credentials_file())
        .expect("credentials file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(user.credentials_file()).unwrap();
    assert!(!text.contains("testpass"));
    let kept = stored_login(&user);
    assert_eq!(kept["user"], "testuser");
    assert_eq!(kept["issuer"], issuer.issuer);
    assert!(kept["refresh_token"].is_string());

    let whoami = user.run(&["whoami"]).await;
    assert_eq!(whoami.code, 0, "{}", whoami.err);
    assert_eq!(whoami.json()["user"], "testuser");
    let call = user.run(&["call", "alpha__echo", "--arg", "x=1"]).await;
    assert_eq!(call.code, 0, "{}", call.err);

    // `token`: the token and a newline, nothing else, and the gateway takes it.
    let token = user.run(&["token"]).await;
    assert_eq!(token.code, 0, "{}", token.err);
    assert!(token.err.is_empty(), "{}", token.err);
    let bare = token.out.strip_suffix('\n').expect("ends with a newline");
    assert_eq!(bare, kept["access_token"].as_str().unwrap());
    assert_eq!(bare.split('.').count(), 3, "a JWT");
    let status = reqwest::Client::new()
        .get(format!("{}/whoami", gateway.base))
        .bearer_auth(bare)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    // --token wins over the kept login.
    let given = user.run(&["--token", "not-a-jwt", "whoami"]).await;
    assert_eq!(given.code, 3, "{}", given.err);

    let logout = user.run(&["logout"]).await;
    assert_eq!(logout.code, 0, "{}", logout.err);
    assert!(logout.err.contains("Logged out of"), "{}", logout.err);
    assert!(stored_login(&user).is_null());
    let after = user.run(&["whoami"]).await;
    assert_eq!(after.code, 3);
    assert!(after.err.contains("run `mcpgw login`"), "{}", after.err);
    let token = user.run(&["token"]).await;
    assert_eq!(token.code, 3);
    assert!(token.out.is_empty());
    assert!(token.err.contains("not logged in"), "{}", token.err);
    // The refresh token was revoked at the issuer.
    let refresh = reqwest::Client::new()
        .post(format!("{}/protocol/openid-connect/token", issuer.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "mcp-cli"),
            ("refresh_token", kept["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 400);
    let again = user.run(&["logout"]).await;
    assert_eq!(again.code, 0);
    assert!(again.err.contains("Not logged in"), "{}", again.err);

    // The CLI's calls are audited as such, with the logged-in user.
    let record = gateway
        .audit_records()
        .into_iter()
        .find(|r| r["tool"] == "alpha__echo")
        .expect("the call's record");
    assert_eq!(record["transport"], "cli");
    assert_eq!(record["user"], "testuser");
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_silently_and_kept() {
    // 20 s of life is inside the 30 s margin: every command refreshes first.
    let issuer = KeycloakLike::start_with(RealmOptions {
        access_ttl_seconds: 20,
        ..RealmOptions::default()
    });
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);
    assert_eq!(password_login(&user, "admin", "admin123").await.code, 0);
    let after_login = issuer.grants().await;
    assert_eq!(after_login[0], "password");
    let first = stored_login(&user)["access_token"].clone();

    let whoami = user.run(&["whoami"]).await;
    assert_eq!(whoami.code, 0, "{}", whoami.err);
    assert_eq!(whoami.json()["user"], "admin");
    assert!(whoami.err.is_empty(), "silent: {}", whoami.err);
    let grants = issuer.grants().await;
    assert_eq!(grants.len(), after_login.len() + 1, "{grants:?}");
    assert_eq!(grants.last().unwrap(), "refresh_token");
    assert_ne!(stored_login(&user)["access_token"], first, "kept");
}

#[tokio::test]
async fn a_token_the_gateway_refuses_is_refreshed_once_and_the_call_retried() {
    let issuer = KeycloakLike::start();
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);
    assert_eq!(password_login(&user, "testuser", "testpass").await.code, 0);

    // A kept token the gateway no longer takes (unexpired by its own account).
    let mut file = stored(&user);
    file["logins"][&user.url]["access_token"] = "revoked.by.gateway".into();
    std::fs::write(user.credentials_file(), file.to_string()).unwrap();

    let tools = user.run(&["tools", "list"]).await;
    assert_eq!(tools.code, 0, "{}", tools.err);
    assert!(
        tools.json()["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(issuer.grants().await, ["password", "refresh_token"]);
    assert_ne!(stored_login(&user)["access_token"], "revoked.by.gateway");
}

#[tokio::test]
async fn an_expired_login_is_exit_3_and_doctor_says_to_log_in() {
    let issuer = KeycloakLike::start_with(RealmOptions {
        access_ttl_seconds: 1,
        refresh_ttl_seconds: 1,
        ..RealmOptions::default()
    });
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);
    assert_eq!(password_login(&user, "testuser", "testpass").await.code, 0);
    // Past both lifetimes (a wait for expiry, not a performance bound).
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let whoami = user.run(&["whoami"]).await;
    assert_eq!(whoami.code, 3, "{}", whoami.err);
    assert_eq!(
        whoami.err.trim(),
        "mcpgw: your login has expired: run `mcpgw login`"
    );
    assert_eq!(user.run(&["token"]).await.code, 3);

    let doctor = user.run(&["doctor", "--output", "table"]).await;
    assert_eq!(doctor.code, 1, "{}", doctor.out);
    let token_line = line_of(&doctor.out, "token");
    assert_eq!(
        token_line,
        "✗ token: the kept login has expired, and so has its refresh token — run `mcpgw login`"
    );
}

#[tokio::test]
async fn login_refuses_an_issuer_in_clear_and_asks_for_what_it_needs() {
    let user = Mcpgw::new("http://127.0.0.1:9");
    let remote = user
        .run(&[
            "login",
            "--issuer",
            "http://sso.example.com/realms/x",
            "--username",
            "u",
            "--password-stdin",
        ])
        .await;
    assert_eq!(remote.code, 2, "{}", remote.err);
    assert_eq!(remote.err.lines().count(), 1, "{}", remote.err);
    assert!(
        remote
            .err
            .contains("refusing to send credentials to http://sso.example.com"),
        "{}",
        remote.err
    );

    // Not on a terminal, no --username, no --browser: say how.
    let issuer = KeycloakLike::start();
    let headless = user.run(&["login", "--issuer", &issuer.issuer]).await;
    assert_eq!(headless.code, 2, "{}", headless.err);
    assert!(
        headless.err.contains("--password-stdin, or --browser"),
        "{}",
        headless.err
    );
    // A password prompt without a terminal: pass it on stdin.
    let no_tty = user
        .run(&[
            "login",
            "--issuer",
            &issuer.issuer,
            "--username",
            "testuser",
        ])
        .await;
    assert_eq!(no_tty.code, 2, "{}", no_tty.err);
    assert!(no_tty.err.contains("--password-stdin"), "{}", no_tty.err);
    assert!(issuer.grants().await.is_empty());
}

#[tokio::test]
async fn browser_login_with_an_http_client_playing_the_browser() {
    let issuer = KeycloakLike::start();
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);
    let mut login = user
        .command(&["login", "--browser"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mcpgw login --browser");
    let mut lines = tokio::io::BufReader::new(login.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    let authorize = loop {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("the URL in time")
            .unwrap()
            .unwrap_or_else(|| panic!("no URL printed: {said:?}"));
        said.push(line.clone());
        if let Some(url) = line
            .trim()
            .strip_prefix("http")
            .filter(|u| u.contains("/auth?"))
        {
            break format!("http{url}");
        }
    };
    assert!(said[0].starts_with("Logging in to 127.0.0.1"), "{said:?}");
    let query: Vec<(String, String)> = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(param("client_id"), "mcp-cli");
    assert_eq!(param("code_challenge_method"), "S256");
    let redirect = param("redirect_uri");
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"),
        "{redirect}"
    );

    // The browser: a callback with another state is refused and changes nothing …
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forged = browser
        .get(format!("{redirect}?code=forged&state=not-this-one"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    // … then the issuer's redirect, followed to the loopback listener.
    let answer = browser.get(&authorize).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    let back = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&redirect), "{back}");
    let page = browser.get(&back).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in"));

    let status = tokio::time::timeout(PATIENCE, login.wait())
        .await
        .expect("login ends")
        .unwrap();
    let rest: Vec<String> = {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    };
    assert!(status.success(), "{said:?} {rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("as testuser (roles: user)")),
        "{rest:?}"
    );
    assert_eq!(issuer.grants().await, ["authorization_code"]);
    let whoami = user.run(&["whoami"]).await;
    assert_eq!(whoami.code, 0, "{}", whoami.err);
    assert_eq!(whoami.json()["user"], "testuser");
}

/// The line of `doctor`'s table output for check `name`.
fn line_of<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l[l.char_indices().nth(2).map_or(0, |(i, _)| i)..]
                .split(':')
                .next()
                .is_some_and(|n| n == name)
        })
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{out}"))
}

const CHECKS: [&str; 9] = [
    "gateway answers",
    "health",
    "protected resource metadata",
    "protected resource metadata (/mcp)",
    "issuer discovery",
    "client registration",
    "token",
    "tools",
    "tool names",
];

#[tokio::test]
async fn doctor_passes_on_a_good_setup_in_both_outputs() {
    let issuer = KeycloakLike::start();
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);
    assert_eq!(password_login(&user, "testuser", "testpass").await.code, 0);

    let table = user.run(&["doctor", "--output", "table"]).await;
    assert_eq!(table.code, 0, "{}", table.out);
    let expected: Vec<String> = CHECKS.iter().map(|name| format!("✓ {name}")).collect();
    assert_eq!(table.out.lines().collect::<Vec<_>>(), expected);

    let json = user.run(&["doctor"]).await.json();
    let checks = json["checks"].as_array().expect("checks");
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, CHECKS);
    for check in checks {
        assert_eq!(check["ok"], true, "{check}");
        assert!(
            check["detail"].is_string() && check["fix"].is_null(),
            "{check}"
        );
    }
    let token = &checks[6]["detail"];
    assert!(token.as_str().unwrap().contains("testuser"), "{token}");
}

#[tokio::test]
async fn doctor_catches_a_wrong_public_url_a_missing_audience_and_no_registration() {
    let issuer = KeycloakLike::start_with(RealmOptions {
        audience: false,
        registration: false,
        ..RealmOptions::default()
    });
    let gateway = gateway_for(
        &issuer,
        &[(
            "GATEWAY_PUBLIC_URL",
            "http://gateway.example:8000".to_owned(),
        )],
    )
    .await;
    let user = Mcpgw::new(&gateway.base);
    // The issuer gives a token the gateway refuses: login says so, and where to look.
    let login = password_login(&user, "testuser", "testpass").await;
    assert_eq!(login.code, 3, "{}", login.err);
    assert!(login.err.contains("run `mcpgw doctor`"), "{}", login.err);

    let doctor = user.run(&["doctor", "--output", "table"]).await;
    assert_eq!(doctor.code, 1, "{}", doctor.out);
    assert_eq!(line_of(&doctor.out, "gateway answers"), "✓ gateway answers");
    let metadata = line_of(&doctor.out, "protected resource metadata (/mcp)");
    assert!(
        metadata.starts_with("✗")
            && metadata.contains("resource is http://gateway.example:8000/mcp")
            && metadata.contains(&format!("set GATEWAY_PUBLIC_URL={}", gateway.base)),
        "{metadata}"
    );
    let registration = line_of(&doctor.out, "client registration");
    assert!(
        registration.starts_with("✗") && registration.contains("no dynamic client registration"),
        "{registration}"
    );
    let token = line_of(&doctor.out, "token");
    assert!(
        token.starts_with("✗")
            && token.contains("\"account\"")
            && token.contains("audience mapper"),
        "{token}"
    );
    assert!(line_of(&doctor.out, "tools").contains("not checked"));

    let json = user.run(&["doctor"]).await.json();
    let failed: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "protected resource metadata",
            "protected resource metadata (/mcp)",
            "client registration",
            "token",
            "tools",
            "tool names"
        ]
    );
}

#[tokio::test]
async fn doctor_catches_an_issuer_that_is_down_and_a_gateway_that_is_not_there() {
    let mut issuer = KeycloakLike::start();
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);
    assert_eq!(password_login(&user, "testuser", "testpass").await.code, 0);
    issuer.stop();

    let doctor = user.run(&["doctor", "--output", "table"]).await;
    assert_eq!(doctor.code, 1, "{}", doctor.out);
    let discovery = line_of(&doctor.out, "issuer discovery");
    assert!(
        discovery.starts_with("✗ issuer discovery: cannot reach the issuer")
            && discovery.contains("make it reachable"),
        "{discovery}"
    );
    assert!(line_of(&doctor.out, "client registration").contains("not checked"));
    // The gateway still has the issuer's keys: the kept token works, and so do the tools.
    assert_eq!(line_of(&doctor.out, "token"), "✓ token");
    assert_eq!(line_of(&doctor.out, "tools"), "✓ tools");

    let nowhere = Mcpgw::new(&format!("http://127.0.0.1:{}", free_port()));
    let doctor = nowhere.run(&["doctor", "--output", "table"]).await;
    assert_eq!(doctor.code, 1);
    assert_eq!(doctor.out.lines().count(), 1, "{}", doctor.out);
    assert!(
        doctor
            .out
            .starts_with("✗ gateway answers: no answer from http://127.0.0.1:"),
        "{}",
        doctor.out
    );
}

#[tokio::test]
async fn with_auth_off_login_has_nothing_to_do_and_doctor_passes_without_a_token() {
    let yaml = format!("servers:\n{}", stdio_mock_entry("alpha", &[]));
    let gateway = GatewayProcess::start(&yaml, &[]).await;
    gateway.wait_healthy(1).await;
    let user = Mcpgw::new(&gateway.base);
    let login = user
        .run(&["login", "--username", "u", "--password-stdin"])
        .await;
    assert_eq!(login.code, 0, "{}", login.err);
    assert!(login.err.contains("authentication off"), "{}", login.err);
    assert!(!user.credentials_file().exists());

    let doctor = user.run(&["doctor"]).await;
    assert_eq!(doctor.code, 0, "{}", doctor.out);
    let names: Vec<String> = doctor.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "gateway answers",
            "health",
            "protected resource metadata",
            "token",
            "tools",
            "tool names"
        ]
    );
}

/// Read `output` until it has said `wanted`; all it said so far.
async fn read_until(
    output: &mut (impl tokio::io::AsyncRead + Unpin),
    said: &mut String,
    wanted: &str,
) {
    use tokio::io::AsyncReadExt as _;
    let mut buffer = [0u8; 1024];
    while !said.contains(wanted) {
        let read = tokio::time::timeout(PATIENCE, output.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("never said {wanted:?}: {said}"))
            .expect("read");
        assert!(read > 0, "ended without saying {wanted:?}: {said}");
        said.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
}

#[tokio::test]
async fn on_a_terminal_the_password_is_prompted_for_and_a_bare_login_opens_the_browser() {
    use tokio::io::AsyncWriteExt as _;
    let issuer = KeycloakLike::start();
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);

    let mut login = user
        .command_on_terminal(&["login", "--username", "testuser"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    let mut output = login.stdout.take().unwrap();
    let mut said = String::new();
    read_until(&mut output, &mut said, "Password for testuser: ").await;
    assert!(said.starts_with("Logging in to 127.0.0.1"), "{said}");
    let mut input = login.stdin.take().unwrap();
    input.write_all(b"testpass\n").await.unwrap();
    read_until(&mut output, &mut said, "as testuser (roles: user)").await;
    // (Echo is turned off between the prompt and the read; typing right after the prompt, as
    // here, races with that, so the transcript is not checked for the password.)
    assert!(login.wait().await.unwrap().success(), "{said}");
    assert_eq!(user.run(&["whoami"]).await.json()["user"], "testuser");

    // No --username on a terminal: the browser, with the URL printed for another machine.
    let mut bare = user
        .command_on_terminal(&["login"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    let mut output = bare.stdout.take().unwrap();
    let mut said = String::new();
    read_until(&mut output, &mut said, "code_challenge_method=S256").await;
    assert!(said.contains("Sign in in your browser"), "{said}");
    assert!(issuer.grants().await == ["password"], "no grant yet");
}

#[tokio::test]
async fn keys_are_made_listed_used_and_revoked_from_the_command_line() {
    let issuer = KeycloakLike::start();
    let gateway = gateway_for(&issuer, &[]).await;
    let user = Mcpgw::new(&gateway.base);
    assert_eq!(password_login(&user, "testuser", "testpass").await.code, 0);

    let made = user
        .run(&[
            "--output",
            "json",
            "keys",
            "create",
            "ci",
            "--role",
            "user",
            "--expires",
            "1d",
        ])
        .await;
    assert_eq!(made.code, 0, "{}", made.err);
    let made = made.json();
    let key = made["key"].as_str().expect("the key").to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["roles"], serde_json::json!(["user"]));
    assert!(made["expires_at"].is_string());

    // More roles than the user holds: the gateway's 403 is exit 3.
    let refused = user.run(&["keys", "create", "x", "--role", "admin"]).await;
    assert_eq!(refused.code, 3, "{}", refused.err);
    assert!(
        refused.err.contains("you do not have the role admin"),
        "{}",
        refused.err
    );

    // The key works as a token, for another user of the CLI with no login of its own.
    let script = Mcpgw::new(&gateway.base);
    let whoami = script
        .run(&["--token", &key, "--output", "json", "whoami"])
        .await;
    assert_eq!(whoami.code, 0, "{}", whoami.err);
    assert_eq!(whoami.json()["user"], "testuser");

    let listed = user.run(&["--output", "table", "keys", "list"]).await;
    assert_eq!(listed.code, 0, "{}", listed.err);
    assert!(listed.out.starts_with("ID"), "{}", listed.out);
    assert!(
        listed.out.contains(&id) && listed.out.contains("active"),
        "{}",
        listed.out
    );
    assert!(!listed.out.contains(&key));

    let revoked = user.run(&["--output", "json", "keys", "revoke", &id]).await;
    assert_eq!(revoked.code, 0, "{}", revoked.err);
    assert_eq!(revoked.json()["state"], "revoked");
    let after = script.run(&["--token", &key, "whoami"]).await;
    assert_eq!(after.code, 3, "{}", after.err);
    let unknown = user.run(&["keys", "revoke", "no-such-key"]).await;
    assert_eq!(unknown.code, 1, "{}", unknown.err);
}

#[tokio::test]
async fn a_users_anthropic_key_is_stored_from_stdin_and_never_printed() {
    let issuer = KeycloakLike::start();
    let sealing = ("GATEWAY_ENCRYPTION_KEY", "07".repeat(32));
    let gateway = gateway_for(&issuer, &[sealing]).await;
    let user = Mcpgw::new(&gateway.base);
    assert_eq!(password_login(&user, "testuser", "testpass").await.code, 0);

    let empty = user.run_with_stdin(&["llm", "set-key"], "\n").await;
    assert_eq!(empty.code, 2, "{}", empty.err);
    let set = user
        .run_with_stdin(
            &["--output", "json", "llm", "set-key"],
            "sk-ant-api03-from-stdin\n",
        )
        .await;
    assert_eq!(set.code, 0, "{}", set.err);
    assert_eq!(set.json()["set"], true);
    let shown = user.run(&["--output", "table", "llm", "key"]).await;
    assert_eq!(shown.code, 0, "{}", shown.err);
    assert!(
        shown.out.lines().any(|line| line.starts_with("set")) && !shown.out.contains("not set"),
        "{}",
        shown.out
    );
    assert!(!shown.out.contains("sk-ant"), "{}", shown.out);
    let removed = user.run(&["--output", "json", "llm", "remove-key"]).await;
    assert_eq!(removed.json()["set"], false);
}
