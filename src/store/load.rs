//! Reading what one source's run needs to see.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDateTime;
use idsync_source::{ChangeSet, MembersChange};

use diesel::prelude::*;

use super::models::{GroupRow, LinkRow, UserRow};
use super::schema::{conflicts, group_members, groups, sync_state, user_links, users};
use super::sql::{lower, lower_nullable};
use super::{with_conn, Db, StoreError};
use crate::local::LocalState;
use crate::matcher::identity_key;
use crate::planner::PlanSettings;

/// Loads the local state for `source`.
pub(crate) fn load_local(db: &mut Db, source: &str) -> Result<LocalState, StoreError> {
    let users = with_conn!(db, |c| users::table.select(UserRow::as_select()).load(c))?;
    let links = with_conn!(db, |c| user_links::table.select(LinkRow::as_select()).load(c))?;
    let groups = with_conn!(db, |c| groups::table
        .filter(groups::source.eq(source).or(groups::source.is_null()))
        .select(GroupRow::as_select())
        .load(c))?;
    let pairs: Vec<(i64, i64)> = with_conn!(db, |c| group_members::table
        .inner_join(groups::table)
        .filter(groups::source.eq(source))
        .select((group_members::group_id, group_members::user_id))
        .load(c))?;
    let mut members: HashMap<i64, HashSet<i64>> = HashMap::new();
    for (g, u) in pairs {
        members.entry(g).or_default().insert(u);
    }
    Ok(LocalState {
        users: users.into_iter().map(Into::into).collect(),
        links: links.into_iter().map(Into::into).collect(),
        groups: groups.into_iter().map(Into::into).collect(),
        members,
        open_conflicts: open_conflicts(db, source)?,
        first_sync: first_sync(db, source)?,
        owned_counts: None,
    })
}

/// Parameters per `IN (...)` list, well under SQLite's bound-parameter limit.
const KEYS_PER_QUERY: usize = 500;

/// Loads only what an incremental change set can touch: the users its records may match (by
/// link, external id, UPN, email), the users its removals and member changes name, the
/// current members of the groups it changes, the source's purge candidates, their links,
/// and the source's counts for the deletion guard. The planner gives the same plan as with
/// [`load_local`], for a fraction of a large directory's cost.
///
/// Returns `None` when a record's UPN or email is not ASCII: SQL's `lower()` cannot match the
/// matcher's Unicode folding, so such a run takes the full load.
pub(crate) fn load_local_for_changes(
    db: &mut Db,
    source: &str,
    changes: &ChangeSet,
    settings: &PlanSettings,
    now: NaiveDateTime,
) -> Result<Option<LocalState>, StoreError> {
    let ascii = changes
        .users
        .iter()
        .all(|r| r.upn.is_ascii() && r.email.as_deref().is_none_or(str::is_ascii));
    if !ascii {
        return Ok(None);
    }
    let keys = ChangeKeys::of(changes, settings, now);
    let mut ids = candidate_users(db, source, &keys)?;
    let groups = changed_groups(db, source, &keys.group_ids, settings.match_groups_by_name)?;
    let owned: Vec<i64> = groups
        .iter()
        .filter(|g| g.source.as_deref() == Some(source))
        .map(|g| g.id)
        .collect();
    let members = members_of(db, &owned, &mut ids)?;
    let ids: Vec<i64> = ids.into_iter().collect();
    let (mut users, links) = users_and_links(db, &ids)?;
    users.sort_by_key(|u: &UserRow| u.id);
    let open_conflicts = open_conflicts(db, source)?;
    let first_sync = first_sync(db, source)?;
    let owned_counts = Some(owned_counts(db, source)?);
    Ok(Some(LocalState {
        users: users.into_iter().map(Into::into).collect(),
        links: links.into_iter().map(Into::into).collect(),
        groups: groups.into_iter().map(Into::into).collect(),
        members,
        open_conflicts,
        first_sync,
        owned_counts,
    }))
}

/// What a change set names, as the targeted load looks it up.
struct ChangeKeys<'a> {
    /// The records' external ids: they may match by link or by the users' column.
    record_ids: Vec<&'a str>,
    /// Removals and member references resolve through this source's links only.
    linked_ids: Vec<&'a str>,
    upns: Vec<String>,
    emails: Vec<String>,
    group_ids: Vec<&'a str>,
    /// Users archived before this are purge candidates.
    cutoff: Option<NaiveDateTime>,
}

impl<'a> ChangeKeys<'a> {
    fn of(changes: &'a ChangeSet, settings: &PlanSettings, now: NaiveDateTime) -> Self {
        let record_ids: Vec<&str> = changes.users.iter().map(|r| r.external_id.as_str()).collect();
        let mut linked_ids: BTreeSet<&str> = record_ids.iter().copied().collect();
        linked_ids.extend(changes.removed_users.iter().map(String::as_str));
        for group in &changes.groups {
            match &group.members {
                MembersChange::Unchanged => {}
                MembersChange::Replace(list) => linked_ids.extend(list.iter().map(String::as_str)),
                MembersChange::Delta { added, removed } => {
                    linked_ids.extend(added.iter().map(String::as_str));
                    linked_ids.extend(removed.iter().map(String::as_str));
                }
            }
        }
        let keys = |values: &mut dyn Iterator<Item = &str>| -> Vec<String> {
            let set: BTreeSet<String> = values.map(identity_key).collect();
            set.into_iter().collect()
        };
        let group_ids = changes
            .groups
            .iter()
            .map(|g| g.external_id.as_str())
            .chain(changes.removed_groups.iter().map(String::as_str))
            .collect();
        ChangeKeys {
            linked_ids: linked_ids.into_iter().collect(),
            upns: keys(&mut changes.users.iter().map(|r| r.upn.as_str())),
            emails: keys(&mut changes.users.iter().filter_map(|r| r.email.as_deref())),
            record_ids,
            group_ids,
            cutoff: settings
                .delete_archived_after_days
                .map(|d| now - chrono::Duration::days(i64::from(d))),
        }
    }
}

/// The ids of the users the change set's records and references may touch.
fn candidate_users(db: &mut Db, source: &str, keys: &ChangeKeys<'_>) -> Result<HashSet<i64>, StoreError> {
    let mut ids: HashSet<i64> = HashSet::new();
    // (source, external_id) is the links' primary key: these lookups use it.
    for chunk in keys.linked_ids.chunks(KEYS_PER_QUERY) {
        let links = user_links::table.filter(
            user_links::source
                .eq(source)
                .and(user_links::external_id.eq_any(chunk)),
        );
        ids.extend(with_conn!(db, |c| links
            .select(user_links::user_id)
            .load::<i64>(c))?);
    }
    for chunk in keys.record_ids.chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(users::external_id.eq_any(chunk));
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    for chunk in keys.upns.chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(lower(users::upn).eq_any(chunk));
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    for chunk in keys.emails.chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(lower_nullable(users::email).eq_any(chunk));
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    if let Some(cutoff) = keys.cutoff {
        let found = users::table.filter(users::source.eq(source).and(users::archived_at.le(cutoff)));
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    Ok(ids)
}

/// The source's groups the change set names, and the application's own groups when groups
/// may be matched by name.
fn changed_groups(
    db: &mut Db,
    source: &str,
    group_ids: &[&str],
    by_name: bool,
) -> Result<Vec<GroupRow>, StoreError> {
    let mut groups: Vec<GroupRow> = Vec::new();
    for chunk in group_ids.chunks(KEYS_PER_QUERY) {
        let found = groups::table.filter(groups::source.eq(source).and(groups::external_id.eq_any(chunk)));
        groups.extend(with_conn!(db, |c| found.select(GroupRow::as_select()).load(c))?);
    }
    if by_name {
        let local = groups::table.filter(groups::source.is_null());
        groups.extend(with_conn!(db, |c| local.select(GroupRow::as_select()).load(c))?);
    }
    Ok(groups)
}

/// The current members of `group_ids`; each member joins `ids`.
fn members_of(
    db: &mut Db,
    group_ids: &[i64],
    ids: &mut HashSet<i64>,
) -> Result<HashMap<i64, HashSet<i64>>, StoreError> {
    let mut members: HashMap<i64, HashSet<i64>> = HashMap::new();
    for chunk in group_ids.chunks(KEYS_PER_QUERY) {
        let rows = group_members::table.filter(group_members::group_id.eq_any(chunk));
        let pairs: Vec<(i64, i64)> = with_conn!(db, |c| rows
            .select((group_members::group_id, group_members::user_id))
            .load(c))?;
        for (g, u) in pairs {
            ids.insert(u);
            members.entry(g).or_default().insert(u);
        }
    }
    Ok(members)
}

/// The users with `ids` and all their links.
fn users_and_links(db: &mut Db, ids: &[i64]) -> Result<(Vec<UserRow>, Vec<LinkRow>), StoreError> {
    let mut users = Vec::with_capacity(ids.len());
    let mut links = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(users::id.eq_any(chunk));
        users.extend(with_conn!(db, |c| found.select(UserRow::as_select()).load(c))?);
        let theirs = user_links::table.filter(user_links::user_id.eq_any(chunk));
        links.extend(with_conn!(db, |c| theirs.select(LinkRow::as_select()).load(c))?);
    }
    Ok((users, links))
}

/// The external ids of the source's open conflicts.
fn open_conflicts(db: &mut Db, source: &str) -> Result<HashSet<String>, StoreError> {
    let open = conflicts::table.filter(conflicts::connector.eq(source).and(conflicts::status.eq("open")));
    let ids = with_conn!(db, |c| open.select(conflicts::external_id).load::<String>(c))?;
    Ok(ids.into_iter().collect())
}

/// True until the source's first successful run.
fn first_sync(db: &mut Db, source: &str) -> Result<bool, StoreError> {
    let last_success: Option<Option<NaiveDateTime>> = with_conn!(db, |c| sync_state::table
        .find(source)
        .select(sync_state::last_success_at)
        .first(c)
        .optional())?;
    Ok(last_success.flatten().is_none())
}

/// How many users and groups the source owns (for the deletion guard's percentages).
fn owned_counts(db: &mut Db, source: &str) -> Result<(u64, u64), StoreError> {
    let users: i64 = with_conn!(db, |c| users::table
        .filter(users::source.eq(source))
        .count()
        .get_result(c))?;
    let groups: i64 = with_conn!(db, |c| groups::table
        .filter(groups::source.eq(source))
        .count()
        .get_result(c))?;
    Ok((
        u64::try_from(users).unwrap_or(0),
        u64::try_from(groups).unwrap_or(0),
    ))
}
