//! The connectors' loops, watched: a loop that dies (a panic outside a run) is noticed, its
//! failure counted toward quarantine, its lease released, and the loop started again at the
//! connector's next slot.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{Id, JoinError, JoinSet};
use tracing::warn;

use super::stored::StoredLoops;
use super::{schedule_loop, supervise_once, Clock};
use crate::connectors::Connector;
use crate::reconcile::panic_message;
use crate::supervise::Supervisor;

/// Tells one stored connector's loop to stop (after a run in progress); its `closed()`
/// completes when the loop has ended.
pub(super) type LoopStop = Arc<watch::Sender<bool>>;

/// One loop per connector, and which connector (and stop signal) each task runs.
pub(super) struct Loops {
    supervisor: Arc<Supervisor>,
    clock: Clock,
    jitter: Duration,
    /// The daemon's stop: every loop ends on it.
    stop: watch::Receiver<bool>,
    tasks: JoinSet<()>,
    by_task: HashMap<Id, (Arc<Connector>, watch::Receiver<bool>)>,
}

impl Loops {
    pub(super) fn new(
        supervisor: Arc<Supervisor>,
        clock: Clock,
        jitter: Duration,
        stop: watch::Receiver<bool>,
    ) -> Loops {
        Loops {
            supervisor,
            clock,
            jitter,
            stop,
            tasks: JoinSet::new(),
            by_task: HashMap::new(),
        }
    }

    /// Starts `connector`'s loop: its first run now, then on its schedule.
    pub(super) fn start(&mut self, connector: Arc<Connector>) {
        let stop = self.stop.clone();
        self.start_after(connector, Duration::ZERO, stop, None);
    }

    /// Starts a stored connector's loop, which also ends on the [`LoopStop`] returned. Its
    /// first run is as soon as `after` (the loop it replaces) has ended, so two loops of one
    /// connector never run at once.
    pub(super) fn start_stoppable(&mut self, connector: Arc<Connector>, after: Option<LoopStop>) -> LoopStop {
        let (own, stop) = watch::channel(false);
        let own = Arc::new(own);
        // The daemon's stop reaches this loop too; the relay ends with the loop.
        let (relay, mut daemon) = (own.clone(), self.stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = daemon.wait_for(|stopped| *stopped) => { let _ = relay.send(true); }
                () = relay.closed() => {}
            }
        });
        self.start_after(connector, Duration::ZERO, stop, after);
        own
    }

    fn start_after(
        &mut self,
        connector: Arc<Connector>,
        delay: Duration,
        stop: watch::Receiver<bool>,
        after: Option<LoopStop>,
    ) {
        let (supervisor, c) = (self.supervisor.clone(), connector.clone());
        let run = move || {
            let (supervisor, connector) = (supervisor.clone(), c.clone());
            async move { supervise_once(&supervisor, &connector).await }
        };
        let name = connector.config.label();
        let schedule = connector.config.schedule.clone();
        let (jitter, clock, mut stop) = (self.jitter, self.clock, stop);
        self.spawn_with(connector, stop.clone(), async move {
            if let Some(previous) = after {
                previous.closed().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => return,
            }
            schedule_loop(name, schedule, jitter, clock, run, stop).await;
        });
    }

    /// Watches `task` as `connector`'s loop.
    #[cfg(test)]
    pub(super) fn spawn(
        &mut self,
        connector: Arc<Connector>,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let stop = self.stop.clone();
        self.spawn_with(connector, stop, task);
    }

    fn spawn_with(
        &mut self,
        connector: Arc<Connector>,
        stop: watch::Receiver<bool>,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(task);
        self.by_task.insert(handle.id(), (connector, stop));
    }

    /// Watches the loops until `shutdown` completes, restarting any that panics, and
    /// starting, restarting and stopping the stored connectors' loops as they change.
    pub(super) async fn watch_until(&mut self, shutdown: impl Future<Output = ()>, stored: &mut StoredLoops) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                Some(ended) = self.tasks.join_next_with_id() => self.ended(ended).await,
                () = stored.due() => stored.sync(self).await,
            }
        }
    }

    async fn ended(&mut self, ended: Result<(Id, ()), JoinError>) {
        let (id, panic) = match ended {
            Ok((id, ())) => (id, None),
            Err(e) => (e.id(), e.try_into_panic().ok()),
        };
        let Some((connector, stop)) = self.by_task.remove(&id) else {
            return;
        };
        let name = connector.config.label();
        let Some(payload) = panic else {
            // The loop ended on its own (it said why); nothing to restart.
            return;
        };
        let reason = format!(
            "the connector's loop panicked: {}",
            panic_message(payload.as_ref())
        );
        self.supervisor.after_panic(&connector.config, reason).await;
        // Restarted at its next slot, so a loop that keeps panicking does not spin.
        let now = self.clock.now();
        let next = connector.config.schedule.next_after(now).unwrap_or(now);
        let delay = (next - now).to_std().unwrap_or_default();
        warn!(connector = %name, next = %next, "connector loop restarted at its next slot");
        self.start_after(connector, delay, stop, None);
    }

    /// The loops' tasks, for shutdown to wait on.
    pub(super) fn into_tasks(self) -> JoinSet<()> {
        self.tasks
    }
}
