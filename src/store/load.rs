//! Reading what one source's run needs to see.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDateTime;
use idsync_source::{ChangeSet, MembersChange};

use diesel::prelude::*;

use super::models::{GroupRow, LinkRow, UserRow};
use super::schema::{conflicts, group_members, groups, sync_state, user_links, users};
use super::{with_conn, Db, StoreError};
use crate::local::LocalState;
use crate::matcher::identity_key;
use crate::planner::PlanSettings;

/// Loads the local state for `source`.
pub fn load_local(db: &mut Db, source: &str) -> Result<LocalState, StoreError> {
    with_conn!(db, c => {
        let users = users::table.select(UserRow::as_select()).load(c)?;
        let links = user_links::table.select(LinkRow::as_select()).load(c)?;
        let groups = groups::table
            .filter(groups::source.eq(source).or(groups::source.is_null()))
            .select(GroupRow::as_select())
            .load(c)?;
        let pairs: Vec<(i64, i64)> = group_members::table
            .inner_join(groups::table)
            .filter(groups::source.eq(source))
            .select((group_members::group_id, group_members::user_id))
            .load(c)?;
        let mut members: HashMap<i64, HashSet<i64>> = HashMap::new();
        for (g, u) in pairs {
            members.entry(g).or_default().insert(u);
        }
        let open_conflicts: HashSet<String> = conflicts::table
            .filter(conflicts::connector.eq(source).and(conflicts::status.eq("open")))
            .select(conflicts::external_id)
            .load::<String>(c)?
            .into_iter()
            .collect();
        let last_success: Option<Option<chrono::NaiveDateTime>> = sync_state::table
            .find(source)
            .select(sync_state::last_success_at)
            .first(c)
            .optional()?;
        Ok(LocalState {
            users: users.into_iter().map(Into::into).collect(),
            links: links.into_iter().map(Into::into).collect(),
            groups: groups.into_iter().map(Into::into).collect(),
            members,
            open_conflicts,
            first_sync: last_success.flatten().is_none(),
            owned_counts: None,
        })
    })
}

diesel::define_sql_function! {
    /// SQL `lower()`; SQLite folds ASCII only, which is why non-ASCII names take the full load.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    #[sql_name = "lower"]
    fn lower_nullable(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
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
pub fn load_local_for_changes(
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
    // Records may match by link or by the users' external id column; removals and member
    // references are resolved through this source's links only.
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
    let linked_ids: Vec<&str> = linked_ids.into_iter().collect();
    let keys = |values: &mut dyn Iterator<Item = &str>| -> Vec<String> {
        let set: BTreeSet<String> = values.map(identity_key).collect();
        set.into_iter().collect()
    };
    let upns = keys(&mut changes.users.iter().map(|r| r.upn.as_str()));
    let emails = keys(&mut changes.users.iter().filter_map(|r| r.email.as_deref()));
    let group_ids: Vec<&str> = changes
        .groups
        .iter()
        .map(|g| g.external_id.as_str())
        .chain(changes.removed_groups.iter().map(String::as_str))
        .collect();
    let cutoff = settings
        .delete_archived_after_days
        .map(|d| now - chrono::Duration::days(i64::from(d)));

    let state = with_conn!(db, c => {
        let mut ids: HashSet<i64> = HashSet::new();
        // (source, external_id) is the links' primary key: these lookups use it.
        for chunk in linked_ids.chunks(KEYS_PER_QUERY) {
            ids.extend(user_links::table
                .filter(user_links::source.eq(source).and(user_links::external_id.eq_any(chunk)))
                .select(user_links::user_id)
                .load::<i64>(c)?);
        }
        for chunk in record_ids.chunks(KEYS_PER_QUERY) {
            ids.extend(users::table.filter(users::external_id.eq_any(chunk)).select(users::id).load::<i64>(c)?);
        }
        for chunk in upns.chunks(KEYS_PER_QUERY) {
            ids.extend(users::table.filter(lower(users::upn).eq_any(chunk)).select(users::id).load::<i64>(c)?);
        }
        for chunk in emails.chunks(KEYS_PER_QUERY) {
            ids.extend(users::table.filter(lower_nullable(users::email).eq_any(chunk)).select(users::id).load::<i64>(c)?);
        }
        if let Some(cutoff) = cutoff {
            ids.extend(users::table
                .filter(users::source.eq(source).and(users::archived_at.le(cutoff)))
                .select(users::id)
                .load::<i64>(c)?);
        }
        let mut groups: Vec<GroupRow> = Vec::new();
        for chunk in group_ids.chunks(KEYS_PER_QUERY) {
            groups.extend(groups::table
                .filter(groups::source.eq(source).and(groups::external_id.eq_any(chunk)))
                .select(GroupRow::as_select())
                .load(c)?);
        }
        if settings.match_groups_by_name {
            groups.extend(groups::table.filter(groups::source.is_null()).select(GroupRow::as_select()).load(c)?);
        }
        let owned_group_ids: Vec<i64> = groups.iter().filter(|g| g.source.as_deref() == Some(source)).map(|g| g.id).collect();
        let mut members: HashMap<i64, HashSet<i64>> = HashMap::new();
        for chunk in owned_group_ids.chunks(KEYS_PER_QUERY) {
            let pairs: Vec<(i64, i64)> = group_members::table
                .filter(group_members::group_id.eq_any(chunk))
                .select((group_members::group_id, group_members::user_id))
                .load(c)?;
            for (g, u) in pairs {
                ids.insert(u);
                members.entry(g).or_default().insert(u);
            }
        }
        let ids: Vec<i64> = ids.into_iter().collect();
        let mut users = Vec::with_capacity(ids.len());
        let mut links = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(KEYS_PER_QUERY) {
            users.extend(users::table.filter(users::id.eq_any(chunk)).select(UserRow::as_select()).load(c)?);
            links.extend(user_links::table.filter(user_links::user_id.eq_any(chunk)).select(LinkRow::as_select()).load(c)?);
        }
        users.sort_by_key(|u: &UserRow| u.id);
        let open_conflicts: HashSet<String> = conflicts::table
            .filter(conflicts::connector.eq(source).and(conflicts::status.eq("open")))
            .select(conflicts::external_id)
            .load::<String>(c)?
            .into_iter()
            .collect();
        let last_success: Option<Option<NaiveDateTime>> = sync_state::table
            .find(source)
            .select(sync_state::last_success_at)
            .first(c)
            .optional()?;
        let owned_users: i64 = users::table.filter(users::source.eq(source)).count().get_result(c)?;
        let owned_groups: i64 = groups::table.filter(groups::source.eq(source)).count().get_result(c)?;
        Ok::<_, StoreError>(LocalState {
            users: users.into_iter().map(Into::into).collect(),
            links: links.into_iter().map(Into::into).collect(),
            groups: groups.into_iter().map(Into::into).collect(),
            members,
            open_conflicts,
            first_sync: last_success.flatten().is_none(),
            owned_counts: Some((u64::try_from(owned_users).unwrap_or(0), u64::try_from(owned_groups).unwrap_or(0))),
        })
    })?;
    Ok(Some(state))
}
