//! Webhook delivery in `idsync run`: the file's `[[webhooks]]` written to the database at
//! start-up, then one delivery loop per endpoint of any tenant (`webhooks::Delivery`), started
//! as endpoints appear (within a second of a PUT) and ended when they are deleted or the daemon
//! stops. Each loop is its own task, so a slow receiver delays only its own endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

use super::DaemonError;
use crate::config::Config;
use crate::registry::ConnectorRegistry;
use crate::store::webhooks::WebhookSpec;
use crate::store::Store;
use crate::tenant::TenantId;
use crate::webhooks::{Delivery, DeliverySettings, SecretSource};

/// How often the set of endpoints is read again.
const RESCAN: Duration = Duration::from_secs(1);

/// Writes the file's endpoints, then starts the delivery.
pub(super) async fn spawn(
    config: &Config,
    store: &Store,
    registry: &ConnectorRegistry,
    tasks: &mut JoinSet<()>,
    stop: watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    sync_file_endpoints(config, store).await?;
    let secrets = SecretSource {
        keyring: registry.keyring().clone(),
        file: config
            .webhooks
            .iter()
            .map(|w| ((w.tenant.clone(), w.name.clone()), w.secret.clone()))
            .collect(),
    };
    let settings = DeliverySettings::from_config(&config.webhook_delivery);
    let mut delivery =
        Delivery::new(store.clone(), settings, secrets).map_err(|e| DaemonError::Webhooks(e.to_string()))?;
    if let Some(holder) = lease_holder(config) {
        delivery = delivery.holding_as(holder);
    }
    if let Some(alerts) = &config.alerts {
        match crate::supervise::mail::Mailer::new(alerts) {
            Ok(mailer) => delivery.mailer = Some(Arc::new(mailer)),
            Err(e) => warn!(error = %e, "webhook failure mail is off"),
        }
        delivery.recipients = crate::supervise::mail::tenant_recipients(&config.tenants).unwrap_or_default();
    }
    tasks.spawn(supervise(Arc::new(delivery), store.clone(), stop));
    Ok(())
}

/// The name this process holds endpoint leases under: the host and the addresses it listens
/// on, which no other running process on the host can share. A process restarted after a
/// crash thus takes its endpoints back at once, while another host waits for the lease to
/// lapse. None (a random name) when it listens on nothing.
fn lease_holder(config: &Config) -> Option<String> {
    let listens: Vec<String> = [
        config.admin.listen,
        config.scim.as_ref().map(|s| s.listen),
        config.ops.as_ref().map(|o| o.listen),
    ]
    .into_iter()
    .flatten()
    .filter(|a| a.port() != 0)
    .map(|a| a.to_string())
    .collect();
    if listens.is_empty() {
        return None;
    }
    let host = crate::supervise::host_name();
    Some(format!("webhooks:{host}:{}", listens.join(",")))
}

/// Puts every `[[webhooks]]` entry into the database (its secret stays in the file) and
/// removes the file's endpoints the file no longer lists.
async fn sync_file_endpoints(config: &Config, store: &Store) -> Result<(), DaemonError> {
    let now = crate::store::now();
    for hook in &config.webhooks {
        let spec = WebhookSpec {
            url: hook.url.clone(),
            sealed_secret: None,
            types: hook.types.clone(),
            batch_size: i64::from(hook.batch_size),
            from_config: true,
        };
        let tenant = store.for_tenant(hook.tenant.clone());
        if let Some(row) = tenant.webhook(&hook.name).await? {
            if !row.from_config {
                warn!(tenant = %hook.tenant, webhook = %hook.name, "the file's webhook replaces the one put through the API");
            }
        }
        tenant.put_webhook(&hook.name, spec, now).await?;
    }
    for row in store.all_webhooks().await? {
        let listed = config
            .webhooks
            .iter()
            .any(|w| w.tenant.as_str() == row.tenant_id && w.name == row.name);
        if row.from_config && !listed {
            if let Ok(tenant) = TenantId::parse(&row.tenant_id) {
                store.for_tenant(tenant).delete_webhook(&row.name).await?;
                info!(tenant = %row.tenant_id, webhook = %row.name, "webhook removed from the file: deleted");
            }
        }
    }
    Ok(())
}

/// Keeps one delivery loop per endpoint until `stop`; then waits for them.
async fn supervise(delivery: Arc<Delivery>, store: Store, mut stop: watch::Receiver<bool>) {
    let mut running: HashMap<(String, String), JoinHandle<()>> = HashMap::new();
    loop {
        running.retain(|_, task| !task.is_finished());
        match store.all_webhooks().await {
            Ok(rows) => {
                for row in rows {
                    let key = (row.tenant_id.clone(), row.name.clone());
                    if running.contains_key(&key) {
                        continue;
                    }
                    let Ok(tenant) = TenantId::parse(&row.tenant_id) else {
                        continue;
                    };
                    let task = delivery.clone().run_endpoint(tenant, row.name, stop.clone());
                    running.insert(key, tokio::spawn(task));
                }
            }
            Err(e) => warn!(error = %e, "webhook delivery cannot list the endpoints"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RESCAN) => {}
            _ = stop.changed() => break,
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}
