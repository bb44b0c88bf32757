//! Serving the Graph fake: the token endpoint (secrets and signed assertions), bearer
//! checks, the Graph routes, Graph's error bodies, and faults as the server serves them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Map, Value as Json};

use super::pages::{project, selection, serve_delta, serve_list, serve_page, start_round, top_of};
use super::*;
use crate::server::{self, Handler, Reply, Request, When};

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

impl Handler for State {
    fn handle(&mut self, request: &Request) -> Response {
        let bearer = request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        let base = format!("{}/v1.0", request.origin());
        let (method, path) = (&request.method, request.path.as_str());
        match route_of(method, path) {
            Route::Token => serve_token(self, request.local, method, path, &request.headers, &request.body),
            _ => serve_graph(
                self,
                &base,
                method,
                path,
                &request.query,
                bearer,
                &request.headers,
            ),
        }
    }
}

impl Route {
    /// The requests this route names, for the fault queue.
    pub(super) fn when(self) -> When {
        When::matching(move |r| {
            let route = route_of(&r.method, &r.path);
            self == Route::Any || self == route || (self == Route::Graph && route != Route::Token)
        })
    }
}

impl Fault {
    /// The fault as the server serves it.
    pub(super) fn served(self) -> server::Fault<State> {
        let label = format!("{self:?}");
        let fault = match self {
            Fault::ConnectionReset => server::Fault::drop_after(
                Reply::new(StatusCode::OK)
                    .header("content-type", "application/json")
                    .body(&br#"{"@odata.context":"x","value":["#[..]),
            ),
            fault => server::Fault::build(move |s, r| {
                serve_fault(s, &fault, &format!("{}/v1.0", r.origin()), &r.uri, &r.path)
            }),
        };
        fault.labelled(label)
    }
}

pub(super) fn route_of(method: &Method, path: &str) -> Route {
    if method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        return Route::Token;
    }
    match path {
        "/v1.0/users/delta" | "/v1.0/users/microsoft.graph.delta" | "/v1.0/users/delta()" => {
            Route::UsersDelta
        }
        "/v1.0/groups/delta" | "/v1.0/groups/microsoft.graph.delta" | "/v1.0/groups/delta()" => {
            Route::GroupsDelta
        }
        p if p.starts_with("/v1.0/users/") && p.matches('/').count() == 3 => Route::User,
        _ => Route::Graph,
    }
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

pub(super) fn serve_token(
    s: &mut State,
    addr: SocketAddr,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    s.token_requests += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    if method != Method::POST
        || !headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
    {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must be a form.",
        );
    }
    let settings = s.settings.clone();
    let tenant = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    if tenant != settings.tenant {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if form.get("scope").map(String::as_str) != Some(GRAPH_SCOPE) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid.",
        );
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let (client_id, secret) = match &basic {
        Some(pair) => {
            let (id, secret) = pair.split_once(':').unwrap_or((pair, ""));
            (Some(id.to_owned()), Some(secret.to_owned()))
        }
        None => (form.get("client_id").cloned(), form.get("client_secret").cloned()),
    };
    if client_id.as_deref() != Some(settings.client_id.as_str()) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    let token_url = format!("http://{addr}{path}");
    let authenticated = match (secret, form.get("client_assertion")) {
        (Some(secret), None) => settings.client_secret.as_deref() == Some(secret.as_str()),
        (None, Some(assertion)) => {
            form.get("client_assertion_type").map(String::as_str) == Some(ASSERTION_TYPE)
                && check_assertion(&settings, assertion, &token_url)
        }
        _ => false,
    };
    if !authenticated {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret or assertion provided.",
        );
    }
    s.next_id += 1;
    let token = format!("fake-access-token-{}", s.next_id);
    let lifetime = settings.token_lifetime_secs;
    s.access_tokens
        .insert(token.clone(), Instant::now() + Duration::from_secs(lifetime));
    json_response(
        StatusCode::OK,
        &json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                "access_token": token}),
    )
}

pub(super) fn check_assertion(settings: &FakeSettings, assertion: &str, token_url: &str) -> bool {
    let Some((pubkey, sha1, sha256)) = &settings.certificate else {
        return false;
    };
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return false;
    };
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return false;
    }
    let thumb_ok =
        header.x5t.as_deref() == Some(sha1.as_str()) || header.x5t_s256.as_deref() == Some(sha256.as_str());
    if !thumb_ok {
        return false;
    }
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(pubkey.as_bytes()) else {
        return false;
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&[settings.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    match jsonwebtoken::decode::<Map<String, Json>>(assertion, &key, &validation) {
        Ok(data) => {
            data.claims.get("sub").and_then(Json::as_str) == Some(settings.client_id.as_str())
                && data
                    .claims
                    .get("jti")
                    .and_then(Json::as_str)
                    .is_some_and(|j| !j.is_empty())
        }
        Err(_) => false,
    }
}

pub(super) fn serve_graph(
    s: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    bearer: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let valid = bearer.is_some_and(|t| {
        s.access_tokens
            .get(t)
            .is_some_and(|until| *until > Instant::now())
    });
    if !valid {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            if bearer.is_some() {
                "Access token has expired or is not yet valid."
            } else {
                "Access token is empty."
            },
        );
    }
    if method != Method::GET {
        return graph_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "The fake only reads.",
        );
    }
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let rest = path.strip_prefix("/v1.0").unwrap_or(path);
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    // Paging through an existing round or list.
    if let Some(token) = param("$skiptoken") {
        if query.iter().any(|(k, _)| k == "$select") {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "$select is not supported with $skiptoken.",
            );
        }
        return serve_page(s, base, rest, token);
    }
    let _ = headers;
    match segments.as_slice() {
        [coll @ ("users" | "groups"), "delta" | "microsoft.graph.delta" | "delta()"] => {
            let kind = if *coll == "users" {
                Kind::Users
            } else {
                Kind::Groups
            };
            serve_delta(s, base, rest, kind, query)
        }
        ["users"] => serve_list(s, base, rest, Kind::Users, query),
        ["groups"] => serve_list(s, base, rest, Kind::Groups, query),
        ["users", id] => {
            let select = match selection(param("$select"), Kind::Users) {
                Ok(sel) => sel,
                Err(r) => return r,
            };
            match s.users.get(*id).filter(|u| u.deleted.is_none()) {
                Some(u) => {
                    let mut obj = project(&u.props, select.as_deref(), &USER_DEFAULT, true);
                    obj.insert(
                        "@odata.context".into(),
                        json!(format!("{base}/$metadata#users/$entity")),
                    );
                    json_response(StatusCode::OK, &Json::Object(obj))
                }
                None => graph_error(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    &format!(
                        "Resource '{id}' does not exist or one of its queried reference-property \
                         objects are not present."
                    ),
                ),
            }
        }
        ["groups", id, which @ ("members" | "transitiveMembers")] => {
            let Some(group) = s.groups.get(*id).filter(|g| g.deleted.is_none()) else {
                return graph_error(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    "Group not found.",
                );
            };
            let top = match top_of(param("$top")) {
                Ok(t) => t,
                Err(r) => return r,
            };
            let mut ids: Vec<(String, String)> = group.members.iter().cloned().collect();
            if *which == "transitiveMembers" {
                let mut seen: BTreeSet<(String, String)> = ids.iter().cloned().collect();
                let mut stack: Vec<String> = ids
                    .iter()
                    .filter(|(t, _)| t.ends_with("group"))
                    .map(|(_, i)| i.clone())
                    .collect();
                while let Some(g) = stack.pop() {
                    if let Some(child) = s.groups.get(&g) {
                        for m in &child.members {
                            if seen.insert(m.clone()) && m.0.ends_with("group") {
                                stack.push(m.1.clone());
                            }
                        }
                    }
                }
                ids = seen.into_iter().collect();
            }
            let items = ids
                .into_iter()
                .map(|(ty, id)| json!({"@odata.type": ty, "id": id}))
                .collect();
            start_round(s, base, rest, items, "directoryObjects", top, None)
        }
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{rest}'."),
        ),
    }
}
