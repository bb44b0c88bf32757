//! The group part of a plan: creates, links by name, renames, deletions and membership
//! changes of the groups a source owns.

use std::collections::{HashMap, HashSet};

use idsync_source::{Fetched, MembersChange};

use super::model::*;
use crate::local::{LocalGroup, LocalState};
use crate::matcher::{identity_key, Matcher};

/// What group planning reads from the rest of the run.
pub(super) struct GroupContext<'a, 'm> {
    pub matcher: &'a Matcher<'m>,
    pub source: &'a str,
    pub fetched: &'a Fetched,
    pub local: &'a LocalState,
    /// Adopt an unowned local group with the same display name instead of creating one.
    pub match_by_name: bool,
    /// External id -> the user it denotes after this run.
    pub slots: &'a HashMap<&'a str, UserRef>,
    /// Users that end the run archived: their memberships are kept, not removed.
    pub archived_after: &'a HashSet<i64>,
    /// Users whose record is present but refused: never removed from a group.
    pub protected: &'a HashSet<i64>,
}

/// One group as the fetch states it: external id, display name (if stated), members.
type Stated<'a> = (&'a str, Option<&'a str>, MembersView<'a>);

enum MembersView<'a> {
    Unchanged,
    Replace(&'a [String]),
    Delta(&'a [String], &'a [String]),
}

/// Plans every group change of the run.
pub(super) fn plan_groups(plan: &mut Plan, cx: &GroupContext<'_, '_>) {
    let owned: HashMap<&str, &LocalGroup> = cx
        .local
        .groups
        .iter()
        .filter(|g| g.source.as_deref() == Some(cx.source))
        .filter_map(|g| g.external_id.as_deref().map(|e| (e, g)))
        .collect();
    let mut by_name: HashMap<String, &LocalGroup> = HashMap::new();
    if cx.match_by_name {
        for g in cx.local.groups.iter().filter(|g| g.source.is_none()) {
            by_name.entry(identity_key(&g.display_name)).or_insert(g);
        }
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for (ext, name, members) in stated_groups(cx.fetched) {
        if !seen.insert(ext) {
            continue;
        }
        let (group, current) = place_group(plan, cx, &owned, &mut by_name, ext, name);
        let group_name = match group {
            GroupRef::New(i) => plan.group_creates[i].display_name.clone(),
            GroupRef::Existing(_) => name
                .map(str::to_owned)
                .or_else(|| owned.get(ext).map(|g| g.display_name.clone()))
                .unwrap_or_default(),
        };
        let empty = HashSet::new();
        let (mut added, mut removed) = member_changes(cx, members, current.unwrap_or(&empty));
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        sort_refs(&mut added);
        removed.sort_unstable();
        for &r in &added {
            if let UserRef::Existing(id) = r {
                label(plan, cx.matcher, id);
            }
        }
        for &id in &removed {
            label(plan, cx.matcher, id);
        }
        plan.memberships.push(MembershipChange {
            group,
            group_name,
            added,
            removed,
        });
    }
    plan_group_deletes(plan, cx.fetched, &owned, &seen);
}

/// The groups the fetch states, in its order.
fn stated_groups(fetched: &Fetched) -> Vec<Stated<'_>> {
    match fetched {
        Fetched::Snapshot(s) => s
            .groups
            .iter()
            .map(|g| {
                (
                    g.external_id.as_str(),
                    Some(g.display_name.as_str()),
                    MembersView::Replace(&g.members),
                )
            })
            .collect(),
        Fetched::Changes(c) => c
            .groups
            .iter()
            .map(|g| {
                let view = match &g.members {
                    MembersChange::Unchanged => MembersView::Unchanged,
                    MembersChange::Replace(m) => MembersView::Replace(m),
                    MembersChange::Delta { added, removed } => MembersView::Delta(added, removed),
                };
                (g.external_id.as_str(), g.display_name.as_deref(), view)
            })
            .collect(),
    }
}

/// The local group a stated group is (owned, adopted by name, or to be created), with its
/// current members; plans the rename, link or create that takes.
fn place_group<'l>(
    plan: &mut Plan,
    cx: &GroupContext<'l, '_>,
    owned: &HashMap<&str, &'l LocalGroup>,
    by_name: &mut HashMap<String, &'l LocalGroup>,
    ext: &str,
    name: Option<&str>,
) -> (GroupRef, Option<&'l HashSet<i64>>) {
    if let Some(g) = owned.get(ext) {
        if let Some(name) = name.filter(|n| *n != g.display_name) {
            plan.group_renames.push(GroupRename {
                group_id: g.id,
                before: g.display_name.clone(),
                after: name.to_owned(),
            });
        }
        (GroupRef::Existing(g.id), cx.local.members.get(&g.id))
    } else if let Some(g) = name.and_then(|n| by_name.remove(&identity_key(n))) {
        plan.group_links.push(GroupLink {
            group_id: g.id,
            external_id: ext.to_owned(),
            display_name: g.display_name.clone(),
        });
        (GroupRef::Existing(g.id), cx.local.members.get(&g.id))
    } else {
        plan.group_creates.push(GroupCreate {
            external_id: ext.to_owned(),
            display_name: name.unwrap_or(ext).to_owned(),
        });
        (GroupRef::New(plan.group_creates.len() - 1), None)
    }
}

/// The members to add and the user ids to remove, given the group's `current` members.
fn member_changes(
    cx: &GroupContext<'_, '_>,
    members: MembersView<'_>,
    current: &HashSet<i64>,
) -> (Vec<UserRef>, Vec<i64>) {
    let resolve_user = |ext: &str| -> Option<UserRef> {
        cx.slots.get(ext).copied().or_else(|| {
            cx.matcher
                .linked(cx.source, ext)
                .map(|i| UserRef::Existing(cx.matcher.users()[i].id))
        })
    };
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    match members {
        MembersView::Unchanged => {}
        MembersView::Replace(list) => {
            let wanted: HashSet<UserRef> = list.iter().filter_map(|e| resolve_user(e)).collect();
            added.extend(wanted.iter().copied().filter(|r| match r {
                UserRef::Existing(id) => !current.contains(id),
                UserRef::New(_) => true,
            }));
            removed.extend(current.iter().copied().filter(|id| {
                !wanted.contains(&UserRef::Existing(*id))
                    && !cx.archived_after.contains(id)
                    && !cx.protected.contains(id)
            }));
        }
        MembersView::Delta(add, remove) => {
            let mut batch: HashSet<UserRef> = HashSet::new();
            for r in add.iter().filter_map(|e| resolve_user(e)) {
                let new = match r {
                    UserRef::Existing(id) => !current.contains(&id),
                    UserRef::New(_) => true,
                };
                if new && batch.insert(r) {
                    added.push(r);
                }
            }
            for r in remove.iter().filter_map(|e| resolve_user(e)) {
                if let UserRef::Existing(id) = r {
                    if current.contains(&id) && !removed.contains(&id) {
                        removed.push(id);
                    }
                }
            }
        }
    }
    (added, removed)
}

/// Owned groups gone upstream: absent from a snapshot, or named removed by a change set.
fn plan_group_deletes(
    plan: &mut Plan,
    fetched: &Fetched,
    owned: &HashMap<&str, &LocalGroup>,
    seen: &HashSet<&str>,
) {
    let mut gone: Vec<&LocalGroup> = match fetched {
        Fetched::Snapshot(_) => owned
            .iter()
            .filter(|(e, _)| !seen.contains(*e))
            .map(|(_, g)| *g)
            .collect(),
        Fetched::Changes(c) => c
            .removed_groups
            .iter()
            .filter_map(|e| owned.get(e.as_str()).copied())
            .collect(),
    };
    gone.sort_by_key(|g| g.id);
    for g in gone {
        plan.group_deletes.push(GroupDelete {
            group_id: g.id,
            display_name: g.display_name.clone(),
        });
    }
}

fn sort_refs(refs: &mut [UserRef]) {
    refs.sort_by_key(|r| match r {
        UserRef::Existing(id) => (0, *id, 0),
        UserRef::New(i) => (1, 0, *i),
    });
}

fn label(plan: &mut Plan, matcher: &Matcher<'_>, id: i64) {
    if let (std::collections::hash_map::Entry::Vacant(slot), Some(i)) =
        (plan.user_labels.entry(id), matcher.index_of(id))
    {
        slot.insert(matcher.users()[i].upn.clone());
    }
}
