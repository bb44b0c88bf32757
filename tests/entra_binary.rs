//! The release path end to end: the real `idsync` binary, configured with `kind = "entra"`
//! through `authority_url`/`graph_url`, syncs the fake Graph tenant into a temporary SQLite
//! file across a scripted sequence of tenant changes and faults; after each run the `users`,
//! `groups` and `group_members` tables must equal the tenant's ground truth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use idsync::store::{self, DatabaseUrl, Db};
use idsync_fakes::graph::support::{seed, truth};
use idsync_fakes::graph::{user_props, FakeGraph, Fault, Route, CLIENT_ID, CLIENT_SECRET, TENANT};
use serde_json::json;

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
}

fn setup(fake: &FakeGraph) -> Setup {
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
name = "entra"
kind = "entra"
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret = {{ env = "IDSYNC_TEST_ENTRA_SECRET" }}
authority_url = "{}"
graph_url = "{}"
max_deactivation_percent = 100
mapping.job_title = {{ expression = "[jobTitle]", only_on_create = true }}
retry = {{ initial_backoff_secs = 0.01, max_backoff_secs = 0.05 }}
"#,
            db.display(),
            fake.authority_url(),
            fake.graph_url()
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
        .args(["resync", "--connector", "entra"])
        .env("IDSYNC_TEST_ENTRA_SECRET", CLIENT_SECRET)
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
    let local = store::load_local(&mut db, "entra").unwrap();
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
        .filter(|g| g.source.as_deref() == Some("entra"))
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

/// The tables must hold the tenant: active users, and each group's live, active members.
fn assert_tables_match(fake: &FakeGraph, setup: &Setup, step: &str) {
    let (users, groups) = truth(fake, true, |_, _| true);
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
async fn the_binary_syncs_a_changing_tenant_into_sqlite() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let setup = setup(&fake);

    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "initial");

    // Creates, an update of a create-only field, a rename, disable, soft delete,
    // membership changes, a nested change.
    fake.put_user("u-fay", user_props("fay@contoso.example", "Fay", "Fox"));
    fake.add_member("g-ops", "u-fay");
    fake.patch_user("u-ann", json!({"jobTitle": "Director"}));
    fake.patch_user("u-bob", json!({"userPrincipalName": "robert@contoso.example"}));
    fake.patch_user("u-cid", json!({"accountEnabled": false}));
    fake.soft_delete_user("u-dee");
    fake.remove_member("g-all", "u-ann");
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after changes");
    let (_, titles, _) = tables(&setup.db);
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
    let before = tables(&setup.db);
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("/v1.0/groups/delta"), "{out}");
    assert_eq!(tables(&setup.db), before, "a failed run applies nothing");
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "after restore and delete");

    // Group deleted and renamed; then the delta token expires: a full sync, logged.
    fake.rename_group("g-eng", "Engineering & Research");
    fake.delete_group("g-ops");
    fake.add_member("g-all", "u-dee");
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    assert_tables_match(&fake, &setup, "group changes");
    fake.patch_user("u-fay", json!({"surname": "Fuchs"}));
    fake.expire_delta_tokens();
    let (code, out) = resync(&setup, false).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("falling back to a full sync"), "{out}");
    assert_tables_match(&fake, &setup, "after the expired token");

    // `resync --full` forces a full round.
    fake.clear_log();
    let (code, out) = resync(&setup, true).await;
    assert_eq!(code, 0, "{out}");
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path == "/v1.0/users/delta" && r.param("$select").is_some()));
    assert_tables_match(&fake, &setup, "forced full");
}

/// `idsync config check` reaches the token endpoint: the right secret passes, a wrong one is
/// reported as refused credentials, and nothing is synced either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_reaches_the_token_endpoint_without_syncing() {
    let fake = FakeGraph::start().await;
    let setup = setup(&fake);
    let check = |secret: &'static str| {
        let config = setup.config.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_idsync"))
                .arg("--config")
                .arg(&config)
                .args(["config", "check"])
                .env("IDSYNC_TEST_ENTRA_SECRET", secret)
                .env("RUST_LOG", "warn")
                .output()
                .await
                .unwrap();
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
