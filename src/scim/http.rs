//! The HTTP plumbing every handler shares: reading a JSON body (size limit, media type),
//! answers with the SCIM media type, ETag and `If-Match` (RFC 7644 section 3.14), the base
//! URL, the fallbacks, and one log line per request.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::info;

use super::error::{ScimError, SCIM_JSON};
use super::state::ScimState;

/// The body as JSON: 413 over the limit, 415 for a clearly wrong media type (a missing one is
/// fine), 400 for malformed JSON.
pub async fn json_body(state: &ScimState, headers: &HeaderMap, body: Body) -> Result<Value, ScimError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        let fine =
            essence.is_empty() || essence.contains("json") || essence == "*/*" || essence == "text/plain";
        if !fine {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                format!("Content-Type {essence} is not supported; send application/scim+json"),
            ));
        }
    }
    let limit = state.max_body_bytes();
    let too_large = || {
        ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("the body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::bad("invalidSyntax", "the request has no body"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not valid JSON: {e}")))
}

/// The endpoint's base URL as the client reached it, for `Location` and `meta.location`.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}/scim/v2")
}

/// A JSON answer with the SCIM media type.
pub fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

/// A resource with its `ETag`, and its `Location` when it was just created (RFC 7644
/// section 3.3).
pub fn resource_response(status: StatusCode, body: &Value, etag: &str, location: &str) -> Response {
    let mut response = scim_response(status, body);
    if let Ok(v) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(location) {
            response.headers_mut().insert(header::LOCATION, v);
        }
    }
    response
}

/// A request's `If-Match` (RFC 7644 section 3.14), taken from the headers so a write closure
/// can check it against the row it loads.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<HeaderValue>);

impl IfMatch {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        IfMatch(headers.get(header::IF_MATCH).cloned())
    }

    /// 412 when the header names another version than `current`; `*` and weak or strong
    /// forms of `current` match.
    pub fn check(&self, current: &str) -> Result<(), ScimError> {
        let Some(expected) = self.0.as_ref().and_then(|v| v.to_str().ok()) else {
            return Ok(());
        };
        let ok = expected.split(',').map(str::trim).any(|e| {
            e == "*" || e == current || e.trim_start_matches("W/") == current.trim_start_matches("W/")
        });
        if ok {
            return Ok(());
        }
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("If-Match {expected} does not match the current version {current}"),
        ))
    }
}

pub fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// The middleware around every request: the SCIM media type on answers that lack one, a
/// request counter, and one log line.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let agent = user_agent(request.headers()).to_owned();
    let mut response = next.run(request).await;
    if !response.headers().contains_key(header::CONTENT_TYPE) && response.status() != StatusCode::NO_CONTENT {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    }
    let status = response.status().as_u16();
    metrics::counter!(
        "idsync_scim_requests_total",
        "method" => method.to_string(),
        "status" => status.to_string()
    )
    .increment(1);
    info!(
        method = %method,
        path = %path,
        status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        user_agent = %agent,
        "SCIM request"
    );
    response
}

/// 405 for a method a route does not take.
pub async fn method_not_allowed(method: Method) -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        format!("{method} is not supported on this resource"),
    )
}

/// 404 for a path with no route.
pub async fn not_found() -> ScimError {
    ScimError::not_found("no such endpoint")
}
