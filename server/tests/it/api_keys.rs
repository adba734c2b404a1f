//! API keys (SPEC §14) against the real gateway binary and real tokens from the
//! Keycloak-shaped issuer: made, listed and revoked over REST; accepted on REST, MCP and the
//! Anthropic proxy in either header; refused at once when revoked or expired; kept only as
//! digests; every record says how its caller authenticated.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::keycloak::KeycloakLike;
use crate::common::process::GatewayProcess;
use crate::common::*;

struct Setup {
    issuer: KeycloakLike,
    gateway: GatewayProcess,
    client: reqwest::Client,
}

async fn setup() -> Setup {
    let issuer = KeycloakLike::start();
    let yaml = format!("servers:\n{}", stdio_mock_entry("alpha", &[]));
    let gateway = GatewayProcess::start(&yaml, &issuer.gateway_env()).await;
    gateway.wait_healthy(1).await;
    issuer.wait_trusted_by(&gateway.base).await;
    Setup {
        issuer,
        gateway,
        client: reqwest::Client::new(),
    }
}

impl Setup {
    async fn token(&self, user: &str) -> String {
        let password = if user == "admin" {
            "admin123"
        } else {
            "testpass"
        };
        self.issuer.password_token(user, password).await
    }

    /// `(status, JSON body)` of a request with `credential` as a bearer token.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.gateway.base))
            .bearer_auth(credential);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("gateway answers");
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, credential: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, "/api/keys", credential, Some(body))
            .await
    }

    async fn wait_for_audit(&self, what: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(record) = self
                .gateway
                .audit_records()
                .into_iter()
                .find(|r| predicate(r))
            {
                return record;
            }
            assert!(Instant::now() < deadline, "no audit record: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_key_stands_for_its_maker_everywhere_until_it_is_revoked() {
    let setup = setup().await;
    let user = setup.token("testuser").await;

    let (status, made) = setup.create(&user, json!({"name": "ci pipeline"})).await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"]
        .as_str()
        .expect("the key, shown once")
        .to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mcpgw_") && key.len() >= 6 + 43, "{key}");
    assert_eq!(made["user"], "testuser");
    assert_eq!(made["roles"], json!(["user"]));
    assert_eq!(made["state"], "active");
    assert_eq!(made["expires_at"], Value::Null);

    // REST with `Authorization: Bearer`, and `x-api-key`: the caller is the key's maker.
    let (status, whoami) = setup
        .send(reqwest::Method::GET, "/whoami", &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(whoami["user"], "testuser");
    assert_eq!(whoami["roles"], json!(["user"]));
    let by_header = setup
        .client
        .get(format!("{}/whoami", setup.gateway.base))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
    // A tool call over REST and over MCP (plain JSON-RPC, as curl sends it).
    let (status, _) = setup
        .send(
            reqwest::Method::POST,
            "/tools/alpha__echo/invoke",
            &key,
            Some(json!({"via": "rest"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = setup
        .send(
            reqwest::Method::POST,
            "/mcp",
            &key,
            Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": "alpha__echo", "arguments": {"via": "mcp"}}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["result"].is_object(), "{answer}");

    // Every record made with the key says so; one made with a JWT says that.
    for via in ["rest", "mcp"] {
        let record = setup
            .wait_for_audit(via, |r| {
                r["event"] == "tool_call" && r["parameters"]["via"] == via
            })
            .await;
        assert_eq!(record["auth"], "api_key", "{record}");
        assert_eq!(record["key_id"], id.as_str());
        assert_eq!(record["user"], "testuser");
    }
    let created = setup
        .wait_for_audit("created", |r| r["event"] == "api_key_created")
        .await;
    assert_eq!(created["auth"], "jwt");
    assert!(created.get("key_id").is_none(), "{created}");
    assert_eq!(created["details"]["key"]["id"], id.as_str());
    assert_eq!(created["details"]["key"]["name"], "ci pipeline");

    // Listed without its text; another user's list is an admin's business.
    let (status, listed) = setup
        .send(reqwest::Method::GET, "/api/keys", &user, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
    assert!(listed["keys"][0].get("key").is_none());
    assert!(!listed.to_string().contains(&key));
    let (status, _) = setup
        .send(reqwest::Method::GET, "/api/keys?user=admin", &user, None)
        .await;
    assert_eq!(status, 403);
    let admin = setup.token("admin").await;
    let (status, all) = setup
        .send(
            reqwest::Method::GET,
            "/api/keys?user=testuser",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(all["keys"][0]["id"], id.as_str());

    // A key does not manage keys: it could mint ones that outlive it.
    let (status, _) = setup.create(&key, json!({"name": "child"})).await;
    assert_eq!(status, 403);
    let (status, _) = setup
        .send(
            reqwest::Method::DELETE,
            &format!("/api/keys/{id}"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 403);

    // Revoked by its owner: refused at once.
    let (status, revoked) = setup
        .send(
            reqwest::Method::DELETE,
            &format!("/api/keys/{id}"),
            &user,
            None,
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    let (status, _) = setup
        .send(reqwest::Method::GET, "/whoami", &key, None)
        .await;
    assert_eq!(status, 401);
    setup
        .wait_for_audit("revoked", |r| r["event"] == "api_key_revoked")
        .await;
    let failure = setup
        .wait_for_audit("refused key", |r| {
            r["event"] == "auth_failure" && r["error"] == "revoked API key"
        })
        .await;
    assert_eq!(failure["status"], "denied");

    // The key's text is nowhere: not in the audit, the log, or the database (a digest).
    let audit = std::fs::read_to_string(setup.gateway.audit_file()).unwrap();
    assert!(!audit.contains(&key));
    assert!(!setup.gateway.log().contains(&key));
    let database = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        setup.gateway.database_path().display()
    ))
    .await
    .unwrap();
    let (digest,): (String,) = sqlx::query_as("SELECT digest FROM api_keys WHERE id = ?")
        .bind(&id)
        .fetch_one(&database)
        .await
        .unwrap();
    assert_eq!(digest.len(), 64);
    assert_ne!(digest, key);
    let dump: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, name, digest FROM api_keys")
            .fetch_all(&database)
            .await
            .unwrap();
    assert!(!format!("{dump:?}").contains(&key[6..]));
}

#[tokio::test]
async fn a_key_never_has_more_than_its_makers_roles_and_expires_when_asked() {
    let setup = setup().await;
    let user = setup.token("testuser").await;
    let admin = setup.token("admin").await;

    let (status, refused) = setup
        .create(&user, json!({"name": "x", "roles": ["admin"]}))
        .await;
    assert_eq!(status, 403, "{refused}");
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x", "color": "red"}),
        json!({"name": "x", "expires_in": "1w"}),
    ] {
        let (status, body) = setup.create(&user, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // An admin's key without the admin role: it cannot read the audit.
    let (status, narrow) = setup
        .create(&admin, json!({"name": "reader", "roles": []}))
        .await;
    assert_eq!(status, 201);
    let narrow_key = narrow["key"].as_str().unwrap();
    let (status, _) = setup
        .send(reqwest::Method::GET, "/audit", narrow_key, None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = setup
        .send(reqwest::Method::GET, "/audit", &admin, None)
        .await;
    assert_eq!(status, 200);
    // Another user's key is not there for testuser to revoke.
    let (status, _) = setup
        .send(
            reqwest::Method::DELETE,
            &format!("/api/keys/{}", narrow["id"].as_str().unwrap()),
            &user,
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (status, short) = setup
        .create(&user, json!({"name": "short", "expires_in": 1}))
        .await;
    assert_eq!(status, 201);
    assert!(short["expires_at"].is_string());
    let short_key = short["key"].as_str().unwrap();
    let (status, _) = setup
        .send(reqwest::Method::GET, "/whoami", short_key, None)
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = setup
        .send(reqwest::Method::GET, "/whoami", short_key, None)
        .await;
    assert_eq!(status, 401);
    let (_, listed) = setup
        .send(reqwest::Method::GET, "/api/keys", &user, None)
        .await;
    assert_eq!(listed["keys"][0]["state"], "expired");
    // An unknown key is a 401 like any bad credential.
    let (status, _) = setup
        .send(reqwest::Method::GET, "/whoami", "mcpgw_notakey", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn with_authentication_off_there_are_no_keys_to_make() {
    let yaml = format!("servers:\n{}", stdio_mock_entry("alpha", &[]));
    let gateway = GatewayProcess::start(&yaml, &[]).await;
    let answer = reqwest::Client::new()
        .post(format!("{}/api/keys", gateway.base))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    // Records of an anonymous caller say `auth: none`.
    let call = reqwest::Client::new()
        .post(format!("{}/tools/alpha__echo/invoke", gateway.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let records = gateway.audit_records();
        if let Some(record) = records.iter().find(|r| r["event"] == "tool_call") {
            assert_eq!(record["auth"], "none");
            break;
        }
        assert!(Instant::now() < deadline, "no tool_call record");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
