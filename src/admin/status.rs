//! A tenant's connectors as the scheduler sees them (last run, next run, quarantine, held
//! run), `approve`, which lets the next run through the deletion guard, and `reject`, which
//! refuses a held run.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::IDENTITY;
use super::error::{AdminError, ErrorBody};
use super::extract::AdminPath;
use super::runs::ConnectorPath;
use super::state::AdminState;
use super::tenant::{self, TenantPath};
use super::views::{utc, RunView};
use crate::config::{ConnectorConfig, Schedule};
use crate::registry::RegistryError;
use crate::store::Store;

/// Where a connector stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorStatus {
    /// Its latest run, if it has run.
    pub last_run: Option<RunView>,
    /// When its schedule runs it next (the end of its quarantine, if later).
    pub next_run_at: Option<DateTime<Utc>>,
    /// Runs are suspended until then after repeated failures.
    pub quarantined_until: Option<DateTime<Utc>>,
    /// The latest run, when the deletion guard held it: approve to let the next one through.
    pub held_run_id: Option<i64>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: i64,
    /// Whether the next run may pass the deletion guard.
    pub approved: bool,
}

/// The status of one connector, read from the store.
pub async fn connector_status(
    store: &Store,
    config: &ConnectorConfig,
) -> Result<ConnectorStatus, AdminError> {
    status_of(store, &config.name, Some(&config.schedule)).await
}

/// The status of the connector `name` on `schedule` (`None`: its settings cannot be read, so
/// only the shared schedules say when it runs).
async fn status_of(
    store: &Store,
    name: &str,
    schedule: Option<&Schedule>,
) -> Result<ConnectorStatus, AdminError> {
    let state = store.sync_state(name).await?;
    let last_run = store
        .runs(Some(name.to_owned()), 1)
        .await?
        .pop()
        .map(RunView::from);
    let quarantined_until = state.quarantined_until.map(utc);
    let now = Utc::now();
    // The time the workers will run it, from the shared schedules.
    let next = match store.next_due(name).await? {
        Some(due) => Some(utc(due)),
        None => schedule.and_then(|s| s.next_after(now)),
    };
    let next_run_at = match (next, quarantined_until) {
        (Some(n), Some(q)) if q > n => Some(q),
        (n, _) => n,
    };
    let held_run_id = last_run.as_ref().filter(|r| r.status == "held").map(|r| r.run_id);
    Ok(ConnectorStatus {
        last_run,
        next_run_at,
        quarantined_until: quarantined_until.filter(|q| *q > now),
        held_run_id,
        last_success_at: state.last_success_at.map(utc),
        consecutive_failures: state.consecutive_failures,
        approved: state.guard_approved,
    })
}

/// One connector in [`TenantStatus`].
#[derive(Debug, Serialize, ToSchema)]
pub struct NamedStatus {
    pub name: String,
    #[serde(flatten)]
    pub status: ConnectorStatus,
    /// Why the stored connector cannot run (its settings cannot be read, for example a
    /// secret sealed with a key the configuration no longer holds); absent when it can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A worker process and the tenant's connectors it is running now (it holds their leases).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerHolds {
    /// The process (`host:pid:suffix`), as `runs.worker` records it.
    pub worker: String,
    pub connectors: Vec<String>,
}

/// `GET .../status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantStatus {
    pub tenant: String,
    pub connectors: Vec<NamedStatus>,
    pub open_conflicts: usize,
    /// Per worker, which of the tenant's connectors it runs now.
    pub workers: Vec<WorkerHolds>,
}

/// The tenant's held leases, grouped by holder.
async fn workers(store: &Store) -> Result<Vec<WorkerHolds>, AdminError> {
    let mut workers: Vec<WorkerHolds> = Vec::new();
    for lease in store.held_leases_of_tenant().await? {
        match workers.last_mut() {
            Some(w) if w.worker == lease.holder => w.connectors.push(lease.connector),
            _ => workers.push(WorkerHolds {
                worker: lease.holder,
                connectors: vec![lease.connector],
            }),
        }
    }
    Ok(workers)
}

/// Every connector of the tenant, and how many conflicts wait for a person.
#[utoipa::path(get, path = "/tenants/{tenant}/status", tag = "connectors", params(TenantPath),
    responses(
        (status = 200, description = "The tenant's connectors", body = TenantStatus),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
) -> Result<Json<TenantStatus>, AdminError> {
    tenant_status(&state, &path.tenant).await.map(Json)
}

/// The status answer of one tenant (shared with the console).
pub(crate) async fn tenant_status(state: &AdminState, id: &str) -> Result<TenantStatus, AdminError> {
    let tenant = tenant::resolve(state, id).await?;
    let mut connectors = Vec::new();
    let mut names = state.connector_names(&tenant.id);
    names.extend(
        state
            .registry()
            .list(&tenant.id)
            .await?
            .into_iter()
            .map(|v| v.name),
    );
    for name in names {
        // One whose settings cannot be read is listed with the reason, not a failed answer.
        let (schedule, problem) = match state.registry().connector(&tenant.id, &name).await {
            Ok(config) => (config.map(|c| c.schedule), None),
            Err(RegistryError::Store(e)) => return Err(AdminError::Store(e)),
            Err(e) => (None, Some(e.to_string())),
        };
        let status = status_of(&tenant.store, &name, schedule.as_ref()).await?;
        connectors.push(NamedStatus {
            name,
            status,
            problem,
        });
    }
    let open_conflicts = tenant.store.open_conflicts().await?.len();
    Ok(TenantStatus {
        tenant: tenant.id.to_string(),
        connectors,
        open_conflicts,
        workers: workers(&tenant.store).await?,
    })
}

/// `POST .../approve`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Approved {
    pub connector: String,
    /// Always true: the next run may pass the deletion guard once.
    pub approved: bool,
    /// The held run this answers, when the latest run is one.
    pub held_run_id: Option<i64>,
}

/// Lets the connector's next run through the deletion guard once.
#[utoipa::path(post, path = "/tenants/{tenant}/connectors/{name}/approve", tag = "connectors",
    params(ConnectorPath),
    responses(
        (status = 200, description = "Approved", body = Approved),
        (status = 404, description = "No such tenant or connector", body = ErrorBody),
    ))]
pub async fn approve(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<ConnectorPath>,
) -> Result<Json<Approved>, AdminError> {
    approve_as(&state, &path, IDENTITY).await.map(Json)
}

/// Approve, recorded in the event log as decided by `actor` (shared with the console).
pub(crate) async fn approve_as(
    state: &AdminState,
    path: &ConnectorPath,
    actor: &str,
) -> Result<Approved, AdminError> {
    let tenant = tenant::resolve(state, &path.tenant).await?;
    let connector = super::connectors::find(state, &tenant, &path.name).await?;
    let held_run_id = tenant.store.approve_as(&connector.config.name, actor).await?;
    Ok(Approved {
        connector: connector.config.name.clone(),
        approved: true,
        held_run_id,
    })
}

/// `POST .../reject`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    pub connector: String,
    /// The held run refused; its withheld changes do not apply.
    pub run_id: i64,
}

/// Refuses the connector's held run: it is marked `rejected`, an approval given for the next
/// run is withdrawn, and the decision is in the event log. The next run is judged by the
/// deletion guard afresh (and held again while the source still lacks the records).
#[utoipa::path(post, path = "/tenants/{tenant}/connectors/{name}/reject", tag = "connectors",
    params(ConnectorPath),
    responses(
        (status = 200, description = "Rejected", body = Rejected),
        (status = 404, description = "No such tenant or connector", body = ErrorBody),
        (status = 409, description = "The connector's latest run is not held", body = ErrorBody),
    ))]
pub async fn reject(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<ConnectorPath>,
) -> Result<Json<Rejected>, AdminError> {
    reject_as(&state, &path, IDENTITY).await.map(Json)
}

/// Reject, recorded as decided by `actor` (shared with the console).
pub(crate) async fn reject_as(
    state: &AdminState,
    path: &ConnectorPath,
    actor: &str,
) -> Result<Rejected, AdminError> {
    let tenant = tenant::resolve(state, &path.tenant).await?;
    let connector = super::connectors::find(state, &tenant, &path.name).await?;
    let name = connector.config.name.clone();
    match tenant.store.reject_held(&name, actor).await? {
        Some(run_id) => Ok(Rejected {
            connector: name,
            run_id,
        }),
        None => Err(AdminError::Conflict {
            message: format!("connector {name:?} has no held run to reject"),
            run_id: None,
        }),
    }
}
