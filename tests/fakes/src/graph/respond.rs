//! The Graph fake's responses: Graph's error bodies and JSON headers, the token endpoint's
//! error bodies, and faults as the server serves them.

use std::time::SystemTime;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use super::*;
use crate::server::Reply;

pub(super) fn now_text() -> String {
    httpdate::fmt_http_date(SystemTime::now())
}

pub(super) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "request-id": "00000000-0000-0000-0000-00000000f4e1",
                "date": now_text(),
            }
        }
    });
    json_response(status, &body)
}

pub(super) fn json_response(status: StatusCode, body: &Json) -> Response {
    bytes_response(status, serde_json::to_vec(body).unwrap())
}

/// Graph's JSON content type ("Microsoft Graph REST API v1.0 endpoint reference": OData
/// 4.0 JSON with minimal metadata).
const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

pub(super) fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    Reply::new(status)
        .header("content-type", ODATA_JSON)
        .header("request-id", "00000000-0000-0000-0000-00000000f4e1")
        .header("OData-Version", "4.0")
        .body(body)
        .into_response()
}

pub(super) fn token_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    json_response(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": "2026-11-23 12:00:00Z",
            "trace_id": "00000000-0000-0000-0000-0000000000aa",
            "correlation_id": "00000000-0000-0000-0000-0000000000bb",
        }),
    )
}

pub(super) fn serve_fault(s: &mut State, fault: &Fault, base: &str, uri: &Uri, path: &str) -> Response {
    match fault {
        Fault::Throttle(after) => {
            let body = json!({
                "error": {
                    "code": "TooManyRequests",
                    "innerError": {
                        "code": "429", "date": now_text(), "message": "Please retry after",
                        "request-id": "94fb3b52-452a-4535-a601-69e0a90e3aa2", "status": "429"
                    },
                    "message": "Please retry again later."
                }
            });
            let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
            if let Some(after) = after {
                r.headers_mut()
                    .insert("Retry-After", HeaderValue::from_str(after).unwrap());
            }
            r.headers_mut().insert(
                "x-ms-throttle-scope",
                HeaderValue::from_static("Tenant_Application/ReadWrite/app/tenant"),
            );
            r
        }
        Fault::Unavailable(after) => {
            let mut r = graph_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
            );
            if let Some(after) = after {
                r.headers_mut()
                    .insert("Retry-After", HeaderValue::from_str(after).unwrap());
            }
            r
        }
        Fault::GatewayTimeout => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::GATEWAY_TIMEOUT;
            r
        }
        Fault::InternalError => graph_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "An unexpected error occurred.",
        ),
        Fault::Unauthorized => graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        ),
        Fault::Forbidden => graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
        Fault::Truncated => {
            let body = format!(
                concat!(
                    r#"{{"@odata.context":"{base}/$metadata#users","value":"#,
                    r#"[{{"id":"0000","userPrincipalName":"trunc"#
                ),
                base = base
            );
            bytes_response(StatusCode::OK, body.into_bytes())
        }
        Fault::EmptyPage => {
            let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or(path);
            let same = format!("{base}{}", target.trim_start_matches("/v1.0"));
            json_response(
                StatusCode::OK,
                &json!({"@odata.context": format!("{base}/$metadata#directoryObjects"),
                        "@odata.nextLink": same, "value": []}),
            )
        }
        Fault::ConnectionReset => unreachable!("served by the server as a dropped connection"),
        Fault::Delay(_) => unreachable!("served by the server as the handler's answer, late"),
        Fault::Reset => {
            s.reset_pending = false;
            let kind = if path.contains("/groups/") {
                "groups"
            } else {
                "users"
            };
            let mut r = graph_error(
                StatusCode::GONE,
                "resyncRequired",
                "The delta token is no longer valid, and the app must reset the sync state.",
            );
            let location = format!("{base}/{kind}/delta?$deltatoken=");
            r.headers_mut()
                .insert("Location", HeaderValue::from_str(&location).unwrap());
            r
        }
        Fault::Expired => graph_error(
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be \
             synchronized again.",
        ),
    }
}
