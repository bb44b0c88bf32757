//! The console's tenants overview with 2,000 tenants: the time a page takes to answer over
//! loopback from `idsync run` (a release build under `cargo bench`), paged, sorted and
//! searched. Each tenant has a connector's sync state and five runs; some fail, some are
//! quarantined, some held, some have open conflicts. Prints figures; asserts nothing about
//! speed (the target is under 200 ms a page).
//!
//! `cargo bench --bench console` (`IDSYNC_BENCH_TENANTS=5000` to scale it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

const TOKEN: &str = "bench-admin-token-0123456789";

fn binary() -> PathBuf {
    std::env::var_os("IDSYNC_BENCH_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_idsync")))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tenants and their history, in one transaction.
fn populate(db: &std::path::Path, tenants: usize) {
    let mut c = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    let mut sql = String::from("BEGIN;");
    for i in 0..tenants {
        let id = format!("tenant-{i:05}");
        sql.push_str(&format!(
            "INSERT INTO tenants (id, display_name) VALUES ('{id}', 'Customer {i}');\n\
             INSERT INTO sync_state (tenant_id, connector, last_success_at, updated_at, consecutive_failures, quarantined_until) \
             VALUES ('{id}', 'hr', datetime('now', '-{m} minutes'), datetime('now'), {f}, {q});\n",
            m = i % 600,
            f = if i % 17 == 0 { 3 } else { 0 },
            q = if i % 53 == 0 { "datetime('now', '+1 hour')" } else { "NULL" },
        ));
        for r in 0..5 {
            let status = if r == 4 && i % 29 == 0 {
                "held"
            } else {
                "succeeded"
            };
            sql.push_str(&format!(
                "INSERT INTO runs (tenant_id, connector, mode, status, started_at, finished_at, created) \
                 VALUES ('{id}', 'hr', 'scheduled', '{status}', datetime('now', '-{h} hours'), datetime('now', '-{h} hours'), {r});\n",
                h = 5 - r,
            ));
        }
        if i % 7 == 0 {
            for k in 0..2 {
                sql.push_str(&format!(
                    "INSERT INTO conflicts (tenant_id, connector, external_id, upn, reason, detail, record, status, first_seen_at, last_seen_at) \
                     VALUES ('{id}', 'hr', 'x{k}', 'u{k}@example.com', 'ambiguous', 'two users share the email', '{{}}', 'open', datetime('now'), datetime('now'));\n"
                ));
            }
        }
    }
    sql.push_str("COMMIT;");
    c.batch_execute(&sql).unwrap();
}

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    let max = *times.last().unwrap();
    println!(
        "{label:<44} median {:>7.1} ms   max {:>7.1} ms   ({} requests)",
        ms(median),
        ms(max),
        times.len()
    );
}

#[tokio::main]
async fn main() {
    let tenants: usize = std::env::var("IDSYNC_BENCH_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("idsync.db");
    let (admin, scim) = (free_port(), free_port());
    let config = dir.path().join("idsync.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = \"{TOKEN}\"\n\n\
             [scim]\nlisten = \"127.0.0.1:{scim}\"\n",
            db.display()
        ),
    )
    .unwrap();
    let migrated = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let started = Instant::now();
    populate(&db, tenants);
    println!(
        "{tenants} tenants, {} runs, written in {:.1} s",
        tenants * 5,
        started.elapsed().as_secs_f64()
    );

    let mut daemon = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{admin}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let cookie = loop {
        let answer = http
            .post(format!("{base}/ui/login"))
            .form(&[("token", TOKEN), ("operator", "bench")])
            .send()
            .await;
        if let Ok(answer) = answer {
            let header = answer
                .headers()
                .get("set-cookie")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            break header.split(';').next().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "the admin listener did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pages = tenants.div_ceil(50);
    let cases: Vec<(String, String)> = vec![
        ("first page, by id".into(), "/ui/?page=1".into()),
        ("last page, by id".into(), format!("/ui/?page={pages}")),
        (
            "middle page, needs attention first".into(),
            format!("/ui/?sort=health&page={}", pages / 2),
        ),
        ("by last success".into(), "/ui/?sort=last_success".into()),
        ("search 'customer 19'".into(), "/ui/?q=customer%2019".into()),
    ];
    for (label, path) in cases {
        let mut times = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let answer = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{path}");
            let body = answer.text().await.unwrap();
            times.push(t.elapsed());
            assert!(body.contains("data-tenant"), "{path}: no tenant rows");
        }
        summary(&label, times);
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}
