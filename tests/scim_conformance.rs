//! The independent conformance suite scim2-tester 0.5.2 (PyPI) over every tag, against the
//! binary on SQLite and on PostgreSQL, through `tests/conformance/run_scim2_tester.py`.
//!
//! The suite needs Python with `scim2-tester[httpx2]==0.5.2`: set `SCIM2_TESTER_PYTHON` to
//! that interpreter (for example a venv's `bin/python`). Without it the test says so and
//! passes, so a machine without the suite still runs the rest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::free_port;
use support::postgres::TestDatabase;

fn tester() -> Option<String> {
    let python = std::env::var("SCIM2_TESTER_PYTHON").ok()?;
    let found = Command::new(&python)
        .args(["-c", "import scim2_tester, httpx2"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "SCIM2_TESTER_PYTHON={python} cannot import scim2_tester and httpx2"
    );
    Some(python)
}

/// Serves SCIM on `database_url` and runs the suite against it; its report is printed.
async fn conformance(python: &str, database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("idsync.toml");
    let text = format!("[database]\nurl = \"{database_url}\"\n\n[scim]\nlisten = \"127.0.0.1:{port}\"\n");
    std::fs::write(&config, text).unwrap();
    let token = support::create_scim_token(&config);
    let mut daemon = support::spawn_run(&config);
    let base = format!("http://127.0.0.1:{port}/scim/v2");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/health")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/run_scim2_tester.py"
    );
    let run = tokio::process::Command::new(python)
        .args([script, &base, &token])
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&run.stdout);
    println!("{report}");
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    assert!(
        run.status.success(),
        "checks failed:\n{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("SUCCESS"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_passes_on_sqlite() {
    let Some(python) = tester() else {
        eprintln!("SCIM2_TESTER_PYTHON is not set: scim2-tester not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    conformance(
        &python,
        &format!("sqlite://{}", dir.path().join("idsync.db").display()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_passes_on_postgres() {
    let Some(python) = tester() else {
        eprintln!("SCIM2_TESTER_PYTHON is not set: scim2-tester not run");
        return;
    };
    let pg = TestDatabase::create();
    conformance(&python, &pg.url).await;
}
