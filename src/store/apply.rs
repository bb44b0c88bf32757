//! Applying a plan: every change, its events, the run's counts and the source's cursor in one
//! transaction, so a crash leaves either the old state or the new one.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::models::*;
use super::runs::{RunEnd, RunEndChanges};
use super::schema::{conflicts, group_members, groups, runs, sync_state, user_links, users};
use super::{with_conn, Db, StoreError, CHUNK};
use crate::planner::{GroupRef, Plan, PlanCounts, UserField, UserRef};

/// What happens to the source's cursor when the plan is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorUpdate {
    /// Store this cursor and count the run as a success (`full` also stamps the full sync).
    Advance { cursor: Option<String>, full: bool },
    /// Leave the cursor where it was (a held run must see its withheld changes again).
    Keep,
}

/// The run a plan belongs to.
#[derive(Debug, Clone)]
pub struct ApplyContext {
    pub run_id: Option<i64>,
    /// The run's end, written in the same transaction (its counts are filled in here).
    pub run_end: Option<RunEnd>,
    pub now: NaiveDateTime,
    pub cursor: CursorUpdate,
}

/// Applies `plan` in one transaction. Returns what it changed.
pub fn apply(db: &mut Db, plan: &Plan, ctx: &ApplyContext) -> Result<PlanCounts, StoreError> {
    if let Db::Sqlite(c) = db {
        // A 64 MiB page cache (filled only as needed) keeps a large first sync's index pages
        // in memory instead of spilling them to the WAL again and again. Reads before the
        // apply keep the small default.
        diesel::connection::SimpleConnection::batch_execute(c, "PRAGMA cache_size = -65536;")?;
    }
    with_conn!(db, c => c.transaction::<_, StoreError, _>(|c| {
        let source = plan.source.as_str();
        let now = ctx.now;
        let mut events: Vec<NewEvent<'_>> = Vec::with_capacity(CHUNK);
        macro_rules! event {
            ($object_type:expr, $object_id:expr, $key:expr, $action:expr, $detail:expr) => {
                events.push(NewEvent {
                    run_id: ctx.run_id,
                    connector: source,
                    object_type: $object_type,
                    object_id: $object_id,
                    object_key: ($key).to_owned(),
                    action: $action,
                    detail: ($detail).to_string(),
                    created_at: now,
                })
            };
        }
        // Events go out in chunks as they accumulate, so a large run never holds them all.
        macro_rules! flush_events {
            ($min:expr) => {
                if events.len() >= $min {
                    diesel::insert_into(super::schema::events::table).values(&events).execute(c)?;
                    events.clear();
                }
            };
        }

        // Deactivations first: they free sign-in names that updates and creates may take.
        for d in &plan.deactivations {
            diesel::update(users::table.find(d.user_id))
                .set((users::active.eq(false), users::updated_at.eq(now)))
                .execute(c)?;
            diesel::update(users::table.find(d.user_id).filter(users::archived_at.is_null()))
                .set(users::archived_at.eq(now))
                .execute(c)?;
            event!("user", d.user_id, &d.upn, "deactivate", json!({ "reason": d.reason }));
            flush_events!(CHUNK);
        }
        for chunk in plan.links_removed.chunks(CHUNK) {
            diesel::update(user_links::table.filter(user_links::source.eq(source).and(user_links::external_id.eq_any(chunk))))
                .set(user_links::removed_at.eq(now))
                .execute(c)?;
        }
        for chunk in plan.links_returned.chunks(CHUNK) {
            diesel::update(user_links::table.filter(user_links::source.eq(source).and(user_links::external_id.eq_any(chunk))))
                .set(user_links::removed_at.eq(None::<NaiveDateTime>))
                .execute(c)?;
        }
        for p in &plan.purges {
            diesel::delete(users::table.find(p.user_id)).execute(c)?;
            event!("user", p.user_id, &p.upn, "purge", json!({ "archived_at": p.archived_at }));
            flush_events!(CHUNK);
        }

        // Renames pass through a placeholder when several happen at once, so a swap of two
        // names never trips the unique index halfway.
        let renames: Vec<i64> = plan
            .user_updates
            .iter()
            .filter(|u| u.changes.iter().any(|ch| ch.field == UserField::Upn))
            .map(|u| u.user_id)
            .collect();
        if renames.len() > 1 {
            for id in &renames {
                diesel::update(users::table.find(id)).set(users::upn.eq(format!("\u{1}renaming-{id}"))).execute(c)?;
            }
        }
        for u in &plan.user_updates {
            let mut changes = UserChanges { updated_at: Some(now), ..UserChanges::default() };
            for ch in &u.changes {
                let after = ch.after.clone();
                match ch.field {
                    UserField::Upn => changes.upn = after,
                    UserField::Email => changes.email = Some(after),
                    UserField::DisplayName => changes.display_name = Some(after),
                    UserField::GivenName => changes.given_name = Some(after),
                    UserField::FamilyName => changes.family_name = Some(after),
                    UserField::JobTitle => changes.job_title = Some(after),
                    UserField::Department => changes.department = Some(after),
                    UserField::PreferredLanguage => changes.preferred_language = Some(after),
                }
            }
            diesel::update(users::table.find(u.user_id)).set(&changes).execute(c)?;
            event!("user", u.user_id, &u.upn, "update", json!({ "changes": u.changes }));
            flush_events!(CHUNK);
        }
        for l in &plan.user_links {
            diesel::insert_into(user_links::table)
                .values(NewLink { source, external_id: &l.external_id, user_id: l.user_id, linked_at: now })
                .execute(c)?;
            if l.owner {
                let changes = UserChanges {
                    source: Some(Some(source.to_owned())),
                    external_id: Some(Some(l.external_id.clone())),
                    updated_at: Some(now),
                    ..UserChanges::default()
                };
                diesel::update(users::table.find(l.user_id)).set(&changes).execute(c)?;
            }
            event!("user", l.user_id, &l.upn, "link", json!({ "external_id": l.external_id, "matched_by": l.by, "owner": l.owner }));
            flush_events!(CHUNK);
        }
        for r in &plan.reactivations {
            diesel::update(users::table.find(r.user_id))
                .set((users::active.eq(true), users::archived_at.eq(None::<NaiveDateTime>), users::updated_at.eq(now)))
                .execute(c)?;
            event!("user", r.user_id, &r.upn, "reactivate", json!({}));
            flush_events!(CHUNK);
        }

        // Creates, in batches; the generated SCIM ids tell the new rows apart.
        let mut new_user_ids: Vec<i64> = Vec::with_capacity(plan.user_creates.len());
        for chunk in plan.user_creates.chunks(CHUNK) {
            let rows: Vec<NewUser<'_>> = chunk
                .iter()
                .map(|r| NewUser {
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
                    active: r.enabled,
                    archived_at: (!r.enabled).then_some(now),
                    created_at: now,
                    updated_at: now,
                })
                .collect();
            let scim_ids: Vec<String> = rows.iter().map(|r| r.scim_id.clone()).collect();
            let returned: Vec<(i64, String)> =
                diesel::insert_into(users::table).values(&rows).returning((users::id, users::scim_id)).get_results(c)?;
            let by_scim: HashMap<String, i64> = returned.into_iter().map(|(id, s)| (s, id)).collect();
            for s in &scim_ids {
                new_user_ids.push(*by_scim.get(s).ok_or_else(|| StoreError::Invalid(format!("insert of user {s} returned no id")))?);
            }
            let base = new_user_ids.len() - chunk.len();
            let links: Vec<NewLink<'_>> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| NewLink { source, external_id: &r.external_id, user_id: new_user_ids[base + i], linked_at: now })
                .collect();
            diesel::insert_into(user_links::table).values(&links).execute(c)?;
            for (i, r) in chunk.iter().enumerate() {
                let fields: serde_json::Map<String, serde_json::Value> = UserField::ALL
                    .iter()
                    .filter_map(|f| f.of_record(r).map(|v| (f.column().to_owned(), json!(v))))
                    .collect();
                event!("user", new_user_ids[base + i], &r.upn, "create", json!({ "external_id": r.external_id, "active": r.enabled, "fields": fields }));
            }
            flush_events!(CHUNK);
        }

        // Groups.
        let mut new_group_ids: Vec<i64> = Vec::with_capacity(plan.group_creates.len());
        for chunk in plan.group_creates.chunks(CHUNK) {
            let rows: Vec<NewGroup<'_>> = chunk
                .iter()
                .map(|g| NewGroup {
                    scim_id: uuid::Uuid::now_v7().simple().to_string(),
                    external_id: &g.external_id,
                    source,
                    display_name: &g.display_name,
                    read_only: true,
                    created_at: now,
                    updated_at: now,
                })
                .collect();
            let returned: Vec<(i64, Option<String>)> = diesel::insert_into(groups::table)
                .values(&rows)
                .returning((groups::id, groups::external_id))
                .get_results(c)?;
            let by_ext: HashMap<String, i64> = returned.into_iter().filter_map(|(id, e)| e.map(|e| (e, id))).collect();
            for g in chunk {
                let id = *by_ext.get(&g.external_id).ok_or_else(|| StoreError::Invalid(format!("insert of group {} returned no id", g.external_id)))?;
                new_group_ids.push(id);
                event!("group", id, &g.display_name, "create", json!({ "external_id": g.external_id }));
            flush_events!(CHUNK);
            }
        }
        for g in &plan.group_links {
            diesel::update(groups::table.find(g.group_id))
                .set((groups::source.eq(source), groups::external_id.eq(&g.external_id), groups::read_only.eq(true), groups::updated_at.eq(now)))
                .execute(c)?;
            event!("group", g.group_id, &g.display_name, "link", json!({ "external_id": g.external_id }));
        }
        for g in &plan.group_renames {
            diesel::update(groups::table.find(g.group_id))
                .set((groups::display_name.eq(&g.after), groups::updated_at.eq(now)))
                .execute(c)?;
            event!("group", g.group_id, &g.after, "rename", json!({ "before": g.before, "after": g.after }));
            flush_events!(CHUNK);
        }
        for g in &plan.group_deletes {
            diesel::delete(groups::table.find(g.group_id)).execute(c)?;
            event!("group", g.group_id, &g.display_name, "delete", json!({}));
            flush_events!(CHUNK);
        }

        // Memberships.
        let user_id = |r: UserRef| match r {
            UserRef::Existing(id) => id,
            UserRef::New(i) => new_user_ids[i],
        };
        let mut pending: Vec<NewMember> = Vec::new();
        for m in &plan.memberships {
            let group_id = match m.group {
                GroupRef::Existing(id) => id,
                GroupRef::New(i) => new_group_ids[i],
            };
            pending.extend(m.added.iter().map(|&u| NewMember { group_id, user_id: user_id(u) }));
            if pending.len() >= 5 * CHUNK {
                diesel::insert_into(group_members::table).values(&pending).execute(c)?;
                pending.clear();
            }
            for chunk in m.removed.chunks(CHUNK) {
                diesel::delete(group_members::table.filter(group_members::group_id.eq(group_id).and(group_members::user_id.eq_any(chunk))))
                    .execute(c)?;
            }
            let added: Vec<&str> = m.added.iter().map(|&u| plan.user_label(u)).collect();
            let removed: Vec<&str> = m.removed.iter().map(|&u| plan.user_label(UserRef::Existing(u))).collect();
            event!("group", group_id, &m.group_name, "members", json!({ "added": added, "removed": removed }));
            flush_events!(CHUNK);
        }
        if !pending.is_empty() {
            diesel::insert_into(group_members::table).values(&pending).execute(c)?;
        }

        // Conflicts: one open row per (connector, external id, reason), however many runs see it.
        let mut new_conflicts = 0u64;
        for pc in &plan.conflicts {
            let record = serde_json::to_string(&pc.record).map_err(|e| StoreError::Invalid(e.to_string()))?;
            new_conflicts += diesel::insert_into(conflicts::table)
                .values(NewConflict {
                    connector: source,
                    run_id: ctx.run_id,
                    external_id: &pc.record.external_id,
                    upn: Some(&pc.record.upn),
                    reason: pc.conflict.reason.as_str(),
                    detail: &pc.conflict.detail,
                    local_user_id: pc.conflict.local_user,
                    other_user_id: pc.conflict.other_user,
                    record,
                    status: "open",
                    first_seen_at: now,
                    last_seen_at: now,
                })
                .on_conflict_do_nothing()
                .execute(c)? as u64;
        }
        for chunk in plan.conflicts_resolved.chunks(CHUNK) {
            diesel::update(conflicts::table.filter(conflicts::connector.eq(source).and(conflicts::status.eq("open")).and(conflicts::external_id.eq_any(chunk))))
                .set((conflicts::status.eq("resolved"), conflicts::resolved_at.eq(now)))
                .execute(c)?;
        }

        flush_events!(1);

        if let CursorUpdate::Advance { cursor, full } = &ctx.cursor {
            let full_at = full.then_some(now);
            diesel::insert_into(sync_state::table)
                .values((
                    sync_state::connector.eq(source),
                    sync_state::cursor.eq(cursor),
                    sync_state::last_success_at.eq(now),
                    sync_state::last_full_sync_at.eq(full_at),
                    sync_state::guard_approved.eq(false),
                    sync_state::updated_at.eq(now),
                ))
                .on_conflict(sync_state::connector)
                .do_update()
                .set((
                    sync_state::cursor.eq(cursor),
                    sync_state::last_success_at.eq(now),
                    sync_state::guard_approved.eq(false),
                    sync_state::updated_at.eq(now),
                ))
                .execute(c)?;
            if *full {
                diesel::update(sync_state::table.find(source)).set(sync_state::last_full_sync_at.eq(now)).execute(c)?;
            }
        }
        let mut counts = plan.counts();
        counts.conflicts = new_conflicts;
        if let Some(end) = &ctx.run_end {
            let end = RunEnd { counts, ..end.clone() };
            diesel::update(runs::table.find(end.id)).set(&RunEndChanges::new(&end, now)).execute(c)?;
        }
        Ok(counts)
    }))
}
