//! The Okta connector end to end against the fake Okta org: the release `idsync` binary syncs
//! a generated org into SQLite. Prints the time the fake alone needs to serve every page (the
//! floor), the connector's fetch alone, the binary's full sync with its peak RSS, and an
//! incremental sync with 500 changes.
//!
//! `cargo bench --bench okta` (sizes can be scaled: `IDSYNC_BENCH_USERS=20000`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Not every benchmark uses every piece of the shared harness.
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use idsync_fakes::okta::{profile, FakeOkta, API_TOKEN};
use serde_json::json;
use support::{group_rows, print_floor, sizes, Bench};

fn user_id(i: usize) -> String {
    format!("00u{i:017}")
}

fn group_id(g: usize) -> String {
    format!("00g{g:017}")
}

/// Loads the org: `memberships / groups` members per group.
fn load(fake: &FakeOkta, users: usize, groups: usize, memberships: usize) {
    let user_rows = (0..users)
        .map(|i| {
            let mut p = profile(&format!("user{i}@bench.example"), "User", &i.to_string());
            p["department"] = json!(format!("Dept {}", i % 50));
            p["title"] = json!("Engineer");
            (user_id(i), "ACTIVE".to_owned(), p)
        })
        .collect();
    let group_rows = group_rows([users, groups, memberships], group_id, user_id);
    fake.bulk_load(user_rows, group_rows);
}

/// GETs a list to its last page with a bare client; returns the number of pages.
async fn read_all(http: &reqwest::Client, start: String) -> usize {
    let mut next = Some(start);
    let mut pages = 0;
    while let Some(url) = next.take() {
        let response = http
            .get(&url)
            .header("authorization", format!("SSWS {API_TOKEN}"))
            .send()
            .await
            .unwrap();
        next = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.ends_with("rel=\"next\""))
            .map(|v| v[1..v.find('>').unwrap()].to_owned());
        let _ = response.bytes().await.unwrap();
        pages += 1;
    }
    pages
}

/// Reads every page a full sync reads, with a bare client: what serving costs.
async fn floor(fake: &FakeOkta, groups: usize) -> (Duration, usize) {
    let http = reqwest::Client::new();
    let org = fake.org_url();
    let started = Instant::now();
    let mut pages = read_all(
        &http,
        format!("{org}/api/v1/users?filter=lastUpdated%20gt%20%221970-01-01T00%3A00%3A00.000Z%22&limit=200"),
    )
    .await;
    pages += read_all(&http, format!("{org}/api/v1/groups?limit=200")).await;
    for g in 0..groups {
        pages += read_all(
            &http,
            format!("{org}/api/v1/groups/{}/users?limit=200", group_id(g)),
        )
        .await;
    }
    (started.elapsed(), pages)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let [users, groups, memberships, changes] = sizes([50_000, 2_000, 200_000, 500]);

    let fake = FakeOkta::start().await;
    fake.settings(|s| s.max_page = 200);
    load(&fake, users, groups, memberships);
    println!(
        "idsync okta benchmark: {users} users, {groups} groups, {memberships} memberships, \
         200 objects per page"
    );
    let (serving, pages) = floor(&fake, groups).await;
    print_floor(serving, pages);

    let keys = format!(
        "org_url = \"{}\"\napi_token = \"{API_TOKEN}\"\nmax_deactivation_percent = 100\noverlap_secs = 0",
        fake.org_url()
    );
    let mut bench = Bench::new("okta", &keys);
    bench.fetch("connector fetch").await;
    bench.resync("full sync (binary)", true).await;

    // 500 changes: profile updates, memberships added, new users, deactivations.
    for i in 0..changes / 2 {
        fake.update_profile(&user_id(i * 97 % users), json!({"title": format!("Title {i}")}));
    }
    for i in 0..changes / 4 {
        fake.add_member(&group_id(i % groups), &user_id((i * 31 + 5) % users));
    }
    for i in 0..changes / 8 {
        fake.add_user(
            &format!("00unew{i:014}"),
            "ACTIVE",
            profile(&format!("new{i}@bench.example"), "New", &i.to_string()),
        );
    }
    for i in 0..changes / 8 {
        fake.set_status(&user_id((i * 389 + 11) % users), "DEPROVISIONED");
    }
    // A run dates its start up to two seconds early (the org's Date has whole seconds), so
    // the run after the one that reads these changes would read changes younger than that
    // again: let them age first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    bench.fetch("connector incr. fetch").await;
    bench
        .resync(&format!("incremental, {changes} changes"), true)
        .await;
    bench.resync("incremental, no change", false).await;
}
