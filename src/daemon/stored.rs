//! The stored connectors' loops: every `[daemon] poll_secs` (and at once after a put or
//! delete through the registry) the stored connectors are read; a new one starts its loop
//! (first run now), a changed one is restarted (its first run as soon as the old loop has
//! finished a run in progress), a removed one is stopped (after a run in progress).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::watchdog::{LoopStop, Loops};
use crate::connectors;
use crate::registry::{ConnectorRegistry, Loaded};
use crate::tenant::TenantId;

/// What a stored connector's loop was started from.
struct Running {
    updated_at: chrono::NaiveDateTime,
    /// `None`: the stored settings cannot run (said once, when they were read).
    stop: Option<LoopStop>,
}

/// The registry's connectors and the loops running them.
pub(super) struct StoredLoops {
    registry: Option<Arc<ConnectorRegistry>>,
    poll: tokio::time::Interval,
    running: HashMap<(TenantId, String), Running>,
}

impl StoredLoops {
    /// Polls `registry` every `poll`.
    pub(super) fn new(registry: Arc<ConnectorRegistry>, poll: Duration) -> StoredLoops {
        let mut poll = tokio::time::interval(poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        StoredLoops {
            registry: Some(registry),
            poll,
            running: HashMap::new(),
        }
    }

    /// No stored connectors (a test's daemon): never due.
    #[cfg(test)]
    pub(super) fn none() -> StoredLoops {
        StoredLoops {
            registry: None,
            poll: tokio::time::interval(Duration::from_secs(3600)),
            running: HashMap::new(),
        }
    }

    /// Completes when it is time to look: the next poll, or a change through the registry.
    pub(super) async fn due(&mut self) {
        let Some(registry) = &self.registry else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = self.poll.tick() => {}
            () = registry.changed() => {}
        }
    }

    /// Reads the stored connectors and brings the loops in line with them.
    pub(super) async fn sync(&mut self, loops: &mut Loops) {
        let Some(registry) = &self.registry else {
            return;
        };
        let stored = match registry.load_all().await {
            Ok(stored) => stored,
            Err(e) => {
                warn!(error = %e, "cannot read the stored connectors; the running ones go on");
                return;
            }
        };
        let mut gone: Vec<(TenantId, String)> = self.running.keys().cloned().collect();
        for loaded in stored {
            let key = (loaded.tenant.clone(), loaded.name.clone());
            gone.retain(|k| *k != key);
            if self
                .running
                .get(&key)
                .is_some_and(|r| r.updated_at == loaded.updated_at)
            {
                continue;
            }
            let previous = self.running.remove(&key).and_then(|r| r.stop);
            let running = start(loops, loaded, previous);
            self.running.insert(key, running);
        }
        for key in gone {
            if let Some(Running { stop: Some(stop), .. }) = self.running.remove(&key) {
                info!(tenant = %key.0, connector = %key.1, "stored connector removed: stopping it");
                let _ = stop.send(true);
            }
        }
    }
}

/// Starts (or restarts, after `previous`) the loop of a new or changed stored connector.
fn start(loops: &mut Loops, loaded: Loaded, previous: Option<LoopStop>) -> Running {
    let (tenant, name) = (&loaded.tenant, &loaded.name);
    let restart = previous.is_some();
    if let Some(previous) = &previous {
        let _ = previous.send(true);
    }
    let config = match loaded.config {
        Ok(config) => config,
        Err(e) => {
            warn!(tenant = %tenant, connector = %name, error = %e,
                "stored connector cannot run until its settings are fixed");
            return Running {
                updated_at: loaded.updated_at,
                stop: None,
            };
        }
    };
    if restart {
        info!(tenant = %tenant, connector = %name, "stored connector changed: restarting it");
    } else {
        info!(tenant = %tenant, connector = %name, "stored connector found: starting it");
    }
    let connector = Arc::new(connectors::build(&config));
    Running {
        updated_at: loaded.updated_at,
        stop: Some(loops.start_stoppable(connector, previous)),
    }
}
