//! Scenario tests of the Google Workspace connector against the fake Directory API: full
//! snapshots across directory changes, group scope, nesting, EXTERNAL members, custom
//! schemas and scoping filters, and the wire details (paging, `fields`, the JWT grant). After
//! each step the folded result must equal the fake's directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use idsync_fakes::google::support::{person, seed, source, truth};
use idsync_fakes::google::{FakeGoogle, GROUPS, SCOPES, USERS};
use idsync_fakes::mirror::Mirror;
use idsync_source::Source;
use serde_json::json;

type Step = Box<dyn Fn(&FakeGoogle)>;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_matches(fake: &FakeGoogle, mirror: &Mirror, groups: &[&str], flatten: bool, step: &str) {
    let (users, groups) = truth(fake, groups, flatten, |_| true);
    assert_eq!(mirror.active(), users, "active users after {step}");
    assert_eq!(mirror.groups(), groups, "groups after {step}");
}

#[tokio::test]
async fn first_sync_reads_every_page_with_narrow_fields() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    assert_eq!(mirror.sync(&source).await.unwrap(), "snapshot");
    assert_matches(&fake, &mirror, &[], true, "the first sync");

    let ann = mirror.record("u-ann");
    assert_eq!(ann.upn, "ann@example.com");
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
    assert_eq!(ann.display_name.as_deref(), Some("Ann Archer"));
    assert_eq!(ann.given_name.as_deref(), Some("Ann"));
    assert_eq!(ann.family_name.as_deref(), Some("Archer"));
    assert_eq!(
        ann.job_title.as_deref(),
        Some("Engineer"),
        "the primary organization"
    );
    assert_eq!(ann.department.as_deref(), Some("R&D"));
    assert_eq!(ann.preferred_language.as_deref(), Some("en-GB"));
    // Nested groups are flattened, and the eng <-> platform cycle ends.
    let groups = mirror.groups();
    assert_eq!(groups["g-eng"].1, set(&["u-ann", "u-bob"]));
    assert_eq!(groups["g-platform"].1, set(&["u-ann", "u-bob"]));
    assert_eq!(
        groups["g-all"].1,
        set(&["u-ann", "u-bob", "u-cid", "u-dee", "u-eve"])
    );
    assert_eq!(
        source.external_members_skipped(),
        1,
        "the EXTERNAL member of Sales"
    );

    let requests = fake.requests();
    let users: Vec<_> = requests.iter().filter(|r| r.path == USERS).collect();
    assert_eq!(users.len(), 3, "five users at two per page");
    assert_eq!(users[0].param("customer"), Some("my_customer"));
    assert_eq!(users[0].param("maxResults"), Some("500"));
    assert_eq!(users[0].param("projection"), Some("basic"));
    assert_eq!(users[0].param("showDeleted"), Some("false"));
    assert_eq!(
        users[0].param("fields"),
        Some("nextPageToken,users(archived,id,languages,name,organizations,primaryEmail,suspended)")
    );
    assert_eq!(users[1].param("pageToken"), Some("tok-2"));
    let groups_requests: Vec<_> = requests.iter().filter(|r| r.path == GROUPS).collect();
    assert_eq!(groups_requests[0].param("maxResults"), Some("200"));
    assert!(requests.iter().filter(|r| r.path != "/token").all(|r| r
        .header("authorization")
        .unwrap()
        .starts_with("Bearer ya29.fake-")));
    assert_eq!(fake.token_requests(), 1, "the token is cached");
    assert!(SCOPES.iter().all(|s| s.ends_with("readonly")));
}

#[tokio::test]
async fn every_step_of_the_directory_is_followed() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    let steps: Vec<(&str, Step)> = vec![
        (
            "a rename and a new title",
            Box::new(|f| {
                let mut p = person("Robert", "Baker", "Lead", "R&D", "/Engineering");
                p["primaryEmail"] = json!("robert@example.com");
                f.update_user("u-bob", p);
            }),
        ),
        (
            "suspend",
            Box::new(|f| f.update_user("u-cid", json!({"suspended": true}))),
        ),
        (
            "archive",
            Box::new(|f| f.update_user("u-dee", json!({"archived": true}))),
        ),
        (
            "reactivate",
            Box::new(|f| {
                f.update_user("u-cid", json!({"suspended": false}));
                f.update_user("u-dee", json!({"archived": false}));
            }),
        ),
        ("delete a user", Box::new(|f| f.delete_user("u-ann"))),
        (
            "membership add and remove",
            Box::new(|f| {
                f.add_member("g-sales", "USER", "u-eve");
                f.remove_member("g-sales", "u-cid");
            }),
        ),
        (
            "new user and group, group deleted",
            Box::new(|f| {
                f.add_user(
                    "u-gus",
                    "gus@example.com",
                    person("Gus", "Gray", "Intern", "Ops", "/"),
                );
                f.add_group("g-new", "new@example.com", "New team");
                f.add_member("g-new", "USER", "u-gus");
                f.delete_group("g-platform");
            }),
        ),
    ];
    for (name, step) in steps {
        step(&fake);
        assert_eq!(mirror.sync(&source).await.unwrap(), "snapshot", "{name}");
        assert_matches(&fake, &mirror, &[], true, name);
    }
    assert_eq!(mirror.record("u-bob").upn, "robert@example.com");
    assert_eq!(mirror.record("u-bob").job_title.as_deref(), Some("Lead"));
    assert!(!mirror.users["u-ann"].1, "a deleted user is no longer active");
}

#[tokio::test]
async fn a_group_filter_limits_users_and_groups_and_nesting_can_stay_direct() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    // By email and by id; flattened, Platform's Bob is in scope through Engineering.
    let listed = ["eng@example.com", "g-sales"];
    let flat = source(&fake, "groups = [\"eng@example.com\", \"g-sales\"]");
    let mut mirror = Mirror::default();
    mirror.sync(&flat).await.unwrap();
    assert_matches(&fake, &mirror, &listed, true, "the filtered sync");
    assert_eq!(
        mirror.groups().keys().cloned().collect::<BTreeSet<_>>(),
        set(&["g-eng", "g-sales"])
    );
    assert!(mirror.active().contains_key("u-bob"));
    assert!(!mirror.active().contains_key("u-eve"), "Eve is only in Everyone");

    let direct = source(
        &fake,
        "groups = [\"eng@example.com\", \"g-sales\"]\nnested_groups = \"direct\"",
    );
    let mut mirror = Mirror::default();
    mirror.sync(&direct).await.unwrap();
    assert_matches(&fake, &mirror, &listed, false, "the direct sync");
    assert_eq!(mirror.groups()["g-eng"].1, set(&["u-ann"]));
    assert!(!mirror.active().contains_key("u-bob"));
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.path == "/admin/directory/v1/groups/g-all/members"),
        "unlisted groups' members are not read"
    );

    // A listed group that does not exist is a configuration error.
    let missing = source(&fake, "groups = [\"nobody@example.com\"]");
    let err = Mirror::default().sync(&missing).await.unwrap_err();
    assert!(err.needs_operator(), "{err}");
}

#[tokio::test]
async fn custom_schemas_and_org_unit_filters_reach_the_mapping() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let extra = r#"
mapping.department = "Coalesce([customSchemas.HR.costCenter], [primaryOrganization.department])"
scoping_filters = [{ name = "not sales", clauses = [
    { attribute = "orgUnitPath", operator = "NOT EQUALS", value = "/Sales" },
] }]
"#;
    let source = source(&fake, extra);
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    let (users, _) = truth(&fake, &[], true, |u| u["orgUnitPath"] != "/Sales");
    assert_eq!(mirror.active(), users);
    assert!(!mirror.active().contains_key("u-cid"));
    assert_eq!(mirror.record("u-eve").department.as_deref(), Some("CC-7"));
    assert_eq!(mirror.record("u-ann").department.as_deref(), Some("R&D"));
    let groups = mirror.groups();
    assert_eq!(groups["g-sales"].1, set(&[]), "out-of-scope members are left out");
    let users = fake.requests().into_iter().find(|r| r.path == USERS).unwrap();
    assert_eq!(users.param("projection"), Some("custom"));
    assert_eq!(users.param("customFieldMask"), Some("HR"));
    assert!(users.param("fields").unwrap().contains("customSchemas"));
    assert!(users.param("fields").unwrap().contains("orgUnitPath"));

    // A user moved out of the filtered unit leaves; moved back, returns.
    fake.update_user("u-ann", json!({"orgUnitPath": "/Sales"}));
    mirror.sync(&source).await.unwrap();
    assert!(!mirror.active().contains_key("u-ann"));
    fake.update_user("u-ann", json!({"orgUnitPath": "/Engineering"}));
    mirror.sync(&source).await.unwrap();
    assert!(mirror.active().contains_key("u-ann"));
}

#[tokio::test]
async fn check_and_lookup_on_demand() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let said = source.check().await.unwrap();
    assert!(said.contains("listed 1 user(s)"), "{said}");
    let probe = fake.requests().into_iter().find(|r| r.path == USERS).unwrap();
    assert_eq!(probe.param("maxResults"), Some("1"));

    let found = source.fetch_user("bob@example.com").await.unwrap().unwrap();
    assert_eq!(found.record.external_id, "u-bob");
    assert!(found.in_scope && found.record.enabled);
    let by_id = source.fetch_user("u-cid").await.unwrap().unwrap();
    assert_eq!(by_id.record.upn, "cid@example.com");
    assert!(source.fetch_user("nobody@example.com").await.unwrap().is_none());
}
