//! Validated gateway configuration: `mcp_servers.yaml` and the environment.
//!
//! - [`load_file`] / [`parse_str`]: the file (SPEC §4) into a [`Config`], or every problem
//!   at once as [`ConfigErrors`] (file, line where known, server, key, what is wrong).
//! - [`Settings`]: the environment (SPEC §3), with the `--config` / `--listen` flags on top.
//! - [`CredentialRef`] / [`Secret`]: credentials are references in the config, read when a
//!   backend connects.
//!
//! The path from text to config: [`lines`] indexes key lines, the YAML is parsed and
//! [`normalize`]d, deserialized into the [`raw`] shapes (which never fail), then checked by
//! [`validate`] into the [`model`] types.

mod check;
mod credentials;
mod env_reference;
mod lines;
mod load;
mod model;
mod normalize;
mod problems;
pub mod raw;
mod settings;
mod validate;

pub use check::check_file;
pub use credentials::{
    CREDENTIAL_REF_SYNTAX, CredentialError, CredentialRef, Secret, is_env_var_name,
};
pub use env_reference::{env_example, env_reference};
pub use load::{load_file, parse_str};
pub use model::{
    AnthropicConfig, AuthMethod, AuthorizationConfig, AuthzRule, Config, CredentialFormat,
    CredentialLocation, DEFAULT_SERVER_TIMEOUT, Effect, EnvValue, GuardAction, GuardConfig, Limits,
    LlmBudget, LlmConfig, OAuth2Settings, OutboundAuth, Rate, RateLimitsConfig, ServerConfig,
    TEMPLATE_MARKER, TransportConfig, default_limits, default_llm,
};
pub use problems::{ConfigErrors, ConfigProblem};
pub use settings::{
    JwtAlgorithm, LogFormat, Settings, SettingsOverrides, TraceExport, UpstreamClient,
    is_loopback_host,
};
pub use validate::server_name_problem;

#[cfg(test)]
mod example_tests {
    use std::path::Path;

    use super::*;

    fn examples_dir() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
    }

    #[test]
    fn complete_example_is_valid_and_uses_every_feature() {
        let path = examples_dir().join("mcp_servers_complete.yaml");
        let config = load_file(&path).unwrap_or_else(|errors| panic!("{errors}"));

        let types: Vec<_> = config
            .servers
            .iter()
            .map(ServerConfig::transport_type)
            .collect();
        for kind in ["http", "sse", "stdio"] {
            assert!(types.contains(&kind), "no {kind} server");
        }
        let methods: Vec<_> = config
            .servers
            .iter()
            .filter_map(|server| server.auth.as_ref().map(|auth| auth.method))
            .collect();
        for method in [
            AuthMethod::ApiKey,
            AuthMethod::Bearer,
            AuthMethod::Basic,
            AuthMethod::OAuth2,
            AuthMethod::Custom,
        ] {
            assert!(methods.contains(&method), "no {} server", method.as_str());
        }
        for location in [
            CredentialLocation::Header,
            CredentialLocation::Query,
            CredentialLocation::Body,
        ] {
            assert!(
                config
                    .servers
                    .iter()
                    .any(|s| s.auth.as_ref().is_some_and(|a| a.location == location)),
                "no credential in {}",
                location.as_str()
            );
        }
        assert!(config.servers.iter().any(|s| !s.enabled));
        assert!(config.servers.iter().any(|s| s.forward_identity));
        assert!(config.authorization.is_some_and(|a| !a.rules.is_empty()));
        assert!(
            config
                .rate_limits
                .is_some_and(|r| r.per_user.is_some() && !r.per_tool.is_empty())
        );
    }

    #[test]
    fn quick_start_example_is_valid_when_present() {
        let path = examples_dir().join("mcp_servers.yaml");
        if !path.exists() {
            return;
        }
        if let Err(errors) = load_file(&path) {
            panic!("{errors}");
        }
    }
}
