//! Nested groups: turning "group A contains group B" into the user members each group gives.
//!
//! Identity providers nest groups; applications usually want the people. Connectors hand
//! their raw groups to [`resolve_nesting`] so every source flattens the same way.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::GroupRecord;

/// How nested group members are treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NestedGroups {
    /// Each group gets the transitive set of its user members.
    #[default]
    Flatten,
    /// Each group gets its direct user members only (what Entra's own provisioning does).
    Direct,
}

/// A group as a source lists it: direct user members and direct child groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedGroup {
    pub external_id: String,
    pub display_name: String,
    pub user_members: Vec<String>,
    pub group_members: Vec<String>,
}

/// Resolves nesting into plain groups with user members, sorted and without duplicates.
///
/// Child groups that are not in `groups` contribute nothing. Cycles (A in B, B in A) are
/// harmless: each group's walk visits every group at most once.
pub fn resolve_nesting(groups: Vec<NestedGroup>, mode: NestedGroups) -> Vec<GroupRecord> {
    let index: HashMap<&str, &NestedGroup> = groups.iter().map(|g| (g.external_id.as_str(), g)).collect();
    let resolved: Vec<GroupRecord> = groups
        .iter()
        .map(|group| {
            let mut members: Vec<String> = match mode {
                NestedGroups::Direct => group.user_members.clone(),
                NestedGroups::Flatten => transitive_users(group, &index),
            };
            members.sort_unstable();
            members.dedup();
            GroupRecord {
                external_id: group.external_id.clone(),
                display_name: group.display_name.clone(),
                members,
            }
        })
        .collect();
    resolved
}

fn transitive_users(root: &NestedGroup, index: &HashMap<&str, &NestedGroup>) -> Vec<String> {
    let mut seen: HashSet<&str> = HashSet::from([root.external_id.as_str()]);
    let mut stack = vec![root];
    let mut users = Vec::new();
    while let Some(group) = stack.pop() {
        users.extend(group.user_members.iter().cloned());
        for child in &group.group_members {
            if let Some(child_group) = index.get(child.as_str()) {
                if seen.insert(child.as_str()) {
                    stack.push(child_group);
                }
            }
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, users: &[&str], groups: &[&str]) -> NestedGroup {
        NestedGroup {
            external_id: id.into(),
            display_name: format!("Group {id}"),
            user_members: users.iter().map(|s| s.to_string()).collect(),
            group_members: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn members(resolved: &[GroupRecord]) -> Vec<(String, Vec<String>)> {
        resolved
            .iter()
            .map(|g| (g.external_id.clone(), g.members.clone()))
            .collect()
    }

    fn owned(rows: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        rows.iter()
            .map(|(id, m)| (id.to_string(), m.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn flatten_gives_transitive_members_and_direct_does_not() {
        let groups = vec![
            group("all", &["ceo"], &["eng", "sales"]),
            group("eng", &["ann", "bob"], &["platform"]),
            group("platform", &["cid", "ann"], &[]),
            group("sales", &["dee"], &["unknown-group"]),
        ];
        assert_eq!(
            members(&resolve_nesting(groups.clone(), NestedGroups::Flatten)),
            owned(&[
                ("all", &["ann", "bob", "ceo", "cid", "dee"]),
                ("eng", &["ann", "bob", "cid"]),
                ("platform", &["ann", "cid"]),
                ("sales", &["dee"]),
            ])
        );
        assert_eq!(
            members(&resolve_nesting(groups, NestedGroups::Direct)),
            owned(&[
                ("all", &["ceo"]),
                ("eng", &["ann", "bob"]),
                ("platform", &["ann", "cid"]),
                ("sales", &["dee"]),
            ])
        );
    }

    #[test]
    fn cycles_terminate_and_share_members() {
        let groups = vec![
            group("a", &["u1"], &["b"]),
            group("b", &["u2"], &["c"]),
            group("c", &["u3"], &["a", "c"]),
        ];
        let expected: &[&str] = &["u1", "u2", "u3"];
        assert_eq!(
            members(&resolve_nesting(groups, NestedGroups::Flatten)),
            owned(&[("a", expected), ("b", expected), ("c", expected)])
        );
    }
}
