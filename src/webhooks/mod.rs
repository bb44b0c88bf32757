//! Webhooks: the change feed sent to each endpoint as Standard Webhooks messages
//! (www.standardwebhooks.com): `sign.rs` (the signature), `message.rs` (ids, bodies,
//! batches), `deliver.rs` (one endpoint's delivery loop: in `seq` order, at least once,
//! retried on a schedule, disabled when it is spent). The daemon runs one loop per endpoint
//! (`src/daemon/webhooks.rs`), so a slow receiver slows only its own endpoint and never a sync.

pub mod deliver;
pub mod message;
pub mod sign;

pub use deliver::{Delivery, DeliverySettings, SecretSource};
pub use sign::{SecretError, SigningSecret};

use crate::store::changes::kind;

/// An endpoint's name: 1-63 characters of `a-z`, `0-9`, `-` and `_`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid webhook name {name:?}: use 1-63 characters of a-z, 0-9, - and _"
        ))
    }
}

/// An endpoint's URL: absolute `http` or `https`.
pub fn check_url(text: &str) -> Result<(), String> {
    match reqwest::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!("{text:?}: expected an http:// or https:// URL")),
        Err(e) => Err(format!("{text:?}: {e}")),
    }
}

/// The change types an endpoint asks for: each one of [`kind::ALL`].
pub fn check_types(types: &[String]) -> Result<(), String> {
    match types.iter().find(|t| !kind::ALL.contains(&t.as_str())) {
        Some(t) => Err(format!(
            "unknown change type {t:?}; expected one of {}",
            kind::ALL.join(", ")
        )),
        None => Ok(()),
    }
}
