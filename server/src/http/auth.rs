//! Authentication at the HTTP edge (SPEC §7, §12, §13): the middleware that turns
//! `Authorization: Bearer <jwt>` into a [`Principal`] in the request extensions, and the
//! routes that tell OAuth clients where to get a token.
//!
//! - Open without a token: `/`, `/health`, `/metrics`, `/.well-known/*`, `/ui` and `/ui/*`.
//! - Auth off: every request is `anonymous` with `ANONYMOUS_ROLES`.
//! - Auth on, no bearer token: 401 `WWW-Authenticate: Bearer resource_metadata="…"`; a token
//!   that fails: the same plus `error="invalid_token"`. `/mcp`, `/sse` and `/messages` point at
//!   the `/mcp` protected resource document, every other path at the root one. The body never
//!   says why; the reason is logged at WARN with the path (never the token) and handed to the
//!   optional [`AuthFailureHook`].
//! - Keys not loaded yet: 503 `auth_unavailable`, because a 401 would start an OAuth flow in
//!   MCP clients against an issuer that is not there.
//! - The credential may also come as `x-api-key: <token>` (what the Anthropic SDKs send
//!   with an API key), when there is no `Authorization` header.
//! - A credential starting `mcpgw_` is one of the gateway's API keys (`keys`), looked up in
//!   the audit database; any other is a JWT of the issuer.
//! - Under `/anthropic/` refusals are in the Anthropic API's error shape (its SDKs read
//!   nothing else), with the same statuses and headers.
//!
//! Handlers read the caller as `request.extensions().get::<Principal>()`; rmcp hands the
//! request `Parts` to the MCP handler, so `parts.extensions` has it too.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::authn::{AuthError, Authenticator, AuthnConfigError, AuthnOptions};
use crate::config::Settings;
use crate::error::ApiError;
use crate::principal::Principal;
use crate::scope::Scope;

/// What the audit layer learns about a refused request (401 only; a 503 is not the caller's
/// doing). Carries no token.
#[derive(Debug, Clone)]
pub struct AuthFailure {
    pub method: http::Method,
    pub path: String,
    pub reason: AuthError,
    /// `X-Request-ID` as the request-id layer left it.
    pub request_id: Option<String>,
    /// Known when the server was started with connect info.
    pub client_ip: Option<String>,
}

/// Called once per refused request, on the request's task: keep it quick (a channel send).
pub type AuthFailureHook = Arc<dyn Fn(&AuthFailure) + Send + Sync>;

/// Which protected resource metadata document a 401 points at (SPEC §12, §14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceDocument {
    /// `/.well-known/oauth-protected-resource`, resource = `GATEWAY_PUBLIC_URL`.
    Root,
    /// `/.well-known/oauth-protected-resource/mcp`, resource = `GATEWAY_PUBLIC_URL/mcp`.
    Mcp,
    /// A scoped MCP endpoint, by its path (`/mcp/tag/<tag>`, `/mcp/server/<name>`):
    /// `/.well-known/oauth-protected-resource<path>`, resource = `GATEWAY_PUBLIC_URL<path>`.
    Scoped(String),
}

/// Whether `path` is a scoped MCP endpoint's (`/mcp/tag/<t>` or `/mcp/server/<n>`).
fn is_scoped_endpoint(path: &str) -> bool {
    let rest = path
        .strip_prefix("/mcp/tag/")
        .or_else(|| path.strip_prefix("/mcp/server/"));
    rest.is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// `None` for paths open without a token; else the document a 401 on `path` points at.
pub fn protection_of(path: &str) -> Option<ResourceDocument> {
    let open = matches!(path, "/" | "/health" | "/metrics" | "/ui")
        || path.starts_with("/.well-known/")
        || path.starts_with("/ui/");
    if open {
        return None;
    }
    Some(match path {
        "/mcp" | "/sse" | "/messages" => ResourceDocument::Mcp,
        _ if is_scoped_endpoint(path) => ResourceDocument::Scoped(path.to_owned()),
        _ => ResourceDocument::Root,
    })
}

/// The bearer token of a request. A request without `Authorization`, or with another scheme,
/// has no token ([`AuthError::MissingToken`]); a `Bearer` header that cannot hold a token is
/// malformed.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(AuthError::Malformed("several Authorization headers"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("Authorization header is not text"))?
        .trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Malformed("empty bearer token"));
    }
    Ok(token)
}

/// The header the Anthropic SDKs send their key in.
const API_KEY_HEADER: &str = "x-api-key";

/// The caller's credential: the bearer token, or else `x-api-key`.
pub fn credential(headers: &HeaderMap) -> Result<&str, AuthError> {
    match bearer_token(headers) {
        Err(AuthError::MissingToken) => {
            let Some(value) = headers.get(API_KEY_HEADER) else {
                return Err(AuthError::MissingToken);
            };
            match value.to_str().map(str::trim) {
                Ok("") => Err(AuthError::Malformed("empty x-api-key")),
                Ok(token) => Ok(token),
                Err(_) => Err(AuthError::Malformed("x-api-key header is not text")),
            }
        }
        other => other,
    }
}

/// How requests are authenticated; cheap to clone.
#[derive(Clone)]
pub struct AuthState {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    mode: Mode,
    public_url: String,
    /// `WWW-Authenticate` values, built once: [missing, invalid] per document.
    root_challenges: [Option<HeaderValue>; 2],
    mcp_challenges: [Option<HeaderValue>; 2],
    failure_hook: Option<AuthFailureHook>,
    /// The API keys; `None` without an audit database (a key is then refused as 503).
    keys: Option<crate::keys::KeyStore>,
}

#[derive(Clone)]
enum Mode {
    Disabled { anonymous: Principal },
    Enabled(Arc<Authenticator>),
}

impl AuthState {
    /// Auth off: everyone is `anonymous` with `anonymous_roles`.
    pub fn disabled(anonymous_roles: &[String], public_url: &str) -> AuthState {
        Self::build(
            Mode::Disabled {
                anonymous: Principal::anonymous(anonymous_roles),
            },
            public_url,
        )
    }

    /// Auth on, with `authenticator` (started by the caller).
    pub fn enabled(authenticator: Arc<Authenticator>, public_url: &str) -> AuthState {
        Self::build(Mode::Enabled(authenticator), public_url)
    }

    /// From the environment: auth off, or an authenticator whose background refresh starts
    /// now and stops with `shutdown`. Fails on settings authentication cannot work with.
    pub fn start(
        settings: &Settings,
        shutdown: CancellationToken,
    ) -> Result<AuthState, AuthnConfigError> {
        if !settings.auth_enabled {
            return Ok(Self::disabled(
                &settings.anonymous_roles,
                &settings.public_url,
            ));
        }
        let authenticator = Authenticator::from_settings(settings, AuthnOptions::default())?;
        authenticator.start(shutdown);
        Ok(Self::enabled(authenticator, &settings.public_url))
    }

    /// Accept the API keys of `keys` as credentials.
    pub fn with_keys(self, keys: crate::keys::KeyStore) -> AuthState {
        let mut inner = (*self.inner).clone();
        inner.keys = Some(keys);
        AuthState {
            inner: Arc::new(inner),
        }
    }

    /// Call `hook` for every 401 (the audit layer records `auth_failure` events with it).
    pub fn with_failure_hook(self, hook: AuthFailureHook) -> AuthState {
        let mut inner = (*self.inner).clone();
        inner.failure_hook = Some(hook);
        AuthState {
            inner: Arc::new(inner),
        }
    }

    pub fn authenticator(&self) -> Option<&Arc<Authenticator>> {
        match &self.inner.mode {
            Mode::Enabled(authenticator) => Some(authenticator),
            Mode::Disabled { .. } => None,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.authenticator().is_some()
    }

    /// The URL of a protected resource metadata document.
    pub fn metadata_url(&self, document: &ResourceDocument) -> String {
        metadata_url(&self.inner.public_url, document)
    }

    fn build(mode: Mode, public_url: &str) -> AuthState {
        let public_url = public_url.trim_end_matches('/').to_owned();
        AuthState {
            inner: Arc::new(Inner {
                mode,
                root_challenges: challenges(&public_url, &ResourceDocument::Root),
                mcp_challenges: challenges(&public_url, &ResourceDocument::Mcp),
                public_url,
                failure_hook: None,
                keys: None,
            }),
        }
    }

    /// The answer to a request that did not authenticate.
    fn refuse(&self, request: &Request, document: ResourceDocument, reason: AuthError) -> Response {
        let path = request.uri().path();
        if reason.is_unavailable() {
            // The background refresh logs why at WARN; one line per request would flood.
            tracing::debug!(%path, %reason, "request refused: authentication is unavailable");
            let message = match reason {
                AuthError::ApiKeysUnavailable => {
                    "API keys cannot be checked now (the audit database is unavailable); retry shortly"
                }
                _ => {
                    "authentication is not available yet (the token issuer cannot be reached); retry shortly"
                }
            };
            let mut response = ApiError::AuthUnavailable(message.to_owned()).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return in_shape_for(path, response, || {
                crate::llm::LlmError::Unavailable(
                    "authentication is not available yet; retry shortly".into(),
                )
            });
        }
        if reason.token_was_sent() {
            tracing::warn!(method = %request.method(), %path, %reason, "authentication failed");
        } else {
            // Every MCP client's first request comes without a token: that is how it learns
            // where to log in (the challenge below), not an attack. The audit still has it.
            tracing::info!(method = %request.method(), %path, %reason, "authentication failed");
        }
        if let Some(hook) = &self.inner.failure_hook {
            hook(&AuthFailure {
                method: request.method().clone(),
                path: path.to_owned(),
                reason: reason.clone(),
                request_id: request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                client_ip: request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(address)| address.ip().to_string()),
            });
        }
        let sent = reason.token_was_sent();
        let message = if sent {
            "the bearer token is invalid or expired"
        } else {
            "a bearer token is required (Authorization: Bearer <token>)"
        };
        let mut response = ApiError::Unauthorized(message.to_owned()).into_response();
        let scoped;
        let challenges = match &document {
            ResourceDocument::Root => &self.inner.root_challenges,
            ResourceDocument::Mcp => &self.inner.mcp_challenges,
            ResourceDocument::Scoped(_) => {
                scoped = challenges(&self.inner.public_url, &document);
                &scoped
            }
        };
        if let Some(value) = &challenges[usize::from(sent)] {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value.clone());
        }
        in_shape_for(path, response, || {
            crate::llm::LlmError::Authentication(if sent {
                "the credential is invalid or expired".into()
            } else {
                "a credential is required (Authorization: Bearer <token> or x-api-key)".into()
            })
        })
    }
}

/// A refusal under `/anthropic/` gets the Anthropic API's body, keeping the status and
/// headers; any other path keeps the gateway's.
fn in_shape_for(
    path: &str,
    response: Response,
    anthropic: impl FnOnce() -> crate::llm::LlmError,
) -> Response {
    if !path.starts_with(super::anthropic::PREFIX) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let mut shaped = anthropic().into_response();
    *shaped.status_mut() = parts.status;
    // The body is the new one; every other header (the challenge, `retry-after`) stays.
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    shaped.headers_mut().extend(parts.headers);
    shaped
}

fn metadata_url(public_url: &str, document: &ResourceDocument) -> String {
    match document {
        ResourceDocument::Root => format!("{public_url}/.well-known/oauth-protected-resource"),
        ResourceDocument::Mcp => format!("{public_url}/.well-known/oauth-protected-resource/mcp"),
        ResourceDocument::Scoped(path) => {
            format!("{public_url}/.well-known/oauth-protected-resource{path}")
        }
    }
}

/// `WWW-Authenticate` values pointing at `document`: [no token sent, a bad one sent].
fn challenges(public_url: &str, document: &ResourceDocument) -> [Option<HeaderValue>; 2] {
    let url = metadata_url(public_url, document);
    [
        HeaderValue::from_str(&format!("Bearer resource_metadata=\"{url}\"")).ok(),
        HeaderValue::from_str(&format!(
            "Bearer error=\"invalid_token\", resource_metadata=\"{url}\""
        ))
        .ok(),
    ]
}

/// [`admit`] as a middleware of its own (the gateway runs it inside `http::front_door`).
#[cfg(test)]
pub async fn authenticate(
    State(state): State<AuthState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    match admit(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(refusal) => refusal,
    }
}

/// The request with its caller's [`Principal`] in the extensions, or the answer refusing it:
/// see the module header for what it lets through.
pub async fn admit(state: &AuthState, mut request: Request) -> Result<Request, Response> {
    let authenticator = match &state.inner.mode {
        Mode::Disabled { anonymous } => {
            request.extensions_mut().insert(anonymous.clone());
            return Ok(request);
        }
        Mode::Enabled(authenticator) => authenticator,
    };
    let Some(document) = protection_of(request.uri().path()) else {
        return Ok(request);
    };
    // Without keys even a request with no token gets 503: a 401 would send the client to an
    // issuer that cannot be reached.
    let result = match credential(request.headers()) {
        // API keys need the database, not the issuer.
        Ok(token) if crate::keys::secret::looks_like_key(token) => match &state.inner.keys {
            Some(keys) => keys.authenticate(token).await,
            None => Err(AuthError::ApiKeysUnavailable),
        },
        _ if !authenticator.is_ready() => Err(AuthError::KeysUnavailable),
        Ok(token) => authenticator.authenticate(token).await,
        Err(reason) => Err(reason),
    };
    match result {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            Ok(request)
        }
        Err(reason) => Err(state.refuse(&request, document, reason)),
    }
}

/// Whether a scoped MCP endpoint exists (the config names its tag or server).
pub type ScopeExists = Arc<dyn Fn(&Scope) -> bool + Send + Sync>;

/// `/.well-known/oauth-protected-resource[/mcp[/tag/<t>|/server/<n>]]`,
/// `/.well-known/oauth-authorization-server` and `/whoami`. Merge before the
/// [`authenticate`] layer is applied.
pub fn routes(state: AuthState, scope_exists: ScopeExists) -> Router {
    let scoped = Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp/{kind}/{name}",
            get(protected_resource_scoped),
        )
        .with_state((state.clone(), scope_exists));
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(protected_resource_root),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(protected_resource_mcp),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route("/whoami", get(whoami))
        .with_state(state)
        .merge(scoped)
}

/// RFC 9728 metadata of the resource `document` names.
pub fn protected_resource_document(
    public_url: &str,
    issuer: &str,
    document: ResourceDocument,
) -> serde_json::Value {
    let public_url = public_url.trim_end_matches('/');
    let resource = match document {
        ResourceDocument::Root => public_url.to_owned(),
        ResourceDocument::Mcp => format!("{public_url}/mcp"),
        ResourceDocument::Scoped(path) => format!("{public_url}{path}"),
    };
    json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["openid"],
    })
}

fn auth_is_off() -> Response {
    ApiError::NotFound("authentication is off: there is no authorization server".to_owned())
        .into_response()
}

async fn protected_resource_root(State(state): State<AuthState>) -> Response {
    protected_resource(&state, ResourceDocument::Root)
}

async fn protected_resource_mcp(State(state): State<AuthState>) -> Response {
    protected_resource(&state, ResourceDocument::Mcp)
}

/// A scoped endpoint's document; 404 for a scope the config does not name.
async fn protected_resource_scoped(
    State((state, scope_exists)): State<(AuthState, ScopeExists)>,
    Path((kind, name)): Path<(String, String)>,
) -> Response {
    match Scope::of_path(&kind, &name).filter(|scope| scope_exists(scope)) {
        Some(scope) => protected_resource(&state, ResourceDocument::Scoped(scope.path())),
        None => {
            ApiError::NotFound(format!("no MCP endpoint at /mcp/{kind}/{name}")).into_response()
        }
    }
}

fn protected_resource(state: &AuthState, document: ResourceDocument) -> Response {
    match state.authenticator() {
        Some(authenticator) => axum::Json(protected_resource_document(
            &state.inner.public_url,
            authenticator.issuer(),
            document,
        ))
        .into_response(),
        None => auth_is_off(),
    }
}

/// Keycloak's metadata, mirrored for clients of the 2025-03-26 era, which look for it on the
/// MCP server's own origin.
async fn authorization_server(State(state): State<AuthState>) -> Response {
    let Some(authenticator) = state.authenticator() else {
        return auth_is_off();
    };
    match authenticator.authorization_server_metadata().await {
        Some(document) => json_bytes(document),
        None => ApiError::AuthUnavailable(
            "the authorization server's metadata is not available yet; retry shortly".to_owned(),
        )
        .into_response(),
    }
}

fn json_bytes(body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /whoami`: the caller as the gateway sees it.
async fn whoami(request: Request) -> Response {
    match request.extensions().get::<Principal>() {
        Some(principal) => axum::Json(json!({
            "user": principal.user,
            "subject": principal.subject,
            "roles": principal.roles,
        }))
        .into_response(),
        // Only reachable if the route is mounted outside the authentication layer.
        None => ApiError::Unauthorized("a bearer token is required".to_owned()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use axum::body::to_bytes;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, EncodingKey};
    use tower::ServiceExt as _;

    use super::*;
    use crate::authn::{AuthnConfig, KeySet};
    use crate::config::SettingsOverrides;

    const PUBLIC: &str = "https://gw.example.com";
    const ISSUER: &str = "http://localhost:8080/realms/mcp-gateway";

    fn settings() -> Settings {
        let vars: HashMap<&str, &str> = [("GATEWAY_PUBLIC_URL", PUBLIC)].into_iter().collect();
        Settings::from_lookup(
            |k| vars.get(k).map(|v| v.to_string()),
            SettingsOverrides::default(),
        )
        .expect("settings")
    }

    fn rsa_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(include_bytes!("../../tests/fixtures/rsa-1.pem")).expect("key")
    }

    /// An enabled state; with `keys`, the fixture key rsa-1 is installed as kid "k1".
    fn enabled(keys: bool) -> (AuthState, Arc<Authenticator>) {
        let config = AuthnConfig::from_settings(&settings()).expect("config");
        let authenticator =
            Authenticator::new(config, reqwest::Client::new(), AuthnOptions::default());
        if keys {
            let mut jwk = serde_json::to_value(
                Jwk::from_encoding_key(&rsa_key(), Algorithm::RS256).expect("jwk"),
            )
            .expect("json");
            jwk["kid"] = json!("k1");
            let jwks = json!({ "keys": [jwk] }).to_string();
            authenticator.install_keys(KeySet::from_jwks_json(jwks.as_bytes()).expect("keys"));
        }
        (
            AuthState::enabled(Arc::clone(&authenticator), PUBLIC),
            authenticator,
        )
    }

    fn token(claims: serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some("k1".to_owned());
        jsonwebtoken::encode(&header, &claims, &rsa_key()).expect("sign")
    }

    fn good_token() -> String {
        let now = jsonwebtoken::get_current_timestamp();
        token(json!({
            "iss": ISSUER, "aud": "mcp-gateway", "sub": "s-1", "preferred_username": "alice",
            "exp": now + 60, "iat": now, "realm_access": {"roles": ["user"]}, "scope": "openid admin"
        }))
    }

    fn app(state: AuthState) -> Router {
        Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/mcp", axum::routing::any(|| async { "mcp" }))
            .route("/tools", get(|| async { "tools" }))
            .route("/mcp/tag/elk", axum::routing::any(|| async { "elk" }))
            .merge(routes(
                state.clone(),
                Arc::new(|scope: &Scope| *scope == Scope::Tag("elk".into())),
            ))
            .layer(axum::middleware::from_fn_with_state(state, authenticate))
    }

    async fn send(app: &Router, path: &str, authorization: Option<&str>) -> Response {
        let mut request = Request::builder().uri(path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        app.clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("response")
    }

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    fn challenge(response: &Response) -> Option<&str> {
        response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
    }

    #[test]
    fn open_and_protected_paths() {
        for open in [
            "/",
            "/health",
            "/metrics",
            "/.well-known/oauth-protected-resource",
            "/.well-known/anything",
            "/ui",
            "/ui/",
            "/ui/assets/app.js",
        ] {
            assert_eq!(protection_of(open), None, "{open}");
        }
        for mcp in ["/mcp", "/sse", "/messages"] {
            assert_eq!(protection_of(mcp), Some(ResourceDocument::Mcp), "{mcp}");
        }
        for scoped in ["/mcp/tag/elk", "/mcp/server/db-1", "/mcp/tag/a%20b"] {
            assert_eq!(
                protection_of(scoped),
                Some(ResourceDocument::Scoped(scoped.to_owned())),
                "{scoped}"
            );
        }
        for root in [
            "/whoami",
            "/tools",
            "/mcp/servers",
            "/mcp/invoke",
            "/mcp/tag/",
            "/mcp/tag/a/b",
            "/mcp/other/x",
            "/audit",
            "/healthz",
            "/uix",
            "/.well-known",
            "/health/",
        ] {
            assert_eq!(protection_of(root), Some(ResourceDocument::Root), "{root}");
        }
    }

    #[test]
    fn bearer_token_parsing() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append(
                    header::AUTHORIZATION,
                    HeaderValue::from_str(value).expect("value"),
                );
            }
            map
        };
        assert_eq!(
            bearer_token(&headers(&["Bearer abc.def.ghi"])),
            Ok("abc.def.ghi")
        );
        assert_eq!(bearer_token(&headers(&["bearer   abc  "])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&["BEARER x"])), Ok("x"));
        assert_eq!(bearer_token(&headers(&[])), Err(AuthError::MissingToken));
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwYXNz"])),
            Err(AuthError::MissingToken)
        );
        assert_eq!(
            bearer_token(&headers(&["eyJhbGciOi.e30.sig"])),
            Err(AuthError::MissingToken)
        );
        assert!(matches!(
            bearer_token(&headers(&["Bearer"])),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer_token(&headers(&["Bearer  "])),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn protected_resource_documents() {
        assert_eq!(
            protected_resource_document("https://gw.example.com/", ISSUER, ResourceDocument::Root),
            json!({
                "resource": "https://gw.example.com",
                "authorization_servers": [ISSUER],
                "bearer_methods_supported": ["header"],
                "scopes_supported": ["openid"],
            })
        );
        assert_eq!(
            protected_resource_document(PUBLIC, ISSUER, ResourceDocument::Mcp)["resource"],
            "https://gw.example.com/mcp"
        );
    }

    #[tokio::test]
    async fn auth_off_makes_everyone_anonymous() {
        let app = app(AuthState::disabled(&["admin".to_owned()], PUBLIC));
        let response = send(&app, "/whoami", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            body_json(response).await,
            json!({"user": "anonymous", "subject": "anonymous", "roles": ["admin"]})
        );
        // There is no authorization server to describe.
        let response = send(&app, "/.well-known/oauth-protected-resource", None).await;
        assert_eq!(response.status(), 404);
    }

    #[tokio::test]
    async fn missing_and_invalid_tokens_get_the_right_challenge() {
        let (state, _) = enabled(true);
        let app = app(state);
        let root = format!("{PUBLIC}/.well-known/oauth-protected-resource");
        let mcp = format!("{PUBLIC}/.well-known/oauth-protected-resource/mcp");

        let response = send(&app, "/tools", None).await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            challenge(&response),
            Some(format!("Bearer resource_metadata=\"{root}\"").as_str())
        );
        let body = body_json(response).await;
        assert_eq!(body["error"]["code"], "unauthorized");

        let response = send(&app, "/mcp", Some("Bearer not-a-jwt")).await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            challenge(&response),
            Some(format!("Bearer error=\"invalid_token\", resource_metadata=\"{mcp}\"").as_str())
        );
        let body = body_json(response).await;
        assert_eq!(
            body,
            json!({"error": {"code": "unauthorized", "message": "the bearer token is invalid or expired"}})
        );
    }

    #[tokio::test]
    async fn scoped_endpoints_have_their_own_metadata() {
        let (state, _) = enabled(true);
        let app = app(state);
        let response = send(&app, "/mcp/tag/elk", None).await;
        assert_eq!(response.status(), 401);
        let url = format!("{PUBLIC}/.well-known/oauth-protected-resource/mcp/tag/elk");
        assert_eq!(
            challenge(&response),
            Some(format!("Bearer resource_metadata=\"{url}\"").as_str())
        );
        let response = send(
            &app,
            "/.well-known/oauth-protected-resource/mcp/tag/elk",
            None,
        )
        .await;
        assert_eq!(response.status(), 200);
        let document = body_json(response).await;
        assert_eq!(document["resource"], format!("{PUBLIC}/mcp/tag/elk"));
        assert_eq!(document["authorization_servers"], json!([ISSUER]));
        for unknown in ["/mcp/tag/nope", "/mcp/server/elk", "/mcp/other/elk"] {
            let path = format!("/.well-known/oauth-protected-resource{unknown}");
            assert_eq!(send(&app, &path, None).await.status(), 404, "{unknown}");
        }
    }

    #[tokio::test]
    async fn good_token_reaches_the_handler_with_its_principal() {
        let (state, _) = enabled(true);
        let app = app(state);
        let response = send(&app, "/whoami", Some(&format!("Bearer {}", good_token()))).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            body_json(response).await,
            json!({"user": "alice", "subject": "s-1", "roles": ["user"]})
        );
    }

    #[tokio::test]
    async fn open_paths_need_no_token() {
        let (state, _) = enabled(false);
        let app = app(state);
        assert_eq!(send(&app, "/health", None).await.status(), 200);
        let response = send(&app, "/.well-known/oauth-protected-resource/mcp", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            body_json(response).await,
            protected_resource_document(PUBLIC, ISSUER, ResourceDocument::Mcp)
        );
    }

    #[tokio::test]
    async fn without_keys_protected_paths_are_unavailable_not_unauthorized() {
        let (state, authenticator) = enabled(false);
        assert!(!authenticator.is_ready());
        let app = app(state);
        for authorization in [None, Some("Bearer x.y.z")] {
            let response = send(&app, "/mcp", authorization).await;
            assert_eq!(response.status(), 503);
            assert!(challenge(&response).is_none());
            assert_eq!(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.as_bytes()),
                Some(&b"5"[..])
            );
            assert_eq!(
                body_json(response).await["error"]["code"],
                "auth_unavailable"
            );
        }
    }

    #[tokio::test]
    async fn failure_hook_sees_reasons_but_no_token() {
        let seen = Arc::new(Mutex::new(Vec::<AuthFailure>::new()));
        let sink = Arc::clone(&seen);
        let (state, _) = enabled(true);
        let state = state.with_failure_hook(Arc::new(move |failure: &AuthFailure| {
            if let Ok(mut seen) = sink.lock() {
                seen.push(failure.clone());
            }
        }));
        let app = app(state);
        let expired = {
            let now = jsonwebtoken::get_current_timestamp();
            token(json!({"iss": ISSUER, "aud": "mcp-gateway", "sub": "s", "exp": now - 3600}))
        };
        send(&app, "/tools", None).await;
        send(&app, "/tools", Some(&format!("Bearer {expired}"))).await;
        send(&app, "/whoami", Some(&format!("Bearer {}", good_token()))).await;
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 2, "only refusals are reported");
        assert_eq!(seen[0].reason, AuthError::MissingToken);
        assert_eq!(seen[1].reason, AuthError::Expired);
        assert_eq!(seen[1].path, "/tools");
        assert!(!format!("{:?}", seen[1]).contains(&expired));
    }
}
