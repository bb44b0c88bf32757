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

mod filter;
mod serve;
pub mod support;

use serve::route_of;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::MutexGuard;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value as Json};

use crate::server::{self, FakeServer, When};

pub const API_TOKEN: &str = "00fake-okta-api-token_value";
pub const CLIENT_ID: &str = "0oafakeserviceapp1";
pub const SCOPES: &str = "okta.users.read okta.groups.read";
pub use crate::keys::ASSERTION_TYPE;

/// The service app's keys: an RSA key (shared with the Graph fake) and an EC P-256 key, and
/// a key the service app does not know.
pub use crate::keys::{EC_KEY_PEM, EC_PUBKEY_PEM, OTHER_KEY_PEM, RSA_KEY_PEM, RSA_PUBKEY_PEM};

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

impl UserEntry {
    /// A user created at `t`.
    fn new(status: &str, profile: &Json, t: i64) -> UserEntry {
        UserEntry {
            status: status.into(),
            profile: profile.as_object().unwrap().clone(),
            created: t,
            last_updated: t,
        }
    }
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

impl GroupEntry {
    /// A group created at `t`.
    fn new(kind: &str, name: &str, members: BTreeSet<String>, t: i64) -> GroupEntry {
        GroupEntry {
            kind: kind.into(),
            name: name.into(),
            members,
            created: t,
            last_updated: t,
            last_membership_updated: t,
        }
    }
}

/// `id`, or a fresh one with Okta's object prefix (`00u` users, `00g` groups) when empty.
fn id_or_fresh(s: &mut State, id: &str, prefix: &str) -> String {
    if id.is_empty() {
        s.next_id += 1;
        format!("{prefix}{:017}", s.next_id)
    } else {
        id.to_owned()
    }
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
        let everyone = GroupEntry::new("BUILT_IN", "Everyone", BTreeSet::new(), t);
        state.groups.insert("00geveryone0000000001".into(), everyone);
        let server = FakeServer::start(state).await;
        FakeOkta { server }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.server.state()
    }

    pub fn org_url(&self) -> String {
        self.server.url()
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.server.url())
    }

    pub fn settings(&self, change: impl FnOnce(&mut FakeSettings)) {
        change(&mut self.state().settings);
    }

    /// Creates a user (`id` empty: a fresh id) with a status and profile; returns the id.
    /// The user joins Everyone.
    pub fn add_user(&self, id: &str, status: &str, profile: Json) -> String {
        assert!(STATUSES.contains(&status), "{status}");
        let mut s = self.state();
        let id = id_or_fresh(&mut s, id, "00u");
        let t = now_micros(&mut s);
        s.users.insert(id.clone(), UserEntry::new(status, &profile, t));
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
        let id = id_or_fresh(&mut s, id, "00g");
        let t = now_micros(&mut s);
        s.groups
            .insert(id.clone(), GroupEntry::new(kind, name, BTreeSet::new(), t));
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
            s.users.insert(id, UserEntry::new(&status, &profile, t));
        }
        for g in s.groups.values_mut().filter(|g| g.kind == "BUILT_IN") {
            g.members.extend(everyone.iter().cloned());
            g.last_membership_updated = t;
        }
        for (id, name, members) in groups {
            let group = GroupEntry::new("OKTA_GROUP", &name, members.into_iter().collect(), t);
            s.groups.insert(id, group);
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
