//! Bearer authentication (RFC 7644 section 2): every request but `/health` carries the token
//! made with `idsync scim-token create`; a failure is a 401 and one log line. With
//! `allow_access_token_query`, a GET may carry it as the `access_token` query parameter
//! instead (RFC 6750 section 2.3); the parameter is taken off the URI before anything else
//! sees the request, and no log line ever shows a query string.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::warn;

use super::error::ScimError;
use super::http::{method_label, user_agent, BASE_PATH};
use super::state::ScimState;
use super::tokens;

/// The middleware: passes the request on when its bearer token matches the stored digest.
pub async fn authenticate(State(state): State<ScimState>, mut request: Request, next: Next) -> Response {
    let header_token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let query_token = take_query_token(&mut request);
    let query_refused = match (&query_token, &header_token) {
        (Some(_), None) if !state.allow_access_token_query() => {
            Some("the access_token query parameter is not enabled (allow_access_token_query)")
        }
        (Some(_), None) if request.method() != Method::GET => {
            Some("the access_token query parameter is accepted on GET only")
        }
        _ => None,
    };
    let presented = header_token.or(query_token.filter(|_| query_refused.is_none()));
    let stored = match state.token_digest().await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let ok = match (&presented, &stored) {
        (Some(p), Some(s)) => tokens::verify(p, s),
        _ => false,
    };
    if !ok {
        let reason = match (&presented, &stored, query_refused) {
            (_, None, _) => "no token is configured (idsync scim-token create)",
            (None, _, Some(refused)) => refused,
            (None, _, None) => "no bearer token in the request",
            _ => "wrong bearer token",
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
    }
    next.run(request).await
}

/// Removes every `access_token` parameter from the request's query and returns the first
/// one's value; the rest of the query stays as it was.
fn take_query_token(request: &mut Request) -> Option<String> {
    let query = request.uri().query()?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let token = pairs
        .iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.clone())?;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|part| part.split('=').next() != Some("access_token"))
        .collect();
    let path = request.uri().path();
    let path_and_query = if rest.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", rest.join("&"))
    };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    Some(token)
}
