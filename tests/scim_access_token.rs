//! `allow_access_token_query` (RFC 6750 section 2.3) on the binary: off by default, GET only
//! when on, and the token never in the daemon's log, at the most verbose level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::{free_port, idsync, scim_only_config};

struct Running {
    daemon: support::Daemon,
    base: String,
    token: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// `idsync run` serving SCIM only, with `extra` under `[scim]`, logging everything to a file.
async fn run(extra: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = scim_only_config(dir.path(), &dir.path().join("idsync.db"), port);
    let text = std::fs::read_to_string(&config).unwrap() + extra;
    std::fs::write(&config, text).unwrap();
    let out = idsync(&config, &["scim-token", "create"]);
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let log = dir.path().join("daemon.log");
    let daemon = support::Daemon(
        Command::new(env!("CARGO_BIN_EXE_idsync"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("RUST_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}/scim/v2");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/health")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Running {
        daemon,
        base,
        token,
        log,
        _dir: dir,
    }
}

#[tokio::test]
async fn the_query_token_works_on_get_only_when_enabled_and_is_never_logged() {
    let mut r = run("allow_access_token_query = true\n").await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/Users", r.base))
        .bearer_auth(&r.token)
        .json(&json!({ "userName": "ann@x.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    // GET with the token in the query, other parameters kept.
    let url = format!(
        "{}/Users?access_token={}&filter=userName%20eq%20%22ann%40x.example%22",
        r.base, r.token
    );
    let got = client.get(&url).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let body: serde_json::Value = got.json().await.unwrap();
    assert_eq!(body["totalResults"], 1, "{body}");
    // Anything but GET is refused, and so is a wrong token.
    let post = client
        .post(format!("{}/Users?access_token={}", r.base, r.token))
        .json(&json!({ "userName": "bo@x.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
    let wrong = client
        .get(format!("{}/Users?access_token=idsync_scim_wrong", r.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let _ = Command::new("kill")
        .args(["-TERM", &r.daemon.id().to_string()])
        .status();
    r.daemon.wait().unwrap();
    let log = std::fs::read_to_string(&r.log).unwrap();
    assert!(log.contains("/scim/v2/Users"), "the requests are logged: {log}");
    assert!(log.contains("accepted on GET only"), "{log}");
    assert!(!log.contains(&r.token), "the token reached the log: {log}");
    assert!(
        !log.contains("access_token="),
        "a query string reached the log: {log}"
    );
}

#[tokio::test]
async fn the_query_token_is_refused_by_default() {
    let r = run("").await;
    let got = reqwest::get(format!("{}/Users?access_token={}", r.base, r.token))
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::UNAUTHORIZED);
    let with_header = reqwest::Client::new()
        .get(format!("{}/Users", r.base))
        .bearer_auth(&r.token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), StatusCode::OK);
}
