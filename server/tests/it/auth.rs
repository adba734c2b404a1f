//! Authentication end to end (SPEC §7, §8, §12, §13): a gateway with `AUTH_ENABLED=true`
//! whose `KEYCLOAK_URL` is the test issuer of `common::oidc`, through real sockets, with real
//! MCP clients (rmcp and the Python SDK).

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::ServiceExt as _;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::common::keycloak::KeycloakLike;
use crate::common::oidc::*;
use crate::common::python::run_client;
use crate::common::*;

const PUBLIC_URL: &str = "https://gateway.example.test";
const NO_SERVERS: &str = "servers: {}\n";

fn root_metadata() -> String {
    format!("{PUBLIC_URL}/.well-known/oauth-protected-resource")
}

fn mcp_metadata() -> String {
    format!("{PUBLIC_URL}/.well-known/oauth-protected-resource/mcp")
}

/// A gateway authenticating against `issuer`, plus `extra` variables.
async fn gateway_for(
    issuer: &TestIssuer,
    yaml: &str,
    extra: &[(&'static str, String)],
) -> TestGateway {
    let mut env = issuer.gateway_env();
    env.push(("GATEWAY_PUBLIC_URL", PUBLIC_URL.to_owned()));
    env.extend(extra.iter().cloned());
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestGateway::start_with_env(yaml, &pairs).await
}

/// One HTTP answer.
struct Answer {
    status: u16,
    challenge: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let challenge = header("www-authenticate");
    let retry_after = header("retry-after");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    Answer {
        status,
        challenge,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn get_with(gateway: &TestGateway, path: &str, authorization: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().get(format!("{}{path}", gateway.base));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    send(request).await
}

async fn whoami(gateway: &TestGateway, token: &str) -> Answer {
    get_with(gateway, "/whoami", Some(&format!("Bearer {token}"))).await
}

/// Wait until the gateway has the issuer's keys (a good token passes).
async fn wait_ready(gateway: &TestGateway, issuer: &TestIssuer) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = whoami(gateway, &issuer.token_for("testuser")).await;
        if answer.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gateway never accepted a good token: {} {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready_gateway(issuer: &TestIssuer) -> TestGateway {
    let gateway = gateway_for(issuer, NO_SERVERS, &[]).await;
    wait_ready(&gateway, issuer).await;
    gateway
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Every kind of bad token, by name.
fn bad_tokens(issuer: &TestIssuer) -> Vec<(&'static str, String)> {
    let good = issuer.claims_for("testuser");
    let rsa = Signing::with(TestKey::Rsa1);
    let valid = issuer.token_for("testuser");
    let parts: Vec<&str> = valid.split('.').collect();
    let promoted = with(good.clone(), "realm_access", json!({"roles": ["admin"]}));
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(TestKey::Rsa1.kid().to_owned());
        jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(RSA_1_PUBLIC_PEM))
            .expect("hs256")
    };
    vec![
        (
            "expired",
            issuer.mint(&with(good.clone(), "exp", json!(now() - 3600)), &rsa),
        ),
        (
            "not yet valid",
            issuer.mint(&with(good.clone(), "nbf", json!(now() + 3600)), &rsa),
        ),
        (
            "issued in the future",
            issuer.mint(&with(good.clone(), "iat", json!(now() + 3600)), &rsa),
        ),
        (
            "wrong issuer",
            issuer.mint(
                &with(
                    good.clone(),
                    "iss",
                    json!("http://evil.example/realms/mcp-gateway"),
                ),
                &rsa,
            ),
        ),
        (
            "wrong audience",
            issuer.mint(&with(good.clone(), "aud", json!(["account"])), &rsa),
        ),
        (
            "bad signature",
            issuer.mint(
                &good,
                &Signing {
                    key: TestKey::Attacker,
                    kid: Kid::Named(TestKey::Rsa1.kid().to_owned()),
                },
            ),
        ),
        (
            "unknown kid",
            issuer.mint(
                &good,
                &Signing {
                    key: TestKey::Rsa1,
                    kid: Kid::Named("no-such-key".to_owned()),
                },
            ),
        ),
        (
            "no kid",
            issuer.mint(
                &good,
                &Signing {
                    key: TestKey::Rsa1,
                    kid: Kid::None,
                },
            ),
        ),
        ("alg none", issuer.unsigned(&good, "none")),
        ("alg None", issuer.unsigned(&good, "None")),
        ("HS256 with the public key as secret", hs256_with_public_key),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], b64_json(&promoted), parts[2]),
        ),
        ("garbage", "garbage".to_owned()),
        ("two segments", "abc.def".to_owned()),
        ("empty signature", format!("{}.{}.", parts[0], parts[1])),
    ]
}

#[tokio::test]
async fn every_bad_token_is_401_invalid_token_with_no_reason_in_the_body() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let expected_challenge = format!(
        "Bearer error=\"invalid_token\", resource_metadata=\"{}\"",
        root_metadata()
    );
    let generic = json!({"error": {
        "code": "unauthorized",
        "message": "the bearer token is invalid or expired",
    }});
    for (name, token) in bad_tokens(&issuer) {
        let answer = whoami(&gateway, &token).await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        assert_eq!(
            answer.challenge.as_deref(),
            Some(expected_challenge.as_str()),
            "{name}"
        );
        // The same body whatever failed: the reason is only in the log.
        assert_eq!(answer.body, generic, "{name}");
    }
}

#[tokio::test]
async fn no_bearer_token_is_401_without_an_error_code() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let expected = format!("Bearer resource_metadata=\"{}\"", root_metadata());
    let token = issuer.token_for("testuser");
    for authorization in [
        None,
        Some("Basic dGVzdHVzZXI6dGVzdHBhc3M="),
        Some(token.as_str()),
    ] {
        let answer = get_with(&gateway, "/whoami", authorization).await;
        assert_eq!(answer.status, 401, "{authorization:?}");
        assert_eq!(answer.challenge.as_deref(), Some(expected.as_str()));
        assert_eq!(answer.body["error"]["code"], "unauthorized");
    }
    // `Bearer` with nothing usable after it was an attempt: invalid_token.
    let answer = get_with(&gateway, "/whoami", Some("Bearer ")).await;
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .challenge
            .expect("challenge")
            .contains("error=\"invalid_token\"")
    );
}

/// A token from the issuer's token endpoint, as `mcpgw login` would get it.
async fn password_grant(issuer: &TestIssuer, username: &str, password: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(issuer.token_url())
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLI_CLIENT),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    answer["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test]
async fn good_rs256_and_es256_tokens_pass_with_realm_and_client_roles() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;

    let token = password_grant(&issuer, "testuser", "testpass").await;
    let answer = whoami(&gateway, &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"user": "testuser", "subject": user("testuser").subject, "roles": ["user"]})
    );

    let token = password_grant(&issuer, "admin", "admin123").await;
    assert_eq!(
        whoami(&gateway, &token).await.body["roles"],
        json!(["admin"])
    );

    // ES256; realm role + mcp-gateway client role; the `admin` scope and the account
    // client's roles are not roles of the gateway.
    let es256 = issuer.mint(&issuer.claims_for("operator"), &Signing::with(TestKey::Ec1));
    let answer = whoami(&gateway, &es256).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["user"], "operator");
    assert_eq!(answer.body["roles"], json!(["operator", "user"]));

    // A token without preferred_username is known by its subject.
    let mut anonymous_name = issuer.claims_for("testuser");
    anonymous_name
        .as_object_mut()
        .expect("object")
        .remove("preferred_username");
    let answer = whoami(
        &gateway,
        &issuer.mint(&anonymous_name, &Signing::with(TestKey::Rsa1)),
    )
    .await;
    assert_eq!(answer.body["user"], user("testuser").subject);

    // The RFC 8707 resource is an accepted audience.
    let resource = with(
        issuer.claims_for("testuser"),
        "aud",
        json!(format!("{PUBLIC_URL}/mcp")),
    );
    let answer = whoami(
        &gateway,
        &issuer.mint(&resource, &Signing::with(TestKey::Rsa1)),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn client_credentials_tokens_pass() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let answer: Value = reqwest::Client::new()
        .post(issuer.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", SERVICE_CLIENT),
            ("client_secret", SERVICE_SECRET),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    let token = answer["access_token"].as_str().expect("access_token");
    let answer = whoami(&gateway, token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["user"], "service-account-mcp-service");
}

#[tokio::test]
async fn a_rotated_key_is_accepted_without_restart() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let old_token = issuer.token_for("testuser");
    let fetches_before = issuer.jwks_fetches();

    issuer.rotate_to(TestKey::Rsa2);
    let new_token = issuer.token_for("testuser");
    assert!(new_token != old_token);
    let answer = whoami(&gateway, &new_token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        issuer.jwks_fetches(),
        fetches_before + 1,
        "one fetch for the new kid"
    );

    // Tokens signed with the old key stay valid while it is published, and known keys cost no
    // further fetch.
    for _ in 0..5 {
        assert_eq!(whoami(&gateway, &old_token).await.status, 200);
        assert_eq!(whoami(&gateway, &new_token).await.status, 200);
    }
    assert_eq!(issuer.jwks_fetches(), fetches_before + 1);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_causes_a_bounded_number_of_jwks_fetches() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let claims = issuer.claims_for("testuser");
    let fetches_before = issuer.jwks_fetches();
    let started = Instant::now();
    let requests = (0..60).map(|i| {
        let token = issuer.mint(
            &claims,
            &Signing {
                key: TestKey::Rsa1,
                kid: Kid::Named(format!("invented-{i}")),
            },
        );
        let gateway = &gateway;
        async move { whoami(gateway, &token).await.status }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // At most one caller-caused fetch per 10 s (the gateway's minimum interval).
    let allowed = 1 + (started.elapsed().as_secs() / 10) as usize;
    let fetched = issuer.jwks_fetches() - fetches_before;
    assert!(
        fetched <= allowed,
        "{fetched} JWKS fetches for 60 invented kids"
    );
}

#[tokio::test]
async fn known_keys_need_no_issuer() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let token = issuer.token_for("testuser");
    let fetches = issuer.jwks_fetches();
    issuer.stop().await;
    for _ in 0..20 {
        assert_eq!(whoami(&gateway, &token).await.status, 200);
    }
    assert_eq!(issuer.jwks_fetches(), fetches);
}

#[tokio::test]
async fn issuer_down_at_start_gives_503_then_recovers_by_itself() {
    let issuer = TestIssuer::not_started();
    let gateway = gateway_for(&issuer, NO_SERVERS, &[]).await;

    // The gateway serves; open routes work.
    let health = get_with(&gateway, "/health", None).await;
    assert_eq!(health.status, 200);
    // Authenticated routes are unavailable, not unauthorized (a 401 would start OAuth).
    for authorization in [
        None,
        Some(format!("Bearer {}", issuer.token_for("testuser"))),
    ] {
        let answer = get_with(&gateway, "/whoami", authorization.as_deref()).await;
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(answer.body["error"]["code"], "auth_unavailable");
        assert_eq!(answer.challenge, None);
        assert!(answer.retry_after.is_some());
    }
    let answer = get_with(&gateway, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["error"]["code"], "auth_unavailable");

    issuer.up().await;
    wait_ready(&gateway, &issuer).await;
    let answer = whoami(&gateway, &issuer.token_for("admin")).await;
    assert_eq!(answer.body["roles"], json!(["admin"]));
}

#[tokio::test]
async fn protected_resource_metadata_documents_are_exact() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let root = get_with(&gateway, "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(root.status, 200);
    assert_eq!(
        root.body,
        json!({
            "resource": PUBLIC_URL,
            "authorization_servers": [issuer.issuer()],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["openid"],
        })
    );
    let mcp = get_with(&gateway, "/.well-known/oauth-protected-resource/mcp", None).await;
    assert_eq!(mcp.status, 200);
    assert_eq!(
        mcp.body,
        json!({
            "resource": format!("{PUBLIC_URL}/mcp"),
            "authorization_servers": [issuer.issuer()],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["openid"],
        })
    );
    // Keycloak's metadata, mirrored unchanged.
    let mirrored = get_with(&gateway, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(mirrored.status, 200);
    let original: Value = reqwest::get(issuer.discovery_url())
        .await
        .expect("discovery")
        .json()
        .await
        .expect("discovery JSON");
    assert_eq!(mirrored.body, original);
}

#[tokio::test]
async fn the_host_and_origin_guard_answers_before_authentication() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let get = |path: &str, header: (&'static str, &'static str)| {
        reqwest::Client::new()
            .get(format!("{}{path}", gateway.base))
            .header(header.0, header.1)
    };
    // No token either: a refused host or origin is 403, not a login challenge.
    for (header, code) in [
        (("host", "evil.example"), "forbidden_host"),
        (("origin", "http://evil.example"), "forbidden_origin"),
    ] {
        let answer = send(get("/tools", header)).await;
        assert_eq!(answer.status, 403, "{header:?}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
        assert_eq!(answer.challenge, None);
    }
    // Probes by any name still reach /health, and the token check still runs behind the guard.
    assert_eq!(
        send(get("/health", ("host", "10.1.2.3:8000"))).await.status,
        200
    );
    assert_eq!(send(get("/tools", ("host", "localhost"))).await.status, 401);
}

#[tokio::test]
async fn open_routes_need_no_token() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    for path in ["/", "/health", "/metrics"] {
        let answer = get_with(&gateway, path, None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    }
    // Everything else needs one, REST included.
    for path in ["/tools", "/mcp/servers", "/whoami"] {
        assert_eq!(get_with(&gateway, path, None).await.status, 401, "{path}");
    }
}

#[tokio::test]
async fn mcp_transport_401s_point_at_the_mcp_document() {
    let issuer = TestIssuer::start().await;
    let gateway = ready_gateway(&issuer).await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}
    });
    let post = |authorization: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(gateway.mcp_url())
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        send(request)
    };
    let answer = post(None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(format!("Bearer resource_metadata=\"{}\"", mcp_metadata()).as_str())
    );
    let answer = post(Some("Bearer garbage")).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            format!(
                "Bearer error=\"invalid_token\", resource_metadata=\"{}\"",
                mcp_metadata()
            )
            .as_str()
        )
    );
    let answer = get_with(&gateway, "/sse", None).await;
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .challenge
            .expect("challenge")
            .contains(&mcp_metadata())
    );
    let answer = get_with(&gateway, "/tools", None).await;
    assert!(
        answer
            .challenge
            .expect("challenge")
            .ends_with(&format!("\"{}\"", root_metadata()))
    );
}

/// A gateway in front of one backend, trusting the issuer from npm (oauth2-mock-server in
/// Keycloak's shape), and a token of `testuser` from that issuer's password grant.
async fn gateway_with_backend(issuer: &KeycloakLike) -> (MockServer, TestGateway, String) {
    let backend = MockServer::start("http", "alpha", &[]);
    let yaml = format!("servers:\n{}", url_entry("alpha", "http", backend.url()));
    let mut env = issuer.gateway_env();
    env.push(("GATEWAY_PUBLIC_URL", PUBLIC_URL.to_owned()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gateway = TestGateway::start_with_env(&yaml, &pairs).await;
    gateway.wait_healthy(1).await;
    issuer.wait_trusted_by(&gateway.base).await;
    let token = issuer.password_token("testuser", "testpass").await;
    assert_eq!(whoami(&gateway, &token).await.status, 200);
    (backend, gateway, token)
}

#[tokio::test]
async fn rmcp_client_with_a_bearer_token_lists_tools() {
    let issuer = KeycloakLike::start();
    let (_backend, gateway, token) = gateway_with_backend(&issuer).await;

    let config =
        StreamableHttpClientTransportConfig::with_uri(gateway.mcp_url()).auth_header(token);
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("MCP handshake with a token");
    let tools = client.peer().list_all_tools().await.expect("tools/list");
    assert!(
        tools.iter().any(|t| t.name == "alpha__echo"),
        "{:?}",
        tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>()
    );
    let _ = client.cancel().await;

    // Without a token the handshake is refused.
    let refused = ().serve(StreamableHttpClientTransport::from_uri(gateway.mcp_url())).await;
    assert!(refused.is_err(), "a client without a token got in");
}

#[tokio::test]
async fn python_sdk_client_with_a_bearer_header_lists_tools() {
    let issuer = KeycloakLike::start();
    let (_backend, gateway, token) = gateway_with_backend(&issuer).await;
    for mode in ["auto", "legacy"] {
        let report = run_client(json!({
            "url": gateway.mcp_url(),
            "mode": mode,
            "headers": {"Authorization": format!("Bearer {token}")},
            "steps": [["list_tools"]],
        }))
        .await;
        let names = report["results"][0].as_array().unwrap_or_else(|| {
            panic!("{mode}: list_tools failed: {report}");
        });
        assert!(names.contains(&json!("alpha__echo")), "{mode}: {report}");
    }
}

#[tokio::test]
async fn compose_style_issuer_with_jwks_url_needs_no_discovery_for_keys() {
    // Keycloak names itself by a host the gateway cannot reach (127.0.0.2 has no listener);
    // the gateway reaches it at KEYCLOAK_URL and JWKS_URL, as in docker compose.
    let issuer = TestIssuer::start_with_issuer_host("127.0.0.2").await;
    let gateway = gateway_for(
        &issuer,
        NO_SERVERS,
        &[
            ("JWT_ISSUER", issuer.issuer()),
            ("JWKS_URL", issuer.jwks_url()),
        ],
    )
    .await;
    wait_ready(&gateway, &issuer).await;
    let answer = get_with(&gateway, "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(
        answer.body["authorization_servers"],
        json!([issuer.issuer()])
    );
    // The mirrored metadata comes from KEYCLOAK_URL and names the public issuer.
    let answer = get_with(&gateway, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["issuer"], issuer.issuer());
    // A token naming the internal address as issuer is not this issuer's.
    let internal = with(
        issuer.claims_for("testuser"),
        "iss",
        json!(format!("{}/realms/{REALM}", issuer.url())),
    );
    let answer = whoami(
        &gateway,
        &issuer.mint(&internal, &Signing::with(TestKey::Rsa1)),
    )
    .await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn auth_off_makes_every_caller_anonymous() {
    let gateway = TestGateway::start(NO_SERVERS).await;
    let answer = get_with(&gateway, "/whoami", None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"user": "anonymous", "subject": "anonymous", "roles": ["admin"]})
    );
    // A token is not even looked at.
    let answer = get_with(&gateway, "/whoami", Some("Bearer garbage")).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn unusable_auth_settings_refuse_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("mcp_servers.yaml");
    std::fs::write(&config, NO_SERVERS).expect("write config");
    let vars = [
        ("AUTH_ENABLED", "true"),
        ("KEYCLOAK_REALM", "not/a/realm"),
        ("GATEWAY_HOST", "127.0.0.1"),
        ("GATEWAY_PORT", "0"),
        ("AUDIT_TO_STDOUT", "false"),
    ];
    let settings = mcp_gateway::config::Settings::from_lookup(
        |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        },
        mcp_gateway::config::SettingsOverrides {
            config_path: Some(config),
            listen: None,
        },
    )
    .expect("settings themselves are readable");
    let error = match mcp_gateway::app::bind(settings).await {
        Ok(_) => panic!("a gateway started with KEYCLOAK_REALM=not/a/realm"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("KEYCLOAK_REALM"), "{error}");
}

/// The realm export parses and holds what SPEC §11 and §13 name.
#[test]
fn keycloak_realm_export_is_complete() {
    let path = workspace_root().join("examples/keycloak/mcp-gateway-realm.json");
    let text = std::fs::read_to_string(&path).expect("realm export");
    let realm: Value = serde_json::from_str(&text).expect("realm export is JSON");
    assert_eq!(realm["realm"], REALM);

    let names = |items: &Value, key: &str| -> Vec<String> {
        items
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item[key].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut roles = names(&realm["roles"]["realm"], "name");
    roles.sort();
    assert_eq!(roles, ["admin", "user"]);

    let find = |items: &Value, key: &str, name: &str| -> Value {
        items
            .as_array()
            .and_then(|items| items.iter().find(|item| item[key] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    for (username, password, role) in [
        ("testuser", "testpass", "user"),
        ("admin", "admin123", "admin"),
    ] {
        let user = find(&realm["users"], "username", username);
        assert_eq!(user["credentials"][0]["value"], password);
        assert_eq!(user["realmRoles"], json!([role]));
    }

    let gateway = find(&realm["clients"], "clientId", "mcp-gateway");
    assert_eq!(gateway["bearerOnly"], true);
    // mcpgw login: the password grant, and the browser with PKCE on a loopback redirect.
    let cli = find(&realm["clients"], "clientId", "mcp-cli");
    assert_eq!(cli["publicClient"], true);
    assert_eq!(cli["directAccessGrantsEnabled"], true);
    assert_eq!(cli["standardFlowEnabled"], true);
    assert_eq!(cli["attributes"]["pkce.code.challenge.method"], "S256");
    assert!(
        cli["redirectUris"]
            .as_array()
            .unwrap()
            .contains(&json!("http://127.0.0.1/*")),
        "{}",
        cli["redirectUris"]
    );
    let ui = find(&realm["clients"], "clientId", "mcp-ui");
    assert_eq!(ui["publicClient"], true);
    assert_eq!(ui["standardFlowEnabled"], true);
    assert!(
        ui["redirectUris"]
            .as_array()
            .unwrap()
            .contains(&json!("http://localhost:8000/ui/*")),
        "{}",
        ui["redirectUris"]
    );
    assert_eq!(ui["attributes"]["pkce.code.challenge.method"], "S256");

    // The audience scope is a default scope of the realm and of every client.
    let audience = find(&realm["clientScopes"], "name", "mcp-gateway-audience");
    assert_eq!(
        audience["protocolMappers"][0]["protocolMapper"],
        "oidc-audience-mapper"
    );
    assert_eq!(
        audience["protocolMappers"][0]["config"]["included.client.audience"],
        "mcp-gateway"
    );
    assert_eq!(
        audience["protocolMappers"][0]["config"]["access.token.claim"],
        "true"
    );
    let defaults = &realm["defaultDefaultClientScopes"];
    for client in ["mcp-gateway", "mcp-cli", "mcp-ui"] {
        let client = find(&realm["clients"], "clientId", client);
        assert_eq!(&client["defaultClientScopes"], defaults);
    }
    // Every default scope exists (Keycloak creates none itself when the export names scopes),
    // and the claims the gateway reads have mappers.
    let scopes = names(&realm["clientScopes"], "name");
    let default_scopes: Vec<&str> = defaults
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for scope in ["mcp-gateway-audience", "basic", "profile", "roles"] {
        assert!(
            default_scopes.contains(&scope),
            "{scope} is not a default scope"
        );
    }
    for scope in default_scopes {
        assert!(
            scopes.iter().any(|s| s == scope),
            "default scope {scope} is not defined"
        );
    }
    let claims: Vec<String> = realm["clientScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|scope| scope["protocolMappers"].as_array().into_iter().flatten())
        .map(|mapper| {
            mapper["config"]["claim.name"]
                .as_str()
                .unwrap_or(mapper["protocolMapper"].as_str().unwrap_or(""))
                .to_owned()
        })
        .collect();
    for claim in [
        "oidc-sub-mapper",
        "preferred_username",
        "realm_access.roles",
        "resource_access.${client_id}.roles",
    ] {
        assert!(claims.iter().any(|c| c == claim), "no mapper for {claim}");
    }

    // Anonymous dynamic registration for redirect URIs on this machine only.
    let policies = &realm["components"]["org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"];
    let trusted = find(policies, "providerId", "trusted-hosts");
    assert_eq!(trusted["subType"], "anonymous");
    assert_eq!(
        trusted["config"]["trusted-hosts"],
        json!(["localhost", "127.0.0.1"])
    );
    assert_eq!(trusted["config"]["client-uris-must-match"], json!(["true"]));
}
