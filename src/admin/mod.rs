//! The JSON admin API under `/admin/v1`, served by `idsync run` on `[admin] listen`.
//!
//! `router.rs` lists the routes, `doc.rs` the OpenAPI document generated from them;
//! `auth.rs` checks the bearer token, `extract.rs` turns bad paths, queries and bodies into
//! [`AdminError`]s, `tenant.rs` resolves the `{tenant}` segment every handler is scoped to.
//! The handlers: `connectors.rs`, `runs.rs`, `status.rs` (status and approve), `history.rs` (events and
//! conflicts), `scim_token.rs`, `tenants.rs`. Answers are built in `views.rs`.

pub(crate) mod auth;
mod changes;
mod connectors;
mod doc;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod history;
mod router;
pub(crate) mod runs;
pub(crate) mod scim_token;
pub(crate) mod state;
pub(crate) mod status;
pub(crate) mod tenant;
mod tenants;
pub(crate) mod views;
mod webhooks;

pub use auth::digest as token_digest;
pub use doc::document;
pub use error::AdminError;
pub use router::{router, BASE_PATH};
pub use state::{AdminParts, AdminState};
