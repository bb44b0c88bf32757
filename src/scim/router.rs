//! The routes under `/scim/v2` (RFC 7644 section 3.2): which handler answers which method
//! and path, with authentication on everything but `/health`.

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use super::auth::authenticate;
use super::discovery;
use super::groups::{self, Groups};
use super::health::health;
use super::http::{log_request, method_not_allowed, not_found};
use super::list::{list, search, search_all};
use super::state::ScimState;
use super::users::{self, Users};

/// The SCIM endpoint under `/scim/v2`, to be served with the daemon's other endpoints.
pub fn router(state: ScimState) -> Router {
    let authenticated = Router::new()
        .route("/Users", get(list::<Users>).post(users::create))
        .route("/Users/.search", post(search::<Users>))
        .route(
            "/Users/{id}",
            get(users::get_one)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(list::<Groups>).post(groups::create))
        .route("/Groups/.search", post(search::<Groups>))
        .route(
            "/Groups/{id}",
            get(groups::get_one)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/.search", post(search_all::<Users, Groups>))
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let scim = Router::new()
        .route("/health", get(health))
        .merge(authenticated)
        .fallback(not_found)
        .with_state(state);
    Router::new()
        .nest("/scim/v2", scim)
        .layer(middleware::from_fn(log_request))
}
