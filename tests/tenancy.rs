//! Tenants in the store, on a real SQLite file and a real PostgreSQL server: the upgrade from a
//! database without tenants, the tenant table, and one tenant's store never seeing another's
//! rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use idsync::store::{self, DatabaseUrl, Store};
use idsync::tenant::TenantId;
use support::tables::Tables;

fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// A fresh SQLite file and a fresh PostgreSQL database, as configuration URLs.
fn databases(dir: &Path) -> (support::postgres::TestDatabase, Vec<String>) {
    let pg = support::postgres::TestDatabase::create();
    let urls = vec![format!("sqlite://{}", dir.join("t.db").display()), pg.url.clone()];
    (pg, urls)
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// Applies the migrations of `folder` up to and including version `last`.
fn apply_until<DB: diesel::backend::Backend>(c: &mut impl MigrationHarness<DB>, folder: &Path, last: &str)
where
    FileBasedMigrations: MigrationSource<DB>,
{
    let source = FileBasedMigrations::from_path(folder).unwrap();
    let mut migrations = MigrationSource::<DB>::migrations(&source).unwrap();
    migrations.sort_by_key(|m| m.name().version().to_string());
    for m in migrations
        .iter()
        .filter(|m| m.name().version().to_string().as_str() <= last)
    {
        c.run_migration(&**m).unwrap();
    }
}

/// Rows in every table, as a database from before tenants holds them.
const OLD_ROWS: &str = "
    INSERT INTO users (scim_id, external_id, source, upn, email, active, created_at, updated_at, upn_key, email_key)
        VALUES ('s1', 'e1', 'hr', 'ann@x.com', 'ann@x.com', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'ann@x.com', 'ann@x.com');
    INSERT INTO groups (scim_id, external_id, source, display_name, read_only, created_at, updated_at, name_key)
        VALUES ('g1', 'ge1', 'hr', 'Staff', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'staff');
    INSERT INTO group_members (group_id, user_id) VALUES (1, 1);
    INSERT INTO user_links (source, external_id, user_id, linked_at) VALUES ('hr', 'e1', 1, CURRENT_TIMESTAMP);
    INSERT INTO sync_state (connector, cursor, guard_approved, updated_at, last_success_at)
        VALUES ('hr', 'c1', FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
    INSERT INTO leases (connector, holder, expires_at) VALUES ('hr', 'old', CURRENT_TIMESTAMP);
    INSERT INTO alert_state (connector, condition, active, detail, raised_at)
        VALUES ('hr', 'run_failed', TRUE, 'boom', CURRENT_TIMESTAMP);
    INSERT INTO runs (connector, mode, status, started_at) VALUES ('hr', 'full', 'succeeded', CURRENT_TIMESTAMP);
    INSERT INTO events (connector, object_type, object_id, object_key, action, detail, created_at)
        VALUES ('hr', 'user', 1, 'ann@x.com', 'created', '{}', CURRENT_TIMESTAMP);
    INSERT INTO conflicts (connector, external_id, reason, detail, record, status, first_seen_at, last_seen_at)
        VALUES ('hr', 'e9', 'ambiguous', 'd', '{}', 'open', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
    INSERT INTO scim_tokens (token_sha256, created_at) VALUES ('abc', CURRENT_TIMESTAMP);
";

const SCOPED_TABLES: [&str; 10] = [
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
];

#[test]
fn upgrading_puts_every_old_row_into_the_default_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (_pg, urls) = databases(dir.path());
    for url in urls {
        let parsed = DatabaseUrl::parse(&url).unwrap();
        let backend = if matches!(parsed, DatabaseUrl::Postgres(_)) {
            "postgres"
        } else {
            "sqlite"
        };
        let mut tables = Tables::open(&url);
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        // The table diesel keeps its record in, as `run_pending_migrations` creates it.
        tables.execute(
            "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
             run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        );
        with_tables!(&mut tables, c => apply_until(c, &folder, "20261201000004"));
        with_tables!(&mut tables, c => c.batch_execute(OLD_ROWS)).unwrap();

        let store = Store::open(&parsed);
        let applied = block_on(store.migrate()).unwrap();
        assert_eq!(
            applied.first().map(String::as_str),
            Some("20261201000005"),
            "{backend}: the tenants migration is the first left: {applied:?}"
        );

        for table in SCOPED_TABLES {
            let all = tables.count(&format!("SELECT COUNT(*) AS n FROM {table}"));
            let default = tables.count(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = 'default'"
            ));
            assert_eq!((all, default), (1, 1), "{backend}: {table}");
        }
        assert_eq!(
            tables.count("SELECT COUNT(*) AS n FROM group_members"),
            1,
            "{backend}: memberships kept"
        );
        let tenants = block_on(store.tenants()).unwrap();
        assert_eq!(
            tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["default"]
        );

        // The upgraded database works: the old rows are the default tenant's, and no one else's.
        let local = block_on(store.load_local("hr")).unwrap();
        assert_eq!(local.users.len(), 1, "{backend}");
        assert_eq!(local.links.len(), 1, "{backend}");
        assert_eq!(local.groups.len(), 1, "{backend}");
        assert!(
            !local.first_sync,
            "{backend}: the old sync state is the default tenant's"
        );
        // The application's own inserts, which name no tenant, still land in `default`.
        tables.execute(
            "INSERT INTO users (scim_id, upn, active, created_at, updated_at) \
             VALUES ('s2', 'bob@x.com', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        );
        assert_eq!(
            tables.count("SELECT COUNT(*) AS n FROM users WHERE tenant_id = 'default'"),
            2,
            "{backend}"
        );
    }
}

#[test]
fn tenants_are_created_renamed_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (_pg, urls) = databases(dir.path());
    for url in urls {
        let store = Store::open(&DatabaseUrl::parse(&url).unwrap());
        block_on(store.migrate()).unwrap();
        let now = store::now();
        let acme = tenant("acme");
        assert!(
            block_on(store.put_tenant(&acme, "Acme", now)).unwrap(),
            "{url}: created"
        );
        assert!(
            !block_on(store.put_tenant(&acme, "Acme Corp", now)).unwrap(),
            "{url}: updated"
        );
        let row = block_on(store.tenant_row(&acme)).unwrap().unwrap();
        assert_eq!(
            (row.id.as_str(), row.display_name.as_str()),
            ("acme", "Acme Corp")
        );
        assert!(block_on(store.tenant_row(&tenant("nobody"))).unwrap().is_none());
        block_on(store.ensure_tenant(&acme, "ignored", now)).unwrap();
        let ids: Vec<String> = block_on(store.tenants())
            .unwrap()
            .into_iter()
            .map(|t| format!("{}={}", t.id, t.display_name))
            .collect();
        assert_eq!(ids, ["acme=Acme Corp", "default=default"], "{url}");
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["id"], "acme");

        let mut tables = Tables::open(&url);
        tables.execute(
            "INSERT INTO users (scim_id, upn, active, created_at, updated_at, tenant_id) \
             VALUES ('a1', 'ann@x.com', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'acme')",
        );
        tables.execute("INSERT INTO scim_tokens (token_sha256, created_at, tenant_id) VALUES ('d', CURRENT_TIMESTAMP, 'acme')");
        let acme_rows = |t: &mut Tables, table: &str| {
            t.count(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = 'acme'"
            ))
        };
        assert!(block_on(store.delete_tenant(&acme, false)).unwrap());
        assert_eq!(acme_rows(&mut tables, "scim_tokens"), 0, "{url}: token revoked");
        assert_eq!(
            acme_rows(&mut tables, "users"),
            1,
            "{url}: users stay without purge"
        );
        assert!(block_on(store.tenant_row(&acme)).unwrap().is_some());
        assert!(block_on(store.delete_tenant(&acme, true)).unwrap());
        assert_eq!(acme_rows(&mut tables, "users"), 0, "{url}: purged");
        assert!(block_on(store.tenant_row(&acme)).unwrap().is_none());
        assert!(
            !block_on(store.delete_tenant(&acme, true)).unwrap(),
            "{url}: gone"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Two tenants pulling the same Entra directory.

use idsync::config::Config;
use idsync::reconcile::{self, RunOptions, RunProgress};
use idsync_fakes::graph::support::{config_text, seeded, truth, FAST_RETRY};
use idsync_fakes::graph::{user_props, FakeGraph, CLIENT_SECRET};
use std::collections::BTreeSet;

/// A configuration with the tenants `acme` and `globex`, each with a connector `entra` on
/// its own fake Graph tenant.
fn two_tenants(dir: &Path, url: &str, acme: &FakeGraph, globex: &FakeGraph) -> Config {
    let entra = |fake: &FakeGraph, tenant: &str| {
        let keys =
            format!("client_secret = \"{CLIENT_SECRET}\"\n{FAST_RETRY}\nmax_deactivation_percent = 100");
        format!(
            "[[connectors]]\nname = \"entra\"\nkind = \"entra\"\ntenant = \"{tenant}\"\n{}\n",
            config_text(fake, &keys)
        )
    };
    let text = format!(
        "[database]\nurl = \"{url}\"\n\n[[tenants]]\nid = \"acme\"\ndisplay_name = \"Acme\"\n\n\
         [[tenants]]\nid = \"globex\"\n\n{}{}",
        entra(acme, "acme"),
        entra(globex, "globex")
    );
    let path = dir.join("idsync.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

/// One tenant's application tables as lines: active users (`external id=upn`) and the
/// memberships of active users (`group external id:name:user external id`), read with SQL
/// filtered by `tenant_id` (not through the store under test).
fn tenant_tables(url: &str, tenant: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut t = Tables::open(url);
    let users = t.lines(&format!(
        "SELECT external_id || '=' || upn AS line FROM users \
         WHERE tenant_id = '{tenant}' AND active AND archived_at IS NULL"
    ));
    let members = t.lines(&format!(
        "SELECT g.external_id || ':' || g.display_name || ':' || u.external_id AS line \
         FROM group_members m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id \
         WHERE g.tenant_id = '{tenant}' AND u.active AND u.archived_at IS NULL"
    ));
    (users.into_iter().collect(), members.into_iter().collect())
}

/// What the fake's directory says the tables must hold, in [`tenant_tables`]' lines.
fn expected(fake: &FakeGraph) -> (BTreeSet<String>, BTreeSet<String>) {
    let (users, groups) = truth(fake, true, |_, _| true);
    let members = groups
        .iter()
        .flat_map(|(gid, (name, members))| {
            members
                .iter()
                .filter(|m| users.contains_key(*m))
                .map(move |m| format!("{gid}:{name}:{m}"))
        })
        .collect();
    (
        users.iter().map(|(id, upn)| format!("{id}={upn}")).collect(),
        members,
    )
}

/// Rows whose tenant differs from the tenant of a row they point at: must be none.
fn crossings(url: &str) -> i64 {
    let mut t = Tables::open(url);
    t.count(
        "SELECT COUNT(*) AS n FROM group_members m JOIN groups g ON g.id = m.group_id \
         JOIN users u ON u.id = m.user_id WHERE g.tenant_id <> u.tenant_id",
    ) + t.count(
        "SELECT COUNT(*) AS n FROM user_links l JOIN users u ON u.id = l.user_id \
         WHERE l.tenant_id <> u.tenant_id",
    )
}

async fn sync_all(config: &Config, store: &Store) {
    for c in &config.connectors {
        let connector = idsync::connectors::build(c);
        let tenant_store = store.for_tenant(c.tenant.clone());
        let report = reconcile::run_once(
            &tenant_store,
            &connector,
            RunOptions::default(),
            &RunProgress::hidden(),
        )
        .await;
        assert!(!report.outcome.is_failed(), "{}: {}", c.label(), report.summary());
    }
}

async fn same_directory_in_two_tenants(url: &str, dir: &Path) {
    let (acme_idp, globex_idp) = (seeded().await, seeded().await);
    let config = two_tenants(dir, url, &acme_idp, &globex_idp);
    let store = Store::open(&config.database);
    store.migrate().await.unwrap();
    idsync::daemon::create_tenants(&config, &store).await.unwrap();
    sync_all(&config, &store).await;

    let acme = tenant_tables(url, "acme");
    assert_eq!(acme, expected(&acme_idp), "{url}: acme after the first sync");
    assert_eq!(
        tenant_tables(url, "globex"),
        expected(&globex_idp),
        "{url}: globex"
    );
    assert!(!acme.1.is_empty(), "the directory has memberships");
    let mut t = Tables::open(url);
    let per_tenant = |t: &mut Tables, table: &str, tenant: &str| {
        t.count(&format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = '{tenant}'"
        ))
    };
    for table in ["users", "groups", "user_links"] {
        let (a, g) = (
            per_tenant(&mut t, table, "acme"),
            per_tenant(&mut t, table, "globex"),
        );
        assert!(a > 0 && a == g, "{url}: {table}: two separate sets ({a} and {g})");
    }
    assert_eq!(
        per_tenant(&mut t, "users", "default"),
        0,
        "{url}: nothing lands in default"
    );
    assert_eq!(crossings(url), 0, "{url}");

    // One tenant's directory changes: a rename, a new hire in a group, a leaver, a membership.
    globex_idp.patch_user(
        "u-ann",
        serde_json::json!({"userPrincipalName": "anna@contoso.example"}),
    );
    globex_idp.put_user("u-fay", user_props("fay@contoso.example", "Fay", "Fox"));
    globex_idp.add_member("g-ops", "u-fay");
    globex_idp.patch_user("u-bob", serde_json::json!({"accountEnabled": false}));
    globex_idp.remove_member("g-all", "u-ann");
    sync_all(&config, &store).await;
    assert_eq!(tenant_tables(url, "acme"), acme, "{url}: acme is untouched");
    assert_eq!(
        tenant_tables(url, "globex"),
        expected(&globex_idp),
        "{url}: globex follows its directory"
    );
    assert_ne!(tenant_tables(url, "globex"), acme, "{url}: the change shows");
    assert_eq!(crossings(url), 0, "{url}");

    // Runs and events are per tenant too.
    let acme_store = store.for_tenant(tenant("acme"));
    let status = acme_store.status(&["entra".to_owned()]).await.unwrap();
    assert_eq!(status.connectors[0].recent.len(), 2, "{url}: acme's two runs");
    assert_eq!(per_tenant(&mut t, "runs", "globex"), 2, "{url}");
    let filter = store::events::EventFilter {
        limit: 10_000,
        ..Default::default()
    };
    let acme_events = acme_store.events(filter.clone()).await.unwrap();
    let globex_events = store.for_tenant(tenant("globex")).events(filter).await.unwrap();
    assert_eq!(
        acme_events.len() as i64,
        per_tenant(&mut t, "events", "acme"),
        "{url}"
    );
    assert!(
        globex_events.len() > acme_events.len(),
        "{url}: only globex logged the changes"
    );
    let acme_runs: BTreeSet<i64> = status.connectors[0].recent.iter().map(|r| r.id).collect();
    assert!(
        acme_events.iter().all(|e| acme_runs.contains(&e.run_id.unwrap())),
        "{url}"
    );
    // Run ids are global; a run found by id is its own tenant's, and absent for the other.
    let globex_store = store.for_tenant(tenant("globex"));
    for id in &acme_runs {
        let run = acme_store.run(*id).await.unwrap().map(|r| r.id);
        let elsewhere = globex_store.run(*id).await.unwrap().map(|r| r.id);
        assert_eq!((run, elsewhere), (Some(*id), None), "{url}");
    }
    let globex_runs = globex_store.runs(Some("entra".into()), 10).await.unwrap();
    assert_eq!(globex_runs.len(), 2, "{url}");
    assert!(globex_runs.iter().all(|r| !acme_runs.contains(&r.id)), "{url}");
    assert!(
        acme_store.open_conflicts().await.unwrap().is_empty(),
        "{url}: no merges, no doubt"
    );
    let by_upn = store::events::EventFilter {
        user: Some("fay@contoso.example".into()),
        limit: 100,
        ..Default::default()
    };
    assert!(
        acme_store.events(by_upn).await.unwrap().is_empty(),
        "{url}: Fay is globex's only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_with_the_same_directory_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    same_directory_in_two_tenants(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_with_the_same_directory_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let pg = support::postgres::TestDatabase::create();
    same_directory_in_two_tenants(&pg.url, dir.path()).await;
}

// ---------------------------------------------------------------------------------------
// SCIM: the token selects the tenant.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::scim::{config as scim_config, filter, Server};

/// A SCIM call with `token` instead of the server's own.
async fn call_as(
    s: &Server,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = s
        .client
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A token for `tenant` (created first), as `idsync --tenant T scim-token create` makes one.
async fn token_for(s: &Server, id: &str) -> String {
    let store = Store::open(&s.url);
    store.put_tenant(&tenant(id), id, store::now()).await.unwrap();
    let secret = idsync::scim::tokens::new_secret();
    let digest = idsync::scim::tokens::digest(&secret);
    store
        .for_tenant(tenant(id))
        .replace_scim_token(&digest, store::now())
        .await
        .unwrap();
    secret
}

async fn scim_tokens_keep_tenants_apart(s: Server) {
    let (a, b) = (s.token.clone(), token_for(&s, "acme").await);
    let pat = json!({ "userName": "pat@contoso.example", "externalId": "p1" });
    let (st, ua) = call_as(&s, &a, Method::POST, "/Users", Some(&pat)).await;
    assert_eq!(st, StatusCode::CREATED, "{ua}");
    let (st, ub) = call_as(&s, &b, Method::POST, "/Users", Some(&pat)).await;
    assert_eq!(
        st,
        StatusCode::CREATED,
        "the same userName in another tenant is another person: {ub}"
    );
    let (id_a, id_b) = (
        ua["id"].as_str().unwrap().to_owned(),
        ub["id"].as_str().unwrap().to_owned(),
    );
    assert_ne!(id_a, id_b);
    let group = json!({ "displayName": "Staff", "members": [{ "value": id_a }] });
    let (st, ga) = call_as(&s, &a, Method::POST, "/Groups", Some(&group)).await;
    assert_eq!(st, StatusCode::CREATED, "{ga}");
    let ga = ga["id"].as_str().unwrap().to_owned();

    // B cannot read, change or delete A's user or group: 404, as for an id that does not exist.
    let patch = json!({ "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    let put = json!({ "userName": "mallory@contoso.example" });
    for (method, path, body) in [
        (Method::GET, format!("/Users/{id_a}"), None),
        (Method::PATCH, format!("/Users/{id_a}"), Some(&patch)),
        (Method::PUT, format!("/Users/{id_a}"), Some(&put)),
        (Method::DELETE, format!("/Users/{id_a}"), None),
        (Method::GET, format!("/Groups/{ga}"), None),
        (
            Method::PATCH,
            format!("/Groups/{ga}"),
            Some(
                &json!({ "Operations": [{ "op": "add", "path": "members", "value": [{ "value": id_b }] }] }),
            ),
        ),
        (Method::DELETE, format!("/Groups/{ga}"), None),
    ] {
        let (st, e) = call_as(&s, &b, method.clone(), &path, body).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {e}");
    }
    // Filters see B's own only.
    let (_, list) = call_as(
        &s,
        &b,
        Method::GET,
        &format!("/Users?{}", filter("userName eq \"pat@contoso.example\"")),
        None,
    )
    .await;
    assert_eq!(
        (list["totalResults"].clone(), list["Resources"][0]["id"].clone()),
        (json!(1), json!(id_b))
    );
    let (_, list) = call_as(
        &s,
        &b,
        Method::GET,
        &format!("/Users?{}", filter(&format!("id eq \"{id_a}\""))),
        None,
    )
    .await;
    assert_eq!(list["totalResults"], 0);
    let (_, list) = call_as(&s, &b, Method::GET, "/Groups", None).await;
    assert_eq!(list["totalResults"], 0, "{list}");
    let (_, list) = call_as(
        &s,
        &a,
        Method::GET,
        &format!("/Groups?{}", filter(&format!("members.value eq \"{id_a}\""))),
        None,
    )
    .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    let (_, list) = call_as(
        &s,
        &b,
        Method::GET,
        &format!("/Groups?{}", filter(&format!("members.value eq \"{id_a}\""))),
        None,
    )
    .await;
    assert_eq!(list["totalResults"], 0, "{list}");
    // A group of B cannot take A's user as a member.
    let (st, gb) = call_as(&s, &b, Method::POST, "/Groups", Some(&group)).await;
    assert_ne!(st, StatusCode::CREATED, "{gb}");

    // A's user and group are as they were.
    let (st, u) = call_as(&s, &a, Method::GET, &format!("/Users/{id_a}"), None).await;
    assert_eq!(
        (st, u["active"].clone(), u["userName"].clone()),
        (StatusCode::OK, json!(true), json!("pat@contoso.example"))
    );
    let (st, g) = call_as(&s, &a, Method::GET, &format!("/Groups/{ga}"), None).await;
    assert_eq!(
        (st, g["members"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1)),
        "{g}"
    );
    let mut t = Tables::connect(&s.url);
    assert_eq!(
        t.count("SELECT COUNT(*) AS n FROM users WHERE tenant_id = 'acme'"),
        1
    );
    assert_eq!(
        t.count("SELECT COUNT(*) AS n FROM users WHERE tenant_id = 'default'"),
        1
    );
    assert_eq!(crossings_of(&mut t), 0);

    // A new token for B voids B's old one only.
    let b2 = {
        let secret = idsync::scim::tokens::new_secret();
        let store = Store::open(&s.url).for_tenant(tenant("acme"));
        store
            .replace_scim_token(&idsync::scim::tokens::digest(&secret), store::now())
            .await
            .unwrap();
        secret
    };
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // the token cache's second
    assert_eq!(
        call_as(&s, &b, Method::GET, "/Users", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (st, list) = call_as(&s, &b2, Method::GET, "/Users", None).await;
    assert_eq!((st, list["totalResults"].clone()), (StatusCode::OK, json!(1)));
    assert_eq!(
        call_as(&s, &a, Method::GET, "/Users", None).await.0,
        StatusCode::OK
    );
}

fn crossings_of(t: &mut Tables) -> i64 {
    t.count(
        "SELECT COUNT(*) AS n FROM group_members m JOIN groups g ON g.id = m.group_id \
         JOIN users u ON u.id = m.user_id WHERE g.tenant_id <> u.tenant_id",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_token_sees_its_own_tenant_only_on_sqlite() {
    scim_tokens_keep_tenants_apart(Server::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_token_sees_its_own_tenant_only_on_postgres() {
    let pg = support::postgres::TestDatabase::create();
    let url = DatabaseUrl::parse(&pg.url).unwrap();
    scim_tokens_keep_tenants_apart(
        Server::start(url, None, scim_config(idsync::config::ScimDelete::Archive)).await,
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// The command line: `--tenant` and `tenant list`.

use support::{export_user, idsync, text, write_export};

/// The default tenant's `hr` reads one export, `acme`'s `hr` another (same ids, same UPN).
fn cli_setup(dir: &Path, url: &str) -> std::path::PathBuf {
    let (own, acme) = (dir.join("own.json"), dir.join("acme.json"));
    write_export(
        &own,
        &[
            export_user("e1", "pat@x.example", None, true),
            export_user("e2", "kim@x.example", None, true),
        ],
        &[],
    );
    write_export(&acme, &[export_user("e1", "pat@x.example", None, true)], &[]);
    let path = dir.join("idsync.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = {url:?}\n\n[[tenants]]\nid = \"acme\"\ndisplay_name = \"Acme Corp\"\n\n\
             [[connectors]]\nname = \"hr\"\nkind = \"file\"\npath = {:?}\n\n\
             [[connectors]]\nname = \"hr\"\nkind = \"file\"\ntenant = \"acme\"\npath = {:?}\n",
            own.display().to_string(),
            acme.display().to_string()
        ),
    )
    .unwrap();
    path
}

fn run_ok(config: &Path, args: &[&str]) -> String {
    let out = idsync(config, args);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "idsync {args:?}: {all}");
    text(&out.stdout)
}

fn cli_tenants(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = cli_setup(dir.path(), url);
    let mut t = Tables::open(url);
    let count = |t: &mut Tables, sql: &str| t.count(sql);

    run_ok(&config, &["resync"]);
    assert_eq!(
        count(
            &mut t,
            "SELECT COUNT(*) AS n FROM users WHERE tenant_id = 'default'"
        ),
        2
    );
    assert_eq!(
        count(&mut t, "SELECT COUNT(*) AS n FROM users WHERE tenant_id = 'acme'"),
        0,
        "resync is per tenant"
    );
    run_ok(&config, &["--tenant", "acme", "resync", "--connector", "hr"]);
    assert_eq!(
        count(&mut t, "SELECT COUNT(*) AS n FROM users WHERE tenant_id = 'acme'"),
        1
    );

    let own_status = run_ok(&config, &["status"]);
    let acme_status = run_ok(&config, &["--tenant", "acme", "status"]);
    assert!(
        own_status.contains("run #1 ") && !own_status.contains("run #2 "),
        "{own_status}"
    );
    assert!(
        acme_status.contains("run #2 ") && !acme_status.contains("run #1 "),
        "{acme_status}"
    );
    assert!(acme_status.contains("1 created"), "{acme_status}");

    let own_events = run_ok(&config, &["events"]);
    let acme_events = run_ok(&config, &["--tenant", "acme", "events"]);
    assert!(own_events.contains("kim@x.example"), "{own_events}");
    assert!(
        acme_events.contains("pat@x.example") && !acme_events.contains("kim@x.example"),
        "{acme_events}"
    );
    assert!(
        acme_events.lines().all(|l| l.contains(" run 2 ")),
        "{acme_events}"
    );

    run_ok(&config, &["--tenant", "acme", "approve", "--connector", "hr"]);
    let approved = |t: &mut Tables, tenant: &str| {
        count(
            t,
            &format!("SELECT COUNT(*) AS n FROM sync_state WHERE tenant_id = '{tenant}' AND guard_approved"),
        )
    };
    assert_eq!((approved(&mut t, "acme"), approved(&mut t, "default")), (1, 0));

    let token = run_ok(&config, &["--tenant", "acme", "scim-token", "create"]);
    assert!(token.trim().starts_with("idsync_scim_"), "{token}");
    let tokens = |t: &mut Tables, tenant: &str| {
        count(
            t,
            &format!("SELECT COUNT(*) AS n FROM scim_tokens WHERE tenant_id = '{tenant}'"),
        )
    };
    assert_eq!((tokens(&mut t, "acme"), tokens(&mut t, "default")), (1, 0));
    run_ok(&config, &["scim-token", "create"]);
    assert_eq!(
        (tokens(&mut t, "acme"), tokens(&mut t, "default")),
        (1, 1),
        "one token per tenant"
    );
    run_ok(&config, &["--tenant", "acme", "scim-token", "revoke"]);
    assert_eq!((tokens(&mut t, "acme"), tokens(&mut t, "default")), (0, 1));

    let list = run_ok(&config, &["tenant", "list"]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["acme", "Acme", "Corp", "hr", "1"],
            vec!["default", "default", "hr", "2"]
        ],
        "{list}"
    );

    let out = idsync(&config, &["--tenant", "nobody", "status"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("there is no tenant nobody"),
        "{}",
        text(&out.stderr)
    );
    let out = idsync(&config, &["--tenant", "Acme", "status"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("only a-z, 0-9 and '-'"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_cli_works_on_one_tenant_at_a_time_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    cli_tenants(&format!("sqlite://{}", dir.path().join("c.db").display()));
}

#[test]
fn the_cli_works_on_one_tenant_at_a_time_on_postgres() {
    let pg = support::postgres::TestDatabase::create();
    cli_tenants(&pg.url);
}
