//! A fake Google Workspace customer: the Admin SDK Directory API (users.list, users.get,
//! groups.list, members.list) and the OAuth 2.0 token endpoint of a service account, on the
//! generic [`FakeServer`].
//!
//! It follows the documented wire format
//! (<https://developers.google.com/workspace/admin/directory/reference/rest/v1>, and
//! <https://developers.google.com/identity/protocols/oauth2/service-account>):
//! - `POST /token` takes `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an RS256
//!   `assertion` whose signature, `iss` (the client email), `sub` (the delegated admin),
//!   `aud` (this endpoint), `scope` (every read-only scope) and lifetime (at most an hour)
//!   are checked; OAuth errors (`invalid_grant`, `unauthorized_client`) otherwise.
//! - The lists require a bearer token it issued (401 `authError` otherwise), `customer` or
//!   `domain`, `maxResults` within the documented bounds (500 for users, 200 for groups and
//!   members; 400 `invalid` beyond), and page by opaque `pageToken` / `nextPageToken`.
//! - `fields` is honoured (`nextPageToken,users(id,name,...)`: only those fields come back; a
//!   field the resource does not have is a 400 `invalidParameter`), as are `projection`
//!   (`basic` leaves `customSchemas` out, `custom` keeps the `customFieldMask` schemas).
//! - Errors have Google's shape: `{"error": {"code", "message", "errors": [{"message",
//!   "domain", "reason"}], "status"}}`; [`rate_limited`] and the other helpers build the
//!   faults tests inject.

pub mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as Json};

use crate::server::{FakeServer, Fault, Handler, Recorded, Reply, Request, When};

pub const CLIENT_EMAIL: &str = "idsync@idsync-test.iam.gserviceaccount.com";
pub const KEY_ID: &str = "0123456789abcdef";
pub const ADMIN: &str = "admin@example.com";
pub const CUSTOMER: &str = "C01abcdef";
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
];
pub const RSA_KEY_PEM: &str = include_str!("../../keys/test-key.pem");
pub const RSA_PUBKEY_PEM: &str = include_str!("../../keys/test-pubkey.pem");
/// A key the service account does not have.
pub const OTHER_KEY_PEM: &str = include_str!("../../keys/other-key.pem");

pub const USERS: &str = "/admin/directory/v1/users";
pub const GROUPS: &str = "/admin/directory/v1/groups";

/// The top-level fields of the User resource (a `fields` selection may name only these).
const USER_FIELDS: [&str; 24] = [
    "kind",
    "id",
    "etag",
    "primaryEmail",
    "name",
    "isAdmin",
    "suspended",
    "suspensionReason",
    "archived",
    "orgUnitPath",
    "emails",
    "organizations",
    "languages",
    "customSchemas",
    "phones",
    "addresses",
    "externalIds",
    "relations",
    "aliases",
    "creationTime",
    "lastLoginTime",
    "deletionTime",
    "thumbnailPhotoUrl",
    "includeInGlobalAddressList",
];
const GROUP_FIELDS: [&str; 6] = ["kind", "id", "etag", "email", "name", "directMembersCount"];
const MEMBER_FIELDS: [&str; 6] = ["kind", "id", "etag", "email", "role", "type"];

/// Settings of the fake, changeable between requests.
#[derive(Debug, Clone)]
pub struct Settings {
    pub client_email: String,
    /// The admin the service account may impersonate.
    pub admin: String,
    /// The customer id `my_customer` stands for.
    pub customer: String,
    /// Public keys of the service account.
    pub public_keys: Vec<String>,
    /// Scopes granted under domain-wide delegation.
    pub granted_scopes: Vec<String>,
    pub token_lifetime_secs: u64,
    /// The most objects the server puts on a page, whatever `maxResults` asks.
    pub max_page: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            client_email: CLIENT_EMAIL.into(),
            admin: ADMIN.into(),
            customer: CUSTOMER.into(),
            public_keys: vec![RSA_PUBKEY_PEM.into()],
            granted_scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            token_lifetime_secs: 3600,
            max_page: 2,
        }
    }
}

/// A group and its direct members (`(type, id or email)`).
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub email: String,
    pub name: String,
    pub members: Vec<(String, String)>,
}

/// The directory and what the fake has seen.
#[derive(Debug, Default)]
pub struct State {
    pub settings: Settings,
    /// id -> user resource (JSON as users.get returns it with `projection=full`).
    pub users: BTreeMap<String, Map<String, Json>>,
    pub groups: BTreeMap<String, Group>,
    tokens: HashMap<String, u64>,
    pub token_requests: usize,
    next_token: u64,
}

/// The running fake. Dropping it stops the server.
pub struct FakeGoogle {
    pub server: FakeServer<State>,
}

impl FakeGoogle {
    pub async fn start() -> FakeGoogle {
        FakeGoogle {
            server: FakeServer::start(State::default()).await,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.server.url())
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.server.state()
    }

    /// Adds a user with the given resource fields; `id` and `primaryEmail` are set.
    pub fn add_user(&self, id: &str, email: &str, fields: Json) {
        let mut user = fields.as_object().cloned().unwrap_or_default();
        user.insert("kind".into(), json!("admin#directory#user"));
        user.insert("id".into(), json!(id));
        user.insert("primaryEmail".into(), json!(email));
        user.entry("suspended").or_insert(json!(false));
        user.entry("archived").or_insert(json!(false));
        user.entry("orgUnitPath").or_insert(json!("/"));
        self.state().users.insert(id.to_owned(), user);
    }

    /// Merges `patch` into a user's resource (top-level keys replaced).
    pub fn update_user(&self, id: &str, patch: Json) {
        let mut state = self.state();
        let user = state.users.get_mut(id).unwrap();
        for (k, v) in patch.as_object().unwrap() {
            user.insert(k.clone(), v.clone());
        }
    }

    /// Deletes a user, and their memberships.
    pub fn delete_user(&self, id: &str) {
        let mut state = self.state();
        state.users.remove(id);
        for group in state.groups.values_mut() {
            group.members.retain(|(_, m)| m != id);
        }
    }

    pub fn add_group(&self, id: &str, email: &str, name: &str) {
        self.state().groups.insert(
            id.to_owned(),
            Group {
                email: email.into(),
                name: name.into(),
                members: Vec::new(),
            },
        );
    }

    pub fn delete_group(&self, id: &str) {
        self.state().groups.remove(id);
    }

    /// Adds a member: `kind` is `USER` or `GROUP` (by id), `CUSTOMER` (the customer id) or
    /// `EXTERNAL` (an email outside the customer).
    pub fn add_member(&self, group: &str, kind: &str, member: &str) {
        let mut state = self.state();
        let group = state.groups.get_mut(group).unwrap();
        group.members.push((kind.to_owned(), member.to_owned()));
    }

    pub fn remove_member(&self, group: &str, member: &str) {
        let mut state = self.state();
        state
            .groups
            .get_mut(group)
            .unwrap()
            .members
            .retain(|(_, m)| m != member);
    }

    /// Forgets every issued token, so the next API request with one is a 401.
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// A valid bearer token without the JWT grant, for bare clients (the benchmark's floor).
    pub fn grant(&self) -> String {
        let mut state = self.state();
        state.next_token += 1;
        let token = format!("ya29.fake-direct-{}", state.next_token);
        let expiry = now() + state.settings.token_lifetime_secs;
        state.tokens.insert(token.clone(), expiry);
        token
    }

    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }

    /// Queues `fault` for the next `times` requests to `path` (exactly).
    pub fn inject(&self, path: &str, reply: Reply, times: usize) {
        self.server.inject_n(When::path(path), Fault::reply(reply), times);
    }

    /// Queues `fault` for the next `times` requests whose path starts with `prefix`.
    pub fn inject_prefix(&self, prefix: &str, fault: Fault<State>, times: usize) {
        self.server.inject_n(When::path_prefix(prefix), fault, times);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }
}

/// Google's error body.
pub fn error(status: StatusCode, reason: &str, message: &str) -> Reply {
    let body = json!({"error": {
        "code": status.as_u16(),
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": match status.as_u16() {
            400 => "INVALID_ARGUMENT", 401 => "UNAUTHENTICATED", 403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND", 429 => "RESOURCE_EXHAUSTED", _ => "INTERNAL",
        },
    }});
    Reply::json(status, &body)
}

/// 403 with a rate-limit reason (`userRateLimitExceeded`, `rateLimitExceeded`, `quotaExceeded`).
pub fn rate_limited(reason: &str) -> Reply {
    error(StatusCode::FORBIDDEN, reason, "Rate Limit Exceeded")
}

/// 429 `rateLimitExceeded` with `Retry-After: secs`.
pub fn too_many_requests(secs: &str) -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "rateLimitExceeded",
        "Too many requests",
    )
    .header("retry-after", secs)
}

/// 503 `backendError`.
pub fn backend_error() -> Reply {
    error(StatusCode::SERVICE_UNAVAILABLE, "backendError", "Backend Error")
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    Reply::json(status, &json!({"error": code, "error_description": description})).into_response()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

impl Handler for State {
    fn handle(&mut self, request: &Request) -> Response {
        if request.method == Method::POST && request.path == "/token" {
            return self.token(request);
        }
        if request.method != Method::GET {
            return error(StatusCode::NOT_FOUND, "notFound", "Not Found").into_response();
        }
        let authorized = request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .and_then(|t| self.tokens.get(t))
            .is_some_and(|&expiry| expiry > now());
        if !authorized {
            return error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials").into_response();
        }
        match self.api(request) {
            Ok(body) => Reply::json(StatusCode::OK, &body).into_response(),
            Err(reply) => reply.into_response(),
        }
    }
}

impl State {
    fn token(&mut self, request: &Request) -> Response {
        self.token_requests += 1;
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        if form.get("grant_type").map(String::as_str) != Some(GRANT_TYPE) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type",
            );
        }
        let Some(assertion) = form.get("assertion") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: assertion",
            );
        };
        let claims = match self.verify(assertion, &format!("{}/token", request.origin())) {
            Ok(claims) => claims,
            Err(description) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &description),
        };
        if claims["sub"].as_str() != Some(self.settings.admin.as_str()) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid email or User ID",
            );
        }
        let asked: BTreeSet<&str> = claims["scope"].as_str().unwrap_or_default().split(' ').collect();
        let granted = asked
            .iter()
            .all(|s| self.settings.granted_scopes.iter().any(|g| g == s));
        if asked.is_empty() || !granted || !SCOPES.iter().all(|s| asked.contains(s)) {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized_client",
                concat!(
                    "Client is unauthorized to retrieve access tokens using this method, ",
                    "or client not authorized for any of the scopes requested."
                ),
            );
        }
        self.next_token += 1;
        let token = format!("ya29.fake-{}", self.next_token);
        let lifetime = self.settings.token_lifetime_secs;
        self.tokens.insert(token.clone(), now() + lifetime);
        Reply::json(
            StatusCode::OK,
            &json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}),
        )
        .into_response()
    }

    /// Checks the assertion's signature and claims; the claims, or why not.
    fn verify(&self, assertion: &str, audience: &str) -> Result<Map<String, Json>, String> {
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| "Invalid JWT".to_owned())?;
        if header.alg != jsonwebtoken::Algorithm::RS256 {
            return Err("Invalid JWT: the algorithm must be RS256".into());
        }
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&self.settings.client_email]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub", "iat"]);
        validation.leeway = 0;
        let mut last = "Invalid JWT Signature.".to_owned();
        for pem in &self.settings.public_keys {
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
            match jsonwebtoken::decode::<Map<String, Json>>(assertion, &key, &validation) {
                Ok(data) => {
                    let c = data.claims;
                    let (iat, exp) = (c["iat"].as_u64().unwrap_or(0), c["exp"].as_u64().unwrap_or(0));
                    if exp <= iat || exp - iat > 3600 || iat > now() + 60 {
                        return Err(concat!(
                            "Invalid JWT: Token must be a short-lived token (60 minutes) ",
                            "and in a reasonable timeframe."
                        )
                        .into());
                    }
                    return Ok(c);
                }
                Err(e) => {
                    if !matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) {
                        last = format!("Invalid JWT: {e}");
                    }
                }
            }
        }
        Err(last)
    }

    fn api(&self, request: &Request) -> Result<Json, Reply> {
        let bad = |m: &str| error(StatusCode::BAD_REQUEST, "invalid", m);
        let not_found = |what: &str| {
            error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!("Resource Not Found: {what}"),
            )
        };
        let rest = request
            .path
            .strip_prefix("/admin/directory/v1/")
            .ok_or_else(|| not_found("path"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["users"] => {
                self.owner(request)?;
                // Only the page's users are rendered: the benchmark's floor is the fake's.
                let users: Vec<&Map<String, Json>> = self.users.values().collect();
                let render = |u: &&Map<String, Json>| self.project(u, request);
                page(
                    request,
                    "users",
                    &users,
                    render,
                    (500, self.settings.max_page),
                    &USER_FIELDS,
                )
            }
            ["users", key] => {
                let user = self
                    .users
                    .values()
                    .find(|u| {
                        u["id"] == *key
                            || u["primaryEmail"]
                                .as_str()
                                .is_some_and(|e| e.eq_ignore_ascii_case(key))
                    })
                    .ok_or_else(|| not_found("userKey"))?;
                let user = self.project(user, request)?;
                match request.param("fields") {
                    Some(f) => select(&user, f, &USER_FIELDS).map_err(|m| bad(&m)),
                    None => Ok(user),
                }
            }
            ["groups"] => {
                self.owner(request)?;
                let groups = self
                    .groups
                    .iter()
                    .map(|(id, g)| {
                        json!({
                            "kind": "admin#directory#group", "id": id, "email": g.email, "name": g.name,
                            "directMembersCount": g.members.len().to_string(),
                        })
                    })
                    .collect::<Vec<Json>>();
                let render = |g: &Json| Ok(g.clone());
                page(
                    request,
                    "groups",
                    &groups,
                    render,
                    (200, self.settings.max_page),
                    &GROUP_FIELDS,
                )
            }
            ["groups", key, "members"] => {
                let group = self
                    .groups
                    .iter()
                    .find(|(id, g)| *id == key || g.email.eq_ignore_ascii_case(key))
                    .map(|(_, g)| g)
                    .ok_or_else(|| not_found("groupKey"))?;
                let members = group
                    .members
                    .iter()
                    .map(|(kind, m)| self.member(kind, m))
                    .collect::<Vec<Json>>();
                let render = |m: &Json| Ok(m.clone());
                page(
                    request,
                    "members",
                    &members,
                    render,
                    (200, self.settings.max_page),
                    &MEMBER_FIELDS,
                )
            }
            _ => Err(not_found("path")),
        }
    }

    fn member(&self, kind: &str, member: &str) -> Json {
        let email = match kind {
            "USER" => self
                .users
                .get(member)
                .map(|u| u["primaryEmail"].clone())
                .unwrap_or(json!(null)),
            "GROUP" => self
                .groups
                .get(member)
                .map(|g| json!(g.email))
                .unwrap_or(json!(null)),
            "EXTERNAL" => json!(member),
            _ => json!(null),
        };
        let id = if kind == "EXTERNAL" {
            json!(null)
        } else {
            json!(member)
        };
        let mut m = json!({
            "kind": "admin#directory#member", "type": kind, "role": "MEMBER", "status": "ACTIVE",
            "id": id, "email": email,
        });
        let obj = m.as_object_mut().unwrap();
        obj.retain(|_, v| !v.is_null());
        m
    }

    /// `customer` (the id or `my_customer`) or `domain` must name this customer.
    fn owner(&self, request: &Request) -> Result<(), Reply> {
        match (request.param("customer"), request.param("domain")) {
            (Some(c), _) if c == "my_customer" || c == self.settings.customer => Ok(()),
            (None, Some("example.com")) => Ok(()),
            _ => Err(error(StatusCode::BAD_REQUEST, "badRequest", "Bad Request")),
        }
    }

    /// A user as `projection` shows it.
    fn project(&self, user: &Map<String, Json>, request: &Request) -> Result<Json, Reply> {
        let mut user = user.clone();
        match request.param("projection").unwrap_or("basic") {
            "basic" => {
                user.remove("customSchemas");
            }
            "full" => {}
            "custom" => {
                let Some(mask) = request.param("customFieldMask") else {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "Invalid Input: customFieldMask",
                    ));
                };
                let keep: BTreeSet<&str> = mask.split(',').collect();
                if let Some(Json::Object(schemas)) = user.get_mut("customSchemas") {
                    schemas.retain(|k, _| keep.contains(k.as_str()));
                }
            }
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    "Invalid Input: projection",
                ))
            }
        }
        Ok(Json::Object(user))
    }
}

/// A page of `items` under `key`, rendered, by `maxResults` (at most `limit`, and no more
/// than the fake's `cap`) and `pageToken`, narrowed to `fields`.
fn page<T>(
    request: &Request,
    key: &str,
    items: &[T],
    render: impl Fn(&T) -> Result<Json, Reply>,
    (limit, cap): (usize, usize),
    known: &[&str],
) -> Result<Json, Reply> {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, "invalid", m);
    let max: usize = match request.param("maxResults") {
        None => limit.min(100),
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=limit).contains(n))
            .ok_or_else(|| bad("Invalid Input: maxResults"))?,
    };
    let start: usize = match request.param("pageToken") {
        None => 0,
        Some(t) => t
            .strip_prefix("tok-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("Invalid Input: pageToken"))?,
    };
    let size = max.min(cap.max(1));
    let end = (start + size).min(items.len());
    let slice: Vec<Json> = items
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(render)
        .collect::<Result<_, _>>()?;
    let mut body = json!({ "kind": format!("admin#directory#{key}"), "etag": "\"fake\"", key: slice });
    if end < items.len() {
        body["nextPageToken"] = json!(format!("tok-{end}"));
    }
    match request.param("fields") {
        None => Ok(body),
        Some(fields) => select_list(&body, fields, key, known)
            .map_err(|m| error(StatusCode::BAD_REQUEST, "invalidParameter", &m)),
    }
}

/// Applies `nextPageToken,users(a,b)` to a list body.
fn select_list(body: &Json, fields: &str, key: &str, known: &[&str]) -> Result<Json, String> {
    let mut out = Map::new();
    for part in split_top(fields) {
        if part == "nextPageToken" || part == "kind" || part == "etag" {
            if let Some(v) = body.get(part) {
                out.insert(part.to_owned(), v.clone());
            }
        } else if let Some(inner) = part
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
        {
            let items = body[key].as_array().cloned().unwrap_or_default();
            let selected: Vec<Json> = items
                .iter()
                .map(|i| select(i, inner, known))
                .collect::<Result<_, _>>()?;
            out.insert(key.to_owned(), Json::Array(selected));
        } else if part == key {
            out.insert(key.to_owned(), body[key].clone());
        } else {
            return Err(format!("Invalid field selection {part}"));
        }
    }
    Ok(Json::Object(out))
}

/// Keeps the named top-level fields of one resource (`a,b,c`; `name(givenName)` keeps `name`).
fn select(item: &Json, fields: &str, known: &[&str]) -> Result<Json, String> {
    let mut out = Map::new();
    for part in split_top(fields) {
        let name = part.split(['(', '/']).next().unwrap_or_default();
        if !known.contains(&name) {
            return Err(format!("Invalid field selection {name}"));
        }
        if let Some(v) = item.get(name) {
            out.insert(name.to_owned(), v.clone());
        }
    }
    Ok(Json::Object(out))
}

/// Splits a field selection at the commas outside parentheses.
fn split_top(fields: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in fields.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(fields[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(fields[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}
