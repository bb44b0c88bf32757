use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;

use super::*;

fn key(byte: u8) -> SecretsKey {
    SecretsKey::from_bytes([byte; KEY_LEN])
}

fn ring_of(byte: u8) -> Keyring {
    Keyring::new(Some(key(byte)), Vec::new())
}

#[test]
fn an_envelope_names_its_key_and_hides_the_secret() {
    let ring = ring_of(1);
    let sealed = ring.seal(&Secret::new("hunter2-client-secret")).unwrap();
    assert!(sealed.starts_with(&format!("v1:{}:", key(1).id())), "{sealed}");
    assert!(!sealed.contains("hunter2"));
    assert_eq!(key_id_of(&sealed).unwrap(), key(1).id());
    assert_eq!(ring.open(&sealed).unwrap().expose(), "hunter2-client-secret");
}

#[test]
fn the_same_secret_seals_differently_each_time() {
    let ring = ring_of(1);
    let a = ring.seal(&Secret::new("same")).unwrap();
    let b = ring.seal(&Secret::new("same")).unwrap();
    assert_ne!(a, b, "a fresh nonce for every envelope");
}

#[test]
fn previous_keys_open_old_envelopes_but_never_seal() {
    let old = ring_of(1).seal(&Secret::new("old secret")).unwrap();
    let rotated = Keyring::new(Some(key(2)), vec![key(1)]);
    assert_eq!(rotated.open(&old).unwrap().expose(), "old secret");
    let new = rotated.seal(&Secret::new("new secret")).unwrap();
    assert_eq!(key_id_of(&new).unwrap(), key(2).id());
    assert_eq!(rotated.current_id(), Some(key(2).id()));
}

#[test]
fn an_unknown_key_id_is_named() {
    let sealed = ring_of(1).seal(&Secret::new("x")).unwrap();
    let err = ring_of(2).open(&sealed).unwrap_err();
    assert!(
        matches!(&err, SecretsError::UnknownKey { key_id } if key_id == key(1).id()),
        "{err}"
    );
    assert!(err.to_string().contains("previous_secrets_keys"), "{err}");
}

#[test]
fn no_key_refuses_to_seal() {
    let err = Keyring::default().seal(&Secret::new("x")).unwrap_err();
    assert!(matches!(err, SecretsError::NoKey));
    assert!(err.to_string().contains("secrets_key"), "{err}");
}

/// Flips one bit of the decoded body at `index`.
fn flip(sealed: &str, index: usize) -> String {
    let (prefix, body) = sealed.rsplit_once(':').unwrap();
    let mut bytes = STANDARD.decode(body).unwrap();
    let i = index % bytes.len();
    bytes[i] ^= 0x01;
    format!("{prefix}:{}", STANDARD.encode(bytes))
}

#[test]
fn a_changed_nonce_ciphertext_or_tag_is_refused() {
    let ring = ring_of(1);
    let sealed = ring.seal(&Secret::new("twelve bytes")).unwrap();
    let len = STANDARD.decode(sealed.rsplit_once(':').unwrap().1).unwrap().len();
    // The nonce (first), the ciphertext (middle), the tag (last).
    for index in [0, 12, len - 1] {
        let err = ring.open(&flip(&sealed, index)).unwrap_err();
        assert!(matches!(err, SecretsError::Tampered), "byte {index}: {err}");
    }
}

#[test]
fn a_relabelled_envelope_is_refused() {
    // Sealed under key 1, then claimed to be key 2's: the id is bound in as associated data.
    let k1 = ring_of(1).seal(&Secret::new("x")).unwrap();
    let body = k1.rsplit_once(':').unwrap().1;
    let relabelled = format!("v1:{}:{body}", key(2).id());
    let both = Keyring::new(Some(key(2)), vec![key(1)]);
    assert!(matches!(both.open(&relabelled), Err(SecretsError::Tampered)));
}

#[test]
fn what_is_not_an_envelope_says_so() {
    let ring = ring_of(1);
    for text in [
        "",
        "plain text",
        "v2:abc:AAAA",
        "v1::AAAA",
        "v1:abc:%%%",
        "v1:abc:AAAA",
    ] {
        let err = ring.open(text).unwrap_err();
        assert!(
            matches!(err, SecretsError::Malformed(_) | SecretsError::UnknownKey { .. }),
            "{text:?}: {err}"
        );
    }
    let short = format!("v1:{}:{}", key(1).id(), STANDARD.encode([0u8; 10]));
    assert!(matches!(ring.open(&short), Err(SecretsError::Malformed(_))));
}

#[test]
fn keys_come_from_configured_secrets() {
    let current = Secret::new(STANDARD.encode([3u8; 32]));
    let previous = [Secret::new(STANDARD.encode([4u8; 32]))];
    let ring = Keyring::from_secrets(Some(&current), &previous).unwrap();
    assert_eq!(ring.current_id(), Some(key(3).id()));
    let old = ring_of(4).seal(&Secret::new("p")).unwrap();
    assert_eq!(ring.open(&old).unwrap().expose(), "p");

    let bad = [Secret::new("short")];
    let err = Keyring::from_secrets(Some(&current), &bad).unwrap_err();
    assert!(matches!(err, SecretsError::BadKey(_)), "{err}");
}

proptest! {
    #[test]
    fn any_secret_round_trips(plain in any::<String>(), byte in any::<u8>()) {
        let ring = ring_of(byte);
        let sealed = ring.seal(&Secret::new(plain.clone())).unwrap();
        let opened = ring.open(&sealed).unwrap();
        prop_assert_eq!(opened.expose(), plain.as_str());
    }

    #[test]
    fn any_flipped_bit_is_refused(plain in ".{0,40}", index in any::<usize>()) {
        let ring = ring_of(5);
        let sealed = ring.seal(&Secret::new(plain)).unwrap();
        prop_assert!(matches!(ring.open(&flip(&sealed, index)), Err(SecretsError::Tampered)));
    }
}
