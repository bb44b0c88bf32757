//! `idsync scim-token create|revoke` and `idsync run` serving the SCIM endpoint, on the
//! release-shaped binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Output;
use std::time::Duration;

use idsync::store::DatabaseUrl;
use reqwest::StatusCode;
use serde_json::json;
use support::tables::Tables;
use support::{free_port, idsync, scim_only_config};

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// Sends the request; the status it got.
async fn status(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn tokens_rotate_and_revoke_and_run_serves_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("idsync.db");
    let port = free_port();
    // SCIM only: no pull connectors at all.
    let config = scim_only_config(dir.path(), &db_path, port);

    let first = idsync(&config, &["scim-token", "create"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first = last_line(&first);
    assert!(first.starts_with("idsync_scim_"), "{first}");
    let second = last_line(&idsync(&config, &["scim-token", "create"]));
    assert_ne!(first, second);

    let mut daemon = support::spawn_run(&config);
    let base = format!("http://127.0.0.1:{port}/scim/v2");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            up = r.status() == StatusCode::OK;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "idsync run did not serve /scim/v2/health");

    // The first token was voided by the second.
    assert_eq!(
        status(client.get(format!("{base}/Users")).bearer_auth(&first)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(client.get(format!("{base}/Users")).bearer_auth(&second)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(
            client
                .post(format!("{base}/Groups"))
                .bearer_auth(&second)
                .json(&json!({ "displayName": "Pushed" }))
        )
        .await,
        StatusCode::CREATED
    );

    let out = idsync(&config, &["scim-token", "revoke", "--detach-groups"]);
    assert!(out.status.success());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        status(client.get(format!("{base}/Users")).bearer_auth(&second)).await,
        StatusCode::UNAUTHORIZED
    );
    let _ = daemon.kill();
    let _ = daemon.wait();

    let url = DatabaseUrl::Sqlite(db_path);
    let (source, read_only): (Option<String>, bool) = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use idsync::store::schema::groups;
        let mut tables = Tables::connect(&url);
        with_tables!(&mut tables, c => groups::table.select((groups::source, groups::read_only)).first(c).unwrap())
    })
    .await
    .unwrap();
    assert_eq!((source, read_only), (None, false));
}
