//! [`TenantId`]: the name of one customer organization served by this process. Every row in
//! the database belongs to one tenant, and every store handle is bound to one (see
//! [`Store::for_tenant`](crate::store::Store::for_tenant)), so a run, a SCIM request or a
//! command sees one tenant's data at a time.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest tenant id: a DNS label's length, so an id fits a host name or a path segment.
pub const MAX_LEN: usize = 63;

/// A tenant's id: a slug of 1 to 63 characters of `a-z`, `0-9` and `-`, not starting with
/// `-`. Cheap to clone (shared text).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Why a string is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    #[error("a tenant id must not be empty")]
    Empty,
    #[error("a tenant id has at most {MAX_LEN} characters, this one has {0}")]
    TooLong(usize),
    #[error("a tenant id must not start with '-'")]
    LeadingDash,
    #[error("a tenant id may contain only a-z, 0-9 and '-', not {0:?}")]
    Character(char),
}

impl TenantId {
    /// The tenant of a configuration that names none, and of every row from before tenants.
    pub const DEFAULT: &'static str = "default";

    /// Checks `text` and takes it as a tenant id.
    pub fn parse(text: &str) -> Result<TenantId, TenantIdError> {
        let len = text.chars().count();
        if len == 0 {
            return Err(TenantIdError::Empty);
        }
        if let Some(c) = text.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-')) {
            return Err(TenantIdError::Character(c));
        }
        if len > MAX_LEN {
            return Err(TenantIdError::TooLong(len));
        }
        if text.starts_with('-') {
            return Err(TenantIdError::LeadingDash);
        }
        Ok(TenantId(Arc::from(text)))
    }

    /// `default`: see [`Self::DEFAULT`].
    pub fn default_tenant() -> TenantId {
        TenantId(Arc::from(Self::DEFAULT))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        &*self.0 == Self::DEFAULT
    }
}

impl Default for TenantId {
    fn default() -> Self {
        TenantId::default_tenant()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TenantId {
    type Err = TenantIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::parse(s)
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TenantId::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs_are_checked_with_a_reason() {
        let cases: &[(&str, Result<(), TenantIdError>)] = &[
            ("default", Ok(())),
            ("acme-2", Ok(())),
            ("a", Ok(())),
            ("0", Ok(())),
            ("a-", Ok(())),
            ("", Err(TenantIdError::Empty)),
            ("-a", Err(TenantIdError::LeadingDash)),
            ("Acme", Err(TenantIdError::Character('A'))),
            ("acme corp", Err(TenantIdError::Character(' '))),
            ("acme_corp", Err(TenantIdError::Character('_'))),
            ("ünicode", Err(TenantIdError::Character('ü'))),
            ("a/b", Err(TenantIdError::Character('/'))),
        ];
        for (text, expected) in cases {
            let got = TenantId::parse(text).map(|t| assert_eq!(t.as_str(), *text));
            assert_eq!(&got, expected, "{text:?}");
        }
        assert!(TenantId::parse(&"a".repeat(63)).is_ok());
        assert_eq!(TenantId::parse(&"a".repeat(64)), Err(TenantIdError::TooLong(64)));
        assert!(TenantId::parse("Acme")
            .unwrap_err()
            .to_string()
            .contains("only a-z, 0-9 and '-'"));
    }

    #[test]
    fn serde_checks_the_slug() {
        let t: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"acme\"");
        let err = serde_json::from_str::<TenantId>("\"-x\"").unwrap_err();
        assert!(err.to_string().contains("must not start with '-'"), "{err}");
        assert!(TenantId::default_tenant().is_default());
    }

    proptest! {
        #[test]
        fn every_slug_parses_and_nothing_else(text in "\\PC{0,70}") {
            let valid = !text.is_empty()
                && text.chars().count() <= MAX_LEN
                && !text.starts_with('-')
                && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            prop_assert_eq!(TenantId::parse(&text).is_ok(), valid);
        }

        #[test]
        fn generated_slugs_round_trip(text in "[a-z0-9][a-z0-9-]{0,62}") {
            let id = TenantId::parse(&text).unwrap();
            prop_assert_eq!(id.to_string(), text);
        }
    }
}
