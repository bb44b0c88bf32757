//! Run history, sync state and conflicts: what `idsync status` and `approve` read and write.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{conflicts, runs, sync_state};
use super::{with_conn, Db, Store, StoreError};
use crate::planner::PlanCounts;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    /// The deletion guard kept the destructive part back.
    Held,
    /// The process stopped mid-run; nothing of the run was committed.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Held => "held",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// The end of a run, written with the run's changes in one transaction.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub id: i64,
    pub status: RunStatus,
    pub fetched_users: u64,
    pub fetched_groups: u64,
    pub counts: PlanCounts,
    pub error: Option<String>,
    pub held_changes: Option<String>,
}

/// Records the start of a run. An older run of the connector still marked running was cut
/// off (the process died): it is marked interrupted.
pub(crate) fn start_run(
    db: &mut Db,
    tenant: &str,
    connector: &str,
    (mode, worker): (&str, Option<&str>),
    now: NaiveDateTime,
) -> Result<i64, StoreError> {
    with_conn!(db, |c| c.transaction::<_, StoreError, _>(|c| {
        let running = runs::tenant_id
            .eq(tenant)
            .and(runs::connector.eq(connector))
            .and(runs::status.eq("running"));
        diesel::update(runs::table.filter(running))
            .set((
                runs::status.eq(RunStatus::Interrupted.as_str()),
                runs::finished_at.eq(now),
            ))
            .execute(c)?;
        let id = diesel::insert_into(runs::table)
            .values((
                runs::tenant_id.eq(tenant),
                runs::connector.eq(connector),
                runs::mode.eq(mode),
                runs::status.eq(RunStatus::Running.as_str()),
                runs::started_at.eq(now),
                runs::worker.eq(worker),
            ))
            .returning(runs::id)
            .get_result(c)?;
        Ok(id)
    }))
}

#[derive(AsChangeset)]
#[diesel(table_name = runs, treat_none_as_null = true)]
pub(crate) struct RunEndChanges<'a> {
    status: &'static str,
    finished_at: Option<NaiveDateTime>,
    fetched_users: i64,
    fetched_groups: i64,
    created: i64,
    updated: i64,
    deactivated: i64,
    reactivated: i64,
    purged: i64,
    groups_changed: i64,
    memberships_added: i64,
    memberships_removed: i64,
    conflicts: i64,
    error: Option<&'a str>,
    held_changes: Option<&'a str>,
}

impl<'a> RunEndChanges<'a> {
    /// The columns a run's end sets; callers apply it inside their own transaction.
    pub(crate) fn new(end: &'a RunEnd, now: NaiveDateTime) -> Self {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        RunEndChanges {
            status: end.status.as_str(),
            finished_at: Some(now),
            fetched_users: n(end.fetched_users),
            fetched_groups: n(end.fetched_groups),
            created: n(end.counts.created),
            updated: n(end.counts.updated),
            deactivated: n(end.counts.deactivated),
            reactivated: n(end.counts.reactivated),
            purged: n(end.counts.purged),
            groups_changed: n(end.counts.groups_changed),
            memberships_added: n(end.counts.memberships_added),
            memberships_removed: n(end.counts.memberships_removed),
            conflicts: n(end.counts.conflicts),
            error: end.error.as_deref(),
            held_changes: end.held_changes.as_deref(),
        }
    }
}

/// Ends a run outside any apply (a failed fetch, a failed apply).
pub(crate) fn end_run(db: &mut Db, tenant: &str, end: &RunEnd, now: NaiveDateTime) -> Result<(), StoreError> {
    let run = runs::table.find(end.id).filter(runs::tenant_id.eq(tenant));
    with_conn!(db, |c| diesel::update(run)
        .set(&RunEndChanges::new(end, now))
        .execute(c))?;
    Ok(())
}

/// Lets the next run of `connector` through the deletion guard once.
pub(crate) fn approve(
    db: &mut Db,
    tenant: &str,
    connector: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    with_conn!(db, |c| {
        diesel::insert_into(sync_state::table)
            .values((
                sync_state::tenant_id.eq(tenant),
                sync_state::connector.eq(connector),
                sync_state::guard_approved.eq(true),
                sync_state::updated_at.eq(now),
            ))
            .on_conflict((sync_state::tenant_id, sync_state::connector))
            .do_update()
            .set((
                sync_state::guard_approved.eq(true),
                sync_state::updated_at.eq(now),
            ))
            .execute(c)
    })?;
    Ok(())
}

/// A connector's stored position.
#[derive(Debug, Clone, Default, Queryable, Selectable)]
#[diesel(table_name = sync_state)]
pub struct SyncState {
    pub cursor: Option<String>,
    pub last_success_at: Option<NaiveDateTime>,
    pub last_full_sync_at: Option<NaiveDateTime>,
    pub guard_approved: bool,
    pub consecutive_failures: i64,
    pub quarantined_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

pub(crate) fn sync_state(db: &mut Db, tenant: &str, connector: &str) -> Result<SyncState, StoreError> {
    let state = with_conn!(db, |c| sync_state::table
        .find((tenant, connector))
        .select(SyncState::as_select())
        .first(c)
        .optional())?;
    Ok(state.unwrap_or_default())
}

/// A row of `runs`, for `idsync status`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = runs)]
pub struct RunRow {
    pub id: i64,
    pub connector: String,
    pub mode: String,
    pub status: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub fetched_users: i64,
    pub fetched_groups: i64,
    pub created: i64,
    pub updated: i64,
    pub deactivated: i64,
    pub reactivated: i64,
    pub purged: i64,
    pub groups_changed: i64,
    pub memberships_added: i64,
    pub memberships_removed: i64,
    pub conflicts: i64,
    pub error: Option<String>,
    pub held_changes: Option<String>,
}

/// The tenant's last `limit` runs, of one connector or of all, newest first.
pub(crate) fn recent_runs(
    db: &mut Db,
    tenant: &str,
    connector: Option<&str>,
    limit: i64,
) -> Result<Vec<RunRow>, StoreError> {
    Ok(with_conn!(db, |c| {
        let mut query = runs::table
            .filter(runs::tenant_id.eq(tenant.to_owned()))
            .select(RunRow::as_select())
            .into_boxed();
        if let Some(connector) = connector {
            query = query.filter(runs::connector.eq(connector.to_owned()));
        }
        query.order(runs::id.desc()).limit(limit).load(c)
    })?)
}

/// A row of `conflicts`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = conflicts)]
pub struct ConflictRow {
    pub id: i64,
    pub connector: String,
    pub external_id: String,
    pub upn: Option<String>,
    pub reason: String,
    pub detail: String,
    pub local_user_id: Option<i64>,
    pub other_user_id: Option<i64>,
    pub first_seen_at: NaiveDateTime,
}

pub(crate) fn open_conflicts(db: &mut Db, tenant: &str) -> Result<Vec<ConflictRow>, StoreError> {
    Ok(with_conn!(db, |c| conflicts::table
        .filter(conflicts::tenant_id.eq(tenant).and(conflicts::status.eq("open")))
        .order(conflicts::id)
        .select(ConflictRow::as_select())
        .load(c))?)
}

/// Deletes the tenant's finished runs and events older than `before`; returns how many of each.
pub(crate) fn prune_history(
    db: &mut Db,
    tenant: &str,
    before: NaiveDateTime,
) -> Result<(usize, usize), StoreError> {
    use super::schema::events;
    Ok(with_conn!(db, |c| c.transaction::<_, diesel::result::Error, _>(
        |c| {
            let old_events = events::tenant_id.eq(tenant).and(events::created_at.lt(before));
            let events = diesel::delete(events::table.filter(old_events)).execute(c)?;
            let old_runs = runs::tenant_id
                .eq(tenant)
                .and(runs::started_at.lt(before))
                .and(runs::status.ne("running"));
            let runs = diesel::delete(runs::table.filter(old_runs)).execute(c)?;
            Ok((runs, events))
        }
    ))?)
}

impl Store {
    /// The tenant's open conflicts, of every connector, oldest first.
    pub async fn open_conflicts(&self) -> Result<Vec<ConflictRow>, StoreError> {
        self.scoped(open_conflicts).await
    }

    /// Records the start of a run (see [`start_run`]); returns its id.
    pub async fn start_run(
        &self,
        connector: &str,
        mode: &str,
        now: NaiveDateTime,
    ) -> Result<i64, StoreError> {
        let (connector, mode) = (connector.to_owned(), mode.to_owned());
        let worker = self.worker().map(str::to_owned);
        self.scoped(move |db, t| start_run(db, t, &connector, (&mode, worker.as_deref()), now))
            .await
    }

    /// Ends a run outside any apply (a failed fetch, a failed apply).
    pub async fn end_run(&self, end: RunEnd, now: NaiveDateTime) -> Result<(), StoreError> {
        self.scoped(move |db, t| end_run(db, t, &end, now)).await
    }

    /// Lets the next run of `connector` through the deletion guard once.
    pub async fn approve(&self, connector: &str, now: NaiveDateTime) -> Result<(), StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, t| approve(db, t, &connector, now)).await
    }

    /// The connector's stored cursor, last success, approval and failure streak.
    pub async fn sync_state(&self, connector: &str) -> Result<SyncState, StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, t| sync_state(db, t, &connector)).await
    }

    /// What `idsync status` shows of each connector, and every open conflict, on one
    /// connection.
    pub async fn status(&self, connectors: &[String]) -> Result<StatusReport, StoreError> {
        let connectors = connectors.to_vec();
        self.scoped(move |db, t| {
            let mut report = StatusReport::default();
            for name in connectors {
                report.connectors.push(ConnectorStatus {
                    state: sync_state(db, t, &name)?,
                    recent: recent_runs(db, t, Some(&name), 5)?,
                    open_conflicts: super::supervision::open_conflicts(db, t, &name)?,
                    name,
                });
            }
            report.conflicts = open_conflicts(db, t)?;
            Ok(report)
        })
        .await
    }

    /// Deletes finished runs and events older than `before`; returns how many of each.
    pub async fn prune_history(&self, before: NaiveDateTime) -> Result<(usize, usize), StoreError> {
        self.scoped(move |db, t| prune_history(db, t, before)).await
    }
}

/// What `idsync status` prints.
#[derive(Debug, Default)]
pub struct StatusReport {
    pub connectors: Vec<ConnectorStatus>,
    /// Every open conflict of the tenant, of any connector.
    pub conflicts: Vec<ConflictRow>,
}

/// One connector in [`StatusReport`].
#[derive(Debug)]
pub struct ConnectorStatus {
    pub name: String,
    pub state: SyncState,
    /// The last five runs, newest first.
    pub recent: Vec<RunRow>,
    pub open_conflicts: i64,
}
