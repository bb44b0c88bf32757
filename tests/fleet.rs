//! Several `idsync run` workers on one PostgreSQL database sharing the schedules of many
//! tenants' stored connectors: no connector runs on two workers at once, due connectors are
//! picked up, the work spreads, a `kill -9` loses its connectors to the others once their
//! leases expire (its runs marked `interrupted`), SIGTERM drains, and quarantine still holds a
//! failing connector back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use idsync::config::Config;
use idsync::registry::ConnectorRegistry;
use idsync::store::schema::{leases, runs, schedules, sync_state, users};
use idsync::store::Store;
use idsync::tenant::TenantId;
use serde_json::json;
use support::{export_user, write_export, Daemon};

const SMALL_TENANTS: usize = 24;

fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn export(path: &Path, n: usize) {
    let users: Vec<_> = (0..n)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    write_export(path, &users, &[]);
}

fn worker(config: &Path, log: &Path) -> Daemon {
    Daemon(
        Command::new(env!("CARGO_BIN_EXE_idsync"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// A run as the test reads it back.
#[derive(Debug, Clone)]
struct Run {
    tenant: String,
    connector: String,
    status: String,
    started: NaiveDateTime,
    finished: Option<NaiveDateTime>,
    worker: Option<String>,
}

fn all_runs(db: &mut PgConnection) -> Vec<Run> {
    type Row = (
        String,
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<String>,
    );
    let rows: Vec<Row> = runs::table
        .order(runs::id)
        .select((
            runs::tenant_id,
            runs::connector,
            runs::status,
            runs::started_at,
            runs::finished_at,
            runs::worker,
        ))
        .load(db)
        .unwrap();
    rows.into_iter()
        .map(|(tenant, connector, status, started, finished, worker)| Run {
            tenant,
            connector,
            status,
            started,
            finished,
            worker,
        })
        .collect()
}

fn pid_of(worker: &str) -> Option<u32> {
    worker.split(':').nth(1)?.parse().ok()
}

/// No two runs of one connector overlap (a run still going counts as lasting until now).
fn assert_no_overlap(runs: &[Run]) {
    let mut by_connector: BTreeMap<(&str, &str), Vec<(NaiveDateTime, NaiveDateTime)>> = BTreeMap::new();
    let now = idsync::store::now();
    for r in runs {
        let end = r.finished.unwrap_or(now);
        by_connector
            .entry((&r.tenant, &r.connector))
            .or_default()
            .push((r.started, end));
    }
    for (key, mut spans) in by_connector {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[1].0 >= pair[0].1, "{key:?}: runs overlap: {pair:?}");
        }
    }
}

fn users_of(db: &mut PgConnection, tenant: &str) -> i64 {
    users::table
        .filter(users::tenant_id.eq(tenant).and(users::active))
        .count()
        .get_result(db)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_workers_shares_the_schedules_and_survives_kill_and_sigterm() {
    let pg = support::postgres::TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    export(&dir.path().join("small.json"), 20);
    export(&dir.path().join("big.json"), 6000);
    let config = dir.path().join("idsync.toml");
    let text = format!(
        "[database]\nurl = {:?}\n\n[daemon]\npoll_secs = 1\nlease_secs = 3\njitter_secs = 0\n\
         max_concurrent_runs = 2\nquarantine_after_failures = 2\n",
        pg.url
    );
    std::fs::write(&config, text).unwrap();
    let migrated = support::idsync(&config, &["migrate"]);
    assert!(migrated.status.success(), "{}", support::text(&migrated.stderr));

    // The tenants and their connectors, stored as the admin API stores them.
    let loaded = Config::load(&config).unwrap();
    let store = Store::open(&loaded.database);
    let registry = ConnectorRegistry::new(store.clone(), Arc::new(loaded)).unwrap();
    let now = idsync::store::now();
    let mut tenants = Vec::new();
    for i in 0..SMALL_TENANTS {
        let tenant = TenantId::parse(&format!("small-{i:02}")).unwrap();
        store.put_tenant(&tenant, "Small", now).await.unwrap();
        let settings = json!({"kind": "file", "path": "small.json", "interval": "2s"});
        registry.put(&tenant, "hr", settings).await.unwrap();
        tenants.push(tenant);
    }
    let big = TenantId::parse("big").unwrap();
    store.put_tenant(&big, "Big", now).await.unwrap();
    let settings = json!({"kind": "file", "path": "big.json", "interval": "1h"});
    registry.put(&big, "hr", settings).await.unwrap();

    let logs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("worker{i}.log")))
        .collect();
    let mut workers: Vec<Daemon> = logs.iter().map(|log| worker(&config, log)).collect();
    let mut db = PgConnection::establish(&pg.url).unwrap();

    // The big tenant's first run takes a while: kill -9 whoever runs it, mid-run.
    let mut victim = None;
    wait_until("the big tenant's run", Duration::from_secs(60), || {
        let running = all_runs(&mut db)
            .into_iter()
            .find(|r| r.tenant == "big" && r.status == "running");
        let Some(pid) = running.and_then(|r| r.worker.as_deref().and_then(pid_of)) else {
            return false;
        };
        let index = workers.iter().position(|w| w.id() == pid).unwrap();
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        let _ = workers[index].wait();
        victim = Some(index);
        true
    });
    let victim = victim.unwrap();
    let victim_pid = workers[victim].id();
    let killed_at = idsync::store::now();

    // Another worker takes the big tenant over once the lease expires, and finishes it.
    wait_until("the big tenant's users", Duration::from_secs(120), || {
        users_of(&mut db, "big") == 6000
    });
    let runs = all_runs(&mut db);
    let of_victim = |r: &Run| r.worker.as_deref().and_then(pid_of) == Some(victim_pid);
    let interrupted: Vec<&Run> = runs
        .iter()
        .filter(|r| r.tenant == "big" && r.status == "interrupted")
        .collect();
    assert!(
        interrupted.iter().any(|r| of_victim(r)),
        "the killed worker's run is marked interrupted: {runs:?}"
    );
    let takeover = runs
        .iter()
        .find(|r| r.tenant == "big" && r.status == "succeeded")
        .unwrap();
    assert!(
        !of_victim(takeover) && takeover.started > killed_at,
        "{takeover:?}"
    );

    // While the big tenant held one slot, the small tenants kept running.
    let (big_from, big_to) = (takeover.started, takeover.finished.unwrap());
    let small_meanwhile = runs
        .iter()
        .filter(|r| r.tenant != "big" && r.started > big_from && r.started < big_to)
        .count();
    assert!(
        small_meanwhile > 0,
        "small tenants starved during the big run: {runs:?}"
    );

    // Every small tenant converged and keeps running on its 2s schedule.
    let since = idsync::store::now();
    wait_until("two runs of every small tenant", Duration::from_secs(90), || {
        let runs = all_runs(&mut db);
        tenants.iter().all(|t| {
            runs.iter()
                .filter(|r| r.tenant == t.as_str() && r.status == "succeeded" && r.started > since)
                .count()
                >= 2
        })
    });
    for tenant in &tenants {
        assert_eq!(users_of(&mut db, tenant.as_str()), 20, "{tenant}");
    }
    let runs = all_runs(&mut db);
    assert_no_overlap(&runs);
    assert!(
        runs.iter().all(|r| r.status != "running" || !of_victim(r)),
        "a dead worker's run left running: {runs:?}"
    );
    // The work spread: each worker ran connectors (the victim before its death).
    let by_worker: BTreeSet<u32> = runs
        .iter()
        .filter_map(|r| r.worker.as_deref().and_then(pid_of))
        .collect();
    let expected: BTreeSet<u32> = workers.iter().map(|w| w.id()).collect();
    assert_eq!(by_worker, expected, "runs.worker records every worker");

    // A connector stored now is picked up within poll_secs (1s) by a worker with room.
    let fresh = TenantId::parse("fresh").unwrap();
    store
        .put_tenant(&fresh, "Fresh", idsync::store::now())
        .await
        .unwrap();
    let settings = json!({"kind": "file", "path": "small.json", "interval": "1h"});
    let put_at = idsync::store::now();
    registry.put(&fresh, "hr", settings).await.unwrap();
    wait_until("the new tenant's run", Duration::from_secs(30), || {
        all_runs(&mut db).iter().any(|r| r.tenant == "fresh")
    });
    let first = all_runs(&mut db)
        .into_iter()
        .find(|r| r.tenant == "fresh")
        .unwrap();
    let waited = first.started - put_at;
    assert!(waited <= chrono::Duration::seconds(3), "picked up after {waited}");

    // Quarantine: a failing connector stops after two failures until its quarantine ends.
    let broken = TenantId::parse("broken").unwrap();
    store
        .put_tenant(&broken, "Broken", idsync::store::now())
        .await
        .unwrap();
    let settings = json!({"kind": "file", "path": "missing.json", "interval": "1s"});
    registry.put(&broken, "hr", settings).await.unwrap();
    wait_until("the broken tenant's quarantine", Duration::from_secs(60), || {
        sync_state::table
            .filter(sync_state::tenant_id.eq("broken"))
            .select(sync_state::quarantined_until)
            .first::<Option<NaiveDateTime>>(&mut db)
            .optional()
            .unwrap()
            .flatten()
            .is_some()
    });
    let failed = |db: &mut PgConnection| {
        all_runs(db)
            .iter()
            .filter(|r| r.tenant == "broken" && r.status == "failed")
            .count()
    };
    let failures = failed(&mut db);
    assert_eq!(failures, 2);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(failed(&mut db), failures, "no run during the quarantine");
    let (until, due): (Option<NaiveDateTime>, NaiveDateTime) = sync_state::table
        .inner_join(
            schedules::table.on(schedules::tenant_id
                .eq(sync_state::tenant_id)
                .and(schedules::connector.eq(sync_state::connector))),
        )
        .filter(sync_state::tenant_id.eq("broken"))
        .select((sync_state::quarantined_until, schedules::next_due_at))
        .first(&mut db)
        .unwrap();
    assert_eq!(
        until,
        Some(due),
        "the schedule waits for the end of the quarantine"
    );

    // SIGTERM drains: a worker stops claiming, finishes what it runs, releases its leases.
    let survivor = (0..3).find(|&i| i != victim).unwrap();
    let pid = workers[survivor].id();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let termed_at = idsync::store::now();
    let code = workers[survivor].wait().unwrap().code();
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(&logs[survivor]).unwrap()
    );
    let held: i64 = leases::table
        .filter(leases::holder.like(format!("%:{pid}:%")))
        .count()
        .get_result(&mut db)
        .unwrap();
    assert_eq!(held, 0, "a drained worker holds no lease");
    let runs = all_runs(&mut db);
    let mine = |r: &&Run| r.worker.as_deref().and_then(pid_of) == Some(pid);
    assert!(
        runs.iter()
            .filter(mine)
            .all(|r| r.status != "running" && r.status != "interrupted"),
        "a drained worker's runs all finished: {runs:?}"
    );
    let late = runs
        .iter()
        .filter(mine)
        .filter(|r| r.started > termed_at + chrono::Duration::milliseconds(500))
        .count();
    assert_eq!(late, 0, "no claim after SIGTERM");
    let log = std::fs::read_to_string(&logs[survivor]).unwrap();
    assert!(log.contains("no new claims"), "{log}");

    // The last worker carries on alone.
    let since = idsync::store::now();
    wait_until("runs on the last worker", Duration::from_secs(30), || {
        all_runs(&mut db)
            .iter()
            .filter(|r| r.started > since && r.status == "succeeded")
            .count()
            >= 3
    });
    assert_no_overlap(&all_runs(&mut db));
}
