//! The pieces of a connector's cursor state that every stateful connector shares: the
//! cursor's JSON text, its version and fingerprint check, and the user numbers its other
//! fields refer to (only the ids still referenced, renumbered densely).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::interner::Interner;
use crate::SourceError;

/// The cursor's text.
pub fn to_text<T: Serialize>(cursor: &T) -> Result<String, SourceError> {
    serde_json::to_string(cursor).map_err(|e| SourceError::InvalidData {
        location: "cursor".into(),
        detail: e.to_string(),
    })
}

/// Parses a cursor; `Err` explains why it cannot be used.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("the cursor does not parse: {e}"))
}

/// Checks a parsed cursor's `version` and `fingerprint` against what this build writes and
/// what the configuration gives now; `covered` names what the fingerprint covers besides
/// the mapping and the scope (for the message when it changed).
pub fn check_header(
    (version, expected_version): (u32, u32),
    (fingerprint, expected_fingerprint): (&str, &str),
    covered: &str,
) -> Result<(), String> {
    if version != expected_version {
        return Err(format!("cursor version {version} is not {expected_version}"));
    }
    if fingerprint != expected_fingerprint {
        return Err(format!(
            "the connector's mapping, scope or {covered} changed since the last run"
        ));
    }
    Ok(())
}

/// The user ids a cursor stored, numbered as the cursor's other fields refer to them.
#[derive(Debug)]
pub struct StoredUsers {
    ids: Interner,
    count: usize,
}

impl StoredUsers {
    pub fn new(user_ids: &[String]) -> StoredUsers {
        let mut ids = Interner::default();
        for id in user_ids {
            ids.intern(id);
        }
        StoredUsers {
            ids,
            count: user_ids.len(),
        }
    }

    /// `u`, if the cursor stored that many users; else why the cursor cannot be used.
    pub fn check(&self, u: u32) -> Result<u32, String> {
        if (u as usize) < self.count {
            Ok(u)
        } else {
            Err(format!("the cursor refers to user #{u} of {}", self.count))
        }
    }

    /// A stored group's members, checked, sorted and without repeats.
    pub fn members(&self, users: &[u32]) -> Result<Vec<u32>, String> {
        let mut users = users
            .iter()
            .map(|&u| self.check(u))
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_unstable();
        users.dedup();
        Ok(users)
    }

    /// The ids, numbered as the cursor numbered them.
    pub fn into_ids(self) -> Interner {
        self.ids
    }
}

/// Numbers for a new cursor: the ids of the users it still refers to, renumbered densely in
/// order of first sight.
#[derive(Debug)]
pub struct Renumbered<'a> {
    from: &'a Interner,
    ids: Interner,
}

impl<'a> Renumbered<'a> {
    /// Renumbers users numbered by `from`.
    pub fn new(from: &'a Interner) -> Renumbered<'a> {
        Renumbered {
            from,
            ids: Interner::default(),
        }
    }

    /// The new numbers of `users`, sorted.
    pub fn sorted<'u>(&mut self, users: impl IntoIterator<Item = &'u u32>) -> Vec<u32> {
        let mut numbers: Vec<u32> = users
            .into_iter()
            .map(|&u| self.ids.intern(self.from.name(u)))
            .collect();
        numbers.sort_unstable();
        numbers
    }

    /// The ids, by new number.
    pub fn into_names(self) -> Vec<String> {
        self.ids.into_names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_users_reject_numbers_past_the_end() {
        let users = StoredUsers::new(&["a".into(), "b".into()]);
        assert_eq!(users.check(1), Ok(1));
        assert_eq!(users.check(2), Err("the cursor refers to user #2 of 2".into()));
        assert_eq!(users.members(&[1, 0, 1]), Ok(vec![0, 1]));
        assert!(users.members(&[0, 5]).is_err());
        assert_eq!(users.into_ids().name(1), "b");
    }

    #[test]
    fn renumbering_keeps_only_the_referenced_ids() {
        let mut from = Interner::default();
        for id in ["a", "b", "c"] {
            from.intern(id);
        }
        let mut renumbered = Renumbered::new(&from);
        assert_eq!(renumbered.sorted(&[2, 0]), vec![0, 1]);
        assert_eq!(renumbered.sorted(&[0]), vec![1]);
        assert_eq!(renumbered.into_names(), ["c", "a"]);
    }

    #[test]
    fn headers_name_what_changed() {
        assert_eq!(check_header((1, 1), ("f", "f"), "org"), Ok(()));
        assert_eq!(
            check_header((2, 1), ("f", "f"), "org"),
            Err("cursor version 2 is not 1".into())
        );
        assert_eq!(
            check_header((1, 1), ("f", "g"), "org"),
            Err("the connector's mapping, scope or org changed since the last run".into())
        );
    }
}
