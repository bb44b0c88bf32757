//! The admin API of a running `idsync run` on a loopback port, on SQLite and PostgreSQL:
//! authentication, the OpenAPI document, errors, runs now and dry, run status, the event log,
//! status, approve and the tenant's SCIM token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::admin::{sections, AdminDaemon, SECRET_ENV, TOKEN};
use support::tables::Tables;
use support::{export_user, file_config, write_export};

/// Every path the contract names, as the document must list it.
const PATHS: [&str; 13] = [
    "/admin/v1/openapi.json",
    "/admin/v1/tenants/{tenant}/connectors/{name}",
    "/admin/v1/tenants",
    "/admin/v1/tenants/{tenant}",
    "/admin/v1/tenants/{tenant}/status",
    "/admin/v1/tenants/{tenant}/connectors/{name}/approve",
    "/admin/v1/tenants/{tenant}/connectors/{name}/reject",
    "/admin/v1/tenants/{tenant}/connectors/{name}/runs",
    "/admin/v1/tenants/{tenant}/runs",
    "/admin/v1/tenants/{tenant}/runs/{id}",
    "/admin/v1/tenants/{tenant}/events",
    "/admin/v1/tenants/{tenant}/conflicts",
    "/admin/v1/tenants/{tenant}/scim-token",
];

struct Setup {
    dir: tempfile::TempDir,
    export: std::path::PathBuf,
    api: AdminDaemon,
    url: String,
}

async fn start(url: Option<String>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    let users = [
        export_user("e1", "ann@example.com", None, true),
        export_user("e2", "bob@example.com", None, true),
    ];
    write_export(&export, &users, &[]);
    let url = url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("idsync.db").display()));
    let (admin, scim) = AdminDaemon::ports();
    let extra = format!(
        "\n[daemon]\njitter_secs = 0\npoll_secs = 1\n\n{}",
        sections(admin, scim, "")
    );
    let config = file_config(dir.path(), &url, &export, &extra);
    let api = AdminDaemon::start(&config, admin, scim).await;
    Setup {
        dir,
        export,
        api,
        url,
    }
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
}

async fn authentication_and_the_document(api: &AdminDaemon) {
    let (status, body) = api
        .call_as(None, Method::GET, "/tenants/default/status", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error_of(&body).contains("bearer token"), "{body}");
    let (status, _) = api
        .call_as(Some("wrong"), Method::GET, "/tenants/default/runs", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .call_as(Some(TOKEN), Method::GET, "/tenants/default/runs", None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, doc) = api.call_as(None, Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in PATHS {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys());
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "RunView",
        "ErrorBody",
        "RunRequest",
        "EventList",
        "ConflictList",
        "TenantStatus",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    // Every reference points at a schema the document defines.
    let text = doc.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling reference to {name}");
    }
    assert!(!api.log_text().contains(TOKEN), "the token reached the log");
}

async fn bad_requests(api: &AdminDaemon) {
    let (status, body) = api.get("/tenants/Not_A_Slug/status").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("invalid tenant id"), "{body}");
    let (status, body) = api.get("/tenants/nobody/status").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api.post("/tenants/default/connectors/nope/runs", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api
        .post("/tenants/default/connectors/hr/runs", "{\"full\": tru")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("line 1 column"), "{body}");
    let (status, body) = api
        .post("/tenants/default/connectors/hr/runs", "{\"full\": 3}")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["path"], "full", "{body}");
    let (status, body) = api
        .post("/tenants/default/connectors/hr/runs", "{\"fast\": true}")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("fast"), "{body}");
    let big = format!("{{\"full\": false, \"pad\": \"{}\"}}", "x".repeat(5000));
    let (status, body) = api.post("/tenants/default/connectors/hr/runs", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, body) = api.get("/tenants/default/runs/abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api.get("/tenants/default/runs/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api.get("/tenants/default/events?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["path"], "since", "{body}");
    let (status, body) = api.get("/tenants/default/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api.call(Method::PATCH, "/tenants/default", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(error_of(&body).contains("PATCH"), "{body}");
}

async fn runs_dry_and_real(setup: &Setup) {
    let api = &setup.api;
    // The start-up run.
    let status = api
        .wait_for("/tenants/default/status", "the first run", |s| {
            s["connectors"][0]["last_run"]["status"] == "succeeded"
        })
        .await;
    let first = status["connectors"][0]["last_run"]["run_id"].as_i64().unwrap();
    assert_eq!(status["connectors"][0]["name"], "hr");
    assert!(status["connectors"][0]["next_run_at"].is_string(), "{status}");
    assert_eq!(status["connectors"][0]["held_run_id"], Value::Null);

    let users = [
        export_user("e1", "ann@example.com", None, true),
        export_user("e2", "bob@example.com", None, true),
        export_user("e3", "cid@example.com", None, true),
    ];
    write_export(&setup.export, &users, &[]);
    let mut tables = Tables::open(&setup.url);
    let before = tables.count("SELECT count(*) AS n FROM users");
    let runs_before = tables.count("SELECT count(*) AS n FROM runs");
    let (status, plan) = api
        .post("/tenants/default/connectors/hr/runs", r#"{"dry_run": true}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["counts"]["created"], 1, "{plan}");
    let changes: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(changes.iter().any(|l| l.contains("cid@example.com")), "{plan}");
    assert_eq!(
        tables.count("SELECT count(*) AS n FROM users"),
        before,
        "a dry run writes nothing"
    );
    assert_eq!(tables.count("SELECT count(*) AS n FROM runs"), runs_before);

    let (status, started) = api.post("/tenants/default/connectors/hr/runs", "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["run_id"].as_i64().unwrap();
    assert!(id > first);
    let run = api
        .wait_for(&format!("/tenants/default/runs/{id}"), "the run", |r| {
            r["status"] != "running"
        })
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["created"], 1, "{run}");
    assert_eq!(run["error"], Value::Null);
    assert_eq!(tables.count("SELECT count(*) AS n FROM users"), before + 1);

    let (_, list) = api.get("/tenants/default/runs").await;
    let ids: Vec<i64> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.first(), Some(&id), "newest first: {list}");
    assert!(ids.contains(&first));
}

/// Another process holds the connector's lease mid-run: a run request is refused with the
/// running run's id.
async fn busy_connector(setup: &Setup) {
    let mut tables = Tables::open(&setup.url);
    tables.execute(
        "INSERT INTO runs (connector, mode, status, started_at) \
         VALUES ('hr', 'scheduled', 'running', CURRENT_TIMESTAMP)",
    );
    let running = tables.count("SELECT max(id) AS n FROM runs");
    tables.execute(
        "INSERT INTO leases (connector, holder, expires_at) \
         VALUES ('hr', 'elsewhere:1:0', CURRENT_TIMESTAMP + INTERVAL '1 hour')"
            .replace(
                "CURRENT_TIMESTAMP + INTERVAL '1 hour'",
                if setup.url.starts_with("postgres") {
                    "CURRENT_TIMESTAMP + INTERVAL '1 hour'"
                } else {
                    "datetime('now', '+1 hour')"
                },
            )
            .as_str(),
    );
    let (status, body) = setup.api.post("/tenants/default/connectors/hr/runs", "{}").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["run_id"], running, "{body}");
    tables.execute("DELETE FROM leases");
    tables.execute(&format!(
        "UPDATE runs SET status = 'interrupted' WHERE id = {running}"
    ));
}

async fn events_approve_and_tokens(api: &AdminDaemon) {
    let (status, events) = api
        .get("/tenants/default/events?user=CID@example.com&since=2h")
        .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let list = events["events"].as_array().unwrap();
    assert!(!list.is_empty(), "{events}");
    assert!(
        list.iter().all(|e| e["object_key"] == "cid@example.com"),
        "{events}"
    );
    let (_, future) = api
        .get("/tenants/default/events?since=2099-01-01T00:00:00Z")
        .await;
    assert_eq!(future["events"], Value::Array(vec![]), "{future}");

    let (status, conflicts) = api.get("/tenants/default/conflicts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(conflicts["conflicts"], Value::Array(vec![]));

    let (status, body) = api.post("/tenants/default/connectors/hr/approve", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, status_now) = api.get("/tenants/default/status").await;
    assert_eq!(status_now["connectors"][0]["approved"], true, "{status_now}");

    api.wait_scim("none", StatusCode::UNAUTHORIZED).await;
    let (status, token) = api.post("/tenants/default/scim-token", "").await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let token = token["token"].as_str().unwrap().to_owned();
    api.wait_scim(&token, StatusCode::OK).await;
    let (_, second) = api.post("/tenants/default/scim-token", "").await;
    let second = second["token"].as_str().unwrap().to_owned();
    api.wait_scim(&token, StatusCode::UNAUTHORIZED).await;
    api.wait_scim(&second, StatusCode::OK).await;
    let (status, revoked) = api
        .call(
            Method::DELETE,
            "/tenants/default/scim-token?detach_groups=true",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["revoked"], true);
    api.wait_scim(&second, StatusCode::UNAUTHORIZED).await;
    assert!(!api.log_text().contains(&second), "a SCIM token reached the log");
}

/// Tenants: created, renamed, listed, kept apart, deleted.
async fn tenants(api: &AdminDaemon) {
    let (status, body) = api
        .call(Method::PUT, "/tenants/acme", Some(r#"{"display_name": "Acme"}"#))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], "acme");
    let (status, body) = api
        .call(
            Method::PUT,
            "/tenants/acme",
            Some(r#"{"display_name": "Acme Corp"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["display_name"], "Acme Corp");
    let (status, body) = api
        .call(Method::PUT, "/tenants/-acme", Some(r#"{"display_name": "x"}"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .call(Method::PUT, "/tenants/beta", Some(r#"{"name": "x"}"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("name"), "{body}");
    let (status, body) = api
        .call(Method::PUT, "/tenants/beta", Some(r#"{"display_name": " "}"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["path"], "display_name");

    let (_, list) = api.get("/tenants").await;
    let ids: Vec<&str> = list["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, ["acme", "default"], "{list}");
    let (status, one) = api.get("/tenants/acme").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["display_name"], "Acme Corp");
    let (status, _) = api.get("/tenants/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The default tenant's runs and connectors are not acme's.
    let (_, runs) = api.get("/tenants/default/runs").await;
    let id = runs["runs"][0]["run_id"].as_i64().unwrap();
    let (status, body) = api.get(&format!("/tenants/acme/runs/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, acme_runs) = api.get("/tenants/acme/runs").await;
    assert_eq!(acme_runs["runs"], Value::Array(vec![]), "{acme_runs}");
    let (status, _) = api.post("/tenants/acme/connectors/hr/runs", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.post("/tenants/acme/connectors/hr/approve", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, token) = api.post("/tenants/acme/scim-token", "").await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let (status, body) = api.call(Method::DELETE, "/tenants/acme", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = api.get("/tenants/acme").await;
    assert_eq!(status, StatusCode::OK, "without purge the tenant stays");
    let (status, body) = api.call(Method::DELETE, "/tenants/acme?purge=true", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = api.get("/tenants/acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a purged tenant is gone");
    let (status, _) = api.call(Method::DELETE, "/tenants/acme", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A connector added, changed and removed through the API while `idsync run` runs: picked up
/// without a restart, its first run within `poll_secs`, its secrets never shown.
async fn stored_connectors(setup: &Setup) {
    let api = &setup.api;
    let (status, _) = api
        .call(Method::PUT, "/tenants/beta", Some(r#"{"display_name": "Beta"}"#))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let export = setup.dir.path().join("beta.json");
    write_export(&export, &[export_user("b1", "ann@example.com", None, true)], &[]);
    let settings = serde_json::json!({"kind": "file", "path": export, "interval": "1h"}).to_string();

    let (status, body) = api
        .call(Method::PUT, "/tenants/nobody/connectors/hr", Some(&settings))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api
        .call(
            Method::PUT,
            "/tenants/beta/connectors/hr",
            Some(r#"{"kind": "file", "pathh": "x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("pathh"), "{body}");
    assert!(!error_of(&body).contains('\n'), "one line: {body}");
    let entra = r#"{"kind": "entra", "tenant_id": "t", "client_id": "c", "client_secret": "s3cr3t-value"}"#;
    let (status, body) = api
        .call(Method::PUT, "/tenants/beta/connectors/aad", Some(entra))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("secrets_key"), "{body}");
    let (status, body) = api
        .call(Method::PUT, "/tenants/default/connectors/hr", Some(&settings))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the file's connector: {body}");
    // A secret given by reference needs no key; it is shown as "***" all the same.
    let by_reference = r#"{"kind": "entra", "tenant_id": "t", "client_id": "c",
        "client_secret": {"env": "IDSYNC_TEST_ADMIN_SECRET"}, "interval": "1h",
        "authority_url": "http://127.0.0.1:9", "graph_url": "http://127.0.0.1:9"}"#;
    let (status, body) = api
        .call(Method::PUT, "/tenants/beta/connectors/aad", Some(by_reference))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["settings"]["client_secret"], "***", "{body}");
    assert_eq!(body["settings"]["client_id"], "c", "{body}");
    assert!(!body.to_string().contains(SECRET_ENV.1));
    let (status, _) = api
        .call(Method::DELETE, "/tenants/beta/connectors/aad", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !api.log_text().contains(SECRET_ENV.1),
        "a connector secret reached the log"
    );

    let (status, body) = api
        .call(Method::PUT, "/tenants/beta/connectors/hr", Some(&settings))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["defined_in"], "api");
    let view = api
        .wait_for(
            "/tenants/beta/connectors/hr",
            "the stored connector's first run",
            |v| v["status"]["last_run"]["status"] == "succeeded",
        )
        .await;
    assert_eq!(view["settings"]["kind"], "file", "{view}");
    assert_eq!(view["status"]["last_run"]["counts"]["created"], 1, "{view}");
    let mut tables = Tables::open(&setup.url);
    assert_eq!(
        tables.count("SELECT count(*) AS n FROM users WHERE tenant_id = 'beta'"),
        1,
        "the stored connector writes its own tenant"
    );

    // Changed: a second user, and the new settings run at once (not at the next hour).
    write_export(
        &export,
        &[
            export_user("b1", "ann@example.com", None, true),
            export_user("b2", "dan@example.com", None, true),
        ],
        &[],
    );
    let changed = serde_json::json!({"kind": "file", "path": export, "interval": "2h"}).to_string();
    let (status, _) = api
        .call(Method::PUT, "/tenants/beta/connectors/hr", Some(&changed))
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while tables.count("SELECT count(*) AS n FROM users WHERE tenant_id = 'beta'") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the changed connector did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let (status, body) = api
        .call(Method::DELETE, "/tenants/beta/connectors/hr", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = api.get("/tenants/beta/connectors/hr").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(Method::DELETE, "/tenants/beta/connectors/hr", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(Method::DELETE, "/tenants/default/connectors/hr", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// Conflicts settled through the API are honoured by the next run: a link, a record kept
/// apart (it becomes its own user), a dismissal (not raised again); each decision is in the
/// event log with who made it.
async fn conflicts_resolved(setup: &Setup) {
    let api = &setup.api;
    let mut tables = Tables::open(&setup.url);
    // The application's own users (no source), two of them sharing an email.
    for (upn, email) in [
        ("pat@example.com", "pat@example.com"),
        ("pat.b@example.com", "pat@corp.example"),
        ("dee@example.com", "team@corp.example"),
        ("eve@example.com", "team@corp.example"),
    ] {
        tables.execute(&format!(
            "INSERT INTO users (scim_id, upn, email, active, created_at, updated_at, upn_key, email_key) \
             VALUES ('app-{upn}', '{upn}', '{email}', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '{upn}', '{email}')"
        ));
    }
    let id_of = |tables: &mut Tables, upn: &str| {
        tables.count(&format!("SELECT id AS n FROM users WHERE upn = '{upn}'"))
    };
    let pat_b = id_of(&mut tables, "pat.b@example.com");
    let (dee, eve) = (
        id_of(&mut tables, "dee@example.com"),
        id_of(&mut tables, "eve@example.com"),
    );

    let users = [
        export_user("e1", "ann@example.com", None, true),
        export_user("e2", "bob@example.com", None, true),
        export_user("e3", "cid@example.com", None, true),
        export_user("e9", "pat@example.com", Some("pat@corp.example"), true),
        export_user("e10", "rae@example.com", Some("team@corp.example"), true),
        export_user("e11", "uma@example.com", Some("team@corp.example"), true),
    ];
    write_export(&setup.export, &users, &[]);
    run_now(api).await;
    let (_, list) = api.get("/tenants/default/conflicts").await;
    let conflicts = list["conflicts"].as_array().unwrap();
    let id_for = |ext: &str| {
        conflicts
            .iter()
            .find(|c| c["external_id"] == ext)
            .unwrap_or_else(|| panic!("no conflict for {ext}: {list}"))["id"]
            .as_i64()
            .unwrap()
    };
    let (c9, c10, c11) = (id_for("e9"), id_for("e10"), id_for("e11"));

    let resolve = |id: i64, body: &'static str| async move {
        api.post(&format!("/tenants/default/conflicts/{id}/resolve"), body)
            .await
    };
    let (status, body) = resolve(c9, r#"{"action": "link"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["path"], "user_id");
    let (status, body) = resolve(c9, r#"{"action": "merge"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = resolve(999_999, r#"{"action": "dismiss"}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let link = format!(r#"{{"action": "link", "user_id": {pat_b}}}"#);
    let (status, body) = api
        .post(&format!("/tenants/default/conflicts/{c9}/resolve"), &link)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "linked");
    assert_eq!(body["by"], "admin");
    let (status, _) = api
        .post(&format!("/tenants/default/conflicts/{c9}/resolve"), &link)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a settled conflict is no longer open"
    );
    let (status, body) = resolve(c10, r#"{"action": "keep_separate"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = resolve(c11, r#"{"action": "dismiss"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, open) = api.get("/tenants/default/conflicts").await;
    assert_eq!(open["conflicts"], Value::Array(vec![]), "{open}");

    run_now(api).await;
    assert_eq!(
        tables.count(&format!(
            "SELECT count(*) AS n FROM user_links WHERE source = 'hr' AND external_id = 'e9' AND user_id = {pat_b}"
        )),
        1,
        "e9 is linked to the user chosen"
    );
    let rae = id_of(&mut tables, "rae@example.com");
    assert!(rae > 0 && rae != dee && rae != eve, "e10 became its own user");
    assert_eq!(
        tables.count(&format!(
            "SELECT count(*) AS n FROM user_links WHERE external_id = 'e10' AND user_id = {rae}"
        )),
        1
    );
    let (_, open) = api.get("/tenants/default/conflicts").await;
    let still: Vec<&Value> = open["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["external_id"] == "e11" || c["external_id"] == "e10")
        .collect();
    assert!(
        still.is_empty(),
        "a dismissed or separated conflict is not raised again: {open}"
    );

    let (_, events) = api.get("/tenants/default/events?connector=hr&limit=1000").await;
    let decisions: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "conflict_resolved")
        .collect();
    assert_eq!(decisions.len(), 3, "{events}");
    assert!(decisions
        .iter()
        .all(|e| e["detail"].as_str().unwrap().contains(r#""by":"admin""#)));
}

/// Starts a run of `hr` and waits for it to end successfully.
async fn run_now(api: &AdminDaemon) {
    let (status, started) = api.post("/tenants/default/connectors/hr/runs", "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["run_id"].as_i64().unwrap();
    let run = api
        .wait_for(&format!("/tenants/default/runs/{id}"), "the run", |r| {
            r["status"] != "running"
        })
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
}

/// Two tenants whose connectors (both named `hr`) read the same directory, same UPNs and same
/// external ids, end with two separate sets of users; each tenant's API sees its own only.
async fn two_tenants_sharing_upns(setup: &Setup) {
    let api = &setup.api;
    let export = setup.dir.path().join("shared.json");
    let people = [
        export_user("s1", "ann@example.com", Some("ann@example.com"), true),
        export_user("s2", "zed@example.com", None, true),
    ];
    write_export(&export, &people, &[]);
    let settings = serde_json::json!({"kind": "file", "path": export, "interval": "1h"}).to_string();
    for tenant in ["t-one", "t-two"] {
        let (status, _) = api
            .call(
                Method::PUT,
                &format!("/tenants/{tenant}"),
                Some(r#"{"display_name": "T"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = api
            .call(
                Method::PUT,
                &format!("/tenants/{tenant}/connectors/hr"),
                Some(&settings),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for tenant in ["t-one", "t-two"] {
        api.wait_for(
            &format!("/tenants/{tenant}/connectors/hr"),
            "the first run",
            |v| v["status"]["last_run"]["status"] == "succeeded",
        )
        .await;
    }
    let mut tables = Tables::open(&setup.url);
    let ids = |tables: &mut Tables, tenant: &str| {
        tables.lines(&format!(
            "SELECT CAST(id AS TEXT) AS line FROM users WHERE tenant_id = '{tenant}' ORDER BY upn"
        ))
    };
    let (one, two) = (ids(&mut tables, "t-one"), ids(&mut tables, "t-two"));
    assert_eq!((one.len(), two.len()), (2, 2), "{one:?} {two:?}");
    assert!(
        one.iter().all(|id| !two.contains(id)),
        "two people each: {one:?} {two:?}"
    );
    let (_, events) = api.get("/tenants/t-one/events?user=ann@example.com").await;
    let seen: Vec<String> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["object_id"].to_string())
        .collect();
    assert!(!seen.is_empty(), "{events}");
    assert!(
        seen.iter().all(|id| one.contains(id)),
        "t-one sees its own ann only: {events}"
    );
    let (_, runs) = api.get("/tenants/t-two/runs").await;
    let run = runs["runs"][0]["run_id"].as_i64().unwrap();
    let (status, _) = api.get(&format!("/tenants/t-one/runs/{run}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's run");
    for tenant in ["t-one", "t-two"] {
        let (status, body) = api
            .call(Method::DELETE, &format!("/tenants/{tenant}?purge=true"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["connectors_stopped"], 1, "{body}");
    }
    assert_eq!(
        tables.count("SELECT count(*) AS n FROM users WHERE tenant_id IN ('t-one', 't-two')"),
        0
    );
}

async fn contract(url: Option<String>) {
    let setup = start(url).await;
    authentication_and_the_document(&setup.api).await;
    bad_requests(&setup.api).await;
    runs_dry_and_real(&setup).await;
    busy_connector(&setup).await;
    events_approve_and_tokens(&setup.api).await;
    conflicts_resolved(&setup).await;
    tenants(&setup.api).await;
    stored_connectors(&setup).await;
    two_tenants_sharing_upns(&setup).await;
    drop(setup.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_contract_on_sqlite() {
    contract(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_contract_on_postgres() {
    let pg = support::postgres::TestDatabase::create();
    contract(Some(pg.url.clone())).await;
}
