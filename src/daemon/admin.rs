//! The admin API's listener, when `[admin] listen` is set.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::{bind, DaemonError};
use crate::admin::{AdminParts, AdminState};
use crate::config::Config;
use crate::connectors::Connector;
use crate::registry::ConnectorRegistry;
use crate::store::Store;
use crate::supervise::Supervisor;

/// Binds `[admin] listen` and serves the API on it until `stop` changes; nothing without it.
pub(super) async fn spawn(
    config: &Config,
    store: &Store,
    supervisor: &Arc<Supervisor>,
    connectors: &[Arc<Connector>],
    registry: &Arc<ConnectorRegistry>,
    tasks: &mut JoinSet<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    let admin = &config.admin;
    let (Some(address), Some(token)) = (admin.listen, &admin.token) else {
        return Ok(());
    };
    let listener = bind("admin.listen", address).await?;
    let local = listener.local_addr().unwrap_or(address);
    info!(listen = %local, "admin API listening under {}", crate::admin::BASE_PATH);
    let state = AdminState::new(AdminParts {
        store: store.clone(),
        database: config.database.clone(),
        token_digest: crate::admin::token_digest(token.expose()),
        supervisor: supervisor.clone(),
        connectors: connectors.to_vec(),
        registry: registry.clone(),
        max_body_bytes: admin.max_body_bytes,
    });
    let router = crate::admin::router(state.clone()).merge(crate::console::router(state.clone()));
    let limits = admin.listener_limits();
    tasks.spawn(async move {
        let stopped = async move {
            let _ = stop.changed().await;
        };
        if let Err(e) = crate::listener::serve(listener, router, limits, stopped).await {
            warn!(error = %e, "the admin API stopped");
        }
        state.finish_runs().await;
    });
    Ok(())
}
