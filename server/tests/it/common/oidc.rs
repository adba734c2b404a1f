//! A test-only OIDC issuer that looks like Keycloak to the gateway: realm `mcp-gateway` at
//! `/realms/mcp-gateway`, with discovery, JWKS and a token endpoint (password grant for the
//! test users through client `mcp-cli`, `client_credentials` for client `mcp-service`).
//!
//! It signs real RS256 and ES256 tokens with the committed test keys
//! (`server/tests/fixtures/*.pem`), and lets a test rotate keys, mint tokens with any claims,
//! header algorithm or `kid`, count JWKS fetches, and go down and come back on the same port.
//!
//! Those are what it is kept for: a third-party issuer does not forge tokens. Tests that need
//! real tokens and nothing more use the npm issuer of [`super::keycloak`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const REALM: &str = "mcp-gateway";
/// The public client of `mcpgw login` (direct access grants).
pub const CLI_CLIENT: &str = "mcp-cli";
/// A confidential client for the `client_credentials` grant.
pub const SERVICE_CLIENT: &str = "mcp-service";
pub const SERVICE_SECRET: &str = "service-secret";
/// What the test users' tokens carry as `scope` (operator's adds `admin`, which must never
/// become a role).
pub const DEFAULT_SCOPE: &str = "openid profile email";

/// The committed test keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    /// RSA, kid `test-rsa-1`: the issuer's key at start.
    Rsa1,
    /// RSA, kid `test-rsa-2`: the key a rotation moves to.
    Rsa2,
    /// EC P-256, kid `test-ec-1` (ES256), published from the start.
    Ec1,
    /// RSA, kid `test-rsa-attacker`, never published.
    Attacker,
}

impl TestKey {
    pub fn kid(self) -> &'static str {
        match self {
            TestKey::Rsa1 => "test-rsa-1",
            TestKey::Rsa2 => "test-rsa-2",
            TestKey::Ec1 => "test-ec-1",
            TestKey::Attacker => "test-rsa-attacker",
        }
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            TestKey::Ec1 => Algorithm::ES256,
            _ => Algorithm::RS256,
        }
    }

    pub fn encoding_key(self) -> EncodingKey {
        let parsed = match self {
            TestKey::Rsa1 => EncodingKey::from_rsa_pem(include_bytes!("../../fixtures/rsa-1.pem")),
            TestKey::Rsa2 => EncodingKey::from_rsa_pem(include_bytes!("../../fixtures/rsa-2.pem")),
            TestKey::Ec1 => EncodingKey::from_ec_pem(include_bytes!("../../fixtures/ec-1.pem")),
            TestKey::Attacker => {
                EncodingKey::from_rsa_pem(include_bytes!("../../fixtures/rsa-attacker.pem"))
            }
        };
        parsed.expect("committed test key parses")
    }

    /// The public key as a JWK, the way Keycloak publishes it (`kid`, `use`, `alg`).
    pub fn jwk(self) -> Value {
        let jwk = Jwk::from_encoding_key(&self.encoding_key(), self.algorithm()).expect("jwk");
        let mut value = serde_json::to_value(jwk).expect("jwk json");
        value["kid"] = json!(self.kid());
        value["use"] = json!("sig");
        value
    }
}

/// The PEM of rsa-1's public key (the "HS256 with the public key as secret" attack).
pub const RSA_1_PUBLIC_PEM: &[u8] = include_bytes!("../../fixtures/rsa-1.pub.pem");

/// Which `kid` a minted token's header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kid {
    /// The signing key's own.
    OfKey,
    None,
    Named(String),
}

/// How to sign a minted token.
#[derive(Debug, Clone)]
pub struct Signing {
    pub key: TestKey,
    pub kid: Kid,
}

impl Signing {
    pub fn with(key: TestKey) -> Signing {
        Signing {
            key,
            kid: Kid::OfKey,
        }
    }
}

/// A user of the test realm.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub username: &'static str,
    pub password: &'static str,
    pub subject: &'static str,
    pub realm_roles: &'static [&'static str],
    /// Roles of client `mcp-gateway`.
    pub client_roles: &'static [&'static str],
    pub scope: &'static str,
}

/// testuser (user), admin (admin) as in SPEC §11, and operator, whose token also carries a
/// client role, another client's role and an `admin` scope.
pub const USERS: &[TestUser] = &[
    TestUser {
        username: "testuser",
        password: "testpass",
        subject: "7c1e4f7a-1f0b-4d3e-9a55-000000000001",
        realm_roles: &["user"],
        client_roles: &[],
        scope: DEFAULT_SCOPE,
    },
    TestUser {
        username: "admin",
        password: "admin123",
        subject: "7c1e4f7a-1f0b-4d3e-9a55-000000000002",
        realm_roles: &["admin"],
        client_roles: &[],
        scope: DEFAULT_SCOPE,
    },
    TestUser {
        username: "operator",
        password: "operatorpass",
        subject: "7c1e4f7a-1f0b-4d3e-9a55-000000000003",
        realm_roles: &["user"],
        client_roles: &["operator"],
        scope: "openid profile email admin",
    },
];

pub fn user(username: &str) -> &'static TestUser {
    USERS
        .iter()
        .find(|u| u.username == username)
        .unwrap_or_else(|| panic!("no test user {username}"))
}

struct Keys {
    published: Vec<TestKey>,
    active: TestKey,
}

struct IssuerState {
    /// `http://<public host>:<port>/realms/mcp-gateway`: what tokens and discovery name.
    issuer: String,
    /// Where the documents are served (may differ from the issuer's host).
    base: String,
    keys: Mutex<Keys>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
}

struct Running {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The issuer; stops serving when dropped.
pub struct TestIssuer {
    port: u16,
    state: Arc<IssuerState>,
    running: Mutex<Option<Running>>,
}

impl TestIssuer {
    /// Serving on 127.0.0.1:<random>, issuer `http://127.0.0.1:<port>/realms/mcp-gateway`.
    pub async fn start() -> TestIssuer {
        let issuer = Self::reserve(None);
        issuer.up().await;
        issuer
    }

    /// Serving on 127.0.0.1:<random> but naming `http://<host>:<port>/realms/mcp-gateway` as
    /// issuer, like Keycloak behind `KC_HOSTNAME` in docker compose.
    pub async fn start_with_issuer_host(host: &str) -> TestIssuer {
        let issuer = Self::reserve(Some(host));
        issuer.up().await;
        issuer
    }

    /// A port reserved for the issuer, not serving yet ("Keycloak not up at start").
    pub fn not_started() -> TestIssuer {
        Self::reserve(None)
    }

    fn reserve(host: Option<&str>) -> TestIssuer {
        let port = super::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let issuer_base = match host {
            Some(host) => format!("http://{host}:{port}"),
            None => base.clone(),
        };
        TestIssuer {
            port,
            state: Arc::new(IssuerState {
                issuer: format!("{issuer_base}/realms/{REALM}"),
                base,
                keys: Mutex::new(Keys {
                    published: vec![TestKey::Rsa1, TestKey::Ec1],
                    active: TestKey::Rsa1,
                }),
                jwks_fetches: AtomicUsize::new(0),
                discovery_fetches: AtomicUsize::new(0),
            }),
            running: Mutex::new(None),
        }
    }

    /// Start serving (again) on the same port.
    pub async fn up(&self) {
        if self.running.lock().expect("lock").is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the issuer's port");
        let cancel = CancellationToken::new();
        let router = router(Arc::clone(&self.state));
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        *self.running.lock().expect("lock") = Some(Running { cancel, task });
    }

    /// Stop serving: the port refuses connections, open connections are closed.
    pub async fn stop(&self) {
        let running = self.running.lock().expect("lock").take();
        if let Some(running) = running {
            running.cancel.cancel();
            let _ = running.task.await;
        }
    }

    /// `KEYCLOAK_URL` for the gateway.
    pub fn url(&self) -> String {
        self.state.base.clone()
    }

    /// The issuer tokens carry (`iss`).
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    pub fn jwks_url(&self) -> String {
        format!(
            "{}/realms/{REALM}/protocol/openid-connect/certs",
            self.state.base
        )
    }

    pub fn token_url(&self) -> String {
        format!(
            "{}/realms/{REALM}/protocol/openid-connect/token",
            self.state.base
        )
    }

    pub fn discovery_url(&self) -> String {
        format!(
            "{}/realms/{REALM}/.well-known/openid-configuration",
            self.state.base
        )
    }

    /// JWKS documents served so far.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Publish `key` (if it is not yet) and sign new tokens with it; older keys stay published,
    /// as Keycloak keeps them while tokens signed with them are alive.
    pub fn rotate_to(&self, key: TestKey) {
        let mut keys = self.state.keys.lock().expect("lock");
        if !keys.published.contains(&key) {
            keys.published.push(key);
        }
        keys.active = key;
    }

    /// Stop publishing `key`.
    pub fn retire(&self, key: TestKey) {
        self.state
            .keys
            .lock()
            .expect("lock")
            .published
            .retain(|k| *k != key);
    }

    pub fn active_key(&self) -> TestKey {
        self.state.keys.lock().expect("lock").active
    }

    /// Keycloak-shaped access token claims for a test user, valid for five minutes.
    pub fn claims_for(&self, username: &str) -> Value {
        claims_for(&self.state.issuer, user(username), CLI_CLIENT)
    }

    /// Sign `claims` as told.
    pub fn mint(&self, claims: &Value, signing: &Signing) -> String {
        sign(claims, signing)
    }

    /// A valid token of a test user, signed with the active key.
    pub fn token_for(&self, username: &str) -> String {
        self.mint(
            &self.claims_for(username),
            &Signing::with(self.active_key()),
        )
    }

    /// An unsigned token (`alg: none`) with the given header `alg` spelling.
    pub fn unsigned(&self, claims: &Value, alg: &str) -> String {
        let header = json!({"alg": alg, "typ": "JWT", "kid": TestKey::Rsa1.kid()});
        format!("{}.{}.", b64_json(&header), b64_json(claims))
    }

    /// The gateway environment for this issuer (auth on, Keycloak at this address).
    pub fn gateway_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTH_ENABLED", "true".to_owned()),
            ("KEYCLOAK_URL", self.url()),
            ("KEYCLOAK_REALM", REALM.to_owned()),
            ("JWT_ALGORITHM", "RS256,ES256".to_owned()),
        ]
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock()
            && let Some(running) = running.take()
        {
            running.cancel.cancel();
            running.task.abort();
        }
    }
}

pub fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims_for(issuer: &str, user: &TestUser, azp: &str) -> Value {
    let now = now();
    json!({
        "exp": now + 300,
        "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iss": issuer,
        "aud": ["mcp-gateway", "account"],
        "sub": user.subject,
        "typ": "Bearer",
        "azp": azp,
        "preferred_username": user.username,
        "email_verified": false,
        "realm_access": {"roles": user.realm_roles},
        "resource_access": {
            "mcp-gateway": {"roles": user.client_roles},
            "account": {"roles": ["manage-account", "view-profile"]}
        },
        "scope": user.scope,
    })
}

fn sign(claims: &Value, signing: &Signing) -> String {
    let mut header = Header::new(signing.key.algorithm());
    header.kid = match &signing.kid {
        Kid::OfKey => Some(signing.key.kid().to_owned()),
        Kid::None => None,
        Kid::Named(kid) => Some(kid.clone()),
    };
    jsonwebtoken::encode(&header, claims, &signing.key.encoding_key()).expect("sign")
}

fn router(state: Arc<IssuerState>) -> Router {
    let realm = format!("/realms/{REALM}");
    Router::new()
        .route(
            &format!("{realm}/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(&format!("{realm}/protocol/openid-connect/certs"), get(jwks))
        .route(
            &format!("{realm}/protocol/openid-connect/token"),
            post(token),
        )
        .with_state(state)
}

async fn discovery(State(state): State<Arc<IssuerState>>) -> Json<Value> {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let issuer = &state.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        "jwks_uri": format!("{}/realms/{REALM}/protocol/openid-connect/certs", state.base),
        "registration_endpoint": format!("{issuer}/clients-registrations/openid-connect"),
        "grant_types_supported": [
            "authorization_code", "refresh_token", "password", "client_credentials"
        ],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "scopes_supported": ["openid", "profile", "email"],
    }))
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Json<Value> {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let published = state.keys.lock().expect("lock").published.clone();
    let keys: Vec<Value> = published.into_iter().map(TestKey::jwk).collect();
    Json(json!({ "keys": keys }))
}

#[derive(Debug, serde::Deserialize)]
struct TokenRequest {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

async fn token(State(state): State<Arc<IssuerState>>, Form(form): Form<TokenRequest>) -> Response {
    let active = state.keys.lock().expect("lock").active;
    let claims = match form.grant_type.as_str() {
        "password" => {
            if form.client_id.as_deref() != Some(CLI_CLIENT) {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            }
            let found = USERS.iter().find(|u| {
                Some(u.username) == form.username.as_deref()
                    && Some(u.password) == form.password.as_deref()
            });
            match found {
                Some(user) => claims_for(&state.issuer, user, CLI_CLIENT),
                None => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant"),
            }
        }
        "client_credentials" => {
            if form.client_id.as_deref() != Some(SERVICE_CLIENT)
                || form.client_secret.as_deref() != Some(SERVICE_SECRET)
            {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            }
            let service = TestUser {
                username: "service-account-mcp-service",
                password: "",
                subject: "7c1e4f7a-1f0b-4d3e-9a55-0000000000aa",
                realm_roles: &["user"],
                client_roles: &[],
                scope: "profile email",
            };
            claims_for(&state.issuer, &service, SERVICE_CLIENT)
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    let access_token = sign(&claims, &Signing::with(active));
    Json(json!({
        "access_token": access_token,
        "expires_in": 300,
        "token_type": "Bearer",
        "scope": claims["scope"],
    }))
    .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}
