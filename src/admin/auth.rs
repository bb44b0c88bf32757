//! Bearer authentication: every request but the OpenAPI document carries `Authorization:
//! Bearer <[admin] token>`. The presented token's SHA-256 is compared with the configured
//! token's in constant time; a failure is a 401 JSON answer and one log line that names the
//! reason, never the token.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tracing::warn;

use super::error::AdminError;
use super::state::AdminState;

/// Who a request authenticated by `[admin] token` is, in the event log (one token, one
/// identity).
pub const IDENTITY: &str = "admin";

/// SHA-256 of a token, the form it is compared in.
pub fn digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The middleware: passes the request on when its bearer token is the configured one.
pub async fn authenticate(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let verdict = match presented {
        None => Err("no bearer token in the request"),
        Some(token) if bool::from(digest(token).ct_eq(state.token_digest())) => Ok(()),
        Some(_) => Err("wrong bearer token"),
    };
    if let Err(reason) = verdict {
        warn!(
            method = %request.method(),
            path = request.uri().path(),
            reason,
            "admin API authentication failed"
        );
        return AdminError::Unauthorized.into_response();
    }
    next.run(request).await
}
