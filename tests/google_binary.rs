//! The release path end to end: the real `idsync` binary, configured with `kind = "google"`
//! and a service account key file, syncs the fake Google customer into a temporary SQLite
//! file across scripted directory changes and faults; after each run the application tables
//! must equal the directory. Also `config check` and provision on demand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use idsync::store::{DatabaseUrl, Store};
use idsync_fakes::google::support::{key_file, person, seed, truth};
use idsync_fakes::google::{backend_error, error, rate_limited, FakeGoogle, ADMIN, RSA_KEY_PEM, USERS};
use idsync_fakes::server::Reply;
use serde_json::json;

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
}

fn configure(fake: &FakeGoogle, subject: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("idsync.db");
    let config = dir.path().join("idsync.toml");
    std::fs::write(dir.path().join("google-key.json"), key_file(fake, RSA_KEY_PEM)).unwrap();
    let text = format!(
        r#"
[database]
url = "sqlite://{}"

[[connectors]]
name = "google"
kind = "google"
service_account_key_path = "google-key.json"
subject = "{subject}"
directory_url = "{}"
retry = {{ initial_backoff_secs = 0.01, max_backoff_secs = 0.05, max_wait_secs = 10 }}
"#,
        db.display(),
        fake.url(),
    );
    std::fs::write(&config, text).unwrap();
    Setup {
        _dir: dir,
        config,
        db,
    }
}

/// Runs the binary with `args`; returns the exit code and the combined output.
async fn idsync(setup: &Setup, args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_idsync"))
        .arg("--config")
        .arg(&setup.config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

type Tables = (
    BTreeMap<String, String>,
    BTreeMap<String, (String, BTreeSet<String>)>,
);

/// Active users (external id -> upn) and groups (external id -> (name, active members)).
async fn tables(db: &Path) -> Tables {
    let store = Store::open(&DatabaseUrl::Sqlite(db.to_owned()));
    let local = store.load_local("google").await.unwrap();
    let ext: BTreeMap<i64, String> = local
        .users
        .iter()
        .filter_map(|u| u.external_id.clone().map(|e| (u.id, e)))
        .collect();
    let active: BTreeMap<String, String> = local
        .users
        .iter()
        .filter(|u| u.active && u.archived_at.is_none())
        .map(|u| (u.external_id.clone().unwrap(), u.upn.clone()))
        .collect();
    let groups = local
        .groups
        .iter()
        .map(|g| {
            let members = local
                .members
                .get(&g.id)
                .map(|m| {
                    m.iter()
                        .map(|u| ext[u].clone())
                        .filter(|e| active.contains_key(e))
                        .collect()
                })
                .unwrap_or_default();
            (g.external_id.clone().unwrap(), (g.display_name.clone(), members))
        })
        .collect();
    (active, groups)
}

/// The tables must hold the directory: active users, and each group's active members (the
/// application does not show deactivated users' memberships).
async fn assert_tables_match(fake: &FakeGoogle, setup: &Setup, step: &str) {
    let (users, mut groups) = truth(fake, &[], true, |_| true);
    for (_, members) in groups.values_mut() {
        members.retain(|m| users.contains_key(m));
    }
    assert_eq!(tables(&setup.db).await, (users, groups), "{step}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_follows_a_changing_directory_through_faults() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let setup = configure(&fake, ADMIN);
    let resync = ["resync", "--connector", "google"];
    let (code, text) = idsync(&setup, &resync).await;
    assert_eq!(code, 0, "{text}");
    assert_tables_match(&fake, &setup, "the first sync").await;

    type Step = Box<dyn Fn(&FakeGoogle)>;
    let steps: Vec<(&str, Step)> = vec![
        (
            "suspend",
            Box::new(|f| f.update_user("u-ann", json!({"suspended": true}))),
        ),
        (
            "rename and move",
            Box::new(|f| {
                f.update_user("u-bob", json!({"primaryEmail": "robert@example.com"}));
                f.remove_member("g-sales", "u-dee");
                f.add_member("g-eng", "USER", "u-dee");
            }),
        ),
        (
            "throttled, then a new user",
            Box::new(|f| {
                f.inject(USERS, rate_limited("userRateLimitExceeded"), 1);
                f.inject("/admin/directory/v1/groups", backend_error(), 1);
                f.add_user(
                    "u-gus",
                    "gus@example.com",
                    person("Gus", "Gray", "Intern", "Ops", "/"),
                );
                f.add_member("g-sales", "USER", "u-gus");
            }),
        ),
        (
            "unsuspend and delete",
            Box::new(|f| {
                f.update_user("u-ann", json!({"suspended": false}));
                f.delete_user("u-cid");
            }),
        ),
    ];
    for (name, step) in steps {
        step(&fake);
        let (code, text) = idsync(&setup, &resync).await;
        assert_eq!(code, 0, "{name}: {text}");
        assert_tables_match(&fake, &setup, name).await;
    }

    // A failed run changes nothing.
    let before = tables(&setup.db).await;
    fake.delete_user("u-eve");
    fake.inject(
        USERS,
        error(StatusCode::BAD_REQUEST, "invalid", "Invalid Input"),
        1,
    );
    let (code, text) = idsync(&setup, &resync).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("invalid: Invalid Input"), "{text}");
    assert_eq!(tables(&setup.db).await, before);

    // An empty answer is held by the deletion guard (exit 3); nothing is deactivated.
    let empty = Reply::json(StatusCode::OK, &json!({"kind": "admin#directory#users"}));
    fake.inject(USERS, empty, 1);
    let (code, text) = idsync(&setup, &resync).await;
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("HELD by the deletion guard"), "{text}");
    assert_eq!(tables(&setup.db).await.0, before.0);
    let (code, text) = idsync(&setup, &resync).await;
    assert_eq!(code, 0, "{text}");
    assert_tables_match(&fake, &setup, "the run after the held one").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_and_provision_on_demand() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let setup = configure(&fake, ADMIN);
    let (code, text) = idsync(&setup, &["config", "check"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("connector google: ok:") && text.contains("listed 1 user(s)"),
        "{text}"
    );
    let impostor = configure(&fake, "eve@example.com");
    let (code, text) = idsync(&impostor, &["config", "check"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("credentials rejected") && text.contains("invalid_grant"),
        "{text}"
    );

    let (code, text) = idsync(
        &setup,
        &["resync", "--connector", "google", "--user", "bob@example.com"],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Google returned user u-bob (bob@example.com), active"),
        "{text}"
    );
    let (active, _) = tables(&setup.db).await;
    assert_eq!(
        active.keys().cloned().collect::<Vec<_>>(),
        ["u-bob"],
        "only that user"
    );
    let (code, text) = idsync(
        &setup,
        &["resync", "--connector", "google", "--user", "nobody@example.com"],
    )
    .await;
    assert_eq!(code, 1, "{text}");
}
