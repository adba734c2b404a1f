//! The issuer side of logging in: which issuers may be sent credentials, OIDC discovery, and
//! the token endpoint's grants (password, authorization code with PKCE, refresh) and
//! revocation, as `mcpgw` uses them with the public client `mcp-cli`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use crate::client::Failure;
use crate::store::Login;

/// The public client of `mcpgw` in the realm (SPEC §11).
pub const CLIENT_ID: &str = "mcp-cli";

/// How long one request to the issuer may take (the gateway's own requests have no such
/// bound: a tool call takes as long as the gateway lets it).
const ISSUER_TIMEOUT: Duration = Duration::from_secs(15);

/// An issuer's OIDC discovery document, the parts `mcpgw` uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub registration_endpoint: Option<String>,
}

/// What a token endpoint answers.
#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_expires_in: Option<i64>,
}

/// Credentials go only to `https://` issuers, or plain HTTP on this machine (a Keycloak in
/// docker compose, a test issuer): anything else would send a password or a code in clear.
pub fn check_safe(issuer: &str) -> Result<Url, Failure> {
    let url = Url::parse(issuer)
        .map_err(|_| Failure::Usage(format!("the issuer `{issuer}` is not a URL")))?;
    // `host_str` keeps an IPv6 address's brackets.
    let loopback = url.host_str().is_some_and(|host| {
        mcp_gateway::config::is_loopback_host(host.trim_start_matches('[').trim_end_matches(']'))
    });
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(Failure::Usage(format!(
            "refusing to send credentials to {issuer}: an issuer must be https:// or on this machine (pass --issuer https://…)"
        ))),
    }
}

/// `{issuer}/.well-known/openid-configuration`, checked to name the same issuer.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery, Failure> {
    let issuer = issuer.trim_end_matches('/');
    let url = format!("{issuer}/.well-known/openid-configuration");
    let response = http
        .get(&url)
        .timeout(ISSUER_TIMEOUT)
        .send()
        .await
        .map_err(|_| {
            Failure::Auth(format!(
                "cannot reach the issuer at {issuer}: is it running, and is the URL right?"
            ))
        })?;
    if !response.status().is_success() {
        return Err(Failure::Auth(format!(
            "the issuer has no OIDC discovery at {url} (HTTP {}): is the realm right?",
            response.status().as_u16()
        )));
    }
    let discovery: Discovery = response
        .json()
        .await
        .map_err(|_| Failure::Auth(format!("{url} is not an OIDC discovery document")))?;
    if discovery.issuer.trim_end_matches('/') != issuer {
        return Err(Failure::Auth(format!(
            "{url} names the issuer {} instead of {issuer}: use --issuer {}",
            discovery.issuer, discovery.issuer
        )));
    }
    Ok(discovery)
}

/// A proof key (RFC 7636): the verifier kept here, its S256 challenge sent to the browser.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let verifier = random_text();
        let challenge = URL_SAFE_NO_PAD.encode(mcp_gateway::sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// 32 random bytes, base64url: a PKCE verifier (43 characters) or a `state`.
pub fn random_text() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The password grant for `username`.
pub async fn password_grant(
    http: &reqwest::Client,
    discovery: &Discovery,
    username: &str,
    password: &str,
) -> Result<Login, Failure> {
    let form = [
        ("grant_type", "password"),
        ("client_id", CLIENT_ID),
        ("username", username),
        ("password", password),
        ("scope", "openid"),
    ];
    grant(http, discovery, &form).await
}

/// The authorization code grant, with the PKCE verifier of the code's challenge.
pub async fn code_grant(
    http: &reqwest::Client,
    discovery: &Discovery,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Login, Failure> {
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    grant(http, discovery, &form).await
}

/// A new login from the token endpoint's answer to `form`.
async fn grant(
    http: &reqwest::Client,
    discovery: &Discovery,
    form: &[(&str, &str)],
) -> Result<Login, Failure> {
    let tokens = token_request(http, &discovery.token_endpoint, form).await?;
    Ok(new_login(discovery, tokens))
}

/// `login` with new tokens from its refresh token. A refresh token the issuer no longer
/// accepts (expired, revoked, the session ended) means logging in again.
pub async fn refresh(http: &reqwest::Client, login: &Login) -> Result<Login, Failure> {
    let Some(refresh_token) = login.refresh_token.as_deref() else {
        return Err(Failure::LoginExpired);
    };
    if login
        .refresh_expires_at
        .is_some_and(|at| at <= chrono::Utc::now().timestamp())
    {
        return Err(Failure::LoginExpired);
    }
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", login.client_id.as_str()),
        ("refresh_token", refresh_token),
    ];
    let tokens = match token_request(http, &login.token_endpoint, &form).await {
        Ok(tokens) => tokens,
        Err(TokenError::Refused(_)) => return Err(Failure::LoginExpired),
        Err(TokenError::Other(failure)) => return Err(failure),
    };
    let mut refreshed = login.clone();
    apply(&mut refreshed, tokens);
    Ok(refreshed)
}

/// Best effort: tell the issuer the refresh token is no longer wanted (RFC 7009).
pub async fn revoke(http: &reqwest::Client, login: &Login) {
    if let (Some(endpoint), Some(token)) = (&login.revocation_endpoint, &login.refresh_token) {
        let form = [
            ("client_id", login.client_id.as_str()),
            ("token", token.as_str()),
            ("token_type_hint", "refresh_token"),
        ];
        let _ = http
            .post(endpoint)
            .form(&form)
            .timeout(ISSUER_TIMEOUT)
            .send()
            .await;
    }
}

/// Why the token endpoint gave no tokens: a refusal (a refresh then means logging in again),
/// or anything else (the issuer unreachable, an answer without a token).
enum TokenError {
    /// The issuer's OAuth error, as one line.
    Refused(String),
    Other(Failure),
}

impl From<TokenError> for Failure {
    fn from(error: TokenError) -> Failure {
        match error {
            TokenError::Refused(line) => Failure::Auth(line),
            TokenError::Other(failure) => failure,
        }
    }
}

async fn token_request(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> Result<Tokens, TokenError> {
    let response = http
        .post(endpoint)
        .form(form)
        .timeout(ISSUER_TIMEOUT)
        .send()
        .await
        .map_err(|_| {
            TokenError::Other(Failure::Auth(format!(
                "cannot reach the issuer's token endpoint {endpoint}: is the issuer running?"
            )))
        })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        // OAuth's error shape: `error` and an optional `error_description` (never a secret).
        let reason = body["error_description"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("no reason given");
        return Err(TokenError::Refused(format!(
            "the issuer refused the login: {reason} (HTTP {})",
            status.as_u16()
        )));
    }
    serde_json::from_value(body).map_err(|_| {
        TokenError::Other(Failure::Auth(format!(
            "{endpoint} answered no access token"
        )))
    })
}

fn new_login(discovery: &Discovery, tokens: Tokens) -> Login {
    let mut login = Login {
        issuer: discovery.issuer.clone(),
        client_id: CLIENT_ID.to_owned(),
        token_endpoint: discovery.token_endpoint.clone(),
        revocation_endpoint: discovery.revocation_endpoint.clone(),
        user: None,
        access_token: String::new(),
        expires_at: 0,
        refresh_token: None,
        refresh_expires_at: None,
    };
    apply(&mut login, tokens);
    login
}

fn apply(login: &mut Login, tokens: Tokens) {
    let now = chrono::Utc::now().timestamp();
    login.access_token = tokens.access_token;
    // Without `expires_in`, the token's own `exp`; without that, assume Keycloak's default.
    login.expires_at = tokens
        .expires_in
        .map(|seconds| now + seconds)
        .or_else(|| claims(&login.access_token)["exp"].as_i64())
        .unwrap_or(now + 300);
    // Keycloak sends a new refresh token with each refresh; other issuers keep the old one.
    if let Some(refresh_token) = tokens.refresh_token {
        login.refresh_token = Some(refresh_token);
        login.refresh_expires_at = tokens
            .refresh_expires_in
            .filter(|seconds| *seconds > 0)
            .map(|seconds| now + seconds);
    }
}

/// A JWT's claims, read without checking the signature (the gateway checks it; `mcpgw` only
/// shows them and reads `exp`). `Null` for what is not a JWT.
pub fn claims(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_to_https_or_this_machine_only() {
        for safe in [
            "https://sso.example.com/realms/x",
            "http://localhost:8080/realms/mcp-gateway",
            "http://127.0.0.1:8080/realms/mcp-gateway",
            "http://127.1.2.3/realms/x",
            "http://[::1]:8080/realms/x",
        ] {
            assert!(check_safe(safe).is_ok(), "{safe}");
        }
        for unsafe_issuer in [
            "http://sso.example.com/realms/x",
            "http://10.0.0.5:8080/realms/x",
            "http://localhost.example.com/realms/x",
            "ftp://localhost/x",
            "not a url",
        ] {
            let failure = check_safe(unsafe_issuer).unwrap_err();
            assert_eq!(failure.exit_code(), 2, "{unsafe_issuer}");
        }
    }

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = URL_SAFE_NO_PAD.encode(mcp_gateway::sha256::digest(verifier.as_bytes()));
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let pkce = Pkce::new();
        assert_eq!(pkce.verifier.len(), 43);
        assert_ne!(pkce.verifier, Pkce::new().verifier);
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"exp":5,"aud":"x"}"#);
        assert_eq!(claims(&format!("h.{payload}.s"))["exp"], 5);
        assert_eq!(claims("not-a-jwt"), Value::Null);
    }
}
