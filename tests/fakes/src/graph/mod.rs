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

mod pages;
mod respond;
mod serve;
pub mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::MutexGuard;
use std::time::Instant;

use base64::Engine;
use serde_json::{json, Map, Value as Json};

use crate::server::{self, FakeServer};

pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_SECRET: &str = "fake-secret~value";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub use crate::keys::ASSERTION_TYPE;

pub use crate::keys::RSA_PUBKEY_PEM as TEST_PUBKEY_PEM;
/// A certificate and key the fake app does not know.
pub use crate::keys::{OTHER_CERT_PEM, OTHER_KEY_PEM};
/// The test certificate and key (RSA 2048, self-signed), registered with the fake app.
pub use crate::keys::{RSA_CERT_PEM as TEST_CERT_PEM, RSA_KEY_PEM as TEST_KEY_PEM};

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

/// Properties the fake knows on users besides the default ones; selecting a property it
/// does not know is a 400, as on Graph.
const USER_MORE: [&str; 13] = [
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

/// Properties the fake knows on groups besides the default ones.
const GROUP_MORE: [&str; 1] = ["members"];

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
    /// The normal answer, this much late: a run that is still running when the test looks.
    Delay(std::time::Duration),
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

impl State {
    /// The next change number: every change to the tenant gets one, and delta tokens
    /// remember the last one they saw.
    fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

impl UserEntry {
    /// A live user with these properties (and `id`), changed at `seq`.
    fn new(id: &str, props: Json, seq: u64) -> UserEntry {
        let mut props = props.as_object().cloned().unwrap_or_default();
        props.insert("id".into(), json!(id));
        UserEntry {
            props,
            deleted: None,
            changed: seq,
        }
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeGraph {
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
        FakeGraph { server }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.server.state()
    }

    pub fn authority_url(&self) -> String {
        self.server.url()
    }

    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.server.url())
    }

    pub fn token_url(&self) -> String {
        let tenant = self.state().settings.tenant.clone();
        format!("{}/{tenant}/oauth2/v2.0/token", self.server.url())
    }

    pub fn settings(&self, change: impl FnOnce(&mut FakeSettings)) {
        change(&mut self.state().settings);
    }

    // ---- the tenant ----

    /// Adds or replaces a user; `props` must hold at least `userPrincipalName`. Returns the id.
    pub fn put_user(&self, id: &str, props: Json) -> String {
        let mut s = self.state();
        let seq = s.tick();
        s.users.insert(id.to_owned(), UserEntry::new(id, props, seq));
        id.to_owned()
    }

    /// Changes some properties of a user (a `null` clears one).
    pub fn patch_user(&self, id: &str, patch: Json) {
        let mut s = self.state();
        let seq = s.tick();
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
        let seq = s.tick();
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
        let seq = s.tick();
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
        let seq = s.tick();
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
        let seq = s.tick();
        let g = s.groups.get_mut(id).expect("no such group");
        g.props.insert("displayName".into(), json!(display_name));
        g.changed = seq;
    }

    /// Deletes a security group (permanently, as Entra does for security groups).
    pub fn delete_group(&self, id: &str) {
        let mut s = self.state();
        let seq = s.tick();
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
        let seq = s.tick();
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
        let seq = s.tick();
        for (id, props) in users {
            let user = UserEntry::new(&id, props, seq);
            s.users.insert(id, user);
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
