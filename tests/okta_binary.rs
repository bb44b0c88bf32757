//! The release path end to end: the real `idsync` binary, configured with `kind = "okta"`
//! through `org_url`, syncs the fake Okta org into a temporary SQLite file across a scripted
//! sequence of org changes, a small rate-limit bucket and faults; after each run the `users`,
//! `groups` and `group_members` tables must equal the org's ground truth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use idsync_fakes::okta::support::{seeded, truth};
use idsync_fakes::okta::{profile, FakeOkta, Fault, Route, API_TOKEN};
use serde_json::json;
use support::binary::Binary;

const TOKEN_ENV: &str = "IDSYNC_TEST_OKTA_TOKEN";

fn setup(fake: &FakeOkta) -> Binary {
    let keys = format!(
        r#"org_url = "{}"
api_token = {{ env = "{TOKEN_ENV}" }}
max_deactivation_percent = 100
mapping.job_title = {{ expression = "[title]", only_on_create = true }}
overlap_secs = 0
retry = {{ initial_backoff_secs = 0.01, max_backoff_secs = 0.05, max_wait_secs = 10 }}"#,
        fake.org_url(),
    );
    Binary::new("okta", &keys, &[(TOKEN_ENV, API_TOKEN)])
}

/// The tables must hold the org (every user in scope, the synced groups).
async fn assert_tables_match(fake: &FakeOkta, setup: &Binary, step: &str) {
    setup
        .assert_tables_match(truth(fake, &[], |_, _, _| true), step)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_syncs_a_changing_org_into_sqlite() {
    let fake = seeded().await;
    // A small bucket: 20 requests per 2 s window.
    fake.settings(|s| s.rate_limit = Some((20, 2)));
    let setup = setup(&fake);

    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "initial").await;
    let titles = setup.tables().await.titles;
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
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after changes").await;
    let titles = setup.tables().await.titles;
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
    let before = setup.tables().await;
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("/api/v1/groups/") && out.contains("E0000009"),
        "{out}"
    );
    assert_eq!(setup.tables().await, before, "a failed run applies nothing");
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after the fault").await;

    // Hard deletions: unseen by the incremental run, caught by `resync --full`.
    fake.delete_user("00ubob");
    fake.delete_group("00gops");
    fake.add_member("00gad", "00udee");
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    let tables = setup.tables().await;
    assert!(tables.active.contains_key("00ubob") && tables.groups.contains_key("00gops"));
    let (code, out) = setup.resync(true).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after the full reconcile").await;
    assert_eq!(fake.throttled(), 0, "pacing kept the bucket from running dry");
}

/// `config check` reaches the org with the configured credentials, and provision on demand
/// looks one user up by login, explains it, and applies only that user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_and_provision_on_demand() {
    let fake = seeded().await;
    let setup = setup(&fake);
    let run = |args: &'static [&'static str], token: &'static str| {
        let setup = &setup;
        async move {
            let out = setup.run(args, &[(TOKEN_ENV, token)], "trace").await;
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
    let active = setup.tables().await.active;
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
