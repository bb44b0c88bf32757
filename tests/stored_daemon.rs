//! A running `idsync run` picks up connectors stored in the database without a restart: one
//! put runs within a few seconds, a change is used by the next run, a removal stops it. A
//! stored Entra connector's inline client secret is in no table and in no log line, at trace.
//! On a SQLite file and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use idsync::config::Config;
use idsync::registry::{ConnectorRegistry, Put};
use idsync::store::Store;
use idsync::tenant::TenantId;
use idsync_fakes::graph::support::seeded;
use idsync_fakes::graph::{FakeGraph, CLIENT_ID, CLIENT_SECRET, TENANT};
use serde_json::{json, Value};
use support::tables::Tables;
use support::{export_user, write_export, Daemon};

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn export(path: &Path, prefix: &str, n: usize) {
    let users: Vec<Value> = (0..n)
        .map(|i| {
            export_user(
                &format!("{prefix}{i}"),
                &format!("{prefix}{i}@example.com"),
                None,
                true,
            )
        })
        .collect();
    write_export(path, &users, &[]);
}

/// The active users a connector of the default tenant owns, by UPN.
fn users_of(tables: &mut Tables, source: &str) -> Vec<String> {
    users_in(tables, "default", source)
}

fn users_in(tables: &mut Tables, tenant: &str, source: &str) -> Vec<String> {
    tables.lines(&format!(
        "SELECT upn AS line FROM users WHERE tenant_id = '{tenant}' AND source = '{source}' \
         AND archived_at IS NULL ORDER BY upn"
    ))
}

fn runs_of(tables: &mut Tables, connector: &str) -> i64 {
    tables.count(&format!(
        "SELECT count(*) AS n FROM runs WHERE tenant_id = 'default' AND connector = '{connector}'"
    ))
}

fn entra_settings(fake: &FakeGraph) -> Value {
    json!({"kind": "entra", "tenant_id": TENANT, "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "authority_url": fake.authority_url(),
        "graph_url": fake.graph_url(), "interval": "1h"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_starts_changes_and_stops_stored_connectors_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("idsync.db").display());
    scenario(dir, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_starts_changes_and_stops_stored_connectors_on_postgres() {
    let db = support::postgres::TestDatabase::create();
    scenario(tempfile::tempdir().unwrap(), db.url.clone()).await;
}

async fn scenario(dir: tempfile::TempDir, url: String) {
    let fake = seeded().await;
    export(&dir.path().join("hr.json"), "hr", 1);
    export(&dir.path().join("first.json"), "first", 2);
    export(&dir.path().join("second.json"), "second", 3);
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let config = dir.path().join("idsync.toml");
    let text = format!(
        "[database]\nurl = {url:?}\n\n[[connectors]]\nname = \"hr\"\nkind = \"file\"\n\
         path = \"hr.json\"\ninterval = \"1h\"\n\n[daemon]\npoll_secs = 1\njitter_secs = 0\n\n\
         [admin]\nsecrets_key = \"{key}\"\n"
    );
    std::fs::write(&config, text).unwrap();
    let migrated = support::idsync(&config, &["migrate"]);
    assert!(migrated.status.success(), "{}", support::text(&migrated.stderr));
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_idsync"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("RUST_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let tables = || Tables::open(&url);
    wait_until("the file's connector runs", || {
        users_of(&mut tables(), "hr").len() == 1
    });

    // The admin API's side of the store, in this process: the daemon hears of it by polling.
    let loaded = Config::load(&config).unwrap();
    let registry = ConnectorRegistry::new(Store::open(&loaded.database), Arc::new(loaded)).unwrap();
    let default = TenantId::default_tenant();
    let first = json!({"kind": "file", "path": "first.json", "interval": "1h"});
    assert_eq!(
        registry.put(&default, "stored", first).await.unwrap(),
        Put::Created
    );
    wait_until("the stored connector's first run", || {
        users_of(&mut tables(), "stored").len() == 2
    });

    // Changed: the next run (at once, not in an hour) reads the new file.
    let second = json!({"kind": "file", "path": "second.json", "interval": "1h"});
    assert_eq!(
        registry.put(&default, "stored", second).await.unwrap(),
        Put::Updated
    );
    wait_until("a run with the new settings", || {
        users_of(&mut tables(), "stored")
            .iter()
            .any(|u| u.starts_with("second"))
    });

    // Another tenant's connector of the same name runs as that tenant's, beside it.
    let ours = users_of(&mut tables(), "stored");
    let acme = TenantId::parse("acme").unwrap();
    let store = Store::open(&idsync::store::DatabaseUrl::parse(&url).unwrap());
    store
        .put_tenant(&acme, "Acme", idsync::store::now())
        .await
        .unwrap();
    let theirs = json!({"kind": "file", "path": "first.json", "interval": "1h"});
    assert_eq!(registry.put(&acme, "stored", theirs).await.unwrap(), Put::Created);
    wait_until("acme's connector's run", || {
        users_in(&mut tables(), "acme", "stored").len() == 2
    });
    assert_eq!(
        users_of(&mut tables(), "stored"),
        ours,
        "the default tenant's are its own"
    );

    // A stored Entra connector with an inline secret runs against the fake Graph.
    registry
        .put(&default, "entra", entra_settings(&fake))
        .await
        .unwrap();
    wait_until("the stored Entra connector's run", || {
        !users_of(&mut tables(), "entra").is_empty()
    });

    // Removed: no further runs (an interval of 1s would run it again and again).
    let frequent = json!({"kind": "file", "path": "second.json", "interval": "1s"});
    registry.put(&default, "stored", frequent).await.unwrap();
    let runs = runs_of(&mut tables(), "stored");
    wait_until("a few runs a second apart", || {
        runs_of(&mut tables(), "stored") >= runs + 2
    });
    assert!(registry.delete(&default, "stored").await.unwrap());
    std::thread::sleep(Duration::from_secs(2));
    let after_delete = runs_of(&mut tables(), "stored");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        runs_of(&mut tables(), "stored"),
        after_delete,
        "no runs after the removal"
    );
    assert_eq!(
        users_of(&mut tables(), "hr").len(),
        1,
        "the file's connector is untouched"
    );

    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("stored connector changed: restarting it"), "{logs}");
    assert!(logs.contains("stored connector removed: stopping it"), "{logs}");
    assert!(logs.contains("TRACE"), "trace logging is on:\n{logs}");
    let leaked: Vec<&str> = logs.lines().filter(|l| l.contains(CLIENT_SECRET)).collect();
    assert!(leaked.is_empty(), "the client secret in the log: {leaked:?}");
    let rows = tables().every_row();
    assert!(rows.iter().any(|r| r.starts_with("connectors: ")), "{rows:?}");
    assert!(
        !rows.iter().any(|r| r.contains(CLIENT_SECRET)),
        "the client secret in a table"
    );
}
