//! A fake Okta org (management API v1 and the org authorization server's token endpoint), for
//! tests and the benchmark: one axum server on 127.0.0.1 with a mutable org.
//!
//! It follows the wire format the Okta developer documentation describes ("Core Okta API":
//! "Authentication", "Pagination", "Link header", "Filter", "Errors"; "Implement OAuth for Okta
//! with a service app"; the Users and Groups API references; "Rate limits"): `SSWS` API
//! tokens and OAuth 2.0 bearer tokens from `POST /oauth2/v1/token` (client credentials with a
//! `private_key_jwt` assertion, checked for iss, sub, aud, exp and signature; scopes granted
//! and enforced); JSON arrays paged by opaque `after` cursors in `Link` headers (`rel="self"`
//! and `rel="next"`, one header each); DEPROVISIONED users hidden from the plain user list but
//! returned by `filter` and `search`; the filter grammar limited to what Okta accepts (400
//! `E0000031` otherwise); `X-Rate-Limit-*`, `Date` and `X-Okta-Request-Id` on every response,
//! and 429 `E0000047` when a bucket is empty. It can misbehave on request (see [`Fault`]).
//!
//! It runs on the generic [`FakeServer`](crate::server::FakeServer); `support` holds the
//! connector configuration, a small org and the org's ground truth for tests.

pub mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::MutexGuard;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as Json};

use crate::server::{self, FakeServer, Handler, Reply, Request, When};

pub const API_TOKEN: &str = "00fake-okta-api-token_value";
pub const CLIENT_ID: &str = "0oafakeserviceapp1";
pub const SCOPES: &str = "okta.users.read okta.groups.read";
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The service app's keys: an RSA key (shared with the Graph fake) and an EC P-256 key.
pub const RSA_KEY_PEM: &str = include_str!("../../keys/test-key.pem");
pub const RSA_PUBKEY_PEM: &str = include_str!("../../keys/test-pubkey.pem");
pub const EC_KEY_PEM: &str = include_str!("../../keys/ec-key.pem");
pub const EC_PUBKEY_PEM: &str = include_str!("../../keys/ec-pubkey.pem");
/// A key the service app does not know.
pub const OTHER_KEY_PEM: &str = include_str!("../../keys/other-key.pem");

/// Which requests a fault or a rate-limit bucket applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Any,
    Token,
    /// `GET /api/v1/users`
    Users,
    /// `GET /api/v1/groups`
    Groups,
    /// `GET /api/v1/groups/{id}/users`
    Members,
    /// `GET /api/v1/users/{id or login}`
    User,
    Other,
}

/// A misbehaviour, served once instead of the normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 `E0000047` (the bucket is not touched).
    TooManyRequests,
    /// 500 `E0000009`.
    InternalError,
    /// 503 without a body.
    Unavailable,
    /// 401 `E0000011`.
    Unauthorized,
    /// 403 `E0000006`.
    Forbidden,
    /// 404 `E0000007`, as for an object deleted since it was listed.
    NotFound,
    /// A 200 whose JSON array stops half way.
    Truncated,
    /// The connection drops after part of the body.
    ConnectionReset,
}

/// A request in the fake's log.
pub type LoggedRequest = server::Recorded;

/// Settings of the fake, changeable between requests.
#[derive(Debug, Clone)]
pub struct FakeSettings {
    pub api_token: String,
    pub client_id: String,
    /// Public keys (PEM) registered on the service app.
    pub public_keys: Vec<String>,
    pub granted_scopes: Vec<String>,
    pub token_lifetime_secs: u64,
    /// The most objects the server puts on a page, whatever `limit` asks.
    pub max_page: usize,
    /// Requests per bucket and window, and the window in seconds; `None`: no limit (the
    /// headers still say 10000).
    pub rate_limit: Option<(u64, u64)>,
    /// A host (`host:port`) to put in `rel="next"` links instead of the fake's own, to test
    /// that a client does not send its credentials elsewhere.
    pub next_host: Option<String>,
}

impl Default for FakeSettings {
    fn default() -> Self {
        FakeSettings {
            api_token: API_TOKEN.into(),
            client_id: CLIENT_ID.into(),
            public_keys: vec![RSA_PUBKEY_PEM.into(), EC_PUBKEY_PEM.into()],
            granted_scopes: vec!["okta.users.read".into(), "okta.groups.read".into()],
            token_lifetime_secs: 3600,
            max_page: 2,
            rate_limit: None,
            next_host: None,
        }
    }
}

#[derive(Debug, Clone)]
struct UserEntry {
    status: String,
    profile: Map<String, Json>,
    created: i64,
    last_updated: i64,
}

#[derive(Debug, Clone)]
struct GroupEntry {
    kind: String,
    name: String,
    members: BTreeSet<String>,
    created: i64,
    last_updated: i64,
    last_membership_updated: i64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    used: u64,
    /// Epoch seconds at which the window resets.
    reset: u64,
}

#[derive(Debug, Default)]
struct State {
    settings: FakeSettings,
    users: BTreeMap<String, UserEntry>,
    groups: BTreeMap<String, GroupEntry>,
    /// Bearer token -> (expiry, scopes).
    access_tokens: HashMap<String, (Instant, Vec<String>)>,
    buckets: HashMap<Route, Bucket>,
    token_requests: usize,
    throttled: usize,
    next_id: u64,
    last_micros: i64,
}

/// The running fake. Dropping it stops the server.
pub struct FakeOkta {
    pub addr: SocketAddr,
    server: FakeServer<State>,
}

/// Microseconds since the epoch, strictly increasing within the fake.
fn now_micros(s: &mut State) -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64;
    s.last_micros = now.max(s.last_micros + 1);
    s.last_micros
}

fn format_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

pub const STATUSES: [&str; 8] = [
    "ACTIVE",
    "DEPROVISIONED",
    "LOCKED_OUT",
    "PASSWORD_EXPIRED",
    "PROVISIONED",
    "RECOVERY",
    "STAGED",
    "SUSPENDED",
];

impl FakeOkta {
    pub async fn start() -> FakeOkta {
        Self::start_with(FakeSettings::default()).await
    }

    pub async fn start_with(settings: FakeSettings) -> FakeOkta {
        let mut state = State {
            settings,
            ..State::default()
        };
        let t = now_micros(&mut state);
        state.groups.insert(
            "00geveryone0000000001".into(),
            GroupEntry {
                kind: "BUILT_IN".into(),
                name: "Everyone".into(),
                members: BTreeSet::new(),
                created: t,
                last_updated: t,
                last_membership_updated: t,
            },
        );
        let server = FakeServer::start(state).await;
        FakeOkta {
            addr: server.addr(),
            server,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.server.state()
    }

    pub fn org_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/oauth2/v1/token", self.addr)
    }

    pub fn settings(&self, change: impl FnOnce(&mut FakeSettings)) {
        change(&mut self.state().settings);
    }

    /// Creates a user (`id` empty: a fresh id) with a status and profile; returns the id.
    /// The user joins Everyone.
    pub fn add_user(&self, id: &str, status: &str, profile: Json) -> String {
        assert!(STATUSES.contains(&status), "{status}");
        let mut s = self.state();
        let id = if id.is_empty() {
            s.next_id += 1;
            format!("00u{:017}", s.next_id)
        } else {
            id.to_owned()
        };
        let t = now_micros(&mut s);
        s.users.insert(
            id.clone(),
            UserEntry {
                status: status.into(),
                profile: profile.as_object().unwrap().clone(),
                created: t,
                last_updated: t,
            },
        );
        for g in s.groups.values_mut().filter(|g| g.kind == "BUILT_IN") {
            g.members.insert(id.clone());
            g.last_membership_updated = t;
        }
        id
    }

    /// Merges `patch` into the profile (null removes an attribute).
    pub fn update_profile(&self, id: &str, patch: Json) {
        let mut s = self.state();
        let t = now_micros(&mut s);
        let user = s.users.get_mut(id).unwrap();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                user.profile.remove(k);
            } else {
                user.profile.insert(k.clone(), v.clone());
            }
        }
        user.last_updated = t;
    }

    pub fn set_status(&self, id: &str, status: &str) {
        assert!(STATUSES.contains(&status), "{status}");
        let mut s = self.state();
        let t = now_micros(&mut s);
        let user = s.users.get_mut(id).unwrap();
        user.status = status.into();
        user.last_updated = t;
    }

    /// Deletes a user for good (Users API, "Delete a user": the second DELETE): it vanishes
    /// from every list and group.
    pub fn delete_user(&self, id: &str) {
        let mut s = self.state();
        let t = now_micros(&mut s);
        s.users.remove(id).unwrap();
        for g in s.groups.values_mut() {
            if g.members.remove(id) {
                g.last_membership_updated = t;
            }
        }
    }

    /// Creates a group (`kind` OKTA_GROUP, APP_GROUP or BUILT_IN); returns its id.
    pub fn add_group(&self, id: &str, name: &str, kind: &str) -> String {
        let mut s = self.state();
        let id = if id.is_empty() {
            s.next_id += 1;
            format!("00g{:017}", s.next_id)
        } else {
            id.to_owned()
        };
        let t = now_micros(&mut s);
        s.groups.insert(
            id.clone(),
            GroupEntry {
                kind: kind.into(),
                name: name.into(),
                members: BTreeSet::new(),
                created: t,
                last_updated: t,
                last_membership_updated: t,
            },
        );
        id
    }

    pub fn rename_group(&self, id: &str, name: &str) {
        let mut s = self.state();
        let t = now_micros(&mut s);
        let g = s.groups.get_mut(id).unwrap();
        g.name = name.into();
        g.last_updated = t;
    }

    pub fn delete_group(&self, id: &str) {
        self.state().groups.remove(id).unwrap();
    }

    pub fn add_member(&self, group: &str, user: &str) {
        let mut s = self.state();
        assert!(s.users.contains_key(user));
        let t = now_micros(&mut s);
        let g = s.groups.get_mut(group).unwrap();
        if g.members.insert(user.to_owned()) {
            g.last_membership_updated = t;
        }
    }

    pub fn remove_member(&self, group: &str, user: &str) {
        let mut s = self.state();
        let t = now_micros(&mut s);
        let g = s.groups.get_mut(group).unwrap();
        if g.members.remove(user) {
            g.last_membership_updated = t;
        }
    }

    /// Loads many users (id, status, profile) and OKTA_GROUPs (id, name, members) at once.
    pub fn bulk_load(&self, users: Vec<(String, String, Json)>, groups: Vec<(String, String, Vec<String>)>) {
        let mut s = self.state();
        let t = now_micros(&mut s);
        let everyone: Vec<String> = users.iter().map(|(id, _, _)| id.clone()).collect();
        for (id, status, profile) in users {
            s.users.insert(
                id,
                UserEntry {
                    status,
                    profile: profile.as_object().unwrap().clone(),
                    created: t,
                    last_updated: t,
                },
            );
        }
        for g in s.groups.values_mut().filter(|g| g.kind == "BUILT_IN") {
            g.members.extend(everyone.iter().cloned());
            g.last_membership_updated = t;
        }
        for (id, name, members) in groups {
            s.groups.insert(
                id,
                GroupEntry {
                    kind: "OKTA_GROUP".into(),
                    name,
                    members: members.into_iter().collect(),
                    created: t,
                    last_updated: t,
                    last_membership_updated: t,
                },
            );
        }
    }

    /// Ground truth: id -> (status, profile).
    pub fn users(&self) -> BTreeMap<String, (String, Map<String, Json>)> {
        self.state()
            .users
            .iter()
            .map(|(id, u)| (id.clone(), (u.status.clone(), u.profile.clone())))
            .collect()
    }

    /// Ground truth: id -> (type, name, members).
    pub fn groups(&self) -> BTreeMap<String, (String, String, BTreeSet<String>)> {
        self.state()
            .groups
            .iter()
            .map(|(id, g)| (id.clone(), (g.kind.clone(), g.name.clone(), g.members.clone())))
            .collect()
    }

    pub fn inject(&self, route: Route, fault: Fault) {
        let when = When::matching(move |r| route == Route::Any || route == route_of(&r.method, &r.path));
        self.server.inject(when, fault.served());
    }

    pub fn pending_faults(&self) -> usize {
        self.server.pending_faults()
    }

    /// Forgets every bearer token issued (as if they expired).
    pub fn revoke_tokens(&self) {
        self.state().access_tokens.clear();
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.server.requests()
    }

    pub fn clear_log(&self) {
        self.server.clear_log();
    }

    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }

    /// 429s served because a bucket was empty.
    pub fn throttled(&self) -> usize {
        self.state().throttled
    }
}

/// A profile with the standard attributes.
pub fn profile(login: &str, first: &str, last: &str) -> Json {
    json!({"login": login, "email": login, "firstName": first, "lastName": last,
           "mobilePhone": null, "secondEmail": null})
}

fn route_of(method: &Method, path: &str) -> Route {
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
    fn served(self) -> server::Fault<State> {
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

// ---- filter and search expressions ("Core Okta API", "Filter"; Users API, "List all
// users"; Groups API, "List all groups") ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    UserFilter,
    UserSearch,
    GroupFilter,
}

#[derive(Debug)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Cmp { attr: String, op: String, value: String },
}

const DATE_ATTRS: [&str; 6] = [
    "lastUpdated",
    "created",
    "activated",
    "statusChanged",
    "lastMembershipUpdated",
    "passwordChanged",
];

impl Expr {
    fn eval(&self, object: &Json) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(object) || b.eval(object),
            Expr::And(a, b) => a.eval(object) && b.eval(object),
            Expr::Cmp { attr, op, value } => {
                let mut current = object;
                for part in attr.split('.') {
                    match current.get(part) {
                        Some(v) => current = v,
                        None => return false,
                    }
                }
                let Some(actual) = current.as_str() else {
                    return false;
                };
                if DATE_ATTRS.contains(&attr.as_str()) {
                    let (Some(a), Some(v)) = (parse_time(actual), parse_time(value)) else {
                        return false;
                    };
                    return match op.as_str() {
                        "eq" => a == v,
                        "gt" => a > v,
                        "ge" => a >= v,
                        "lt" => a < v,
                        "le" => a <= v,
                        _ => false,
                    };
                }
                match op.as_str() {
                    "eq" => actual == value,
                    "sw" => actual.starts_with(value.as_str()),
                    "co" => actual.contains(value.as_str()),
                    "lt" => actual < value.as_str(),
                    "gt" => actual > value.as_str(),
                    _ => false,
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => value.push(chars.next().ok_or("bad escape")?),
                        Some(c) => value.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Token::Text(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ' ' || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

fn parse(text: &str, kind: Kind) -> Result<Expr, String> {
    let tokens = tokens(text)?;
    let mut at = 0;
    let e = parse_or(&tokens, &mut at, kind)?;
    if at != tokens.len() {
        return Err("trailing tokens".into());
    }
    Ok(e)
}

fn keyword(tokens: &[Token], at: usize, word: &str) -> bool {
    matches!(tokens.get(at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

fn parse_or(tokens: &[Token], at: &mut usize, kind: Kind) -> Result<Expr, String> {
    let mut left = parse_and(tokens, at, kind)?;
    while keyword(tokens, *at, "or") {
        *at += 1;
        left = Expr::Or(Box::new(left), Box::new(parse_and(tokens, at, kind)?));
    }
    Ok(left)
}

fn parse_and(tokens: &[Token], at: &mut usize, kind: Kind) -> Result<Expr, String> {
    let mut left = parse_term(tokens, at, kind)?;
    while keyword(tokens, *at, "and") {
        *at += 1;
        left = Expr::And(Box::new(left), Box::new(parse_term(tokens, at, kind)?));
    }
    Ok(left)
}

fn parse_term(tokens: &[Token], at: &mut usize, kind: Kind) -> Result<Expr, String> {
    if tokens.get(*at) == Some(&Token::Open) {
        *at += 1;
        let e = parse_or(tokens, at, kind)?;
        if tokens.get(*at) != Some(&Token::Close) {
            return Err("missing )".into());
        }
        *at += 1;
        return Ok(e);
    }
    let (Some(Token::Word(attr)), Some(Token::Word(op)), Some(Token::Text(value))) =
        (tokens.get(*at), tokens.get(*at + 1), tokens.get(*at + 2))
    else {
        return Err("expected: attribute operator \"value\"".into());
    };
    *at += 3;
    let op = op.to_ascii_lowercase();
    let is_date = DATE_ATTRS.contains(&attr.as_str());
    if is_date && parse_time(value).is_none() {
        return Err(format!("{value:?} is not a date"));
    }
    let date_ops = ["eq", "gt", "ge", "lt", "le"];
    let allowed = match kind {
        // "List all users", `filter`: only these properties; only eq, except lastUpdated.
        Kind::UserFilter => match attr.as_str() {
            "lastUpdated" => date_ops.contains(&op.as_str()),
            "status" | "id" | "profile.login" | "profile.email" | "profile.firstName"
            | "profile.lastName" => op == "eq",
            _ => false,
        },
        Kind::UserSearch => {
            let known = attr.starts_with("profile.")
                || ["id", "status", "type.id"].contains(&attr.as_str())
                || is_date;
            let op_ok = match op.as_str() {
                "eq" | "sw" => true,
                "co" => [
                    "profile.firstName",
                    "profile.lastName",
                    "profile.email",
                    "profile.login",
                ]
                .contains(&attr.as_str()),
                "gt" | "ge" | "lt" | "le" => is_date || attr == "status",
                _ => false,
            };
            known && op_ok
        }
        // "List all groups", `filter`: id, type, lastUpdated, lastMembershipUpdated.
        Kind::GroupFilter => match attr.as_str() {
            "lastUpdated" | "lastMembershipUpdated" => date_ops.contains(&op.as_str()),
            "id" | "type" => op == "eq",
            _ => false,
        },
    };
    if !allowed {
        return Err(format!("{attr} {op} is not supported"));
    }
    Ok(Expr::Cmp {
        attr: attr.clone(),
        op,
        value: value.clone(),
    })
}
