//! Rate limits, faults and credentials of the Okta connector against the fake Okta org. A
//! fault fails the run: nothing is returned, and the cursor stays where it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use idsync_fakes::mirror::Mirror;
use idsync_fakes::okta::support::{seed, source, truth};
use idsync_fakes::okta::{profile, FakeOkta, Fault, Route};

fn assert_matches_truth(fake: &FakeOkta, mirror: &Mirror) {
    let (users, groups) = truth(fake, &[], |_, _, _| true);
    assert_eq!(mirror.active(), users, "active users");
    assert_eq!(mirror.groups(), groups, "groups");
}

fn add_people(fake: &FakeOkta, n: usize) {
    for i in 0..n {
        let login = format!("p{i:03}@example.com");
        fake.add_user(
            &format!("00up{i:03}"),
            "ACTIVE",
            profile(&login, "P", &format!("{i}")),
        );
    }
}

#[tokio::test]
async fn pacing_keeps_the_reserve_free_and_never_empties_the_bucket() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    add_people(&fake, 14);
    // Six requests per bucket per two seconds; the connector keeps half of them free.
    fake.settings(|s| s.rate_limit = Some((6, 2)));
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    let started = Instant::now();
    mirror.sync(&source).await.unwrap();
    let elapsed = started.elapsed();
    assert_matches_truth(&fake, &mirror);
    assert_eq!(fake.throttled(), 0, "no request hit an empty bucket");
    let user_pages = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/users")
        .count();
    assert_eq!(user_pages, 10);
    // Ten user pages at three per window: at least three waits for a reset.
    assert!(elapsed >= Duration::from_secs(3), "{elapsed:?}");
    println!("paced full sync of {user_pages} user pages: {elapsed:?}");
}

#[tokio::test]
async fn a_429_waits_until_the_bucket_resets_by_the_servers_clock() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    fake.settings(|s| s.rate_limit = Some((1000, 2)));
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    fake.inject(Route::Users, Fault::TooManyRequests);
    mirror.sync(&source).await.unwrap();
    assert_matches_truth(&fake, &mirror);
    let log = fake.requests();
    let i = log.iter().position(|r| r.fault.is_some()).unwrap();
    let retry = log[i + 1..].iter().find(|r| r.path == log[i].path).unwrap();
    let pause = retry.at - log[i].at;
    // X-Rate-Limit-Reset is at most two seconds away; the client adds one.
    assert!(
        pause >= Duration::from_millis(900) && pause < Duration::from_secs(4),
        "{pause:?}"
    );

    // A cap on the wait turns a long 429 into a failed run.
    let capped = idsync_fakes::okta::support::source(&fake, "retry.max_wait_secs = 0.1");
    fake.inject(Route::Users, Fault::TooManyRequests);
    let err = Mirror::default().sync(&capped).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HTTP 429") && text.contains("E0000047"), "{text}");
}

#[tokio::test]
async fn faults_fail_the_run_and_change_nothing() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();

    // A failed first run returns nothing at all.
    fake.inject(Route::Members, Fault::InternalError);
    assert!(mirror.sync(&source).await.is_err());
    assert!(mirror.users.is_empty() && mirror.cursor.is_none());
    mirror.sync(&source).await.unwrap();

    let cases = [
        (Route::Users, Fault::InternalError, Some("E0000009")),
        (Route::Groups, Fault::Unavailable, Some("HTTP 503")),
        (Route::Members, Fault::Truncated, Some("does not parse")),
        (Route::Users, Fault::ConnectionReset, None),
        (Route::Groups, Fault::Unauthorized, Some("E0000011")),
        (Route::Members, Fault::Forbidden, Some("E0000006")),
    ];
    for (n, (route, fault, expected)) in cases.into_iter().enumerate() {
        // Changes that touch every list, so the fault hits whichever route it is on.
        fake.set_status("00ubob", if n % 2 == 0 { "SUSPENDED" } else { "ACTIVE" });
        if n % 2 == 0 {
            fake.add_member("00gops", "00uann");
        } else {
            fake.remove_member("00gops", "00uann");
        }
        let (users, groups, cursor) = (mirror.users.clone(), mirror.groups(), mirror.cursor.clone());
        fake.inject(route, fault.clone());
        let err = mirror.sync(&source).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/api/v1/"), "{fault:?}: {text}");
        if let Some(expected) = expected {
            assert!(text.contains(expected), "{fault:?}: {text}");
        }
        if matches!(
            fault,
            Fault::InternalError | Fault::Unauthorized | Fault::Forbidden
        ) {
            assert!(
                err.request_id().is_some_and(|id| id.starts_with("oae")),
                "{fault:?}: {text}"
            );
        }
        assert_eq!(
            err.needs_operator(),
            matches!(fault, Fault::Unauthorized | Fault::Forbidden),
            "{fault:?}"
        );
        assert_eq!(fake.pending_faults(), 0, "{fault:?} was served");
        assert_eq!(mirror.users, users, "{fault:?}");
        assert_eq!(mirror.groups(), groups, "{fault:?}");
        assert_eq!(mirror.cursor, cursor, "{fault:?}");
        // The next run picks up the same changes.
        assert_eq!(mirror.sync(&source).await.unwrap(), "changes", "{fault:?}");
        assert_matches_truth(&fake, &mirror);
    }

    // A fault in a full reconcile: no snapshot, so nobody is deactivated.
    fake.delete_user("00ucid");
    fake.inject(Route::Members, Fault::InternalError);
    assert!(mirror.sync_with(&source, true).await.is_err());
    assert!(mirror.active().contains_key("00ucid"));
    mirror.sync_with(&source, true).await.unwrap();
    assert_matches_truth(&fake, &mirror);
}

#[tokio::test]
async fn a_group_deleted_while_the_org_is_read_is_left_out() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    let source = source(&fake, "");
    let mut mirror = Mirror::default();
    // The first synced group's members answer 404, as if it had just been deleted.
    fake.inject(Route::Members, Fault::NotFound);
    assert_eq!(mirror.sync(&source).await.unwrap(), "snapshot");
    assert!(!mirror.groups().contains_key("00gad"));
    assert!(mirror.groups().contains_key("00geng"));
    // In an incremental run it is removed.
    mirror.sync_with(&source, true).await.unwrap();
    assert_matches_truth(&fake, &mirror);
    assert!(mirror.groups().contains_key("00gad"));
    fake.add_member("00gad", "00ubob");
    fake.inject(Route::Members, Fault::NotFound);
    assert_eq!(mirror.sync(&source).await.unwrap(), "changes");
    assert!(!mirror.groups().contains_key("00gad"));
}

#[tokio::test]
async fn a_next_link_off_the_org_fails_the_run() {
    let fake = FakeOkta::start().await;
    seed(&fake);
    fake.settings(|s| s.next_host = Some("attacker.example:443".into()));
    let err = Mirror::default().sync(&source(&fake, "")).await.unwrap_err();
    assert!(err.to_string().contains("leaves the org"), "{err}");
    let logged = fake.requests();
    assert_eq!(logged.iter().filter(|r| r.path == "/api/v1/users").count(), 1);
}
