//! The users' half of an apply: deactivations, link marks, purges, updates (renames through
//! placeholders), links, reactivations and creates, in that order.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use serde_json::json;

use super::super::any_of::any_of;
use super::super::models::{NewLink, NewUser, UserChanges};
use super::super::schema::{user_links, users};
use super::super::{with_conn, Db, StoreError, CHUNK};
use super::{bulk, Step};
use crate::matcher::identity_key;
use crate::planner::{UserField, UserUpdate};

/// The user row `id`, if it is `tenant`'s: a plan changes only its own tenant's rows.
fn mine(tenant: &str, id: i64) -> Mine<'_> {
    users::table.find(id).filter(users::tenant_id.eq(tenant))
}

type Mine<'a> =
    diesel::dsl::Filter<diesel::dsl::Find<users::table, i64>, diesel::dsl::Eq<users::tenant_id, &'a str>>;

pub(super) fn deactivate(db: &mut Db, step: &mut Step<'_>) -> Result<(), StoreError> {
    let now = step.now;
    if let Db::Postgres(c) = db {
        for chunk in step.plan.deactivations.chunks(bulk::ROWS) {
            let ids: Vec<i64> = chunk.iter().map(|d| d.user_id).collect();
            bulk::deactivate(c, step.tenant, &ids, now)?;
        }
        for d in &step.plan.deactivations {
            let detail = json!({ "reason": d.reason });
            step.events.push("user", d.user_id, &d.upn, "deactivate", detail);
            step.events.flush_full(db)?;
        }
        return Ok(());
    }
    for d in &step.plan.deactivations {
        with_conn!(db, |c| diesel::update(mine(step.tenant, d.user_id))
            .set((users::active.eq(false), users::updated_at.eq(now)))
            .execute(c))?;
        let unarchived = mine(step.tenant, d.user_id).filter(users::archived_at.is_null());
        with_conn!(db, |c| diesel::update(unarchived)
            .set(users::archived_at.eq(now))
            .execute(c))?;
        let detail = json!({ "reason": d.reason });
        step.events.push("user", d.user_id, &d.upn, "deactivate", detail);
        step.events.flush_full(db)?;
    }
    Ok(())
}

/// Links the source no longer lists are marked removed; links it lists again are unmarked.
pub(super) fn mark_links(db: &mut Db, step: &Step<'_>) -> Result<(), StoreError> {
    let (source, now) = (step.source, step.now);
    let marks = [
        (&step.plan.links_removed, Some(now)),
        (&step.plan.links_returned, None::<NaiveDateTime>),
    ];
    for (ids, removed_at) in marks {
        for chunk in ids.chunks(CHUNK) {
            let links = user_links::table.filter(
                user_links::tenant_id
                    .eq(step.tenant)
                    .and(user_links::source.eq(source))
                    .and(any_of(user_links::external_id, chunk)),
            );
            with_conn!(db, |c| diesel::update(links)
                .set(user_links::removed_at.eq(removed_at))
                .execute(c))?;
        }
    }
    Ok(())
}

pub(super) fn purge(db: &mut Db, step: &mut Step<'_>) -> Result<(), StoreError> {
    let batched = matches!(db, Db::Postgres(_));
    if let Db::Postgres(c) = db {
        for chunk in step.plan.purges.chunks(bulk::ROWS) {
            let ids: Vec<i64> = chunk.iter().map(|p| p.user_id).collect();
            bulk::purge(c, step.tenant, &ids)?;
        }
    }
    for p in &step.plan.purges {
        if !batched {
            with_conn!(db, |c| diesel::delete(mine(step.tenant, p.user_id)).execute(c))?;
        }
        let detail = json!({ "archived_at": p.archived_at });
        step.events.push("user", p.user_id, &p.upn, "purge", detail);
        step.events.flush_full(db)?;
    }
    Ok(())
}

/// Attribute changes. Renames pass through a placeholder when several happen at once, so a
/// swap of two names never trips the unique index halfway.
pub(super) fn update(db: &mut Db, step: &mut Step<'_>) -> Result<(), StoreError> {
    let renames: Vec<i64> = step
        .plan
        .user_updates
        .iter()
        .filter(|u| u.changes.iter().any(|ch| ch.field == UserField::Upn))
        .map(|u| u.user_id)
        .collect();
    if let Db::Postgres(c) = db {
        update_in_bulk(c, step, &renames)?;
    } else {
        update_by_row(db, step, &renames)?;
    }
    for u in &step.plan.user_updates {
        let detail = json!({ "changes": u.changes });
        step.events.push("user", u.user_id, &u.upn, "update", detail);
        step.events.flush_full(db)?;
    }
    Ok(())
}

/// [`update`] one statement per row (SQLite, in process, pays no round trip).
fn update_by_row(db: &mut Db, step: &Step<'_>, renames: &[i64]) -> Result<(), StoreError> {
    if renames.len() > 1 {
        for id in renames {
            let placeholder = format!("\u{1}renaming-{id}");
            with_conn!(db, |c| diesel::update(mine(step.tenant, *id))
                .set((users::upn.eq(&placeholder), users::upn_key.eq(&placeholder)))
                .execute(c))?;
        }
    }
    for u in &step.plan.user_updates {
        let changes = changes_of(u, step.now);
        with_conn!(db, |c| diesel::update(mine(step.tenant, u.user_id))
            .set(&changes)
            .execute(c))?;
    }
    Ok(())
}

/// [`update`] on PostgreSQL: the placeholders in one statement, then one statement per batch
/// of updates that change the same fields.
fn update_in_bulk(c: &mut PgConnection, step: &Step<'_>, renames: &[i64]) -> Result<(), StoreError> {
    if renames.len() > 1 {
        for chunk in renames.chunks(bulk::ROWS) {
            let values: Vec<Option<String>> = chunk
                .iter()
                .map(|id| Some(format!("\u{1}renaming-{id}")))
                .collect();
            let update = bulk::ColumnUpdate {
                columns: vec!["upn", "upn_key"],
                ids: chunk.to_vec(),
                values: vec![values.clone(), values],
            };
            bulk::update_columns(c, step.tenant, update, step.now)?;
        }
    }
    // Updates grouped by the fields they change, in the plan's order within each group.
    let mut by_fields: Vec<(Vec<UserField>, Vec<&UserUpdate>)> = Vec::new();
    for u in &step.plan.user_updates {
        let fields: Vec<UserField> = u.changes.iter().map(|ch| ch.field).collect();
        match by_fields.iter_mut().find(|(f, _)| *f == fields) {
            Some((_, list)) => list.push(u),
            None => by_fields.push((fields, vec![u])),
        }
    }
    for (fields, list) in &by_fields {
        for chunk in list.chunks(bulk::ROWS) {
            bulk::update_columns(c, step.tenant, column_update(fields, chunk), step.now)?;
        }
    }
    Ok(())
}

/// The columns `fields` write (a UPN or an email with its key) and their new values in
/// `updates`, each of which changes exactly `fields`, in that order.
fn column_update(fields: &[UserField], updates: &[&UserUpdate]) -> bulk::ColumnUpdate {
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for (k, field) in fields.iter().enumerate() {
        let after: Vec<Option<String>> = updates.iter().map(|u| u.changes[k].after.clone()).collect();
        let key = match field {
            UserField::Upn => Some("upn_key"),
            UserField::Email => Some("email_key"),
            _ => None,
        };
        if let Some(key) = key {
            columns.push(key);
            values.push(after.iter().map(|v| v.as_deref().map(identity_key)).collect());
        }
        columns.push(field.column());
        values.push(after);
    }
    bulk::ColumnUpdate {
        columns,
        ids: updates.iter().map(|u| u.user_id).collect(),
        values,
    }
}

fn changes_of(u: &UserUpdate, now: NaiveDateTime) -> UserChanges {
    let mut changes = UserChanges {
        updated_at: Some(now),
        ..UserChanges::default()
    };
    for ch in &u.changes {
        let after = ch.after.clone();
        match ch.field {
            UserField::Upn => {
                changes.upn_key = after.as_deref().map(identity_key);
                changes.upn = after;
            }
            UserField::Email => {
                changes.email_key = Some(after.as_deref().map(identity_key));
                changes.email = Some(after);
            }
            UserField::DisplayName => changes.display_name = Some(after),
            UserField::GivenName => changes.given_name = Some(after),
            UserField::FamilyName => changes.family_name = Some(after),
            UserField::JobTitle => changes.job_title = Some(after),
            UserField::Department => changes.department = Some(after),
            UserField::PreferredLanguage => changes.preferred_language = Some(after),
            UserField::Attributes => changes.attributes = Some(after),
        }
    }
    changes
}

/// New links to existing users; an owning link also makes the source the user's owner.
pub(super) fn link(db: &mut Db, step: &mut Step<'_>) -> Result<(), StoreError> {
    let (source, now) = (step.source, step.now);
    for l in &step.plan.user_links {
        let row = NewLink {
            tenant_id: step.tenant,
            source,
            external_id: &l.external_id,
            user_id: l.user_id,
            linked_at: now,
        };
        with_conn!(db, |c| diesel::insert_into(user_links::table)
            .values(&row)
            .execute(c))?;
        if l.owner {
            let changes = UserChanges {
                source: Some(Some(source.to_owned())),
                external_id: Some(Some(l.external_id.clone())),
                updated_at: Some(now),
                ..UserChanges::default()
            };
            with_conn!(db, |c| diesel::update(mine(step.tenant, l.user_id))
                .set(&changes)
                .execute(c))?;
        }
        let detail = json!({ "external_id": l.external_id, "matched_by": l.by, "owner": l.owner });
        step.events.push("user", l.user_id, &l.upn, "link", detail);
        step.events.flush_full(db)?;
    }
    Ok(())
}

pub(super) fn reactivate(db: &mut Db, step: &mut Step<'_>) -> Result<(), StoreError> {
    let now = step.now;
    if let Db::Postgres(c) = db {
        for chunk in step.plan.reactivations.chunks(bulk::ROWS) {
            let ids: Vec<i64> = chunk.iter().map(|r| r.user_id).collect();
            bulk::reactivate(c, step.tenant, &ids, now)?;
        }
        for r in &step.plan.reactivations {
            step.events
                .push("user", r.user_id, &r.upn, "reactivate", json!({}));
            step.events.flush_full(db)?;
        }
        return Ok(());
    }
    for r in &step.plan.reactivations {
        let values = (
            users::active.eq(true),
            users::archived_at.eq(None::<NaiveDateTime>),
            users::updated_at.eq(now),
        );
        with_conn!(db, |c| diesel::update(mine(step.tenant, r.user_id))
            .set(values)
            .execute(c))?;
        step.events
            .push("user", r.user_id, &r.upn, "reactivate", json!({}));
        step.events.flush_full(db)?;
    }
    Ok(())
}

/// Creates, in batches, with their links; returns the new rows' ids in the plan's order
/// (the generated SCIM ids tell the new rows apart).
pub(super) fn create(db: &mut Db, step: &mut Step<'_>) -> Result<Vec<i64>, StoreError> {
    let (source, now) = (step.source, step.now);
    let creates = &step.plan.user_creates;
    let mut new_ids: Vec<i64> = Vec::with_capacity(creates.len());
    for chunk in creates.chunks(CHUNK) {
        let rows: Vec<NewUser<'_>> = chunk
            .iter()
            .map(|r| new_user(r, step.tenant, source, now))
            .collect();
        new_ids.extend(insert_users(db, &rows)?);
        let base = new_ids.len() - chunk.len();
        let links: Vec<NewLink<'_>> = chunk
            .iter()
            .zip(&new_ids[base..])
            .map(|(r, &user_id)| NewLink {
                tenant_id: step.tenant,
                source,
                external_id: &r.external_id,
                user_id,
                linked_at: now,
            })
            .collect();
        insert_links(db, &links)?;
        for (r, &id) in chunk.iter().zip(&new_ids[base..]) {
            let fields: serde_json::Map<String, serde_json::Value> = UserField::ALL
                .iter()
                .filter_map(|f| f.of_record(r).map(|v| (f.column().to_owned(), json!(v))))
                .collect();
            let detail = json!({ "external_id": r.external_id, "active": r.enabled, "fields": fields });
            step.events.push("user", id, &r.upn, "create", detail);
        }
        step.events.flush_full(db)?;
    }
    Ok(new_ids)
}

/// Inserts `rows`; returns their ids in the rows' order.
fn insert_users(db: &mut Db, rows: &[NewUser<'_>]) -> Result<Vec<i64>, StoreError> {
    if let Db::Postgres(c) = db {
        if rows.len() >= bulk::COPY_FROM {
            return Ok(bulk::users(c, rows)?);
        }
    }
    // One row (a SCIM write) as a single-row insert, whose statement is prepared once; a
    // multi-row insert is prepared anew each time (its text depends on the row count).
    let returned: Vec<(i64, String)> = match rows {
        [one] => with_conn!(db, |c| diesel::insert_into(users::table)
            .values(one)
            .returning((users::id, users::scim_id))
            .get_results(c))?,
        _ => with_conn!(db, |c| diesel::insert_into(users::table)
            .values(rows)
            .returning((users::id, users::scim_id))
            .get_results(c))?,
    };
    let by_scim: HashMap<String, i64> = returned.into_iter().map(|(id, s)| (s, id)).collect();
    rows.iter()
        .map(|row| {
            by_scim
                .get(&row.scim_id)
                .copied()
                .ok_or_else(|| StoreError::BadData(format!("insert of user {} returned no id", row.scim_id)))
        })
        .collect()
}

/// Inserts `rows` as `groups::insert_members` does: `COPY` when many on
/// PostgreSQL, else multi-row `INSERT`s of at most [`CHUNK`] rows (SQLite's limit on bound
/// values per statement).
fn insert_links(db: &mut Db, rows: &[NewLink<'_>]) -> Result<(), StoreError> {
    if let Db::Postgres(c) = db {
        if rows.len() >= bulk::COPY_FROM {
            bulk::links(c, rows)?;
            return Ok(());
        }
    }
    insert_rows!(db, user_links::table, rows);
    Ok(())
}

fn new_user<'a>(
    r: &'a idsync_source::UserRecord,
    tenant: &'a str,
    source: &'a str,
    now: NaiveDateTime,
) -> NewUser<'a> {
    NewUser {
        tenant_id: tenant,
        scim_id: uuid::Uuid::now_v7().simple().to_string(),
        external_id: Some(&r.external_id),
        source: Some(source),
        upn: &r.upn,
        email: r.email.as_deref(),
        display_name: r.display_name.as_deref(),
        given_name: r.given_name.as_deref(),
        family_name: r.family_name.as_deref(),
        job_title: r.job_title.as_deref(),
        department: r.department.as_deref(),
        preferred_language: r.preferred_language.as_deref(),
        attributes: r.attributes.as_deref(),
        active: r.enabled,
        archived_at: (!r.enabled).then_some(now),
        created_at: now,
        updated_at: now,
        upn_key: identity_key(&r.upn),
        email_key: r.email.as_deref().map(identity_key),
    }
}
