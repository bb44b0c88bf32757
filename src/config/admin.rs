//! `[admin]`: the admin API's address and token, and the keys that encrypt the connector
//! secrets stored in the database.

use idsync_source::Secret;
use serde::Deserialize;

use crate::secrets::{Keyring, SecretsError};

/// `[admin]`. A process without `listen` serves no admin API but still reads `secrets_key`
/// (a daemon runs the stored connectors, `idsync secrets rotate-key` re-encrypts them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address and port of the admin API, e.g. `127.0.0.1:8081`; unset serves none.
    pub listen: Option<std::net::SocketAddr>,
    /// The bearer token the admin API requires; required when `listen` is set.
    pub token: Option<Secret>,
    /// 32 random bytes, base64 (`openssl rand -base64 32`): the AES-256-GCM key under which
    /// stored connector secrets are encrypted. Without it, connectors carrying inline secrets
    /// cannot be stored.
    pub secrets_key: Option<Secret>,
    /// Keys used before the current `secrets_key`: they only decrypt, so secrets sealed before
    /// a rotation stay readable until `idsync secrets rotate-key` re-encrypts them.
    #[serde(default)]
    pub previous_secrets_keys: Vec<Secret>,
}

impl AdminConfig {
    /// The keyring of `secrets_key` and `previous_secrets_keys`.
    pub fn keyring(&self) -> Result<Keyring, SecretsError> {
        Keyring::from_secrets(self.secrets_key.as_ref(), &self.previous_secrets_keys)
    }

    /// The section's own checks, as `(key, message)`.
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        if self.listen.is_some() && self.token.is_none() {
            return Err(("token".into(), "required when `listen` is set".into()));
        }
        if let Some(key) = &self.secrets_key {
            crate::secrets::SecretsKey::parse(key.expose())
                .map_err(|e| ("secrets_key".to_owned(), e.to_string()))?;
        }
        for (i, key) in self.previous_secrets_keys.iter().enumerate() {
            crate::secrets::SecretsKey::parse(key.expose())
                .map_err(|e| (format!("previous_secrets_keys[{i}]"), e.to_string()))?;
        }
        Ok(())
    }
}
