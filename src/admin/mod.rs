//! The JSON admin API under `/admin/v1`, served by `idsync run` on `[admin] listen`.
//!
//! `router.rs` lists the routes, `doc.rs` the OpenAPI document generated from them;
//! `auth.rs` checks the bearer token, `extract.rs` turns bad paths, queries and bodies into
//! [`AdminError`]s, `tenant.rs` resolves the `{tenant}` segment every handler is scoped to.
//! The handlers: `connectors.rs`, `runs.rs`, `status.rs` (status and approve), `history.rs` (events and
//! conflicts), `scim_token.rs`, `tenants.rs`. Answers are built in `views.rs`.

mod auth;
mod changes;
mod connectors;
mod doc;
mod error;
mod extract;
mod history;
mod router;
mod runs;
mod scim_token;
mod state;
mod status;
mod tenant;
mod tenants;
mod views;
mod webhooks;

pub use auth::digest as token_digest;
pub use doc::document;
pub use error::AdminError;
pub use router::{router, BASE_PATH};
pub use state::{AdminParts, AdminState};
