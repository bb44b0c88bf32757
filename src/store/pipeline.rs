//! The store's side of a run: the local state a plan is made on, and applying the plan.

use chrono::NaiveDateTime;
use idsync_source::{ChangeSet, Fetched};

use super::{apply, load_local, load_local_for_changes, ApplyContext, Store, StoreError};
use crate::local::LocalState;
use crate::planner::{Plan, PlanCounts, PlanSettings};

impl Store {
    /// The local state `source`'s run plans on. An incremental run loads only what its
    /// changes can touch (the same plan, far less work); a snapshot loads everything.
    /// `data` is handed back for planning.
    pub async fn load_for_run(
        &self,
        source: &str,
        data: Fetched,
        settings: &PlanSettings,
        now: NaiveDateTime,
    ) -> Result<(Fetched, LocalState), StoreError> {
        let (source, settings) = (source.to_owned(), settings.clone());
        self.scoped(move |db, t| {
            let local = match &data {
                Fetched::Changes(changes) => load_local_for_changes(db, t, &source, changes, &settings, now)?,
                Fetched::Snapshot(_) => load_local(db, t, &source)?,
            };
            Ok((data, local))
        })
        .await
    }

    /// The targeted load [`Store::load_for_run`] plans an incremental run on (so tests can hold
    /// it to the same plan as the full load).
    pub async fn load_for_changes(
        &self,
        source: &str,
        changes: &ChangeSet,
        settings: &PlanSettings,
        now: NaiveDateTime,
    ) -> Result<LocalState, StoreError> {
        let (source, changes, settings) = (source.to_owned(), changes.clone(), settings.clone());
        self.scoped(move |db, t| load_local_for_changes(db, t, &source, &changes, &settings, now))
            .await
    }

    /// Everything the tenant's `source` run sees in the store (the full load).
    pub async fn load_local(&self, source: &str) -> Result<LocalState, StoreError> {
        let source = source.to_owned();
        self.scoped(move |db, t| load_local(db, t, &source)).await
    }

    /// Applies `plan` in one transaction with its events, the run's end and the cursor.
    pub async fn apply(&self, plan: Plan, ctx: ApplyContext) -> Result<PlanCounts, StoreError> {
        let counts = self.scoped(move |db, t| apply(db, t, &plan, &ctx)).await;
        self.notify_changes();
        counts
    }
}
