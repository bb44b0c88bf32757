//! A secrets key: 32 random bytes, given base64-encoded, and the id that names it.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::SecretsError;

/// Bytes in an AES-256 key.
pub const KEY_LEN: usize = 32;

/// One AES-256-GCM key. Its `Debug` shows only the key id, so it cannot reach a log line.
#[derive(Clone)]
pub struct SecretsKey {
    bytes: [u8; KEY_LEN],
    id: String,
}

impl SecretsKey {
    /// Parses a key given as base64 (standard alphabet, padded), e.g. the output of
    /// `openssl rand -base64 32`. The error says what is wrong with it, never what it is.
    pub fn parse(text: &str) -> Result<SecretsKey, SecretsError> {
        let decoded = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretsError::BadKey("it is not base64".into()))?;
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            SecretsError::BadKey(format!(
                "it decodes to {} bytes; it must be {KEY_LEN} (try `openssl rand -base64 32`)",
                decoded.len()
            ))
        })?;
        Ok(SecretsKey::from_bytes(bytes))
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretsKey {
        let id = key_id(&bytes);
        SecretsKey { bytes, id }
    }

    /// The key's id: the first 8 bytes of the SHA-256 of the key, in hex. It is stored with
    /// every envelope, so a rotated keyring finds the key an envelope was sealed with, and it
    /// reveals nothing usable about the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretsKey({})", self.id)
    }
}

fn key_id(bytes: &[u8; KEY_LEN]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_32_bytes_and_names_them_by_digest() {
        let key = SecretsKey::parse(&STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(key.id().len(), 16);
        assert!(key.id().chars().all(|c| c.is_ascii_hexdigit()));
        let other = SecretsKey::parse(&STANDARD.encode([8u8; 32])).unwrap();
        assert_ne!(key.id(), other.id());
        // The same key always has the same id (stored envelopes depend on it).
        assert_eq!(key.id(), SecretsKey::from_bytes([7u8; 32]).id());
    }

    #[test]
    fn errors_say_what_is_wrong_without_the_key() {
        let short = STANDARD.encode([1u8; 16]);
        let err = SecretsKey::parse(&short).unwrap_err().to_string();
        assert!(err.contains("16 bytes") && err.contains("32"), "{err}");
        assert!(!err.contains(&short), "{err}");

        let garbage = "not base64 at all!";
        let err = SecretsKey::parse(garbage).unwrap_err().to_string();
        assert!(err.contains("not base64"), "{err}");
        assert!(!err.contains(garbage), "{err}");
    }

    #[test]
    fn debug_shows_only_the_id() {
        let key = SecretsKey::from_bytes([9u8; 32]);
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("SecretsKey({})", key.id()));
    }
}
