//! `idsync run`'s worker on the schedules in the database. Every `[daemon] poll_secs`, when
//! the next connector is due, when a slot frees up and when the registry changes, it claims
//! due connectors, as many as it has free slots (`[daemon] max_concurrent_runs`), and runs
//! each under its lease; the run writes the connector's next due time before it releases the
//! lease. Any number of workers share one PostgreSQL database; on SQLite the one process is
//! the only worker, on the same path. None keeps state per tenant: a stored connector's
//! settings and cursor are read when its run starts.
//!
//! Fairness: claims take the connectors that have been due longest first, and a long run
//! holds one slot, so one tenant's large sync does not hold up the others.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::claim::Slots;
use crate::config::Config;
use crate::connectors::{self, Connector};
use crate::reconcile::panic_message;
use crate::registry::ConnectorRegistry;
use crate::store::schedules::{ClaimRequest, Claimed, Origin};
use crate::store::{self, Store};
use crate::supervise::quarantine::Health;
use crate::supervise::{NextDue, Supervised, Supervisor};
use crate::tenant::TenantId;

/// How long a stored connector whose settings cannot run waits before it is tried again
/// (a put of fixed settings makes it due at once).
const UNRUNNABLE_RETRY: chrono::Duration = chrono::Duration::hours(1);

/// How long after a connector's due time the worker wakes to claim it.
const WAKE_SLACK: Duration = Duration::from_millis(20);

/// What a worker needs to run what it claims.
pub(super) struct Worker {
    supervisor: Arc<Supervisor>,
    registry: Arc<ConnectorRegistry>,
    store: Store,
    /// The file's connectors, built once (their number does not grow with tenants).
    files: Arc<HashMap<(TenantId, String), Arc<Connector>>>,
    slots: usize,
    poll: Duration,
    lease: chrono::Duration,
    max_jitter: Duration,
}

impl Worker {
    pub(super) fn new(
        config: &Config,
        (store, supervisor, registry): (&Store, &Arc<Supervisor>, &Arc<ConnectorRegistry>),
        connectors: &[Arc<Connector>],
    ) -> Worker {
        let files = connectors
            .iter()
            .map(|c| ((c.config.tenant.clone(), c.config.name.clone()), c.clone()))
            .collect();
        Worker {
            supervisor: supervisor.clone(),
            registry: registry.clone(),
            store: store.clone(),
            files: Arc::new(files),
            slots: config.daemon.max_concurrent_runs.max(1),
            poll: Duration::from_secs(config.daemon.poll_secs.max(1)),
            lease: chrono::Duration::seconds(i64::try_from(config.daemon.lease_secs).unwrap_or(120).max(3)),
            max_jitter: Duration::from_secs(config.daemon.jitter_secs),
        }
    }

    /// Claims and runs until `shutdown` completes; then claims nothing more and hands back
    /// the runs in progress, for shutdown to wait on (each releases its lease as it ends).
    /// Between polls it also wakes when the next connector is due, so a schedule shorter
    /// than `poll_secs` keeps its slots.
    pub(super) async fn serve(self, shutdown: impl Future<Output = ()>) -> JoinSet<()> {
        let mut registered = self.register().await;
        info!(worker = %self.supervisor.holder(), slots = self.slots, "worker claiming due connectors");
        let mut running = JoinSet::new();
        let mut poll = tokio::time::interval(self.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut wake = tokio::time::Instant::now() + self.poll;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return running,
                _ = poll.tick() => {
                    if !registered {
                        registered = self.register().await;
                    }
                    self.sync().await;
                }
                () = tokio::time::sleep_until(wake) => {}
                () = self.registry.changed() => self.sync().await,
                Some(ended) = running.join_next() => {
                    if let Err(e) = ended {
                        warn!(error = %e, "a run's task ended abnormally; its lease expires");
                    }
                }
            }
            wake = self.claim(&mut running).await;
        }
    }

    /// Schedules the file's connectors, due now (every connector runs when a process
    /// starts); false when the database did not answer (tried again at the next poll).
    async fn register(&self) -> bool {
        let keys = self.files.keys().cloned().collect();
        match self.store.register_file_schedules(keys, store::now()).await {
            Ok(()) => true,
            Err(e) => {
                warn!(error = %e, "cannot schedule the file's connectors; retrying at the next poll");
                false
            }
        }
    }

    /// Brings the stored connectors' schedules in line with the registry, saying what changed.
    async fn sync(&self) {
        let changes = match self.store.sync_stored_schedules(store::now()).await {
            Ok(changes) => changes,
            Err(e) => return warn!(error = %e, "cannot read the stored connectors"),
        };
        for (tenant, connector) in &changes.found {
            info!(%tenant, %connector, "stored connector found: it is due now");
        }
        for (tenant, connector) in &changes.changed {
            info!(%tenant, %connector, "stored connector changed: restarting it (due now)");
        }
        for (tenant, connector) in &changes.removed {
            info!(%tenant, %connector, "stored connector removed: stopping it (after a run in progress)");
        }
    }

    /// Claims as many due connectors as there are free slots, and starts their runs. Returns
    /// when to claim again: when the next connector is due, at the latest at the next poll.
    async fn claim(&self, running: &mut JoinSet<()>) -> tokio::time::Instant {
        let latest = tokio::time::Instant::now() + self.poll;
        let free = self.slots.saturating_sub(running.len());
        if free == 0 {
            // A run that ends wakes the loop.
            return latest;
        }
        let request = ClaimRequest {
            holder: self.supervisor.holder().to_owned(),
            limit: free,
            ttl: self.lease,
            files: self
                .files
                .keys()
                .map(|(tenant, name)| format!("{tenant}/{name}"))
                .collect(),
        };
        let now = store::now();
        let claim = match self.store.claim_due(request, now).await {
            Ok(claim) => claim,
            Err(e) => {
                warn!(error = %e, "cannot claim due connectors");
                return latest;
            }
        };
        let taken = claim.claimed.len();
        for claimed in claim.claimed {
            let run = Run {
                supervisor: self.supervisor.clone(),
                registry: self.registry.clone(),
                files: self.files.clone(),
                max_jitter: self.max_jitter,
            };
            running.spawn(run.run(claimed));
        }
        if taken == free {
            // More may be due: look again as soon as a slot frees up, or at the poll.
            return latest;
        }
        match claim.next_due.and_then(|due| (due - now).to_std().ok()) {
            // Due in the future: a little after, so the claim finds it due.
            Some(wait) => latest.min(tokio::time::Instant::now() + wait + WAKE_SLACK),
            // Due already (but leased, or just released): the poll picks it up.
            None => latest,
        }
    }
}

/// One claimed connector's run.
struct Run {
    supervisor: Arc<Supervisor>,
    registry: Arc<ConnectorRegistry>,
    files: Arc<HashMap<(TenantId, String), Arc<Connector>>>,
    max_jitter: Duration,
}

impl Run {
    async fn run(self, claim: Claimed) {
        let Some(connector) = self.connector(&claim).await else {
            return;
        };
        let config = &connector.config;
        let started = Utc::now();
        let (schedule, max_jitter) = (&config.schedule, self.max_jitter);
        let (tenant, name) = (config.tenant.as_str(), config.name.as_str());
        let after = move |health: &Health| {
            let slots = Slots {
                schedule,
                tenant,
                name,
                max_jitter,
            };
            let now = Utc::now();
            // A schedule with no future slot is looked at again in a day.
            let next = slots
                .next_due(started, now, health)
                .unwrap_or(now + chrono::Duration::days(1));
            next.naive_utc()
        };
        let next = NextDue {
            version: claim.version,
            after: &after,
        };
        let run = self.supervisor.run_scheduled(&connector, next);
        match AssertUnwindSafe(run).catch_unwind().await {
            Ok(Supervised::Ran { report, .. }) => {
                info!(connector = %config.label(), summary = %report.summary(), "run summary");
            }
            Ok(Supervised::Skipped { reason, .. }) => {
                info!(connector = %config.label(), %reason, "run skipped")
            }
            Err(panic) => {
                let reason = format!("the run panicked: {}", panic_message(panic.as_ref()));
                let health = self.supervisor.after_panic(config, reason).await;
                let next = NextDue {
                    version: claim.version,
                    after: &after,
                };
                self.supervisor.schedule_next(config, &next, &health).await;
            }
        }
    }

    /// The claimed connector: the file's, or the stored one read now (secrets opened). One
    /// that is gone or cannot run gives its lease back and says why.
    async fn connector(&self, claim: &Claimed) -> Option<Arc<Connector>> {
        let key = (claim.tenant.clone(), claim.connector.clone());
        if claim.origin == Origin::File {
            if let Some(connector) = self.files.get(&key) {
                return Some(connector.clone());
            }
        }
        let loaded = self.registry.connector(&claim.tenant, &claim.connector).await;
        match loaded {
            Ok(Some(config)) => return Some(Arc::new(connectors::build(&config))),
            Ok(None) => info!(tenant = %claim.tenant, connector = %claim.connector,
                "the claimed connector is no longer defined"),
            Err(e) => {
                warn!(tenant = %claim.tenant, connector = %claim.connector, error = %e,
                    "stored connector cannot run until its settings are fixed");
                self.postpone(claim).await;
            }
        }
        self.release(claim).await;
        None
    }

    async fn postpone(&self, claim: &Claimed) {
        let store = self.supervisor.store().for_tenant(claim.tenant.clone());
        let later = store::now() + UNRUNNABLE_RETRY;
        let set = store.set_next_due(&claim.connector, claim.version, later, store::now());
        if let Err(e) = set.await {
            warn!(error = %e, "cannot postpone the connector");
        }
    }

    async fn release(&self, claim: &Claimed) {
        let store = self.supervisor.store().for_tenant(claim.tenant.clone());
        if let Err(e) = store
            .release_lease(&claim.connector, self.supervisor.holder())
            .await
        {
            warn!(error = %e, "cannot release the lease; it will expire");
        }
    }
}
