//! The gateway's environment (SPEC §3) as typed [`Settings`], with the `--config` and
//! `--listen` flags on top: flag > environment > default.
//!
//! Every problem is reported at once, naming the variable; values are not quoted (several
//! variables hold credentials, e.g. `DATABASE_URL`). Defaults come from the one table in
//! `env_reference`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::credentials::Secret;
use super::env_reference::literal_default;
use super::problems::{ConfigErrors, ConfigProblem};

/// More serving threads than this is a typing error, not a machine.
const MAX_WORKER_THREADS: usize = 1024;

/// Label of settings problems in place of a file name.
const ENVIRONMENT: &str = "environment";

/// The command-line flags that override the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsOverrides {
    /// `--config FILE`
    pub config_path: Option<PathBuf>,
    /// `--listen HOST:PORT` (`[::1]:8000` for IPv6)
    pub listen: Option<String>,
}

/// Signature algorithms a token may use. HMAC (`HS*`) and `none` are not representable:
/// they are refused when settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    Ps256,
    Ps384,
    Ps512,
    EdDsa,
}

impl JwtAlgorithm {
    pub const ALL: [JwtAlgorithm; 9] = [
        JwtAlgorithm::Rs256,
        JwtAlgorithm::Rs384,
        JwtAlgorithm::Rs512,
        JwtAlgorithm::Es256,
        JwtAlgorithm::Es384,
        JwtAlgorithm::Ps256,
        JwtAlgorithm::Ps384,
        JwtAlgorithm::Ps512,
        JwtAlgorithm::EdDsa,
    ];

    /// The JOSE name (`RS256`, `EdDSA`).
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Rs384 => "RS384",
            JwtAlgorithm::Rs512 => "RS512",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::Es384 => "ES384",
            JwtAlgorithm::Ps256 => "PS256",
            JwtAlgorithm::Ps384 => "PS384",
            JwtAlgorithm::Ps512 => "PS512",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// One entry of `JWT_ALGORITHM` (case-insensitive), or why it is refused.
    pub fn parse(text: &str) -> Result<JwtAlgorithm, String> {
        if let Some(algorithm) = Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(text))
        {
            return Ok(algorithm);
        }
        let upper = text.to_ascii_uppercase();
        if upper == "NONE" {
            return Err("`none` is refused: it would accept unsigned tokens".to_owned());
        }
        if upper.starts_with("HS") {
            return Err(format!(
                "`{text}` is refused: HMAC keys are shared secrets, so whoever can verify a token could also mint one"
            ));
        }
        let accepted: Vec<_> = Self::ALL.iter().map(|a| a.as_str()).collect();
        Err(format!(
            "unknown algorithm `{text}` (accepted: {})",
            accepted.join(", ")
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Which client a call to a backend goes through (`GATEWAY_UPSTREAM_CLIENT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpstreamClient {
    /// The gateway's own HTTP client (`upstream::http_call`) for streamable HTTP backends
    /// where it applies, rmcp's client for everything else.
    #[default]
    Auto,
    /// rmcp's client for every call.
    Rmcp,
}

/// How many serving threads run when the operator does not say: one per CPU the process may
/// use (cgroup quotas included).
fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Everything the environment configures. `Debug` is safe to log: the one value that may
/// carry a password, `database_url`, is a [`Secret`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Listen host, without brackets (`127.0.0.1`, `::1`, `0.0.0.0`, `localhost`).
    pub host: String,
    pub port: u16,
    /// Without a trailing slash.
    pub public_url: String,
    /// Accepted `Host` headers; entries without a port match any port.
    pub allowed_hosts: Vec<String>,
    /// Accepted `Origin` headers (`scheme://host:port`, `:*` for any port).
    pub allowed_origins: Vec<String>,
    /// Serving threads (see `serving.rs`).
    pub worker_threads: usize,
    /// Which client calls backends.
    pub upstream_client: UpstreamClient,
    pub config_path: PathBuf,
    pub auth_enabled: bool,
    /// Without a trailing slash.
    pub keycloak_url: String,
    pub keycloak_realm: String,
    /// Set when the environment names the issuer; see [`Settings::issuer`].
    pub jwt_issuer: Option<String>,
    pub jwks_url: Option<String>,
    pub jwt_audience: String,
    pub allow_insecure: bool,
    /// Roles of `anonymous` when auth is off.
    pub anonymous_roles: Vec<String>,
    /// Never empty.
    pub jwt_algorithms: Vec<JwtAlgorithm>,
    pub jwt_leeway: Duration,
    /// `sqlite://…` or `postgres(ql)://…`.
    pub database_url: Secret,
    /// `GATEWAY_ENCRYPTION_KEY`: seals users' own upstream keys; `None` when unset.
    pub encryption_key: Option<crate::keys::sealed::SealingKey>,
    pub audit_log_file: PathBuf,
    pub audit_to_stdout: bool,
    /// A tracing filter (`info`, `info,rmcp=warn`).
    pub log_level: String,
    pub log_format: LogFormat,
    /// OTLP trace export: `None` when no endpoint is set (or `OTEL_SDK_DISABLED=true`).
    pub traces: Option<TraceExport>,
}

/// Where traces go; the OTLP exporter reads its endpoint and the other `OTEL_*` variables
/// from the environment itself, so only what the gateway decides is here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceExport {
    pub service_name: String,
}

impl Settings {
    /// Read the process environment.
    pub fn from_env(overrides: SettingsOverrides) -> Result<Settings, ConfigErrors> {
        Settings::from_lookup(|name| std::env::var(name).ok(), overrides)
    }

    /// Read settings through `lookup` (a variable's value, or `None` when unset). An empty
    /// value counts as unset, except for `ANONYMOUS_ROLES` where it means "no roles".
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        overrides: SettingsOverrides,
    ) -> Result<Settings, ConfigErrors> {
        let mut reader = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };

        let (host, port) = match &overrides.listen {
            Some(listen) => split_host_port(listen).unwrap_or_else(|| {
                reader.problem(
                    "--listen",
                    "must be HOST:PORT (e.g. 0.0.0.0:8000 or [::1]:8000)",
                );
                (String::new(), 0)
            }),
            None => (
                reader.host("GATEWAY_HOST"),
                reader.number::<u16>("GATEWAY_PORT", "a port number (0-65535)"),
            ),
        };
        let loopback = is_loopback_host(&host);

        let public_url = match reader.value("GATEWAY_PUBLIC_URL") {
            Some(text) => reader.url("GATEWAY_PUBLIC_URL", &text),
            None => Some(format!("http://localhost:{port}")),
        };
        let public = public_url
            .as_deref()
            .and_then(|url| reqwest::Url::parse(url).ok());
        let allowed_hosts = reader
            .list("GATEWAY_ALLOWED_HOSTS")
            .unwrap_or_else(|| default_hosts(public.as_ref(), &host));
        let allowed_origins = match reader.list("GATEWAY_ALLOWED_ORIGINS") {
            Some(origins) => {
                if origins.iter().any(|o| o != "null" && !o.contains("://")) {
                    reader.problem(
                        "GATEWAY_ALLOWED_ORIGINS",
                        "each entry must be scheme://host[:port] (or null)",
                    );
                }
                origins
            }
            None => default_origins(public.as_ref()),
        };

        let worker_threads = match reader.value("GATEWAY_WORKER_THREADS") {
            None => default_worker_threads(),
            Some(text) => match text.parse::<usize>() {
                Ok(threads) if (1..=MAX_WORKER_THREADS).contains(&threads) => threads,
                _ => {
                    reader.problem(
                        "GATEWAY_WORKER_THREADS",
                        format!("must be a whole number from 1 to {MAX_WORKER_THREADS}"),
                    );
                    1
                }
            },
        };

        let config_path = match overrides.config_path {
            Some(path) => path,
            None => PathBuf::from(reader.text("MCP_SERVERS_CONFIG")),
        };
        let auth_enabled = reader.flag("AUTH_ENABLED");
        let allow_insecure = reader.flag("ALLOW_INSECURE");
        if !auth_enabled && !loopback && !allow_insecure && !host.is_empty() {
            reader.problem(
                "AUTH_ENABLED",
                format!(
                    "false is refused on the non-loopback listen address {host}: anyone who can reach it would \
                     be let in; listen on 127.0.0.1 or set ALLOW_INSECURE=true"
                ),
            );
        }
        let anonymous_roles = match (reader.lookup)("ANONYMOUS_ROLES") {
            Some(text) => split_list(&text),
            None if loopback => vec!["admin".to_owned()],
            None => Vec::new(),
        };

        let keycloak_url = reader.text("KEYCLOAK_URL");
        let keycloak_url = reader
            .url("KEYCLOAK_URL", &keycloak_url)
            .unwrap_or_default();
        let jwt_issuer = reader
            .value("JWT_ISSUER")
            .and_then(|text| reader.url("JWT_ISSUER", &text));
        let jwks_url = reader
            .value("JWKS_URL")
            .and_then(|text| reader.url("JWKS_URL", &text));
        let jwt_algorithms = reader.algorithms();
        let database_url = reader.text("DATABASE_URL");
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| database_url.starts_with(scheme))
        {
            reader.problem(
                "DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://",
            );
        }
        let encryption_key = reader.value("GATEWAY_ENCRYPTION_KEY").and_then(|text| {
            crate::keys::sealed::SealingKey::parse(&text)
                .map_err(|why| reader.problem("GATEWAY_ENCRYPTION_KEY", why))
                .ok()
        });
        let upstream_client = match reader
            .text("GATEWAY_UPSTREAM_CLIENT")
            .to_ascii_lowercase()
            .as_str()
        {
            "auto" => UpstreamClient::Auto,
            "rmcp" => UpstreamClient::Rmcp,
            _ => {
                reader.problem("GATEWAY_UPSTREAM_CLIENT", "must be auto or rmcp");
                UpstreamClient::Auto
            }
        };
        let log_format = match reader.text("LOG_FORMAT").to_ascii_lowercase().as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            _ => {
                reader.problem("LOG_FORMAT", "must be pretty or json");
                LogFormat::Pretty
            }
        };

        let otlp_set = reader.value("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
            || reader.value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
        let sdk_disabled = reader
            .value("OTEL_SDK_DISABLED")
            .is_some_and(|v| parse_bool(&v) == Some(true));
        match reader.text("OTEL_EXPORTER_OTLP_PROTOCOL").as_str() {
            "http/protobuf" | "http/json" => {}
            _ => reader.problem(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "must be http/protobuf or http/json (gRPC is not built in)",
            ),
        }
        let service_name = reader.text("OTEL_SERVICE_NAME");
        let traces = (otlp_set && !sdk_disabled).then_some(TraceExport { service_name });

        let settings = Settings {
            host,
            port,
            public_url: public_url.unwrap_or_default(),
            allowed_hosts,
            allowed_origins,
            worker_threads,
            upstream_client,
            config_path,
            auth_enabled,
            keycloak_url,
            keycloak_realm: reader.text("KEYCLOAK_REALM"),
            jwt_issuer,
            jwks_url,
            jwt_audience: reader.text("JWT_AUDIENCE"),
            allow_insecure,
            anonymous_roles,
            jwt_algorithms,
            jwt_leeway: Duration::from_secs(
                reader.number::<u64>("JWT_LEEWAY_SECONDS", "a whole number of seconds"),
            ),
            database_url: Secret::new(database_url),
            encryption_key,
            audit_log_file: PathBuf::from(reader.text("AUDIT_LOG_FILE")),
            audit_to_stdout: reader.flag("AUDIT_TO_STDOUT"),
            log_level: reader.text("LOG_LEVEL"),
            log_format,
            traces,
        };
        if reader.problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigErrors(reader.problems))
        }
    }

    /// Whether the gateway listens on a loopback address only (`127.0.0.0/8`, `::1`,
    /// `localhost`).
    pub fn is_loopback_listen(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// `host:port` to bind (IPv6 in brackets).
    pub fn listen_addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The expected token issuer: `JWT_ISSUER`, else `{KEYCLOAK_URL}/realms/{KEYCLOAK_REALM}`.
    pub fn issuer(&self) -> String {
        self.jwt_issuer
            .clone()
            .unwrap_or_else(|| format!("{}/realms/{}", self.keycloak_url, self.keycloak_realm))
    }
}

/// Reads variables, records problems.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    fn problem(&mut self, name: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            file: ENVIRONMENT.to_owned(),
            line: None,
            server: None,
            key: name.to_owned(),
            message: message.into(),
        });
    }

    /// The value, trimmed, when set and not empty.
    fn value(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The value, else the table default.
    fn text(&self, name: &str) -> String {
        self.value(name)
            .or_else(|| literal_default(name).map(str::to_owned))
            .unwrap_or_default()
    }

    fn flag(&mut self, name: &str) -> bool {
        match parse_bool(&self.text(name)) {
            Some(flag) => flag,
            None => {
                self.problem(name, "must be true or false (also accepted: 1/0, yes/no)");
                false
            }
        }
    }

    fn number<T: std::str::FromStr + Default>(&mut self, name: &str, expected: &str) -> T {
        self.text(name).parse().unwrap_or_else(|_| {
            self.problem(name, format!("must be {expected}"));
            T::default()
        })
    }

    fn host(&mut self, name: &str) -> String {
        let text = self.text(name);
        let host = text.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            self.problem(name, "must be a host name or IP address");
        }
        host.to_owned()
    }

    /// An `http(s)://` URL without a trailing slash; `None` (recorded) otherwise.
    fn url(&mut self, name: &str, text: &str) -> Option<String> {
        match reqwest::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(text.trim_end_matches('/').to_owned())
            }
            _ => {
                self.problem(name, "must be an http:// or https:// URL");
                None
            }
        }
    }

    /// A comma list, when set and not empty.
    fn list(&self, name: &str) -> Option<Vec<String>> {
        self.value(name)
            .map(|text| split_list(&text))
            .filter(|items| !items.is_empty())
    }

    fn algorithms(&mut self) -> Vec<JwtAlgorithm> {
        let mut algorithms = Vec::new();
        for entry in split_list(&self.text("JWT_ALGORITHM")) {
            match JwtAlgorithm::parse(&entry) {
                Ok(algorithm) if !algorithms.contains(&algorithm) => algorithms.push(algorithm),
                Ok(_) => {}
                Err(why) => self.problem("JWT_ALGORITHM", why),
            }
        }
        if algorithms.is_empty() && !self.problems.iter().any(|p| p.key == "JWT_ALGORITHM") {
            self.problem("JWT_ALGORITHM", "must name at least one algorithm");
        }
        algorithms
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `host:port` or `[v6]:port`.
fn split_host_port(text: &str) -> Option<(String, u16)> {
    let text = text.trim();
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':')?)
        }
        None => {
            let (host, port) = text.rsplit_once(':')?;
            // A bare IPv6 address is ambiguous without brackets.
            if host.contains(':') {
                return None;
            }
            (host, port)
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?))
}

/// `localhost`, or an IP address on the loopback interface (`127.0.0.0/8`, `::1`, and their
/// IPv4-mapped forms); IPv6 without brackets.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

fn is_unspecified_host(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}

/// Host of the public URL, the loopback names, and the listen host (unless it is the
/// "every interface" address, which no client should send as `Host`).
fn default_hosts(public: Option<&reqwest::Url>, listen_host: &str) -> Vec<String> {
    let public_host = public.and_then(|url| url.host_str()).map(|host| {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    let mut hosts = Vec::new();
    let candidates = public_host
        .into_iter()
        .chain(["localhost", "127.0.0.1", "::1"].map(str::to_owned))
        .chain(
            (!listen_host.is_empty() && !is_unspecified_host(listen_host))
                .then(|| listen_host.to_owned()),
        );
    for host in candidates {
        let host = host.to_ascii_lowercase();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// Origin of the public URL (port always written, so that it matches exactly) and the
/// loopback origins on any port.
fn default_origins(public: Option<&reqwest::Url>) -> Vec<String> {
    let public_origin = public.and_then(|url| {
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        Some(format!("{}://{}:{}", url.scheme(), host, port))
    });
    let mut origins: Vec<String> = public_origin.into_iter().collect();
    for origin in ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"] {
        if !origins.iter().any(|o| o == origin) {
            origins.push(origin.to_owned());
        }
    }
    origins
}

#[cfg(test)]
mod tests;
