//! Sealing one secret: AES-256-GCM with a random 96-bit nonce and the key id as associated
//! data, written as `v1:<key_id>:<base64(nonce || ciphertext || tag)>`.
//!
//! The key id in the clear tells a keyring which key opens the envelope; bound in as
//! associated data, it cannot be swapped for another id without the tag failing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::{SecretsError, SecretsKey};

/// The envelope format's version prefix.
const VERSION: &str = "v1";

/// Encrypts `plain` under `key`.
pub(super) fn seal(key: &SecretsKey, plain: &str) -> Result<String, SecretsError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SecretsError::Random)?;
    let mut sealed = plain.as_bytes().to_vec();
    aead_key(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(key.id().as_bytes()),
            &mut sealed,
        )
        .map_err(|_| SecretsError::Random)?;
    let mut body = nonce.to_vec();
    body.extend_from_slice(&sealed);
    Ok(format!("{VERSION}:{}:{}", key.id(), STANDARD.encode(body)))
}

/// The key id an envelope names, after checking its shape.
pub fn key_id_of(envelope: &str) -> Result<&str, SecretsError> {
    Ok(parts(envelope)?.0)
}

/// Decrypts an envelope with `key`, which must be the key it names.
pub(super) fn open(key: &SecretsKey, envelope: &str) -> Result<String, SecretsError> {
    let (id, body) = parts(envelope)?;
    let mut body = STANDARD
        .decode(body)
        .map_err(|_| SecretsError::Malformed("its body is not base64"))?;
    if body.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(SecretsError::Malformed("it is too short"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&body[..NONCE_LEN]);
    let plain = aead_key(key)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(id.as_bytes()),
            &mut body[NONCE_LEN..],
        )
        .map_err(|_| SecretsError::Tampered)?;
    String::from_utf8(plain.to_vec()).map_err(|_| SecretsError::Tampered)
}

fn parts(envelope: &str) -> Result<(&str, &str), SecretsError> {
    let mut parts = envelope.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(id), Some(body)) if !id.is_empty() => Ok((id, body)),
        _ => Err(SecretsError::Malformed("it is not `v1:<key id>:<data>`")),
    }
}

fn aead_key(key: &SecretsKey) -> Result<LessSafeKey, SecretsError> {
    // A SecretsKey always has the 32 bytes AES-256 takes; ring refuses nothing else.
    let unbound = UnboundKey::new(&AES_256_GCM, key.bytes())
        .map_err(|_| SecretsError::BadKey("ring refused it as an AES-256 key".into()))?;
    Ok(LessSafeKey::new(unbound))
}
