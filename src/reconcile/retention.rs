//! Retention for a source that has no runs of its own (the SCIM endpoint): housekeeping purges
//! its users archived and gone for longer than the retention, through the same planner,
//! deletion guard and apply as a connector's purges.

use idsync_source::{ChangeSet, Fetched};
use tracing::{info, warn};

use crate::planner::{self, GuardSettings, PlanSettings, Verdict};
use crate::store::{self, ApplyContext, CursorUpdate, Store, StoreError};

/// Purges `source`'s users archived (and gone) for more than `days`; returns how many. A purge
/// the deletion guard would hold is not applied (and logged), exactly like a held run.
pub async fn purge_archived(
    store: &Store,
    source: &str,
    days: u32,
    guard: &GuardSettings,
) -> Result<u64, StoreError> {
    let local = store.load_local(source).await?;
    let now = store::now();
    let settings = PlanSettings {
        delete_archived_after_days: Some(days),
        ..PlanSettings::default()
    };
    // No records and no removals: the plan holds the purges and nothing else.
    let plan = planner::plan(
        source,
        Fetched::Changes(ChangeSet::default()),
        &local,
        &settings,
        now,
    );
    if plan.purges.is_empty() {
        return Ok(0);
    }
    if let Verdict::Hold { reason } = planner::judge(&plan, &local, guard, false) {
        warn!(source, reason = %reason, "retention purge held by the deletion guard");
        return Ok(0);
    }
    let ctx = ApplyContext {
        run_id: None,
        run_end: None,
        now,
        cursor: CursorUpdate::Keep,
    };
    let counts = store.apply(plan, ctx).await?;
    info!(
        source,
        purged = counts.purged,
        days,
        "retention purged archived users"
    );
    Ok(counts.purged)
}
