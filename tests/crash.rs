//! Killing idsync (SIGKILL) in the middle of an apply leaves the database as it was before
//! the run, and the next run completes it; killing `idsync run` while clients write through
//! SCIM loses no acknowledged write and leaves nothing half-applied. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::json;
use support::postgres::TestDatabase;
use support::{export_user, file_config, write_export};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = diesel::sql_types::Text)]
    s: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A connection to either backend, to look at what the killed process left behind.
enum Watcher {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

macro_rules! on {
    ($w:expr, $c:ident => $body:expr) => {
        match $w {
            Watcher::Sqlite($c) => $body,
            Watcher::Pg($c) => $body,
        }
    };
}

impl Watcher {
    fn open(url: &str) -> Watcher {
        match url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut c = SqliteConnection::establish(path).unwrap();
                c.batch_execute("PRAGMA busy_timeout = 0").unwrap();
                Watcher::Sqlite(c)
            }
            None => Watcher::Pg(PgConnection::establish(url).unwrap()),
        }
    }

    fn count(&mut self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) AS n FROM {table}"))
    }

    fn scalar(&mut self, sql: &str) -> i64 {
        on!(self, c => diesel::sql_query(sql).get_result::<Count>(c).unwrap().n)
    }

    /// `(s, n)` rows of `sql`.
    fn named(&mut self, sql: &str) -> BTreeMap<String, i64> {
        let rows: Vec<Named> = on!(self, c => diesel::sql_query(sql).load(c).unwrap());
        rows.into_iter().map(|r| (r.s, r.n)).collect()
    }

    fn run_statuses(&mut self) -> Vec<String> {
        #[derive(QueryableByName)]
        struct Status {
            #[diesel(sql_type = diesel::sql_types::Text)]
            status: String,
        }
        let query = diesel::sql_query("SELECT status FROM runs ORDER BY id");
        let rows: Vec<Status> = on!(self, c => query.clone().load(c).unwrap_or_default());
        rows.into_iter().map(|s| s.status).collect()
    }

    /// True while another connection has a write transaction open.
    fn write_in_progress(&mut self) -> bool {
        match self {
            Watcher::Sqlite(c) => match c.batch_execute("BEGIN IMMEDIATE") {
                Ok(()) => {
                    c.batch_execute("ROLLBACK").unwrap();
                    false
                }
                Err(_) => true,
            },
            Watcher::Pg(c) => {
                let sql = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                           AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL";
                diesel::sql_query(sql).get_result::<Count>(c).unwrap().n > 0
            }
        }
    }
}

/// A fresh database: its URL, and what keeps it alive.
fn sqlite_database(dir: &Path, attempt: usize) -> (String, Option<TestDatabase>) {
    (
        format!("sqlite://{}", dir.join(format!("app{attempt}.db")).display()),
        None,
    )
}

fn postgres_database() -> (String, Option<TestDatabase>) {
    let db = TestDatabase::create();
    (db.url.clone(), Some(db))
}

fn directory(users: usize, path: &Path) {
    let list: Vec<_> = (0..users)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    let groups: Vec<_> = (0..users / 100)
        .map(|g| {
            let members: Vec<_> = (0..50)
                .map(|k| format!("e{}", (g * 37 + k * 101) % users))
                .collect();
            json!({"id": format!("g{g}"), "display_name": format!("Group {g}"), "members": members})
        })
        .collect();
    write_export(path, &list, &groups);
}

fn idsync(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idsync"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[test]
fn sigkill_during_apply_on_sqlite_leaves_the_old_state_and_the_next_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    sigkill_during_apply(dir.path(), &|attempt| sqlite_database(&path, attempt));
}

#[test]
fn sigkill_during_apply_on_postgres_leaves_the_old_state_and_the_next_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    sigkill_during_apply(dir.path(), &|_| postgres_database());
}

fn sigkill_during_apply(dir: &Path, database: &dyn Fn(usize) -> (String, Option<TestDatabase>)) {
    let export = dir.join("export.json");
    // Large enough that the apply transaction lasts a while; grown if a run outpaces us.
    let mut users = 20_000;
    let mut killed = None;
    for attempt in 0..3 {
        let (url, guard) = database(attempt);
        // A short lease, so the killed process's lease expires within the test.
        let config = file_config(dir, &url, &export, "\n[daemon]\nlease_secs = 3\n");
        assert!(idsync(&config, &["migrate"]).status().unwrap().success());
        directory(users, &export);
        let mut watcher = Watcher::open(&url);
        let runs_before = watcher.run_statuses().len();
        let mut child = idsync(&config, &["resync"]).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break;
            }
            let started = watcher.run_statuses().len() > runs_before;
            if started && watcher.write_in_progress() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed = Some((url, config, guard));
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if killed.is_some() {
            break;
        }
        // The run finished first: start over on a fresh database with more to apply.
        let _ = child.wait();
        users *= 2;
    }
    let Some((url, config, _guard)) = killed else {
        panic!("never caught a run in the middle of its apply");
    };

    // The database is as it was before the run: nothing of the apply is visible.
    let mut c = Watcher::open(&url);
    if let Watcher::Sqlite(c) = &mut c {
        #[derive(QueryableByName)]
        struct Check {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(c).unwrap();
        let integrity: Vec<String> = rows.into_iter().map(|r| r.integrity_check).collect();
        assert_eq!(integrity, vec!["ok"]);
    }
    for table in [
        "users",
        "user_links",
        "groups",
        "group_members",
        "events",
        "sync_state",
    ] {
        assert_eq!(c.count(table), 0, "{table} after a killed first run");
    }
    assert_eq!(c.run_statuses(), vec!["running"]);

    // The killed process still holds the lease: a run now is refused, and says until when.
    let refused = idsync(&config, &["resync"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stdout).into_owned();
    assert!(said.contains("holds this connector's lease until"), "{said}");

    // Once it expires, the next run applies everything and marks the killed run interrupted.
    std::thread::sleep(Duration::from_secs(4));
    assert!(idsync(&config, &["resync"]).status().unwrap().success());
    assert_eq!(c.count("users") as usize, users);
    assert_eq!(c.count("user_links") as usize, users);
    assert_eq!(c.run_statuses(), vec!["interrupted", "succeeded"]);
}

/// What the clients were told was written.
#[derive(Default)]
struct Acknowledged {
    users: BTreeSet<String>,
    /// Group name, and how many members it was created with.
    groups: BTreeMap<String, i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_concurrent_scim_writes_on_sqlite_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _guard) = sqlite_database(dir.path(), 0);
    sigkill_under_scim_writes(dir.path(), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_concurrent_scim_writes_on_postgres_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _guard) = postgres_database();
    sigkill_under_scim_writes(dir.path(), &url).await;
}

/// Starts `idsync run` serving SCIM on `port` and waits for its health answer.
async fn start_daemon(config: &Path, base: &str) -> support::Daemon {
    let daemon = support::Daemon(idsync(config, &["run"]).spawn().unwrap());
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            assert_eq!(r.status(), reqwest::StatusCode::OK);
            return daemon;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("idsync run did not serve {base}/health");
}

/// POSTs `resource` to `url`; the response if the server accepted it, `None` if it refused or
/// went away.
async fn create(
    client: &reqwest::Client,
    url: String,
    token: &str,
    resource: &serde_json::Value,
) -> Option<reqwest::Response> {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(resource)
        .send()
        .await
        .ok()?;
    r.status().is_success().then_some(r)
}

/// One client: users, and every third user a group of the last three, until told to stop or
/// the server goes away.
async fn writer(
    base: String,
    token: String,
    k: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let name = format!("w{k}-u{i}@example.com");
        let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                          "userName": name, "externalId": format!("x{k}-{i}"), "active": true});
        let Some(r) = create(&client, format!("{base}/Users"), &token, &user).await else {
            return;
        };
        let Ok(body) = r.json::<serde_json::Value>().await else {
            return;
        };
        acked.lock().unwrap().users.insert(name);
        ids.push(body["id"].as_str().unwrap().to_owned());
        if ids.len() == 3 {
            let group_name = format!("w{k}-g{i}");
            let members: Vec<_> = ids.drain(..).map(|id| json!({"value": id})).collect();
            let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                               "displayName": group_name, "members": members});
            if create(&client, format!("{base}/Groups"), &token, &group)
                .await
                .is_none()
            {
                return;
            }
            acked.lock().unwrap().groups.insert(group_name, 3);
        }
    }
}

async fn sigkill_under_scim_writes(dir: &Path, url: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("idsync.toml");
    let text = format!("[database]\nurl = {url:?}\n\n[scim]\nlisten = \"127.0.0.1:{port}\"\n");
    std::fs::write(&config, text).unwrap();
    assert!(idsync(&config, &["migrate"]).status().unwrap().success());
    let created = idsync(&config, &["scim-token", "create"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(created.status.success());
    let token = String::from_utf8_lossy(&created.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let base = format!("http://127.0.0.1:{port}/scim/v2");

    let mut daemon = start_daemon(&config, &base).await;
    let (stop, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Acknowledged::default())),
    );
    let writers: Vec<_> = (0..4)
        .map(|k| {
            tokio::spawn(writer(
                base.clone(),
                token.clone(),
                k,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    // Kill once writes are flowing, with requests in flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().groups.len() < 8 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.0.kill().unwrap(); // SIGKILL
    daemon.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.groups.len() >= 8,
        "too few writes before the kill: {}",
        acked.groups.len()
    );

    // A restart comes up on what the killed process left.
    let _restarted = start_daemon(&config, &base).await;
    let mut c = Watcher::open(url);
    let users = c.named("SELECT upn AS s, CAST(0 AS BIGINT) AS n FROM users");
    let missing: Vec<_> = acked.users.iter().filter(|u| !users.contains_key(*u)).collect();
    assert!(missing.is_empty(), "acknowledged users lost: {missing:?}");
    let groups = c.named(
        "SELECT g.display_name AS s, count(m.user_id) AS n FROM groups g \
         LEFT JOIN group_members m ON m.group_id = g.id GROUP BY g.display_name",
    );
    for (name, members) in &acked.groups {
        assert_eq!(groups.get(name), Some(members), "acknowledged group {name}");
    }
    // Nothing half-applied: every user has its link, every membership its user and group.
    let unlinked = "SELECT count(*) AS n FROM users u WHERE NOT EXISTS \
                    (SELECT 1 FROM user_links l WHERE l.user_id = u.id)";
    assert_eq!(c.scalar(unlinked), 0, "users without their link");
    let orphans = "SELECT count(*) AS n FROM group_members m WHERE \
                   NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id) \
                   OR NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = m.group_id)";
    assert_eq!(c.scalar(orphans), 0, "memberships without their user or group");
    // Whatever a client was not told about is whole too: each SCIM group has its three members.
    assert!(groups.values().all(|n| *n == 3), "{groups:?}");
}
