//! The gateway's REST API as `mcpgw` reaches it: a request, its JSON answer, and every way it
//! can fail as a [`Failure`] that knows its exit code and says, in one line, what to do next.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::credentials::Credentials;
use crate::exit;

/// How long connecting may take before the gateway counts as unreachable. Answers take as long
/// as they take: the gateway holds every backend call to its deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a command that talks to the gateway did not get its answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No HTTP answer at all.
    Unreachable { url: String },
    /// 401: no token, or one the gateway refused.
    Unauthenticated { logged_in: bool },
    /// 403: the caller's roles do not allow it; the gateway's message.
    Forbidden(String),
    /// Any other error answer: its status, `error.code` and message.
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that is not the JSON the command expects.
    BadAnswer(String),
    /// The kept login's tokens have both expired (or the issuer ended the session).
    LoginExpired,
    /// No usable token, and the way to get one: the whole line, after `mcpgw: `.
    Auth(String),
    /// The command cannot run as given: the whole line, after `mcpgw: `.
    Usage(String),
}

impl Failure {
    /// The exit code of SPEC §10.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Unreachable { .. } => exit::UNREACHABLE,
            Failure::Unauthenticated { .. } | Failure::Forbidden(_) => exit::AUTH,
            Failure::LoginExpired | Failure::Auth(_) => exit::AUTH,
            Failure::Usage(_) => exit::USAGE,
            Failure::Refused { .. } | Failure::BadAnswer(_) => exit::FAILURE,
        }
    }

    /// One line for stderr: what went wrong and what to do next.
    pub fn line(&self) -> String {
        match self {
            Failure::Unreachable { url } => format!(
                "mcpgw: cannot reach the gateway at {url}: is it running? (set --url or MCP_GATEWAY_URL)"
            ),
            Failure::Unauthenticated { logged_in: false } => {
                "mcpgw: the gateway wants a token: run `mcpgw login`, or pass --token (MCP_GATEWAY_TOKEN)".to_owned()
            }
            Failure::Unauthenticated { logged_in: true } => {
                "mcpgw: the gateway refused the token (expired or not for this gateway): run `mcpgw login`".to_owned()
            }
            Failure::Forbidden(message) => {
                format!("mcpgw: {message} — ask an administrator for a role that allows it")
            }
            Failure::Refused {
                status, message, ..
            } => format!("mcpgw: {message} (HTTP {status})"),
            Failure::BadAnswer(what) => format!("mcpgw: unexpected answer from the gateway: {what}"),
            Failure::LoginExpired => "mcpgw: your login has expired: run `mcpgw login`".to_owned(),
            Failure::Auth(line) | Failure::Usage(line) => format!("mcpgw: {line}"),
        }
    }
}

/// A client of one gateway.
pub struct Gateway {
    http: reqwest::Client,
    /// Without a trailing slash.
    base: String,
    credentials: Credentials,
    runtime: tokio::runtime::Runtime,
}

impl Gateway {
    pub fn new(url: &str, credentials: Credentials) -> Result<Gateway, Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::BadAnswer(format!("cannot start: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("mcpgw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::BadAnswer(format!("cannot start: {e}")))?;
        Ok(Gateway {
            http,
            base: url.trim_end_matches('/').to_owned(),
            credentials,
            runtime,
        })
    }

    /// The gateway's URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// From now on, send these (after `mcpgw login`).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = credentials;
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Run `future` on this client's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// `GET path` (with its query), as JSON.
    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(Method::GET, path, None)
    }

    /// `POST path` with a JSON body, as JSON.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(Method::POST, path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(Method::PUT, path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value, Failure> {
        self.send(Method::DELETE, path, None)
    }

    fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        self.runtime.block_on(async {
            let unreachable = || Failure::Unreachable {
                url: self.base.clone(),
            };
            let mut renewed = false;
            loop {
                // CLI calls are audited as such (SPEC §12).
                let mut request = self
                    .http
                    .request(method.clone(), format!("{}{path}", self.base))
                    .header("x-client", "mcpgw");
                if let Some(token) = self.credentials.bearer(&self.http).await? {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = body {
                    request = request.json(body);
                }
                let response = request.send().await.map_err(|_| unreachable())?;
                let status = response.status().as_u16();
                // A stored login the gateway refuses gets one fresh token and one more try.
                if status == 401 && !renewed && self.credentials.renew(&self.http).await? {
                    renewed = true;
                    continue;
                }
                let body = response.bytes().await.map_err(|_| unreachable())?;
                return self.answer(status, &body, path);
            }
        })
    }

    fn answer(&self, status: u16, body: &[u8], path: &str) -> Result<Value, Failure> {
        let json = serde_json::from_slice::<Value>(body);
        if (200..300).contains(&status) {
            return json.map_err(|_| Failure::BadAnswer(format!("{path} did not answer JSON")));
        }
        let error = json.unwrap_or(Value::Null);
        let error = &error["error"];
        let message = error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{path} answered HTTP {status}"));
        Err(match status {
            401 => Failure::Unauthenticated {
                logged_in: self.credentials.is_some(),
            },
            403 => Failure::Forbidden(message),
            _ => Failure::Refused {
                status,
                code: error["code"].as_str().unwrap_or_default().to_owned(),
                message,
            },
        })
    }
}

/// Text percent-encoded for a path segment or a query value (names come from the user).
pub fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte));
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_have_their_exit_codes_and_say_what_to_do() {
        let cases = [
            (
                Failure::Unreachable {
                    url: "http://gw:1".into(),
                },
                4,
                "is it running?",
            ),
            (
                Failure::Unauthenticated { logged_in: false },
                3,
                "run `mcpgw login`",
            ),
            (
                Failure::Unauthenticated { logged_in: true },
                3,
                "run `mcpgw login`",
            ),
            (
                Failure::Forbidden("access denied".into()),
                3,
                "ask an administrator",
            ),
            (
                Failure::Refused {
                    status: 404,
                    code: "not_found".into(),
                    message: "unknown server: x".into(),
                },
                1,
                "unknown server: x (HTTP 404)",
            ),
            (Failure::BadAnswer("x".into()), 1, "unexpected answer"),
            (Failure::LoginExpired, 3, "run `mcpgw login`"),
            (Failure::Auth("not logged in".into()), 3, "not logged in"),
            (Failure::Usage("no terminal".into()), 2, "no terminal"),
        ];
        for (failure, code, text) in cases {
            assert_eq!(failure.exit_code(), code, "{failure:?}");
            let line = failure.line();
            assert!(line.starts_with("mcpgw: ") && line.contains(text), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn user_text_is_percent_encoded() {
        assert_eq!(encode("prod-elk-1"), "prod-elk-1");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
