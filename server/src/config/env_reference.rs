//! The one table of the gateway's environment variables (SPEC §3): name, default, meaning.
//!
//! [`super::Settings`] takes its constant defaults from here, and `.env.example` and
//! docs/configuration.md are written from it, so there is no second list to drift.
//! A default written in parentheses is derived from other settings, not a value.

/// (name, default, meaning), in the order `.env.example` lists them.
const ENV_REFERENCE: &[(&str, &str, &str)] = &[
    (
        "GATEWAY_HOST",
        "127.0.0.1",
        "Listen address; the --listen flag wins. 0.0.0.0 listens on every interface.",
    ),
    (
        "GATEWAY_PORT",
        "8000",
        "Listen port; the --listen flag wins. 0 picks a free port.",
    ),
    (
        "GATEWAY_PUBLIC_URL",
        "(http://localhost:{GATEWAY_PORT})",
        "The URL clients use, without a trailing slash; used in OAuth metadata.",
    ),
    (
        "GATEWAY_ALLOWED_HOSTS",
        "(host of GATEWAY_PUBLIC_URL, localhost, 127.0.0.1, ::1, the listen host)",
        "Comma list of accepted Host headers (DNS-rebinding protection); an entry without a port matches any port.",
    ),
    (
        "GATEWAY_ALLOWED_ORIGINS",
        "(origin of GATEWAY_PUBLIC_URL, http://localhost:*, http://127.0.0.1:*, http://[::1]:*)",
        "Comma list of accepted Origin headers; a request without Origin is accepted.",
    ),
    (
        "GATEWAY_WORKER_THREADS",
        "(one per CPU the process may use)",
        "Threads that serve client connections, each with its own event loop; a connection stays on one of them.",
    ),
    (
        "GATEWAY_UPSTREAM_CLIENT",
        "auto",
        "auto: tools/call to streamable HTTP backends through the gateway's own HTTP client, rmcp's for the rest; rmcp: rmcp's client for every call.",
    ),
    (
        "MCP_SERVERS_CONFIG",
        "mcp_servers.yaml",
        "The backend configuration file; the --config flag wins.",
    ),
    (
        "AUTH_ENABLED",
        "true",
        "Require a JWT on every protected route. false is refused unless the listen address is loopback or ALLOW_INSECURE=true.",
    ),
    (
        "ALLOW_INSECURE",
        "false",
        "Allow AUTH_ENABLED=false on a non-loopback listen address.",
    ),
    (
        "ANONYMOUS_ROLES",
        "(admin on a loopback listen address, none otherwise)",
        "Comma list: the roles of the caller `anonymous` when auth is off. Set but empty: no roles.",
    ),
    (
        "KEYCLOAK_URL",
        "http://localhost:8080",
        "Keycloak base URL; the issuer is {KEYCLOAK_URL}/realms/{KEYCLOAK_REALM}.",
    ),
    ("KEYCLOAK_REALM", "mcp-gateway", "Keycloak realm."),
    (
        "JWT_ISSUER",
        "({KEYCLOAK_URL}/realms/{KEYCLOAK_REALM})",
        "The required iss claim, and the issuer clients are sent to; set it for non-Keycloak issuers.",
    ),
    (
        "JWKS_URL",
        "(from OIDC discovery of the issuer)",
        "Where the signing keys are fetched; with JWT_ISSUER set too, no discovery is needed.",
    ),
    (
        "JWT_AUDIENCE",
        "mcp-gateway",
        "The required aud (string or list); {GATEWAY_PUBLIC_URL}/mcp is accepted too (RFC 8707).",
    ),
    (
        "JWT_ALGORITHM",
        "RS256",
        "Comma list of accepted signature algorithms among RS256, RS384, RS512, ES256, ES384, PS256, PS384, PS512, EdDSA. none and HS* stop the start.",
    ),
    (
        "JWT_LEEWAY_SECONDS",
        "30",
        "Clock skew allowed on exp and nbf, in seconds.",
    ),
    (
        "DATABASE_URL",
        "sqlite://data/gateway.db",
        "Audit database: sqlite://PATH or postgresql://USER:PASSWORD@HOST/DB.",
    ),
    (
        "GATEWAY_ENCRYPTION_KEY",
        "(unset: users cannot store their own upstream keys)",
        "32 random bytes, base64 or 64 hex digits (openssl rand -base64 32): encrypts the Anthropic keys users store (AES-256-GCM). Keep it secret; changing it makes stored keys unreadable.",
    ),
    (
        "AUDIT_LOG_FILE",
        "audit.json",
        "Audit file, JSON lines, rotated daily to AUDIT_LOG_FILE.YYYY-MM-DD.",
    ),
    (
        "AUDIT_TO_STDOUT",
        "true",
        "Also write audit records to stdout.",
    ),
    (
        "LOG_LEVEL",
        "info",
        "Log filter (tracing syntax, e.g. info,rmcp=warn).",
    ),
    ("LOG_FORMAT", "pretty", "pretty or json."),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "(unset: no traces)",
        "OTLP/HTTP collector for traces, e.g. http://localhost:4318 (/v1/traces is added); the other standard OTEL_* variables apply (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, OTEL_BSP_*).",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "(unset)",
        "The full traces URL (used as given); turns traces on like OTEL_EXPORTER_OTLP_ENDPOINT.",
    ),
    (
        "OTEL_SDK_DISABLED",
        "false",
        "true: no traces even with an endpoint set.",
    ),
    (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "http/protobuf",
        "http/protobuf or http/json (gRPC is not built in).",
    ),
    (
        "OTEL_SERVICE_NAME",
        "mcp-gateway",
        "service.name of the traces.",
    ),
];

/// Every environment variable of the gateway: (name, default, meaning). A default in
/// parentheses is derived from other settings.
pub fn env_reference() -> &'static [(&'static str, &'static str, &'static str)] {
    ENV_REFERENCE
}

/// The constant default of a variable; `None` when it is derived (or the name unknown).
pub(crate) fn literal_default(name: &str) -> Option<&'static str> {
    ENV_REFERENCE
        .iter()
        .find(|(known, _, _)| *known == name)
        .map(|(_, default, _)| *default)
        .filter(|default| !default.is_empty() && !default.starts_with('('))
}

/// The text of `.env.example`: every variable with its meaning; constant defaults as
/// values, derived ones commented out.
pub fn env_example() -> String {
    let mut text = String::from(
        "# Secure MCP Gateway environment. Every variable is optional: the values below are\n\
         # the defaults. An empty value counts as unset (except ANONYMOUS_ROLES).\n",
    );
    for (name, default, meaning) in ENV_REFERENCE {
        text.push('\n');
        text.push_str(&format!("# {meaning}\n"));
        match literal_default(name) {
            Some(value) => text.push_str(&format!("{name}={value}\n")),
            None => text.push_str(&format!("# default: {default}\n# {name}=\n")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        let mut names: Vec<_> = ENV_REFERENCE.iter().map(|(name, _, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ENV_REFERENCE.len());
        assert!(
            ENV_REFERENCE
                .iter()
                .all(|(_, _, meaning)| !meaning.is_empty())
        );
    }

    #[test]
    fn literal_and_derived_defaults() {
        assert_eq!(literal_default("GATEWAY_PORT"), Some("8000"));
        assert_eq!(literal_default("GATEWAY_ALLOWED_HOSTS"), None);
        assert_eq!(literal_default("NOT_A_VARIABLE"), None);
    }

    #[test]
    fn env_example_lists_every_variable() {
        let text = env_example();
        for (name, _, _) in ENV_REFERENCE {
            assert!(
                text.lines()
                    .any(|line| line.starts_with(&format!("{name}="))
                        || line == format!("# {name}=")),
                "{name}"
            );
        }
        assert!(text.contains("\nGATEWAY_PORT=8000\n"));
        assert!(text.contains("\n# JWT_ISSUER=\n"));
    }

    #[test]
    fn docs_list_every_variable() {
        let docs = include_str!("../../../docs/configuration.md");
        for (name, _, _) in ENV_REFERENCE {
            assert!(
                docs.contains(&format!("`{name}`")),
                "docs/configuration.md lacks {name}"
            );
        }
    }
}
