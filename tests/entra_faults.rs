//! Throttling, faults and authentication of the Entra connector against the fake Graph server.
//! A fault that survives the retries fails the run: the change set is not returned and the
//! cursor stays where it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime};

use idsync_entra::EntraSource;
use idsync_fakes::graph::support::{config_text, parse_config, seed, source, truth, FAST_RETRY};
use idsync_fakes::graph::{FakeGraph, Fault, Route, CLIENT_SECRET};
use idsync_fakes::mirror::Mirror;
use serde_json::json;

/// The pause between the throttled request and the retry that followed it.
fn pause_after_fault(fake: &FakeGraph) -> Duration {
    let log = fake.requests();
    let i = log.iter().position(|r| r.fault.is_some()).unwrap();
    let retry = log[i + 1..].iter().find(|r| r.path == log[i].path).unwrap();
    retry.at - log[i].at
}

#[tokio::test]
async fn retry_after_in_seconds_fractions_and_dates_is_honoured() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();

    fake.inject(Route::UsersDelta, Fault::Throttle(Some("1".into())));
    mirror.sync(&source).await.unwrap();
    let pause = pause_after_fault(&fake);
    assert!(
        pause >= Duration::from_secs(1) && pause < Duration::from_millis(1600),
        "{pause:?}"
    );
    let retried = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1.0/users/delta" && r.fault.is_none())
        .unwrap();
    assert_eq!(retried.status, 200);

    fake.clear_log();
    fake.inject(Route::GroupsDelta, Fault::Throttle(Some("0.75".into())));
    mirror.sync(&source).await.unwrap();
    let pause = pause_after_fault(&fake);
    assert!(
        pause >= Duration::from_millis(750) && pause < Duration::from_millis(1300),
        "{pause:?}"
    );

    fake.clear_log();
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    fake.inject(Route::Graph, Fault::Unavailable(Some(date)));
    mirror.sync(&source).await.unwrap();
    let pause = pause_after_fault(&fake);
    // An HTTP date has whole-second precision.
    assert!(
        pause >= Duration::from_millis(900) && pause < Duration::from_millis(2600),
        "{pause:?}"
    );
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
}

#[tokio::test]
async fn throttling_without_retry_after_backs_off_and_gives_up_at_the_cap() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    fake.inject_n(Route::UsersDelta, Fault::Throttle(None), 2);
    fake.inject(Route::GroupsDelta, Fault::GatewayTimeout);
    mirror.sync(&source).await.unwrap();
    let (users, _) = truth(&fake, true, |_, _| true);
    assert_eq!(mirror.active(), users);

    // More faults than attempts: the run fails, naming the URL and the status.
    let cursor = mirror.cursor.clone();
    fake.patch_user("u-ann", json!({"jobTitle": "Chief"}));
    fake.inject_n(Route::UsersDelta, Fault::Throttle(Some("0.01".into())), 10);
    let err = mirror.sync(&source).await.unwrap_err().to_string();
    assert!(err.contains("/v1.0/users/delta"), "{err}");
    assert!(err.contains("HTTP 429"), "{err}");
    assert!(err.contains("gave up after 6 attempts"), "{err}");
    assert_eq!(mirror.cursor, cursor, "the cursor stays where it was");
    assert_eq!(mirror.record("u-ann").job_title.as_deref(), Some("Engineer"));
}

#[tokio::test]
async fn bodies_that_do_not_parse_and_dropped_connections_fail_the_run() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    let before = (mirror.active(), mirror.groups(), mirror.cursor.clone());
    fake.hard_delete_user("u-eve");

    fake.inject(Route::UsersDelta, Fault::Truncated);
    let err = mirror.sync(&source).await.unwrap_err().to_string();
    assert!(
        err.contains("/v1.0/users/delta") && err.contains("HTTP 200") && err.contains("does not parse"),
        "{err}"
    );

    fake.inject(Route::GroupsDelta, Fault::ConnectionReset);
    let err = mirror.sync(&source).await.unwrap_err().to_string();
    assert!(err.contains("/v1.0/groups/delta"), "{err}");

    fake.inject(Route::Graph, Fault::InternalError);
    let err = mirror.sync(&source).await.unwrap_err().to_string();
    assert!(
        err.contains("HTTP 500") && err.contains("generalException"),
        "{err}"
    );
    assert_eq!((mirror.active(), mirror.groups(), mirror.cursor.clone()), before);

    // An empty but valid page is followed like any other.
    fake.inject(Route::UsersDelta, Fault::EmptyPage);
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    assert!(!mirror.users["u-eve"].1);
}

#[tokio::test]
async fn a_rejected_token_is_renewed_once_then_the_run_fails() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    assert_eq!(fake.token_requests(), 1);

    fake.revoke_tokens();
    mirror.sync(&source).await.unwrap();
    assert_eq!(fake.token_requests(), 2, "renewed after the 401");

    fake.inject_n(Route::UsersDelta, Fault::Unauthorized, 2);
    let err = mirror.sync(&source).await.unwrap_err();
    assert!(err.needs_operator());
    let text = err.to_string();
    assert!(text.starts_with("credentials rejected by"), "{text}");
    assert!(
        text.contains("HTTP 401") && text.contains("InvalidAuthenticationToken"),
        "{text}"
    );
}

#[tokio::test]
async fn tokens_are_cached_and_renewed_before_they_expire() {
    let fake = FakeGraph::start().await;
    fake.settings(|s| s.token_lifetime_secs = 2);
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    mirror.sync(&source).await.unwrap();
    mirror.sync(&source).await.unwrap();
    assert_eq!(fake.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1900)).await;
    mirror.sync(&source).await.unwrap();
    assert_eq!(
        fake.token_requests(),
        2,
        "renewed within the margin, before expiry"
    );
    assert!(fake.requests().iter().all(|r| r.status != 401));
}

fn cert_source(fake: &FakeGraph, cert: &str, key: &str) -> EntraSource {
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    let text = config_text(
        fake,
        &format!(
            "certificate_path = \"{}\"\nprivate_key_path = \"{}\"\n{FAST_RETRY}",
            dir.join("cert.pem").display(),
            dir.join("key.pem").display()
        ),
    );
    EntraSource::new("entra", parse_config(&text))
}

#[tokio::test]
async fn certificate_and_secret_authentication() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    let mut mirror = Mirror::default();
    let by_cert = cert_source(
        &fake,
        idsync_fakes::graph::TEST_CERT_PEM,
        idsync_fakes::graph::TEST_KEY_PEM,
    );
    mirror.sync(&by_cert).await.unwrap();
    assert_eq!(mirror.active().len(), 5);

    // A certificate the app does not know, and a wrong secret, are credential errors.
    let stranger = cert_source(
        &fake,
        idsync_fakes::graph::OTHER_CERT_PEM,
        idsync_fakes::graph::OTHER_KEY_PEM,
    );
    let err = Mirror::default().sync(&stranger).await.unwrap_err();
    assert!(err.needs_operator(), "{err}");
    assert!(err.to_string().contains("invalid_client"), "{err}");
    let text = config_text(
        &fake,
        &format!("client_secret = \"not-{CLIENT_SECRET}\"\n{FAST_RETRY}"),
    );
    let wrong = EntraSource::new("entra", parse_config(&text));
    let err = Mirror::default().sync(&wrong).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/oauth2/v2.0/token") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!text.contains(CLIENT_SECRET), "no secret in errors");
}

#[tokio::test]
async fn one_request_in_flight_unless_configured() {
    let fake = FakeGraph::start().await;
    seed(&fake);
    for i in 0..40 {
        fake.put_user(
            &format!("u-x{i:02}"),
            idsync_fakes::graph::user_props(&format!("x{i}@contoso.example"), "X", "Y"),
        );
    }
    let mut mirror = Mirror::default();
    mirror.sync(&source(&fake, "")).await.unwrap();
    assert_eq!(fake.max_in_flight(), 1);

    fake.clear_log();
    let started = Instant::now();
    Mirror::default()
        .sync(&source(&fake, "max_concurrency = 2"))
        .await
        .unwrap();
    assert!(fake.max_in_flight() <= 2);
    assert!(started.elapsed() < Duration::from_secs(5));
}
