//! The Okta connector end to end against the fake Okta org: the release `idsync` binary syncs
//! a generated org into SQLite. Prints the time the fake alone needs to serve every page (the
//! floor), the connector's fetch alone, the binary's full sync with its peak RSS, and an
//! incremental sync with 500 changes.
//!
//! `cargo bench --bench okta` (sizes can be scaled: `IDSYNC_BENCH_USERS=20000`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use idsync_fakes::okta::{profile, FakeOkta, API_TOKEN};
use idsync_source::{FetchRequest, NoProgress};
use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
    let per_group = memberships / groups.max(1);
    let group_rows = (0..groups)
        .map(|g| {
            let members = (0..per_group)
                .map(|k| user_id((g * 7919 + k * 13) % users))
                .collect();
            (group_id(g), format!("Group {g}"), members)
        })
        .collect();
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

fn config(fake: &FakeOkta, db: &std::path::Path) -> String {
    format!(
        r#"
[database]
url = "sqlite://{}"

[[connectors]]
name = "okta"
kind = "okta"
org_url = "{}"
api_token = "{API_TOKEN}"
max_deactivation_percent = 100
overlap_secs = 0
"#,
        db.display(),
        fake.org_url()
    )
}

/// Runs the binary; returns the wall time and the peak RSS (VmHWM, polled) in MB.
async fn resync(config: &std::path::Path) -> (Duration, f64, String) {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_idsync"))
        .arg("--config")
        .arg(config)
        .args(["resync", "--connector", "okta"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut peak_kb = 0.0f64;
    let status_path = format!("/proc/{pid}/status");
    let out = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            use tokio::io::AsyncReadExt;
            if let Some(mut s) = child.stdout.take() {
                s.read_to_string(&mut out).await.unwrap();
            }
            if let Some(mut s) = child.stderr.take() {
                s.read_to_string(&mut out).await.unwrap();
            }
            assert!(status.success(), "idsync failed: {out}");
            break out;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    (started.elapsed(), peak_kb / 1024.0, out.trim().to_owned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let testing = !std::env::args().any(|a| a == "--bench");
    let scale = if testing { 100 } else { 1 };
    let users = env_or("IDSYNC_BENCH_USERS", 50_000) / scale;
    let groups = env_or("IDSYNC_BENCH_GROUPS", 2_000) / scale;
    let memberships = env_or("IDSYNC_BENCH_MEMBERSHIPS", 200_000) / scale;
    let changes = env_or("IDSYNC_BENCH_CHANGES", 500) / scale;

    let fake = FakeOkta::start().await;
    fake.settings(|s| s.max_page = 200);
    load(&fake, users, groups, memberships);
    println!(
        "idsync okta benchmark: {users} users, {groups} groups, {memberships} memberships, 200 objects per page"
    );

    let (serving, pages) = floor(&fake, groups).await;
    println!(
        "serving floor          {:>7.2} s  ({pages} pages, bare client)",
        serving.as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let text = config(&fake, &dir.path().join("bench.db"));
    let config_path = dir.path().join("idsync.toml");
    std::fs::write(&config_path, &text).unwrap();

    // The connector's fetch alone, in this process (no store).
    let parsed = idsync::config::Config::parse(&text, &config_path, Vec::<(String, String)>::new()).unwrap();
    let connector = idsync::connectors::build(&parsed.connectors[0]);
    let started = Instant::now();
    let batch = connector
        .source
        .fetch(&FetchRequest::default(), &NoProgress)
        .await
        .unwrap();
    let (u, g) = batch.counts();
    println!(
        "connector fetch        {:>7.2} s  ({u} users, {g} groups, cursor {:.1} MB)",
        started.elapsed().as_secs_f64(),
        batch.cursor.as_ref().map_or(0, String::len) as f64 / 1e6
    );
    let cursor = batch.cursor.clone();
    drop(batch);

    let (took, peak, out) = resync(&config_path).await;
    println!(
        "full sync (binary)     {:>7.2} s  peak RSS {peak:.0} MB  [{out}]",
        took.as_secs_f64()
    );

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
    let started = Instant::now();
    let request = FetchRequest { cursor, full: false };
    let batch = connector.source.fetch(&request, &NoProgress).await.unwrap();
    let (u, g) = batch.counts();
    println!(
        "connector incr. fetch  {:>7.2} s  ({u} users, {g} groups)",
        started.elapsed().as_secs_f64()
    );
    drop(batch);
    let (took, peak, out) = resync(&config_path).await;
    println!(
        "incremental, {changes} changes {:>5.2} s  peak RSS {peak:.0} MB  [{out}]",
        took.as_secs_f64()
    );
    let (took, _, out) = resync(&config_path).await;
    println!("incremental, no change {:>7.2} s  [{out}]", took.as_secs_f64());
}
