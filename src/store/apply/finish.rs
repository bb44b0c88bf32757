//! The end of an apply: the plan's conflicts, the source's cursor and the run's end.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::super::any_of::any_of;
use super::super::models::NewConflict;
use super::super::runs::{RunEnd, RunEndChanges};
use super::super::schema::{conflicts, runs, sync_state};
use super::super::{with_conn, Db, StoreError, CHUNK};
use super::{CursorUpdate, Step};
use crate::planner::PlanCounts;

/// Conflicts: one open row per (connector, external id, reason), however many runs see it,
/// and none for one a person dismissed. Returns how many are new; the ones the plan resolved
/// are closed.
pub(super) fn conflicts(db: &mut Db, step: &Step<'_>, run_id: Option<i64>) -> Result<u64, StoreError> {
    let (source, now) = (step.source, step.now);
    let mut new_conflicts = 0u64;
    for pc in &step.plan.conflicts {
        let dismissed = conflicts::table.filter(
            conflicts::tenant_id
                .eq(step.tenant)
                .and(conflicts::connector.eq(source))
                .and(conflicts::external_id.eq(&pc.record.external_id))
                .and(conflicts::reason.eq(pc.conflict.reason.as_str()))
                .and(conflicts::status.eq(crate::store::resolutions::DISMISSED)),
        );
        let dismissed: i64 = with_conn!(db, |c| dismissed.count().get_result(c))?;
        if dismissed > 0 {
            continue;
        }
        let row = NewConflict {
            tenant_id: step.tenant,
            connector: source,
            run_id,
            external_id: &pc.record.external_id,
            upn: Some(&pc.record.upn),
            reason: pc.conflict.reason.as_str(),
            detail: &pc.conflict.detail,
            local_user_id: pc.conflict.local_user,
            other_user_id: pc.conflict.other_user,
            record: serde_json::to_string(&pc.record)?,
            status: "open",
            first_seen_at: now,
            last_seen_at: now,
        };
        let inserted = with_conn!(db, |c| diesel::insert_into(conflicts::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c))?;
        new_conflicts += inserted as u64;
    }
    for chunk in step.plan.conflicts_resolved.chunks(CHUNK) {
        let open = conflicts::table.filter(
            conflicts::tenant_id
                .eq(step.tenant)
                .and(conflicts::connector.eq(source))
                .and(conflicts::status.eq("open"))
                .and(any_of(conflicts::external_id, chunk)),
        );
        let values = (conflicts::status.eq("resolved"), conflicts::resolved_at.eq(now));
        with_conn!(db, |c| diesel::update(open).set(values).execute(c))?;
    }
    Ok(new_conflicts)
}

/// Stores the new cursor and the success (and the full sync) when the run advances it.
pub(super) fn cursor(db: &mut Db, step: &Step<'_>, update: &CursorUpdate) -> Result<(), StoreError> {
    let CursorUpdate::Advance { cursor, full } = update else {
        return Ok(());
    };
    let (source, now) = (step.source, step.now);
    let full_at = full.then_some(now);
    let changed = (
        sync_state::cursor.eq(cursor),
        sync_state::last_success_at.eq(now),
        sync_state::guard_approved.eq(false),
        sync_state::updated_at.eq(now),
    );
    let inserted = (
        sync_state::tenant_id.eq(step.tenant),
        sync_state::connector.eq(source),
        sync_state::cursor.eq(cursor),
        sync_state::last_success_at.eq(now),
        sync_state::last_full_sync_at.eq(full_at),
        sync_state::guard_approved.eq(false),
        sync_state::updated_at.eq(now),
    );
    with_conn!(db, |c| diesel::insert_into(sync_state::table)
        .values(inserted)
        .on_conflict((sync_state::tenant_id, sync_state::connector))
        .do_update()
        .set(changed)
        .execute(c))?;
    if *full {
        with_conn!(db, |c| diesel::update(
            sync_state::table.find((step.tenant, source))
        )
        .set(sync_state::last_full_sync_at.eq(now))
        .execute(c))?;
    }
    Ok(())
}

/// Writes the run's end with the counts the apply produced.
pub(super) fn run_end(
    db: &mut Db,
    tenant: &str,
    end: Option<&RunEnd>,
    counts: PlanCounts,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let Some(end) = end else {
        return Ok(());
    };
    let end = RunEnd {
        counts,
        ..end.clone()
    };
    let changes = RunEndChanges::new(&end, now);
    let run = runs::table.find(end.id).filter(runs::tenant_id.eq(tenant));
    with_conn!(db, |c| diesel::update(run).set(&changes).execute(c))?;
    Ok(())
}
