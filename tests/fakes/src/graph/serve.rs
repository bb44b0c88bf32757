//! Serving the Graph fake: the token endpoint (secrets and signed assertions), bearer
//! checks and the Graph routes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Map, Value as Json};

use super::pages::{project, selection, serve_delta, serve_list, serve_page, start_round, top_of};
use super::respond::{graph_error, json_response, serve_fault, token_error};
use super::*;
use crate::server::{self, Handler, Reply, Request, When};

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
            Fault::Delay(delay) => server::Fault::delay(delay),
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
