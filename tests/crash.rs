//! Killing idsync (SIGKILL) in the middle of an apply leaves the database as it was before
//! the run, and the next run completes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::json;
use support::{export_user, file_config, write_export};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(c: &mut SqliteConnection, table: &str) -> i64 {
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result::<Count>(c)
        .unwrap()
        .n
}

fn run_statuses(c: &mut SqliteConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Status {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
    }
    let rows: Vec<Status> = diesel::sql_query("SELECT status FROM runs ORDER BY id")
        .load(c)
        .unwrap_or_default();
    rows.into_iter().map(|s| s.status).collect()
}

/// True while another connection holds the write lock, i.e. a write transaction is open.
fn write_in_progress(c: &mut SqliteConnection) -> bool {
    match c.batch_execute("BEGIN IMMEDIATE") {
        Ok(()) => {
            c.batch_execute("ROLLBACK").unwrap();
            false
        }
        Err(_) => true,
    }
}

fn directory(users: usize, path: &Path) {
    let list: Vec<_> = (0..users)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    let groups: Vec<_> = (0..users / 100)
        .map(|g| json!({"id": format!("g{g}"), "display_name": format!("Group {g}"),
                        "members": (0..50).map(|k| format!("e{}", (g * 37 + k * 101) % users)).collect::<Vec<_>>()}))
        .collect();
    write_export(path, &list, &groups);
}

#[test]
fn sigkill_during_apply_leaves_the_old_state_and_the_next_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    let db_path = dir.path().join("app.db");
    // A short lease, so the killed process's lease expires within the test.
    let config = file_config(
        dir.path(),
        &format!("sqlite://{}", db_path.display()),
        &export,
        "\n[daemon]\nlease_secs = 3\n",
    );
    let idsync = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_idsync"));
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    assert!(idsync(&["migrate"]).status().unwrap().success());

    // Large enough that the apply transaction lasts a while; grown if a run outpaces us.
    let mut users = 20_000;
    let mut killed_mid_apply = false;
    for _attempt in 0..3 {
        directory(users, &export);
        let mut watcher = SqliteConnection::establish(&db_path.to_string_lossy()).unwrap();
        watcher.batch_execute("PRAGMA busy_timeout = 0").unwrap();
        let runs_before = run_statuses(&mut watcher).len();
        let mut child = idsync(&["resync"]).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break;
            }
            let started = run_statuses(&mut watcher).len() > runs_before;
            if started && write_in_progress(&mut watcher) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed_mid_apply = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if killed_mid_apply {
            break;
        }
        // The run finished first: start over on a fresh database with more to apply.
        let _ = child.wait();
        drop(watcher);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
        }
        assert!(idsync(&["migrate"]).status().unwrap().success());
        users *= 2;
    }
    assert!(killed_mid_apply, "never caught a run in the middle of its apply");

    // The database is as it was before the run: nothing of the apply is visible.
    let mut c = SqliteConnection::establish(&db_path.to_string_lossy()).unwrap();
    let integrity: Vec<String> = {
        #[derive(QueryableByName)]
        struct Check {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut c).unwrap();
        rows.into_iter().map(|r| r.integrity_check).collect()
    };
    assert_eq!(integrity, vec!["ok"]);
    for table in [
        "users",
        "user_links",
        "groups",
        "group_members",
        "events",
        "sync_state",
    ] {
        assert_eq!(count(&mut c, table), 0, "{table} after a killed first run");
    }
    assert_eq!(run_statuses(&mut c), vec!["running"]);

    // The killed process still holds the lease: a run now is refused, and says until when.
    let refused = idsync(&["resync"]).stdout(Stdio::piped()).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stdout).into_owned();
    assert!(said.contains("holds this connector's lease until"), "{said}");

    // Once it expires, the next run applies everything and marks the killed run interrupted.
    std::thread::sleep(Duration::from_secs(4));
    assert!(idsync(&["resync"]).status().unwrap().success());
    assert_eq!(count(&mut c, "users") as usize, users);
    assert_eq!(count(&mut c, "user_links") as usize, users);
    assert_eq!(run_statuses(&mut c), vec!["interrupted", "succeeded"]);
}
