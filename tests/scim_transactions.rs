//! A SCIM request is one transaction (a late 400 or 409 leaves every table as it was), and who
//! may change what: the users of a pull connector are read-only to SCIM, the application's
//! own users are not SCIM's to delete. Each case runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::Text;
use idsync::config::{Config, ScimDelete};
use idsync::reconcile::{self, RunOptions, RunProgress};
use idsync::store::{self, DatabaseUrl};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::postgres::TestDatabase;
use support::scim::{config, filter, Server};
use support::tables::Tables;

/// The tables a SCIM write may touch.
const TABLES: &[&str] = &[
    "users",
    "user_links",
    "groups",
    "group_members",
    "events",
    "conflicts",
];

/// The schema of a PATCH request (RFC 7644 section 3.5.2).
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM server over a database that a `file` connector named `hr` also writes.
struct Fixture {
    s: Server,
    config: Config,
    dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("idsync.db").display());
        Self::start(url, dir, None).await
    }

    async fn postgres() -> Fixture {
        let pg = TestDatabase::create();
        Self::start(pg.url.clone(), tempfile::tempdir().unwrap(), Some(pg)).await
    }

    async fn start(url: String, dir: tempfile::TempDir, pg: Option<TestDatabase>) -> Fixture {
        let export = dir.path().join("export.json");
        support::write_export(&export, &[], &[]);
        let path = support::file_config(dir.path(), &url, &export, "");
        let loaded = Config::load(&path).unwrap();
        let db_url = DatabaseUrl::parse(&url).unwrap();
        let s = Server::start(db_url, None, config(ScimDelete::Archive)).await;
        Fixture {
            s,
            config: loaded,
            dir,
            _pg: pg,
        }
    }

    /// Runs the `hr` connector once over `users` (an export of `file`'s format).
    async fn sync_hr(&self, users: &[Value]) {
        support::write_export(&self.dir.path().join("export.json"), users, &[]);
        let connector = idsync::connectors::build(&self.config.connectors[0]);
        let report = reconcile::run_once(
            &store::Store::open(&self.s.url),
            &connector,
            RunOptions::default(),
            &RunProgress::hidden(),
        )
        .await;
        assert!(!report.outcome.is_failed(), "{}", report.summary());
    }

    /// A user the application created itself (no source), as a SAML sign-in would.
    async fn local_user(&self, scim_id: &'static str, upn: &'static str) {
        self.s
            .db(move |db| {
                with_tables!(db, c => diesel::sql_query(format!(
                    "INSERT INTO users (scim_id, upn, email, display_name, active, created_at, \
                     updated_at) VALUES ('{scim_id}', '{upn}', '{upn}', 'Local', TRUE, \
                     CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ))
                .execute(c))
                .unwrap()
            })
            .await;
    }

    /// Every row of every table a SCIM write may touch, as text, sorted.
    async fn snapshot(&self) -> BTreeMap<&'static str, Vec<String>> {
        self.s
            .db(|db| TABLES.iter().map(|t| (*t, rows_of(db, t))).collect())
            .await
    }

    async fn user_id(&self, user_name: &str) -> String {
        let q = filter(&format!("userName eq \"{user_name}\""));
        let (st, list) = self.s.get(&format!("/Users?{q}")).await;
        assert_eq!(st, StatusCode::OK, "{list}");
        list["Resources"][0]["id"].as_str().unwrap().to_owned()
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    v: String,
}

fn rows_of(db: &mut Tables, table: &str) -> Vec<String> {
    let columns_sql = match db {
        Tables::Sqlite(_) => format!("SELECT name AS v FROM pragma_table_info('{table}')"),
        Tables::Postgres(_) => format!(
            "SELECT column_name::text AS v FROM information_schema.columns \
             WHERE table_name = '{table}' AND table_schema = current_schema()"
        ),
    };
    let columns: Vec<Line> = with_tables!(db, c => diesel::sql_query(columns_sql).load(c)).unwrap();
    assert!(!columns.is_empty(), "table {table} has columns");
    let row = columns
        .iter()
        .map(|l| format!("COALESCE(CAST(\"{}\" AS TEXT), '<null>')", l.v))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let sql = format!("SELECT {row} AS v FROM {table}");
    let mut rows: Vec<String> = with_tables!(db, c => diesel::sql_query(sql).load::<Line>(c))
        .unwrap()
        .into_iter()
        .map(|l| l.v)
        .collect();
    rows.sort();
    rows
}

fn refused(st: StatusCode, body: &Value, scim_type: &str) {
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["scimType"], scim_type, "{body}");
}

/// A group PATCH whose second member does not exist links nothing of the first.
async fn a_failed_group_patch_writes_nothing(f: Fixture) {
    f.local_user("local1", "dana@contoso.example").await;
    let (st, g) = f.s.post("/Groups", &json!({ "displayName": "Staff" })).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let before = f.snapshot().await;
    let (st, e) =
        f.s.patch(
            &format!("/Groups/{gid}"),
            &json!({
                "schemas": [PATCH_OP],
                "Operations": [{ "op": "add", "path": "members",
                                 "value": [{ "value": "local1" }, { "value": "bogus" }] }],
            }),
        )
        .await;
    refused(st, &e, "invalidValue");
    assert_eq!(f.snapshot().await, before, "the local user was not linked");
}

/// PUT and PATCH of a local user that fail on a taken userName do not adopt it.
async fn a_late_conflict_adopts_nothing(f: Fixture) {
    f.local_user("local1", "dana@contoso.example").await;
    let (st, u) =
        f.s.post(
            "/Users",
            &json!({ "userName": "eve@contoso.example", "externalId": "e1" }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let before = f.snapshot().await;
    let (st, e) =
        f.s.put("/Users/local1", &json!({ "userName": "eve@contoso.example" }))
            .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert_eq!(f.snapshot().await, before, "PUT");
    let (st, e) =
        f.s.patch(
            "/Users/local1",
            &json!({
                "schemas": [PATCH_OP],
                "Operations": [{ "op": "replace", "path": "userName",
                                 "value": "eve@contoso.example" }],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert_eq!(f.snapshot().await, before, "PATCH");
}

/// DELETE of the application's own user is refused until SCIM adopts it; then it archives.
async fn a_local_user_is_deleted_only_once_adopted(f: Fixture) {
    f.local_user("local1", "dana@contoso.example").await;
    let before = f.snapshot().await;
    let (st, e) = f.s.delete("/Users/local1").await;
    refused(st, &e, "mutability");
    assert!(e["detail"].as_str().unwrap().contains("local1"), "{e}");
    assert_eq!(f.snapshot().await, before);
    let (st, u) = f.s.get("/Users/local1").await;
    assert_eq!((st, &u["active"]), (StatusCode::OK, &json!(true)), "{u}");

    // Adopted by a PATCH (as Entra does after finding it by userName), it is SCIM's.
    let (st, u) =
        f.s.patch(
            "/Users/local1",
            &json!({
                "schemas": [PATCH_OP],
                "Operations": [{ "op": "replace", "path": "displayName", "value": "Dana" }],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["displayName"], "Dana");
    let (st, e) = f.s.delete("/Users/local1").await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    assert_eq!(f.s.get("/Users/local1").await.0, StatusCode::NOT_FOUND);
    let (active, archived): (bool, bool) =
        f.s.db(|db| {
            use idsync::store::schema::users;
            with_tables!(db, c => users::table
                .filter(users::scim_id.eq("local1"))
                .select((users::active, users::archived_at.is_not_null()))
                .first(c))
            .unwrap()
        })
        .await;
    assert_eq!((active, archived), (false, true), "archived, the row kept");
}

/// DELETE of the application's own group is refused; a PATCH takes it over, then DELETE works.
async fn a_local_group_is_deleted_only_once_taken_over(f: Fixture) {
    f.s.db(|db| {
        with_tables!(db, c => diesel::sql_query(
            "INSERT INTO groups (scim_id, display_name, created_at, updated_at) \
             VALUES ('lg1', 'Local group', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        .execute(c))
        .unwrap()
    })
    .await;
    let before = f.snapshot().await;
    let (st, e) = f.s.delete("/Groups/lg1").await;
    refused(st, &e, "mutability");
    assert_eq!(f.snapshot().await, before);
    let (st, g) =
        f.s.patch(
            "/Groups/lg1",
            &json!({
                "schemas": [PATCH_OP],
                "Operations": [{ "op": "replace", "path": "displayName", "value": "Taken" }],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{g}");
    let (_, g) = f.s.get("/Groups/lg1").await;
    assert_eq!(g["displayName"], "Taken", "{g}");
    let (st, e) = f.s.delete("/Groups/lg1").await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    assert_eq!(f.s.get("/Groups/lg1").await.0, StatusCode::NOT_FOUND);
}

/// A user the `hr` connector owns: every SCIM write is a 400 naming `hr`, and nothing changes.
async fn a_pull_owned_user_is_read_only(f: Fixture) {
    f.sync_hr(&[support::export_user("E1", "eve@contoso.example", None, true)])
        .await;
    let id = f.user_id("eve@contoso.example").await;
    let before = f.snapshot().await;
    let patch = |op: Value| json!({ "schemas": [PATCH_OP], "Operations": [op] });
    let path = format!("/Users/{id}");
    let answers = [
        f.s.patch(
            &path,
            &patch(json!({ "op": "replace", "path": "displayName", "value": "X" })),
        )
        .await,
        f.s.patch(
            &path,
            &patch(json!({ "op": "replace", "path": "active", "value": false })),
        )
        .await,
        f.s.put(
            &path,
            &json!({ "userName": "eve@contoso.example", "active": false }),
        )
        .await,
        f.s.delete(&path).await,
    ];
    for (st, e) in &answers {
        refused(*st, e, "mutability");
        assert!(e["detail"].as_str().unwrap().contains("\"hr\""), "{e}");
    }
    assert_eq!(f.snapshot().await, before);
    let (_, u) = f.s.get(&path).await;
    assert_eq!(
        (&u["active"], &u["displayName"]),
        (&json!(true), &json!("User E1")),
        "{u}"
    );

    // A POST of the same person links to it and answers it as its owner has it...
    let (st, u) =
        f.s.post(
            "/Users",
            &json!({ "userName": "eve@contoso.example", "externalId": "x-eve", "displayName": "P" }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    assert_eq!(
        (&u["id"], &u["displayName"]),
        (&json!(id), &json!("User E1")),
        "{u}"
    );
    // ...and the user stays the connector's.
    let (st, e) = f.s.delete(&path).await;
    refused(st, &e, "mutability");
    let (_, u) = f.s.get(&path).await;
    assert_eq!(u["active"], true, "{u}");
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Fixture::sqlite().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Fixture::postgres().await).await
            })*
        }
    };
}

on_both!(
    a_failed_group_patch_writes_nothing,
    a_late_conflict_adopts_nothing,
    a_local_user_is_deleted_only_once_adopted,
    a_local_group_is_deleted_only_once_taken_over,
    a_pull_owned_user_is_read_only,
);

/// A SCIM write that arrives while another process holds SQLite's write lock (a connector's
/// run) waits for it within the busy timeout, then succeeds; neither side fails.
#[tokio::test]
async fn a_scim_write_waits_for_another_writer_on_sqlite() {
    let f = Fixture::sqlite().await;
    f.local_user("local1", "dana@contoso.example").await;
    let url = f.s.url.clone();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let other = tokio::task::spawn_blocking(move || {
        let mut db = Tables::connect(&url);
        db.execute("BEGIN IMMEDIATE");
        db.execute("UPDATE users SET display_name = 'Other writer' WHERE scim_id = 'local1'");
        locked_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        db.execute("COMMIT");
        Ok::<_, String>(())
    });
    locked_rx.await.unwrap();
    let started = std::time::Instant::now();
    let (st, u) =
        f.s.post(
            "/Users",
            &json!({ "userName": "eve@contoso.example", "externalId": "e1" }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "it waited"
    );
    other.await.unwrap().unwrap();
    let (_, u) = f.s.get("/Users/local1").await;
    assert_eq!(u["displayName"], "Other writer", "{u}");
}
