//! The inbound SCIM 2.0 endpoint (RFC 7643/7644): identity providers push users and groups,
//! and everything they write goes through the same matcher, planner and store as the pull
//! connectors, with source `scim`.

//!
//! The files, each with one job: `router` (the routes) over the handlers `users`, `groups`,
//! `list` (the one list and search implementation), `discovery` and `health`; `auth` (the
//! bearer token) and `http` (bodies, media types, ETags, the request log); `state` (what the
//! handlers share). Nothing depends back on the router.

mod attributes;
mod auth;
mod conditions;
mod discovery;
pub mod error;
mod extensions;
pub mod filter;
mod groups;
mod health;
mod http;
mod limits;
mod list;
pub mod patch;
mod push;
pub mod resource;
mod router;
mod schemas;
mod state;
pub mod tokens;
mod users;

pub use router::router;
pub use state::ScimState;

/// Serves the endpoint on `listener` within `limits` until `shutdown` completes, with `also`
/// (the operational endpoints, when they share the address) beside it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    (state, tls): (ScimState, Option<crate::tls::Tls>),
    also: axum::Router,
    limits: crate::listener::ListenerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let checkpoints = tokio::spawn(state.clone().checkpoint_loop());
    // `listener::serve` attaches the peer's address (`ConnectInfo`), which decides whether its
    // X-Forwarded-* headers are believed.
    let app = router(state).merge(also);
    let served = match tls {
        Some(tls) => crate::listener::serve_tls(listener, app, limits, tls, shutdown).await,
        None => crate::listener::serve(listener, app, limits, shutdown).await,
    };
    checkpoints.abort();
    served
}
