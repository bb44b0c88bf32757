//! Plans and applies a generated directory into SQLite and prints the figures:
//! initial apply, a no-change re-run, a 1% change re-run, and peak memory.
//!
//! `cargo bench --bench apply` (sizes can be scaled: `IDSYNC_BENCH_USERS=20000`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Only the sizes of the shared harness: this benchmark runs no connector.
#[allow(dead_code)]
mod support;

use std::time::Instant;

use idsync::planner::{self, PlanSettings};
use idsync::store::{self, ApplyContext, CursorUpdate, DatabaseUrl, Store};
use idsync_source::{Fetched, GroupRecord, Snapshot, UserRecord};
use support::sizes;

fn directory(users: usize, groups: usize, memberships: usize, generation: u32) -> Snapshot {
    let users: Vec<UserRecord> = (0..users)
        .map(|i| UserRecord {
            attributes: None,
            external_id: format!("{i:08x}-0000-4000-8000-{i:012x}"),
            upn: format!("user{i}@bench.example"),
            email: Some(format!("user{i}@bench.example")),
            display_name: Some(format!("User {i}")),
            given_name: Some("User".into()),
            family_name: Some(format!("{i}")),
            job_title: Some(
                if generation > 0 && i % 100 == 0 {
                    "Senior Engineer"
                } else {
                    "Engineer"
                }
                .into(),
            ),
            department: Some(format!("Dept {}", i % 50)),
            preferred_language: Some("en-US".into()),
            enabled: true,
        })
        .collect();
    let per_group = memberships / groups.max(1);
    let groups: Vec<GroupRecord> = (0..groups)
        .map(|g| GroupRecord {
            external_id: format!("group-{g}"),
            display_name: format!("Group {g}"),
            members: (0..per_group)
                .map(|k| users[(g * 7919 + k * 13) % users.len()].external_id.clone())
                .collect(),
        })
        .collect();
    Snapshot { users, groups }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs `work` to completion on a runtime of its own.
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// One run as the daemon does it: a fresh store, load, plan, apply.
fn run(url: &DatabaseUrl, fetched: Fetched, label: &str) {
    let started = Instant::now();
    let store = Store::open(url);
    let local = block_on(store.load_local("bench")).unwrap();
    let loaded = started.elapsed();
    let plan = planner::plan("bench", fetched, &local, &PlanSettings::default(), store::now());
    let planned = started.elapsed();
    let counts = block_on(store.apply(
        plan,
        ApplyContext {
            run_id: None,
            run_end: None,
            now: store::now(),
            cursor: CursorUpdate::Advance {
                cursor: None,
                full: true,
            },
        },
    ))
    .unwrap();
    let total = started.elapsed();
    println!(
        "{label:<18} {:>6.2} s  (load {:.2} s, plan {:.2} s, apply {:.2} s)  \
         peak RSS so far {:.0} MB\n    {counts}",
        total.as_secs_f64(),
        loaded.as_secs_f64(),
        (planned - loaded).as_secs_f64(),
        (total - planned).as_secs_f64(),
        peak_rss_mb()
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would run this too, so `sizes`
    // gives a smaller size there to keep that quick.
    let [users, groups, memberships, _] = sizes([100_000, 5_000, 500_000, 0]);

    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("bench.db"));
    block_on(Store::open(&url).migrate()).unwrap();
    println!("idsync apply benchmark: {users} users, {groups} groups, {memberships} memberships, SQLite");

    // Each run gets a freshly generated snapshot, as each sync gets a fresh fetch.
    let snapshot = |generation| Fetched::Snapshot(directory(users, groups, memberships, generation));
    run(&url, snapshot(0), "initial apply");
    run(&url, snapshot(0), "no-change re-run");
    run(&url, snapshot(1), "1% change re-run");
    println!("peak RSS {:>20.0} MB", peak_rss_mb());
}
