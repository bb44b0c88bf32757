//! `/health`: whether the endpoint reaches its database, without authentication (for load
//! balancers and probes).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::state::ScimState;

/// 200 when a query succeeds, 503 when the database is unreachable.
pub async fn health(state: ScimState) -> Response {
    let (status, body) = match state.read(|db| Ok(db.ping()?)).await {
        Ok(()) => (StatusCode::OK, "{\"status\":\"ok\"}"),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"status\":\"database unreachable\"}",
        ),
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
