//! The store: the application database, read into [`LocalState`](crate::local::LocalState)
//! for planning and written by applying a [`Plan`](crate::planner::Plan) in one transaction.
//!
//! [`Store`] is the only way in: a cheap-to-clone handle on a connection pool whose typed
//! async methods (load for a run, apply a plan, runs, leases, health, alert state, events,
//! SCIM queries) run the blocking diesel work off the async threads. The query modules are
//! plain functions over one connection, written once for both backends. The store imports
//! nothing from the layers above it (reconcile, supervise, daemon, commands, scim).

mod any_of;
mod apply;
pub mod changes;
mod conn;
pub mod connectors;
mod db;
pub mod decisions;
mod error;
pub mod events;
pub mod history;
mod keys;
pub mod lease;
mod load;
mod models;
pub mod overview;
mod pipeline;
mod pool;
pub mod resolutions;
pub mod runs;
pub mod schedules;
pub mod schema;
pub mod scim;
mod sql;
pub mod supervision;
pub mod tenants;
mod url;
pub mod webhooks;

pub(crate) use crate::with_conn;
pub(crate) use apply::apply;
pub use apply::{ApplyContext, CursorUpdate};
pub use conn::Conn;
pub(crate) use db::Db;
pub use error::StoreError;
pub(crate) use load::{load_local, load_local_for_changes};
pub use pool::{Store, StoreOptions};
pub use tenants::TenantRow;
pub use url::{DatabaseUrl, UrlError};

/// The current time as stored: UTC, to the microsecond (PostgreSQL's precision), so a value
/// read back compares equal to the one written.
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::SubsecRound::trunc_subsecs(now, 6)
}

/// Rows per INSERT: well under SQLite's 32766 bound parameters for the widest table.
pub(crate) const CHUNK: usize = 1000;
