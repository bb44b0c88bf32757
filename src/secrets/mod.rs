//! Connector secrets at rest: AES-256-GCM envelopes (see [`envelope`](self::envelope)) under
//! `[admin] secrets_key`, with `previous_secrets_keys` kept to open envelopes sealed before a
//! rotation.
//!
//! A [`Keyring`] seals under its current key only and opens with whichever of its keys an
//! envelope names; `idsync secrets rotate-key` moves every stored envelope to the current key.

mod envelope;
mod key;

use idsync_source::Secret;
use thiserror::Error;

pub use envelope::key_id_of;
pub use key::{SecretsKey, KEY_LEN};

/// Why a secret could not be sealed or opened. No variant carries a key or a plain secret.
#[derive(Debug, Error)]
pub enum SecretsError {
    /// No `secrets_key` is configured, so nothing can be sealed: configure one.
    #[error("no [admin] secrets_key is configured, so secrets cannot be stored encrypted")]
    NoKey,
    /// The envelope was sealed with a key the keyring does not hold: add it to
    /// `previous_secrets_keys`.
    #[error(
        "the secret was encrypted with key {key_id}, which is neither [admin] secrets_key nor one \
         of previous_secrets_keys"
    )]
    UnknownKey { key_id: String },
    /// The envelope's data does not authenticate: it was changed, or belongs to another id.
    #[error("the encrypted secret fails authentication (it was altered or is corrupt)")]
    Tampered,
    /// The text is not an envelope at all.
    #[error("not an encrypted secret: {0}")]
    Malformed(&'static str),
    /// A configured key is not 32 bytes of base64.
    #[error("invalid secrets key: {0}")]
    BadKey(String),
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// The current key (which seals) and the previous ones (which only open).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    current: Option<SecretsKey>,
    previous: Vec<SecretsKey>,
}

impl Keyring {
    pub fn new(current: Option<SecretsKey>, previous: Vec<SecretsKey>) -> Keyring {
        Keyring { current, previous }
    }

    /// The keyring of `[admin] secrets_key` and `previous_secrets_keys`.
    pub fn from_secrets(current: Option<&Secret>, previous: &[Secret]) -> Result<Keyring, SecretsError> {
        let current = current.map(|s| SecretsKey::parse(s.expose())).transpose()?;
        let previous = previous
            .iter()
            .map(|s| SecretsKey::parse(s.expose()))
            .collect::<Result<_, _>>()?;
        Ok(Keyring::new(current, previous))
    }

    /// The id of the key new envelopes are sealed with, if there is one.
    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(SecretsKey::id)
    }

    /// Encrypts `plain` under the current key.
    pub fn seal(&self, plain: &Secret) -> Result<String, SecretsError> {
        let key = self.current.as_ref().ok_or(SecretsError::NoKey)?;
        envelope::seal(key, plain.expose())
    }

    /// Decrypts an envelope with the key it names.
    pub fn open(&self, sealed: &str) -> Result<Secret, SecretsError> {
        let id = key_id_of(sealed)?;
        let key = self
            .current
            .iter()
            .chain(&self.previous)
            .find(|k| k.id() == id)
            .ok_or_else(|| SecretsError::UnknownKey {
                key_id: id.to_owned(),
            })?;
        envelope::open(key, sealed).map(Secret::new)
    }
}

#[cfg(test)]
mod tests;
