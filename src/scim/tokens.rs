//! The bearer token: a long random secret shown once, stored as its SHA-256 digest, checked
//! in constant time. One active token at a time.

use rand::RngCore;
use subtle::ConstantTimeEq;

/// Prefix of every secret, so a leaked one is recognisable in a scan.
const PREFIX: &str = "idsync_scim_";

/// A new secret: 32 random bytes, hex-encoded behind the prefix.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex(&bytes))
}

/// The stored form of a secret: its SHA-256, hex-encoded.
pub fn digest(secret: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

/// Whether `presented` is the secret behind `stored`, in time independent of where they differ.
pub fn verify(presented: &str, stored: &str) -> bool {
    digest(presented).as_bytes().ct_eq(stored.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_against_their_digest_only() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64);
        assert_ne!(a, b);
        assert!(verify(&a, &digest(&a)));
        assert!(!verify(&b, &digest(&a)));
        assert!(!verify("", &digest(&a)));
    }
}
