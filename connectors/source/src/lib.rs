//! The contract between identity sources and the idsync pipeline.
//!
//! A connector knows one upstream wire format (a JSON export, Microsoft Graph, Okta) and turns
//! it into the normalized records of [`record`]. Everything downstream of this crate (matcher,
//! planner, store) works on those records only, so no other part of idsync knows what Graph or
//! Okta look like on the wire.

pub mod assertion;
pub mod config;
pub mod error;
pub mod interner;
pub mod mapping;
pub mod nesting;
pub mod record;
pub mod retry;
pub mod secret;

use async_trait::async_trait;

pub use error::SourceError;
pub use nesting::{resolve_nesting, NestedGroup, NestedGroups};
pub use record::{Batch, ChangeSet, Fetched, GroupChange, GroupRecord, MembersChange, Snapshot, UserRecord};
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
}
