//! Scenario tests of the Entra connector against the fake Graph server: full and delta syncs
//! across tenant changes, nesting, scope, and the wire details (`$select`, paging, merging).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use idsync_fakes::graph::support::{seed, source, truth};
use idsync_fakes::graph::{user_props, FakeGraph, Route};
use idsync_fakes::mirror::Mirror;
use serde_json::json;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn assert_matches_truth(fake: &FakeGraph, mirror: &Mirror, flatten: bool) {
    let (users, groups) = truth(fake, flatten, |_, _| true);
    assert_eq!(mirror.active(), users, "active users");
    assert_eq!(mirror.groups(), groups, "groups");
}

#[tokio::test]
async fn initial_sync_reads_everything_with_exact_select_and_merges_split_groups() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    assert_eq!(mirror.sync(&source).await.unwrap(), "snapshot");
    assert_matches_truth(&fake, &mirror, true).await;

    let ann = mirror.record("u-ann");
    assert_eq!(ann.upn, "ann@contoso.example");
    assert_eq!(ann.email.as_deref(), Some("ann@contoso.example"));
    assert_eq!(ann.display_name.as_deref(), Some("Ann Archer"));
    assert_eq!(ann.family_name.as_deref(), Some("Archer"));
    assert_eq!(ann.department.as_deref(), Some("R&D"), "department needs $select");
    assert_eq!(ann.preferred_language.as_deref(), Some("en-US"));
    // Flattened, with the eng <-> ops cycle: everyone below All staff.
    assert_eq!(
        mirror.groups()["g-all"].1,
        set(&["u-ann", "u-bob", "u-cid", "u-dee"])
    );
    assert_eq!(mirror.groups()["g-ops"].1, set(&["u-bob", "u-cid", "u-dee"]));

    let requests = fake.requests();
    let users_delta = requests.iter().find(|r| r.path == "/v1.0/users/delta").unwrap();
    assert_eq!(
        users_delta.param("$select"),
        Some("accountEnabled,department,displayName,givenName,jobTitle,mail,preferredLanguage,surname,userPrincipalName")
    );
    let groups_delta = requests.iter().find(|r| r.path == "/v1.0/groups/delta").unwrap();
    assert_eq!(groups_delta.param("$select"), Some("displayName,members"));
    assert!(
        requests.iter().all(|r| r.param("$top").is_none()),
        "delta takes no $top"
    );
    // Small fake pages: several pages per round were followed.
    assert!(
        requests
            .iter()
            .filter(|r| r.param("$skiptoken").is_some())
            .count()
            >= 2
    );
    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn delta_after_every_kind_of_change() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();

    // Nothing changed: an empty change set, and a cursor to keep.
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    assert_matches_truth(&fake, &mirror, true).await;

    // Create, update, UPN rename, disable.
    fake.put_user("u-fay", user_props("fay@contoso.example", "Fay", "Fox"));
    fake.add_member("g-ops", "u-fay");
    fake.patch_user("u-ann", json!({"jobTitle": "Director", "department": null}));
    fake.patch_user("u-bob", json!({"userPrincipalName": "robert@contoso.example"}));
    fake.patch_user("u-cid", json!({"accountEnabled": false}));
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    assert_matches_truth(&fake, &mirror, true).await;
    assert_eq!(mirror.record("u-ann").job_title.as_deref(), Some("Director"));
    assert_eq!(mirror.record("u-ann").department, None);
    assert_eq!(mirror.record("u-bob").upn, "robert@contoso.example");
    assert!(!mirror.record("u-cid").enabled);
    assert!(
        mirror.groups()["g-all"].1.contains("u-fay"),
        "flattened through g-eng -> g-ops"
    );

    // Soft delete, then restore.
    fake.soft_delete_user("u-dee");
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    assert_matches_truth(&fake, &mirror, true).await;
    assert!(!mirror.users["u-dee"].1);
    assert!(!mirror.groups()["g-ops"].1.contains("u-dee"));
    fake.restore_user("u-dee");
    mirror.sync(&source).await.unwrap();
    assert_matches_truth(&fake, &mirror, true).await;
    assert!(mirror.users["u-dee"].1, "restored users are reactivated");

    // Permanent delete, membership add/remove, group rename and delete.
    fake.hard_delete_user("u-eve");
    fake.add_member("g-eng", "u-dee");
    fake.remove_member("g-all", "u-ann");
    fake.rename_group("g-ops", "Operations & Support");
    mirror.sync(&source).await.unwrap();
    assert_matches_truth(&fake, &mirror, true).await;
    assert_eq!(mirror.groups()["g-ops"].0, "Operations & Support");
    fake.delete_group("g-ops");
    mirror.sync(&source).await.unwrap();
    assert_matches_truth(&fake, &mirror, true).await;
    assert!(!mirror.groups().contains_key("g-ops"));
    assert_eq!(mirror.groups()["g-all"].1, set(&["u-bob", "u-cid", "u-dee"]));
}

#[tokio::test]
async fn direct_nesting_keeps_entra_behaviour() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "nested_groups = \"direct\"");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    assert_matches_truth(&fake, &mirror, false).await;
    assert_eq!(mirror.groups()["g-all"].1, set(&["u-ann"]));
    fake.add_member("g-ops", "u-eve");
    mirror.sync(&source).await.unwrap();
    assert_matches_truth(&fake, &mirror, false).await;
    assert_eq!(mirror.groups()["g-all"].1, set(&["u-ann"]));
}

#[tokio::test]
async fn nested_change_in_a_child_updates_every_ancestor() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    fake.add_member("g-ops", "u-eve");
    fake.remove_member("g-eng", "g-ops");
    mirror.sync(&source).await.unwrap();
    assert_matches_truth(&fake, &mirror, true).await;
    fake.add_member("g-eng", "g-ops");
    mirror.sync(&source).await.unwrap();
    assert_matches_truth(&fake, &mirror, true).await;
    assert!(mirror.groups()["g-all"].1.contains("u-eve"));
}

#[tokio::test]
async fn group_scope_by_name_follows_membership_changes() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "groups = [\"Operations\"]");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    // Operations holds dee directly and bob, cid through the cycle with Engineering.
    assert_eq!(
        mirror.active().keys().cloned().collect::<BTreeSet<_>>(),
        set(&["u-bob", "u-cid", "u-dee"])
    );
    assert_eq!(
        mirror.groups().keys().cloned().collect::<BTreeSet<_>>(),
        set(&["g-ops"])
    );

    // Eve joins (read by id, as she did not change); Cid leaves both groups.
    fake.add_member("g-ops", "u-eve");
    fake.remove_member("g-eng", "u-cid");
    mirror.sync(&source).await.unwrap();
    assert_eq!(
        mirror.active().keys().cloned().collect::<BTreeSet<_>>(),
        set(&["u-bob", "u-dee", "u-eve"])
    );
    assert_eq!(mirror.groups()["g-ops"].1, set(&["u-bob", "u-dee", "u-eve"]));
    assert!(fake.requests().iter().any(|r| r.path == "/v1.0/users/u-eve"));
}

#[tokio::test]
async fn scoping_filters_deactivate_users_leaving_scope() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let filters = r#"scoping_filters = [{ name = "has mail", clauses = [{ attribute = "mail", operator = "IS NOT NULL" }] }]"#;
    let source = source(&fake, filters);
    fake.patch_user("u-eve", json!({"mail": null}));
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    let has_mail =
        |_: &str, p: &serde_json::Map<String, serde_json::Value>| p.get("mail").is_some_and(|m| !m.is_null());
    let (users, _) = truth(&fake, true, has_mail);
    assert_eq!(mirror.active(), users);
    assert!(!mirror.users.contains_key("u-eve"));

    fake.patch_user("u-ann", json!({"mail": null}));
    fake.patch_user("u-eve", json!({"mail": "eve@contoso.example"}));
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    let (users, groups) = truth(&fake, true, has_mail);
    assert_eq!(mirror.active(), users);
    assert_eq!(mirror.groups(), groups);
    assert!(!mirror.users["u-ann"].1, "ann left the scope");
    let requests = fake.requests();
    let select = requests
        .iter()
        .find(|r| r.path == "/v1.0/users/delta" && r.param("$select").is_some())
        .unwrap();
    assert!(select.param("$select").unwrap().split(',').any(|p| p == "mail"));
}

#[tokio::test]
async fn removed_objects_in_the_initial_round_are_ignored() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    fake.soft_delete_user("u-eve");
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    assert!(!mirror.users.contains_key("u-eve"));
    assert_matches_truth(&fake, &mirror, true).await;
}

#[tokio::test]
async fn full_resync_is_forced_on_request_and_when_the_mapping_changes() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let mut mirror = Mirror::default();
    let first = source(&fake, "");
    mirror.sync(&first).await.unwrap();
    assert_eq!(mirror.sync_with(&first, true).await.unwrap(), "snapshot");
    let remapped = source(&fake, "mapping.email = \"[userPrincipalName]\"");
    assert_eq!(mirror.sync(&remapped).await.unwrap(), "snapshot");
    assert_eq!(mirror.sync(&remapped).await.unwrap(), "changes");
}

#[tokio::test]
async fn expired_and_reset_delta_state_falls_back_to_a_full_sync() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    fake.hard_delete_user("u-eve");
    fake.expire_delta_tokens();
    assert_eq!(mirror.sync(&source).await.unwrap(), "snapshot");
    assert_matches_truth(&fake, &mirror, true).await;

    fake.patch_user("u-ann", json!({"jobTitle": "CEO"}));
    fake.reset_sync();
    assert_eq!(mirror.sync(&source).await.unwrap(), "snapshot");
    assert_matches_truth(&fake, &mirror, true).await;
    assert!(fake.requests().iter().any(|r| r.status == 410));
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    let _ = Route::Any;
}
