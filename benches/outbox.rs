//! The change feed's figures: a first full apply of a generated directory (100,000 users, 5,000
//! groups, 500,000 memberships) into SQLite with its change rows; webhook delivery throughput
//! to a receiver on loopback, one change per request and in batches of 100; and the time from
//! a commit to its delivery (median and p99).
//!
//! `cargo bench --bench outbox` (sizes: `IDSYNC_BENCH_USERS=20000`, `IDSYNC_BENCH_DELIVER=5000`).
//! The apply's cost without the outbox is `cargo bench --bench apply` on the commit before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use idsync::planner::{self, Plan, PlanSettings};
use idsync::secrets::{Keyring, SecretsKey};
use idsync::store::webhooks::WebhookSpec;
use idsync::store::{self, ApplyContext, CursorUpdate, DatabaseUrl, Store};
use idsync::tenant::TenantId;
use idsync::webhooks::{Delivery, DeliverySettings, SecretSource};
use idsync_source::{Fetched, GroupRecord, Secret, Snapshot, UserRecord};
use support::{env_or, sizes};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn user(i: usize) -> UserRecord {
    UserRecord {
        external_id: format!("{i:08x}-0000-4000-8000-{i:012x}"),
        upn: format!("user{i}@bench.example"),
        email: Some(format!("user{i}@bench.example")),
        display_name: Some(format!("User {i}")),
        department: Some(format!("Dept {}", i % 50)),
        enabled: true,
        ..UserRecord::default()
    }
}

fn directory(users: usize, groups: usize, memberships: usize) -> Snapshot {
    let users: Vec<UserRecord> = (0..users).map(user).collect();
    let per_group = memberships / groups.max(1);
    let groups = (0..groups)
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

fn ctx() -> ApplyContext {
    ApplyContext {
        run_id: None,
        run_end: None,
        now: store::now(),
        cursor: CursorUpdate::Keep,
    }
}

/// Arrival time by `webhook-id`.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A receiver on loopback that answers 200 and notes when each message arrived.
async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let noted = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, _body: axum::body::Bytes| {
            let noted = noted.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                noted.lock().unwrap().insert(id.to_owned(), Instant::now());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

/// Starts delivery to a new endpoint `name` from `after`.
async fn endpoint(store: &Store, keyring: &Keyring, name: &str, url: &str, batch: i64, after: i64) {
    let spec = WebhookSpec {
        url: url.to_owned(),
        sealed_secret: Some((keyring.seal(&Secret::new(SECRET)).unwrap(), None)),
        types: Vec::new(),
        batch_size: batch,
        from_config: false,
    };
    store.put_webhook(name, spec, store::now()).await.unwrap();
    store.replay_webhook(name, after, store::now()).await.unwrap();
}

async fn delivered_up_to(store: &Store, name: &str, seq: i64) {
    while store.webhook(name).await.unwrap().unwrap().delivered_seq < seq {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let [users, groups, memberships, _] = sizes([100_000, 5_000, 500_000, 0]);
    let deliver = i64::try_from(env_or("IDSYNC_BENCH_DELIVER", 20_000)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("bench.db"));
    let store = Store::open(&url);
    store.migrate().await.unwrap();
    println!("idsync outbox benchmark: {users} users, {groups} groups, {memberships} memberships, SQLite");

    // 1. The first full apply, with its change rows.
    let started = Instant::now();
    let local = store.load_local("bench").await.unwrap();
    let fetched = Fetched::Snapshot(directory(users, groups, memberships));
    let plan = planner::plan("bench", fetched, &local, &PlanSettings::default(), store::now());
    store.apply(plan, ctx()).await.unwrap();
    let last = store.last_change_seq().await.unwrap();
    println!(
        "first full apply       {:>7.2} s  ({last} changes written with it)",
        started.elapsed().as_secs_f64()
    );

    // 2. Delivery throughput from the feed, one change per request and batched.
    let keyring = Keyring::new(Some(SecretsKey::from_bytes([5; 32])), Vec::new());
    let secrets = SecretSource {
        keyring: keyring.clone(),
        file: HashMap::new(),
    };
    let settings = DeliverySettings {
        retry_schedule: vec![Duration::ZERO, Duration::from_secs(1)],
        timeout: Duration::from_secs(10),
        poll: Duration::from_millis(100),
    };
    let delivery = Arc::new(Delivery::new(store.clone(), settings, secrets).unwrap());
    let (hook_url, arrivals) = receiver().await;
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let deliver = deliver.min(last);
    for (name, batch) in [("single", 1), ("batched", 100)] {
        endpoint(&store, &keyring, name, &hook_url, batch, last - deliver).await;
        let started = Instant::now();
        tokio::spawn(delivery.clone().run_endpoint(
            TenantId::default_tenant(),
            name.to_owned(),
            stop.clone(),
        ));
        delivered_up_to(&store, name, last).await;
        let took = started.elapsed().as_secs_f64();
        println!(
            "delivery, batch {batch:>3}     {took:>7.2} s  ({deliver} changes, {:.0} changes/s)",
            deliver as f64 / took
        );
        store.delete_webhook(name).await.unwrap();
    }

    // 3. Commit to delivery: single changes committed one after another.
    endpoint(&store, &keyring, "latency", &hook_url, 1, last).await;
    tokio::spawn(delivery.clone().run_endpoint(
        TenantId::default_tenant(),
        "latency".to_owned(),
        stop.clone(),
    ));
    let mut latencies = Vec::new();
    for i in 0..200 {
        let plan = Plan {
            source: "bench".into(),
            user_creates: vec![user(users + i)],
            ..Plan::default()
        };
        store.apply(plan, ctx()).await.unwrap();
        let committed = Instant::now();
        let seq = store.last_change_seq().await.unwrap();
        let id = format!("chg_{seq}");
        let arrived = loop {
            if let Some(t) = arrivals.lock().unwrap().get(&id) {
                break *t;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        latencies.push(arrived.saturating_duration_since(committed));
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "commit to delivery     median {:.1} ms, p99 {:.1} ms ({} changes)",
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() * 99 / 100]),
        latencies.len()
    );
}
