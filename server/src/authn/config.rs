//! What authentication checks, derived once from the environment [`Settings`] (SPEC §3).
//!
//! [`AuthnConfig::from_settings`] is the only way in, so a gateway with auth on never runs
//! with an issuer it cannot name, an empty audience or an HMAC algorithm.

use jsonwebtoken::Algorithm;

use crate::config::{JwtAlgorithm, Settings};

/// Validated authentication settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnConfig {
    /// The exact `iss` tokens must carry (`JWT_ISSUER`, else Keycloak's realm URL).
    pub issuer: String,
    /// OIDC discovery documents to try, in order (see [`AuthnConfig::discovery_urls`]).
    discovery_urls: Vec<String>,
    /// `JWKS_URL`; `None` means "the `jwks_uri` of the discovery document".
    pub jwks_url: Option<String>,
    /// A token's `aud` must contain one of these: `JWT_AUDIENCE` and `{GATEWAY_PUBLIC_URL}/mcp`
    /// (the RFC 8707 resource indicator MCP clients ask for).
    pub audiences: Vec<String>,
    /// The client whose roles count: `resource_access.<client_id>.roles` (`JWT_AUDIENCE`).
    pub client_id: String,
    /// `JWT_ALGORITHM`, never HMAC or `none` (refused when settings are read).
    pub algorithms: Vec<Algorithm>,
    /// `JWT_LEEWAY_SECONDS`, for `exp`, `nbf` and `iat`.
    pub leeway_seconds: u64,
}

/// Why the authentication settings cannot be used. Names variables, never secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthnConfigError {
    #[error(
        "KEYCLOAK_REALM must be a realm name (no `/`, `?`, `#` or spaces) when JWT_ISSUER is not set"
    )]
    BadRealm,
    #[error("the token issuer ({0}) must be an http:// or https:// URL")]
    BadIssuer(&'static str),
    #[error("JWT_AUDIENCE must be one client id without spaces")]
    BadAudience,
    #[error("GATEWAY_PUBLIC_URL must be an http:// or https:// URL")]
    BadPublicUrl,
    #[error("JWT_ALGORITHM must name at least one algorithm")]
    NoAlgorithm,
    #[error("cannot build the HTTP client for the issuer: {0}")]
    HttpClient(String),
}

impl AuthnConfig {
    pub fn from_settings(settings: &Settings) -> Result<AuthnConfig, AuthnConfigError> {
        let realm_issuer = format!(
            "{}/realms/{}",
            settings.keycloak_url.trim_end_matches('/'),
            settings.keycloak_realm
        );
        let issuer = match &settings.jwt_issuer {
            Some(issuer) => {
                check_http_url(issuer).ok_or(AuthnConfigError::BadIssuer("JWT_ISSUER"))?;
                issuer.clone()
            }
            None => {
                let realm = settings.keycloak_realm.as_str();
                if realm.is_empty()
                    || realm.contains(['/', '?', '#'])
                    || realm.contains(char::is_whitespace)
                {
                    return Err(AuthnConfigError::BadRealm);
                }
                check_http_url(&realm_issuer).ok_or(AuthnConfigError::BadIssuer("KEYCLOAK_URL"))?;
                realm_issuer.clone()
            }
        };

        let audience = settings.jwt_audience.trim();
        if audience.is_empty() || audience.contains(char::is_whitespace) {
            return Err(AuthnConfigError::BadAudience);
        }
        let public_url = settings.public_url.trim_end_matches('/');
        check_http_url(public_url).ok_or(AuthnConfigError::BadPublicUrl)?;

        if settings.jwt_algorithms.is_empty() {
            return Err(AuthnConfigError::NoAlgorithm);
        }
        let algorithms = settings
            .jwt_algorithms
            .iter()
            .map(|a| to_jwt_algorithm(*a))
            .collect();

        let mut discovery_urls = vec![discovery_url(&issuer)];
        // In docker compose the issuer users see (`http://localhost:8080/...`) is not the
        // address the gateway reaches Keycloak at (`KEYCLOAK_URL`). With `JWKS_URL` set, keys
        // never come from discovery, so the realm URL may serve the metadata we mirror; its
        // `issuer` must still be the configured one.
        if settings.jwks_url.is_some() && realm_issuer != issuer {
            discovery_urls.push(discovery_url(&realm_issuer));
        }

        Ok(AuthnConfig {
            issuer,
            discovery_urls,
            jwks_url: settings.jwks_url.clone(),
            audiences: vec![audience.to_owned(), format!("{public_url}/mcp")],
            client_id: audience.to_owned(),
            algorithms,
            leeway_seconds: settings.jwt_leeway.as_secs(),
        })
    }

    /// Where the OIDC discovery document is looked for:
    /// `{issuer}/.well-known/openid-configuration`, then (only when `JWKS_URL` is set) the
    /// same under `{KEYCLOAK_URL}/realms/{KEYCLOAK_REALM}`.
    pub fn discovery_urls(&self) -> &[String] {
        &self.discovery_urls
    }

    /// Whether signing keys depend on discovery (no `JWKS_URL`).
    pub fn keys_need_discovery(&self) -> bool {
        self.jwks_url.is_none()
    }
}

fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

fn check_http_url(text: &str) -> Option<()> {
    let url = reqwest::Url::parse(text).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then_some(())
}

/// `JWT_ALGORITHM` entries as jsonwebtoken's algorithms.
pub fn to_jwt_algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::Rs256 => Algorithm::RS256,
        JwtAlgorithm::Rs384 => Algorithm::RS384,
        JwtAlgorithm::Rs512 => Algorithm::RS512,
        JwtAlgorithm::Es256 => Algorithm::ES256,
        JwtAlgorithm::Es384 => Algorithm::ES384,
        JwtAlgorithm::Ps256 => Algorithm::PS256,
        JwtAlgorithm::Ps384 => Algorithm::PS384,
        JwtAlgorithm::Ps512 => Algorithm::PS512,
        JwtAlgorithm::EdDsa => Algorithm::EdDSA,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::SettingsOverrides;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| vars.get(k).cloned(), SettingsOverrides::default())
            .expect("valid settings")
    }

    #[test]
    fn keycloak_defaults() {
        let config = AuthnConfig::from_settings(&settings(&[])).expect("valid");
        assert_eq!(config.issuer, "http://localhost:8080/realms/mcp-gateway");
        assert_eq!(
            config.discovery_urls(),
            ["http://localhost:8080/realms/mcp-gateway/.well-known/openid-configuration"]
        );
        assert!(config.keys_need_discovery());
        assert_eq!(
            config.audiences,
            ["mcp-gateway", "http://localhost:8000/mcp"]
        );
        assert_eq!(config.client_id, "mcp-gateway");
        assert_eq!(config.algorithms, [Algorithm::RS256]);
        assert_eq!(config.leeway_seconds, 30);
    }

    #[test]
    fn explicit_issuer_and_jwks_url_as_in_docker_compose() {
        let config = AuthnConfig::from_settings(&settings(&[
            ("KEYCLOAK_URL", "http://keycloak:8080"),
            ("JWT_ISSUER", "http://localhost:8080/realms/mcp-gateway"),
            (
                "JWKS_URL",
                "http://keycloak:8080/realms/mcp-gateway/protocol/openid-connect/certs",
            ),
            ("GATEWAY_PUBLIC_URL", "https://gw.example.com/"),
            ("JWT_ALGORITHM", "RS256,ES256,PS256"),
            ("JWT_LEEWAY_SECONDS", "5"),
        ]))
        .expect("valid");
        assert_eq!(config.issuer, "http://localhost:8080/realms/mcp-gateway");
        assert!(!config.keys_need_discovery());
        assert_eq!(
            config.discovery_urls(),
            [
                "http://localhost:8080/realms/mcp-gateway/.well-known/openid-configuration",
                "http://keycloak:8080/realms/mcp-gateway/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            config.audiences,
            ["mcp-gateway", "https://gw.example.com/mcp"]
        );
        assert_eq!(
            config.algorithms,
            [Algorithm::RS256, Algorithm::ES256, Algorithm::PS256]
        );
        assert_eq!(config.leeway_seconds, 5);
    }

    #[test]
    fn keys_never_come_from_a_second_discovery_url() {
        // Without JWKS_URL the realm URL is not a fallback: keys come from the issuer only.
        let config = AuthnConfig::from_settings(&settings(&[
            ("JWT_ISSUER", "https://login.example.com/tenant"),
            ("KEYCLOAK_URL", "http://localhost:8080"),
        ]))
        .expect("valid");
        assert_eq!(
            config.discovery_urls(),
            ["https://login.example.com/tenant/.well-known/openid-configuration"]
        );
    }

    #[test]
    fn bad_realms_are_refused() {
        for realm in ["a/b", "x?y", "with space", "frag#ment"] {
            let result = AuthnConfig::from_settings(&settings(&[("KEYCLOAK_REALM", realm)]));
            assert_eq!(result, Err(AuthnConfigError::BadRealm), "{realm}");
        }
        // With an explicit issuer the realm is not used.
        let result = AuthnConfig::from_settings(&settings(&[
            ("KEYCLOAK_REALM", "a/b"),
            ("JWT_ISSUER", "https://issuer.example.com"),
        ]));
        assert!(result.is_ok());
    }

    #[test]
    fn audience_with_spaces_is_refused() {
        let result = AuthnConfig::from_settings(&settings(&[("JWT_AUDIENCE", "a b")]));
        assert_eq!(result, Err(AuthnConfigError::BadAudience));
    }

    #[test]
    fn every_setting_algorithm_maps() {
        for algorithm in JwtAlgorithm::ALL {
            let mapped = to_jwt_algorithm(algorithm);
            assert_eq!(format!("{mapped:?}"), algorithm.as_str());
        }
    }
}
