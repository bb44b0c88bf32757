//! The release path end to end: the real `idsync` binary, configured with `kind = "google"`
//! and a service account key file, syncs the fake Google customer into a temporary SQLite
//! file across scripted directory changes and faults; after each run the application tables
//! must equal the directory. Also `config check` and provision on demand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use axum::http::StatusCode;
use idsync_fakes::google::support::{key_file, person, seed, truth};
use idsync_fakes::google::{backend_error, error, rate_limited, FakeGoogle, ADMIN, RSA_KEY_PEM, USERS};
use idsync_fakes::server::Reply;
use serde_json::json;
use support::binary::Binary;

/// The binary configured with `kind = "google"` acting as `subject`, its service account key
/// file next to the configuration.
fn configure(fake: &FakeGoogle, subject: &str) -> Binary {
    let keys = format!(
        "service_account_key_path = \"google-key.json\"\nsubject = \"{subject}\"\n\
         directory_url = \"{}\"\n\
         retry = {{ initial_backoff_secs = 0.01, max_backoff_secs = 0.05, max_wait_secs = 10 }}",
        fake.url(),
    );
    let binary = Binary::new("google", &keys, &[]);
    std::fs::write(binary.dir().join("google-key.json"), key_file(fake, RSA_KEY_PEM)).unwrap();
    binary
}

/// The tables must hold the directory: active users, and each group's active members (the
/// application does not show deactivated users' memberships).
async fn assert_tables_match(fake: &FakeGoogle, setup: &Binary, step: &str) {
    setup
        .assert_tables_match(truth(fake, &[], true, |_| true), step)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_follows_a_changing_directory_through_faults() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let setup = configure(&fake, ADMIN);
    let resync = ["resync", "--connector", "google"];
    let (code, text) = setup.run_text(&resync).await;
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
        let (code, text) = setup.run_text(&resync).await;
        assert_eq!(code, 0, "{name}: {text}");
        assert_tables_match(&fake, &setup, name).await;
    }

    // A failed run changes nothing.
    let before = setup.tables().await;
    fake.delete_user("u-eve");
    fake.inject(
        USERS,
        error(StatusCode::BAD_REQUEST, "invalid", "Invalid Input"),
        1,
    );
    let (code, text) = setup.run_text(&resync).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("invalid: Invalid Input"), "{text}");
    assert_eq!(setup.tables().await, before);

    // An empty answer is held by the deletion guard (exit 3); nothing is deactivated.
    let empty = Reply::json(StatusCode::OK, &json!({"kind": "admin#directory#users"}));
    fake.inject(USERS, empty, 1);
    let (code, text) = setup.run_text(&resync).await;
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("HELD by the deletion guard"), "{text}");
    assert_eq!(setup.tables().await.active, before.active);
    let (code, text) = setup.run_text(&resync).await;
    assert_eq!(code, 0, "{text}");
    assert_tables_match(&fake, &setup, "the run after the held one").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_and_provision_on_demand() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let setup = configure(&fake, ADMIN);
    let (code, text) = setup.run_text(&["config", "check"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("connector google: ok:") && text.contains("listed 1 user(s)"),
        "{text}"
    );
    let impostor = configure(&fake, "eve@example.com");
    let (code, text) = impostor.run_text(&["config", "check"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("credentials rejected") && text.contains("invalid_grant"),
        "{text}"
    );

    let (code, text) = setup
        .run_text(&["resync", "--connector", "google", "--user", "bob@example.com"])
        .await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Google returned user u-bob (bob@example.com), active"),
        "{text}"
    );
    let active = setup.tables().await.active;
    assert_eq!(
        active.keys().cloned().collect::<Vec<_>>(),
        ["u-bob"],
        "only that user"
    );
    let (code, text) = setup
        .run_text(&["resync", "--connector", "google", "--user", "nobody@example.com"])
        .await;
    assert_eq!(code, 1, "{text}");
}
