//! Reading what one source's run needs to see.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDateTime;
use idsync_source::{ChangeSet, MembersChange};

use diesel::prelude::*;

use super::any_of::any_of;
use super::keys::fill_missing;
use super::models::{GroupRow, LinkRow, UserRow};
use super::schema::{conflicts, group_members, groups, sync_state, user_links, users};
use super::{with_conn, Db, StoreError};
use crate::local::LocalState;
use crate::matcher::identity_key;
use crate::planner::PlanSettings;

/// Loads the local state of `tenant` for `source`: the tenant's users, links and groups,
/// nobody else's.
pub(crate) fn load_local(db: &mut Db, tenant: &str, source: &str) -> Result<LocalState, StoreError> {
    // In row order, as the planner's output follows it (a tenant index would give UPN order).
    let users = with_conn!(db, |c| users::table
        .filter(users::tenant_id.eq(tenant))
        .order(users::id)
        .select(UserRow::as_select())
        .load(c))?;
    let links = with_conn!(db, |c| user_links::table
        .filter(user_links::tenant_id.eq(tenant))
        .select(LinkRow::as_select())
        .load(c))?;
    let groups = with_conn!(db, |c| groups::table
        .filter(groups::tenant_id.eq(tenant))
        .filter(groups::source.eq(source).or(groups::source.is_null()))
        .order(groups::id)
        .select(GroupRow::as_select())
        .load(c))?;
    let pairs: Vec<(i64, i64)> = with_conn!(db, |c| group_members::table
        .inner_join(groups::table)
        .filter(groups::tenant_id.eq(tenant).and(groups::source.eq(source)))
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
        open_conflicts: open_conflicts(db, tenant, source)?,
        kept_apart: kept_apart(db, tenant, source, None)?,
        first_sync: first_sync(db, tenant, source)?,
        owned_counts: None,
    })
}

/// Parameters per `IN (...)` list, well under SQLite's bound-parameter limit (a SCIM group
/// PATCH may name 40,000 members).
const KEYS_PER_QUERY: usize = 500;

/// What a targeted load looks up: the rows a change may touch. UPNs and emails are given as
/// they are; the load compares their [`identity_key`]s with the key columns.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub scim_ids: Vec<String>,
    /// External ids of `source`'s links (and of the `external_id` column).
    pub external_ids: Vec<String>,
    /// External ids resolved through `source`'s links only (removals, member references).
    pub linked_ids: Vec<String>,
    pub upns: Vec<String>,
    pub emails: Vec<String>,
    /// User row ids (e.g. the members a group change names).
    pub user_ids: Vec<i64>,
    /// External ids of `source`'s groups.
    pub group_external_ids: Vec<String>,
    /// Group row ids (a local group a SCIM client is about to take over).
    pub group_ids: Vec<i64>,
    /// Load every member of the groups (a full member replacement); otherwise only the
    /// memberships of the loaded users.
    pub all_members: bool,
}

/// What a caller of [`load_local_for`] needs beyond the rows [`Keys`] names.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Users of the source archived before this are purge candidates.
    pub purge_before: Option<NaiveDateTime>,
    /// Load the application's own groups too (groups may be matched by name).
    pub local_groups: bool,
    /// The members of the loaded groups join the loaded users.
    pub member_users: bool,
    /// Load what only a run reads: open conflicts, first sync, the deletion guard's counts.
    pub run_state: bool,
}

/// Loads only what an incremental change set can touch, through [`load_local_for`]: the
/// planner gives the same plan as with [`load_local`], for a fraction of a large
/// directory's cost.
pub fn load_local_for_changes(
    db: &mut Db,
    tenant: &str,
    source: &str,
    changes: &ChangeSet,
    settings: &PlanSettings,
    now: NaiveDateTime,
) -> Result<LocalState, StoreError> {
    let options = LoadOptions {
        purge_before: settings
            .delete_archived_after_days
            .map(|d| now - chrono::Duration::days(i64::from(d))),
        local_groups: settings.match_groups_by_name,
        member_users: true,
        run_state: true,
    };
    load_local_for(db, tenant, source, &keys_of(changes), &options)
}

/// What a change set names, as [`load_local_for`] looks it up.
fn keys_of(changes: &ChangeSet) -> Keys {
    let owned = |v: &String| v.clone();
    let mut linked_ids: BTreeSet<&String> = changes.removed_users.iter().collect();
    for group in &changes.groups {
        match &group.members {
            MembersChange::Unchanged => {}
            MembersChange::Replace(list) => linked_ids.extend(list),
            MembersChange::Delta { added, removed } => linked_ids.extend(added.iter().chain(removed)),
        }
    }
    Keys {
        external_ids: changes.users.iter().map(|r| r.external_id.clone()).collect(),
        linked_ids: linked_ids.into_iter().map(owned).collect(),
        upns: changes.users.iter().map(|r| r.upn.clone()).collect(),
        emails: changes.users.iter().filter_map(|r| r.email.clone()).collect(),
        group_external_ids: changes
            .groups
            .iter()
            .map(|g| &g.external_id)
            .chain(&changes.removed_groups)
            .map(owned)
            .collect(),
        all_members: true,
        ..Keys::default()
    }
}

/// The one targeted load, for incremental runs and SCIM writes: the candidate users (by SCIM
/// id, by link, by external id, by UPN and email key) with all their links, the named groups
/// of `source` with their relevant memberships, and what `options` adds. The same
/// [`LocalState`] shape as [`load_local`], restricted to what one change touches.
pub fn load_local_for(
    db: &mut Db,
    tenant: &str,
    source: &str,
    keys: &Keys,
    options: &LoadOptions,
) -> Result<LocalState, StoreError> {
    // Rows written without keys (by the application) are found by key like any other.
    fill_missing(db)?;
    let mut ids = candidate_users(db, tenant, source, keys, options.purge_before)?;
    let groups = named_groups(db, tenant, source, keys, options.local_groups)?;
    let member_groups: Vec<i64> = groups
        .iter()
        .filter(|g| g.source.as_deref() == Some(source) || keys.group_ids.contains(&g.id))
        .map(|g| g.id)
        .collect();
    let members = memberships(
        db,
        &member_groups,
        keys.all_members,
        options.member_users,
        &mut ids,
    )?;
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    let (users, links) = users_and_links(db, tenant, &ids)?;
    let (open_conflicts, first_sync, owned_counts) = if options.run_state {
        (
            open_conflicts(db, tenant, source)?,
            first_sync(db, tenant, source)?,
            Some(owned_counts(db, tenant, source)?),
        )
    } else {
        // A SCIM write skips the deletion guard, the only reader of these.
        (HashSet::new(), false, None)
    };
    Ok(LocalState {
        users: users.into_iter().map(Into::into).collect(),
        links: links.into_iter().map(Into::into).collect(),
        groups: groups.into_iter().map(Into::into).collect(),
        members,
        open_conflicts,
        kept_apart: kept_apart(db, tenant, source, Some(&keys.external_ids))?,
        first_sync,
        owned_counts,
    })
}

/// The distinct comparison keys of `values`.
fn keys_of_values(values: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = values.iter().map(|v| identity_key(v)).collect();
    set.into_iter().collect()
}

/// The ids of the users the keys name, and the source's purge candidates.
fn candidate_users(
    db: &mut Db,
    tenant: &str,
    source: &str,
    keys: &Keys,
    purge_before: Option<NaiveDateTime>,
) -> Result<HashSet<i64>, StoreError> {
    let mut ids: HashSet<i64> = keys.user_ids.iter().copied().collect();
    // (source, external_id) is the links' primary key: these lookups use it.
    for chunk in keys
        .external_ids
        .chunks(KEYS_PER_QUERY)
        .chain(keys.linked_ids.chunks(KEYS_PER_QUERY))
    {
        let links = user_links::table.filter(
            user_links::tenant_id
                .eq(tenant)
                .and(user_links::source.eq(source))
                .and(any_of(user_links::external_id, chunk)),
        );
        ids.extend(with_conn!(db, |c| links
            .select(user_links::user_id)
            .load::<i64>(c))?);
    }
    for chunk in keys.external_ids.chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(users::tenant_id.eq(tenant).and(any_of(users::external_id, chunk)));
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    for chunk in keys.scim_ids.chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(users::tenant_id.eq(tenant).and(any_of(users::scim_id, chunk)));
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    for chunk in keys_of_values(&keys.upns).chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(users::tenant_id.eq(tenant).and(any_of(users::upn_key, chunk)));
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    for chunk in keys_of_values(&keys.emails).chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(users::tenant_id.eq(tenant).and(any_of(users::email_key, chunk)));
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    if let Some(cutoff) = purge_before {
        let found = users::table.filter(
            users::tenant_id
                .eq(tenant)
                .and(users::source.eq(source))
                .and(users::archived_at.le(cutoff)),
        );
        ids.extend(with_conn!(db, |c| found.select(users::id).load::<i64>(c))?);
    }
    Ok(ids)
}

/// The source's groups the keys name, the groups named by row id, and the application's own
/// groups when `local` (groups may be matched by name).
fn named_groups(
    db: &mut Db,
    tenant: &str,
    source: &str,
    keys: &Keys,
    local: bool,
) -> Result<Vec<GroupRow>, StoreError> {
    let mut groups: Vec<GroupRow> = Vec::new();
    for chunk in keys.group_external_ids.chunks(KEYS_PER_QUERY) {
        let found = groups::table.filter(
            groups::tenant_id
                .eq(tenant)
                .and(groups::source.eq(source))
                .and(any_of(groups::external_id, chunk)),
        );
        groups.extend(with_conn!(db, |c| found.select(GroupRow::as_select()).load(c))?);
    }
    for chunk in keys.group_ids.chunks(KEYS_PER_QUERY) {
        // By row id, the tenant checked on the rows: see `users_and_links`.
        let found = groups::table.filter(any_of(groups::id, chunk));
        let rows: Vec<(String, GroupRow)> = with_conn!(db, |c| found
            .select((groups::tenant_id, GroupRow::as_select()))
            .load(c))?;
        groups.extend(rows.into_iter().filter(|(t, _)| t == tenant).map(|(_, g)| g));
    }
    if local {
        let found = groups::table.filter(groups::tenant_id.eq(tenant).and(groups::source.is_null()));
        groups.extend(with_conn!(db, |c| found.select(GroupRow::as_select()).load(c))?);
    }
    let mut seen = HashSet::new();
    groups.retain(|g| seen.insert(g.id));
    Ok(groups)
}

/// The memberships of `group_ids`: all of them (`all`), or those of the users in `ids`.
/// With `join`, every member joins `ids`.
fn memberships(
    db: &mut Db,
    group_ids: &[i64],
    all: bool,
    join: bool,
    ids: &mut HashSet<i64>,
) -> Result<HashMap<i64, HashSet<i64>>, StoreError> {
    let mut pairs: Vec<(i64, i64)> = Vec::new();
    if all {
        for chunk in group_ids.chunks(KEYS_PER_QUERY) {
            let rows = group_members::table.filter(any_of(group_members::group_id, chunk));
            pairs.extend(with_conn!(db, |c| rows
                .select((group_members::group_id, group_members::user_id))
                .load::<(i64, i64)>(c))?);
        }
    } else if !group_ids.is_empty() {
        let users: Vec<i64> = ids.iter().copied().collect();
        for chunk in users.chunks(KEYS_PER_QUERY) {
            let rows = group_members::table.filter(
                any_of(group_members::group_id, group_ids).and(any_of(group_members::user_id, chunk)),
            );
            pairs.extend(with_conn!(db, |c| rows
                .select((group_members::group_id, group_members::user_id))
                .load::<(i64, i64)>(c))?);
        }
    }
    let mut members: HashMap<i64, HashSet<i64>> = HashMap::new();
    for (g, u) in pairs {
        if join {
            ids.insert(u);
        }
        members.entry(g).or_default().insert(u);
    }
    Ok(members)
}

/// The tenant's users with `ids` (in id order) and all their links.
fn users_and_links(
    db: &mut Db,
    tenant: &str,
    ids: &[i64],
) -> Result<(Vec<UserRow>, Vec<LinkRow>), StoreError> {
    let mut users = Vec::with_capacity(ids.len());
    let mut links = Vec::with_capacity(ids.len());
    // Looked up by row id and checked against the tenant here, not in SQL: with `tenant_id = ?`
    // beside `id IN (...)`, SQLite's planner (no statistics) prefers a tenant-led index and
    // scans the whole tenant once per chunk (a delta run took twice as long).
    for chunk in ids.chunks(KEYS_PER_QUERY) {
        let found = users::table.filter(any_of(users::id, chunk));
        let rows: Vec<(String, UserRow)> = with_conn!(db, |c| found
            .select((users::tenant_id, UserRow::as_select()))
            .load(c))?;
        users.extend(rows.into_iter().filter(|(t, _)| t == tenant).map(|(_, u)| u));
        let theirs = user_links::table.filter(any_of(user_links::user_id, chunk));
        let rows: Vec<(String, LinkRow)> = with_conn!(db, |c| theirs
            .select((user_links::tenant_id, LinkRow::as_select()))
            .load(c))?;
        links.extend(rows.into_iter().filter(|(t, _)| t == tenant).map(|(_, l)| l));
    }
    users.sort_by_key(|u: &UserRow| u.id);
    Ok((users, links))
}

/// The source's external ids an operator kept apart from local users, with those users: all
/// of them, or (`only`) those of the records a targeted load was given.
fn kept_apart(
    db: &mut Db,
    tenant: &str,
    source: &str,
    only: Option<&[String]>,
) -> Result<HashMap<String, HashSet<i64>>, StoreError> {
    let kept = || {
        conflicts::table
            .filter(conflicts::tenant_id.eq(tenant))
            .filter(conflicts::connector.eq(source))
            .filter(conflicts::status.eq(super::resolutions::KEPT_SEPARATE))
            .select((
                conflicts::external_id,
                conflicts::local_user_id,
                conflicts::other_user_id,
            ))
    };
    let mut rows: Vec<(String, Option<i64>, Option<i64>)> = Vec::new();
    match only {
        // A targeted load reads the decisions about the records it was given, not all of them.
        Some(external_ids) => {
            for chunk in external_ids.chunks(KEYS_PER_QUERY) {
                let found = kept().filter(any_of(conflicts::external_id, chunk));
                rows.extend(with_conn!(db, |c| found.load(c))?);
            }
        }
        None => rows = with_conn!(db, |c| kept().load(c))?,
    }
    let mut out: HashMap<String, HashSet<i64>> = HashMap::new();
    for (external_id, local, other) in rows {
        out.entry(external_id)
            .or_default()
            .extend(local.into_iter().chain(other));
    }
    Ok(out)
}

/// The external ids of the source's open conflicts.
fn open_conflicts(db: &mut Db, tenant: &str, source: &str) -> Result<HashSet<String>, StoreError> {
    let open = conflicts::table.filter(
        conflicts::tenant_id
            .eq(tenant)
            .and(conflicts::connector.eq(source))
            .and(conflicts::status.eq("open")),
    );
    let ids = with_conn!(db, |c| open.select(conflicts::external_id).load::<String>(c))?;
    Ok(ids.into_iter().collect())
}

/// True until the source's first successful run.
fn first_sync(db: &mut Db, tenant: &str, source: &str) -> Result<bool, StoreError> {
    let last_success: Option<Option<NaiveDateTime>> = with_conn!(db, |c| sync_state::table
        .find((tenant, source))
        .select(sync_state::last_success_at)
        .first(c)
        .optional())?;
    Ok(last_success.flatten().is_none())
}

/// How many users and groups the source owns (for the deletion guard's percentages).
fn owned_counts(db: &mut Db, tenant: &str, source: &str) -> Result<(u64, u64), StoreError> {
    let users: i64 = with_conn!(db, |c| users::table
        .filter(users::tenant_id.eq(tenant).and(users::source.eq(source)))
        .count()
        .get_result(c))?;
    let groups: i64 = with_conn!(db, |c| groups::table
        .filter(groups::tenant_id.eq(tenant).and(groups::source.eq(source)))
        .count()
        .get_result(c))?;
    Ok((
        u64::try_from(users).unwrap_or(0),
        u64::try_from(groups).unwrap_or(0),
    ))
}
