//! `idsync run`: every connector once at start-up, then on its schedule, until told to stop.
//!
//! The process is a worker on the schedules stored in the database (`worker.rs`), on either
//! backend: on PostgreSQL any number of workers share them, on SQLite the one process is a
//! pool of one. A connector's lease keeps its runs from overlapping; a run that outlasts its
//! interval skips the slots it missed; a quarantined connector's next attempt is the end of
//! its quarantine instead of its schedule (`claim.rs`).

mod admin;
mod claim;
mod ops;
mod webhooks;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

pub use ops::{install_metrics, router as ops_router, OpsState};

use crate::config::{Config, Schedule, ScheduleError};
use crate::connectors::{self, Connector};
use crate::registry::ConnectorRegistry;
use crate::store::{Store, StoreError, StoreOptions};
use crate::supervise::{SuperviseError, Supervisor};

/// How long shutdown waits for runs in progress to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(120);

/// The daemon's pool: room for the SCIM endpoint's requests (its `pool_size`) beside the
/// connectors' runs, leases and health checks. With SCIM on SQLite, checkpoints are left to
/// the endpoint's timer, so no request stalls on one.
pub fn store_options(config: &Config) -> StoreOptions {
    // One connection per run at once: the worker's `max_concurrent_runs`, and runs asked for
    // through the admin API.
    let at_once = config.connectors.len().max(config.daemon.max_concurrent_runs);
    let runs = u32::try_from(at_once).unwrap_or(u32::MAX);
    let scim = config.scim.as_ref().map_or(0, |s| s.pool_size.max(1));
    StoreOptions {
        pool_size: u32::try_from(scim)
            .unwrap_or(u32::MAX)
            .saturating_add(runs)
            .saturating_add(4),
        manual_checkpoints: config.scim.is_some(),
    }
}

/// Why the daemon could not start.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The configuration cannot work here (a database that cannot be written).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Supervise(#[from] SuperviseError),
    /// `[admin] secrets_key` or `previous_secrets_keys` cannot be used.
    #[error("admin: {0}")]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("daemon.housekeeping_schedule: {0}")]
    Schedule(#[from] ScheduleError),
    /// `[scim] tls_cert_path` or `tls_key_path` cannot be used: fix the files.
    #[error("scim: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The webhook delivery's HTTP client cannot be built.
    #[error("webhooks: {0}")]
    Webhooks(String),
    /// A listen address is taken or not ours to bind: fix the configuration.
    #[error("{key} {address}: {source}")]
    Bind {
        key: &'static str,
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Runs until `shutdown` completes; then lets running syncs finish (bounded) and returns.
pub async fn run(
    config: Config,
    store: Store,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let connectors = config.connectors.iter().map(connectors::build).collect();
    run_with(config, store, connectors, shutdown).await
}

/// [`run`] with the connectors already built (one per configured connector, in order), so a
/// test can hand in its own sources.
pub async fn run_with(
    config: Config,
    store: Store,
    connectors: Vec<Connector>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    crate::config::check_writable(&config)?;
    let migrated = store.migrate().await?;
    if !migrated.is_empty() {
        info!(migrations = ?migrated, "database migrated");
    }
    create_tenants(&config, &store).await?;
    let metrics = install_metrics();
    // The stored connectors, run beside the file's (the admin API changes them).
    let registry = Arc::new(ConnectorRegistry::new(store.clone(), Arc::new(config.clone()))?);
    let supervisor = Arc::new(Supervisor::new(&config, store.clone())?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    let ops_state = OpsState {
        store: store.clone(),
        connectors: config
            .connectors
            .iter()
            .map(|c| (c.tenant.clone(), c.name.clone()))
            .collect(),
        metrics,
        problems: supervisor.problems().clone(),
    };
    // /healthz and /metrics: on [ops] listen when set, else beside the SCIM endpoint.
    let ops_on_scim = config.ops.is_none() && config.scim.is_some();
    if let Some(ops) = &config.ops {
        let listener = bind("ops.listen", ops.listen).await?;
        info!(address = %ops.listen, "serving /healthz and /metrics");
        tasks.spawn(serve_ops(
            listener,
            ops_state.clone(),
            ops.listener_limits(),
            stop_rx.clone(),
        ));
    }
    if let Some(scim) = &config.scim {
        let listener = bind("scim.listen", scim.listen).await?;
        let address = listener.local_addr().map_err(|source| DaemonError::Bind {
            key: "scim.listen",
            address: scim.listen,
            source,
        })?;
        info!(listen = %address, ops = ops_on_scim, "SCIM endpoint listening under /scim/v2");
        let tls = scim.tls_files().map(crate::tls::Tls::new).transpose()?;
        let state = crate::scim::ScimState::new(store.clone(), scim);
        let also = if ops_on_scim {
            ops::router(ops_state)
        } else {
            axum::Router::new()
        };
        tasks.spawn(serve_scim(
            listener,
            (state, tls),
            also,
            scim.listener_limits(),
            stop_rx.clone(),
        ));
    }
    let connectors: Vec<Arc<Connector>> = connectors.into_iter().map(Arc::new).collect();
    admin::spawn(
        &config,
        &store,
        &supervisor,
        &connectors,
        &registry,
        &mut tasks,
        stop_rx.clone(),
    )
    .await?;
    webhooks::spawn(&config, &store, &registry, &mut tasks, stop_rx.clone()).await?;
    if config.connectors.is_empty() && config.scim.is_none() {
        warn!("no connectors configured; nothing to schedule");
    }
    let scim_retention = config.scim.as_ref().and_then(|s| s.delete_archived_after_days);
    if config.daemon.keep_history_days > 0 || scim_retention.is_some() {
        let schedule = Schedule::parse_cron(&config.daemon.housekeeping_schedule)?;
        let days = config.daemon.keep_history_days;
        let stop = stop_rx.clone();
        tasks.spawn(housekeeping(store.clone(), schedule, days, scim_retention, stop));
    }
    // The schedules in the database: shared with every other process on PostgreSQL.
    let worker = worker::Worker::new(&config, (&store, &supervisor, &registry), &connectors);
    let runs = worker.serve(shutdown).await;
    info!("shutting down: no new claims; waiting for runs in progress");
    let _ = stop_tx.send(true);
    drain(tasks, runs).await;
    Ok(())
}

/// Creates `default` and the tenants the configuration declares (naming them as it does), so
/// their connectors' rows have a tenant to belong to.
pub async fn create_tenants(config: &Config, store: &Store) -> Result<(), StoreError> {
    let now = crate::store::now();
    store
        .ensure_tenant(
            &crate::tenant::TenantId::default_tenant(),
            crate::tenant::TenantId::DEFAULT,
            now,
        )
        .await?;
    for tenant in &config.tenants {
        store.put_tenant(&tenant.id, tenant.display_name(), now).await?;
    }
    Ok(())
}

async fn bind(key: &'static str, address: SocketAddr) -> Result<TcpListener, DaemonError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| DaemonError::Bind { key, address, source })
}

async fn serve_ops(
    listener: TcpListener,
    state: OpsState,
    limits: crate::listener::ListenerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.changed().await;
    };
    let served = crate::listener::serve(listener, ops::router(state), limits, stopped).await;
    if let Err(e) = served {
        warn!(error = %e, "the ops server stopped");
    }
}

async fn serve_scim(
    listener: TcpListener,
    (state, tls): (crate::scim::ScimState, Option<crate::tls::Tls>),
    also: axum::Router,
    limits: crate::listener::ListenerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = crate::scim::serve(listener, (state, tls), also, limits, stopped).await {
        warn!(error = %e, "the SCIM endpoint stopped");
    }
}

/// Waits for the runs in progress (and the listeners), at most [`SHUTDOWN_GRACE`].
async fn drain(mut tasks: tokio::task::JoinSet<()>, mut loops: tokio::task::JoinSet<()>) {
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while loops.join_next().await.is_some() {}
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            "runs still in progress after {}s; stopping anyway (their transactions roll back)",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

/// Prunes old runs and events on its own schedule, and applies the SCIM endpoint's retention.
/// Connectors purge in their own runs, through their plans and deletion guards.
async fn housekeeping(
    store: Store,
    schedule: Schedule,
    days: u32,
    scim_retention: Option<u32>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let Some(next) = schedule.next_after(Utc::now()) else {
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        // Every tenant in the database, those added at run time too; each on its own store.
        let tenants = match store.tenants().await {
            Ok(tenants) => tenants,
            Err(e) => {
                warn!(error = %e, "housekeeping cannot list the tenants");
                continue;
            }
        };
        for tenant in tenants {
            housekeep_tenant(&store.for_tenant(tenant.id), days, scim_retention).await;
        }
    }
}

/// One tenant's housekeeping: the SCIM endpoint's retention, then pruning old history.
async fn housekeep_tenant(store: &Store, days: u32, scim_retention: Option<u32>) {
    let tenant = store.tenant().clone();
    if let Some(retention) = scim_retention {
        // The client asked for each deletion; only a mass purge (over 500 at once) is held.
        let guard = crate::planner::GuardSettings {
            max_deactivations: 500,
            max_deactivation_percent: 100.0,
        };
        let purged = crate::reconcile::retention::purge_archived(store, "scim", retention, &guard).await;
        if let Err(e) = purged {
            warn!(%tenant, error = %e, "SCIM retention failed");
        }
    }
    if days == 0 {
        return;
    }
    let before = crate::store::now() - chrono::Duration::days(i64::from(days));
    match store.prune_history(before).await {
        Ok((runs, events)) => info!(%tenant, runs, events, days, "housekeeping pruned old history"),
        Err(e) => warn!(%tenant, error = %e, "housekeeping failed"),
    }
    match store.prune_feed(before).await {
        Ok((changes, attempts)) => info!(%tenant, changes, attempts, days, "housekeeping pruned old changes"),
        Err(e) => warn!(%tenant, error = %e, "housekeeping failed to prune the change feed"),
    }
}

#[cfg(test)]
mod tests;
