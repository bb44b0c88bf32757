//! The groups' half of an apply: creates, links, renames, deletes, then memberships.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::json;

use super::super::any_of::any_of;
use super::super::models::{NewGroup, NewMember};
use super::super::schema::{group_members, groups};
use super::super::{with_conn, Db, StoreError, CHUNK};
use super::{bulk, Step};
use crate::matcher::identity_key;
use crate::planner::{GroupRef, UserRef};

/// The group row `id`, if it is `tenant`'s: a plan changes only its own tenant's rows.
fn mine(tenant: &str, id: i64) -> Mine<'_> {
    groups::table.find(id).filter(groups::tenant_id.eq(tenant))
}

type Mine<'a> =
    diesel::dsl::Filter<diesel::dsl::Find<groups::table, i64>, diesel::dsl::Eq<groups::tenant_id, &'a str>>;

/// Creates, in batches; returns the new rows' ids in the plan's order.
pub(super) fn create(db: &mut Db, step: &mut Step<'_>) -> Result<Vec<i64>, StoreError> {
    let (source, now) = (step.source, step.now);
    let creates = &step.plan.group_creates;
    let mut new_ids: Vec<i64> = Vec::with_capacity(creates.len());
    for chunk in creates.chunks(CHUNK) {
        let rows: Vec<NewGroup<'_>> = chunk
            .iter()
            .map(|g| NewGroup {
                tenant_id: step.tenant,
                scim_id: uuid::Uuid::now_v7().simple().to_string(),
                external_id: &g.external_id,
                source,
                display_name: &g.display_name,
                read_only: true,
                created_at: now,
                updated_at: now,
                name_key: identity_key(&g.display_name),
            })
            .collect();
        let ids = insert_groups(db, &rows)?;
        for (g, id) in chunk.iter().zip(ids) {
            new_ids.push(id);
            let detail = json!({ "external_id": g.external_id });
            step.events.push("group", id, &g.display_name, "create", detail);
            step.events.flush_full(db)?;
        }
    }
    Ok(new_ids)
}

/// Inserts `rows`; returns their ids in the rows' order.
fn insert_groups(db: &mut Db, rows: &[NewGroup<'_>]) -> Result<Vec<i64>, StoreError> {
    if let Db::Postgres(c) = db {
        if rows.len() >= bulk::COPY_FROM {
            return Ok(bulk::groups(c, rows)?);
        }
    }
    let returned: Vec<(i64, Option<String>)> = with_conn!(db, |c| diesel::insert_into(groups::table)
        .values(rows)
        .returning((groups::id, groups::external_id))
        .get_results(c))?;
    let by_ext: HashMap<&str, i64> = returned
        .iter()
        .filter_map(|(id, e)| e.as_deref().map(|e| (e, *id)))
        .collect();
    rows.iter()
        .map(|g| {
            by_ext.get(g.external_id).copied().ok_or_else(|| {
                StoreError::BadData(format!("insert of group {} returned no id", g.external_id))
            })
        })
        .collect()
}

/// Local groups the source takes over, renames, and deletes.
pub(super) fn link_rename_delete(db: &mut Db, step: &mut Step<'_>) -> Result<(), StoreError> {
    let (source, now) = (step.source, step.now);
    for g in &step.plan.group_links {
        let values = (
            groups::source.eq(source),
            groups::external_id.eq(&g.external_id),
            groups::read_only.eq(true),
            groups::updated_at.eq(now),
        );
        with_conn!(db, |c| diesel::update(mine(step.tenant, g.group_id))
            .set(values)
            .execute(c))?;
        let detail = json!({ "external_id": g.external_id });
        step.events
            .push("group", g.group_id, &g.display_name, "link", detail);
    }
    for g in &step.plan.group_renames {
        let values = (
            groups::display_name.eq(&g.after),
            groups::name_key.eq(identity_key(&g.after)),
            groups::updated_at.eq(now),
        );
        with_conn!(db, |c| diesel::update(mine(step.tenant, g.group_id))
            .set(values)
            .execute(c))?;
        let detail = json!({ "before": g.before, "after": g.after });
        step.events.push("group", g.group_id, &g.after, "rename", detail);
        step.events.flush_full(db)?;
    }
    for g in &step.plan.group_deletes {
        with_conn!(db, |c| diesel::delete(mine(step.tenant, g.group_id)).execute(c))?;
        step.events
            .push("group", g.group_id, &g.display_name, "delete", json!({}));
        step.events.flush_full(db)?;
    }
    Ok(())
}

/// Members added (batched across groups) and removed, one event per group.
pub(super) fn memberships(
    db: &mut Db,
    step: &mut Step<'_>,
    new_users: &[i64],
    new_groups: &[i64],
) -> Result<(), StoreError> {
    let plan = step.plan;
    let user_id = |r: UserRef| match r {
        UserRef::Existing(id) => id,
        UserRef::New(i) => new_users[i],
    };
    let mut pending: Vec<NewMember> = Vec::new();
    // On PostgreSQL removals are one set operation per batch, across groups.
    let mut removals = matches!(db, Db::Postgres(_)).then(Removals::default);
    for m in &plan.memberships {
        let group_id = match m.group {
            GroupRef::Existing(id) => id,
            GroupRef::New(i) => new_groups[i],
        };
        let added = m.added.iter().map(|&u| NewMember {
            group_id,
            user_id: user_id(u),
        });
        pending.extend(added);
        if pending.len() >= 5 * CHUNK {
            insert_members(db, &pending)?;
            pending.clear();
        }
        match removals.as_mut() {
            Some(batch) => {
                batch
                    .groups
                    .extend(std::iter::repeat_n(group_id, m.removed.len()));
                batch.users.extend(&m.removed);
                if batch.users.len() >= bulk::ROWS {
                    batch.remove(db, step.tenant)?;
                }
            }
            None => remove_members(db, step.tenant, group_id, &m.removed)?,
        }
        let added: Vec<&str> = m.added.iter().map(|&u| plan.user_label(u)).collect();
        let removed: Vec<&str> = m
            .removed
            .iter()
            .map(|&u| plan.user_label(UserRef::Existing(u)))
            .collect();
        let detail = json!({ "added": added, "removed": removed });
        step.events
            .push("group", group_id, &m.group_name, "members", detail);
        step.events.flush_full(db)?;
    }
    if let Some(batch) = removals.as_mut() {
        batch.remove(db, step.tenant)?;
    }
    if !pending.is_empty() {
        insert_members(db, &pending)?;
    }
    Ok(())
}

/// Members of one of the tenant's groups removed, a chunk per statement.
fn remove_members(db: &mut Db, tenant: &str, group_id: i64, removed: &[i64]) -> Result<(), StoreError> {
    for chunk in removed.chunks(CHUNK) {
        let theirs = groups::table
            .filter(groups::id.eq(group_id).and(groups::tenant_id.eq(tenant)))
            .select(groups::id);
        let rows = group_members::table.filter(
            group_members::group_id
                .eq_any(theirs)
                .and(any_of(group_members::user_id, chunk)),
        );
        with_conn!(db, |c| diesel::delete(rows).execute(c))?;
    }
    Ok(())
}

/// Memberships `(groups[i], users[i])` waiting to be removed together (PostgreSQL).
#[derive(Default)]
struct Removals {
    groups: Vec<i64>,
    users: Vec<i64>,
}

impl Removals {
    fn remove(&mut self, db: &mut Db, tenant: &str) -> Result<(), StoreError> {
        if let (Db::Postgres(c), false) = (&mut *db, self.users.is_empty()) {
            bulk::remove_members(c, tenant, &self.groups, &self.users)?;
        }
        self.groups.clear();
        self.users.clear();
        Ok(())
    }
}

/// Inserts `rows`: by `COPY` on PostgreSQL when there are many, else as multi-row
/// `INSERT`s of at most [`CHUNK`] rows (SQLite takes at most 32,766 bound values per
/// statement, <https://www.sqlite.org/limits.html#max_variable_number>).
fn insert_members(db: &mut Db, rows: &[NewMember]) -> Result<(), StoreError> {
    if let Db::Postgres(c) = db {
        if rows.len() >= bulk::COPY_FROM {
            bulk::members(c, rows)?;
            return Ok(());
        }
    }
    insert_rows!(db, group_members::table, rows);
    Ok(())
}
