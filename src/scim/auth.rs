//! Bearer authentication (RFC 7644 section 2): every request but `/health` carries the token
//! made with `idsync scim-token create`; a failure is a 401 and one log line.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::warn;

use super::error::ScimError;
use super::http::user_agent;
use super::state::ScimState;
use super::tokens;

/// The middleware: passes the request on when its bearer token matches the stored digest.
pub async fn authenticate(State(state): State<ScimState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let stored = match state.token_digest().await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let ok = match (&presented, &stored) {
        (Some(p), Some(s)) => tokens::verify(p, s),
        _ => false,
    };
    if !ok {
        let reason = match (&presented, &stored) {
            (_, None) => "no token is configured (idsync scim-token create)",
            (None, _) => "no bearer token in the request",
            _ => "wrong bearer token",
        };
        warn!(
            method = %request.method(),
            path = %request.uri().path(),
            user_agent = user_agent(request.headers()),
            reason,
            "SCIM authentication failed"
        );
        return ScimError::new(StatusCode::UNAUTHORIZED, None, "a valid bearer token is required")
            .into_response();
    }
    next.run(request).await
}
