//! A fleet of release `idsync run` workers on PostgreSQL serving many tenants, each with a
//! stored Entra connector against one fake Graph (every tenant reads the same directory of
//! 100 users and 10 groups; the database keeps each tenant's copy apart). Prints the first
//! full cycle with 1, 2 and 4 workers, a no-change cycle, the time from due to started, the
//! peak RSS of each worker, the database connections they hold, idle CPU, and the RSS at 100
//! and at 1,000 tenants.
//!
//! `cargo bench --bench fleet` (a PostgreSQL server: `IDSYNC_BENCH_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432`; sizes: `IDSYNC_BENCH_TENANTS`, `IDSYNC_BENCH_USERS`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Not every benchmark uses every piece of the shared harness.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double};
use idsync::config::Config;
use idsync::registry::ConnectorRegistry;
use idsync::store::Store;
use idsync::tenant::TenantId;
use idsync_fakes::graph::{user_props, FakeGraph, CLIENT_ID, CLIENT_SECRET, TENANT};
use serde_json::json;
use support::{env_or, group_rows};

const DATABASE: &str = "idsync_bench_fleet";

fn server() -> String {
    std::env::var("IDSYNC_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh, empty database; its URL.
fn fresh_database() -> String {
    let mut admin = PgConnection::establish(&format!("{}/postgres", server())).unwrap();
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
    diesel::sql_query(format!("CREATE DATABASE {DATABASE}"))
        .execute(&mut admin)
        .unwrap();
    format!("{}/{DATABASE}", server())
}

fn user_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

async fn fake_directory(users: usize, groups: usize) -> FakeGraph {
    let fake = FakeGraph::start().await;
    let rows = (0..users)
        .map(|i| {
            (
                user_id(i),
                user_props(&format!("user{i}@bench.example"), "User", &i.to_string()),
            )
        })
        .collect();
    fake.bulk_load(
        rows,
        group_rows([users, groups, users], |g| format!("group-{g:03}"), user_id),
    );
    fake
}

fn write_config(dir: &Path, url: &str) -> PathBuf {
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let config = dir.join("idsync.toml");
    let text = format!(
        "[database]\nurl = {url:?}\n\n[daemon]\npoll_secs = 1\njitter_secs = 0\nlease_secs = 30\n\
         keep_history_days = 0\n\n[admin]\nsecrets_key = \"{key}\"\n"
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// Migrates and registers `tenants` tenants, each with a stored Entra connector.
async fn register(config: &Path, fake: &FakeGraph, tenants: usize) {
    let loaded = Config::load(config).unwrap();
    let store = Store::open(&loaded.database);
    store.migrate().await.unwrap();
    let registry = ConnectorRegistry::new(store.clone(), Arc::new(loaded)).unwrap();
    let settings = json!({"kind": "entra", "tenant_id": TENANT, "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "authority_url": fake.authority_url(),
        "graph_url": fake.graph_url(), "interval": "1h"});
    for i in 0..tenants {
        let tenant = TenantId::parse(&format!("t{i:05}")).unwrap();
        store
            .put_tenant(&tenant, "Bench", idsync::store::now())
            .await
            .unwrap();
        registry.put(&tenant, "entra", settings.clone()).await.unwrap();
    }
}

struct Worker {
    child: Child,
    peak_kb: u64,
}

impl Worker {
    fn start(config: &Path) -> Worker {
        let child = Command::new(env!("CARGO_BIN_EXE_idsync"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Worker { child, peak_kb: 0 }
    }

    fn status_field(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn sample(&mut self) {
        self.peak_kb = self.peak_kb.max(self.status_field("VmHWM:"));
    }

    /// User plus system CPU time so far, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        // Fields 14 and 15 of /proc/pid/stat (utime, stime), counted after the command name.
        tick(11) + tick(12)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Latency {
    #[diesel(sql_type = Double)]
    secs: f64,
}

fn count(db: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(db).unwrap().n
}

fn succeeded(db: &mut PgConnection) -> i64 {
    count(db, "SELECT count(*) AS n FROM runs WHERE status = 'succeeded'")
}

fn connections(db: &mut PgConnection) -> i64 {
    // Our own connection is not a worker's.
    count(
        db,
        &format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{DATABASE}' \
             AND pid <> pg_backend_pid()"
        ),
    )
}

/// Waits until `target` runs have succeeded, sampling RSS and connections; the time taken
/// and the most connections seen.
fn wait_for_runs(db: &mut PgConnection, workers: &mut [Worker], target: i64) -> (Duration, i64) {
    let started = Instant::now();
    let mut most = 0;
    loop {
        for w in workers.iter_mut() {
            w.sample();
        }
        most = most.max(connections(db));
        if succeeded(db) >= target {
            return (started.elapsed(), most);
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "the cycle never finished"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn peaks(workers: &[Worker]) -> String {
    workers
        .iter()
        .map(|w| format!("{:.0}", w.peak_kb as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Percentiles of due-to-started, over the runs started after `since_id`.
fn latencies(db: &mut PgConnection, due: &str, since_id: i64) -> (f64, f64) {
    let sql = format!(
        "SELECT EXTRACT(EPOCH FROM (r.started_at - {due}))::float8 AS secs FROM runs r \
         WHERE r.id > {since_id} ORDER BY secs"
    );
    let rows: Vec<Latency> = diesel::sql_query(sql).load(db).unwrap();
    let at = |q: f64| {
        rows.get(((rows.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |l| l.secs)
    };
    (at(0.5), at(0.99))
}

/// The first full cycle of `tenants` tenants with `n` workers; the workers, still running.
async fn first_cycle(
    fake: &FakeGraph,
    tenants: usize,
    n: usize,
) -> (Vec<Worker>, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database();
    let config = write_config(dir.path(), &url);
    register(&config, fake, tenants).await;
    let mut db = PgConnection::establish(&url).unwrap();
    let mut workers: Vec<Worker> = (0..n).map(|_| Worker::start(&config)).collect();
    let (took, most) = wait_for_runs(&mut db, &mut workers, tenants as i64);
    let (p50, p99) = latencies(&mut db, "(SELECT min(started_at) FROM runs)", 0);
    println!(
        "first full cycle  {tenants:>5} tenants  {n} worker(s)  {:>7.1} s  ({:.0} runs/s)  \
         start after first: p50 {p50:.1} s, p99 {p99:.1} s  peak RSS MB [{}]  DB connections {most}",
        took.as_secs_f64(),
        tenants as f64 / took.as_secs_f64(),
        peaks(&workers)
    );
    (workers, config, dir)
}

fn idle_cpu(workers: &[Worker]) -> String {
    let before: Vec<u64> = workers.iter().map(Worker::cpu_ticks).collect();
    let span = Duration::from_secs(10);
    std::thread::sleep(span);
    // Linux's USER_HZ is 100 on every architecture it supports.
    workers
        .iter()
        .zip(before)
        .map(|(w, b)| {
            format!(
                "{:.2}%",
                (w.cpu_ticks() - b) as f64 / 100.0 / span.as_secs_f64() * 100.0
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    let tenants = env_or("IDSYNC_BENCH_TENANTS", 1000);
    let users = env_or("IDSYNC_BENCH_USERS", 100);
    let fake = fake_directory(users, 10).await;
    println!("{tenants} tenants x {users} users, 10 groups, one fake Graph; idsync run workers (this build) on PostgreSQL");

    // Memory against the number of tenants: one worker, 100 tenants, then the full count.
    let (workers, _config, _dir) = first_cycle(&fake, tenants / 10, 1).await;
    workers.into_iter().for_each(Worker::stop);

    for n in [1, 2, 4] {
        let (mut workers, config, _dir) = first_cycle(&fake, tenants, n).await;
        if n != 2 {
            workers.into_iter().for_each(Worker::stop);
            continue;
        }
        println!("idle CPU per worker (10 s, nothing due): {}", idle_cpu(&workers));
        let url = Config::load(&config).unwrap().database;
        let url = match url {
            idsync::store::DatabaseUrl::Postgres(u) => u,
            _ => unreachable!(),
        };
        let mut db = PgConnection::establish(&url).unwrap();

        // A no-change cycle: every connector due at once.
        let last = count(&mut db, "SELECT coalesce(max(id), 0) AS n FROM runs");
        let done = succeeded(&mut db);
        let due = idsync::store::now();
        diesel::sql_query(format!("UPDATE schedules SET next_due_at = '{due}'::timestamp"))
            .execute(&mut db)
            .unwrap();
        let (took, most) = wait_for_runs(&mut db, &mut workers, done + tenants as i64);
        let (p50, p99) = latencies(&mut db, &format!("'{due}'::timestamp"), last);
        println!(
            "no-change cycle   {tenants:>5} tenants  2 worker(s)  {:>7.1} s  all due at once: \
             due->started p50 {p50:.1} s, p99 {p99:.1} s  peak RSS MB [{}]  DB connections {most}",
            took.as_secs_f64(),
            peaks(&workers)
        );

        // Spread schedules: each connector due at its own moment over 60 s.
        let last = count(&mut db, "SELECT coalesce(max(id), 0) AS n FROM runs");
        let done = succeeded(&mut db);
        let spread_start = idsync::store::now();
        diesel::sql_query(format!(
            "UPDATE schedules SET next_due_at = '{spread_start}'::timestamp \
             + (abs(hashtext(tenant_id)) % 60000) * interval '1 millisecond'"
        ))
        .execute(&mut db)
        .unwrap();
        let (took, _) = wait_for_runs(&mut db, &mut workers, done + tenants as i64);
        let sql = format!(
            "SELECT EXTRACT(EPOCH FROM (r.started_at - ('{spread_start}'::timestamp \
               + (abs(hashtext(r.tenant_id)) % 60000) * interval '1 millisecond')))::float8 AS secs \
             FROM runs r WHERE r.id > {last} ORDER BY secs"
        );
        let rows: Vec<Latency> = diesel::sql_query(sql).load(&mut db).unwrap();
        let at = |q: f64| {
            rows.get(((rows.len() as f64 - 1.0) * q).round() as usize)
                .map_or(0.0, |l| l.secs)
        };
        println!(
            "spread cycle      {tenants:>5} tenants  2 worker(s)  {:>7.1} s  due over 60 s: \
             due->started p50 {:.2} s, p99 {:.2} s",
            took.as_secs_f64(),
            at(0.5),
            at(0.99)
        );
        workers.into_iter().for_each(Worker::stop);
    }
}
