//! The `idsync` binary as a person uses it: the demo, dry runs, the guard, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{export_user, file_config, text, write_export};

fn idsync(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idsync"))
        .args(args)
        .current_dir(dir)
        .env_remove("IDSYNC_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn demo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml")
}

fn sqlite(db: &Path, sql: &str) -> String {
    // Read through diesel's bundled SQLite rather than a sqlite3 binary the machine may lack.
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut c = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    let rows: Vec<Line> = diesel::sql_query(sql).load(&mut c).unwrap();
    rows.into_iter().map(|l| l.line).collect::<Vec<_>>().join("\n")
}

/// A `file` connector `hr` reading `export.json` into `app.db`, both in `dir`:
/// (export, db, config).
fn hr_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let export = dir.join("export.json");
    let db = dir.join("app.db");
    let config = file_config(dir, &format!("sqlite://{}", db.display()), &export, "");
    (export, db, config)
}

/// The command exited 1, and `said` (its stdout or its stderr) contains `needle`.
fn assert_failed(out: &Output, said: &[u8], needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(said));
    assert!(text(said).contains(needle), "{}", text(said));
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_idsync"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for command in ["run", "resync", "migrate", "status", "approve"] {
        assert!(help.contains(command), "{command} missing from\n{help}");
    }
}

#[test]
fn the_demo_syncs_into_sqlite_and_a_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config();
    let config = config.to_str().unwrap();
    let db = dir.path().join("idsync-demo.db");

    // A dry run against no database creates none.
    let out = idsync(dir.path(), &["--config", config, "resync", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("create user amara.okafor@contoso.example"),
        "{plan}"
    );
    assert!(
        plan.contains("create user viktor.novak@contoso.example (disabled)"),
        "{plan}"
    );
    assert!(
        plan.contains("add amara.okafor@contoso.example to All Staff"),
        "{plan}"
    );
    assert!(!db.exists(), "a dry run must not create the database");

    let out = idsync(dir.path(), &["--config", config, "resync"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains("demo: succeeded; fetched 35 users, 10 groups; 35 created"),
        "{summary}"
    );

    assert_eq!(
        sqlite(&db, "SELECT CAST(count(*) AS TEXT) AS line FROM users"),
        "35"
    );
    assert_eq!(
        sqlite(&db, "SELECT upn || ' ' || active || ' ' || (archived_at IS NOT NULL) AS line FROM users WHERE active = 0"),
        "viktor.novak@contoso.example 0 1"
    );
    assert_eq!(
        sqlite(
            &db,
            "SELECT upn AS line FROM users WHERE email IS NULL ORDER BY upn"
        ),
        "bjorn.eriksen@contoso.example\nmeeting-room-kiosk@contoso.example"
    );
    // "All Staff" holds everyone through its nested groups; every synced group is read-only.
    assert_eq!(
        sqlite(&db, "SELECT CAST(count(*) AS TEXT) AS line FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.display_name = 'All Staff'"),
        "35"
    );
    assert_eq!(
        sqlite(&db, "SELECT CAST(min(read_only) AS TEXT) AS line FROM groups"),
        "1"
    );

    // A dry run on the synced database prints nothing to do and changes nothing.
    let before = std::fs::read(&db).unwrap();
    let events = sqlite(&db, "SELECT CAST(count(*) AS TEXT) AS line FROM events");
    let out = idsync(dir.path(), &["--config", config, "resync", "--dry-run"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("0 created, 0 updated, 0 deactivated"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        sqlite(&db, "SELECT CAST(count(*) AS TEXT) AS line FROM events"),
        events
    );
    assert_eq!(
        sqlite(&db, "SELECT CAST(count(*) AS TEXT) AS line FROM runs"),
        "1"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);

    let out = idsync(dir.path(), &["--config", config, "status"]);
    let status = text(&out.stdout);
    assert!(
        status.contains("connector demo")
            && status.contains("succeeded")
            && status.contains("open conflicts: 0"),
        "{status}"
    );
}

/// The hint `status` gives for a held run of another tenant's connector is the command that
/// approves it, `--tenant` included.
#[test]
fn a_held_run_of_a_tenant_is_approved_by_the_command_status_names() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    let db = dir.path().join("app.db");
    let extra = "tenant = \"acme\"\n\n[[tenants]]\nid = \"acme\"\n";
    let config = file_config(dir.path(), &format!("sqlite://{}", db.display()), &export, extra);
    let config = config.to_str().unwrap();
    let everyone: Vec<_> = (1..=10)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    write_export(&export, &everyone, &[]);
    let acme = ["--config", config, "--tenant", "acme"];
    assert!(idsync(dir.path(), &[&acme[..], &["resync"]].concat())
        .status
        .success());
    write_export(&export, &everyone[..5], &[]);
    let out = idsync(dir.path(), &[&acme[..], &["resync"]].concat());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));

    let status = text(&idsync(dir.path(), &[&acme[..], &["status"]].concat()).stdout);
    let hint = status
        .lines()
        .find_map(|l| l.split('`').nth(1).filter(|_| l.contains("HELD: run")))
        .unwrap_or_else(|| panic!("no approval hint in {status}"));
    assert_eq!(hint, "idsync approve --tenant acme --connector hr", "{status}");
    let args: Vec<&str> = hint.split_whitespace().skip(1).collect();
    let out = idsync(dir.path(), &[&["--config", config][..], &args].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = idsync(dir.path(), &[&acme[..], &["resync"]].concat());
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        sqlite(
            &db,
            "SELECT CAST(count(*) AS TEXT) AS line FROM users WHERE active AND tenant_id = 'acme'"
        ),
        "5"
    );
}

#[test]
fn a_held_run_exits_3_until_approved() {
    let dir = tempfile::tempdir().unwrap();
    let (export, db, config) = hr_files(dir.path());
    let everyone: Vec<_> = (1..=10)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    write_export(&export, &everyone, &[]);
    let config = config.to_str().unwrap();

    assert!(idsync(dir.path(), &["--config", config, "resync"])
        .status
        .success());
    write_export(&export, &everyone[..5], &[]);
    let out = idsync(dir.path(), &["--config", config, "resync"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("HELD by the deletion guard"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        sqlite(
            &db,
            "SELECT CAST(count(*) AS TEXT) AS line FROM users WHERE active"
        ),
        "10"
    );
    let status = text(&idsync(dir.path(), &["--config", config, "status"]).stdout);
    assert!(
        status.contains("HELD: run `idsync approve --connector hr`"),
        "{status}"
    );

    let out = idsync(dir.path(), &["--config", config, "approve", "--connector", "hr"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = idsync(dir.path(), &["--config", config, "resync", "--connector", "hr"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        sqlite(
            &db,
            "SELECT CAST(count(*) AS TEXT) AS line FROM users WHERE active"
        ),
        "5"
    );
}

#[test]
fn errors_say_what_and_where_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (export, _db, config) = hr_files(dir.path());
    std::fs::write(
        &export,
        "{\"users\": [{\"id\": \"1\", \"upn\": \"a@x\", \"enabled\": \"yes\"}]}",
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();

    let out = idsync(dir.path(), &["--config", config_arg, "resync"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("hr: FAILED: invalid data at"), "{stdout}");
    assert!(stdout.contains("export.json line 1 column 53 (users[0].enabled): invalid type: string \"yes\", expected a boolean"), "{stdout}");

    let out = idsync(
        dir.path(),
        &["--config", config_arg, "resync", "--connector", "nope"],
    );
    assert_failed(
        &out,
        &out.stderr,
        "no connector is named \"nope\" (configured: hr)",
    );

    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap() + "max_deactivations = \"lots\"\n",
    )
    .unwrap();
    let out = idsync(dir.path(), &["--config", config_arg, "status"]);
    assert_failed(
        &out,
        &out.stderr,
        "connectors[0].max_deactivations: invalid type: string \"lots\"",
    );

    let out = idsync(dir.path(), &["status"]);
    assert_failed(&out, &out.stderr, "cannot read config/idsync.toml");
}

#[test]
fn config_check_reads_each_source_without_syncing() {
    let dir = tempfile::tempdir().unwrap();
    let (export, db, config) = hr_files(dir.path());
    write_export(&export, &[export_user("e1", "u1@example.com", None, true)], &[]);
    let config = config.to_str().unwrap();
    let out = idsync(dir.path(), &["--config", config, "config", "check"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("connector hr: ok:") && text(&out.stdout).contains("1 users, 0 groups"),
        "{}",
        text(&out.stdout)
    );
    assert!(!db.exists(), "a check creates no database");
    std::fs::write(&export, "[]").unwrap();
    let out = idsync(dir.path(), &["--config", config, "config", "check"]);
    assert_failed(&out, &out.stdout, "connector hr: FAILED: invalid data");
}

#[test]
fn provision_on_demand_explains_then_applies_one_user() {
    let dir = tempfile::tempdir().unwrap();
    let (export, db, config) = hr_files(dir.path());
    let mut users: Vec<_> = (1..=3)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    write_export(&export, &users, &[]);
    let config = config.to_str().unwrap();
    assert!(idsync(dir.path(), &["--config", config, "resync"])
        .status
        .success());
    let last_success = sqlite(&db, "SELECT last_success_at AS line FROM sync_state");

    users[1]["job_title"] = serde_json::json!("Staff Engineer");
    write_export(&export, &users, &[]);
    let out = idsync(
        dir.path(),
        &[
            "--config",
            config,
            "resync",
            "--connector",
            "hr",
            "--user",
            "U2@example.com",
            "--dry-run",
        ],
    );
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("found in") && said.contains("as id e2"), "{said}");
    assert!(
        said.contains("3. matcher: local user #2 (u2@example.com) by link, owned by hr"),
        "{said}"
    );
    assert!(
        said.contains("update user u2@example.com (#2): job_title: null -> \"Staff Engineer\""),
        "{said}"
    );
    assert_eq!(
        sqlite(
            &db,
            "SELECT coalesce(job_title, 'none') AS line FROM users WHERE id = 2"
        ),
        "none"
    );

    let out = idsync(
        dir.path(),
        &["--config", config, "resync", "--connector", "hr", "--user", "e2"],
    );
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        sqlite(&db, "SELECT job_title AS line FROM users WHERE id = 2"),
        "Staff Engineer"
    );
    // Only that user: the others' pending changes wait for the next sync; the run is recorded
    // as on demand, and the connector's last success is untouched.
    assert_eq!(
        sqlite(&db, "SELECT mode AS line FROM runs ORDER BY id DESC LIMIT 1"),
        "on_demand"
    );
    assert_eq!(
        sqlite(&db, "SELECT last_success_at AS line FROM sync_state"),
        last_success
    );

    let out = idsync(
        dir.path(),
        &[
            "--config",
            config,
            "resync",
            "--connector",
            "hr",
            "--user",
            "nobody@example.com",
        ],
    );
    assert_failed(&out, &out.stdout, "hr has no user nobody@example.com");
}

/// `idsync run` with `config` exits 1 within a minute, saying `needle` on stderr.
fn run_refuses(dir: &Path, config: &str, needle: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idsync"))
        .args(["--config", config, "run"])
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("`idsync run` kept running instead of refusing: {needle}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_failed(&out, &out.stderr, needle);
}

/// `config check` and `run` refuse `config` alike, naming the key and its value.
fn both_refuse(dir: &Path, config: &Path, needle: &str) {
    let config = config.to_str().unwrap();
    let out = idsync(dir, &["--config", config, "config", "check"]);
    assert_failed(&out, &out.stderr, needle);
    run_refuses(dir, config, needle);
}

#[test]
fn config_check_and_run_refuse_a_database_they_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    write_export(&export, &[export_user("e1", "u1@example.com", None, true)], &[]);

    let missing = dir.path().join("missing");
    let url = format!("sqlite://{}", missing.join("app.db").display());
    let config = file_config(dir.path(), &url, &export, "");
    let said = format!(
        "database.url: {url}: the directory {} does not exist",
        missing.display()
    );
    both_refuse(dir.path(), &config, &said);

    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let url = format!("sqlite://{}", locked.join("app.db").display());
    let config = file_config(dir.path(), &url, &export, "");
    let said = format!(
        "database.url: {url}: the directory {} is not writable",
        locked.display()
    );
    both_refuse(dir.path(), &config, &said);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (_, db, config) = hr_files(dir.path());
    let out = idsync(dir.path(), &["--config", config.to_str().unwrap(), "migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let said = format!(
        "database.url: sqlite://{}: the database file {} is read-only",
        db.display(),
        db.display()
    );
    both_refuse(dir.path(), &config, &said);
}

#[test]
fn config_check_and_run_refuse_schedules_that_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let (export, _db, _) = hr_files(dir.path());
    write_export(&export, &[export_user("e1", "u1@example.com", None, true)], &[]);
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    for (extra, said) in [
        (
            "schedule = \"0 0 30 2 *\"\n",
            "connectors[0].schedule: the cron expression \"0 0 30 2 *\" never fires",
        ),
        (
            "interval = \"300000000000d\"\n",
            "connectors[0].interval: invalid interval \"300000000000d\": longer than the maximum, 366d",
        ),
        (
            "\n[daemon]\njitter_secs = 9223372036854775807\n",
            "daemon.jitter_secs: 9223372036854775807 is more than the maximum, 3600",
        ),
    ] {
        let config = file_config(dir.path(), &url, &export, extra);
        both_refuse(dir.path(), &config, said);
    }
}
