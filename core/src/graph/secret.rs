//! Secrets: where they come from and how they are kept out of logs.
//!
//! A secret is never written in configuration text: configuration names an environment
//! variable or a file, and the value is read when a token is needed. The value lives in a
//! [`Secret`], whose `Debug` and `Display` print `***`.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A secret string (client secret, access token, certificate text). `Debug` and `Display`
/// print `***`; the value is reachable only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call only where it is sent to the identity platform or Graph.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret is read from, named in configuration as `{ env = "NAME" }` or
/// `{ file = "/path" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretSource {
    /// An environment variable of this name.
    Env(String),
    /// A file at this path (e.g. a mounted Key Vault secret or a Kubernetes secret volume).
    File(PathBuf),
}

/// A secret could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The environment variable is not set or is empty.
    #[error(
        "environment variable `{0}` is not set or empty; set it to the {1} or point the configuration at another source"
    )]
    EnvMissing(String, &'static str),
    /// The environment variable is not valid UTF-8.
    #[error("environment variable `{0}` is not valid UTF-8")]
    EnvNotUnicode(String),
    /// The file could not be read.
    #[error(
        "cannot read the {what} from file `{path}`: {reason}; check the path and its permissions"
    )]
    File {
        /// What the secret is for.
        what: &'static str,
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

impl SecretSource {
    /// Reads the secret as text, trimming a trailing newline. `what` names the secret in
    /// errors ("client secret"); the value never appears in them.
    pub fn read_text(&self, what: &'static str) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    Ok(Secret(v.trim_end_matches(['\r', '\n']).to_owned()))
                }
                Ok(_) | Err(std::env::VarError::NotPresent) => {
                    Err(SecretError::EnvMissing(name.clone(), what))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(SecretError::EnvNotUnicode(name.clone()))
                }
            },
            SecretSource::File(_) => {
                let bytes = self.read_bytes(what)?;
                let text = String::from_utf8(bytes).map_err(|_| SecretError::File {
                    what,
                    path: self.describe(),
                    reason: "the file is not UTF-8 text".to_owned(),
                })?;
                Ok(Secret(text.trim_end_matches(['\r', '\n']).to_owned()))
            }
        }
    }

    /// Reads the secret as bytes (for PKCS#12 files). An environment variable holds text, so
    /// its value is returned as UTF-8 bytes; the caller decides how to decode it.
    pub fn read_bytes(&self, what: &'static str) -> Result<Vec<u8>, SecretError> {
        match self {
            SecretSource::Env(_) => Ok(self.read_text(what)?.0.into_bytes()),
            SecretSource::File(path) => std::fs::read(path).map_err(|e| SecretError::File {
                what,
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// A description of the source for messages (`environment variable X`, `file Y`).
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env(name) => format!("environment variable `{name}`"),
            SecretSource::File(path) => format!("file `{}`", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_and_display_hide_the_value() {
        let s = Secret::new("p@ssw0rd-value");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "p@ssw0rd-value");
    }

    #[test]
    fn file_source_is_read_and_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.txt");
        std::fs::write(&path, "abc~123\n").expect("write");
        let src = SecretSource::File(path);
        assert_eq!(
            src.read_text("client secret").expect("read").expose(),
            "abc~123"
        );
    }

    #[test]
    fn missing_sources_name_the_source_not_a_value() {
        let src = SecretSource::Env("TENANTSYNC_TEST_SURELY_UNSET_VARIABLE".into());
        let err = src.read_text("client secret").expect_err("unset");
        assert!(
            err.to_string()
                .contains("TENANTSYNC_TEST_SURELY_UNSET_VARIABLE")
        );
        let src = SecretSource::File("/nonexistent/tenantsync/secret".into());
        let err = src.read_text("client secret").expect_err("missing");
        assert!(
            err.to_string().contains("/nonexistent/tenantsync/secret"),
            "{err}"
        );
    }

    #[test]
    fn env_source_is_read() {
        // PATH is set for every test process; tests never set variables themselves.
        let value = SecretSource::Env("PATH".into())
            .read_text("test")
            .expect("PATH");
        assert!(!value.expose().is_empty());
    }

    #[test]
    fn toml_form_names_env_or_file() {
        #[derive(Deserialize)]
        struct C {
            secret: SecretSource,
        }
        let c: C = toml::from_str("secret = { env = \"TS_SECRET\" }").expect("parse");
        assert_eq!(c.secret, SecretSource::Env("TS_SECRET".into()));
        assert!(toml::from_str::<C>("secret = { value = \"x\" }").is_err());
    }
}
