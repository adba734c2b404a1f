//! Credential references (`env://VAR`, `file:///path`) and the [`Secret`] they resolve to.
//!
//! The configuration only ever holds references; the secret itself is read when a backend
//! connects, so that a missing variable makes one server unhealthy instead of stopping the
//! start (SPEC §13), and so that secrets never sit in a config snapshot that may be shown.

use std::fmt;
use std::path::{Path, PathBuf};

/// A secret value. `Debug` and `Display` print `[REDACTED]`; only [`Secret::expose`] gives
/// the value, so every place that uses it is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: pass it on to where it is used, never to a log or a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Where a credential is read from. Printing a reference is safe: it names the place, not
/// the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum CredentialRef {
    /// `env://VAR`: the environment variable `VAR` of the gateway process.
    Env(String),
    /// `file:///abs/path`: the first line of the file, trimmed.
    File(PathBuf),
}

/// Why a reference could not be read. Messages name the reference, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("credential {0} not set")]
    NotSet(CredentialRef),
    #[error("credential {0} is empty")]
    Empty(CredentialRef),
    #[error("credential {reference} cannot be read: {reason}")]
    Unreadable {
        reference: CredentialRef,
        reason: String,
    },
}

/// Why a text is not a valid reference. The text itself is never repeated: a user who wrote
/// the secret where the reference belongs must not see it echoed into logs.
pub const CREDENTIAL_REF_SYNTAX: &str = "must be env://VARIABLE or file:///absolute/path";

const ENV_SCHEME: &str = "env://";
const FILE_SCHEME: &str = "file://";

impl CredentialRef {
    /// Parse `env://VAR` (VAR = `[A-Za-z_][A-Za-z0-9_]*`) or `file:///absolute/path`.
    pub fn parse(text: &str) -> Result<CredentialRef, &'static str> {
        if let Some(name) = text.strip_prefix(ENV_SCHEME) {
            return if is_env_var_name(name) {
                Ok(CredentialRef::Env(name.to_owned()))
            } else {
                Err("env:// must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*)")
            };
        }
        if let Some(path) = text.strip_prefix(FILE_SCHEME) {
            // `file:///etc/x` leaves `/etc/x`; `file://etc/x` would name a host, not a path.
            return if path.starts_with('/') && path.len() > 1 && !path.contains('\0') {
                Ok(CredentialRef::File(PathBuf::from(path)))
            } else {
                Err("file:// must be followed by an absolute path (file:///path/to/secret)")
            };
        }
        Err(CREDENTIAL_REF_SYNTAX)
    }

    /// Whether a text is meant as a reference (rather than a literal value), judged by its
    /// scheme only, so that a malformed reference is reported instead of used as a literal.
    pub fn looks_like_ref(text: &str) -> bool {
        text.starts_with(ENV_SCHEME) || text.starts_with(FILE_SCHEME)
    }

    /// Read the secret now: the environment variable, or the first line of the file
    /// (trimmed). An empty value is an error, so a blank credential is never sent.
    pub fn resolve(&self) -> Result<Secret, CredentialError> {
        self.resolve_with(|name| std::env::var(name).ok())
    }

    /// [`CredentialRef::resolve`] with the environment given as a function (for tests and
    /// for callers that hold their own environment).
    pub fn resolve_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Secret, CredentialError> {
        let value = match self {
            CredentialRef::Env(name) => {
                env(name).ok_or_else(|| CredentialError::NotSet(self.clone()))?
            }
            CredentialRef::File(path) => {
                read_first_line(path).map_err(|reason| CredentialError::Unreadable {
                    reference: self.clone(),
                    reason,
                })?
            }
        };
        if value.is_empty() {
            return Err(CredentialError::Empty(self.clone()));
        }
        Ok(Secret(value))
    }
}

/// The first line of a file, trimmed. The error says why (not found, permission …) and
/// never quotes the file.
fn read_first_line(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => "not valid UTF-8".to_owned(),
        kind => kind.to_string(),
    })?;
    Ok(text.lines().next().unwrap_or("").trim().to_owned())
}

/// `[A-Za-z_][A-Za-z0-9_]*`: the names a shell can export.
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialRef::Env(name) => write!(f, "{ENV_SCHEME}{name}"),
            CredentialRef::File(path) => write!(f, "{FILE_SCHEME}{}", path.display()),
        }
    }
}

impl fmt::Debug for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "[REDACTED]");
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([REDACTED])");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn parses_env_refs() {
        assert_eq!(
            CredentialRef::parse("env://ELK_API_TOKEN"),
            Ok(CredentialRef::Env("ELK_API_TOKEN".into()))
        );
        assert_eq!(
            CredentialRef::parse("env://_x1"),
            Ok(CredentialRef::Env("_x1".into()))
        );
        for bad in [
            "env://",
            "env://1ABC",
            "env://A-B",
            "env://A B",
            "env://A=B",
        ] {
            assert!(CredentialRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_file_refs() {
        assert_eq!(
            CredentialRef::parse("file:///run/secrets/token"),
            Ok(CredentialRef::File("/run/secrets/token".into()))
        );
        for bad in [
            "file://",
            "file:///",
            "file://relative/path",
            "file://host/x",
        ] {
            assert!(CredentialRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_other_text_without_echoing_it() {
        for bad in ["sk-live-abcdef", "", "ENV://X", "http://x", "env:/X"] {
            let message = CredentialRef::parse(bad).unwrap_err();
            assert!(bad.is_empty() || !message.contains(bad), "{message}");
        }
        assert_eq!(CredentialRef::parse("token"), Err(CREDENTIAL_REF_SYNTAX));
    }

    #[test]
    fn looks_like_ref_is_by_scheme_only() {
        assert!(CredentialRef::looks_like_ref("env://"));
        assert!(CredentialRef::looks_like_ref("file://x"));
        assert!(!CredentialRef::looks_like_ref("plain value"));
        assert!(!CredentialRef::looks_like_ref("ENV://X"));
    }

    #[test]
    fn displays_as_written() {
        for text in ["env://A_B", "file:///etc/secret"] {
            let parsed = CredentialRef::parse(text).unwrap();
            assert_eq!(parsed.to_string(), text);
            assert_eq!(format!("{parsed:?}"), text);
        }
    }

    #[test]
    fn env_ref_resolves_from_the_environment() {
        let reference = CredentialRef::Env("TOKEN".into());
        let secret = reference
            .resolve_with(|name| (name == "TOKEN").then(|| "abc".to_owned()))
            .unwrap();
        assert_eq!(secret.expose(), "abc");
    }

    #[test]
    fn missing_env_var_has_the_exact_text() {
        let error = CredentialRef::Env("ELK_API_TOKEN".into())
            .resolve_with(no_env)
            .unwrap_err();
        assert_eq!(error.to_string(), "credential env://ELK_API_TOKEN not set");
    }

    #[test]
    fn real_environment_is_used_by_resolve() {
        // A name no environment sets: the exact "not set" text comes back.
        let error = CredentialRef::Env("MCPGW_TEST_SURELY_UNSET_VARIABLE_4821".into())
            .resolve()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "credential env://MCPGW_TEST_SURELY_UNSET_VARIABLE_4821 not set"
        );
    }

    #[test]
    fn empty_env_var_is_an_error() {
        let error = CredentialRef::Env("X".into())
            .resolve_with(|_| Some(String::new()))
            .unwrap_err();
        assert_eq!(error.to_string(), "credential env://X is empty");
    }

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcpgw-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn file_ref_reads_the_first_line_trimmed() {
        let path = temp_file("first-line", "  s3cret-value \nsecond line\n");
        let secret = CredentialRef::File(path).resolve_with(no_env).unwrap();
        assert_eq!(secret.expose(), "s3cret-value");
    }

    #[test]
    fn file_ref_with_crlf_and_no_newline() {
        let path = temp_file("crlf", "value\r\n");
        assert_eq!(
            CredentialRef::File(path)
                .resolve_with(no_env)
                .unwrap()
                .expose(),
            "value"
        );
        let path = temp_file("bare", "bare");
        assert_eq!(
            CredentialRef::File(path)
                .resolve_with(no_env)
                .unwrap()
                .expose(),
            "bare"
        );
    }

    #[test]
    fn empty_file_is_an_error_naming_the_path() {
        let path = temp_file("empty", "\n\nsecret-on-line-3\n");
        let error = CredentialRef::File(path.clone())
            .resolve_with(no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!("credential file://{} is empty", path.display())
        );
        assert!(!error.contains("secret-on-line-3"));
    }

    #[test]
    fn missing_file_names_the_path_and_the_reason() {
        let reference = CredentialRef::File("/nonexistent/mcpgw/secret".into());
        let error = reference.resolve_with(no_env).unwrap_err().to_string();
        assert_eq!(
            error,
            "credential file:///nonexistent/mcpgw/secret cannot be read: entity not found"
        );
    }

    #[test]
    fn env_var_names() {
        assert!(is_env_var_name("PATH"));
        assert!(is_env_var_name("_"));
        assert!(is_env_var_name("a1_B2"));
        assert!(!is_env_var_name(""));
        assert!(!is_env_var_name("1A"));
        assert!(!is_env_var_name("A-B"));
        assert!(!is_env_var_name("É"));
    }
}
