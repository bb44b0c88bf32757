//! One reconcile run of one connector: fetch, plan, judge, apply, record.
//!
//! This is the only place the pipeline's steps meet. A failed fetch ends the run before the
//! store is touched; a held run applies only what is not destructive and keeps its cursor.
//! The database is reached only through the [`Store`] handed in.

pub mod on_demand;
mod progress;
mod report;
pub mod retention;

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt;

use idsync_source::{Batch, FetchRequest, Fetched};
use thiserror::Error;
use tracing::{error, info, warn};

pub use progress::RunProgress;
pub use report::{Outcome, RunReport};

use crate::config::ConnectorConfig;
use crate::connectors::Connector;
use crate::planner::{self, Plan, PlanCounts, Verdict};
use crate::store::runs::{RunEnd, RunStatus, SyncState};
use crate::store::{self, ApplyContext, CursorUpdate, Store, StoreError};

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Ignore the stored cursor and fetch everything.
    pub full: bool,
    /// Plan and print, write nothing.
    pub dry_run: bool,
    /// Leave the connector's cursor and last success alone (a run that saw one user only).
    pub on_demand: bool,
}

/// Why planning and applying a run failed (the transaction, if any, rolled back).
#[derive(Debug, Error)]
enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the planning task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs one connector once, in a `run` span carrying the connector and (once known) the run id.
pub async fn run_once(
    store: &Store,
    connector: &Connector,
    options: RunOptions,
    progress: &RunProgress,
) -> RunReport {
    let span = tracing::info_span!(
        "run",
        connector = %connector.config.name,
        run_id = tracing::field::Empty
    );
    let run = run_in_span(store, connector, options, progress);
    tracing::Instrument::instrument(run, span).await
}

async fn run_in_span(
    store: &Store,
    connector: &Connector,
    options: RunOptions,
    progress: &RunProgress,
) -> RunReport {
    let started = Instant::now();
    let name = connector.config.name.clone();
    let mut report = RunReport::new(&name);

    // Before fetching: the stored cursor, and a run row (not for a dry run).
    let (run_id, state) = match prepare(store, &name, options).await {
        Ok(p) => p,
        Err(e) => return report.fail(format!("database: {e}"), false, started),
    };
    report.run_id = run_id;
    if let Some(id) = run_id {
        tracing::Span::current().record("run_id", id);
        progress.started(id);
    }
    info!(connector = %name, run_id, "run started");
    // A panic anywhere below (a source, the planner, the store) ends this run, not the daemon:
    // the run row is marked failed with the panic's message and the caller counts the failure.
    let rest = fetch_plan_apply(store, connector, options, progress, state, report, started);
    match AssertUnwindSafe(rest).catch_unwind().await {
        Ok(report) => report,
        Err(panic) => {
            let error = format!("the run panicked: {}", panic_message(panic.as_ref()));
            error!(connector = %name, run_id, error = %error, "run failed; nothing more applied");
            record_failure(store, run_id, &error).await;
            let mut report = RunReport::new(&name);
            report.run_id = run_id;
            report.panicked = true;
            report.fail(error, false, started)
        }
    }
}

/// The text a panic was raised with (`panic!("...")` carries a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    // A message is a diagnosis, not a dump: bounded, on one line.
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// The run after its row exists: fetch, plan, judge, apply, record.
async fn fetch_plan_apply(
    store: &Store,
    connector: &Connector,
    options: RunOptions,
    progress: &RunProgress,
    state: SyncState,
    mut report: RunReport,
    started: Instant,
) -> RunReport {
    let (name, run_id) = (connector.config.name.clone(), report.run_id);

    progress.stage("fetching");
    let request = FetchRequest {
        cursor: if options.full { None } else { state.cursor.clone() },
        full: options.full,
    };
    let mut batch = match connector.source.fetch(&request, progress).await {
        Ok(batch) => batch,
        Err(e) => {
            let error = e.to_string();
            error!(connector = %name, run_id, error = %error, "fetch failed; nothing applied");
            record_failure(store, run_id, &error).await;
            return report.fail(error, e.needs_operator(), started);
        }
    };
    batch.data.normalize();
    let (users, groups) = batch.counts();
    report.fetched_users = users as u64;
    report.fetched_groups = groups as u64;

    progress.stage("planning");
    let run = RunContext {
        name: &name,
        settings: &connector.config,
        run_id,
        fetched: (report.fetched_users, report.fetched_groups),
        options,
        progress,
    };
    match plan_and_apply(store, &run, batch, state.guard_approved).await {
        Ok((plan, verdict, counts)) => {
            report.counts = counts;
            report.outcome = outcome_of(&verdict, &run);
            report.verdict = Some(verdict);
            report.plan = plan;
            report.elapsed = started.elapsed();
            info!(connector = %name, run_id, outcome = ?report.outcome, counts = %report.counts,
                "run finished");
            report
        }
        Err(e) => {
            let error = format!("apply: {e}");
            error!(connector = %name, run_id, error = %error,
                "run failed; the transaction was rolled back");
            record_failure(store, run_id, &error).await;
            report.fail(error, false, started)
        }
    }
}

/// The stored state and, for a real run, the new run's id.
async fn prepare(
    store: &Store,
    name: &str,
    options: RunOptions,
) -> Result<(Option<i64>, SyncState), StoreError> {
    let mode = match (options.on_demand, options.full) {
        (true, _) => "on_demand",
        (false, true) => "full",
        (false, false) => "scheduled",
    };
    let state = store.sync_state(name).await?;
    let run_id = if options.dry_run {
        None
    } else {
        Some(store.start_run(name, mode, store::now()).await?)
    };
    Ok((run_id, state))
}

fn outcome_of(verdict: &Verdict, run: &RunContext<'_>) -> Outcome {
    match verdict {
        _ if run.options.dry_run => Outcome::DryRun,
        Verdict::Hold { reason } => {
            let name = run.name;
            warn!(connector = %name, run_id = run.run_id, reason = %reason,
                "deletion guard held the run; run `idsync approve --connector {name}` to let it through");
            Outcome::Held {
                reason: reason.clone(),
            }
        }
        _ => Outcome::Succeeded,
    }
}

/// What the planning and applying half of a run needs to know.
struct RunContext<'a> {
    name: &'a str,
    settings: &'a ConnectorConfig,
    run_id: Option<i64>,
    fetched: (u64, u64),
    options: RunOptions,
    progress: &'a RunProgress,
}

async fn plan_and_apply(
    store: &Store,
    run: &RunContext<'_>,
    batch: Batch,
    guard_approved: bool,
) -> Result<(Option<Plan>, Verdict, PlanCounts), ApplyError> {
    let now = store::now();
    let Batch { data, cursor } = batch;
    let full = matches!(data, Fetched::Snapshot(_));
    let (data, local) = store
        .load_for_run(run.name, data, &run.settings.plan, now)
        .await?;
    let (name, settings) = (run.name.to_owned(), run.settings.clone());
    // Planning is CPU work on a large directory: off the async threads.
    let (plan, verdict) = tokio::task::spawn_blocking(move || {
        let plan = planner::plan(&name, data, &local, &settings.plan, now);
        let verdict = planner::judge(&plan, &local, &settings.guard, guard_approved);
        drop(local);
        (plan, verdict)
    })
    .await?;
    if run.options.dry_run {
        let counts = plan.counts();
        return Ok((Some(plan), verdict, counts));
    }
    run.progress.stage("applying");
    let (applied, run_end, cursor) = match &verdict {
        Verdict::Hold { .. } => {
            let (safe, held) = planner::withhold_destructive(&plan);
            let end = run_end(run, RunStatus::Held, Some(held.render()));
            (safe, end, CursorUpdate::Keep)
        }
        _ => {
            let cursor = if run.options.on_demand {
                CursorUpdate::Keep
            } else {
                CursorUpdate::Advance { cursor, full }
            };
            (plan, run_end(run, RunStatus::Succeeded, None), cursor)
        }
    };
    let ctx = ApplyContext {
        run_id: run.run_id,
        run_end,
        now,
        cursor,
    };
    let counts = store.apply(applied, ctx).await?;
    Ok((None, verdict, counts))
}

/// The run's end as the apply writes it (its counts are filled in there).
fn run_end(run: &RunContext<'_>, status: RunStatus, held: Option<String>) -> Option<RunEnd> {
    run.run_id.map(|id| RunEnd {
        id,
        status,
        fetched_users: run.fetched.0,
        fetched_groups: run.fetched.1,
        counts: PlanCounts::default(),
        error: None,
        held_changes: held,
    })
}

async fn record_failure(store: &Store, run_id: Option<i64>, error: &str) {
    let Some(id) = run_id else { return };
    let end = RunEnd {
        id,
        status: RunStatus::Failed,
        fetched_users: 0,
        fetched_groups: 0,
        counts: PlanCounts::default(),
        error: Some(error.to_owned()),
        held_changes: None,
    };
    if let Err(e) = store.end_run(end, store::now()).await {
        error!(run_id = id, error = %e, "could not record the failed run");
    }
}
