//! Fault tests of the Google Workspace connector: throttling (429 with Retry-After, 403
//! rate-limit reasons), 5xx, a revoked token, JWT grants the token endpoint refuses, broken
//! pages, and an empty user list, which must reach the store only through the deletion
//! guard. After each step the result is compared with the fake's directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use idsync::config::Config;
use idsync::connectors;
use idsync::reconcile::{self, Outcome, RunOptions, RunProgress};
use idsync::store;
use idsync_fakes::google::support::{config_text, key_file, parse_config, seed, source, truth};
use idsync_fakes::google::{
    backend_error, error, rate_limited, too_many_requests, FakeGoogle, OTHER_KEY_PEM, USERS,
};
use idsync_fakes::mirror::Mirror;
use idsync_fakes::server::{Fault, Reply};
use idsync_google::GoogleSource;
use idsync_source::{Source, SourceError};
use support::binary::{load_tables, Tables};

fn assert_matches(fake: &FakeGoogle, mirror: &Mirror, step: &str) {
    let (users, groups) = truth(fake, &[], true, |_| true);
    assert_eq!(mirror.active(), users, "active users after {step}");
    assert_eq!(mirror.groups(), groups, "groups after {step}");
}

async fn synced(fake: &FakeGoogle) -> (GoogleSource, Mirror) {
    seed(fake);
    let source = source(fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    assert_matches(fake, &mirror, "the first sync");
    (source, mirror)
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let fake = FakeGoogle::start().await;
    let (source, mut mirror) = synced(&fake).await;
    fake.delete_user("u-dee");

    // 429 with Retry-After: the pause asked for, then the same page again.
    fake.inject(USERS, too_many_requests("0.3"), 1);
    let started = Instant::now();
    mirror.sync(&source).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "Retry-After honoured"
    );
    assert_matches(&fake, &mirror, "a 429");

    // 403 with each rate-limit reason, and 5xx.
    for reason in ["userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"] {
        fake.inject("/admin/directory/v1/groups", rate_limited(reason), 1);
    }
    fake.inject(USERS, backend_error(), 2);
    fake.inject("/admin/directory/v1/groups/g-eng/members", backend_error(), 1);
    fake.update_user("u-bob", serde_json::json!({"suspended": true}));
    mirror.sync(&source).await.unwrap();
    assert_eq!(fake.server.pending_faults(), 0);
    assert_matches(&fake, &mirror, "403 rate limits and 503s");
    let faulted = fake.requests().iter().filter(|r| r.fault.is_some()).count();
    assert_eq!(faulted, 7);
}

#[tokio::test]
async fn retries_give_up_with_googles_reason() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let source = source(&fake, "retry.max_attempts = 3");
    fake.inject(USERS, rate_limited("userRateLimitExceeded"), 3);
    let err = Mirror::default().sync(&source).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("userRateLimitExceeded: Rate Limit Exceeded"),
        "{text}"
    );
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert!(!err.needs_operator());

    // A 403 without a rate-limit reason is not retried: the delegation lacks a right.
    let forbidden = error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Not Authorized to access this resource/api",
    );
    fake.inject(USERS, forbidden, 1);
    let before = fake.requests().len();
    let err = Mirror::default().sync(&source).await.unwrap_err();
    assert!(err.needs_operator(), "{err}");
    assert!(err.to_string().contains("forbidden: Not Authorized"), "{err}");
    assert_eq!(fake.requests().len(), before + 1, "one request, no retry");
}

#[tokio::test]
async fn a_rejected_token_is_renewed_once() {
    let fake = FakeGoogle::start().await;
    let (source, mut mirror) = synced(&fake).await;
    assert_eq!(fake.token_requests(), 1);
    fake.revoke_tokens();
    fake.delete_user("u-cid");
    mirror.sync(&source).await.unwrap();
    assert_eq!(fake.token_requests(), 2, "one renewal");
    assert_matches(&fake, &mirror, "a renewal");

    // A 401 that a new token does not cure fails the run as a credentials problem.
    let unauthorized = error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
    fake.inject(USERS, unauthorized, 2);
    let err = mirror.sync(&source).await.unwrap_err();
    assert!(
        matches!(err, SourceError::Credentials { status: 401, .. }),
        "{err}"
    );
    assert_eq!(fake.token_requests(), 3, "renewed once, not again");
    assert_matches(&fake, &mirror, "a failed run");
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_grants() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    // Not the delegated admin.
    let wrong_subject =
        config_text(&fake, "").replace("subject = \"admin@example.com\"", "subject = \"eve@example.com\"");
    let impostor = GoogleSource::new("google", parse_config(&wrong_subject));
    let err = Mirror::default().sync(&impostor).await.unwrap_err();
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    assert!(err.needs_operator());

    // Signed with a key the service account does not have.
    let text = format!(
        "service_account_key = {:?}\nsubject = \"admin@example.com\"\ndirectory_url = \"{}\"\n",
        key_file(&fake, OTHER_KEY_PEM),
        fake.url()
    );
    let other_key = GoogleSource::new("google", parse_config(&text));
    let err = Mirror::default().sync(&other_key).await.unwrap_err();
    assert!(err.to_string().contains("Invalid JWT Signature"), "{err}");

    // Delegation granted without the member scope.
    fake.state().settings.granted_scopes.pop();
    let fresh = source(&fake, "");
    let err = fresh.check().await.unwrap_err();
    assert!(err.to_string().contains("unauthorized_client"), "{err}");
    assert!(
        fake.requests().iter().all(|r| r.path == "/token"),
        "no API request without a token"
    );
}

#[tokio::test]
async fn a_broken_page_fails_the_run_and_changes_nothing() {
    let fake = FakeGoogle::start().await;
    let (source, mut mirror) = synced(&fake).await;
    let before = (mirror.active(), mirror.groups());
    fake.delete_user("u-ann");
    fake.delete_user("u-bob");

    // A 200 whose JSON stops half way, on the second page of users.
    let truncated = Reply::new(StatusCode::OK)
        .header("content-type", "application/json")
        .body(r#"{"users":[{"id":"u-cid","primaryEmail":"cid@exa"#);
    let second_page =
        idsync_fakes::server::When::matching(|r| r.path == USERS && r.param("pageToken").is_some());
    fake.server.inject(second_page, Fault::reply(truncated));
    let err = mirror.sync(&source).await.unwrap_err();
    assert!(err.to_string().contains("does not parse"), "{err}");
    assert_eq!(
        (mirror.active(), mirror.groups()),
        before,
        "nothing reached the fold"
    );

    // A members list that fails for good: no snapshot either.
    fake.inject_prefix(
        "/admin/directory/v1/groups/g-sales/members",
        Fault::reply(error(StatusCode::BAD_REQUEST, "invalid", "Invalid Input")),
        1,
    );
    assert!(mirror.sync(&source).await.is_err());
    assert_eq!((mirror.active(), mirror.groups()), before);

    // A connection dropped mid-body is retried; the run then completes.
    let cut = Reply::new(StatusCode::OK).body(r#"{"users":[{"id":"#);
    fake.inject_prefix(USERS, Fault::drop_after(cut), 1);
    mirror.sync(&source).await.unwrap();
    assert_matches(&fake, &mirror, "the run after the faults");
}

/// The store's active users (external id -> upn) and groups (external id -> active members;
/// deactivated users keep their memberships, which the application does not show).
async fn tables(url: &store::DatabaseUrl) -> (BTreeMap<String, String>, BTreeMap<String, BTreeSet<String>>) {
    let Tables { active, groups, .. } = load_tables(url, "google").await;
    let groups = groups
        .into_iter()
        .map(|(id, (_, members))| {
            let members = members.into_iter().filter(|e| active.contains_key(e)).collect();
            (id, members)
        })
        .collect();
    (active, groups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_user_list_is_held_by_the_guard() {
    let fake = FakeGoogle::start().await;
    seed(&fake);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("idsync.db");
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n[[connectors]]\nname = \"google\"\nkind = \"google\"\n{}",
        db.display(),
        config_text(&fake, "")
    );
    let path = dir.path().join("idsync.toml");
    let config = Config::parse(&text, &path, Vec::new()).unwrap();
    let store = store::Store::open(&config.database);
    store.migrate().await.unwrap();
    let connector = connectors::build(&config.connectors[0]);
    let progress = RunProgress::hidden();
    let run = || reconcile::run_once(&store, &connector, RunOptions::default(), &progress);

    let report = run().await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
    let (users, groups) = truth(&fake, &[], true, |_| true);
    let truth_groups: BTreeMap<String, BTreeSet<String>> =
        groups.into_iter().map(|(id, (_, m))| (id, m)).collect();
    assert_eq!(
        tables(&config.database).await,
        (users.clone(), truth_groups.clone())
    );

    // The customer answers with no users at all (every page complete, just empty).
    let empty = Reply::json(
        StatusCode::OK,
        &serde_json::json!({"kind": "admin#directory#users"}),
    );
    fake.inject(USERS, empty, 1);
    let report = run().await;
    assert!(
        matches!(report.outcome, Outcome::Held { .. }),
        "{}",
        report.summary()
    );
    assert_eq!(tables(&config.database).await.0, users, "nobody was deactivated");

    // The next complete answer applies as usual.
    fake.delete_user("u-eve");
    let report = run().await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
    let (users, groups) = truth(&fake, &[], true, |_| true);
    let truth_groups: BTreeMap<String, BTreeSet<String>> =
        groups.into_iter().map(|(id, (_, m))| (id, m)).collect();
    assert_eq!(tables(&config.database).await, (users, truth_groups));
}
