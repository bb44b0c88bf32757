//! The contract between identity sources and the idsync pipeline.
//!
//! A connector knows one upstream wire format (a JSON export, Microsoft Graph, Okta) and turns
//! it into the normalized records of [`record`]. Everything downstream of this crate (matcher,
//! planner, store) works on those records only, so no other part of idsync knows what Graph or
//! Okta look like on the wire.

pub mod assertion;
pub mod config;
pub mod cursor;
pub mod error;
pub mod http;
pub mod interner;
pub mod mapping;
pub mod nesting;
pub mod record;
pub mod retry;
pub mod scrub;
pub mod secret;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod test_support;

use async_trait::async_trait;

pub use error::{error_chain, SourceError};
pub use nesting::{resolve_nesting, NestedGroup, NestedGroups};
pub use record::{Batch, ChangeSet, Fetched, GroupChange, GroupRecord, MembersChange, Snapshot, UserRecord};
pub use scrub::Scrubber;
pub use secret::Secret;

/// What the pipeline asks of a source for one run.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    /// The cursor stored with the data by the last successful run, if any. A source that can
    /// resume (Graph delta links, Okta `lastUpdated`) returns only what changed since.
    pub cursor: Option<String>,
    /// Ignore the cursor and return a complete snapshot (`idsync resync --full`).
    pub full: bool,
}

/// Receives progress while a source fetches, for the terminal display and the logs.
pub trait Progress: Send + Sync {
    /// `count` more objects of `kind` ("users", "groups", "members") arrived.
    fn fetched(&self, kind: &str, count: u64);
}

/// A progress sink that discards everything (daemon runs log at the end instead).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn fetched(&self, _kind: &str, _count: u64) {}
}

/// One user looked up on demand.
#[derive(Debug, Clone)]
pub struct UserLookup {
    pub record: UserRecord,
    /// False when the connector's scope excludes the user (a sync would treat them as removed).
    pub in_scope: bool,
    /// How the connector decided: which scope rule applied, what it could not check.
    pub steps: Vec<String>,
}

/// An identity source: something that can say who exists and who belongs to which group.
#[async_trait]
pub trait Source: Send + Sync {
    /// The connector name from the configuration; it is the `source` column of what it owns.
    fn name(&self) -> &str;

    /// Fetches the directory, as a complete snapshot or as the changes since `request.cursor`.
    ///
    /// A source must return an error rather than a partial snapshot: the planner reads a
    /// snapshot's absences as removals.
    async fn fetch(&self, request: &FetchRequest, progress: &dyn Progress) -> Result<Batch, SourceError>;

    /// Looks up one user (by the source's id or by sign-in name) for "provision on demand",
    /// with the steps that decided whether the user is in scope.
    async fn fetch_user(&self, key: &str) -> Result<Option<UserLookup>, SourceError> {
        let _ = key;
        Err(SourceError::Config(
            "this kind of connector cannot look up a single user".to_owned(),
        ))
    }

    /// Checks that the source can be reached and accepts our credentials, without syncing
    /// (the identity providers' "Test Connection"). Returns what was checked.
    async fn check(&self) -> Result<String, SourceError> {
        Ok("no connection to check for this kind of connector".to_owned())
    }
}
