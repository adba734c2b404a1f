//! Authentication: bearer JWTs from Keycloak (or any OIDC issuer) checked against the issuer's
//! JWKS, giving the caller's [`Principal`] (SPEC §3, §8, §13).
//!
//! - [`AuthnConfig`]: what is checked, validated once from the environment.
//! - [`Authenticator`]: the key cache and the one entry point, [`Authenticator::authenticate`].
//!   A token whose `kid` is cached is verified without I/O, locks or awaits; an unknown `kid`
//!   refreshes the JWKS at most once per [`AuthnOptions::min_kid_refresh_interval`].
//! - Keycloak down at start: the gateway starts anyway; a background task fetches discovery and
//!   JWKS with backoff, and until keys are loaded authentication answers
//!   [`AuthError::KeysUnavailable`] (503), never 401.
//!
//! Why no `jwks-client` crate: see docs/decisions.md ("Authentication").

mod claims;
mod config;
mod error;
mod fetch;
mod keys;
mod refresh;
mod verified;
mod verify;

pub use config::{AuthnConfig, AuthnConfigError, to_jwt_algorithm};
pub use error::{AuthError, QuotedValue};
pub use fetch::{FetchError, MAX_DOCUMENT_BYTES, ProviderMetadata};
pub use keys::{KeySet, KeySetError, VerificationKey};
pub use refresh::{AuthnOptions, Backoff, Cooldown};
pub use verify::{MAX_TOKEN_BYTES, TokenHeader, TokenVerifier, algorithm_name};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::principal::Principal;

/// Why the issuer's documents could not be refreshed (for the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("OIDC discovery at {url}: {error}")]
    Discovery { url: String, error: FetchError },
    #[error("no JWKS URL yet (JWKS_URL unset and discovery has not succeeded)")]
    NoJwksUrl,
    #[error("JWKS at {url}: {error}")]
    Jwks { url: String, error: FetchError },
    #[error("JWKS at {url}: {error}")]
    Keys { url: String, error: KeySetError },
}

/// Verifies bearer tokens and keeps the issuer's keys and metadata fresh.
pub struct Authenticator {
    config: AuthnConfig,
    verifier: TokenVerifier,
    options: AuthnOptions,
    http: reqwest::Client,
    /// `None` until the first JWKS is loaded.
    keys: ArcSwapOption<KeySet>,
    /// The discovery document, once fetched (needed for keys when `JWKS_URL` is unset, and
    /// mirrored at `/.well-known/oauth-authorization-server`).
    metadata: ArcSwapOption<ProviderMetadata>,
    /// Held while a caller-caused JWKS fetch runs, so concurrent unknown `kid`s share one.
    kid_refresh: Mutex<Cooldown>,
    metadata_refresh: Mutex<Cooldown>,
    jwks_fetches: AtomicU64,
    /// Tokens already verified with the current keys (see [`verified`]).
    verified: verified::VerifiedTokens,
    /// Bumped whenever the key set is replaced; cached verifications are tied to it.
    keys_generation: AtomicU64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.config.issuer)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Validate the settings and build an authenticator with its own HTTP client. Nothing is
    /// fetched until [`Authenticator::start`].
    pub fn from_settings(
        settings: &Settings,
        options: AuthnOptions,
    ) -> Result<Arc<Authenticator>, AuthnConfigError> {
        let config = AuthnConfig::from_settings(settings)?;
        let http = reqwest::Client::builder()
            .timeout(options.fetch_timeout)
            .connect_timeout(options.fetch_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("secure-mcp-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| AuthnConfigError::HttpClient(error.without_url().to_string()))?;
        Ok(Self::new(config, http, options))
    }

    pub fn new(config: AuthnConfig, http: reqwest::Client, options: AuthnOptions) -> Arc<Self> {
        Arc::new(Authenticator {
            verifier: TokenVerifier::new(&config),
            config,
            options,
            http,
            keys: ArcSwapOption::empty(),
            metadata: ArcSwapOption::empty(),
            kid_refresh: Mutex::new(Cooldown::default()),
            metadata_refresh: Mutex::new(Cooldown::default()),
            jwks_fetches: AtomicU64::new(0),
            verified: Default::default(),
            keys_generation: AtomicU64::new(0),
        })
    }

    /// Fetch discovery and JWKS now and then in the background: every
    /// [`AuthnOptions::refresh_interval`] after a success, with backoff after a failure. Stops
    /// with `shutdown` or when the authenticator is dropped.
    pub fn start(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        let mut backoff = Backoff::new(self.options.retry_initial, self.options.retry_max);
        tokio::spawn(async move {
            loop {
                let Some(this) = weak.upgrade() else { break };
                let wait = match this.refresh_all().await {
                    Ok(()) => {
                        backoff.reset();
                        this.options.refresh_interval
                    }
                    Err(error) => {
                        let wait = backoff.next_wait();
                        let retry_in_ms = wait.as_millis() as u64;
                        if this.is_ready() {
                            tracing::warn!(
                                %error,
                                retry_in_ms,
                                "cannot refresh the token issuer's keys; keeping the keys we have"
                            );
                        } else {
                            tracing::warn!(
                                %error,
                                retry_in_ms,
                                "cannot load the token issuer's keys; authenticated requests \
                                 answer 503 until they load"
                            );
                        }
                        wait
                    }
                };
                drop(this);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        })
    }

    /// The caller behind `token` (the bearer value, without `Bearer `).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        if self.keys.load().is_none() {
            return Err(AuthError::KeysUnavailable);
        }
        let now = now_seconds();
        // The hottest path: this very token was verified with the current keys.
        let digest = verified::digest(token);
        let generation = self.keys_generation.load(Ordering::Acquire) as usize;
        if let Some(principal) = self.verified.get(&digest, generation, now) {
            return Ok(principal);
        }
        let header = self.verifier.header(token)?;
        {
            // The hot path: a cached key, no I/O and no await.
            let guard = self.keys.load();
            if let Some(keys) = guard.as_ref()
                && keys.get(&header.kid).is_some()
            {
                let principal = self.verifier.verify(token, &header, keys, now)?;
                self.verified.insert(
                    digest,
                    token,
                    &principal,
                    generation,
                    self.config.leeway_seconds,
                );
                return Ok(principal);
            }
        }
        let keys = match self.refresh_for_kid(&header.kid).await {
            Some(keys) => keys,
            None => self.keys.load_full().ok_or(AuthError::KeysUnavailable)?,
        };
        self.verifier.verify(token, &header, &keys, now_seconds())
    }

    /// Use `keys` now, until the next refresh replaces them (keys obtained some other way,
    /// and tests).
    pub fn install_keys(&self, keys: KeySet) {
        self.keys.store(Some(Arc::new(keys)));
        self.keys_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether a JWKS has been loaded (until then every token gets 503).
    pub fn is_ready(&self) -> bool {
        self.keys.load().is_some()
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn config(&self) -> &AuthnConfig {
        &self.config
    }

    /// How many JWKS fetches were started, successful or not.
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks_fetches.load(Ordering::Relaxed)
    }

    /// The issuer's discovery document, to mirror as RFC 8414 metadata; fetched on demand
    /// (at most once per [`AuthnOptions::min_kid_refresh_interval`]) when the background
    /// refresh has not had it yet. `None`: not available now.
    pub async fn authorization_server_metadata(&self) -> Option<Bytes> {
        if let Some(metadata) = self.metadata.load().as_ref() {
            return Some(metadata.document.clone());
        }
        let mut cooldown = self.metadata_refresh.lock().await;
        if let Some(metadata) = self.metadata.load().as_ref() {
            return Some(metadata.document.clone());
        }
        if !cooldown.try_start(Instant::now(), self.options.min_kid_refresh_interval) {
            return None;
        }
        match self.refresh_metadata().await {
            Ok(metadata) => Some(metadata.document.clone()),
            Err(error) => {
                tracing::warn!(%error, "authorization server metadata not available");
                None
            }
        }
    }

    /// One full refresh: discovery (needed for keys without `JWKS_URL`; otherwise only for the
    /// mirrored metadata), then the JWKS.
    pub async fn refresh_all(&self) -> Result<(), RefreshError> {
        if let Err(error) = self.refresh_metadata().await {
            if self.config.keys_need_discovery() && self.metadata.load().is_none() {
                return Err(error);
            }
            tracing::debug!(%error, "OIDC discovery failed; signing keys do not depend on it");
        }
        self.refresh_keys().await.map(|_| ())
    }

    /// An unknown `kid`: fetch the JWKS again unless a caller-caused fetch ran recently.
    /// Returns the new keys when a fetch happened (or one finished while this call waited).
    async fn refresh_for_kid(&self, kid: &str) -> Option<Arc<KeySet>> {
        let mut cooldown = self.kid_refresh.lock().await;
        if let Some(keys) = self.keys.load_full()
            && keys.get(kid).is_some()
        {
            return Some(keys);
        }
        if !cooldown.try_start(Instant::now(), self.options.min_kid_refresh_interval) {
            return None;
        }
        tracing::debug!(
            kid = %QuotedValue::new(kid),
            "unknown signing key; fetching the JWKS again"
        );
        match self.refresh_keys().await {
            Ok(keys) => Some(keys),
            Err(error) => {
                tracing::warn!(%error, "JWKS refresh for an unknown kid failed");
                None
            }
        }
    }

    async fn refresh_keys(&self) -> Result<Arc<KeySet>, RefreshError> {
        let url = match &self.config.jwks_url {
            Some(url) => url.clone(),
            None => self
                .metadata
                .load()
                .as_ref()
                .map(|metadata| metadata.jwks_uri.clone())
                .ok_or(RefreshError::NoJwksUrl)?,
        };
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let body = fetch::get_document(&self.http, &url)
            .await
            .map_err(|error| RefreshError::Jwks {
                url: url.clone(),
                error,
            })?;
        let keys = KeySet::from_jwks_json(&body).map_err(|error| RefreshError::Keys {
            url: url.clone(),
            error,
        })?;
        let keys = Arc::new(keys);
        let previous = self.keys.swap(Some(Arc::clone(&keys)));
        let kids = keys.kids().join(",");
        match previous {
            None => tracing::info!(%url, %kids, "token issuer's signing keys loaded"),
            Some(old) if old.kids() != keys.kids() => {
                tracing::info!(%url, %kids, "token issuer's signing keys changed")
            }
            Some(_) => tracing::debug!(%url, "token issuer's signing keys refreshed"),
        }
        Ok(keys)
    }

    async fn refresh_metadata(&self) -> Result<Arc<ProviderMetadata>, RefreshError> {
        let mut last_error = None;
        for url in self.config.discovery_urls() {
            let result = match fetch::get_document(&self.http, url).await {
                Ok(body) => ProviderMetadata::parse(body, &self.config.issuer),
                Err(error) => Err(error),
            };
            match result {
                Ok(metadata) => {
                    let metadata = Arc::new(metadata);
                    self.metadata.store(Some(Arc::clone(&metadata)));
                    return Ok(metadata);
                }
                Err(error) => {
                    last_error = Some(RefreshError::Discovery {
                        url: url.clone(),
                        error,
                    })
                }
            }
        }
        Err(last_error.unwrap_or(RefreshError::NoJwksUrl))
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
