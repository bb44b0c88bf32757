//! The daemon's supervision through the binary: alert mail to a real SMTP listener, quarantine,
//! `/healthz` and `/metrics`, SIGTERM during a run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::smtp::SmtpSink;
use support::Daemon;
use support::{export_user, file_config, free_port, idsync, scim_only_config, text, write_export};

fn alerts_section(sink: &SmtpSink, extra: &str) -> String {
    format!(
        "quarantine_after_failures_placeholder = 0\n{extra}\n[alerts]\nsmtp_url = {:?}\nfrom = \"idsync <idsync@example.com>\"\nto = [\"ops@example.com\", \"oncall@example.com\"]\n",
        sink.url()
    )
    .replace("quarantine_after_failures_placeholder = 0\n", "")
}

#[test]
fn failure_quarantine_and_recovery_mails_arrive_once_each() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    let users: Vec<_> = (1..=10)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    write_export(&export, &users, &[]);
    let db = dir.path().join("app.db");
    let config = file_config(
        dir.path(),
        &format!("sqlite://{}", db.display()),
        &export,
        &alerts_section(&sink, ""),
    );

    // A test mail.
    let out = idsync(&config, &["alerts", "test"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mails = sink.wait_for(1);
    assert_eq!(mails[0].subject(), "[idsync] test alert");
    assert_eq!(mails[0].to, vec!["ops@example.com", "oncall@example.com"]);

    assert!(idsync(&config, &["resync"]).status.success());
    assert_eq!(sink.messages().len(), 1, "a good run sends nothing");

    // The export breaks: one mail for the failure, none for the same failure again.
    std::fs::write(&export, "{\"users\": [}").unwrap();
    assert_eq!(idsync(&config, &["resync"]).status.code(), Some(1));
    let mails = sink.wait_for(2);
    assert_eq!(mails[1].subject(), "[idsync] hr: run failed");
    assert!(
        mails[1].data.contains("export.json line 1 column 12"),
        "{}",
        mails[1].data
    );
    assert!(mails[1].data.contains("Applied: nothing"), "{}", mails[1].data);
    assert_eq!(idsync(&config, &["resync"]).status.code(), Some(1));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.messages().len(), 2, "no second mail for the same condition");

    // The third failure in a row quarantines the connector.
    assert_eq!(idsync(&config, &["resync"]).status.code(), Some(1));
    let mails = sink.wait_for(3);
    assert_eq!(mails[2].subject(), "[idsync] hr: connector quarantined");
    assert!(
        mails[2].data.contains("3 consecutive failed runs"),
        "{}",
        mails[2].data
    );
    let status = text(&idsync(&config, &["status"]).stdout);
    assert!(status.contains("QUARANTINED until"), "{status}");

    // Fixed: a good run ends the quarantine, and each condition sends its recovery.
    write_export(&export, &users, &[]);
    assert!(idsync(&config, &["resync"]).status.success());
    let mails = sink.wait_for(5);
    let mut subjects: Vec<String> = mails[3..].iter().map(|m| m.subject()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "[idsync] hr: recovered: quarantine ended",
            "[idsync] hr: recovered: runs succeed again"
        ]
    );
    assert!(idsync(&config, &["resync"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.messages().len(), 5);
    assert!(!text(&idsync(&config, &["status"]).stdout).contains("QUARANTINED"));

    // A held run mails once, with what to do.
    write_export(&export, &users[..2], &[]);
    assert_eq!(idsync(&config, &["resync"]).status.code(), Some(3));
    let mails = sink.wait_for(6);
    assert_eq!(mails[5].subject(), "[idsync] hr: run held by the deletion guard");
    assert!(
        mails[5].data.contains("idsync approve --connector hr"),
        "{}",
        mails[5].data
    );
}

#[test]
fn an_unreachable_smtp_server_never_breaks_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    std::fs::write(&export, "not json").unwrap();
    let port = free_port();
    let extra = format!("\n[alerts]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"idsync@example.com\"\nto = [\"ops@example.com\"]\n");
    let config = file_config(
        dir.path(),
        &format!("sqlite://{}", dir.path().join("app.db").display()),
        &export,
        &extra,
    );
    let out = idsync(&config, &["resync"]);
    assert_eq!(out.status.code(), Some(1), "the run fails for its own reason");
    assert!(
        text(&out.stdout).contains("hr: FAILED: invalid data"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("alert mail not delivered"),
        "{}",
        text(&out.stderr)
    );
    // Fixed: the owed failure mail is not sent (nothing to deliver to), and the run succeeds.
    write_export(&export, &[export_user("e1", "u1@example.com", None, true)], &[]);
    assert!(idsync(&config, &["resync"]).status.success());
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn failing_writes_turn_healthz_503_until_a_write_succeeds_again() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    write_export(&export, &[export_user("e1", "u1@example.com", None, true)], &[]);
    let port = free_port();
    let extra =
        format!("interval = \"1s\"\n\n[daemon]\njitter_secs = 0\n\n[ops]\nlisten = \"127.0.0.1:{port}\"\n");
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let config = file_config(dir.path(), &url, &export, &extra);
    let _daemon = spawn_daemon(&config);
    wait_until("200 from /healthz", || {
        get(port, "/healthz").is_some_and(|(s, _)| s == 200)
    });

    // A full disk, as SQLite reports it: every write to the runs and the health fails.
    let mut tables = support::tables::Tables::open(&url);
    for (name, event, table) in [
        ("full_runs", "INSERT", "runs"),
        ("full_state_insert", "INSERT", "sync_state"),
        ("full_state_update", "UPDATE", "sync_state"),
    ] {
        tables.execute(&format!(
            "CREATE TRIGGER {name} BEFORE {event} ON {table} \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        ));
    }
    wait_until("503 from /healthz", || {
        get(port, "/healthz").is_some_and(|(s, _)| s == 503)
    });
    let (_, body) = get(port, "/healthz").unwrap();
    assert!(
        body.contains("\"writes\":\"recording the run's health: ") && body.contains("disk is full"),
        "{body}"
    );

    for name in ["full_runs", "full_state_insert", "full_state_update"] {
        tables.execute(&format!("DROP TRIGGER {name}"));
    }
    wait_until("200 from /healthz again", || {
        get(port, "/healthz").is_some_and(|(s, _)| s == 200)
    });
}

#[test]
fn healthz_and_metrics_follow_the_connector_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    let users: Vec<_> = (1..=5)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    write_export(&export, &users, &[]);
    let port = free_port();
    let extra = format!("interval = \"1s\"\n\n[daemon]\nquarantine_after_failures = 2\njitter_secs = 0\n\n[ops]\nlisten = \"127.0.0.1:{port}\"\n");
    let config = file_config(
        dir.path(),
        &format!("sqlite://{}", dir.path().join("app.db").display()),
        &export,
        &extra,
    );
    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_idsync"))
            .arg("--config")
            .arg(&config)
            .args(["--log-format", "json", "run"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );

    wait_until("a successful run in /metrics", || {
        get(port, "/metrics").is_some_and(|(_, body)| {
            body.contains("idsync_runs_total{connector=\"hr\",outcome=\"succeeded\"}")
        })
    });
    let (status, body) = get(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (_, metrics) = get(port, "/metrics").unwrap();
    for name in [
        "idsync_run_duration_seconds",
        "idsync_objects_fetched_total{connector=\"hr\",kind=\"users\"}",
        "idsync_changes_applied_total{connector=\"hr\",kind=\"created\"} 5",
        "idsync_last_success_timestamp_seconds{connector=\"hr\"}",
        "idsync_connector_quarantined{connector=\"hr\"} 0",
        "idsync_conflicts_open{connector=\"hr\"} 0",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }

    // Two failures in a row: quarantined, and /healthz says so.
    std::fs::write(&export, "{").unwrap();
    wait_until("503 from /healthz", || {
        get(port, "/healthz").is_some_and(|(s, _)| s == 503)
    });
    let (_, body) = get(port, "/healthz").unwrap();
    assert!(
        body.contains("\"connector\":\"hr\"") && body.contains("\"consecutive_failures\":2"),
        "{body}"
    );
    assert!(get(port, "/metrics")
        .unwrap()
        .1
        .contains("idsync_runs_total{connector=\"hr\",outcome=\"failed\"}"));

    // SIGTERM: a clean exit.
    let pid = daemon.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = daemon.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut logs = String::new();
    std::io::Read::read_to_string(daemon.stderr.as_mut().unwrap(), &mut logs).unwrap();
    assert!(
        logs.lines().all(|l| l.starts_with('{')),
        "JSON logs only:\n{logs}"
    );
    assert!(logs.contains("\"connector\":\"hr\""), "{logs}");
    assert!(logs.contains("shutting down"), "{logs}");
}

fn users_export(path: &Path, n: usize) {
    let users: Vec<_> = (0..n)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    write_export(path, &users, &[]);
}

fn spawn_daemon(config: &Path) -> Daemon {
    Daemon(
        Command::new(env!("CARGO_BIN_EXE_idsync"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn two_daemons_on_one_postgres_never_run_a_connector_twice_and_survive_a_kill() {
    use diesel::prelude::*;
    use idsync::store::schema::{leases, runs};

    let pg = support::postgres::TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    users_export(&export, 3000);
    let extra = "interval = \"1s\"\n\n[daemon]\nlease_secs = 3\njitter_secs = 0\n";
    let config = file_config(dir.path(), &pg.url, &export, extra);
    let mut db = diesel::PgConnection::establish(&pg.url).unwrap();
    let mut a = spawn_daemon(&config);
    let mut b = spawn_daemon(&config);

    type Run = (String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>);
    let load_runs = |db: &mut diesel::PgConnection| -> Vec<Run> {
        runs::table
            .order(runs::id)
            .select((runs::status, runs::started_at, runs::finished_at))
            .load(db)
            .unwrap_or_default()
    };
    wait_until("six runs", || {
        load_runs(&mut db).iter().filter(|r| r.0 == "succeeded").count() >= 6
    });

    // Kill whichever daemon holds the lease while it holds it (mid-run).
    let mut victim = None;
    wait_until("a held lease", || {
        let holder: Option<String> = leases::table
            .select(leases::holder)
            .first(&mut db)
            .optional()
            .unwrap();
        if let Some(pid) = holder.and_then(|h| h.split(':').nth(1).map(str::to_owned)) {
            let child = if pid == a.id().to_string() { &mut a } else { &mut b };
            if child.kill().is_ok() {
                victim = Some(pid);
                return true;
            }
        }
        false
    });
    let killed_at = idsync::store::now();
    let survivors_before = load_runs(&mut db).len();

    // The survivor takes over once the dead holder's lease expires.
    wait_until("runs after the kill", || {
        load_runs(&mut db)
            .iter()
            .skip(survivors_before)
            .filter(|r| r.0 == "succeeded")
            .count()
            >= 2
    });
    let all = load_runs(&mut db);
    let after: Vec<&Run> = all.iter().filter(|r| r.1 > killed_at).collect();
    assert!(!after.is_empty());

    // No two runs overlapped, before or after the kill; the killed run, if it was mid-apply,
    // is marked interrupted, never left running.
    let mut spans: Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)> =
        all.iter().filter_map(|r| r.2.map(|end| (r.1, end))).collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "runs overlap: {pair:?}");
    }
    assert!(
        all.iter().all(|r| r.0 != "running" || r.1 >= killed_at),
        "{all:?}"
    );
    let users: i64 = idsync::store::schema::users::table
        .count()
        .get_result(&mut db)
        .unwrap();
    assert_eq!(users, 3000);

    for child in [&mut a, &mut b] {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    assert!(victim.is_some());
}

#[test]
fn sigterm_during_an_apply_lets_it_finish_and_exits_0() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    users_export(&export, 20_000);
    let db_path = dir.path().join("app.db");
    let config = file_config(
        dir.path(),
        &format!("sqlite://{}", db_path.display()),
        &export,
        "\n[daemon]\njitter_secs = 0\n",
    );
    assert!(idsync(&config, &["migrate"]).status.success());
    let mut watcher = diesel::SqliteConnection::establish(&db_path.to_string_lossy()).unwrap();
    watcher.batch_execute("PRAGMA busy_timeout = 0").unwrap();
    let mut daemon = spawn_daemon(&config);
    let mut signalled = false;
    wait_until("the apply transaction", || {
        let started = idsync::store::schema::runs::table
            .count()
            .get_result::<i64>(&mut watcher)
            .unwrap_or(0)
            > 0;
        let writing = watcher
            .batch_execute("BEGIN IMMEDIATE")
            .map(|_| watcher.batch_execute("ROLLBACK"))
            .is_err();
        if started && writing {
            let _ = Command::new("kill")
                .args(["-TERM", &daemon.id().to_string()])
                .status();
            signalled = true;
        }
        signalled || daemon.try_wait().unwrap().is_some()
    });
    assert!(signalled, "the run finished before it could be interrupted");
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    let users: i64 = idsync::store::schema::users::table
        .count()
        .get_result(&mut watcher)
        .unwrap();
    let statuses: Vec<String> = idsync::store::schema::runs::table
        .select(idsync::store::schema::runs::status)
        .load(&mut watcher)
        .unwrap();
    assert_eq!((users, statuses), (20_000, vec!["succeeded".to_owned()]));
}

#[test]
fn without_an_ops_address_healthz_and_metrics_share_the_scim_listener() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = scim_only_config(dir.path(), &dir.path().join("app.db"), port);
    let mut daemon = spawn_daemon(&config);
    wait_until("the SCIM listener", || {
        get(port, "/scim/v2/health").is_some_and(|(s, _)| s == 200)
    });
    let (status, body) = get(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert_eq!(get(port, "/metrics").unwrap().0, 200);
    assert_eq!(
        get(port, "/scim/v2/Users").unwrap().0,
        401,
        "SCIM still wants its token"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
}
