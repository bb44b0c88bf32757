//! A fake Microsoft Graph v1.0 and Microsoft identity platform token endpoint, for tests and
//! the benchmark: one axum server on 127.0.0.1 with a mutable tenant.
//!
//! It follows the wire format Microsoft Learn documents: the identity platform's "OAuth 2.0
//! client credentials flow" (by secret, or by a signed assertion as in "Microsoft identity
//! platform application authentication certificate credentials"), and for Graph v1.0 "List
//! users", "List groups", "Paging Microsoft Graph data in your app", "Use delta query to track
//! changes in Microsoft Graph data", "user: delta", "group: delta", "Microsoft Graph throttling
//! guidance" and "Microsoft Graph error responses and resource types": client
//! credentials by secret or signed assertion, `Authorization: Bearer` checks, `$select`
//! (non-default properties only when selected), `$top` limits on lists, opaque `$skiptoken` /
//! `$deltatoken` paging with `@odata.nextLink` / `@odata.deltaLink`, `@removed` with
//! `changed`/`deleted`, `members@delta` with per-member `@removed`, big groups repeated across
//! pages, `$deltatoken=latest`, and Graph's error bodies. It can misbehave on request (see
//! [`Fault`]): 429 with or without `Retry-After`, 503, 504, 401, truncated JSON, an empty page,
//! a dropped connection, a 410 reset with `Location`, an expired delta token.
//!
//! It runs on the generic [`FakeServer`](crate::server::FakeServer); `support` holds the
//! connector configuration and the tenant's ground truth for tests.

pub mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::MutexGuard;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Map, Value as Json};

use crate::server::{self, FakeServer, Handler, Reply, Request, When};

pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_SECRET: &str = "fake-secret~value";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The test certificate and key (RSA 2048, self-signed), registered with the fake app.
pub const TEST_CERT_PEM: &str = include_str!("../../keys/test-cert.pem");
pub const TEST_KEY_PEM: &str = include_str!("../../keys/test-key.pem");
pub const TEST_PUBKEY_PEM: &str = include_str!("../../keys/test-pubkey.pem");
/// A certificate and key the fake app does not know.
pub const OTHER_CERT_PEM: &str = include_str!("../../keys/other-cert.pem");
pub const OTHER_KEY_PEM: &str = include_str!("../../keys/other-key.pem");

/// Properties `GET /users` returns without `$select` (Microsoft Learn, "List users",
/// "Optional query parameters").
const USER_DEFAULT: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// Properties the fake knows on users; selecting another one is a 400, as on Graph.
const USER_KNOWN: [&str; 24] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "accountEnabled",
    "department",
    "employeeId",
    "onPremisesImmutableId",
    "otherMails",
    "deletedDateTime",
    "createdDateTime",
    "userType",
    "onPremisesSyncEnabled",
    "companyName",
    "city",
    "country",
    "usageLocation",
];

const GROUP_DEFAULT: [&str; 9] = [
    "id",
    "deletedDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
];

const GROUP_KNOWN: [&str; 10] = [
    "id",
    "deletedDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "members",
];

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Any,
    Token,
    /// Any Graph request (not the token endpoint).
    Graph,
    UsersDelta,
    GroupsDelta,
    /// `GET /users/{id}`
    User,
}

/// A misbehaviour, served once instead of the normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 `TooManyRequests`, with the given `Retry-After` value if any.
    Throttle(Option<String>),
    /// 503 `serviceNotAvailable`, with the given `Retry-After` value if any.
    Unavailable(Option<String>),
    /// 504 without a body.
    GatewayTimeout,
    /// 500 `generalException`.
    InternalError,
    /// 401 `InvalidAuthenticationToken`.
    Unauthorized,
    /// 403 `Authorization_RequestDenied`.
    Forbidden,
    /// A 200 whose JSON body stops half way.
    Truncated,
    /// A 200 with `value: []` and a nextLink to the very request, so the client must follow it.
    EmptyPage,
    /// The connection drops after part of the body.
    ConnectionReset,
    /// 410 Gone with a `Location` to a fresh initial round (synchronization reset).
    Reset,
    /// 400 `syncStateNotFound` (expired delta token).
    Expired,
}

/// A request in the fake's log.
pub type LoggedRequest = server::Recorded;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deleted {
    /// In deletedItems, restorable (delta reason `changed`).
    Soft,
    /// Gone for good (delta reason `deleted`).
    Hard,
}

#[derive(Debug, Clone)]
struct UserEntry {
    props: Map<String, Json>,
    deleted: Option<Deleted>,
    changed: u64,
}

#[derive(Debug, Clone)]
struct GroupEntry {
    props: Map<String, Json>,
    /// (odata type, id): `#microsoft.graph.user`, `#microsoft.graph.group`, ...
    members: BTreeSet<(String, String)>,
    deleted: Option<Deleted>,
    changed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Users,
    Groups,
}

#[derive(Debug, Clone)]
struct DeltaToken {
    kind: Kind,
    since: u64,
    select: Option<Vec<String>>,
    expired: bool,
}

/// A round (or list) being paged: its items, computed when it started.
#[derive(Debug)]
struct Round {
    items: Vec<Json>,
    context: String,
    page_size: usize,
    /// For delta rounds, the deltaLink token to hand out at the end.
    delta: Option<DeltaToken>,
}

/// Settings of the fake, changeable between requests.
#[derive(Debug, Clone)]
pub struct FakeSettings {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The registered certificate's public key and its SHA-1/SHA-256 thumbprints.
    pub certificate: Option<(String, String, String)>,
    pub token_lifetime_secs: u64,
    /// Objects per delta page (server-chosen on Graph).
    pub delta_page_size: usize,
    /// Members per repeated group object in a delta round: a bigger group is split.
    pub member_chunk: usize,
    /// Whether soft-deleted objects show up as `@removed` in initial rounds too.
    pub removed_in_initial: bool,
    /// Whether removing a user also reports the membership removal in group delta ("group:
    /// delta" does not promise it; users report it does not happen).
    pub report_member_removal_on_user_delete: bool,
}

impl Default for FakeSettings {
    fn default() -> Self {
        FakeSettings {
            tenant: TENANT.into(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            certificate: Some(certificate_entry(TEST_CERT_PEM, TEST_PUBKEY_PEM)),
            token_lifetime_secs: 3599,
            delta_page_size: 2,
            member_chunk: 2,
            removed_in_initial: true,
            report_member_removal_on_user_delete: false,
        }
    }
}

fn certificate_entry(cert_pem: &str, pubkey_pem: &str) -> (String, String, String) {
    let der = pem::parse(cert_pem).unwrap().into_contents();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sha1 = b64.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &der,
    ));
    let sha256 = b64.encode(ring::digest::digest(&ring::digest::SHA256, &der));
    (pubkey_pem.to_owned(), sha1, sha256)
}

#[derive(Debug, Default)]
struct State {
    settings: FakeSettings,
    seq: u64,
    users: BTreeMap<String, UserEntry>,
    groups: BTreeMap<String, GroupEntry>,
    /// (seq, group id, member type, member id): membership changes, for delta.
    member_log: Vec<(u64, String, String, String)>,
    rounds: HashMap<String, Round>,
    delta_tokens: HashMap<String, DeltaToken>,
    access_tokens: HashMap<String, Instant>,
    reset_pending: bool,
    token_requests: usize,
    next_id: u64,
}

/// The running fake. Dropping it stops the server.
pub struct FakeGraph {
    pub addr: SocketAddr,
    server: FakeServer<State>,
}

impl FakeGraph {
    pub async fn start() -> FakeGraph {
        Self::start_with(FakeSettings::default()).await
    }

    pub async fn start_with(settings: FakeSettings) -> FakeGraph {
        let server = FakeServer::start(State {
            settings,
            ..State::default()
        })
        .await;
        FakeGraph {
            addr: server.addr(),
            server,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.server.state()
    }

    pub fn authority_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn graph_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!(
            "http://{}/{}/oauth2/v2.0/token",
            self.addr,
            self.state().settings.tenant
        )
    }

    pub fn settings(&self, change: impl FnOnce(&mut FakeSettings)) {
        change(&mut self.state().settings);
    }

    // ---- the tenant ----

    /// Adds or replaces a user; `props` must hold at least `userPrincipalName`. Returns the id.
    pub fn put_user(&self, id: &str, props: Json) -> String {
        let mut s = self.state();
        s.seq += 1;
        let seq = s.seq;
        let mut props = props.as_object().cloned().unwrap_or_default();
        props.insert("id".into(), json!(id));
        s.users.insert(
            id.to_owned(),
            UserEntry {
                props,
                deleted: None,
                changed: seq,
            },
        );
        id.to_owned()
    }

    /// Changes some properties of a user (a `null` clears one).
    pub fn patch_user(&self, id: &str, patch: Json) {
        let mut s = self.state();
        s.seq += 1;
        let seq = s.seq;
        let user = s.users.get_mut(id).expect("no such user");
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                user.props.remove(k);
            } else {
                user.props.insert(k.clone(), v.clone());
            }
        }
        user.changed = seq;
    }

    /// Moves a user to deletedItems (delta: `@removed` reason `changed`); it leaves its groups.
    pub fn soft_delete_user(&self, id: &str) {
        self.delete_user(id, Deleted::Soft);
    }

    /// Deletes a user for good (delta: `@removed` reason `deleted`).
    pub fn hard_delete_user(&self, id: &str) {
        self.delete_user(id, Deleted::Hard);
    }

    fn delete_user(&self, id: &str, how: Deleted) {
        let mut s = self.state();
        s.seq += 1;
        let seq = s.seq;
        let report = s.settings.report_member_removal_on_user_delete;
        let user = s.users.get_mut(id).expect("no such user");
        user.deleted = Some(how);
        user.changed = seq;
        let key = ("#microsoft.graph.user".to_owned(), id.to_owned());
        let mut removed_from = Vec::new();
        for (gid, g) in s.groups.iter_mut() {
            if g.members.remove(&key) {
                removed_from.push(gid.clone());
            }
        }
        if report {
            for gid in removed_from {
                s.member_log.push((seq, gid, key.0.clone(), id.to_owned()));
            }
        }
    }

    /// Restores a soft-deleted user (it reappears in delta without annotation).
    pub fn restore_user(&self, id: &str) {
        let mut s = self.state();
        s.seq += 1;
        let seq = s.seq;
        let user = s.users.get_mut(id).expect("no such user");
        assert_eq!(
            user.deleted,
            Some(Deleted::Soft),
            "only soft-deleted users can be restored"
        );
        user.deleted = None;
        user.changed = seq;
    }

    pub fn put_group(&self, id: &str, display_name: &str) -> String {
        let mut s = self.state();
        s.seq += 1;
        let seq = s.seq;
        let members = s.groups.get(id).map(|g| g.members.clone()).unwrap_or_default();
        s.groups.insert(
            id.to_owned(),
            GroupEntry {
                props: Map::from_iter([
                    ("id".to_owned(), json!(id)),
                    ("displayName".to_owned(), json!(display_name)),
                    ("description".to_owned(), json!(format!("{display_name} (fake)"))),
                    ("groupTypes".to_owned(), json!([])),
                    ("securityEnabled".to_owned(), json!(true)),
                    ("mailEnabled".to_owned(), json!(false)),
                    ("mailNickname".to_owned(), json!(id)),
                ]),
                members,
                deleted: None,
                changed: seq,
            },
        );
        id.to_owned()
    }

    pub fn rename_group(&self, id: &str, display_name: &str) {
        let mut s = self.state();
        s.seq += 1;
        let seq = s.seq;
        let g = s.groups.get_mut(id).expect("no such group");
        g.props.insert("displayName".into(), json!(display_name));
        g.changed = seq;
    }

    /// Deletes a security group (permanently, as Entra does for security groups).
    pub fn delete_group(&self, id: &str) {
        let mut s = self.state();
        s.seq += 1;
        let seq = s.seq;
        let g = s.groups.get_mut(id).expect("no such group");
        g.deleted = Some(Deleted::Hard);
        g.changed = seq;
        let key = ("#microsoft.graph.group".to_owned(), id.to_owned());
        for g in s.groups.values_mut() {
            g.members.remove(&key);
        }
    }

    /// Adds a member: a user id, or a group id (nesting).
    pub fn add_member(&self, group: &str, member: &str) {
        self.change_member(group, member, true);
    }

    pub fn remove_member(&self, group: &str, member: &str) {
        self.change_member(group, member, false);
    }

    fn change_member(&self, group: &str, member: &str, add: bool) {
        let mut s = self.state();
        let ty = if s.groups.contains_key(member) {
            "#microsoft.graph.group"
        } else if s.users.contains_key(member) {
            "#microsoft.graph.user"
        } else {
            "#microsoft.graph.device"
        };
        s.seq += 1;
        let seq = s.seq;
        let g = s.groups.get_mut(group).expect("no such group");
        let key = (ty.to_owned(), member.to_owned());
        let changed = if add {
            g.members.insert(key)
        } else {
            g.members.remove(&key)
        };
        if changed {
            s.member_log
                .push((seq, group.to_owned(), ty.to_owned(), member.to_owned()));
        }
    }

    /// Bulk load for the benchmark: no change log entries beyond the objects themselves.
    pub fn bulk_load(&self, users: Vec<(String, Json)>, groups: Vec<(String, String, Vec<String>)>) {
        let mut s = self.state();
        s.seq += 1;
        let seq = s.seq;
        for (id, props) in users {
            let mut props = props.as_object().cloned().unwrap_or_default();
            props.insert("id".into(), json!(id));
            s.users.insert(
                id,
                UserEntry {
                    props,
                    deleted: None,
                    changed: seq,
                },
            );
        }
        for (id, name, members) in groups {
            let members = members
                .into_iter()
                .map(|m| ("#microsoft.graph.user".to_owned(), m))
                .collect();
            s.groups.insert(
                id.clone(),
                GroupEntry {
                    props: Map::from_iter([
                        ("id".to_owned(), json!(id)),
                        ("displayName".to_owned(), json!(name)),
                    ]),
                    members,
                    deleted: None,
                    changed: seq,
                },
            );
        }
    }

    /// The live users as (id, properties).
    pub fn users(&self) -> BTreeMap<String, Map<String, Json>> {
        self.state()
            .users
            .iter()
            .filter(|(_, u)| u.deleted.is_none())
            .map(|(id, u)| (id.clone(), u.props.clone()))
            .collect()
    }

    /// The live groups as id -> (display name, direct members).
    pub fn groups(&self) -> BTreeMap<String, (String, Vec<String>)> {
        self.state()
            .groups
            .iter()
            .filter(|(_, g)| g.deleted.is_none())
            .map(|(id, g)| {
                (
                    id.clone(),
                    (
                        g.props["displayName"].as_str().unwrap_or_default().to_owned(),
                        g.members.iter().map(|(_, m)| m.clone()).collect(),
                    ),
                )
            })
            .collect()
    }

    // ---- misbehaviour ----

    pub fn inject(&self, route: Route, fault: Fault) {
        self.server.inject(route.when(), fault.served());
    }

    pub fn inject_n(&self, route: Route, fault: Fault, times: usize) {
        self.server.inject_n(route.when(), fault.served(), times);
    }

    pub fn pending_faults(&self) -> usize {
        self.server.pending_faults()
    }

    /// Every delta token issued so far expires (400 `syncStateNotFound`; Microsoft Learn, "Use
    /// delta query to track changes in Microsoft Graph data", "Synchronization reset").
    pub fn expire_delta_tokens(&self) {
        for t in self.state().delta_tokens.values_mut() {
            t.expired = true;
        }
    }

    /// The next delta request that carries a token gets 410 Gone with a Location (same page,
    /// "Synchronization reset").
    pub fn reset_sync(&self) {
        self.state().reset_pending = true;
    }

    /// Every access token issued so far becomes invalid (401 on use).
    pub fn revoke_tokens(&self) {
        self.state().access_tokens.clear();
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.server.requests()
    }

    /// Empties the log and resets the counts of token requests and of requests at once.
    pub fn clear_log(&self) {
        self.server.clear_log();
        self.state().token_requests = 0;
    }

    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }

    pub fn max_in_flight(&self) -> usize {
        self.server.max_in_flight()
    }
}

// ---- serving ----

fn now_text() -> String {
    httpdate::fmt_http_date(SystemTime::now())
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
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

fn json_response(status: StatusCode, body: &Json) -> Response {
    bytes_response(status, serde_json::to_vec(body).unwrap())
}

/// Graph's JSON content type ("Microsoft Graph REST API v1.0 endpoint reference": OData
/// 4.0 JSON with minimal metadata).
const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    Reply::new(status)
        .header("content-type", ODATA_JSON)
        .header("request-id", "00000000-0000-0000-0000-00000000f4e1")
        .header("OData-Version", "4.0")
        .body(body)
        .into_response()
}

fn token_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
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
    fn when(self) -> When {
        When::matching(move |r| {
            let route = route_of(&r.method, &r.path);
            self == Route::Any || self == route || (self == Route::Graph && route != Route::Token)
        })
    }
}

impl Fault {
    /// The fault as the server serves it.
    fn served(self) -> server::Fault<State> {
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

fn route_of(method: &Method, path: &str) -> Route {
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

fn serve_fault(s: &mut State, fault: &Fault, base: &str, uri: &Uri, path: &str) -> Response {
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
                r.headers_mut().insert("Retry-After", HeaderValue::from_str(after).unwrap());
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
                r.headers_mut().insert("Retry-After", HeaderValue::from_str(after).unwrap());
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
                r#"{{"@odata.context":"{base}/$metadata#users","value":[{{"id":"0000","userPrincipalName":"trunc"#
            );
            bytes_response(StatusCode::OK, body.into_bytes())
        }
        Fault::EmptyPage => {
            let same = format!("{base}{}", uri.path_and_query().map(|p| p.as_str()).unwrap_or(path).trim_start_matches("/v1.0"));
            json_response(
                StatusCode::OK,
                &json!({"@odata.context": format!("{base}/$metadata#directoryObjects"), "@odata.nextLink": same, "value": []}),
            )
        }
        Fault::ConnectionReset => unreachable!("served by the server as a dropped connection"),
        Fault::Reset => {
            s.reset_pending = false;
            let kind = if path.contains("/groups/") { "groups" } else { "users" };
            let mut r = graph_error(
                StatusCode::GONE,
                "resyncRequired",
                "The delta token is no longer valid, and the app must reset the sync state.",
            );
            let location = format!("{base}/{kind}/delta?$deltatoken=");
            r.headers_mut().insert("Location", HeaderValue::from_str(&location).unwrap());
            r
        }
        Fault::Expired => graph_error(
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        ),
    }
}

fn serve_token(
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
        &json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}),
    )
}

fn check_assertion(settings: &FakeSettings, assertion: &str, token_url: &str) -> bool {
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

fn serve_graph(
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
                    obj.insert("@odata.context".into(), json!(format!("{base}/$metadata#users/$entity")));
                    json_response(StatusCode::OK, &Json::Object(obj))
                }
                None => graph_error(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
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

fn top_of(value: Option<&str>) -> Result<usize, Response> {
    match value {
        None => Ok(100),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => Ok(n),
            _ => Err(graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!("Invalid page size specified: '{v}'. Must be between 1 and 999 inclusive."),
            )),
        },
    }
}

/// The `$select` list, checked against the known properties.
fn selection(value: Option<&str>, kind: Kind) -> Result<Option<Vec<String>>, Response> {
    let Some(value) = value else { return Ok(None) };
    let known: &[&str] = if kind == Kind::Users {
        &USER_KNOWN
    } else {
        &GROUP_KNOWN
    };
    let mut names = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        // Graph property names are case-insensitive in $select.
        let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) else {
            let ty = if kind == Kind::Users { "user" } else { "group" };
            return Err(graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &format!("Could not find a property named '{name}' on type 'microsoft.graph.{ty}'."),
            ));
        };
        names.push((*k).to_owned());
    }
    Ok(Some(names))
}

/// The properties of an object as a response carries them: the selected ones (or the default
/// set), `id` always. `nulls`: selected but unset properties appear as null (lists and GET) or
/// are omitted (delta: "never set -> omitted").
fn project(
    props: &Map<String, Json>,
    select: Option<&[String]>,
    default: &[&str],
    nulls: bool,
) -> Map<String, Json> {
    let mut out = Map::new();
    out.insert("id".into(), props.get("id").cloned().unwrap_or(Json::Null));
    let names: Vec<&str> = match select {
        Some(sel) => sel.iter().map(String::as_str).collect(),
        None => default.to_vec(),
    };
    for name in names {
        if name == "id" || name == "members" {
            continue;
        }
        match props.get(name) {
            Some(v) => {
                out.insert(name.to_owned(), v.clone());
            }
            None if nulls => {
                out.insert(name.to_owned(), Json::Null);
            }
            None => {}
        }
    }
    out
}

fn new_token(s: &mut State, prefix: &str) -> String {
    s.next_id += 1;
    let raw = format!(
        "{prefix}-{}-{}",
        s.next_id,
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn start_round(
    s: &mut State,
    base: &str,
    path: &str,
    items: Vec<Json>,
    context: &str,
    page_size: usize,
    delta: Option<DeltaToken>,
) -> Response {
    let token = new_token(s, "round");
    s.rounds.insert(
        token.clone(),
        Round {
            items,
            context: format!("{base}/$metadata#{context}"),
            page_size,
            delta,
        },
    );
    serve_round_page(s, base, path, &token, 0)
}

fn serve_page(s: &mut State, base: &str, path: &str, skiptoken: &str) -> Response {
    let Some((round, offset)) = skiptoken.rsplit_once('.') else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid skip token.",
        );
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid skip token.",
        );
    };
    if !s.rounds.contains_key(round) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid skip token.",
        );
    }
    let round = round.to_owned();
    serve_round_page(s, base, path, &round, offset)
}

fn serve_round_page(s: &mut State, base: &str, path: &str, round_id: &str, offset: usize) -> Response {
    let round = s.rounds.get(round_id).unwrap();
    let end = (offset + round.page_size).min(round.items.len());
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(round.context));
    if end < round.items.len() {
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{base}{path}?$skiptoken={round_id}.{end}")),
        );
    } else if let Some(delta) = round.delta.clone() {
        let token = new_token(s, "delta");
        s.delta_tokens.insert(token.clone(), delta);
        body.insert(
            "@odata.deltaLink".into(),
            json!(format!("{base}{path}?$deltatoken={token}")),
        );
    }
    let round = s.rounds.get(round_id).unwrap();
    body.insert(
        "value".into(),
        Json::Array(round.items[offset.min(end)..end].to_vec()),
    );
    let response = json_response(StatusCode::OK, &Json::Object(body));
    if end >= round.items.len() {
        s.rounds.remove(round_id);
    }
    response
}

fn serve_list(s: &mut State, base: &str, path: &str, kind: Kind, query: &[(String, String)]) -> Response {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if param("$search").is_some() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        );
    }
    let top = match top_of(param("$top")) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let select = match selection(param("$select"), kind) {
        Ok(sel) => sel,
        Err(r) => return r,
    };
    let items: Vec<Json> = match kind {
        Kind::Users => s
            .users
            .values()
            .filter(|u| u.deleted.is_none())
            .map(|u| Json::Object(project(&u.props, select.as_deref(), &USER_DEFAULT, true)))
            .collect(),
        Kind::Groups => s
            .groups
            .values()
            .filter(|g| g.deleted.is_none())
            .map(|g| Json::Object(project(&g.props, select.as_deref(), &GROUP_DEFAULT, true)))
            .collect(),
    };
    let context = if kind == Kind::Users { "users" } else { "groups" };
    start_round(s, base, path, items, context, top, None)
}

fn serve_delta(s: &mut State, base: &str, path: &str, kind: Kind, query: &[(String, String)]) -> Response {
    for unsupported in ["$top", "$expand", "$orderby", "$filter", "$search"] {
        if query.iter().any(|(k, _)| k.eq_ignore_ascii_case(unsupported)) {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!("The query parameter '{unsupported}' is not supported with delta."),
            );
        }
    }
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let context = if kind == Kind::Users { "users" } else { "groups" };
    let token = match param("$deltatoken") {
        None | Some("") => None,
        Some("latest") => {
            let since = s.seq;
            let select = match selection(param("$select"), kind) {
                Ok(sel) => sel,
                Err(r) => return r,
            };
            let t = DeltaToken {
                kind,
                since,
                select,
                expired: false,
            };
            return start_round(s, base, path, Vec::new(), context, 1, Some(t));
        }
        Some(token) => {
            if param("$select").is_some() {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "Query parameters are encoded in the delta token; do not repeat them.",
                );
            }
            if s.reset_pending {
                s.reset_pending = false;
                return serve_fault(s, &Fault::Reset, base, &Uri::from_static("/"), path);
            }
            match s.delta_tokens.get(token) {
                Some(t) if t.expired => {
                    return serve_fault(s, &Fault::Expired, base, &Uri::from_static("/"), path)
                }
                Some(t) if t.kind == kind => Some(t.clone()),
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "Request_BadRequest",
                        "Invalid delta token.",
                    )
                }
            }
        }
    };
    let (since, select) = match token {
        Some(t) => (Some(t.since), t.select),
        None => match selection(param("$select"), kind) {
            Ok(sel) => (None, sel),
            Err(r) => return r,
        },
    };
    let now = s.seq;
    let page_size = s.settings.delta_page_size.max(1);
    let items = match kind {
        Kind::Users => user_delta_items(s, since, select.as_deref()),
        Kind::Groups => group_delta_items(s, since, select.as_deref()),
    };
    let next = DeltaToken {
        kind,
        since: now,
        select,
        expired: false,
    };
    start_round(s, base, path, items, context, page_size, Some(next))
}

fn removed(id: &str, how: Deleted) -> Json {
    let reason = if how == Deleted::Soft {
        "changed"
    } else {
        "deleted"
    };
    json!({"id": id, "@removed": {"reason": reason}})
}

fn user_delta_items(s: &State, since: Option<u64>, select: Option<&[String]>) -> Vec<Json> {
    let mut items = Vec::new();
    for (id, u) in &s.users {
        match (since, u.deleted) {
            (None, None) => items.push(Json::Object(project(&u.props, select, &USER_DEFAULT, false))),
            (None, Some(Deleted::Soft)) if s.settings.removed_in_initial => {
                items.push(removed(id, Deleted::Soft))
            }
            (None, Some(_)) => {}
            (Some(since), _) if u.changed <= since => {}
            (Some(_), None) => items.push(Json::Object(project(&u.props, select, &USER_DEFAULT, false))),
            (Some(_), Some(how)) => items.push(removed(id, how)),
        }
    }
    items
}

fn group_delta_items(s: &State, since: Option<u64>, select: Option<&[String]>) -> Vec<Json> {
    let with_members = select.is_none_or(|sel| sel.iter().any(|n| n == "members"));
    let chunk = s.settings.member_chunk.max(1);
    // Membership changes since the token, per group: member -> (type, present now).
    let mut changes: BTreeMap<&str, BTreeMap<(&str, &str), bool>> = BTreeMap::new();
    if let Some(since) = since {
        for (seq, gid, ty, mid) in &s.member_log {
            if *seq > since {
                let present = s
                    .groups
                    .get(gid)
                    .is_some_and(|g| g.members.contains(&(ty.clone(), mid.clone())));
                changes
                    .entry(gid.as_str())
                    .or_default()
                    .insert((ty.as_str(), mid.as_str()), present);
            }
        }
    }
    let mut items = Vec::new();
    for (id, g) in &s.groups {
        let member_entries: Vec<Json> = match since {
            None => g
                .members
                .iter()
                .map(|(ty, mid)| json!({"@odata.type": ty, "id": mid}))
                .collect(),
            Some(_) => changes
                .get(id.as_str())
                .map(|m| {
                    m.iter()
                        .map(|((ty, mid), present)| {
                            if *present {
                                json!({"@odata.type": ty, "id": mid})
                            } else {
                                json!({"@odata.type": ty, "id": mid, "@removed": {"reason": "deleted"}})
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        let touched = since.is_none_or(|since| g.changed > since) || !member_entries.is_empty();
        if !touched {
            continue;
        }
        if let Some(how) = g.deleted {
            if since.is_some() || (how == Deleted::Soft && s.settings.removed_in_initial) {
                items.push(removed(id, how));
            }
            continue;
        }
        let object = project(&g.props, select, &GROUP_DEFAULT, false);
        if !with_members || member_entries.is_empty() {
            items.push(Json::Object(object));
            continue;
        }
        // A big group is repeated, each copy with a slice of its members (Microsoft Learn, "Get
        // incremental changes for groups", "Paging through members in a large group").
        for slice in member_entries.chunks(chunk) {
            let mut copy = object.clone();
            copy.insert("members@delta".into(), Json::Array(slice.to_vec()));
            items.push(Json::Object(copy));
        }
    }
    // Interleave the repeated group objects with others, as Graph does not keep them together.
    if items.len() > 2 {
        let (a, b) = items.split_at(items.len() / 2);
        let mut mixed = Vec::with_capacity(items.len());
        let (mut a, mut b) = (a.iter(), b.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) => break,
                (x, y) => {
                    mixed.extend(x.cloned());
                    mixed.extend(y.cloned());
                }
            }
        }
        items = mixed;
    }
    items
}

/// A user's properties as tests usually want them.
pub fn user_props(upn: &str, given: &str, surname: &str) -> Json {
    json!({
        "userPrincipalName": upn,
        "mail": upn,
        "givenName": given,
        "surname": surname,
        "displayName": format!("{given} {surname}"),
        "jobTitle": "Engineer",
        "department": "R&D",
        "preferredLanguage": "en-US",
        "accountEnabled": true,
        "businessPhones": [],
    })
}
