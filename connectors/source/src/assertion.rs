//! OAuth 2.0 client assertions (RFC 7523 `private_key_jwt`): a JWT signed with the client's
//! private key, audience the token endpoint, issuer and subject the client id.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// The `client_assertion_type` form value that goes with a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, serde::Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

/// Signs a client assertion valid from now for `lifetime`, with a random `jti`.
pub fn sign(
    key: &EncodingKey,
    header: &Header,
    token_url: &str,
    client_id: &str,
    lifetime: Duration,
) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("system clock before 1970: {e}"))?
        .as_secs();
    let claims = Claims {
        aud: token_url,
        iss: client_id,
        sub: client_id,
        jti: uuid::Uuid::new_v4().to_string(),
        nbf: now,
        iat: now,
        exp: now + lifetime.as_secs(),
    };
    jsonwebtoken::encode(header, &claims, key).map_err(|e| format!("cannot sign the client assertion: {e}"))
}

/// An unencrypted private key from PEM text: RSA (`PRIVATE KEY` or `RSA PRIVATE KEY`, signed
/// RS256) or EC P-256 (`PRIVATE KEY` or `EC PRIVATE KEY`, signed ES256).
pub fn load_private_key(pem_text: &[u8], what: &str) -> Result<(EncodingKey, Algorithm), String> {
    let blocks = pem::parse_many(pem_text).map_err(|e| format!("{what}: not PEM: {e}"))?;
    for block in &blocks {
        let text = pem::encode(block);
        match block.tag() {
            "RSA PRIVATE KEY" => {
                return EncodingKey::from_rsa_pem(text.as_bytes())
                    .map(|k| (k, Algorithm::RS256))
                    .map_err(|e| format!("{what}: not an RSA private key: {e}"))
            }
            "EC PRIVATE KEY" => {
                return EncodingKey::from_ec_pem(text.as_bytes())
                    .map(|k| (k, Algorithm::ES256))
                    .map_err(|e| format!("{what}: not an EC private key: {e}"))
            }
            "PRIVATE KEY" => {
                // PKCS#8 holds either; ring tells them apart when the key is used, so try both
                // by signing a probe.
                if let Ok(k) = EncodingKey::from_rsa_pem(text.as_bytes()) {
                    if jsonwebtoken::encode(&Header::new(Algorithm::RS256), &serde_json::json!({}), &k)
                        .is_ok()
                    {
                        return Ok((k, Algorithm::RS256));
                    }
                }
                if let Ok(k) = EncodingKey::from_ec_pem(text.as_bytes()) {
                    if jsonwebtoken::encode(&Header::new(Algorithm::ES256), &serde_json::json!({}), &k)
                        .is_ok()
                    {
                        return Ok((k, Algorithm::ES256));
                    }
                }
                return Err(format!("{what}: the PRIVATE KEY is neither RSA nor EC P-256"));
            }
            _ => {}
        }
    }
    Err(format!(
        "{what}: no unencrypted private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)"
    ))
}
