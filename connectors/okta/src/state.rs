//! What the connector remembers between runs, inside the cursor: when the last run and the
//! last full reconcile started, which known users are out of scope by status or scoping
//! filter, and the synced groups with their direct members.
//!
//! Okta's incremental queries name changed users and changed groups, not membership deltas
//! nor who left the scope; keeping the synced groups' members lets an incremental run tell
//! which users entered or left the scope and restate exactly the groups that changed.

use std::collections::{BTreeMap, HashSet};

use idsync_source::cursor::{self, Renumbered, StoredUsers};
use idsync_source::interner::Interner;
use idsync_source::SourceError;
use serde::{Deserialize, Serialize};

pub(crate) const CURSOR_VERSION: u32 = 1;

#[derive(Debug, Default, Clone)]
pub(crate) struct Group {
    pub name: String,
    /// Direct members (all statuses), sorted.
    pub users: Vec<u32>,
}

impl Group {
    pub(crate) fn contains(&self, u: u32) -> bool {
        self.users.binary_search(&u).is_ok()
    }
}

/// The org as far as the connector needs it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Org {
    pub ids: Interner,
    /// Known users that fail the scoping filters or are STAGED while those are not synced.
    pub out: HashSet<u32>,
    /// Synced groups by id.
    pub groups: BTreeMap<String, Group>,
}

impl Org {
    /// Whether a known user is in scope: not filtered out, and (with `groups` configured)
    /// a member of a synced group.
    pub(crate) fn in_scope(&self, u: u32, scoped_by_groups: bool) -> bool {
        !self.out.contains(&u) && (!scoped_by_groups || self.groups.values().any(|g| g.contains(u)))
    }
}

/// The stored cursor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub version: u32,
    /// Digest of the settings that shape what is fetched; a change forces a full sync.
    pub fingerprint: String,
    /// When the last successful run started (RFC 3339); the next one asks for changes since.
    pub since: String,
    /// When the last full reconcile started (RFC 3339).
    pub last_full: String,
    pub user_ids: Vec<String>,
    pub out: Vec<u32>,
    pub groups: Vec<CursorGroup>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CursorGroup {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<u32>,
}

pub(crate) struct Resumed {
    pub org: Org,
    pub since: chrono::DateTime<chrono::Utc>,
    pub last_full: chrono::DateTime<chrono::Utc>,
}

impl Org {
    /// The cursor text, with only the user ids still referenced.
    pub(crate) fn to_cursor(
        &self,
        fingerprint: &str,
        since: &chrono::DateTime<chrono::Utc>,
        last_full: &chrono::DateTime<chrono::Utc>,
    ) -> Result<String, SourceError> {
        let mut ids = Renumbered::new(&self.ids);
        let out = ids.sorted(&self.out);
        let groups = self
            .groups
            .iter()
            .map(|(id, g)| {
                let users = ids.sorted(&g.users);
                CursorGroup {
                    id: id.clone(),
                    name: g.name.clone(),
                    users,
                }
            })
            .collect();
        let cursor = Cursor {
            version: CURSOR_VERSION,
            fingerprint: fingerprint.to_owned(),
            since: since.to_rfc3339(),
            last_full: last_full.to_rfc3339(),
            user_ids: ids.into_names(),
            out,
            groups,
        };
        cursor::to_text(&cursor)
    }

    /// Reads a cursor; `Err` explains why it cannot be used (and a full sync follows).
    pub(crate) fn from_cursor(text: &str, fingerprint: &str) -> Result<Resumed, String> {
        let cursor: Cursor = cursor::parse(text)?;
        cursor::check_header(
            (cursor.version, CURSOR_VERSION),
            (&cursor.fingerprint, fingerprint),
            "org",
        )?;
        let time = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.with_timezone(&chrono::Utc))
                .map_err(|e| format!("the cursor's time {t:?} does not parse: {e}"))
        };
        let stored = StoredUsers::new(&cursor.user_ids);
        let out = cursor
            .out
            .iter()
            .map(|&u| stored.check(u))
            .collect::<Result<_, _>>()?;
        let mut groups = BTreeMap::new();
        for g in cursor.groups {
            let users = stored.members(&g.users)?;
            groups.insert(g.id, Group { name: g.name, users });
        }
        Ok(Resumed {
            org: Org {
                ids: stored.into_ids(),
                out,
                groups,
            },
            since: time(&cursor.since)?,
            last_full: time(&cursor.last_full)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_checks_its_fingerprint() {
        let mut org = Org::default();
        let a = org.ids.intern("00ua");
        let b = org.ids.intern("00ub");
        org.ids.intern("00uc");
        org.out.insert(b);
        org.groups.insert(
            "00g1".into(),
            Group {
                name: "One".into(),
                users: vec![a, b],
            },
        );
        let now = chrono::Utc::now();
        let text = org.to_cursor("fp", &now, &now).unwrap();
        let back = Org::from_cursor(&text, "fp").unwrap();
        assert_eq!(back.org.ids.len(), 2, "unreferenced users are dropped");
        let b2 = back.org.ids.get("00ub").unwrap();
        assert!(back.org.out.contains(&b2));
        assert!(back.org.in_scope(back.org.ids.get("00ua").unwrap(), true));
        assert!(!back.org.in_scope(b2, false));
        assert_eq!(back.since.timestamp(), now.timestamp());
        assert!(Org::from_cursor(&text, "other").is_err());
        assert!(Org::from_cursor("{", "fp").is_err());
    }
}
