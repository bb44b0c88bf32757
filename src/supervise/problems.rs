//! What is wrong right now beside quarantine, for `/healthz`: database writes that fail, and
//! connector runs that died (a panic), each until the next success clears it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Shared between the supervisor (which records) and the ops endpoint (which reports).
#[derive(Debug, Clone, Default)]
pub struct Problems(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    /// Why the last database write failed; `None` once a write succeeded again.
    write: Option<String>,
    /// Connector name to why its last run died.
    died: BTreeMap<String, String>,
}

/// A copy of the current problems.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub write: Option<String>,
    pub died: Vec<(String, String)>,
}

impl Snapshot {
    pub fn is_empty(&self) -> bool {
        self.write.is_none() && self.died.is_empty()
    }
}

impl Problems {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind: still usable.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn write_failed(&self, reason: String) {
        self.lock().write = Some(reason);
    }

    pub fn write_succeeded(&self) {
        self.lock().write = None;
    }

    pub fn run_died(&self, connector: &str, reason: String) {
        self.lock().died.insert(connector.to_owned(), reason);
    }

    pub fn run_completed(&self, connector: &str) {
        self.lock().died.remove(connector);
    }

    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        Snapshot {
            write: inner.write.clone(),
            died: inner.died.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}
