//! What every admin handler shares, in one documented struct.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use crate::connectors::Connector;
use crate::registry::ConnectorRegistry;
use crate::store::{DatabaseUrl, Store};
use crate::supervise::Supervisor;
use crate::tenant::TenantId;

/// The admin API's state: cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The database, as every other layer reaches it.
    store: Store,
    /// The database's URL, to open a store for a dry run that can write nothing.
    database: DatabaseUrl,
    /// SHA-256 of `[admin] token`; the token itself is not kept.
    token_digest: [u8; 32],
    /// The daemon's supervisor, so a run asked for here takes the same lease, records the
    /// same health and sends the same mail as a scheduled one.
    supervisor: Arc<Supervisor>,
    /// The stored connectors (put and deleted through the API, run by the daemon).
    registry: Arc<ConnectorRegistry>,
    /// The configuration file's connectors by tenant and name, to run one now.
    connectors: HashMap<(TenantId, String), Arc<Connector>>,
    /// `[admin] max_body_bytes`.
    max_body_bytes: usize,
    /// The runs started through the API, so shutdown waits for them as it waits for
    /// scheduled runs.
    runs: Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState").finish_non_exhaustive()
    }
}

/// What [`AdminState::new`] is built from.
#[derive(Debug)]
pub struct AdminParts {
    pub store: Store,
    pub database: DatabaseUrl,
    pub token_digest: [u8; 32],
    pub supervisor: Arc<Supervisor>,
    pub connectors: Vec<Arc<Connector>>,
    pub registry: Arc<ConnectorRegistry>,
    pub max_body_bytes: usize,
}

impl AdminState {
    pub fn new(parts: AdminParts) -> AdminState {
        let connectors = parts
            .connectors
            .into_iter()
            .map(|c| ((c.config.tenant.clone(), c.config.name.clone()), c))
            .collect();
        AdminState {
            inner: Arc::new(Inner {
                store: parts.store,
                database: parts.database,
                token_digest: parts.token_digest,
                supervisor: parts.supervisor,
                connectors,
                registry: parts.registry,
                max_body_bytes: parts.max_body_bytes,
                runs: Mutex::new(JoinSet::new()),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn database(&self) -> &DatabaseUrl {
        &self.inner.database
    }

    pub fn token_digest(&self) -> &[u8; 32] {
        &self.inner.token_digest
    }

    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.inner.supervisor
    }

    pub fn registry(&self) -> &ConnectorRegistry {
        &self.inner.registry
    }

    /// A connector of the configuration file.
    pub fn connector(&self, tenant: &TenantId, name: &str) -> Option<Arc<Connector>> {
        self.inner
            .connectors
            .get(&(tenant.clone(), name.to_owned()))
            .cloned()
    }

    /// The names of the tenant's connectors in the configuration file, sorted.
    pub fn connector_names(&self, tenant: &TenantId) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .connectors
            .keys()
            .filter(|(t, _)| t == tenant)
            .map(|(_, name)| name.clone())
            .collect();
        names.sort();
        names
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// Runs `run` on its own task, kept until [`AdminState::finish_runs`] has seen it end.
    pub fn spawn_run(&self, run: impl Future<Output = ()> + Send + 'static) {
        let mut runs = self.inner.runs.lock().unwrap_or_else(|e| e.into_inner());
        while runs.try_join_next().is_some() {}
        runs.spawn(run);
    }

    /// Waits for every run started through the API (after the listener has stopped, so no
    /// new one can start).
    pub async fn finish_runs(&self) {
        let mut runs = std::mem::take(&mut *self.inner.runs.lock().unwrap_or_else(|e| e.into_inner()));
        while runs.join_next().await.is_some() {}
    }
}
