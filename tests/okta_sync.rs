//! Scenario tests of the Okta connector against the fake Okta org: full and incremental syncs
//! across org changes, scope, authentication, and the wire details (filters, paging).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use idsync_fakes::mirror::Mirror;
use idsync_fakes::okta::support::{parse_config, seed, source, truth, TEST_KEYS};
use idsync_fakes::okta::{profile, FakeOkta, Route, CLIENT_ID};
use idsync_okta::OktaSource;
use serde_json::json;

/// A change to the org, named.
type Step = Box<dyn Fn(&FakeOkta)>;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_matches_truth(fake: &FakeOkta, mirror: &Mirror) {
    let (users, groups) = truth(fake, &[], |_, _, _| true);
    assert_eq!(mirror.active(), users, "active users");
    assert_eq!(mirror.groups(), groups, "groups");
}

#[tokio::test]
async fn initial_sync_reads_every_user_and_page_with_a_filter() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    assert_eq!(mirror.sync(&source).await.unwrap(), "snapshot");
    assert_matches_truth(&fake, &mirror);

    // DEPROVISIONED users come through the filter, disabled; STAGED ones are provisioned.
    assert!(!mirror.record("00udee").enabled);
    assert!(mirror.record("00ueve").enabled);
    assert!(mirror.record("00ufay").enabled, "LOCKED_OUT stays active");
    let ann = mirror.record("00uann");
    assert_eq!(ann.upn, "ann@example.com");
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
    assert_eq!(ann.display_name.as_deref(), Some("Ann A."));
    assert_eq!(ann.given_name.as_deref(), Some("Ann"));
    assert_eq!(ann.family_name.as_deref(), Some("Archer"));
    assert_eq!(ann.job_title.as_deref(), Some("Engineer"));
    assert_eq!(ann.department.as_deref(), Some("R&D"));
    assert_eq!(ann.preferred_language.as_deref(), Some("en-US"));
    assert_eq!(
        mirror.record("00ubob").display_name.as_deref(),
        Some("Bob Baker"),
        "no displayName: first and last name"
    );
    // Everyone (BUILT_IN) is not synced unless listed; APP_GROUPs are.
    let groups = mirror.groups();
    assert_eq!(
        groups.keys().cloned().collect::<BTreeSet<_>>(),
        set(&["00gad", "00geng", "00gops"])
    );
    assert_eq!(groups["00geng"].1, set(&["00uann", "00ubob", "00udee"]));

    let requests = fake.requests();
    let users: Vec<_> = requests.iter().filter(|r| r.path == "/api/v1/users").collect();
    assert_eq!(users.len(), 3, "six users at two per page");
    assert!(users[0].param("filter").unwrap().starts_with("lastUpdated gt \""));
    assert!(users[1].param("after").is_some(), "the next link was followed");
    assert!(requests
        .iter()
        .all(|r| r.header("authorization").unwrap().starts_with("SSWS ")));
    assert!(
        !requests
            .iter()
            .any(|r| r.path == "/api/v1/groups/00geveryone0000000001/users"),
        "Everyone's members are not read"
    );
}

#[tokio::test]
async fn incremental_syncs_follow_the_org_and_the_full_reconcile_catches_deletions() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    // A run dates its start a second before the org's first `Date` (whole seconds): let the
    // seed age past that, so the no-change run below has truly nothing to re-read.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();

    // Nothing changed: nothing to say.
    fake.clear_log();
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    let requests = fake.requests();
    assert!(requests
        .iter()
        .all(|r| !r.path.ends_with("/users") || r.path == "/api/v1/users"));
    let groups_query = requests.iter().find(|r| r.path == "/api/v1/groups").unwrap();
    assert!(groups_query
        .param("filter")
        .unwrap()
        .contains("or lastMembershipUpdated gt"));

    let steps: Vec<(&str, Step)> = vec![
        (
            "profile change",
            Box::new(|f| f.update_profile("00ubob", json!({"title": "Lead", "lastName": "Baker-Smith"}))),
        ),
        (
            "login rename",
            Box::new(|f| f.update_profile("00ubob", json!({"login": "robert@example.com"}))),
        ),
        (
            "deactivate",
            Box::new(|f| f.set_status("00uann", "DEPROVISIONED")),
        ),
        ("suspend", Box::new(|f| f.set_status("00ucid", "SUSPENDED"))),
        (
            "reactivate",
            Box::new(|f| {
                f.set_status("00uann", "ACTIVE");
                f.set_status("00udee", "PROVISIONED");
            }),
        ),
        ("unsuspend", Box::new(|f| f.set_status("00ucid", "ACTIVE"))),
        (
            "membership add and remove",
            Box::new(|f| {
                f.add_member("00gops", "00ubob");
                f.remove_member("00geng", "00uann");
            }),
        ),
        (
            "group rename",
            Box::new(|f| f.rename_group("00gops", "Operations & Support")),
        ),
        (
            "new user and group",
            Box::new(|f| {
                f.add_user("00ugus", "ACTIVE", profile("gus@example.com", "Gus", "Gray"));
                f.add_group("00gnew", "New team", "OKTA_GROUP");
                f.add_member("00gnew", "00ugus");
            }),
        ),
    ];
    for (name, step) in steps {
        step(&fake);
        assert_eq!(mirror.sync(&source).await.unwrap(), "changes", "{name}");
        assert_matches_truth(&fake, &mirror);
    }
    assert_eq!(mirror.record("00ubob").upn, "robert@example.com");
    assert_eq!(mirror.record("00ubob").job_title.as_deref(), Some("Lead"));
    assert_eq!(mirror.groups()["00gops"].0, "Operations & Support");

    // Hard deletions are invisible to incremental queries...
    fake.delete_user("00ufay");
    fake.delete_group("00gnew");
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    assert!(mirror.active().contains_key("00ufay"));
    assert!(mirror.groups().contains_key("00gnew"));
    // ...until a full reconcile (`resync --full`, or the periodic one).
    assert_eq!(mirror.sync_with(&source, true).await.unwrap(), "snapshot");
    assert_matches_truth(&fake, &mirror);
    let always_full = idsync_fakes::okta::support::source(&fake, "full_sync_interval_hours = 0");
    fake.delete_user("00ugus");
    assert_eq!(mirror.sync(&always_full).await.unwrap(), "snapshot");
    assert_matches_truth(&fake, &mirror);
}

#[tokio::test]
async fn overlap_rereads_recent_changes_harmlessly() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    let source = source(&fake, "overlap_secs = 300");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    fake.update_profile("00ubob", json!({"title": "Lead"}));
    fake.clear_log();
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    assert_matches_truth(&fake, &mirror);
    let users = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/users")
        .unwrap();
    let from = users.param("filter").unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(
        from.trim_start_matches("lastUpdated gt \"").trim_end_matches('"'),
    )
    .unwrap();
    assert!(
        chrono::Utc::now().signed_duration_since(t).num_seconds() >= 299,
        "{from}"
    );
}

#[tokio::test]
async fn scope_by_listed_groups_filters_and_staged_switch() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    let everyone = "00geveryone0000000001";
    // Listed groups: Engineering by name, Everyone (BUILT_IN) by id.
    let source = source(
        &fake,
        &format!("groups = [\"engineering\", \"{everyone}\"]\nsync_staged_users = false"),
    );
    let in_scope = |_: &str, status: &str, _: &serde_json::Map<String, serde_json::Value>| status != "STAGED";
    let listed = ["engineering", everyone];
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    let (users, groups) = truth(&fake, &listed, in_scope);
    assert_eq!(mirror.active(), users);
    assert_eq!(mirror.groups(), groups);
    assert!(!mirror.users.contains_key("00ueve"), "STAGED users are left out");
    assert!(groups.contains_key(everyone));

    // Only Engineering: leaving it leaves the scope, joining enters it.
    let source = idsync_fakes::okta::support::source(&fake, "groups = [\"Engineering\"]");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    let check = |mirror: &Mirror| {
        let (users, groups) = truth(&fake, &["Engineering"], |_, _, _| true);
        assert_eq!(mirror.active(), users);
        assert_eq!(mirror.groups(), groups);
    };
    check(&mirror);
    fake.remove_member("00geng", "00ubob");
    fake.add_member("00geng", "00ucid");
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    check(&mirror);
    assert!(!mirror.active().contains_key("00ubob"));
    assert!(mirror.active().contains_key("00ucid"));

    // Scoping filters over the profile: Ann leaves R&D, then returns.
    let source = idsync_fakes::okta::support::source(
        &fake,
        r#"scoping_filters = [{ name = "R&D", clauses = [{ attribute = "department", operator = "EQUALS", value = "R&D" }] }]"#,
    );
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    assert_eq!(
        mirror.active().keys().cloned().collect::<BTreeSet<_>>(),
        set(&["00uann"])
    );
    fake.update_profile("00uann", json!({"department": "Sales"}));
    mirror.sync(&source).await.unwrap();
    assert!(mirror.active().is_empty());
    assert!(mirror.groups()["00geng"].1.is_empty());
    fake.update_profile("00uann", json!({"department": "R&D"}));
    mirror.sync(&source).await.unwrap();
    assert_eq!(
        mirror.active().keys().cloned().collect::<BTreeSet<_>>(),
        set(&["00uann"])
    );
    assert_eq!(mirror.groups()["00geng"].1, set(&["00uann"]));
}

fn oauth_source(fake: &FakeOkta, key_pem: &str) -> (OktaSource, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, key_pem).unwrap();
    let text = format!(
        "org_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nprivate_key_path = \"{}\"\n{TEST_KEYS}\noverlap_secs = 0\n",
        fake.org_url(),
        key.display()
    );
    (OktaSource::new("okta", parse_config(&text)), dir)
}

#[tokio::test]
async fn service_app_tokens_with_rsa_and_ec_keys_are_cached_and_renewed() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    for key in [idsync_fakes::okta::RSA_KEY_PEM, idsync_fakes::okta::EC_KEY_PEM] {
        let before = fake.token_requests();
        let (source, _dir) = oauth_source(&fake, key);
        let mut mirror = Mirror::default();
        mirror.sync(&source).await.unwrap();
        mirror.sync(&source).await.unwrap();
        assert_matches_truth(&fake, &mirror);
        assert_eq!(fake.token_requests() - before, 1, "one token for both runs");
        // A rejected token is renewed once.
        fake.revoke_tokens();
        fake.update_profile("00ubob", json!({"title": format!("t{before}")}));
        mirror.sync(&source).await.unwrap();
        assert_matches_truth(&fake, &mirror);
        assert_eq!(fake.token_requests() - before, 2);
    }
    let requests = fake.requests();
    assert!(requests
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .any(|r| r.header("authorization").unwrap().starts_with("Bearer ")));

    // A rate-limited token request waits for the reset.
    fake.settings(|s| s.rate_limit = Some((1000, 1)));
    fake.inject(Route::Token, idsync_fakes::okta::Fault::TooManyRequests);
    let (source, _dir) = oauth_source(&fake, idsync_fakes::okta::EC_KEY_PEM);
    Mirror::default().sync(&source).await.unwrap();
    assert_eq!(fake.pending_faults(), 0);

    // An unknown key: the token endpoint refuses the assertion.
    let (stranger, _dir) = oauth_source(&fake, idsync_fakes::okta::OTHER_KEY_PEM);
    let err = Mirror::default().sync(&stranger).await.unwrap_err();
    assert!(err.needs_operator(), "{err}");
    assert!(err.to_string().contains("/oauth2/v1/token"), "{err}");
    assert!(err.to_string().contains("invalid_client"), "{err}");

    // Missing scope grant.
    fake.settings(|s| s.granted_scopes = vec!["okta.users.read".into()]);
    let (source, _dir) = oauth_source(&fake, idsync_fakes::okta::RSA_KEY_PEM);
    let err = Mirror::default().sync(&source).await.unwrap_err();
    assert!(err.to_string().contains("invalid_scope"), "{err}");
}

#[tokio::test]
async fn the_fake_hides_deprovisioned_users_and_rejects_unsupported_filters() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    fake.settings(|s| s.max_page = 200);
    let http = reqwest::Client::new();
    let get = |query: &str| {
        let url = format!("{}/api/v1/users?{query}", fake.org_url());
        let request = http
            .get(url)
            .header("authorization", format!("SSWS {}", idsync_fakes::okta::API_TOKEN));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let link = response.headers().get_all("link").iter().count();
            (status, link, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, links, body) = get("limit=200").await;
    assert_eq!((status, links), (200, 1));
    assert!(body
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["status"] != "DEPROVISIONED"));
    let (_, _, body) = get("limit=200&search=status%20eq%20%22DEPROVISIONED%22").await;
    assert_eq!(body.as_array().unwrap().len(), 1);
    for bad in [
        "filter=profile.department%20eq%20%22R%26D%22",
        "filter=status%20ne%20%22ACTIVE%22",
        "filter=lastUpdated%20gt%20%22yesterday%22",
        "filter=lastUpdated%20gt",
    ] {
        let (status, _, body) = get(bad).await;
        assert_eq!(
            (status, body["errorCode"].as_str()),
            (400, Some("E0000031")),
            "{bad}"
        );
    }
    let (status, _, body) = get("limit=1&after=made-up").await;
    assert_eq!(status, 400, "{body}");
}
