//! Standard Webhooks signatures: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`
//! under the key a `whsec_` secret encodes
//! (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
//! "Signature scheme").

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::hmac;
use thiserror::Error;

/// The prefix of a signing secret.
pub const PREFIX: &str = "whsec_";

/// Why a signing secret cannot be used. Never carries the secret.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a webhook secret starts with \"whsec_\"")]
    Prefix,
    #[error("a webhook secret is \"whsec_\" and base64 (standard alphabet, padded)")]
    Base64,
    #[error("a webhook secret holds 24 to 64 bytes; this one holds {0}")]
    Length(usize),
}

/// The key of a `whsec_` secret. Its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct SigningSecret(hmac::Key);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

impl SigningSecret {
    /// Reads `whsec_<base64>`; the key is 24 to 64 bytes, as the specification recommends.
    pub fn parse(text: &str) -> Result<SigningSecret, SecretError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded.trim()).map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(SigningSecret(hmac::Key::new(hmac::HMAC_SHA256, &key)))
    }

    /// The `webhook-signature` header of a message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
    }
}

/// A new random secret (32 bytes), for callers that want one made.
pub fn generate() -> Result<String, ring::error::Unspecified> {
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)?;
    Ok(format!("{PREFIX}{}", STANDARD.encode(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the reference libraries (e.g. `python/tests/test_webhooks.py`
    /// and `rust/src/lib.rs` in github.com/standard-webhooks/standard-webhooks).
    #[test]
    fn the_published_test_vector() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::Prefix
        );
        assert_eq!(
            SigningSecret::parse("whsec_%%%").unwrap_err(),
            SecretError::Base64
        );
        assert_eq!(
            SigningSecret::parse("whsec_AAAA").unwrap_err(),
            SecretError::Length(3)
        );
        assert!(format!("{:?}", SigningSecret::parse(&generate().unwrap()).unwrap()).contains("***"));
    }
}
