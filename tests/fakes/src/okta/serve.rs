//! Serving the Okta fake: routes, the token endpoint, authorization, rate limits, the list
//! endpoints with their `Link` paging, and faults as the server serves them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as Json};

use super::filter::{parse, Kind};
use super::*;
use crate::server::{self, Handler, Reply, Request};

pub(super) fn route_of(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["oauth2", "v1", "token"]) => Route::Token,
        ("GET", ["api", "v1", "users"]) => Route::Users,
        ("GET", ["api", "v1", "groups"]) => Route::Groups,
        ("GET", ["api", "v1", "groups", _, "users"]) => Route::Members,
        ("GET", ["api", "v1", "users", _]) => Route::User,
        _ => Route::Other,
    }
}

impl Handler for State {
    fn handle(&mut self, request: &Request) -> Response {
        let route = route_of(&request.method, &request.path);
        let base = request.origin();
        if route == Route::Token {
            return serve_token(self, &base, &request.body);
        }
        match rate_limit(self, route) {
            Some(throttled) => throttled,
            None => {
                let authorization = request.header("authorization");
                serve_api(self, &base, route, &request.path, &request.query, authorization)
            }
        }
    }

    /// Every answer, faults' too, carries the rate-limit headers, `Date` and a request id.
    fn finish(&mut self, request: &Request, response: &mut Response) {
        add_common_headers(self, route_of(&request.method, &request.path), response);
    }
}

fn epoch_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Counts a request against its bucket; a 429 when the bucket is empty.
fn rate_limit(s: &mut State, route: Route) -> Option<Response> {
    let (limit, window) = s.settings.rate_limit?;
    let now = epoch_secs();
    let bucket = s.buckets.entry(route).or_insert(Bucket {
        used: 0,
        reset: now + window,
    });
    if now >= bucket.reset {
        *bucket = Bucket {
            used: 0,
            reset: now + window,
        };
    }
    if bucket.used >= limit {
        s.throttled += 1;
        return Some(okta_error(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        ));
    }
    bucket.used += 1;
    None
}

fn add_common_headers(s: &mut State, route: Route, response: &mut Response) {
    let now = SystemTime::now();
    let (limit, remaining, reset) = match s.settings.rate_limit {
        Some((limit, window)) => {
            let b = s.buckets.get(&route).copied().unwrap_or(Bucket {
                used: 0,
                reset: epoch_secs() + window,
            });
            (limit, limit.saturating_sub(b.used), b.reset)
        }
        None => (10_000, 9_999, epoch_secs() + 60),
    };
    s.next_id += 1;
    let request_id = format!("fakereq{:012}", s.next_id);
    let h = response.headers_mut();
    h.insert(
        "date",
        HeaderValue::from_str(&httpdate::fmt_http_date(now)).unwrap(),
    );
    h.insert("x-rate-limit-limit", HeaderValue::from(limit));
    h.insert("x-rate-limit-remaining", HeaderValue::from(remaining));
    h.insert("x-rate-limit-reset", HeaderValue::from(reset));
    h.insert("x-okta-request-id", HeaderValue::from_str(&request_id).unwrap());
}

fn json_response(status: StatusCode, body: &Json) -> Response {
    Reply::json(status, body).into_response()
}

fn error_body(code: &str, summary: &str) -> Json {
    json!({"errorCode": code, "errorSummary": summary, "errorLink": code,
           "errorId": format!("oae{}", &code[1..]), "errorCauses": []})
}

fn okta_error(status: StatusCode, code: &str, summary: &str) -> Response {
    json_response(status, &error_body(code, summary))
}

impl Fault {
    /// The fault as the server serves it: a canned reply, or a dropped connection.
    pub(super) fn served(self) -> server::Fault<State> {
        let label = format!("{self:?}");
        let error = |status, code, summary| Reply::json(status, &error_body(code, summary));
        let json = |status| Reply::new(status).header("content-type", "application/json");
        let fault = match self {
            Fault::TooManyRequests => server::Fault::reply(error(
                StatusCode::TOO_MANY_REQUESTS,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            )),
            Fault::InternalError => server::Fault::reply(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "E0000009",
                "Internal Server Error",
            )),
            Fault::Unavailable => server::Fault::reply(Reply::new(StatusCode::SERVICE_UNAVAILABLE)),
            Fault::Unauthorized => server::Fault::reply(error(
                StatusCode::UNAUTHORIZED,
                "E0000011",
                "Invalid token provided",
            )),
            Fault::Forbidden => server::Fault::reply(error(
                StatusCode::FORBIDDEN,
                "E0000006",
                "You do not have permission to perform the requested action",
            )),
            Fault::NotFound => server::Fault::reply(error(
                StatusCode::NOT_FOUND,
                "E0000007",
                "Not found: Resource not found",
            )),
            Fault::Truncated => server::Fault::reply(
                json(StatusCode::OK)
                    .body(r#"[{"id":"00utruncated","status":"ACTIVE","profile":{"login":"tr"#),
            ),
            Fault::ConnectionReset => {
                server::Fault::drop_after(json(StatusCode::OK).body(r#"[{"id":"00ureset","#))
            }
        };
        fault.labelled(label)
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(status, &json!({"error": error, "error_description": description}))
}

fn serve_token(s: &mut State, base: &str, body: &[u8]) -> Response {
    s.token_requests += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "client_assertion_type is missing or wrong",
        );
    }
    let Some(assertion) = form.get("client_assertion") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "client_assertion is missing",
        );
    };
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "the client assertion is not a JWT",
        );
    };
    use jsonwebtoken::Algorithm::*;
    if !matches!(header.alg, RS256 | RS384 | RS512 | ES256 | ES384) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unsupported signing algorithm",
        );
    }
    let token_url = format!("{base}/oauth2/v1/token");
    let client_id = s.settings.client_id.clone();
    let mut verified: Option<Map<String, Json>> = None;
    for pem in &s.settings.public_keys {
        let key = match header.alg {
            ES256 | ES384 => jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()),
            _ => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()),
        };
        let Ok(key) = key else { continue };
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[&token_url]);
        validation.set_issuer(&[&client_id]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 0;
        if let Ok(data) = jsonwebtoken::decode::<Map<String, Json>>(assertion, &key, &validation) {
            verified = Some(data.claims);
            break;
        }
    }
    let Some(claims) = verified else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion signature or claims (iss, aud, exp) are invalid.",
        );
    };
    if claims.get("sub").and_then(Json::as_str) != Some(client_id.as_str()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "sub must be the client id",
        );
    }
    let exp = claims.get("exp").and_then(Json::as_u64).unwrap_or(0);
    if exp > epoch_secs() + 3600 {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "exp is more than an hour away",
        );
    }
    let scopes: Vec<String> = form
        .get("scope")
        .map(|v| {
            v.split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if scopes.is_empty() || scopes.iter().any(|x| !s.settings.granted_scopes.contains(x)) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The following scopes were requested, but not granted.",
        );
    }
    s.next_id += 1;
    let token = format!("eyJfake.{}.{}", s.next_id, epoch_secs());
    let lifetime = s.settings.token_lifetime_secs;
    s.access_tokens.insert(
        token.clone(),
        (Instant::now() + Duration::from_secs(lifetime), scopes.clone()),
    );
    json_response(
        StatusCode::OK,
        &json!({"token_type": "Bearer", "expires_in": lifetime, "access_token": token,
                "scope": scopes.join(" ")}),
    )
}

/// Checks the `Authorization` header for `scope`.
fn authorize(s: &State, authorization: Option<&str>, scope: &str) -> Result<(), Response> {
    let unauthorized = || okta_error(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided");
    match authorization {
        Some(v) if v.strip_prefix("SSWS ") == Some(s.settings.api_token.as_str()) => Ok(()),
        Some(v) if v.starts_with("Bearer ") => {
            let token = &v["Bearer ".len()..];
            match s.access_tokens.get(token) {
                Some((expiry, _)) if *expiry <= Instant::now() => Err(unauthorized()),
                Some((_, scopes)) if scopes.iter().any(|x| x == scope) => Ok(()),
                Some(_) => Err(okta_error(
                    StatusCode::FORBIDDEN,
                    "E0000006",
                    "You do not have permission to perform the requested action",
                )),
                None => Err(unauthorized()),
            }
        }
        _ => Err(unauthorized()),
    }
}

fn serve_api(
    s: &mut State,
    base: &str,
    route: Route,
    path: &str,
    query: &[(String, String)],
    authorization: Option<&str>,
) -> Response {
    let scope = match route {
        Route::Users | Route::User => "okta.users.read",
        Route::Groups | Route::Members => "okta.groups.read",
        _ => {
            return okta_error(
                StatusCode::NOT_FOUND,
                "E0000007",
                &format!("Not found: Resource not found: {path} (GET)"),
            )
        }
    };
    if let Err(r) = authorize(s, authorization, scope) {
        return r;
    }
    if matches!(route, Route::User) {
        // One user, by id or by login (case-insensitive), as Okta's Get User does.
        let raw = path.rsplit('/').next().unwrap_or_default();
        let key: String = url::form_urlencoded::parse(format!("k={raw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let found = s.users.iter().find(|(id, u)| {
            **id == key
                || u.profile
                    .get("login")
                    .and_then(Json::as_str)
                    .is_some_and(|l| l.eq_ignore_ascii_case(&key))
        });
        return match found {
            Some((id, u)) => json_response(StatusCode::OK, &user_json(base, id, u)),
            None => okta_error(
                StatusCode::NOT_FOUND,
                "E0000007",
                &format!("Not found: Resource not found: {key} (User)"),
            ),
        };
    }
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 200,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            return okta_error(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: limit",
            )
        }
    };
    let page_size = limit.min(200).min(s.settings.max_page);
    let after = param("after");
    if let Some(a) = after {
        if !a.starts_with("c1.") {
            return okta_error(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: after",
            );
        }
    }
    let after_id = after.map(|a| decode_cursor(&a[3..]));
    let (items, next_after): (Vec<Json>, Option<String>) = match route {
        Route::Users => {
            let filter = match (param("filter"), param("search")) {
                (Some(_), Some(_)) => {
                    return okta_error(StatusCode::BAD_REQUEST, "E0000031", "Invalid search criteria.")
                }
                (Some(f), None) => match parse(f, Kind::UserFilter) {
                    Ok(e) => Some(e),
                    Err(_) => {
                        return okta_error(StatusCode::BAD_REQUEST, "E0000031", "Invalid search criteria.")
                    }
                },
                (None, Some(q)) => match parse(q, Kind::UserSearch) {
                    Ok(e) => Some(e),
                    Err(_) => {
                        return okta_error(StatusCode::BAD_REQUEST, "E0000031", "Invalid search criteria.")
                    }
                },
                (None, None) => None,
            };
            page(s.users.iter(), after_id.as_deref(), page_size, |id, u| {
                let object = user_json(base, id, u);
                let keep = match &filter {
                    Some(e) => e.eval(&object),
                    // The plain list hides DEPROVISIONED users (Users API, "List all users").
                    None => u.status != "DEPROVISIONED",
                };
                keep.then_some(object)
            })
        }
        Route::Groups => {
            let filter = match param("filter") {
                Some(f) => match parse(f, Kind::GroupFilter) {
                    Ok(e) => Some(e),
                    Err(_) => {
                        return okta_error(StatusCode::BAD_REQUEST, "E0000031", "Invalid search criteria.")
                    }
                },
                None => None,
            };
            if param("search").is_some() {
                return okta_error(StatusCode::BAD_REQUEST, "E0000031", "Invalid search criteria.");
            }
            page(s.groups.iter(), after_id.as_deref(), page_size, |id, g| {
                let object = group_json(base, id, g);
                filter.as_ref().is_none_or(|e| e.eval(&object)).then_some(object)
            })
        }
        Route::Members => {
            let group = path.split('/').nth(4).unwrap_or_default();
            let Some(g) = s.groups.get(group) else {
                return okta_error(
                    StatusCode::NOT_FOUND,
                    "E0000007",
                    &format!("Not found: Resource not found: {group} (UserGroup)"),
                );
            };
            let users = &s.users;
            page(
                g.members.iter().map(|m| (m, ())),
                after_id.as_deref(),
                page_size,
                |id, ()| users.get(id.as_str()).map(|u| user_json(base, id, u)),
            )
        }
        _ => unreachable!(),
    };
    let self_url = format!(
        "{base}{path}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.iter())
            .finish()
    );
    let mut response = json_response(StatusCode::OK, &Json::Array(items));
    let h = response.headers_mut();
    h.append(
        "link",
        HeaderValue::from_str(&format!("<{self_url}>; rel=\"self\"")).unwrap(),
    );
    if let Some(next) = next_after {
        let mut pairs: Vec<(String, String)> = query.iter().filter(|(k, _)| k != "after").cloned().collect();
        pairs.push(("after".into(), format!("c1.{}", encode_cursor(&next))));
        let next_base = match &s.settings.next_host {
            Some(host) => format!("https://{host}"),
            None => base.to_owned(),
        };
        let next_url = format!(
            "{next_base}{path}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish()
        );
        h.append(
            "link",
            HeaderValue::from_str(&format!("<{next_url}>; rel=\"next\"")).unwrap(),
        );
    }
    response
}

/// Opaque cursors: the hex of the last id served.
fn encode_cursor(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(text: &str) -> String {
    let bytes: Vec<u8> = (0..text.len() / 2)
        .filter_map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One page: up to `size` kept items after `after`, and the id to continue after if more
/// items remain to be looked at.
fn page<'a, V: 'a>(
    items: impl Iterator<Item = (&'a String, V)>,
    after: Option<&str>,
    size: usize,
    mut keep: impl FnMut(&String, V) -> Option<Json>,
) -> (Vec<Json>, Option<String>) {
    let mut out = Vec::new();
    let mut last: Option<&String> = None;
    let mut items = items
        .skip_while(|(id, _)| after.is_some_and(|a| id.as_str() <= a))
        .peekable();
    while out.len() < size {
        let Some((id, v)) = items.next() else { break };
        last = Some(id);
        if let Some(object) = keep(id, v) {
            out.push(object);
        }
    }
    let more = items.peek().is_some();
    (out, if more { last.cloned() } else { None })
}

fn user_json(base: &str, id: &str, u: &UserEntry) -> Json {
    json!({
        "id": id,
        "status": u.status,
        "created": format_time(u.created),
        "activated": null,
        "statusChanged": null,
        "lastLogin": null,
        "lastUpdated": format_time(u.last_updated),
        "passwordChanged": null,
        "type": {"id": "oty1fakeusertype"},
        "profile": u.profile,
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
        "_links": {"self": {"href": format!("{base}/api/v1/users/{id}")}},
    })
}

fn group_json(base: &str, id: &str, g: &GroupEntry) -> Json {
    json!({
        "id": id,
        "created": format_time(g.created),
        "lastUpdated": format_time(g.last_updated),
        "lastMembershipUpdated": format_time(g.last_membership_updated),
        "objectClass": ["okta:user_group"],
        "type": g.kind,
        "profile": {"name": g.name, "description": null},
        "_links": {"users": {"href": format!("{base}/api/v1/groups/{id}/users")}},
    })
}
