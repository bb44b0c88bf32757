//! Secrets in configuration: given inline, or read from an environment variable or a file.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// A secret value (client secret, API token, database password). Its `Debug` and `Display`
/// print nothing of the value, so a secret cannot reach a log line by accident.
///
/// In TOML it is a plain string, `{ env = "VAR" }` or `{ file = "/run/secrets/x" }`; the file
/// form trims one trailing newline, as secret files written by `echo` carry one.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SecretSource {
    Inline(String),
    Reference(SecretReference),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretReference {
    env: Option<String>,
    file: Option<String>,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = SecretSource::deserialize(deserializer)
            .map_err(|_| de::Error::custom("expected a string, { env = \"VAR\" } or { file = \"PATH\" }"))?;
        match source {
            SecretSource::Inline(value) => Ok(Secret(value)),
            SecretSource::Reference(SecretReference {
                env: Some(var),
                file: None,
            }) => std::env::var(&var)
                .map(Secret)
                .map_err(|_| de::Error::custom(format!("environment variable {var} is not set"))),
            SecretSource::Reference(SecretReference {
                env: None,
                file: Some(path),
            }) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| de::Error::custom(format!("cannot read secret file {path}: {e}")))?;
                let value = text.strip_suffix('\n').unwrap_or(&text);
                Ok(Secret(value.strip_suffix('\r').unwrap_or(value).to_owned()))
            }
            SecretSource::Reference(_) => Err(de::Error::custom("give exactly one of `env` or `file`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        token: Secret,
    }

    #[test]
    fn debug_never_shows_the_value() {
        let holder: Holder = serde_json::from_str(r#"{"token": "hunter2"}"#).unwrap();
        assert_eq!(holder.token.expose(), "hunter2");
        assert!(!format!("{holder:?}").contains("hunter2"));
        assert!(!holder.token.to_string().contains("hunter2"));
    }

    #[test]
    fn reads_files_and_reports_missing_env() {
        let dir = std::env::temp_dir().join(format!("idsync-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let json = format!(r#"{{"token": {{"file": "{}"}}}}"#, path.display());
        let holder: Holder = serde_json::from_str(&json).unwrap();
        assert_eq!(holder.token.expose(), "s3cret");

        let err = serde_json::from_str::<Holder>(r#"{"token": {"env": "IDSYNC_TEST_SURELY_UNSET_VAR"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable IDSYNC_TEST_SURELY_UNSET_VAR is not set"),
            "{err}"
        );
        let err = serde_json::from_str::<Holder>(r#"{"token": {"env": "A", "file": "B"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly one"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
