//! Bearer authentication (RFC 7644 section 2): every request but `/health` carries the token
//! made with `idsync scim-token create`; a failure is a 401 and one log line.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::warn;

use super::error::ScimError;
use super::http::{method_label, user_agent, BASE_PATH};
use super::state::ScimState;
use super::tokens;

/// The middleware: passes the request on when its bearer token's digest is a tenant's token,
/// marked with that tenant (the one whose data the request sees).
pub async fn authenticate(State(state): State<ScimState>, mut request: Request, next: Next) -> Response {
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
    let tenant = match &presented {
        Some(secret) => match state.tenant_of_token(&tokens::digest(secret)).await {
            Ok(t) => t,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let Some(tenant) = tenant else {
        let reason = match &presented {
            None => "no bearer token in the request",
            Some(_) => "wrong bearer token (or no token is configured: idsync scim-token create)",
        };
        warn!(
            method = method_label(request.method()),
            path = format_args!("{BASE_PATH}{}", request.uri().path()),
            user_agent = user_agent(request.headers()),
            reason,
            "SCIM authentication failed"
        );
        return ScimError::new(StatusCode::UNAUTHORIZED, None, "a valid bearer token is required")
            .into_response();
    };
    // The handlers take the state bound to this tenant (`ScimState`'s extractor).
    request.extensions_mut().insert(tenant);
    next.run(request).await
}
