//! `idsync run`: every connector once at start-up, then on its schedule, until told to stop.
//! Runs of one connector never overlap: each connector has one loop that waits for its own run.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Config;
use crate::connectors::{self, Connector};
use crate::reconcile::{self, RunOptions, RunProgress};
use crate::store::{DatabaseUrl, Db};

/// Up to this much random delay is added to each scheduled run, so connectors sharing a
/// schedule do not all hit the database and the identity providers at the same second.
const MAX_JITTER: Duration = Duration::from_secs(30);
/// How long shutdown waits for a run in progress to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(120);

/// Runs until `shutdown` completes; then lets running syncs finish (bounded) and returns.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let url = config.database.clone();
    let migrated = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || Db::open(&url)?.migrate()).await??
    };
    if !migrated.is_empty() {
        info!(migrations = ?migrated, "database migrated");
    }
    if config.connectors.is_empty() && config.scim.is_none() {
        warn!("no connectors configured; nothing to schedule");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(scim) = &config.scim {
        let listener = tokio::net::TcpListener::bind(scim.listen).await?;
        info!(listen = %listener.local_addr()?, "SCIM endpoint listening under /scim/v2");
        let state = crate::scim::ScimState::new(url.clone(), scim);
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let stopped = async move {
                let _ = stop.changed().await;
            };
            if let Err(e) = crate::scim::serve(listener, state, stopped).await {
                warn!(error = %e, "the SCIM endpoint stopped");
            }
        });
    }
    for c in &config.connectors {
        tasks.spawn(connector_loop(url.clone(), connectors::build(c), stop_rx.clone()));
    }
    shutdown.await;
    info!("shutting down: no new runs start; waiting for runs in progress");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            "runs still in progress after {}s; stopping anyway (their transactions roll back)",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

async fn connector_loop(url: DatabaseUrl, connector: Connector, mut stop: watch::Receiver<bool>) {
    let name = connector.config.name.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let report =
            reconcile::run_once(&url, &connector, RunOptions::default(), &RunProgress::hidden()).await;
        info!(connector = %name, summary = %report.summary(), "run summary");

        let now = Utc::now();
        let Some(next) = connector.config.schedule.next_after(now) else {
            warn!(connector = %name, "the schedule has no future run; stopping this connector");
            return;
        };
        let jitter = Duration::from_millis(rand::rng().random_range(0..=MAX_JITTER.as_millis() as u64));
        let wait = (next - now).to_std().unwrap_or_default() + jitter;
        info!(connector = %name, next = %next, "next run scheduled");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}
