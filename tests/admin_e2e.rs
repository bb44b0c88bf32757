//! The whole multi-tenant path through the admin API alone, on SQLite and PostgreSQL: an
//! `idsync run` with no connectors in its file gets three tenants, each with an Entra
//! connector on its own fake Graph (two directories share UPNs and object ids but differ in
//! content); every tenant's tables must equal its own directory, a change to one directory
//! changes only its tenant, SCIM tokens keep tenants apart, the secret is stored and logged
//! nowhere, and deleting a tenant stops it (and with `?purge=true` removes its rows only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use idsync_fakes::graph::support::{seed, truth};
use idsync_fakes::graph::{user_props, FakeGraph, Fault, Route, CLIENT_ID, CLIENT_SECRET, TENANT};
use idsync_fakes::okta::{self, FakeOkta, API_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::admin::{sections, AdminDaemon};
use support::tables::Tables;

/// Tenants `a` and `c` pull the same directory; `b` shares its UPNs and object ids but has one
/// more user, one fewer group and other memberships.
const TENANTS: [&str; 3] = ["t-a", "t-b", "t-c"];

/// Every path the README's admin section documents.
const README_PATHS: [&str; 13] = [
    "/admin/v1/openapi.json",
    "/admin/v1/tenants",
    "/admin/v1/tenants/{tenant}",
    "/admin/v1/tenants/{tenant}/connectors/{name}",
    "/admin/v1/tenants/{tenant}/connectors/{name}/runs",
    "/admin/v1/tenants/{tenant}/connectors/{name}/approve",
    "/admin/v1/tenants/{tenant}/runs",
    "/admin/v1/tenants/{tenant}/runs/{id}",
    "/admin/v1/tenants/{tenant}/events",
    "/admin/v1/tenants/{tenant}/conflicts",
    "/admin/v1/tenants/{tenant}/conflicts/{id}/resolve",
    "/admin/v1/tenants/{tenant}/status",
    "/admin/v1/tenants/{tenant}/scim-token",
];

/// Every table of idsync's own with a `tenant_id` column.
const TENANT_TABLES: [&str; 14] = [
    "users",
    "groups",
    "user_links",
    "sync_state",
    "leases",
    "alert_state",
    "runs",
    "events",
    "conflicts",
    "scim_tokens",
    "connectors",
    "changes",
    "webhooks",
    "webhook_attempts",
];

/// A client secret the fake refuses.
const WRONG_SECRET: &str = "wrong-secret~value-17";

/// One tenant's users, groups and memberships, each as a line.
type Snapshot = (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>);

struct Setup {
    _dir: tempfile::TempDir,
    url: String,
    api: AdminDaemon,
    fakes: Vec<FakeGraph>,
    /// A second directory of tenant `b`, pulled by its connector `okta`.
    okta: FakeOkta,
}

/// The directory of tenant `b`: the seed's people plus one, two of its three groups, other
/// members.
fn seed_other(fake: &FakeGraph) {
    for (id, upn, given, sur) in [
        ("u-ann", "ann@contoso.example", "Ann", "Archer"),
        ("u-bob", "bob@contoso.example", "Bob", "Baker"),
        ("u-cid", "cid@contoso.example", "Cid", "Cole"),
        ("u-dee", "dee@contoso.example", "Dee", "Dunn"),
        ("u-eve", "eve@contoso.example", "Eve", "Evans"),
        ("u-fay", "fay@contoso.example", "Fay", "Ford"),
    ] {
        fake.put_user(id, user_props(upn, given, sur));
    }
    fake.put_group("g-all", "All staff");
    fake.put_group("g-eng", "Engineering");
    for (group, member) in [("g-all", "u-fay"), ("g-all", "u-eve"), ("g-eng", "u-ann")] {
        fake.add_member(group, member);
    }
}

async fn start(url: Option<String>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("idsync.db").display()));
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let (admin, scim) = AdminDaemon::ports();
    let text = format!(
        "[database]\nurl = {url:?}\n\n[daemon]\npoll_secs = 1\njitter_secs = 0\n\n{}",
        sections(admin, scim, &format!("secrets_key = {key:?}"))
    );
    let config = dir.path().join("idsync.toml");
    std::fs::write(&config, text).unwrap();
    let api = AdminDaemon::start_logged(&config, admin, scim, "trace").await;
    let mut fakes = Vec::new();
    for tenant in TENANTS {
        let fake = FakeGraph::start().await;
        if tenant == "t-b" {
            seed_other(&fake);
        } else {
            seed(&fake);
        }
        fakes.push(fake);
    }
    Setup {
        _dir: dir,
        url,
        api,
        fakes,
        okta: okta::support::seeded().await,
    }
}

fn entra_settings(fake: &FakeGraph) -> String {
    json!({"kind": "entra", "tenant_id": TENANT, "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "authority_url": fake.authority_url(),
        "graph_url": fake.graph_url(), "interval": "1h", "max_deactivation_percent": 100,
        "retry": {"initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}})
    .to_string()
}

fn okta_settings(fake: &FakeOkta) -> String {
    json!({"kind": "okta", "org_url": fake.org_url(), "api_token": API_TOKEN,
        "interval": "1h", "overlap_secs": 0, "max_deactivation_percent": 100,
        "retry": {"initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}})
    .to_string()
}

/// What the directories of tenant `index` say its tables must hold: `b` pulls the Okta org
/// too.
fn expected(s: &Setup, index: usize) -> Snapshot {
    let mut all = lines(truth(&s.fakes[index], true, |_, _| true));
    if index == 1 {
        let org = lines(okta::support::truth(&s.okta, &[], |_, _, _| true));
        all.0.extend(org.0);
        all.1.extend(org.1);
        all.2.extend(org.2);
    }
    all
}

/// A directory's truth as [`snapshot`]'s lines.
fn lines((users, groups): support::binary::Truth) -> Snapshot {
    let members = groups
        .iter()
        .flat_map(|(gid, (_, members))| {
            members
                .iter()
                .filter(|m| users.contains_key(*m))
                .map(move |m| format!("{gid}:{m}"))
        })
        .collect();
    (
        users.iter().map(|(id, upn)| format!("{id}={upn}")).collect(),
        groups
            .iter()
            .map(|(id, (name, _))| format!("{id}={name}"))
            .collect(),
        members,
    )
}

/// One tenant's tables, read with plain SQL filtered by `tenant_id`.
fn snapshot(url: &str, tenant: &str) -> Snapshot {
    let mut t = Tables::open(url);
    let users = t.lines(&format!(
        "SELECT external_id || '=' || upn AS line FROM users \
         WHERE tenant_id = '{tenant}' AND active AND archived_at IS NULL"
    ));
    let groups = t.lines(&format!(
        "SELECT external_id || '=' || display_name AS line FROM groups \
         WHERE tenant_id = '{tenant}'"
    ));
    let members = t.lines(&format!(
        "SELECT g.external_id || ':' || u.external_id AS line \
         FROM group_members m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id \
         WHERE g.tenant_id = '{tenant}' AND u.active AND u.archived_at IS NULL"
    ));
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    (set(users), set(groups), set(members))
}

/// Row counts of the tables a run writes, for one tenant.
fn counts(url: &str, tenant: &str) -> Vec<i64> {
    let mut t = Tables::open(url);
    ["users", "groups", "runs", "events", "user_links"]
        .iter()
        .map(|table| {
            t.count(&format!(
                "SELECT count(*) AS n FROM {table} WHERE tenant_id = '{tenant}'"
            ))
        })
        .collect()
}

/// Starts a run of `tenant`'s connector and waits for it to succeed.
async fn run_now(api: &AdminDaemon, tenant: &str) -> Value {
    let (status, started) = api
        .post(
            &format!("/tenants/{tenant}/connectors/entra/runs"),
            r#"{"full": false}"#,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["run_id"].as_i64().unwrap();
    let run = api
        .wait_for(&format!("/tenants/{tenant}/runs/{id}"), "the run", |r| {
            r["status"] != "running"
        })
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    run
}

async fn tenants_and_connectors(s: &Setup) {
    let api = &s.api;
    for (tenant, fake) in TENANTS.iter().zip(&s.fakes) {
        let name = format!(r#"{{"display_name": "Tenant {tenant}"}}"#);
        let (status, body) = api
            .call(Method::PUT, &format!("/tenants/{tenant}"), Some(&name))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = api
            .call(
                Method::PUT,
                &format!("/tenants/{tenant}/connectors/entra"),
                Some(&entra_settings(fake)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, list) = api.get("/tenants").await;
    let ids: BTreeSet<&str> = list["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(TENANTS.iter().all(|t| ids.contains(t)), "{list}");
    for tenant in TENANTS {
        api.wait_for(&format!("/tenants/{tenant}/runs"), "the first run", |r| {
            r["runs"][0]["status"] == "succeeded"
        })
        .await;
    }
    let (status, body) = api
        .call(
            Method::PUT,
            "/tenants/t-b/connectors/okta",
            Some(&okta_settings(&s.okta)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api.wait_for("/tenants/t-b/connectors/okta", "the Okta run", |v| {
        v["status"]["last_run"]["status"] == "succeeded"
    })
    .await;
    for (index, tenant) in TENANTS.iter().enumerate() {
        assert_eq!(
            snapshot(&s.url, tenant),
            expected(s, index),
            "{tenant} after its first run"
        );
    }
}

/// A tenant's status lists its stored connectors; a connector's view hides its secret and
/// carries every status key.
async fn connector_views(s: &Setup) {
    let api = &s.api;
    let (_, b_status) = api.get("/tenants/t-b/status").await;
    let names: BTreeSet<&str> = b_status["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["entra", "okta"]), "{b_status}");
    let (_, status) = api.get("/tenants/t-a/connectors/entra").await;
    assert_eq!(status["settings"]["client_secret"], "***", "{status}");
    for key in ["last_run", "next_run_at", "quarantined_until", "held_run_id"] {
        assert!(status["status"].get(key).is_some(), "{key} missing: {status}");
    }
    assert_eq!(status["status"]["last_run"]["status"], "succeeded", "{status}");
}

/// A stored connector's quarantine shows in `/healthz` (served beside SCIM), and leaves it
/// when the connector is deleted.
async fn stored_connectors_in_healthz(s: &Setup) {
    let healthz = s.api.scim.replace("/scim/v2", "/healthz");
    let get = || async { reqwest::get(&healthz).await.unwrap() };
    assert_eq!(get().await.status(), StatusCode::OK);
    let metrics = s.api.scim.replace("/scim/v2", "/metrics");
    let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    for tenant in TENANTS {
        let series = format!("idsync_runs_total{{connector=\"{tenant}/entra\",outcome=\"succeeded\"}}");
        assert!(text.contains(&series), "{series} missing from /metrics:\n{text}");
    }
    let settings = entra_settings(&s.fakes[0]).replace(CLIENT_SECRET, WRONG_SECRET);
    let (status, body) = s
        .api
        .call(Method::PUT, "/tenants/t-a/connectors/refused", Some(&settings))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.api
        .wait_for("/tenants/t-a/connectors/refused", "the refused run", |v| {
            v["status"]["quarantined_until"].is_string()
        })
        .await;
    let answer = get().await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = answer.json().await.unwrap();
    let quarantined = body["quarantined"].as_array().unwrap();
    assert_eq!(quarantined.len(), 1, "{body}");
    assert_eq!(quarantined[0]["connector"], "refused", "{body}");
    assert_eq!(quarantined[0]["tenant"], "t-a", "{body}");
    let (status, body) = s
        .api
        .call(Method::DELETE, "/tenants/t-a/connectors/refused", None)
        .await;
    assert!(status.is_success(), "{status} {body}");
    let answer = get().await;
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "{}",
        answer.text().await.unwrap()
    );
}

/// A stored connector whose secret no configured key opens is listed by `/status` with the
/// reason, beside the tenant's other connectors, instead of failing the answer.
async fn an_unreadable_connector_in_status(s: &Setup) {
    // Its upstream refuses connections, so its first run (due at once) fails without
    // touching the tenant's data; the step waits for that run to end.
    let settings = json!({"kind": "entra", "tenant_id": TENANT, "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "authority_url": "http://127.0.0.1:9",
        "graph_url": "http://127.0.0.1:9", "interval": "1h",
        "retry": {"initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}})
    .to_string();
    let (status, body) = s
        .api
        .call(Method::PUT, "/tenants/t-c/connectors/sealed", Some(&settings))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.api
        .wait_for("/tenants/t-c/connectors/sealed", "its first run to end", |v| {
            v["status"]["last_run"]["finished_at"].is_string()
        })
        .await;
    // The envelope now names a key the configuration does not hold.
    let changed = Tables::open(&s.url).execute(
        "UPDATE connectors SET settings = replace(settings, 'v1:', 'v1:retired') \
         WHERE tenant_id = 't-c' AND name = 'sealed'",
    );
    assert_eq!(changed, 1);
    let (status, body) = s.api.get("/tenants/t-c/status").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let connectors = body["connectors"].as_array().unwrap();
    let sealed = connectors.iter().find(|c| c["name"] == "sealed").unwrap();
    let problem = sealed["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("retired"), "names the missing key: {body}");
    let entra = connectors.iter().find(|c| c["name"] == "entra").unwrap();
    assert!(entra.get("problem").is_none(), "{body}");
    assert!(entra["last_run"].is_object(), "{body}");
    let (status, body) = s
        .api
        .call(Method::DELETE, "/tenants/t-c/connectors/sealed", None)
        .await;
    assert!(status.is_success(), "{status} {body}");
}

/// A dry run of `c` after a change to its directory answers the plan and writes nothing.
async fn dry_run_writes_nothing(s: &Setup) {
    let fake = &s.fakes[2];
    let before = counts(&s.url, "t-c");
    let tables = snapshot(&s.url, "t-c");
    fake.put_user("u-zed", user_props("zed@contoso.example", "Zed", "Zane"));
    let (status, plan) = s
        .api
        .post("/tenants/t-c/connectors/entra/runs", r#"{"dry_run": true}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["counts"]["created"], 1, "{plan}");
    assert!(plan.to_string().contains("zed@contoso.example"), "{plan}");
    assert_eq!(counts(&s.url, "t-c"), before, "a dry run writes nothing");
    assert_eq!(snapshot(&s.url, "t-c"), tables);
    fake.hard_delete_user("u-zed");
}

/// A change to `a`'s directory reaches `a`'s tables only.
async fn one_directory_changes(s: &Setup) {
    let others: Vec<Snapshot> = ["t-b", "t-c"].iter().map(|t| snapshot(&s.url, t)).collect();
    let fake = &s.fakes[0];
    fake.soft_delete_user("u-eve");
    fake.rename_group("g-eng", "Engineering & Data");
    fake.remove_member("g-all", "u-ann");
    fake.add_member("g-ops", "u-ann");
    let run = run_now(&s.api, "t-a").await;
    assert!(run["counts"].is_object(), "{run}");
    let now = snapshot(&s.url, "t-a");
    assert_eq!(now, expected(s, 0), "t-a after the delta");
    assert!(!now.0.iter().any(|u| u.starts_with("u-eve=")));
    assert!(now.1.contains("g-eng=Engineering & Data"), "{:?}", now.1);
    let after: Vec<Snapshot> = ["t-b", "t-c"].iter().map(|t| snapshot(&s.url, t)).collect();
    assert_eq!(after, others, "the other tenants did not change");
    assert_eq!(after[0], expected(s, 1));
    assert_eq!(after[1], expected(s, 2));
}

/// A run asked for while the connector runs (its fake stalls a page) is 409 naming the running
/// run; the same connector name in another tenant is not busy.
async fn busy_run_is_refused(s: &Setup) {
    s.fakes[0].inject(Route::UsersDelta, Fault::Delay(Duration::from_secs(3)));
    let (status, started) = s.api.post("/tenants/t-a/connectors/entra/runs", "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["run_id"].as_i64().unwrap();
    let (status, body) = s.api.post("/tenants/t-a/connectors/entra/runs", "{}").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["run_id"], id, "{body}");
    let other = run_now(&s.api, "t-c").await;
    assert_ne!(other["run_id"], id);
    let run = s
        .api
        .wait_for(&format!("/tenants/t-a/runs/{id}"), "the stalled run", |r| {
            r["status"] != "running"
        })
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(s.fakes[0].pending_faults(), 0, "the stall was served");
}

/// A tenant's SCIM id of the user with `upn`.
fn user_id(url: &str, tenant: &str, upn: &str) -> String {
    Tables::open(url)
        .lines(&format!(
            "SELECT scim_id AS line FROM users WHERE tenant_id = '{tenant}' AND upn = '{upn}'"
        ))
        .pop()
        .unwrap_or_else(|| panic!("{tenant} has no {upn}"))
}

async fn scim_get(api: &AdminDaemon, token: &str, path: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", api.scim))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Per-tenant SCIM tokens: `a`'s token never sees `b`'s users; revocation voids it.
async fn scim_tokens(s: &Setup) -> Vec<String> {
    let mut tokens = Vec::new();
    for tenant in TENANTS {
        let (status, body) = s.api.post(&format!("/tenants/{tenant}/scim-token"), "").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    s.api.wait_scim(&tokens[0], StatusCode::OK).await;
    let (a_bob, b_bob) = (
        user_id(&s.url, "t-a", "bob@contoso.example"),
        user_id(&s.url, "t-b", "bob@contoso.example"),
    );
    assert_ne!(a_bob, b_bob);
    let (status, body) = scim_get(&s.api, &tokens[0], &format!("/Users/{b_bob}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "b's user through a's token: {body}"
    );
    let (status, body) = scim_get(&s.api, &tokens[0], &format!("/Users/{a_bob}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let filter = support::scim::filter("userName eq \"bob@contoso.example\"");
    let (_, list) = scim_get(&s.api, &tokens[0], &format!("/Users?{filter}")).await;
    let ids: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [a_bob.as_str()], "{list}");
    let (_, all) = scim_get(&s.api, &tokens[1], "/Users?count=100").await;
    let seen: BTreeSet<&str> = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    let b_rows = Tables::open(&s.url).lines("SELECT scim_id AS line FROM users WHERE tenant_id = 't-b'");
    assert!(b_rows.len() > 6, "both of b's directories: {b_rows:?}");
    let b_rows: BTreeSet<&str> = b_rows.iter().map(String::as_str).collect();
    assert_eq!(seen, b_rows, "b sees its own people only: {all}");
    let (status, body) = s.api.call(Method::DELETE, "/tenants/t-a/scim-token", None).await;
    assert!(status.is_success(), "{status} {body}");
    s.api.wait_scim(&tokens[0], StatusCode::UNAUTHORIZED).await;
    tokens
}

async fn bad_requests(s: &Setup) {
    let api = &s.api;
    let settings = entra_settings(&s.fakes[0]);
    let (status, body) = api
        .call(Method::PUT, "/tenants/nobody/connectors/entra", Some(&settings))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown tenant: {body}");
    let (status, body) = api.get("/tenants/Bad_Slug/runs").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "bad slug: {body}");
    let (status, body) = api
        .call(Method::PUT, "/tenants/-lead/connectors/entra", Some(&settings))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "bad slug: {body}");
    let long = "a".repeat(64);
    let (status, body) = api.get(&format!("/tenants/{long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a 64-character slug: {body}");
    let (status, body) = api.get(&format!("/tenants/{}", &long[..63])).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a 63-character slug is valid: {body}"
    );
}

/// Another tenant's user is not in a tenant's event log, by id or by UPN.
async fn foreign_events(s: &Setup) {
    let api = &s.api;
    let fay = Tables::open(&s.url)
        .lines("SELECT CAST(id AS TEXT) AS line FROM users WHERE tenant_id = 't-b' AND upn = 'fay@contoso.example'")
        .pop()
        .unwrap();
    for user in [fay.as_str(), "fay@contoso.example"] {
        let (status, events) = api.get(&format!("/tenants/t-a/events?user={user}")).await;
        let none = status == StatusCode::NOT_FOUND || events["events"].as_array().is_some_and(Vec::is_empty);
        assert!(none, "t-a's log shows b's user {user}: {status} {events}");
    }
    let (_, events) = api.get("/tenants/t-b/events?user=fay@contoso.example").await;
    assert!(!events["events"].as_array().unwrap().is_empty(), "{events}");
}

/// A body that names another tenant or an unknown key is refused, naming the key; the
/// OpenAPI document lists every documented path.
async fn bad_settings_and_the_document(s: &Setup) {
    let api = &s.api;
    let settings = entra_settings(&s.fakes[0]);
    let mut elsewhere: Value = serde_json::from_str(&settings).unwrap();
    elsewhere["tenant"] = json!("t-b");
    let (status, body) = api
        .call(
            Method::PUT,
            "/tenants/t-a/connectors/sneaky",
            Some(&elsewhere.to_string()),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a body naming another tenant: {body}"
    );
    assert!(body["error"].as_str().unwrap().contains("tenant"), "{body}");
    let mut unknown: Value = serde_json::from_str(&settings).unwrap();
    unknown["colour"] = json!("blue");
    let (status, body) = api
        .call(
            Method::PUT,
            "/tenants/t-a/connectors/entra",
            Some(&unknown.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
    let (_, doc) = api.get("/openapi.json").await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for path in README_PATHS {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys());
    }
}

/// The client secret is in no row of any table and no log line.
fn secret_nowhere(s: &Setup) {
    let rows = Tables::open(&s.url).every_row();
    assert!(rows.len() > 20, "the scan read the tables: {}", rows.len());
    let log = s.api.log_text();
    assert!(log.lines().count() > 20, "the trace log was written");
    for secret in [CLIENT_SECRET, WRONG_SECRET, API_TOKEN] {
        let leaks: Vec<&String> = rows.iter().filter(|r| r.contains(secret)).collect();
        assert!(leaks.is_empty(), "a secret is stored in plain text: {leaks:?}");
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

/// Deleting `b` stops its connector and voids its token; purging `c` removes its rows only.
async fn tenants_deleted(s: &Setup, tokens: &[String]) {
    let api = &s.api;
    let a_before = (snapshot(&s.url, "t-a"), counts(&s.url, "t-a"));
    let b_before = snapshot(&s.url, "t-b");
    let (status, body) = api.call(Method::DELETE, "/tenants/t-b", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connectors_stopped"], 2, "{body}");
    api.wait_scim(&tokens[1], StatusCode::UNAUTHORIZED).await;
    let b_runs = counts(&s.url, "t-b")[2];
    s.fakes[1].put_user("u-new", user_props("new@contoso.example", "New", "Comer"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        counts(&s.url, "t-b")[2],
        b_runs,
        "a deleted tenant's connector runs no more"
    );
    let (status, _) = api.post("/tenants/t-b/connectors/entra/runs", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        snapshot(&s.url, "t-b"),
        b_before,
        "users and groups stay without ?purge=true"
    );

    let (status, body) = api.call(Method::DELETE, "/tenants/t-c?purge=true", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.wait_scim(&tokens[2], StatusCode::UNAUTHORIZED).await;
    let mut t = Tables::open(&s.url);
    for table in TENANT_TABLES {
        let sql = format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = 't-c'");
        assert_eq!(t.count(&sql), 0, "{table} of t-c purged");
    }
    let orphans = t.count(
        "SELECT count(*) AS n FROM group_members m WHERE m.group_id NOT IN (SELECT id FROM groups) \
         OR m.user_id NOT IN (SELECT id FROM users)",
    );
    assert_eq!(orphans, 0, "memberships of purged rows are gone");
    let (status, body) = api.get("/tenants/t-c").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a purged tenant is gone: {body}");
    assert_eq!(
        (snapshot(&s.url, "t-a"), counts(&s.url, "t-a")),
        a_before,
        "t-a untouched"
    );
    assert_eq!(snapshot(&s.url, "t-b"), b_before, "t-b untouched by t-c's purge");
}

/// A tenant deleted without `?purge=true` and set up again picks its kept users up: its
/// connector's new first run links them rather than creating them twice.
async fn a_deleted_tenant_comes_back(s: &Setup) {
    let api = &s.api;
    let before = Tables::open(&s.url).count("SELECT count(*) AS n FROM users WHERE tenant_id = 't-b'");
    let (_, runs) = api.get("/tenants/t-b/runs").await;
    let last_run = runs["runs"][0]["run_id"].as_i64().unwrap();
    let (status, body) = api
        .call(Method::PUT, "/tenants/t-b", Some(r#"{"display_name": "Back"}"#))
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) = api
        .call(
            Method::PUT,
            "/tenants/t-b/connectors/entra",
            Some(&entra_settings(&s.fakes[1])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api.wait_for("/tenants/t-b/runs", "the new first run", |v| {
        let run = &v["runs"][0];
        run["run_id"].as_i64() > Some(last_run) && run["status"] == "succeeded"
    })
    .await;
    let now = snapshot(&s.url, "t-b");
    let entra = lines(truth(&s.fakes[1], true, |_, _| true));
    assert!(entra.0.is_subset(&now.0), "{:?} within {:?}", entra.0, now.0);
    assert!(entra.2.is_subset(&now.2), "{:?} within {:?}", entra.2, now.2);
    let after = Tables::open(&s.url).count("SELECT count(*) AS n FROM users WHERE tenant_id = 't-b'");
    assert_eq!(after, before + 1, "only the user added meanwhile is new");
}

async fn end_to_end(url: Option<String>) {
    let s = start(url).await;
    tenants_and_connectors(&s).await;
    connector_views(&s).await;
    bad_requests(&s).await;
    foreign_events(&s).await;
    bad_settings_and_the_document(&s).await;
    stored_connectors_in_healthz(&s).await;
    an_unreadable_connector_in_status(&s).await;
    dry_run_writes_nothing(&s).await;
    one_directory_changes(&s).await;
    busy_run_is_refused(&s).await;
    let tokens = scim_tokens(&s).await;
    secret_nowhere(&s);
    tenants_deleted(&s, &tokens).await;
    a_deleted_tenant_comes_back(&s).await;
    secret_nowhere(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tenants_through_the_admin_api_on_sqlite() {
    end_to_end(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tenants_through_the_admin_api_on_postgres() {
    let pg = support::postgres::TestDatabase::create();
    end_to_end(Some(pg.url.clone())).await;
}
