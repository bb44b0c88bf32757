//! The Google Workspace connector end to end against the fake Directory API: the release
//! `idsync` binary syncs a generated customer into SQLite. Prints the time the fake alone
//! needs to serve every page (the serving floor), the store's floor (the same snapshot
//! applied through a `file` connector), the connector's fetch alone, and the binary's full
//! sync with its peak RSS.
//!
//! `cargo bench --bench google` (sizes can be scaled: `IDSYNC_BENCH_USERS=20000`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Not every benchmark uses every piece of the shared harness.
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use idsync_fakes::google::support::{config_text, person};
use idsync_fakes::google::FakeGoogle;
use idsync_source::Fetched;
use serde_json::json;
use support::{resync, sizes, Bench};

fn user_id(i: usize) -> String {
    format!("1{i:020}")
}

fn group_id(g: usize) -> String {
    format!("0g{g:014}")
}

/// Loads the customer: `memberships / groups` user members per group, and one group in ten
/// nested in the one before it.
fn load(fake: &FakeGoogle, users: usize, groups: usize, memberships: usize) {
    for i in 0..users {
        let p = person(
            "User",
            &i.to_string(),
            "Engineer",
            &format!("Dept {}", i % 50),
            "/Staff",
        );
        fake.add_user(&user_id(i), &format!("user{i}@bench.example"), p);
    }
    let per_group = memberships / groups.max(1);
    for g in 0..groups {
        fake.add_group(
            &group_id(g),
            &format!("group{g}@bench.example"),
            &format!("Group {g}"),
        );
        for k in 0..per_group {
            fake.add_member(&group_id(g), "USER", &user_id((g * 7919 + k * 13) % users));
        }
        if g % 10 == 1 {
            fake.add_member(&group_id(g - 1), "GROUP", &group_id(g));
        }
    }
}

/// GETs a list to its last page with a bare client; returns the number of pages.
async fn read_all(http: &reqwest::Client, token: &str, start: &str) -> usize {
    let mut page_token: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &page_token {
            Some(t) => format!("{start}&pageToken={t}"),
            None => start.to_owned(),
        };
        let response = http.get(&url).bearer_auth(token).send().await.unwrap();
        assert!(response.status().is_success(), "{url}");
        let body: serde_json::Value = response.json().await.unwrap();
        pages += 1;
        match body["nextPageToken"].as_str() {
            Some(t) => page_token = Some(t.to_owned()),
            None => return pages,
        }
    }
}

/// Reads every page a full sync reads, one at a time with a bare client: what serving costs.
async fn floor(fake: &FakeGoogle, groups: usize) -> (Duration, usize) {
    let http = reqwest::Client::new();
    let token = fake.grant();
    let api = format!("{}/admin/directory/v1", fake.url());
    let started = Instant::now();
    let fields = "nextPageToken,users(archived,id,languages,name,organizations,primaryEmail,suspended)";
    let users = format!("{api}/users?customer=my_customer&maxResults=500&projection=basic&fields={fields}");
    let mut pages = read_all(&http, &token, &users).await;
    let groups_url = format!("{api}/groups?customer=my_customer&maxResults=200");
    pages += read_all(&http, &token, &groups_url).await;
    for g in 0..groups {
        let members = format!("{api}/groups/{}/members?maxResults=200", group_id(g));
        pages += read_all(&http, &token, &members).await;
    }
    (started.elapsed(), pages)
}

/// Writes the snapshot as a `file` export: the store's share of a sync, without Google.
fn export(snapshot: &Fetched, path: &Path) {
    let Fetched::Snapshot(s) = snapshot else {
        panic!("a full sync is a snapshot")
    };
    let users: Vec<_> = s
        .users
        .iter()
        .map(|u| {
            json!({
                "id": u.external_id, "upn": u.upn, "email": u.email, "display_name": u.display_name,
                "given_name": u.given_name, "family_name": u.family_name, "job_title": u.job_title,
                "department": u.department, "preferred_language": u.preferred_language,
                "enabled": u.enabled,
            })
        })
        .collect();
    let groups: Vec<_> = s
        .groups
        .iter()
        .map(|g| json!({"id": g.external_id, "display_name": g.display_name, "members": g.members}))
        .collect();
    std::fs::write(
        path,
        serde_json::to_vec(&json!({"users": users, "groups": groups})).unwrap(),
    )
    .unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let [users, groups, memberships, _] = sizes([50_000, 2_000, 200_000, 0]);

    let fake = FakeGoogle::start().await;
    fake.state().settings.max_page = 500;
    load(&fake, users, groups, memberships);
    println!("idsync google benchmark: {users} users, {groups} groups, {memberships} memberships");

    let (serving, pages) = floor(&fake, groups).await;
    println!(
        "serving floor          {:>7.2} s  ({pages} pages, bare client, one at a time)",
        serving.as_secs_f64()
    );

    let mut bench = Bench::new(
        "google",
        &format!("max_deactivation_percent = 100\n{}", config_text(&fake, "")),
    );

    // The connector's fetch alone, in this process (no store).
    let batch = bench.fetch("connector fetch").await;

    // The store's floor: the same snapshot through a file connector into a fresh database.
    let export_path = bench.dir().join("export.json");
    export(&batch.data, &export_path);
    drop(batch);
    let store_config = bench.dir().join("store.toml");
    let store_text = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n\
         [[connectors]]\nname = \"google\"\nkind = \"file\"\npath = {:?}\n",
        bench.dir().join("store.db").display(),
        export_path.display().to_string()
    );
    std::fs::write(&store_config, store_text).unwrap();
    let (store_floor, store_peak, _) = resync(&store_config, "google").await;
    println!(
        "store floor (file)     {:>7.2} s  peak RSS {store_peak:.0} MB",
        store_floor.as_secs_f64()
    );

    let (took, peak, out) = resync(bench.config(), "google").await;
    let budget = 2.0 * (serving + store_floor).as_secs_f64();
    println!(
        "full sync (binary)     {:>7.2} s  peak RSS {peak:.0} MB  (budget {budget:.2} s)  [{out}]",
        took.as_secs_f64()
    );
    bench.resync("full sync, no change", false).await;
}
