//! Outbound credentials: how the gateway authenticates itself to one backend.
//!
//! A server's `auth` block resolves, at connect time, into headers, query pairs or a
//! `tools/call` argument. `oauth2` runs the client-credentials grant and caches the token
//! until shortly before it expires. Errors name the failing reference or a category, never a
//! secret value or a URL (a query credential would leak through one).

use std::time::{Duration, Instant};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{
    AuthMethod, CredentialFormat, CredentialLocation, OAuth2Settings, OutboundAuth, Secret,
};

/// Credentials ready to be put on the wire.
#[derive(Default, Clone)]
pub struct ResolvedAuth {
    /// Sent with every HTTP request to the backend.
    pub headers: HeaderMap,
    /// Appended to the backend URL (and the SSE message endpoint).
    pub query: Vec<(String, String)>,
    /// Injected into `params.arguments` of every `tools/call`.
    pub body_argument: Option<(String, String)>,
    /// When these credentials stop being valid (oauth2 tokens); the link reconnects before.
    pub refresh_at: Option<Instant>,
}

impl std::fmt::Debug for ResolvedAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedAuth")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field(
                "query",
                &self.query.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field(
                "body_argument",
                &self.body_argument.as_ref().map(|(k, _)| k),
            )
            .finish()
    }
}

/// Why credentials could not be produced. Display texts are safe to log and to show in
/// `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{0}")]
    Reference(String),
    #[error("credential for header {0} is not a valid header value")]
    InvalidHeaderValue(String),
    #[error("invalid header name {0}")]
    InvalidHeaderName(String),
    #[error("oauth2 token request failed: {0}")]
    OAuth2(String),
}

/// An oauth2 access token and when to stop using it.
struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

/// Per-backend credential state: today only the cached oauth2 token.
#[derive(Default)]
pub struct CredentialCache {
    oauth2: Mutex<Option<CachedToken>>,
}

/// Tokens are renewed this long before they expire, so no call races the expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Used when a token endpoint gives no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

impl CredentialCache {
    /// Resolve `auth` into wire credentials, fetching an oauth2 token when needed.
    pub async fn resolve(
        &self,
        auth: Option<&OutboundAuth>,
        http: &reqwest::Client,
    ) -> Result<ResolvedAuth, CredentialError> {
        let Some(auth) = auth else {
            return Ok(ResolvedAuth::default());
        };
        let (secret, refresh_at) = match (&auth.method, &auth.oauth2) {
            (AuthMethod::OAuth2, Some(settings)) => {
                let (token, refresh_at) = self.oauth2_token(settings, http).await?;
                (token, Some(refresh_at))
            }
            _ => {
                let reference = auth.credential.as_ref().ok_or_else(|| {
                    CredentialError::Reference("credential_ref is missing".into())
                })?;
                let secret = reference
                    .resolve()
                    .map_err(|e| CredentialError::Reference(e.to_string()))?;
                (secret, None)
            }
        };
        let value = wire_value(auth, secret.expose());
        let mut resolved = ResolvedAuth {
            refresh_at,
            ..ResolvedAuth::default()
        };
        match auth.location {
            CredentialLocation::Header => {
                let name = HeaderName::try_from(auth.name.as_str())
                    .map_err(|_| CredentialError::InvalidHeaderName(auth.name.clone()))?;
                let mut value = HeaderValue::try_from(value)
                    .map_err(|_| CredentialError::InvalidHeaderValue(auth.name.clone()))?;
                value.set_sensitive(true);
                resolved.headers.insert(name, value);
            }
            CredentialLocation::Query => resolved.query.push((auth.name.clone(), value)),
            CredentialLocation::Body => resolved.body_argument = Some((auth.name.clone(), value)),
        }
        Ok(resolved)
    }

    /// The cached token, or a new one from the token endpoint.
    async fn oauth2_token(
        &self,
        settings: &OAuth2Settings,
        http: &reqwest::Client,
    ) -> Result<(Secret, Instant), CredentialError> {
        let mut cached = self.oauth2.lock().await;
        if let Some(token) = cached.as_ref()
            && token.refresh_at > Instant::now()
        {
            return Ok((token.token.clone(), token.refresh_at));
        }
        let fresh = fetch_client_credentials_token(settings, http).await?;
        let result = (fresh.token.clone(), fresh.refresh_at);
        *cached = Some(fresh);
        Ok(result)
    }
}

/// The credential as it goes on the wire: basic-encoded if needed, then formatted.
fn wire_value(auth: &OutboundAuth, credential: &str) -> String {
    let credential = match auth.method {
        AuthMethod::Basic => base64::engine::general_purpose::STANDARD.encode(credential),
        _ => credential.to_owned(),
    };
    match &auth.format {
        CredentialFormat::Raw => credential,
        CredentialFormat::Prefix(prefix) => format!("{prefix}{credential}"),
        CredentialFormat::Template(template) => template.replace("{credential}", &credential),
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

/// RFC 6749 §4.4: client-credentials grant with the client secret in the form body.
async fn fetch_client_credentials_token(
    settings: &OAuth2Settings,
    http: &reqwest::Client,
) -> Result<CachedToken, CredentialError> {
    let secret = settings
        .client_secret
        .resolve()
        .map_err(|e| CredentialError::Reference(e.to_string()))?;
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", settings.client_id.as_str()),
        ("client_secret", secret.expose()),
    ];
    if let Some(scope) = &settings.scope {
        form.push(("scope", scope.as_str()));
    }
    let response = http
        .post(&settings.token_url)
        .form(&form)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        // reqwest errors carry the URL; keep only the category.
        .map_err(|e| CredentialError::OAuth2(crate::upstream::error_category(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(CredentialError::OAuth2(format!(
            "http status {}",
            status.as_u16()
        )));
    }
    let body: TokenResponse = response
        .json()
        .await
        .map_err(|_| CredentialError::OAuth2("malformed token response".into()))?;
    let lifetime = body
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    let refresh_at = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN).max(lifetime / 2);
    Ok(CachedToken {
        token: Secret::new(body.access_token),
        refresh_at,
    })
}
