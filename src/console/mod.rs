//! The operator console: server-rendered pages under `/ui/` on the admin listener.
//!
//! `session.rs` signs the session cookie and derives the CSRF token; `guard.rs` lets a
//! request in (a session for every page, same origin and the CSRF token for every
//! state-changing request); `layout.rs` is the page frame and its stylesheet; the pages are
//! `overview.rs` (tenants), `tenant.rs` (one tenant), `log.rs` (the provisioning log), with
//! `chart.rs` drawing the run history; `actions.rs` handles the forms, each through the same
//! admin API function as `/admin/v1`, recorded with the operator as `console:<name>`.

mod actions;
mod chart;
mod guard;
mod layout;
mod log;
mod overview;
pub mod session;
mod signin;
mod tenant;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::admin::AdminState;
use session::SessionKey;

/// Where the console lives.
pub const BASE_PATH: &str = "/ui";

/// What the console's handlers share.
#[derive(Debug, Clone)]
pub struct Console {
    pub admin: AdminState,
    pub key: SessionKey,
}

impl Console {
    pub fn new(admin: AdminState) -> Console {
        let key = SessionKey::derive(admin.token_digest());
        Console { admin, key }
    }
}

/// The console's routes, to merge into the admin listener's router.
pub fn router(admin: AdminState) -> Router {
    let limit = admin.max_body_bytes();
    let console = Console::new(admin);
    let protected = Router::new()
        .route("/ui", get(overview::show))
        .route("/ui/", get(overview::show))
        .route("/ui/tenants/{tenant}", get(tenant::show))
        .route("/ui/tenants/{tenant}/log", get(log::show))
        .route(
            "/ui/tenants/{tenant}/connectors/{name}/approve",
            post(actions::approve),
        )
        .route(
            "/ui/tenants/{tenant}/connectors/{name}/reject",
            post(actions::reject),
        )
        .route("/ui/tenants/{tenant}/connectors/{name}/run", post(actions::run))
        .route(
            "/ui/tenants/{tenant}/conflicts/{id}/resolve",
            post(actions::resolve),
        )
        .route(
            "/ui/tenants/{tenant}/scim-token/rotate",
            post(actions::rotate_token),
        )
        .route(
            "/ui/tenants/{tenant}/scim-token/revoke",
            post(actions::revoke_token),
        )
        .route("/ui/logout", post(signin::logout))
        .route_layer(middleware::from_fn_with_state(
            console.clone(),
            guard::require_session,
        ));
    let public = Router::new()
        .route("/ui/login", get(signin::form).post(signin::login))
        .route("/ui/style.css", get(layout::stylesheet));
    let ui = protected
        .merge(public)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::map_response(security_headers))
        .with_state(console);
    Router::new().merge(ui)
}

/// Every console answer: no caching, no framing, nothing loaded from elsewhere.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
