//! `mcp-bench issuer`: the little of an OIDC issuer a gateway with authentication on needs,
//! shaped like Keycloak, so that `make bench` can measure the cost of token validation:
//!
//! - `GET /realms/<realm>/.well-known/openid-configuration` (discovery),
//! - `GET /realms/<realm>/protocol/openid-connect/certs` (the JWKS, one RS256 key),
//! - one access token, minted at start and valid for hours, signed with the committed
//!   benchmark key (`bench/keys/`), with the audience and realm roles the gateway expects.
//!
//! There is no token endpoint: the load generator sends that one token on every request, as a
//! client does between two refreshes. Each request served is logged on stderr, so the
//! benchmark can show that the gateway does not call the issuer while it is measured.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};
use axum::{
    Router,
    extract::{Request, State},
    http::header,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt as _, net::TcpListener};

/// The committed benchmark key: RSA 2048, PKCS#1. Public by design; see bench/keys/README.md.
const BENCHMARK_KEY_PEM: &str = include_str!("../keys/benchmark-only-rsa.pem");
/// The `kid` under which the key is published and tokens name it.
pub const BENCHMARK_KID: &str = "mcp-bench-rsa";
const PKCS1_LABEL: &str = "RSA PRIVATE KEY";

/// A validated `issuer` run.
#[derive(Debug, Clone)]
pub struct IssuerPlan {
    pub listen: SocketAddr,
    pub realm: String,
    /// What the token's `aud` carries (the gateway's `JWT_AUDIENCE`).
    pub audience: String,
    pub user: String,
    pub realm_roles: Vec<String>,
    pub valid_for: Duration,
    /// Where the token is written; `None` prints it as `TOKEN <jwt>`.
    pub token_file: Option<PathBuf>,
}

/// The benchmark key, ready to sign and to publish.
pub struct BenchmarkKey {
    encoding: EncodingKey,
    /// The public half as a JWK, the way Keycloak publishes it (`kid`, `use`, `alg`).
    jwk: Value,
}

impl BenchmarkKey {
    pub fn load() -> Result<Self> {
        let der = pem_der(BENCHMARK_KEY_PEM, PKCS1_LABEL)?;
        let encoding = EncodingKey::from_rsa_der(&der);
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .context("the benchmark key is not a usable RSA key")?;
        let mut jwk = serde_json::to_value(jwk).context("the benchmark key as JSON")?;
        jwk["kid"] = json!(BENCHMARK_KID);
        jwk["use"] = json!("sig");
        Ok(Self { encoding, jwk })
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// `claims` signed RS256, naming the benchmark key's `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(BENCHMARK_KID.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing the token")
    }
}

/// The DER inside a PEM block with the given label. jsonwebtoken reads PEM only with its
/// `use_pem` feature, which would then be compiled into the gateway as well (features are
/// unified across the workspace); the few lines here avoid that.
pub fn pem_der(pem: &str, label: &str) -> Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some((_, rest)) = pem.split_once(&begin) else {
        bail!("no {begin} line");
    };
    let Some((body, _)) = rest.split_once(&end) else {
        bail!("no {end} line");
    };
    let base64: String = body.split_whitespace().collect();
    if base64.is_empty() {
        bail!("empty {label} block");
    }
    STANDARD
        .decode(base64)
        .with_context(|| format!("the {label} block is not base64"))
}

/// `{base}/realms/{realm}`: the issuer tokens name and the gateway derives from
/// `KEYCLOAK_URL` and `KEYCLOAK_REALM`.
pub fn issuer_url(base: &str, realm: &str) -> String {
    format!("{}/realms/{realm}", base.trim_end_matches('/'))
}

/// The discovery document: Keycloak's fields the gateway reads or mirrors.
pub fn discovery_document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email"],
    })
}

/// Keycloak-shaped access token claims, so the gateway does the work it does with real
/// tokens (realm and client roles, scopes), issued at `now` (unix seconds).
pub fn token_claims(plan: &IssuerPlan, issuer: &str, now: u64) -> Value {
    json!({
        "exp": now + plan.valid_for.as_secs(),
        "iat": now,
        "jti": format!("mcp-bench-{now}"),
        "iss": issuer,
        "aud": [plan.audience, "account"],
        "sub": format!("mcp-bench-{}", plan.user),
        "typ": "Bearer",
        "azp": "mcp-bench",
        "preferred_username": plan.user,
        "email_verified": false,
        "realm_access": {"roles": plan.realm_roles},
        "resource_access": {
            plan.audience.clone(): {"roles": []},
            "account": {"roles": ["manage-account", "view-profile"]}
        },
        "scope": "openid profile email",
    })
}

/// The documents served, encoded once.
struct Documents {
    discovery: Vec<u8>,
    jwks: Vec<u8>,
}

/// Binds, writes (or prints) the token, prints `LISTENING <base url>`, then serves until the
/// process is stopped.
pub async fn run(plan: IssuerPlan) -> Result<()> {
    let key = BenchmarkKey::load()?;
    let listener = TcpListener::bind(plan.listen)
        .await
        .with_context(|| format!("binding {}", plan.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let base = format!("http://{address}");
    let issuer = issuer_url(&base, &plan.realm);
    let token = key.sign(&token_claims(&plan, &issuer, unix_now()))?;
    let documents = Arc::new(Documents {
        discovery: serde_json::to_vec(&discovery_document(&issuer))?,
        jwks: serde_json::to_vec(&key.jwks())?,
    });

    let mut stdout = tokio::io::stdout();
    // The token file is complete before `LISTENING` is printed: whoever waits for that line
    // may read it at once.
    let token_line = match &plan.token_file {
        Some(path) => {
            write_token_file(path, &token).await?;
            String::new()
        }
        None => format!("TOKEN {token}\n"),
    };
    stdout
        .write_all(format!("LISTENING {base}\n{token_line}").as_bytes())
        .await?;
    stdout.flush().await?;

    let realm = format!("/realms/{}", plan.realm);
    let router = Router::new()
        .route(
            &format!("{realm}/.well-known/openid-configuration"),
            get(|State(docs): State<Arc<Documents>>| async move { json_body(&docs.discovery) }),
        )
        .route(
            &format!("{realm}/protocol/openid-connect/certs"),
            get(|State(docs): State<Arc<Documents>>| async move { json_body(&docs.jwks) }),
        )
        .layer(middleware::from_fn(log_request))
        .with_state(documents);
    axum::serve(listener, router)
        .await
        .context("serving the issuer")
}

fn json_body(bytes: &[u8]) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes.to_vec()).into_response()
}

/// One stderr line per request: what the benchmark counts to show the issuer is left alone.
async fn log_request(request: Request, next: Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    eprintln!("served {} {line}", response.status().as_u16());
    response
}

async fn write_token_file(path: &std::path::Path, token: &str) -> Result<()> {
    tokio::fs::write(path, format!("{token}\n"))
        .await
        .with_context(|| format!("writing the token to {}", path.display()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    use super::*;

    fn plan() -> IssuerPlan {
        IssuerPlan {
            listen: "127.0.0.1:0".parse().expect("address"),
            realm: "mcp-gateway".to_owned(),
            audience: "mcp-gateway".to_owned(),
            user: "bench".to_owned(),
            realm_roles: vec!["user".to_owned()],
            valid_for: Duration::from_secs(3600),
            token_file: None,
        }
    }

    #[test]
    fn pem_blocks_decode_to_der() {
        let pem = "junk\n-----BEGIN X-----\nAAEC\nAw==\n-----END X-----\n";
        assert_eq!(pem_der(pem, "X").expect("der"), [0, 1, 2, 3]);
        assert!(pem_der(pem, "Y").is_err());
        assert!(pem_der("-----BEGIN X-----\nAAEC", "X").is_err());
        assert!(pem_der("-----BEGIN X-----\n\n-----END X-----", "X").is_err());
        assert!(pem_der("-----BEGIN X-----\n!!\n-----END X-----", "X").is_err());
    }

    #[test]
    fn minted_token_verifies_with_the_published_key() {
        let key = BenchmarkKey::load().expect("the committed key loads");
        let issuer = issuer_url("http://127.0.0.1:9/", "mcp-gateway");
        assert_eq!(issuer, "http://127.0.0.1:9/realms/mcp-gateway");
        let token = key
            .sign(&token_claims(&plan(), &issuer, unix_now()))
            .expect("signs");

        let header = decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some(BENCHMARK_KID));
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(key.jwks()).expect("a JWK set");
        let published = jwks.find(BENCHMARK_KID).expect("the kid is published");
        assert_eq!(
            key.jwks()["keys"][0]["use"],
            "sig",
            "published for signatures"
        );
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&["mcp-gateway"]);
        let claims = decode::<Value>(
            &token,
            &DecodingKey::from_jwk(published).expect("decoding key"),
            &validation,
        )
        .expect("the token verifies")
        .claims;
        assert_eq!(claims["realm_access"]["roles"], json!(["user"]));
        assert_eq!(claims["preferred_username"], "bench");
        assert_eq!(claims["sub"], "mcp-bench-bench");
    }

    #[test]
    fn claims_carry_lifetime_audience_and_roles() {
        let mut plan = plan();
        plan.audience = "gw".to_owned();
        plan.realm_roles = vec!["user".to_owned(), "admin".to_owned()];
        let claims = token_claims(&plan, "http://i/realms/r", 1000);
        assert_eq!(claims["iat"], 1000);
        assert_eq!(claims["exp"], 4600);
        assert_eq!(claims["aud"], json!(["gw", "account"]));
        assert_eq!(claims["realm_access"]["roles"], json!(["user", "admin"]));
        assert!(claims["resource_access"]["gw"]["roles"].is_array());
    }

    #[test]
    fn discovery_points_at_the_realm_jwks() {
        let document = discovery_document("http://127.0.0.1:9/realms/r");
        assert_eq!(document["issuer"], "http://127.0.0.1:9/realms/r");
        assert_eq!(
            document["jwks_uri"],
            "http://127.0.0.1:9/realms/r/protocol/openid-connect/certs"
        );
    }
}
