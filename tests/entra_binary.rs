//! The release path end to end: the real `idsync` binary, configured with `kind = "entra"`
//! through `authority_url`/`graph_url`, syncs the fake Graph tenant into a temporary SQLite
//! file across a scripted sequence of tenant changes and faults; after each run the `users`,
//! `groups` and `group_members` tables must equal the tenant's ground truth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use idsync_fakes::graph::support::{config_text, seeded, truth};
use idsync_fakes::graph::{user_props, FakeGraph, Fault, Route, CLIENT_SECRET};
use serde_json::json;
use support::binary::Binary;

const SECRET_ENV: &str = "IDSYNC_TEST_ENTRA_SECRET";

fn setup(fake: &FakeGraph) -> Binary {
    let keys = format!(
        r#"client_secret = {{ env = "{SECRET_ENV}" }}
max_deactivation_percent = 100
mapping.job_title = {{ expression = "[jobTitle]", only_on_create = true }}
retry = {{ initial_backoff_secs = 0.01, max_backoff_secs = 0.05 }}"#
    );
    Binary::new("entra", &config_text(fake, &keys), &[(SECRET_ENV, CLIENT_SECRET)])
}

/// The tables must hold the tenant (every user in scope, nested groups flattened).
async fn assert_tables_match(fake: &FakeGraph, setup: &Binary, step: &str) {
    setup
        .assert_tables_match(truth(fake, true, |_, _| true), step)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_syncs_a_changing_tenant_into_sqlite() {
    let fake = seeded().await;
    let setup = setup(&fake);

    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "initial").await;

    // Creates, an update of a create-only field, a rename, disable, soft delete,
    // membership changes, a nested change.
    fake.put_user("u-fay", user_props("fay@contoso.example", "Fay", "Fox"));
    fake.add_member("g-ops", "u-fay");
    fake.patch_user("u-ann", json!({"jobTitle": "Director"}));
    fake.patch_user("u-bob", json!({"userPrincipalName": "robert@contoso.example"}));
    fake.patch_user("u-cid", json!({"accountEnabled": false}));
    fake.soft_delete_user("u-dee");
    fake.remove_member("g-all", "u-ann");
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after changes").await;
    let titles = setup.tables().await.titles;
    assert_eq!(
        titles["u-ann"].as_deref(),
        Some("Engineer"),
        "job_title is create-only"
    );
    assert_eq!(titles["u-fay"].as_deref(), Some("Engineer"));

    // Throttling is survived; a truncated page fails the run and changes nothing.
    fake.restore_user("u-dee");
    fake.hard_delete_user("u-eve");
    fake.inject(Route::UsersDelta, Fault::Throttle(Some("0.2".into())));
    fake.inject(Route::GroupsDelta, Fault::Truncated);
    let before = setup.tables().await;
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("/v1.0/groups/delta"), "{out}");
    assert_eq!(setup.tables().await, before, "a failed run applies nothing");
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after restore and delete").await;

    // Group deleted and renamed; then the delta token expires: a full sync, logged.
    fake.rename_group("g-eng", "Engineering & Research");
    fake.delete_group("g-ops");
    fake.add_member("g-all", "u-dee");
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "group changes").await;
    fake.patch_user("u-fay", json!({"surname": "Fuchs"}));
    fake.expire_delta_tokens();
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("falling back to a full sync"), "{out}");
    assert_tables_match(&fake, &setup, "after the expired token").await;

    // `resync --full` forces a full round.
    fake.clear_log();
    let (code, out) = setup.resync(true).await;
    assert_eq!(code, 0, "{out}");
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path == "/v1.0/users/delta" && r.param("$select").is_some()));
    assert_tables_match(&fake, &setup, "forced full").await;
}

/// `idsync config check` reaches the token endpoint: the right secret passes, a wrong one is
/// reported as refused credentials, and nothing is synced either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_reaches_the_token_endpoint_without_syncing() {
    let fake = FakeGraph::start().await;
    let setup = setup(&fake);
    let check = |secret: &'static str| {
        let setup = &setup;
        async move {
            let out = setup
                .run(&["config", "check"], &[(SECRET_ENV, secret)], "warn")
                .await;
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    let (code, text) = check(CLIENT_SECRET).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("connector entra: ok:") && text.contains("issued a token"),
        "{text}"
    );
    assert!(text.contains("does not exist yet"), "{text}");
    let (code, text) = check("wrong-secret").await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("connector entra: FAILED: credentials rejected"),
        "{text}"
    );
    assert!(
        !setup.db.exists(),
        "a check syncs nothing and creates no database"
    );
}
