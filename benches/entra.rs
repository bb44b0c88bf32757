//! The Entra connector end to end against the fake Graph server: the release `idsync` binary
//! syncs a generated tenant into SQLite. Prints the time the fake alone needs to serve every
//! page (the floor), the connector's fetch alone, the binary's full sync with its peak RSS,
//! and a delta sync with 1,000 changes.
//!
//! `cargo bench --bench entra` (sizes can be scaled: `IDSYNC_BENCH_USERS=20000`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use idsync_fakes::graph::{user_props, FakeGraph, CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, TENANT};
use idsync_source::{FetchRequest, NoProgress};
use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn user_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

/// Loads the tenant: `memberships / groups` direct user members per group.
fn load(fake: &FakeGraph, users: usize, groups: usize, memberships: usize) {
    let user_rows = (0..users)
        .map(|i| {
            let mut props = user_props(&format!("user{i}@bench.example"), "User", &i.to_string());
            props["department"] = json!(format!("Dept {}", i % 50));
            (user_id(i), props)
        })
        .collect();
    let per_group = memberships / groups.max(1);
    let group_rows = (0..groups)
        .map(|g| {
            let members = (0..per_group)
                .map(|k| user_id((g * 7919 + k * 13) % users))
                .collect();
            (format!("group-{g:05}"), format!("Group {g}"), members)
        })
        .collect();
    fake.bulk_load(user_rows, group_rows);
}

/// Reads every page of both initial rounds with a bare client: what serving costs.
async fn floor(fake: &FakeGraph) -> (Duration, usize) {
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(fake.token_url())
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", GRAPH_SCOPE),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let mut pages = 0;
    for start in [
        format!("{}/users/delta?$select=accountEnabled,department,displayName,givenName,jobTitle,mail,preferredLanguage,surname,userPrincipalName", fake.graph_url()),
        format!("{}/groups/delta?$select=displayName,members", fake.graph_url()),
    ] {
        let mut url = start;
        loop {
            let body = http.get(&url).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
            pages += 1;
            let Some(at) = body.find("\"@odata.nextLink\":\"") else { break };
            let rest = &body[at + 19..];
            url = rest[..rest.find('"').unwrap()].to_owned();
        }
    }
    (started.elapsed(), pages)
}

fn config(fake: &FakeGraph, db: &std::path::Path) -> String {
    format!(
        r#"
[database]
url = "sqlite://{}"

[[connectors]]
name = "entra"
kind = "entra"
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
authority_url = "{}"
graph_url = "{}"
max_deactivation_percent = 100
"#,
        db.display(),
        fake.authority_url(),
        fake.graph_url()
    )
}

/// Runs the binary; returns the wall time and the peak RSS (VmHWM, polled) in MB.
async fn resync(config: &std::path::Path) -> (Duration, f64, String) {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_idsync"))
        .arg("--config")
        .arg(config)
        .args(["resync", "--connector", "entra"])
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
    let users = env_or("IDSYNC_BENCH_USERS", 100_000) / scale;
    let groups = env_or("IDSYNC_BENCH_GROUPS", 5_000) / scale;
    let memberships = env_or("IDSYNC_BENCH_MEMBERSHIPS", 500_000) / scale;
    let changes = env_or("IDSYNC_BENCH_CHANGES", 1_000) / scale;

    let fake = FakeGraph::start().await;
    fake.settings(|s| {
        s.delta_page_size = 999;
        s.member_chunk = 999;
        s.removed_in_initial = false;
    });
    load(&fake, users, groups, memberships);
    println!(
        "idsync entra benchmark: {users} users, {groups} groups, {memberships} memberships, 999 objects per page"
    );

    let (serving, pages) = floor(&fake).await;
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

    // 1,000 changes: attribute updates, memberships added and removed, new users.
    for i in 0..changes / 2 {
        fake.patch_user(
            &user_id(i * 97 % users),
            json!({"jobTitle": format!("Title {i}")}),
        );
    }
    for i in 0..changes / 4 {
        fake.add_member(
            &format!("group-{:05}", i % groups),
            &user_id((i * 31 + 5) % users),
        );
    }
    for i in 0..changes / 8 {
        let id = format!("new-{i:06}");
        fake.put_user(
            &id,
            user_props(&format!("new{i}@bench.example"), "New", &i.to_string()),
        );
    }
    for i in 0..changes / 8 {
        fake.soft_delete_user(&user_id((i * 389 + 11) % users));
    }
    let started = Instant::now();
    let request = FetchRequest { cursor, full: false };
    let batch = connector.source.fetch(&request, &NoProgress).await.unwrap();
    let (u, g) = batch.counts();
    println!(
        "connector delta fetch  {:>7.2} s  ({u} users, {g} groups)",
        started.elapsed().as_secs_f64()
    );
    drop(batch);
    let (took, peak, out) = resync(&config_path).await;
    println!(
        "delta sync, {changes} changes {:>5.2} s  peak RSS {peak:.0} MB  [{out}]",
        took.as_secs_f64()
    );
    let (took, _, out) = resync(&config_path).await;
    println!("delta sync, no change  {:>7.2} s  [{out}]", took.as_secs_f64());
}
