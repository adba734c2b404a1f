//! Which bearer token a request to the gateway carries: `--token` / `MCP_GATEWAY_TOKEN` as
//! given (they win), else the login kept for this gateway, refreshed silently a little before
//! it expires and once more after the gateway refuses it.

use std::sync::Mutex;

use mcp_gateway::config::Secret;

use crate::client::Failure;
use crate::oidc;
use crate::store::{Login, Store};

/// A kept token is refreshed when it has less than this left: a request must not arrive with
/// a token that expired on the way, or at a gateway whose clock runs a little ahead.
const REFRESH_MARGIN_SECONDS: i64 = 30;

pub enum Credentials {
    None,
    Given(Secret),
    Stored(Box<StoredLogin>),
}

/// The login kept for one gateway, as this run has it (refreshes are written back).
pub struct StoredLogin {
    store: Store,
    gateway: String,
    login: Mutex<Login>,
}

impl Credentials {
    /// What `mcpgw` sends to `gateway`: `given`, else what `store` keeps for it.
    pub fn choose(given: Option<Secret>, store: Option<Store>, gateway: &str) -> Credentials {
        if let Some(token) = given {
            return Credentials::Given(token);
        }
        match store.and_then(|store| store.load(gateway).map(|login| (store, login))) {
            Some((store, login)) => {
                Credentials::Stored(Box::new(StoredLogin::new(store, gateway, login)))
            }
            None => Credentials::None,
        }
    }

    pub fn is_some(&self) -> bool {
        !matches!(self, Credentials::None)
    }

    /// The token to send now, refreshed first when it is about to expire.
    pub async fn bearer(&self, http: &reqwest::Client) -> Result<Option<String>, Failure> {
        match self {
            Credentials::None => Ok(None),
            Credentials::Given(token) => Ok(Some(token.expose().to_owned())),
            Credentials::Stored(stored) => {
                let login = stored.current();
                if login.expires_at - chrono::Utc::now().timestamp() > REFRESH_MARGIN_SECONDS {
                    return Ok(Some(login.access_token));
                }
                Ok(Some(stored.refresh(http).await?.access_token))
            }
        }
    }

    /// After the gateway refused the token: a fresh one from the refresh token, when there is
    /// a stored login to refresh (true: try again).
    pub async fn renew(&self, http: &reqwest::Client) -> Result<bool, Failure> {
        match self {
            Credentials::Stored(stored) => stored.refresh(http).await.map(|_| true),
            _ => Ok(false),
        }
    }
}

impl StoredLogin {
    pub fn new(store: Store, gateway: &str, login: Login) -> StoredLogin {
        StoredLogin {
            store,
            gateway: gateway.to_owned(),
            login: Mutex::new(login),
        }
    }

    pub fn current(&self) -> Login {
        self.login.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn refresh(&self, http: &reqwest::Client) -> Result<Login, Failure> {
        let refreshed = oidc::refresh(http, &self.current()).await?;
        // Not written is not fatal: this run has the token, the next one refreshes again.
        let _ = self.store.save(&self.gateway, refreshed.clone());
        *self.login.lock().unwrap_or_else(|e| e.into_inner()) = refreshed.clone();
        Ok(refreshed)
    }
}
