//! Progress of a run on a terminal: a spinner with the stage and the counts fetched so far.
//! Hidden when stderr is not a terminal (the daemon, CI, pipes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::oneshot;

#[derive(Clone)]
pub struct RunProgress {
    bar: ProgressBar,
    users: Arc<AtomicU64>,
    groups: Arc<AtomicU64>,
    /// Told the run's id once its row exists, for a caller (the admin API) that answers with
    /// the id while the run goes on.
    started: Arc<Mutex<Option<oneshot::Sender<i64>>>>,
}

impl std::fmt::Debug for RunProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunProgress")
    }
}

impl RunProgress {
    /// A spinner for `connector` on stderr (drawn only on a terminal).
    pub fn terminal(connector: &str) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(connector.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        RunProgress {
            bar,
            users: Arc::default(),
            groups: Arc::default(),
            started: Arc::default(),
        }
    }

    /// No display at all.
    pub fn hidden() -> Self {
        RunProgress {
            bar: ProgressBar::hidden(),
            users: Arc::default(),
            groups: Arc::default(),
            started: Arc::default(),
        }
    }

    /// No display; the receiver gets the run's id when its row is written (and is dropped
    /// unanswered when the run never starts: a dry run, a lease held elsewhere).
    pub fn announcing_start() -> (Self, oneshot::Receiver<i64>) {
        let (tx, rx) = oneshot::channel();
        let progress = RunProgress::hidden();
        if let Ok(mut slot) = progress.started.lock() {
            *slot = Some(tx);
        }
        (progress, rx)
    }

    /// The run's row exists: tells whoever waits for its id.
    pub(super) fn started(&self, run_id: i64) {
        let sender = self.started.lock().ok().and_then(|mut slot| slot.take());
        if let Some(tx) = sender {
            let _ = tx.send(run_id);
        }
    }

    pub fn stage(&self, stage: &str) {
        self.bar.set_message(format!(
            "{stage} ({} users, {} groups fetched)",
            self.users.load(Ordering::Relaxed),
            self.groups.load(Ordering::Relaxed)
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl idsync_source::Progress for RunProgress {
    fn fetched(&self, kind: &str, count: u64) {
        match kind {
            "users" => self.users.fetch_add(count, Ordering::Relaxed),
            "groups" => self.groups.fetch_add(count, Ordering::Relaxed),
            _ => 0,
        };
        self.stage("fetching");
    }
}
