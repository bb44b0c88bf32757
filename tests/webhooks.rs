//! Webhooks end to end: `idsync run` with a file connector, webhooks put through the admin
//! API, and a receiver on loopback that checks every signature and fails on command. The
//! changes arrive in `seq` order and equal the events API's; failures are retried and
//! recorded, a spent schedule disables the endpoint and sends the failure mail, a replay
//! re-sends, a `types` filter holds, and `kill -9` of the daemon mid-delivery loses nothing
//! (duplicates carry the same `webhook-id` and body).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::admin::{sections, AdminDaemon};
use support::receiver::{Answer, Receiver};
use support::smtp::SmtpSink;
use support::{export_user, write_export};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    ports: (u16, u16),
}

impl Setup {
    fn new(extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("export.json");
        write_export(&export, &[], &[]);
        let ports = AdminDaemon::ports();
        let config = Self::write_config(dir.path(), "idsync.toml", ports, extra);
        Setup { dir, config, ports }
    }

    /// A second process on the same database and directory, with its own ports.
    async fn start_second(&self) -> AdminDaemon {
        let ports = AdminDaemon::ports();
        let config = Self::write_config(self.dir.path(), "second.toml", ports, "");
        AdminDaemon::start(&config, ports.0, ports.1).await
    }

    fn write_config(dir: &std::path::Path, file: &str, ports: (u16, u16), extra: &str) -> PathBuf {
        let export = dir.join("export.json");
        let url = format!("sqlite://{}", dir.join("idsync.db").display());
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let text = format!(
            "[database]\nurl = {url:?}\n\n[daemon]\npoll_secs = 1\njitter_secs = 0\n\n\
             [[connectors]]\nname = \"hr\"\nkind = \"file\"\npath = {:?}\ninterval = \"24h\"\n\
             max_deactivation_percent = 100\n\n{extra}\n{}",
            export.display().to_string(),
            sections(ports.0, ports.1, &format!("secrets_key = {key:?}")),
        );
        let config = dir.join(file);
        std::fs::write(&config, text).unwrap();
        config
    }

    async fn start(&self) -> AdminDaemon {
        AdminDaemon::start(&self.config, self.ports.0, self.ports.1).await
    }

    fn export(&self, users: &[Value], groups: &[Value]) {
        write_export(&self.dir.path().join("export.json"), users, groups);
    }
}

/// A run of `hr` through the API, waited for.
async fn run(api: &AdminDaemon) {
    for _ in 0..100 {
        let (status, body) = api.post("/tenants/default/connectors/hr/runs", "{}").await;
        if status == StatusCode::ACCEPTED {
            let id = body["run_id"].as_i64().unwrap();
            api.wait_for(&format!("/tenants/default/runs/{id}"), "the run", |r| {
                r["status"] != "running"
            })
            .await;
            return;
        }
        // The start-up run is still going.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the run never started");
}

async fn put_hook(api: &AdminDaemon, name: &str, body: Value) -> Value {
    let (status, answer) = api
        .call(
            Method::PUT,
            &format!("/tenants/default/webhooks/{name}"),
            Some(&body.to_string()),
        )
        .await;
    assert!(status.is_success(), "{status} {answer}");
    answer
}

/// The whole feed through the events API.
async fn feed(api: &AdminDaemon, after: i64) -> Vec<Value> {
    let (status, body) = api
        .get(&format!("/tenants/default/changes?after={after}&limit=1000"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["changes"].as_array().unwrap().clone()
}

fn people(n: usize, suffix: &str) -> Vec<Value> {
    (1..=n)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}{suffix}@example.com"), None, true))
        .collect()
}

/// The messages' `data`, in the order first acknowledged.
fn delivered(receiver: &Receiver) -> Vec<Value> {
    receiver
        .acknowledged()
        .into_iter()
        .map(|r| r.body["data"].clone())
        .collect()
}

/// The SMTP sink runs its own runtime, so this test builds the test's runtime beside it.
#[test]
fn order_retries_disable_attempts_and_replay() {
    let sink = SmtpSink::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(order_retries_disable_attempts_and_replay_with(&sink));
}

async fn order_retries_disable_attempts_and_replay_with(sink: &SmtpSink) {
    let s = Setup::new(&format!(
        "[webhook_delivery]\nretry_schedule_secs = [0, 1, 1, 1]\ntimeout_secs = 1\n\n\
         [alerts]\nsmtp_url = {:?}\nfrom = \"idsync@example.com\"\nto = [\"ops@example.com\"]\n",
        sink.url()
    ));
    let api = s.start().await;
    let receiver = Receiver::start(SECRET).await;
    let only_created = Receiver::start(SECRET).await;
    let view = put_hook(&api, "app", json!({"url": receiver.url, "secret": SECRET})).await;
    assert_eq!(view["secret"], "***");
    assert_eq!(view["types"], json!([]));
    put_hook(
        &api,
        "welcome",
        json!({"url": only_created.url, "secret": SECRET, "types": ["user.created"]}),
    )
    .await;
    let (status, bad) = api
        .call(
            Method::PUT,
            "/tenants/default/webhooks/bad",
            Some(&json!({"url": receiver.url, "secret": "nope"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    // 1. Creates and a group, delivered in order, equal to the events API.
    s.export(
        &people(5, ""),
        &[json!({"id": "g1", "display_name": "Staff", "members": ["e1", "e2"]})],
    );
    run(&api).await;
    let changes = feed(&api, 0).await;
    assert_eq!(changes.len(), 8, "{changes:#?}");
    receiver
        .wait_until(20, "the first changes", |r| {
            r.iter().filter(|r| r.acknowledged()).count() >= 8
        })
        .await;
    assert_eq!(
        delivered(&receiver),
        changes,
        "the webhooks carry the events API's changes, in order"
    );
    let first = &receiver.received()[0];
    assert_eq!(first.id, format!("chg_{}", changes[0]["seq"]));
    assert_eq!(first.body["type"], changes[0]["type"]);
    assert_eq!(first.body["timestamp"], changes[0]["occurred_at"]);
    only_created.wait_until(20, "the creates", |r| r.len() >= 5).await;
    assert!(only_created
        .received()
        .iter()
        .all(|r| r.body["type"] == "user.created"));

    // 2. A 500, a dropped connection and a stall, then success: retried, same id, recorded.
    receiver.then(&[
        Answer::Status(500),
        Answer::Drop,
        Answer::Stall(Duration::from_secs(3)),
    ]);
    s.export(
        &people(5, ".renamed"),
        &[json!({"id": "g1", "display_name": "Staff", "members": ["e1", "e2"]})],
    );
    run(&api).await;
    let changes = feed(&api, 0).await;
    assert_eq!(changes.len(), 13);
    receiver
        .wait_until(30, "the renames", |r| {
            r.iter().filter(|r| r.acknowledged()).count() >= 13
        })
        .await;
    assert_eq!(delivered(&receiver), changes);
    let tries: Vec<_> = receiver.received().into_iter().skip(8).take(4).collect();
    assert!(
        tries.iter().all(|t| t.id == tries[0].id),
        "retries keep the webhook-id"
    );
    assert!(tries.iter().all(|t| t.body == tries[0].body), "and the body");
    let (_, attempts) = api.get("/tenants/default/webhooks/app/attempts").await;
    let attempts = attempts["attempts"].as_array().unwrap().clone();
    let failed: Vec<&Value> = attempts.iter().filter(|a| !a["error"].is_null()).collect();
    assert_eq!(failed.len(), 3, "{attempts:#?}");
    assert!(failed.iter().any(|a| a["status"] == 500));
    assert!(failed.iter().all(|a| a["webhook_id"] == tries[0].id.as_str()));
    assert_eq!(attempts.len(), 13 + 3);

    // 3. A receiver that keeps failing: four attempts, then disabled, and the mail.
    receiver.always(Answer::Status(503));
    s.export(
        &people(6, ".renamed"),
        &[json!({"id": "g1", "display_name": "Staff", "members": ["e1", "e2"]})],
    );
    run(&api).await;
    let hook = api
        .wait_for("/tenants/default/webhooks/app", "the webhook disabled", |w| {
            !w["disabled_at"].is_null()
        })
        .await;
    assert_eq!(hook["failures"], 4);
    assert!(
        hook["disabled_reason"].as_str().unwrap().contains("503"),
        "{hook}"
    );
    let mail = tokio::task::block_in_place(|| sink.wait_for(1));
    assert!(
        mail[0].subject().contains("webhook default/app disabled"),
        "{}",
        mail[0].subject()
    );

    // 4. Replay from 0: the whole feed again, in order, after the 13 delivered before.
    receiver.always(Answer::Ok);
    let (status, body) = api
        .post("/tenants/default/webhooks/app/replay", r#"{"after": 0}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changes = feed(&api, 0).await;
    assert_eq!(changes.len(), 14);
    receiver
        .wait_until(30, "the replay", |r| {
            r.iter().filter(|r| r.acknowledged()).count() >= 13 + 14
        })
        .await;
    let replayed: Vec<Value> = receiver
        .received()
        .into_iter()
        .filter(|r| r.acknowledged())
        .skip(13)
        .map(|r| r.body["data"].clone())
        .collect();
    assert_eq!(replayed, changes);
    assert!(
        receiver.received().iter().all(|r| r.verified),
        "every signature checks out"
    );
    assert!(only_created.received().iter().all(|r| r.verified));

    // 5. The long poll: an empty page waits, then answers with what arrives.
    let last = changes.last().unwrap()["seq"].as_i64().unwrap();
    let started = std::time::Instant::now();
    let (status, page) = api
        .get(&format!("/tenants/default/changes?after={last}&wait=1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(900), "held open");
    assert_eq!(page, json!({"changes": [], "next_after": last}));
    let (status, all) = api.get("/changes?after=0&limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        all["changes"].as_array().unwrap(),
        &changes,
        "one tenant: the global feed is its feed"
    );

    // Deleting stops it.
    let (status, _) = api
        .call(Method::DELETE, "/tenants/default/webhooks/welcome", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("/tenants/default/webhooks/welcome").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Two processes on one database: each change reaches the endpoint once, in `seq` order,
/// since one process at a time holds the endpoint's lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_deliver_each_change_once() {
    let s = Setup::new("");
    let first = s.start().await;
    let second = s.start_second().await;
    let receiver = Receiver::start(SECRET).await;
    put_hook(&first, "app", json!({"url": receiver.url, "secret": SECRET})).await;
    s.export(&people(200, ""), &[]);
    run(&first).await;
    let changes = feed(&second, 0).await;
    assert_eq!(changes.len(), 200);
    receiver
        .wait_until(60, "every change", |r| {
            r.iter().filter(|r| r.acknowledged()).count() >= 200
        })
        .await;
    // Both processes are still delivering: anything sent twice would have arrived by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.received();
    let ids: Vec<&str> = received.iter().map(|r| r.id.as_str()).collect();
    let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a change was delivered twice: {ids:?}");
    assert_eq!(delivered(&receiver), changes, "every change once, in seq order");
    drop(second);
}

fn kill9(api: &mut AdminDaemon) {
    let pid = api.daemon.0.id();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = api.daemon.0.wait();
}

/// `kill -9` at random points of a long delivery, three times: afterwards the receiver has
/// acknowledged every change, in order of first acknowledgement, and every duplicate carries
/// the same webhook-id and body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_loses_nothing() {
    let s = Setup::new("[[webhooks]]\nname = \"file-hook\"\nurl = \"http://127.0.0.1:9/never\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntypes = [\"group.created\"]\n");
    let mut api = s.start().await;
    let receiver = Receiver::start(SECRET).await;
    put_hook(&api, "app", json!({"url": receiver.url, "secret": SECRET})).await;
    let (status, file_hook) = api.get("/tenants/default/webhooks/file-hook").await;
    assert_eq!(status, StatusCode::OK, "{file_hook}");
    assert_eq!(file_hook["defined_in"], "file");
    // Slow answers, so the kills land mid-delivery.
    receiver.always(Answer::Slow(Duration::from_millis(5)));
    s.export(&people(300, ""), &[]);
    run(&api).await;
    let total = feed(&api, 0).await.len();
    assert_eq!(total, 300);
    for round in 0..3u64 {
        let wanted = 40 + 60 * usize::try_from(round).unwrap() + usize::try_from(rand_below(30)).unwrap();
        receiver
            .wait_until(60, "some deliveries", |r| r.len() >= wanted)
            .await;
        kill9(&mut api);
        api = s.start().await;
    }
    receiver
        .wait_until(120, "every change", |r| {
            let ids: std::collections::HashSet<&str> = r
                .iter()
                .filter(|r| r.acknowledged())
                .map(|r| r.id.as_str())
                .collect();
            ids.len() >= total
        })
        .await;
    let changes = feed(&api, 0).await;
    let mut by_id: HashMap<String, Value> = HashMap::new();
    for r in receiver.received() {
        assert!(r.verified);
        let body = by_id.entry(r.id.clone()).or_insert_with(|| r.body.clone());
        assert_eq!(body, &r.body, "a duplicate {} carries the same body", r.id);
    }
    let firsts: Vec<Value> = {
        let mut seen = std::collections::HashSet::new();
        receiver
            .received()
            .into_iter()
            .filter(|r| seen.insert(r.id.clone()))
            .map(|r| r.body["data"].clone())
            .collect()
    };
    assert_eq!(firsts, changes, "every change arrived, first in seq order");
    reference_verifies(&receiver.received());
}

/// The interpreter with the reference `standardwebhooks` library: `STANDARDWEBHOOKS_PYTHON`,
/// else `.ci/venv/bin/python` when it has it. `.ci/run` installs it and sets
/// `IDSYNC_REQUIRE_STANDARDWEBHOOKS`, under which a missing library fails the test.
fn reference_python() -> Option<String> {
    let candidates = std::env::var("STANDARDWEBHOOKS_PYTHON")
        .ok()
        .into_iter()
        .chain([concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/venv/bin/python").to_owned()]);
    for python in candidates {
        let found = std::process::Command::new(&python)
            .args(["-c", "import standardwebhooks"])
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(python);
        }
    }
    assert!(
        std::env::var_os("IDSYNC_REQUIRE_STANDARDWEBHOOKS").is_none(),
        "no Python with standardwebhooks: set STANDARDWEBHOOKS_PYTHON"
    );
    None
}

/// Every delivery verifies with the reference library (PyPI `standardwebhooks`).
fn reference_verifies(received: &[support::receiver::Received]) {
    let Some(python) = reference_python() else {
        eprintln!("standardwebhooks (PyPI) is not installed: the reference check did not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deliveries.jsonl");
    let lines: Vec<String> = received
        .iter()
        .map(|r| {
            json!({"id": r.id, "timestamp": r.timestamp, "signature": r.signature, "body": r.raw_body})
                .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/verify_standard_webhooks.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(SECRET)
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the reference verifier refused a delivery: {text}"
    );
    assert!(
        text.contains(&format!("verified {} deliveries", received.len())),
        "{text}"
    );
}

/// A small random number (no extra crate: the clock's nanoseconds).
fn rand_below(n: u64) -> u64 {
    u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
    ) % n
}
