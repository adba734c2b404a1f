//! The OIDC issuer from npm: `oauth2-mock-server` given Keycloak's paths, realm, users and
//! clients by `testdeps/keycloak-issuer.mjs`, run as a child process on 127.0.0.1 and killed
//! on drop. Password grant and authorization code with PKCE for `mcp-cli`, refresh tokens,
//! revocation, JWKS, discovery with a registration endpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::workspace_root;

/// How the issuer behaves; [`Default`] is a well-configured realm.
#[derive(Debug, Clone)]
pub struct RealmOptions {
    pub access_ttl_seconds: u32,
    pub refresh_ttl_seconds: u32,
    /// The audience mapper: `aud` names `mcp-gateway`.
    pub audience: bool,
    /// Dynamic client registration is offered.
    pub registration: bool,
    /// The authorization endpoint shows a login form (a browser signs in), instead of
    /// approving at once for `login_hint` (default testuser).
    pub login_form: bool,
}

impl Default for RealmOptions {
    fn default() -> Self {
        RealmOptions {
            access_ttl_seconds: 300,
            refresh_ttl_seconds: 1800,
            audience: true,
            registration: true,
            login_form: false,
        }
    }
}

pub struct KeycloakLike {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    /// `<url>/realms/mcp-gateway`
    pub issuer: String,
}

impl KeycloakLike {
    pub fn start() -> KeycloakLike {
        Self::start_with(RealmOptions::default())
    }

    pub fn start_with(options: RealmOptions) -> KeycloakLike {
        let script = workspace_root().join("testdeps/keycloak-issuer.mjs");
        assert!(
            workspace_root()
                .join("testdeps/node_modules/oauth2-mock-server")
                .exists(),
            "oauth2-mock-server is missing: run `make test-deps` (make test does)"
        );
        let mut command = Command::new("node");
        command
            .arg(script)
            .args(["--access-ttl", &options.access_ttl_seconds.to_string()])
            .args(["--refresh-ttl", &options.refresh_ttl_seconds.to_string()]);
        if !options.audience {
            command.arg("--no-audience");
        }
        if !options.registration {
            command.arg("--no-registration");
        }
        if options.login_form {
            command.arg("--login-form");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node keycloak-issuer.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("issuer prints where it listens");
        let started: Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("issuer's first line {first:?}: {e}"));
        KeycloakLike {
            child,
            url: started["url"].as_str().expect("url").to_owned(),
            issuer: started["issuer"].as_str().expect("issuer").to_owned(),
        }
    }

    /// What a gateway needs to trust this issuer (found by OIDC discovery, as with Keycloak).
    pub fn gateway_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTH_ENABLED", "true".to_owned()),
            ("KEYCLOAK_URL", self.url.clone()),
            ("KEYCLOAK_REALM", "mcp-gateway".to_owned()),
        ]
    }

    /// The grant types served so far, oldest first.
    pub async fn grants(&self) -> Vec<String> {
        reqwest::get(format!("{}/test/grants", self.url))
            .await
            .expect("issuer answers")
            .json()
            .await
            .expect("grants")
    }

    /// An access token for `username` by the password grant of `mcp-cli`.
    pub async fn password_token(&self, username: &str, password: &str) -> String {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/protocol/openid-connect/token", self.issuer))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "mcp-cli"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .expect("token endpoint")
            .json()
            .await
            .expect("token JSON");
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {answer}"))
            .to_owned()
    }

    /// Wait until the gateway at `gateway_base` has this issuer's keys: it loads them in the
    /// background, answering 503 until then. The probe is a JWT with a `kid` no issuer has
    /// (401 once keys are loaded), so that it costs the issuer no grant.
    pub async fn wait_trusted_by(&self, gateway_base: &str) {
        use base64::Engine as _;
        let part = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let probe = format!(
            "{}.{}.{}",
            part(r#"{"alg":"RS256","typ":"JWT","kid":"readiness-probe"}"#),
            part(r#"{"sub":"readiness-probe"}"#),
            part("not a signature")
        );
        let deadline = std::time::Instant::now() + super::PATIENCE;
        loop {
            let status = reqwest::Client::new()
                .get(format!("{gateway_base}/whoami"))
                .bearer_auth(&probe)
                .send()
                .await
                .expect("whoami")
                .status();
            if status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the gateway never loaded the issuer's keys"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Stop serving (the port stays unused: "the issuer is down").
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KeycloakLike {
    fn drop(&mut self) {
        self.stop();
    }
}
