//! One reconcile run of one connector: fetch, plan, judge, apply, record.
//!
//! This is the only place the pipeline's steps meet. A failed fetch ends the run before the
//! store is touched; a held run applies only what is not destructive and keeps its cursor.

pub mod on_demand;
mod progress;
pub mod retention;

use std::time::{Duration, Instant};

use idsync_source::{Batch, FetchRequest, Fetched};
use serde::Serialize;
use tracing::{error, info, warn};

pub use progress::RunProgress;

use crate::connectors::Connector;
use crate::planner::{self, Plan, PlanCounts, Verdict};
use crate::store::blocking;
use crate::store::runs::{self, RunEnd, RunStatus};
use crate::store::{self, ApplyContext, CursorUpdate, DatabaseUrl, Db, StoreError};

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Ignore the stored cursor and fetch everything.
    pub full: bool,
    /// Plan and print, write nothing.
    pub dry_run: bool,
    /// Leave the connector's cursor and last success alone (a run that saw one user only).
    pub on_demand: bool,
}

/// How a run ended, for the CLI, the daemon and (later) alerts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Held { reason: String },
    Failed { error: String },
    DryRun,
}

#[derive(Debug)]
pub struct RunReport {
    pub connector: String,
    pub run_id: Option<i64>,
    pub outcome: Outcome,
    pub fetched_users: u64,
    pub fetched_groups: u64,
    pub counts: PlanCounts,
    /// The plan, for a dry run to print.
    pub plan: Option<Plan>,
    pub verdict: Option<Verdict>,
    /// For a failed run: true when retrying cannot help (credentials, configuration).
    pub needs_operator: bool,
    pub elapsed: Duration,
}

impl RunReport {
    /// The one-line summary printed at the end of `resync`.
    pub fn summary(&self) -> String {
        let what = match &self.outcome {
            Outcome::Succeeded => "succeeded".to_owned(),
            Outcome::DryRun => "dry run, nothing written".to_owned(),
            Outcome::Held { reason } => format!("HELD by the deletion guard ({reason})"),
            Outcome::Failed { error } => format!("FAILED: {error}"),
        };
        format!(
            "{}: {what}; fetched {} users, {} groups; {} in {:.1}s",
            self.connector,
            self.fetched_users,
            self.fetched_groups,
            self.counts,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Runs one connector once, in a `run` span carrying the connector and (once known) the run id.
pub async fn run_once(
    url: &DatabaseUrl,
    connector: &Connector,
    options: RunOptions,
    progress: &RunProgress,
) -> RunReport {
    let span = tracing::info_span!("run", connector = %connector.config.name, run_id = tracing::field::Empty);
    tracing::Instrument::instrument(run_in_span(url, connector, options, progress), span).await
}

async fn run_in_span(
    url: &DatabaseUrl,
    connector: &Connector,
    options: RunOptions,
    progress: &RunProgress,
) -> RunReport {
    let started = Instant::now();
    let name = connector.config.name.clone();
    let mut report = RunReport {
        connector: name.clone(),
        run_id: None,
        outcome: Outcome::DryRun,
        fetched_users: 0,
        fetched_groups: 0,
        counts: PlanCounts::default(),
        plan: None,
        verdict: None,
        needs_operator: false,
        elapsed: Duration::ZERO,
    };
    let mode = match (options.on_demand, options.full) {
        (true, _) => "on_demand",
        (false, true) => "full",
        (false, false) => "scheduled",
    };

    // Before fetching: the stored cursor, and a run row (not for a dry run).
    let prepared = {
        let (url, name) = (url.clone(), name.clone());
        blocking(move || -> Result<(Option<i64>, runs::SyncState), StoreError> {
            let mut db = open_for(&url, options.dry_run)?;
            let state = runs::sync_state(&mut db, &name)?;
            let run_id = if options.dry_run {
                None
            } else {
                Some(runs::start_run(&mut db, &name, mode, store::now())?)
            };
            Ok((run_id, state))
        })
        .await
    };
    let (run_id, state) = match prepared {
        Ok(p) => p,
        Err(e) => return report.fail(format!("database: {e}"), started),
    };
    report.run_id = run_id;
    if let Some(id) = run_id {
        tracing::Span::current().record("run_id", id);
    }
    info!(connector = %name, run_id, "run started");

    progress.stage("fetching");
    let request = FetchRequest {
        cursor: if options.full { None } else { state.cursor.clone() },
        full: options.full,
    };
    let mut batch = match connector.source.fetch(&request, progress).await {
        Ok(batch) => batch,
        Err(e) => {
            report.needs_operator = e.needs_operator();
            let error = e.to_string();
            error!(connector = %name, run_id, error = %error, "fetch failed; nothing applied");
            record_failure(url, run_id, &error).await;
            return report.fail(error, started);
        }
    };
    batch.data.normalize();
    let (users, groups) = batch.counts();
    report.fetched_users = users as u64;
    report.fetched_groups = groups as u64;

    progress.stage("planning");
    let settings = connector.config.clone();
    let applied = {
        let (url, name, progress) = (url.clone(), name.clone(), progress.clone());
        blocking(move || {
            plan_and_apply(
                &url,
                &name,
                &settings,
                batch,
                state,
                run_id,
                (users as u64, groups as u64),
                options,
                &progress,
            )
        })
        .await
    };
    match applied {
        Ok((plan, verdict, counts)) => {
            report.counts = counts;
            report.outcome = match (&verdict, options.dry_run) {
                (_, true) => Outcome::DryRun,
                (Verdict::Hold { reason }, false) => {
                    warn!(connector = %name, run_id, reason = %reason, "deletion guard held the run; run `idsync approve --connector {name}` to let it through");
                    Outcome::Held {
                        reason: reason.clone(),
                    }
                }
                _ => Outcome::Succeeded,
            };
            report.verdict = Some(verdict);
            report.plan = options.dry_run.then_some(plan);
            report.elapsed = started.elapsed();
            info!(connector = %name, run_id, outcome = ?report.outcome, counts = %report.counts, "run finished");
            report
        }
        Err(e) => {
            let error = format!("apply: {e}");
            error!(connector = %name, run_id, error = %error, "run failed; the transaction was rolled back");
            record_failure(url, run_id, &error).await;
            report.fail(error, started)
        }
    }
}

impl RunReport {
    fn fail(mut self, error: String, started: Instant) -> RunReport {
        self.outcome = Outcome::Failed { error };
        self.elapsed = started.elapsed();
        self
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_and_apply(
    url: &DatabaseUrl,
    name: &str,
    settings: &crate::config::ConnectorConfig,
    batch: Batch,
    state: runs::SyncState,
    run_id: Option<i64>,
    fetched: (u64, u64),
    options: RunOptions,
    progress: &RunProgress,
) -> Result<(Plan, Verdict, PlanCounts), StoreError> {
    let mut db = open_for(url, options.dry_run)?;
    let now = store::now();
    let Batch { data, cursor } = batch;
    // An incremental run loads only what its changes can touch (the same plan, far less work).
    let targeted = match &data {
        Fetched::Changes(changes) => {
            store::load_local_for_changes(&mut db, name, changes, &settings.plan, now)?
        }
        Fetched::Snapshot(_) => None,
    };
    let local = match targeted {
        Some(local) => local,
        None => store::load_local(&mut db, name)?,
    };
    let full = matches!(data, Fetched::Snapshot(_));
    let plan = planner::plan(name, data, &local, &settings.plan, now);
    let verdict = planner::judge(&plan, &local, &settings.guard, state.guard_approved);
    if options.dry_run {
        let counts = plan.counts();
        return Ok((plan, verdict, counts));
    }
    let end = |status: RunStatus, held: Option<String>| RunEnd {
        id: run_id.unwrap_or_default(),
        status,
        fetched_users: fetched.0,
        fetched_groups: fetched.1,
        counts: PlanCounts::default(),
        error: None,
        held_changes: held,
    };
    progress.stage("applying");
    let counts = match &verdict {
        Verdict::Hold { .. } => {
            let (safe, held) = planner::withhold_destructive(&plan);
            let run_end = run_id.map(|_| end(RunStatus::Held, Some(held.render())));
            store::apply(
                &mut db,
                &safe,
                &ApplyContext {
                    run_id,
                    run_end,
                    now,
                    cursor: CursorUpdate::Keep,
                },
            )?
        }
        _ => {
            let run_end = run_id.map(|_| end(RunStatus::Succeeded, None));
            let cursor = if options.on_demand {
                CursorUpdate::Keep
            } else {
                CursorUpdate::Advance { cursor, full }
            };
            store::apply(
                &mut db,
                &plan,
                &ApplyContext {
                    run_id,
                    run_end,
                    now,
                    cursor,
                },
            )?
        }
    };
    Ok((plan, verdict, counts))
}

/// Opens the database for a run. A dry run never creates or migrates anything: against a
/// SQLite file that does not exist yet it plans against an empty in-memory database.
fn open_for(url: &DatabaseUrl, dry_run: bool) -> Result<Db, StoreError> {
    if dry_run {
        if let DatabaseUrl::Sqlite(path) = url {
            if !path.exists() {
                let mut db = Db::open(&DatabaseUrl::SqliteMemory)?;
                db.migrate()?;
                return Ok(db);
            }
        }
        let mut db = Db::open(url)?;
        if db.has_pending_migrations()? {
            return Err(StoreError::Invalid(format!(
                "{} needs migrations; a dry run does not change it (run `idsync migrate`)",
                url.redacted()
            )));
        }
        return Ok(db);
    }
    Db::open(url)
}

async fn record_failure(url: &DatabaseUrl, run_id: Option<i64>, error: &str) {
    let Some(id) = run_id else { return };
    let (url, error) = (url.clone(), error.to_owned());
    let result = blocking(move || {
        let mut db = Db::open(&url)?;
        let end = RunEnd {
            id,
            status: RunStatus::Failed,
            fetched_users: 0,
            fetched_groups: 0,
            counts: PlanCounts::default(),
            error: Some(error),
            held_changes: None,
        };
        runs::end_run(&mut db, &end, store::now())
    })
    .await;
    if let Err(e) = result {
        error!(run_id = id, error = %e, "could not record the failed run");
    }
}
