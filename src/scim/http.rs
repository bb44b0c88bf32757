//! The HTTP plumbing every handler shares: reading a JSON body (size limit, media type),
//! answers with the SCIM media type, ETag and `If-Match` (RFC 7644 section 3.14), the base
//! URL, the fallbacks, and one log line per request.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::info;

use super::error::{ScimError, SCIM_JSON};
use super::state::ScimState;

/// Where the endpoint is served; the router nests every route under it (the `/v2` names the
/// protocol version, RFC 7644 section 3.13).
pub const BASE_PATH: &str = "/scim/v2";

/// The media types a body may have (RFC 7644 section 3.1: `application/scim+json`, and
/// `application/json` which section 8.1 lets clients send), with any parameters.
const BODY_TYPES: [&str; 2] = [SCIM_JSON, "application/json"];

/// 415 unless the `Content-Type` is one of [`BODY_TYPES`] (a missing one is taken as
/// `application/scim+json`).
fn check_media_type(headers: &HeaderMap) -> Result<(), ScimError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|ct| ct.split(';').next())
        .map(|e| e.trim().to_ascii_lowercase());
    if essence.as_deref().is_some_and(|e| BODY_TYPES.contains(&e)) {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(value.as_bytes())
        .chars()
        .take(100)
        .collect::<String>();
    Err(ScimError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
        format!("Content-Type {shown:?} is not supported; send application/scim+json"),
    ))
}

/// The body as JSON: 415 for another media type than JSON's, 413 over the limit, 400 for
/// malformed JSON.
pub async fn json_body(state: &ScimState, headers: &HeaderMap, body: Body) -> Result<Value, ScimError> {
    check_media_type(headers)?;
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

/// The endpoint's base URL, for `Location` and `meta.location`: `[scim] public_url` when set;
/// else the request's `Host`, or `X-Forwarded-Host` and `X-Forwarded-Proto` when the peer is
/// one of `[scim] trusted_proxies`. A host that is not a plain host name (letters, digits and
/// `.-:[]`) or a scheme other than `http` and `https` is ignored, so no header can put markup
/// or another path into a URL the endpoint answers with.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<ScimState> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &ScimState) -> Result<Self, Self::Rejection> {
        if let Some(url) = state.public_url() {
            return Ok(BaseUrl(url.to_owned()));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = peer.is_some_and(|p| state.trusts(p));
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let host = [
            forwarded.then(|| header("x-forwarded-host")).flatten(),
            header("host"),
        ]
        .into_iter()
        .flatten()
        .map(|h| h.split(',').next().unwrap_or_default().trim())
        .find(|h| plain_host(h))
        .unwrap_or("localhost");
        let proto = forwarded
            .then(|| header("x-forwarded-proto"))
            .flatten()
            .map(|p| {
                p.split(',')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|p| p == "http" || p == "https")
            .unwrap_or_else(|| "http".to_owned());
        Ok(BaseUrl(format!("{proto}://{host}{BASE_PATH}")))
    }
}

/// A host and optional port: a DNS name, an IPv4 address or a bracketed IPv6 address.
fn plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
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
    /// forms of `current` match. A value that is not visible ASCII names no version (entity
    /// tags are ASCII, RFC 9110 section 8.8.3), so it is a 412 too, never ignored.
    pub fn check(&self, current: &str) -> Result<(), ScimError> {
        let Some(value) = &self.0 else {
            return Ok(());
        };
        let Ok(expected) = value.to_str() else {
            return Err(ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                format!("If-Match is not ASCII, so it cannot match the current version {current}"),
            ));
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

/// The method as a metric label and log field: one of the methods HTTP defines (RFC 9110
/// section 9, and PATCH), else `other`, so a request cannot add a series.
pub fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("other", |m| m.as_str())
}

/// The middleware around every request: the SCIM media type on answers that lack one, a
/// request counter, and one log line.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
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
        "method" => method,
        "status" => status.to_string()
    )
    .increment(1);
    info!(
        method,
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
