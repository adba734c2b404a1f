//! Where `mcpgw login` keeps its tokens: `credentials.json` in the user's config directory
//! (`~/.config/mcpgw/` on Linux and macOS, `$XDG_CONFIG_HOME/mcpgw/` when that is set), one
//! login per gateway URL, so that one user can be logged in to several gateways.
//!
//! The file holds bearer credentials, so it is only ever written whole, mode 0600, through a
//! temporary file in the same directory and a rename: a reader never sees half a file, and no
//! moment exists when it is readable by others. The directory is created mode 0700.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use etcetera::AppStrategy;
use serde::{Deserialize, Serialize};

const FILE: &str = "credentials.json";

/// One login: the tokens and what is needed to refresh or revoke them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub issuer: String,
    pub client_id: String,
    pub token_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Who logged in, as the gateway named them after login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Unix seconds; unknown when the issuer does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<i64>,
}

/// Never shows a token.
impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("issuer", &self.issuer)
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    /// By gateway URL (without a trailing slash).
    #[serde(default)]
    logins: BTreeMap<String, Login>,
}

/// The credentials file of this user.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The user's config directory; `None` when the home directory is unknown.
    pub fn of_user() -> Option<Store> {
        let strategy = etcetera::choose_app_strategy(etcetera::AppStrategyArgs {
            top_level_domain: String::new(),
            author: String::new(),
            app_name: "mcpgw".to_owned(),
        })
        .ok()?;
        Some(Store::at(strategy.config_dir()))
    }

    pub fn at(dir: PathBuf) -> Store {
        Store { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// The login for `gateway`, if any. A file that cannot be read counts as no login: the
    /// cure is the same (`mcpgw login` writes a new one).
    pub fn load(&self, gateway: &str) -> Option<Login> {
        self.read().logins.remove(key(gateway))
    }

    /// Keep `login` for `gateway`, replacing the one before.
    pub fn save(&self, gateway: &str, login: Login) -> std::io::Result<()> {
        let mut contents = self.read();
        contents.logins.insert(key(gateway).to_owned(), login);
        self.write(&contents)
    }

    /// Forget the login for `gateway`; the one it was, if any.
    pub fn remove(&self, gateway: &str) -> std::io::Result<Option<Login>> {
        let mut contents = self.read();
        let removed = contents.logins.remove(key(gateway));
        if removed.is_some() {
            self.write(&contents)?;
        }
        Ok(removed)
    }

    fn read(&self) -> Contents {
        std::fs::read(self.path())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn write(&self, contents: &Contents) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let temporary = self.dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = private_file(&temporary)?;
            file.write_all(&serde_json::to_vec_pretty(contents).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
            std::fs::rename(&temporary, self.path())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }
}

/// Logins are per gateway; `http://gw/` and `http://gw` are one.
fn key(gateway: &str) -> &str {
    gateway.trim_end_matches('/')
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(token: &str) -> Login {
        Login {
            issuer: "http://127.0.0.1:8080/realms/mcp-gateway".into(),
            client_id: "mcp-cli".into(),
            token_endpoint: "http://127.0.0.1:8080/realms/mcp-gateway/token".into(),
            revocation_endpoint: None,
            user: Some("testuser".into()),
            access_token: token.into(),
            expires_at: 100,
            refresh_token: Some("refresh".into()),
            refresh_expires_at: Some(200),
        }
    }

    #[test]
    fn logins_are_kept_per_gateway_and_forgotten_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("mcpgw"));
        assert_eq!(store.load("http://a:8000"), None);
        store.save("http://a:8000/", login("a")).unwrap();
        store.save("http://b:8000", login("b")).unwrap();
        assert_eq!(store.load("http://a:8000").unwrap().access_token, "a");
        assert_eq!(store.load("http://b:8000/").unwrap().access_token, "b");
        assert!(store.remove("http://a:8000").unwrap().is_some());
        assert!(store.remove("http://a:8000").unwrap().is_none());
        assert_eq!(store.load("http://a:8000"), None);
        assert_eq!(store.load("http://b:8000").unwrap().access_token, "b");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private_and_written_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("nested/mcpgw"));
        store.save("http://a", login("a")).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.path()), 0o600);
        assert_eq!(mode(&dir.path().join("nested/mcpgw")), 0o700);
        // Only the file itself: no temporary left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("nested/mcpgw"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE]);
    }

    #[test]
    fn an_unreadable_file_is_no_login_and_is_replaced_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_owned());
        std::fs::write(store.path(), "{not json").unwrap();
        assert_eq!(store.load("http://a"), None);
        store.save("http://a", login("a")).unwrap();
        assert_eq!(store.load("http://a").unwrap().access_token, "a");
    }

    #[test]
    fn debug_output_shows_no_token() {
        let shown = format!("{:?}", login("secret-access"));
        assert!(
            !shown.contains("secret-access") && !shown.contains("refresh\""),
            "{shown}"
        );
    }
}
