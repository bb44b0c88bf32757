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

/// The middleware: passes the request on when its bearer token's digest is a tenant's token,
/// marked with that tenant (the one whose data the request sees).
pub async fn authenticate(State(state): State<ScimState>, mut request: Request, next: Next) -> Response {
    let (presented, query_refused) = presented_token(&state, &mut request);
    let tenant = match &presented {
        Some(secret) => match state.tenant_of_token(&tokens::digest(secret)).await {
            Ok(t) => t,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let Some(tenant) = tenant else {
        let reason = match (&presented, query_refused) {
            (None, Some(refused)) => refused,
            (None, None) => "no bearer token in the request",
            (Some(_), _) => "wrong bearer token (or no token is configured: idsync scim-token create)",
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

/// The token the request presents: the `Authorization: Bearer` header, else (when allowed,
/// on GET) the `access_token` query parameter; with the reason a query token was refused.
fn presented_token(state: &ScimState, request: &mut Request) -> (Option<String>, Option<&'static str>) {
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
    let query_token = take_query_token(request);
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
    (presented, query_refused)
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
