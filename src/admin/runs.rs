//! Runs: one now (or a dry run that answers with its plan), one by id, the recent ones.
//!
//! A run asked for here goes through the daemon's [`Supervisor`](crate::supervise::Supervisor):
//! the same lease, health, metrics and mail as a scheduled run. While the connector's lease
//! is held (by this process or another), a request gets 409 with the running run's id.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use serde_json::json;

use super::auth::IDENTITY;
use super::error::{AdminError, ErrorBody};
use super::extract::{AdminJson, AdminPath, AdminQuery};
use super::state::AdminState;
use super::tenant;
use super::views::{RunList, RunView};
use crate::connectors::Connector;
use crate::planner::{PlanCounts, Verdict};
use crate::reconcile::{self, Outcome, RunOptions, RunProgress};
use crate::store::decisions::Action;
use crate::store::Store;
use crate::supervise::Supervised;

/// `{tenant}` and `{name}` in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectorPath {
    /// The tenant's id.
    pub tenant: String,
    /// The connector's name, unique within its tenant.
    pub name: String,
}

/// `{tenant}` and `{id}` in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    /// The tenant's id.
    pub tenant: String,
    /// The run's id (run ids are global).
    pub id: i64,
}

/// The body of `POST .../runs`; both fields may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RunRequest {
    /// Ignore the stored cursor and fetch everything.
    pub full: bool,
    /// Plan only: answer with the plan and write nothing.
    pub dry_run: bool,
}

/// 202: the run has started.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunStarted {
    pub run_id: i64,
}

/// 200 to a dry run: what a run would change now.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunPlan {
    pub connector: String,
    #[schema(value_type = Object)]
    pub counts: PlanCounts,
    /// `pass`, `first_sync`, `approved` or `hold`: what the deletion guard would decide.
    pub verdict: String,
    /// Why the guard would hold the run, or why it lets an over-threshold run through.
    pub verdict_reason: Option<String>,
    /// The plan, one change a line, as `idsync resync --dry-run` prints it.
    pub changes: Vec<String>,
}

/// Starts a run of the connector now, or plans one without writing.
#[utoipa::path(post, path = "/tenants/{tenant}/connectors/{name}/runs", tag = "runs",
    params(ConnectorPath), request_body = RunRequest,
    responses(
        (status = 200, description = "The dry run's plan; nothing was written", body = DryRunPlan),
        (status = 202, description = "The run started", body = RunStarted),
        (status = 404, description = "No such tenant or connector", body = ErrorBody),
        (status = 409, description = "The connector is running; `run_id` is that run", body = ErrorBody),
        (status = 502, description = "The dry run could not read the source", body = ErrorBody),
    ))]
pub async fn start_run(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<ConnectorPath>,
    AdminJson(request): AdminJson<RunRequest>,
) -> Result<Response, AdminError> {
    Ok(match start_as(&state, &path, &request, IDENTITY).await? {
        RunAnswer::Plan(plan) => Json(plan).into_response(),
        RunAnswer::Started(run_id) => (StatusCode::ACCEPTED, Json(RunStarted { run_id })).into_response(),
    })
}

/// What asking for a run answers.
#[derive(Debug)]
pub(crate) enum RunAnswer {
    /// A dry run's plan; nothing was written.
    Plan(DryRunPlan),
    /// The run that started.
    Started(i64),
}

/// Starts a run (recorded in the event log as asked for by `actor`) or plans a dry one
/// (which writes nothing, so is not recorded); shared with the console.
pub(crate) async fn start_as(
    state: &AdminState,
    path: &ConnectorPath,
    request: &RunRequest,
    actor: &str,
) -> Result<RunAnswer, AdminError> {
    let tenant = tenant::resolve(state, &path.tenant).await?;
    let connector = super::connectors::find(state, &tenant, &path.name).await?;
    if request.dry_run {
        return Ok(RunAnswer::Plan(dry_run(state, &connector, request.full).await?));
    }
    refuse_if_running(&tenant.store, &path.name).await?;
    let (progress, started) = RunProgress::announcing_start();
    let supervisor = state.supervisor().clone();
    let options = RunOptions {
        full: request.full,
        ..RunOptions::default()
    };
    let (outcome_tx, outcome) = tokio::sync::oneshot::channel();
    state.spawn_run(async move {
        let _ = outcome_tx.send(supervisor.run(&connector, options, &progress).await);
    });
    if let Ok(run_id) = started.await {
        let asked = Action {
            connector: path.name.clone(),
            run_id: Some(run_id),
            action: "run_requested",
            actor: actor.to_owned(),
            detail: json!({ "full": request.full }),
        };
        tenant.store.record_action(asked).await?;
        return Ok(RunAnswer::Started(run_id));
    }
    // The run never wrote its row: another run took the lease first, or the database failed.
    match outcome.await {
        Ok(Supervised::Skipped { reason, .. }) => Err(busy(&tenant.store, &path.name, reason).await),
        Ok(Supervised::Ran { report, .. }) => Err(AdminError::Internal(format!(
            "the run could not start: {}",
            report.outcome.error()
        ))),
        Err(_) => Err(AdminError::Internal(
            "the run's task ended without an outcome".to_owned(),
        )),
    }
}

/// 409 when the connector's lease is held: it is running here or on another process.
async fn refuse_if_running(store: &Store, name: &str) -> Result<(), AdminError> {
    match store.lease_holder(name).await? {
        Some(_) => Err(busy(store, name, "the connector is running".to_owned()).await),
        None => Ok(()),
    }
}

async fn busy(store: &Store, name: &str, reason: String) -> AdminError {
    let run_id = store.running_run(name).await.ok().flatten();
    let message = match run_id {
        Some(id) => format!("connector {name:?} is running (run {id}); try again when it ends"),
        None => format!("connector {name:?} cannot start now: {reason}"),
    };
    AdminError::Conflict { message, run_id }
}

/// Plans a run on a store that can write nothing, bound to the connector's tenant (the plan
/// compares the directory with that tenant's rows only), and answers with the plan.
async fn dry_run(state: &AdminState, connector: &Connector, full: bool) -> Result<DryRunPlan, AdminError> {
    let store = Store::for_dry_run(state.database())
        .await?
        .for_tenant(connector.config.tenant.clone());
    let options = RunOptions {
        full,
        dry_run: true,
        on_demand: false,
    };
    let report = reconcile::run_once(&store, connector, options, &RunProgress::hidden()).await;
    if let Outcome::Failed { error, .. } = &report.outcome {
        return Err(AdminError::Upstream(format!("the dry run failed: {error}")));
    }
    let (verdict, verdict_reason) = match &report.verdict {
        Some(Verdict::Pass) | None => ("pass", None),
        Some(Verdict::FirstSync) => ("first_sync", None),
        Some(Verdict::Approved { reason }) => ("approved", Some(reason.clone())),
        Some(Verdict::Hold { reason }) => ("hold", Some(reason.clone())),
    };
    let changes = report
        .plan
        .as_ref()
        .map(|p| p.render().lines().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(DryRunPlan {
        connector: connector.config.name.clone(),
        counts: report.counts,
        verdict: verdict.to_owned(),
        verdict_reason,
        changes,
    })
}

/// One run by id; a run of another tenant's connector is 404.
#[utoipa::path(get, path = "/tenants/{tenant}/runs/{id}", tag = "runs", params(RunPath),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 404, description = "No such tenant or run", body = ErrorBody),
    ))]
pub async fn get_run(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<RunPath>,
) -> Result<Json<RunView>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let not_found =
        || AdminError::NotFound(format!("tenant {:?} has no run {}", tenant.id.as_str(), path.id));
    let run = tenant.store.run(path.id).await?.ok_or_else(not_found)?;
    Ok(Json(run.into()))
}

/// `GET .../runs` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only this connector's runs.
    pub connector: Option<String>,
    /// At most this many, newest first (default 50, at most 1000).
    pub limit: Option<i64>,
}

/// The tenant's recent runs, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/runs", tag = "runs",
    params(tenant::TenantPath, RunsQuery),
    responses(
        (status = 200, description = "The runs, newest first", body = RunList),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn list_runs(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<tenant::TenantPath>,
    AdminQuery(query): AdminQuery<RunsQuery>,
) -> Result<Json<RunList>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    let runs = tenant.store.runs(query.connector, limit).await?;
    Ok(Json(RunList {
        runs: runs.into_iter().map(RunView::from).collect(),
    }))
}
