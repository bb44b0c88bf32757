//! The Entra connector end to end against the fake Graph server: the release `idsync` binary
//! syncs a generated tenant into SQLite and into PostgreSQL (a fresh database per run).
//! Prints the time the fake alone needs to serve every page (the serving floor), each
//! backend's store floor (the synced rows bulk-loaded into a fresh database: see
//! `support/floor.rs`), the connector's fetch alone, the binary's full sync with its peak RSS
//! and its ratio to the floor (serving + store), and a delta sync with 1,000 changes.
//!
//! `cargo bench --bench entra` (sizes can be scaled: `IDSYNC_BENCH_USERS=20000`);
//! `IDSYNC_BENCH_BASE=path/to/idsync` measures an earlier build beside this one in the same
//! run; `IDSYNC_BENCH_POSTGRES` names the server (`off` skips PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Not every benchmark uses every piece of the shared harness.
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use idsync_fakes::graph::support::config_text;
use idsync_fakes::graph::{user_props, FakeGraph, CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE};
use serde_json::json;
use support::{floor, group_rows, print_floor, sizes, Bench, PgDatabase};

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
    let group_rows = group_rows([users, groups, memberships], |g| format!("group-{g:05}"), user_id);
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
        format!(
            "{}/users/delta?$select=accountEnabled,department,displayName,givenName,jobTitle,\
             mail,preferredLanguage,surname,userPrincipalName",
            fake.graph_url()
        ),
        format!("{}/groups/delta?$select=displayName,members", fake.graph_url()),
    ] {
        let mut url = start;
        loop {
            let body = http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            pages += 1;
            let Some(at) = body.find("\"@odata.nextLink\":\"") else {
                break;
            };
            let rest = &body[at + 19..];
            url = rest[..rest.find('"').unwrap()].to_owned();
        }
    }
    (started.elapsed(), pages)
}

/// One measured setup: a backend, a binary, and its bench (configuration and database).
struct Target {
    backend: &'static str,
    binary: &'static str,
    bench: Bench,
    full: f64,
}

/// The backends measured: SQLite, and PostgreSQL when a server answers
/// (`IDSYNC_BENCH_POSTGRES`, default the local one; `IDSYNC_BENCH_POSTGRES=off` skips it).
fn targets(keys: &str, fake: &FakeGraph) -> Vec<Target> {
    let config = config_text(fake, keys);
    let mut binaries = vec![("this", support::binary())];
    // `IDSYNC_BENCH_BASE`: an earlier build measured beside this one, in the same run.
    if let Some(base) = std::env::var_os("IDSYNC_BENCH_BASE") {
        binaries.insert(0, ("base", base.into()));
    }
    let postgres = std::env::var("IDSYNC_BENCH_POSTGRES").as_deref() != Ok("off");
    let mut targets = Vec::new();
    for backend in ["sqlite", "postgres"] {
        for (name, bin) in &binaries {
            let database = match backend {
                "sqlite" => None,
                _ if postgres => match PgDatabase::create() {
                    Some(db) => Some(db),
                    None => continue,
                },
                _ => continue,
            };
            targets.push(Target {
                backend,
                binary: name,
                bench: Bench::on("entra", &config, database, bin.clone()),
                full: 0.0,
            });
        }
    }
    targets
}

/// The store floor of `backend`: the rows `synced` holds, bulk-loaded into a fresh database.
async fn store_floor(backend: &str, synced: &str, keys: &str, fake: &FakeGraph) -> f64 {
    let database = (backend == "postgres").then(|| PgDatabase::create().unwrap());
    let fresh = Bench::on("entra", &config_text(fake, keys), database, support::binary());
    fresh.migrate().await;
    let rows = floor::read(synced);
    let took = floor::load(fresh.database(), &rows).as_secs_f64();
    let label = format!("store floor, {backend}");
    println!("{label:<22} {took:>7.2} s  ({})", rows.describe());
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let [users, groups, memberships, changes] = sizes([100_000, 5_000, 500_000, 1_000]);

    let fake = FakeGraph::start().await;
    fake.settings(|s| {
        s.delta_page_size = 999;
        s.member_chunk = 999;
        s.removed_in_initial = false;
    });
    load(&fake, users, groups, memberships);
    println!(
        "idsync entra benchmark: {users} users, {groups} groups, {memberships} memberships, \
         999 objects per page"
    );
    let (serving, pages) = floor(&fake).await;
    print_floor(serving, pages);
    let serving = serving.as_secs_f64();

    let keys = format!("client_secret = \"{CLIENT_SECRET}\"\nmax_deactivation_percent = 100");
    let mut targets = targets(&keys, &fake);
    targets[0].bench.fetch("connector fetch").await;
    for t in &mut targets {
        let label = format!("full sync, {} ({})", t.backend, t.binary);
        t.full = t.bench.resync_timed(&label, true, "").await.0;
    }
    let mut floors: Vec<(&str, f64)> = Vec::new();
    for t in &targets {
        if !floors.iter().any(|(b, _)| *b == t.backend) {
            let store = store_floor(t.backend, t.bench.database(), &keys, &fake).await;
            floors.push((t.backend, serving + store));
        }
    }
    for t in &targets {
        let floor = floors.iter().find(|(b, _)| *b == t.backend).unwrap().1;
        println!(
            "full sync, {} ({}): {:.2} s against a floor of {floor:.2} s (serving + store): {:.2}x",
            t.backend,
            t.binary,
            t.full,
            t.full / floor
        );
    }

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
    targets[0].bench.fetch("connector delta fetch").await;
    for t in &targets {
        let label = format!("delta {changes}, {} ({})", t.backend, t.binary);
        t.bench.resync_timed(&label, true, "").await;
    }
    for t in &targets {
        let label = format!("no change, {} ({})", t.backend, t.binary);
        t.bench.resync_timed(&label, false, "").await;
    }
}
