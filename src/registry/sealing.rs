//! Inline secrets in connector settings, sealed before the store sees them and opened when a
//! daemon loads them. A sealed secret is `{"encrypted": "v1:..."}` in place of the string; a
//! reference (`{"env": ...}`, `{"file": ...}`) is not a secret and stays as given.

use idsync_source::Secret;
use serde_json::Value as Json;

use crate::config::{secret_keys, settings_kind};
use crate::secrets::{Keyring, SecretsError};

/// The key of a sealed secret's object.
const ENCRYPTED: &str = "encrypted";

/// Replaces every inline secret of `settings` by its envelope; returns whether there was one
/// (the settings are then sealed under the keyring's current key).
pub(super) fn seal(keyring: &Keyring, settings: &mut Json) -> Result<bool, SecretsError> {
    let keys = settings_kind(settings).map(secret_keys).unwrap_or_default();
    let mut sealed = false;
    for key in keys {
        if let Some(value) = settings.get_mut(*key) {
            if let Json::String(plain) = value {
                let envelope = keyring.seal(&Secret::new(std::mem::take(plain)))?;
                *value = serde_json::json!({ ENCRYPTED: envelope });
                sealed = true;
            }
        }
    }
    Ok(sealed)
}

/// Replaces every envelope of `settings` by the secret it holds.
pub(super) fn open(keyring: &Keyring, settings: &mut Json) -> Result<(), SecretsError> {
    for_each_envelope(settings, |envelope| {
        Ok(keyring.open(envelope)?.expose().to_owned())
    })
}

/// Re-seals every envelope under the keyring's current key; returns whether there was one.
pub(super) fn reseal(keyring: &Keyring, settings: &mut Json) -> Result<bool, SecretsError> {
    let mut any = false;
    for_each_envelope(settings, |envelope| {
        any = true;
        let plain = keyring.open(envelope)?;
        Ok(serde_json::json!({ ENCRYPTED: keyring.seal(&plain)? }))
    })
    .map(|()| any)
}

/// Calls `replace` on every envelope among the secret keys; its answer takes the envelope's
/// place (`String` becomes an inline secret, an object stays an envelope).
fn for_each_envelope<T: Into<Json>>(
    settings: &mut Json,
    mut replace: impl FnMut(&str) -> Result<T, SecretsError>,
) -> Result<(), SecretsError> {
    let keys = settings_kind(settings).map(secret_keys).unwrap_or_default();
    for key in keys {
        let Some(value) = settings.get_mut(*key) else {
            continue;
        };
        if let Some(envelope) = value.get(ENCRYPTED).and_then(Json::as_str) {
            *value = replace(envelope)?.into();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::secrets::SecretsKey;

    fn ring(byte: u8, previous: &[u8]) -> Keyring {
        let previous = previous
            .iter()
            .map(|b| SecretsKey::from_bytes([*b; 32]))
            .collect();
        Keyring::new(Some(SecretsKey::from_bytes([byte; 32])), previous)
    }

    #[test]
    fn inline_secrets_are_sealed_and_references_kept() {
        let mut settings = json!({"kind": "entra", "tenant_id": "t", "client_id": "c",
            "client_secret": "s3cret-value"});
        assert!(seal(&ring(1, &[]), &mut settings).unwrap());
        assert!(!settings.to_string().contains("s3cret"));
        assert!(settings["client_secret"]["encrypted"]
            .as_str()
            .unwrap()
            .starts_with("v1:"));
        open(&ring(1, &[]), &mut settings).unwrap();
        assert_eq!(settings["client_secret"], "s3cret-value");

        let mut reference = json!({"kind": "okta", "api_token": {"env": "OKTA_TOKEN"}});
        let before = reference.clone();
        assert!(!seal(&ring(1, &[]), &mut reference).unwrap());
        assert_eq!(reference, before);
    }

    #[test]
    fn without_a_key_an_inline_secret_is_refused() {
        let mut settings = json!({"kind": "okta", "api_token": "t0ken"});
        let err = seal(&Keyring::default(), &mut settings).unwrap_err();
        assert!(err.to_string().contains("secrets_key"), "{err}");
        let mut file = json!({"kind": "file", "path": "x"});
        assert!(!seal(&Keyring::default(), &mut file).unwrap());
    }

    #[test]
    fn resealing_moves_envelopes_to_the_current_key() {
        let mut settings = json!({"kind": "google", "service_account_key": "{\"k\": 1}"});
        seal(&ring(1, &[]), &mut settings).unwrap();
        let rotated = ring(2, &[1]);
        assert!(reseal(&rotated, &mut settings).unwrap());
        let envelope = settings["service_account_key"]["encrypted"].as_str().unwrap();
        assert_eq!(
            crate::secrets::key_id_of(envelope).unwrap(),
            SecretsKey::from_bytes([2; 32]).id()
        );
        open(&ring(2, &[]), &mut settings).unwrap();
        assert_eq!(settings["service_account_key"], "{\"k\": 1}");
    }
}
