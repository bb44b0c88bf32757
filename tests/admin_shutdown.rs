//! SIGTERM waits for a run started through the admin API, as it waits for a scheduled one:
//! stopped while the run is still fetching (the fake Graph stalls a page), the process lets
//! it fetch, apply and end `succeeded`, then exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use diesel::prelude::*;
use idsync::store::schema::runs;
use idsync_fakes::graph::support::seed;
use idsync_fakes::graph::{FakeGraph, Fault, Route, CLIENT_ID, CLIENT_SECRET, TENANT};
use reqwest::StatusCode;
use support::admin::{sections, AdminDaemon};

fn config_text(db: &str, fake: &FakeGraph, admin: u16, scim: u16) -> String {
    format!(
        "[database]\nurl = {db:?}\n\n[daemon]\njitter_secs = 0\n\n\
         [[connectors]]\nname = \"entra\"\nkind = \"entra\"\ntenant_id = {TENANT:?}\n\
         client_id = {CLIENT_ID:?}\nclient_secret = {CLIENT_SECRET:?}\n\
         authority_url = {:?}\ngraph_url = {:?}\ninterval = \"1h\"\n\n{}",
        fake.authority_url(),
        fake.graph_url(),
        sections(admin, scim, "")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_run_started_through_the_api_finish() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("idsync.db");
    let fake = FakeGraph::start().await;
    seed(&fake);
    let (admin, scim) = AdminDaemon::ports();
    let config = dir.path().join("idsync.toml");
    let db = format!("sqlite://{}", db_path.display());
    std::fs::write(&config, config_text(&db, &fake, admin, scim)).unwrap();
    let mut api = AdminDaemon::start(&config, admin, scim).await;
    api.wait_for("/tenants/default/runs", "the start-up run", |body| {
        body["runs"]
            .as_array()
            .is_some_and(|runs| runs.iter().any(|r| r["status"] == "succeeded"))
    })
    .await;

    fake.inject(Route::UsersDelta, Fault::Delay(Duration::from_secs(2)));
    let (status, body) = api
        .post("/tenants/default/connectors/entra/runs", r#"{"full": true}"#)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run_id = body["run_id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = api.daemon.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let code = tokio::task::block_in_place(|| api.daemon.wait().unwrap().code());
    assert_eq!(code, Some(0), "{}", api.log_text());

    let mut conn = SqliteConnection::establish(&db_path.to_string_lossy()).unwrap();
    let status: String = runs::table
        .find(run_id)
        .select(runs::status)
        .first(&mut conn)
        .unwrap();
    assert_eq!(status, "succeeded", "{}", api.log_text());
}
