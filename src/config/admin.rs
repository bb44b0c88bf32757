//! `[admin]`: the admin API's address and token, and the keys that encrypt the connector
//! secrets stored in the database.

use idsync_source::Secret;
use serde::Deserialize;

use crate::secrets::{Keyring, SecretsError};

/// `[admin]`. A process without `listen` serves no admin API but still reads `secrets_key`
/// (a daemon runs the stored connectors, `idsync secrets rotate-key` re-encrypts them).
#[derive(Debug, Clone, Deserialize)]
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
    /// Admin requests with a larger body get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Admin connections served at once; more wait in the kernel's accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a client has to send a complete request header.
    #[serde(default = "super::default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// Seconds without a byte moving on a connection before it is closed.
    #[serde(default = "super::default_scim_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Seconds a request body may take to arrive after the header; slower gets 408.
    #[serde(default = "super::default_scim_body_timeout_secs")]
    pub body_timeout_secs: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: None,
            token: None,
            secrets_key: None,
            previous_secrets_keys: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
            max_connections: default_max_connections(),
            header_timeout_secs: super::default_header_timeout_secs(),
            idle_timeout_secs: super::default_scim_idle_timeout_secs(),
            body_timeout_secs: super::default_scim_body_timeout_secs(),
        }
    }
}

fn default_max_body_bytes() -> usize {
    256 * 1024
}

fn default_max_connections() -> usize {
    64
}

impl AdminConfig {
    /// The keyring of `secrets_key` and `previous_secrets_keys`.
    pub fn keyring(&self) -> Result<Keyring, SecretsError> {
        Keyring::from_secrets(self.secrets_key.as_ref(), &self.previous_secrets_keys)
    }

    /// The limits of the admin listener.
    pub fn listener_limits(&self) -> crate::listener::ListenerLimits {
        super::limits(
            self.max_connections,
            self.header_timeout_secs,
            self.idle_timeout_secs,
            self.body_timeout_secs,
        )
    }

    /// The section's own checks, as `(key, message)`.
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        if self.listen.is_some() && self.token.as_ref().is_none_or(|t| t.expose().is_empty()) {
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
