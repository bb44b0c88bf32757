//! The store: the application database, read into [`LocalState`](crate::local::LocalState)
//! for planning and written by applying a [`Plan`](crate::planner::Plan) in one transaction.

mod apply;
mod db;
pub mod events;
pub mod lease;
mod load;
mod models;
pub mod runs;
pub mod schema;
pub mod scim;
pub mod supervision;

pub(crate) use crate::with_conn;
pub use apply::{apply, ApplyContext, CursorUpdate};
pub use db::{DatabaseUrl, Db};
pub use load::{load_local, load_local_for_changes};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("{0}")]
    Invalid(String),
}

/// The current time as stored: UTC, to the microsecond (PostgreSQL's precision), so a value
/// read back compares equal to the one written.
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::SubsecRound::trunc_subsecs(now, 6)
}

/// Runs database work on tokio's blocking pool, off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(StoreError::Invalid(format!("database task failed: {e}"))))
}

/// Rows per INSERT: well under SQLite's 32766 bound parameters for the widest table.
pub(crate) const CHUNK: usize = 1000;
