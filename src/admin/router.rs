//! The routes, each registered with its OpenAPI operation so the document lists exactly what
//! is served.

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::IntoResponse;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::AdminError;
use super::state::AdminState;
use super::{auth, changes, connectors, doc, history, runs, scim_token, status, tenants, webhooks};

/// Where the API lives.
pub const BASE_PATH: &str = "/admin/v1";

/// The authenticated routes, relative to [`BASE_PATH`].
pub(super) fn api() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(tenants::list))
        .routes(routes!(tenants::put, tenants::get, tenants::delete))
        .routes(routes!(connectors::put, connectors::get, connectors::delete))
        .routes(routes!(status::status))
        .routes(routes!(status::approve))
        .routes(routes!(status::reject))
        .routes(routes!(runs::start_run))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(history::events))
        .routes(routes!(history::conflicts))
        .routes(routes!(history::resolve))
        .routes(routes!(scim_token::create, scim_token::revoke))
        .routes(routes!(changes::tenant_changes))
        .routes(routes!(changes::all_changes))
        .routes(routes!(webhooks::list))
        .routes(routes!(webhooks::put, webhooks::get, webhooks::delete))
        .routes(routes!(webhooks::attempts))
        .routes(routes!(webhooks::replay))
}

/// The whole API: every route behind the bearer token but the OpenAPI document, which
/// describes the API and holds nothing of any tenant.
pub fn router(state: AdminState) -> Router {
    let limit = state.max_body_bytes();
    let (api, _) = api().split_for_parts();
    let api = api
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .route("/openapi.json", axum::routing::get(doc::openapi_json))
        .layer(DefaultBodyLimit::max(limit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    Router::new().nest(BASE_PATH, api)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> impl IntoResponse {
    AdminError::MethodNotAllowed(format!("{method} is not served at {}", uri.path()))
}

async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    AdminError::NotFound(format!("no such endpoint: {}", uri.path()))
}
