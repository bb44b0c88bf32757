//! How the app proves who it is to the Microsoft identity platform: a client secret, or a
//! certificate whose key signs client assertions.

use std::path::Path;

use base64::Engine;
use idsync_source::Secret;

/// How the app proves who it is.
#[derive(Clone)]
pub(crate) enum Credential {
    Secret(Secret),
    Certificate {
        key: jsonwebtoken::EncodingKey,
        /// base64url SHA-1 and SHA-256 thumbprints of the certificate (DER).
        x5t: String,
        x5t_s256: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(***)"),
            Credential::Certificate { x5t, .. } => write!(f, "Certificate(x5t={x5t})"),
        }
    }
}

impl Credential {
    /// The certificate and its key, read from PEM files (`key_path` may be `cert_path`).
    pub(crate) fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Credential, String> {
        let read =
            |path: &Path| std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        let cert_text = read(cert_path)?;
        let blocks =
            pem::parse_many(&cert_text).map_err(|e| format!("{}: not PEM: {e}", cert_path.display()))?;
        let cert = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| format!("{}: no CERTIFICATE block", cert_path.display()))?;
        let key_text = if key_path == cert_path {
            cert_text.clone()
        } else {
            read(key_path)?
        };
        let key_blocks =
            pem::parse_many(&key_text).map_err(|e| format!("{}: not PEM: {e}", key_path.display()))?;
        let key_block = key_blocks
            .iter()
            .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "RSA PRIVATE KEY")
            .ok_or_else(|| {
                format!(
                    "{}: no unencrypted RSA key (PRIVATE KEY or RSA PRIVATE KEY block)",
                    key_path.display()
                )
            })?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem::encode(key_block).as_bytes())
            .map_err(|e| format!("{}: not an RSA private key: {e}", key_path.display()))?;
        let (x5t, x5t_s256) = thumbprints(cert.contents());
        Ok(Credential::Certificate { key, x5t, x5t_s256 })
    }
}

/// base64url (unpadded) SHA-1 and SHA-256 of a DER certificate: the JWT `x5t`, `x5t#S256`.
pub(crate) fn thumbprints(der: &[u8]) -> (String, String) {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    (
        b64.encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)),
        b64.encode(ring::digest::digest(&ring::digest::SHA256, der)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_base64url_digests() {
        let (sha1, sha256) = thumbprints(b"abc");
        assert_eq!(sha1, "qZk-NkcGgWq6PiVxeFDCbJzQ2J0");
        assert_eq!(sha256, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Credential::Secret(Secret::new("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
