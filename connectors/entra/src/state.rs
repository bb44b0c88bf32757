//! What the connector remembers between runs, inside the cursor: the delta links, which users
//! pass the scoping filters, and the group graph (direct user members and child groups).
//!
//! Graph's group delta reports only direct membership changes, but a change in a child group
//! changes the transitive members of every ancestor, and a user entering or leaving a scoped
//! group enters or leaves the scope. Keeping the graph lets an incremental run recompute
//! exactly the groups it affects without reading the tenant again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use idsync_source::cursor::{self, Renumbered, StoredUsers};
pub(crate) use idsync_source::interner::Interner;
use idsync_source::{resolve_nesting, NestedGroup, NestedGroups, SourceError};
use serde::{Deserialize, Serialize};

pub(crate) const CURSOR_VERSION: u32 = 1;

#[derive(Debug, Default, Clone)]
pub(crate) struct Node {
    pub name: String,
    /// Direct user members, sorted.
    pub users: Vec<u32>,
    /// Direct child groups.
    pub groups: BTreeSet<String>,
}

impl Node {
    pub(crate) fn add_user(&mut self, u: u32) -> bool {
        match self.users.binary_search(&u) {
            Ok(_) => false,
            Err(at) => {
                self.users.insert(at, u);
                true
            }
        }
    }

    pub(crate) fn remove_user(&mut self, u: u32) -> bool {
        match self.users.binary_search(&u) {
            Ok(at) => {
                self.users.remove(at);
                true
            }
            Err(_) => false,
        }
    }
}

/// The tenant as far as the connector needs it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tenant {
    pub ids: Interner,
    /// Users that exist and pass the scoping filters.
    pub passing: HashSet<u32>,
    pub groups: BTreeMap<String, Node>,
    /// Users who left the scope, with the synced groups they were members of then. The
    /// planner keeps an archived user's memberships, so when the user returns those groups
    /// must be stated again.
    pub departed: BTreeMap<String, Vec<String>>,
}

/// The stored cursor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub version: u32,
    /// Digest of the settings that shape what is fetched and how; a change forces a full sync.
    pub fingerprint: String,
    pub users_delta_link: String,
    pub groups_delta_link: String,
    /// User ids referenced below, by position.
    pub user_ids: Vec<String>,
    /// Positions of users that pass the scoping filters.
    pub passing: Vec<u32>,
    pub groups: Vec<CursorGroup>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub departed: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CursorGroup {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl Tenant {
    /// The cursor text, with only the user ids still referenced.
    pub(crate) fn to_cursor(
        &self,
        fingerprint: &str,
        users_link: &str,
        groups_link: &str,
    ) -> Result<String, SourceError> {
        let mut ids = Renumbered::new(&self.ids);
        let passing = ids.sorted(&self.passing);
        let groups = self
            .groups
            .iter()
            .map(|(id, node)| {
                let users = ids.sorted(&node.users);
                CursorGroup {
                    id: id.clone(),
                    name: node.name.clone(),
                    users,
                    groups: node.groups.iter().cloned().collect(),
                }
            })
            .collect();
        let cursor = Cursor {
            version: CURSOR_VERSION,
            fingerprint: fingerprint.to_owned(),
            users_delta_link: users_link.to_owned(),
            groups_delta_link: groups_link.to_owned(),
            user_ids: ids.into_names(),
            passing,
            groups,
            departed: self.departed.clone(),
        };
        cursor::to_text(&cursor)
    }

    /// Reads a cursor; `Err` explains why it cannot be used (and a full sync follows).
    pub(crate) fn from_cursor(text: &str, fingerprint: &str) -> Result<(Tenant, String, String), String> {
        let cursor: Cursor = cursor::parse(text)?;
        cursor::check_header(
            (cursor.version, CURSOR_VERSION),
            (&cursor.fingerprint, fingerprint),
            "endpoints",
        )?;
        let stored = StoredUsers::new(&cursor.user_ids);
        let passing = cursor
            .passing
            .iter()
            .map(|&u| stored.check(u))
            .collect::<Result<_, _>>()?;
        let mut groups = BTreeMap::new();
        for g in cursor.groups {
            let users = stored.members(&g.users)?;
            groups.insert(
                g.id,
                Node {
                    name: g.name,
                    users,
                    groups: g.groups.into_iter().collect(),
                },
            );
        }
        Ok((
            Tenant {
                ids: stored.into_ids(),
                passing,
                groups,
                departed: cursor.departed,
            },
            cursor.users_delta_link,
            cursor.groups_delta_link,
        ))
    }

    /// The groups that are synced: all, or those named in `scope` (ids or display names).
    /// A scope entry that matches no group is an error rather than an empty scope, which
    /// would deactivate everyone.
    pub(crate) fn synced(&self, scope: &[String]) -> Result<BTreeSet<String>, SourceError> {
        if scope.is_empty() {
            return Ok(self.groups.keys().cloned().collect());
        }
        let mut synced = BTreeSet::new();
        for entry in scope {
            let mut matched = false;
            if self.groups.contains_key(entry) {
                synced.insert(entry.clone());
                matched = true;
            }
            for (id, node) in &self.groups {
                if node.name.eq_ignore_ascii_case(entry) {
                    synced.insert(id.clone());
                    matched = true;
                }
            }
            if !matched {
                return Err(SourceError::Config(format!(
                    "groups: no group in the tenant has the id or display name {entry:?}"
                )));
            }
        }
        Ok(synced)
    }

    /// Every group reachable from `roots` through child groups, the roots included.
    fn descendants<'a>(&'a self, roots: impl IntoIterator<Item = &'a String>) -> BTreeSet<&'a str> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&str> = roots.into_iter().map(String::as_str).collect();
        while let Some(g) = stack.pop() {
            if !seen.insert(g) {
                continue;
            }
            if let Some(node) = self.groups.get(g) {
                stack.extend(node.groups.iter().map(String::as_str));
            }
        }
        seen
    }

    /// Each root's user members (transitive or direct), through [`resolve_nesting`].
    pub(crate) fn resolve(
        &self,
        roots: &BTreeSet<String>,
        mode: NestedGroups,
    ) -> HashMap<String, Vec<String>> {
        let wanted: BTreeSet<&str> = match mode {
            NestedGroups::Flatten => self.descendants(roots),
            NestedGroups::Direct => roots.iter().map(String::as_str).collect(),
        };
        let nested: Vec<NestedGroup> = wanted
            .iter()
            .filter_map(|g| self.groups.get(*g).map(|node| (g, node)))
            .map(|(g, node)| NestedGroup {
                external_id: (*g).to_owned(),
                display_name: node.name.clone(),
                user_members: node.users.iter().map(|&u| self.ids.name(u).to_owned()).collect(),
                group_members: node.groups.iter().cloned().collect(),
            })
            .collect();
        resolve_nesting(nested, mode)
            .into_iter()
            .filter(|g| roots.contains(&g.external_id))
            .map(|g| (g.external_id, g.members))
            .collect()
    }

    /// Users in scope: those passing the filters and, when groups are scoped, members of a
    /// synced group (transitively when nesting is flattened).
    pub(crate) fn in_scope(
        &self,
        scoped: bool,
        synced: &BTreeSet<String>,
        mode: NestedGroups,
    ) -> HashSet<u32> {
        if !scoped {
            return self.passing.clone();
        }
        let mut members = HashSet::new();
        for users in self.resolve(synced, mode).into_values() {
            for u in users {
                if let Some(i) = self.ids.get(&u).filter(|i| self.passing.contains(i)) {
                    members.insert(i);
                }
            }
        }
        members
    }

    /// For each of `users`, the synced groups that list it (transitively when flattened).
    pub(crate) fn groups_of(
        &self,
        users: &HashSet<u32>,
        mode: NestedGroups,
        synced: &BTreeSet<String>,
    ) -> HashMap<u32, Vec<String>> {
        let mut direct: HashMap<u32, BTreeSet<String>> = HashMap::new();
        for (id, node) in &self.groups {
            for u in node.users.iter().filter(|u| users.contains(u)) {
                direct.entry(*u).or_default().insert(id.clone());
            }
        }
        direct
            .into_iter()
            .map(|(u, groups)| {
                let all = match mode {
                    NestedGroups::Flatten => self.with_ancestors(&groups),
                    NestedGroups::Direct => groups,
                };
                (u, all.into_iter().filter(|g| synced.contains(g)).collect())
            })
            .collect()
    }

    /// The groups that have one of `groups` as a (transitive) child, and `groups` themselves.
    pub(crate) fn with_ancestors(&self, groups: &BTreeSet<String>) -> BTreeSet<String> {
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, node) in &self.groups {
            for child in &node.groups {
                parents.entry(child.as_str()).or_default().push(id.as_str());
            }
        }
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<&str> = groups.iter().map(String::as_str).collect();
        while let Some(g) = stack.pop() {
            if !seen.insert(g.to_owned()) {
                continue;
            }
            if let Some(ps) = parents.get(g) {
                stack.extend(ps.iter().copied());
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Tenant {
        let mut t = Tenant::default();
        let (ann, bob, cid) = (t.ids.intern("ann"), t.ids.intern("bob"), t.ids.intern("cid"));
        t.passing.extend([ann, bob, cid]);
        let node = |name: &str, users: &[u32], groups: &[&str]| Node {
            name: name.into(),
            users: users.to_vec(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        t.groups.insert("g-all".into(), node("All", &[ann], &["g-eng"]));
        t.groups
            .insert("g-eng".into(), node("Eng", &[bob], &["g-all", "g-ops"]));
        t.groups.insert("g-ops".into(), node("Ops", &[cid], &[]));
        t
    }

    #[test]
    fn cursor_round_trips_and_checks_the_fingerprint() {
        let t = tenant();
        let text = t.to_cursor("fp", "u-link", "g-link").unwrap();
        let (back, u, g) = Tenant::from_cursor(&text, "fp").unwrap();
        assert_eq!((u.as_str(), g.as_str()), ("u-link", "g-link"));
        assert_eq!(back.groups.len(), 3);
        assert_eq!(back.passing.len(), 3);
        let all: BTreeSet<String> = ["g-all".to_owned()].into();
        assert_eq!(
            back.resolve(&all, NestedGroups::Flatten)["g-all"],
            ["ann", "bob", "cid"]
        );
        assert!(Tenant::from_cursor(&text, "other")
            .unwrap_err()
            .contains("changed"));
        assert!(Tenant::from_cursor("{", "fp").is_err());
    }

    #[test]
    fn scope_by_name_or_id_and_cycles() {
        let t = tenant();
        assert_eq!(
            t.synced(&["eng".into()]).unwrap(),
            BTreeSet::from(["g-eng".to_owned()])
        );
        assert!(t.synced(&["nope".into()]).is_err());
        let eng = t.synced(&["g-eng".into()]).unwrap();
        assert_eq!(t.in_scope(true, &eng, NestedGroups::Flatten).len(), 3);
        assert_eq!(t.in_scope(true, &eng, NestedGroups::Direct).len(), 1);
        let ops: BTreeSet<String> = ["g-ops".to_owned()].into();
        assert_eq!(
            t.with_ancestors(&ops),
            BTreeSet::from(["g-all".to_owned(), "g-eng".to_owned(), "g-ops".to_owned()])
        );
    }
}
