//! The release path end to end: the real `idsync` binary, configured with `kind = "okta"`
//! through `org_url`, syncs the fake Okta org into a temporary SQLite file across a scripted
//! sequence of org changes, a small rate-limit bucket and faults; after each run the `users`,
//! `groups` and `group_members` tables must equal the org's ground truth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use idsync::store::{self, DatabaseUrl, Db};
use idsync_fakes::okta::support::{seed, truth};
use idsync_fakes::okta::{profile, FakeOkta, Fault, Route, API_TOKEN};
use serde_json::json;

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
}

fn setup(fake: &FakeOkta) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("idsync.db");
    let config = dir.path().join("idsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[database]
url = "sqlite://{}"

[[connectors]]
name = "okta"
kind = "okta"
org_url = "{}"
api_token = {{ env = "IDSYNC_TEST_OKTA_TOKEN" }}
max_deactivation_percent = 100
mapping.job_title = {{ expression = "[title]", only_on_create = true }}
overlap_secs = 0
retry = {{ initial_backoff_secs = 0.01, max_backoff_secs = 0.05, max_wait_secs = 10 }}
"#,
            db.display(),
            fake.org_url(),
        ),
    )
    .unwrap();
    Setup {
        _dir: dir,
        config,
        db,
    }
}

/// Runs `idsync resync`; returns the exit code and the combined output.
async fn resync(setup: &Setup, full: bool) -> (i32, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_idsync"));
    command
        .arg("--config")
        .arg(&setup.config)
        .args(["resync", "--connector", "okta"])
        .env("IDSYNC_TEST_OKTA_TOKEN", API_TOKEN)
        .env("RUST_LOG", "warn");
    if full {
        command.arg("--full");
    }
    let out = command.output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The application tables: active users (external id -> upn), all users' job titles, and
/// groups (external id -> (name, member external ids)).
#[allow(clippy::type_complexity)]
fn tables(
    db: &Path,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, Option<String>>,
    BTreeMap<String, (String, BTreeSet<String>)>,
) {
    let mut db = Db::open(&DatabaseUrl::Sqlite(db.to_owned())).unwrap();
    let local = store::load_local(&mut db, "okta").unwrap();
    let ext: BTreeMap<i64, String> = local
        .users
        .iter()
        .filter_map(|u| u.external_id.clone().map(|e| (u.id, e)))
        .collect();
    let active = local
        .users
        .iter()
        .filter(|u| u.active && u.archived_at.is_none())
        .map(|u| (u.external_id.clone().unwrap(), u.upn.clone()))
        .collect();
    let titles = local
        .users
        .iter()
        .map(|u| (u.external_id.clone().unwrap(), u.job_title.clone()))
        .collect();
    let groups = local
        .groups
        .iter()
        .filter(|g| g.source.as_deref() == Some("okta"))
        .map(|g| {
            let members = local
                .members
                .get(&g.id)
                .map(|m| m.iter().map(|u| ext[u].clone()).collect())
                .unwrap_or_default();
            (g.external_id.clone().unwrap(), (g.display_name.clone(), members))
        })
        .collect();
    (active, titles, groups)
}

/// The tables must hold the org: active users, and each group's live, active members.
fn assert_tables_match(fake: &FakeOkta, setup: &Setup, step: &str) {
    let (users, groups) = truth(fake, &[], |_, _, _| true);
    let (active, _, mut table_groups) = tables(&setup.db);
    assert_eq!(active, users, "{step}: users");
    // Archived users keep their memberships; the application sees only active ones.
    for (_, members) in table_groups.values_mut() {
        members.retain(|m| active.contains_key(m));
    }
    let expected: BTreeMap<_, _> = groups
        .into_iter()
        .map(|(id, (name, members))| {
            let members = members.into_iter().filter(|m| active.contains_key(m)).collect();
            (id, (name, members))
        })
        .collect();
    assert_eq!(table_groups, expected, "{step}: groups");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_syncs_a_changing_org_into_sqlite() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    // A small bucket: 20 requests per 2 s window.
    fake.settings(|s| s.rate_limit = Some((20, 2)));
    let setup = setup(&fake);

    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "initial");
    let (_, titles, _) = tables(&setup.db);
    assert_eq!(titles["00uann"].as_deref(), Some("Engineer"));

    // A new user, an update of a create-only field, a login rename, deactivation,
    // suspension, reactivation, membership changes.
    let gus = fake.add_user("00ugus", "ACTIVE", profile("gus@example.com", "Gus", "Gray"));
    fake.add_member("00gops", &gus);
    fake.update_profile("00uann", json!({"title": "Director"}));
    fake.update_profile("00ubob", json!({"login": "robert@example.com"}));
    fake.set_status("00ucid", "DEPROVISIONED");
    fake.set_status("00ufay", "SUSPENDED");
    fake.set_status("00udee", "ACTIVE");
    fake.remove_member("00geng", "00uann");
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after changes");
    let (_, titles, _) = tables(&setup.db);
    assert_eq!(
        titles["00uann"].as_deref(),
        Some("Engineer"),
        "job_title is create-only"
    );

    // A 429 is waited out; a 500 fails the run and changes nothing.
    fake.set_status("00ufay", "ACTIVE");
    fake.rename_group("00geng", "Engineering & Research");
    fake.add_member("00geng", "00ufay");
    fake.inject(Route::Users, Fault::TooManyRequests);
    fake.inject(Route::Members, Fault::InternalError);
    let before = tables(&setup.db);
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("/api/v1/groups/") && out.contains("E0000009"),
        "{out}"
    );
    assert_eq!(tables(&setup.db), before, "a failed run applies nothing");
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after the fault");

    // Hard deletions: unseen by the incremental run, caught by `resync --full`.
    fake.delete_user("00ubob");
    fake.delete_group("00gops");
    fake.add_member("00gad", "00udee");
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    let (active, _, groups) = tables(&setup.db);
    assert!(active.contains_key("00ubob") && groups.contains_key("00gops"));
    let (code, out) = resync(&setup, true).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after the full reconcile");
    assert_eq!(fake.throttled(), 0, "pacing kept the bucket from running dry");
}

/// `config check` reaches the org with the configured credentials, and provision on demand
/// looks one user up by login, explains it, and applies only that user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_and_provision_on_demand() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    let setup = setup(&fake);
    let run = |args: &'static [&'static str], token: &'static str| {
        let config = setup.config.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_idsync"))
                .arg("--config")
                .arg(&config)
                .args(args)
                .env("IDSYNC_TEST_OKTA_TOKEN", token)
                .env("RUST_LOG", "trace")
                .output()
                .await
                .unwrap();
            let logs = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!logs.contains(token), "the API token reached a log line");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    let (code, text) = run(&["config", "check"], API_TOKEN).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("connector okta: ok:") && text.contains("accepted the credentials"),
        "{text}"
    );
    let (code, text) = run(&["config", "check"], "00wrongtoken").await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("connector okta: FAILED: credentials rejected"),
        "{text}"
    );

    let (code, text) = run(
        &[
            "resync",
            "--connector",
            "okta",
            "--user",
            "ANN@example.com",
            "--dry-run",
        ],
        API_TOKEN,
    )
    .await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Okta returned user 00uann (ann@example.com), status ACTIVE"),
        "{text}"
    );
    assert!(text.contains("create user ann@example.com"), "{text}");
    assert!(!setup.db.exists(), "a dry run creates no database");
    let (code, text) = run(&["resync", "--connector", "okta", "--user", "00uann"], API_TOKEN).await;
    assert_eq!(code, Some(0), "{text}");
    let (active, _, _) = tables(&setup.db);
    assert_eq!(
        active.keys().cloned().collect::<Vec<_>>(),
        vec!["00uann".to_owned()],
        "only that user"
    );
    let (code, text) = run(
        &["resync", "--connector", "okta", "--user", "nobody@example.com"],
        API_TOKEN,
    )
    .await;
    assert_eq!(code, Some(1), "{text}");
}
