//! A SCIM request is one transaction: a late 400 or 409 leaves every table as it was. Each
//! case runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::Text;
use idsync::config::ScimDelete;
use idsync::store::{DatabaseUrl, Db};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::postgres::TestDatabase;
use support::scim::{config, Server};

/// The tables a SCIM write may touch.
const TABLES: &[&str] = &[
    "users",
    "user_links",
    "groups",
    "group_members",
    "events",
    "conflicts",
];

/// A SCIM server over a fresh database.
struct Fixture {
    s: Server,
    _dir: tempfile::TempDir,
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
        let db_url = DatabaseUrl::parse(&url).unwrap();
        let s = Server::start(db_url, None, config(ScimDelete::Archive)).await;
        Fixture {
            s,
            _dir: dir,
            _pg: pg,
        }
    }

    /// A user the application created itself (no source), as a SAML sign-in would.
    async fn local_user(&self, scim_id: &'static str, upn: &'static str) {
        self.s
            .db(move |db| {
                idsync::with_conn!(db, c => diesel::sql_query(format!(
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
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    v: String,
}

fn rows_of(db: &mut Db, table: &str) -> Vec<String> {
    let columns_sql = match db {
        Db::Sqlite(_) => format!("SELECT name AS v FROM pragma_table_info('{table}')"),
        Db::Postgres(_) => format!(
            "SELECT column_name::text AS v FROM information_schema.columns \
             WHERE table_name = '{table}' AND table_schema = current_schema()"
        ),
    };
    let columns: Vec<Line> = idsync::with_conn!(db, c => diesel::sql_query(columns_sql).load(c)).unwrap();
    assert!(!columns.is_empty(), "table {table} has columns");
    let row = columns
        .iter()
        .map(|l| format!("COALESCE(CAST(\"{}\" AS TEXT), '<null>')", l.v))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let sql = format!("SELECT {row} AS v FROM {table}");
    let mut rows: Vec<String> = idsync::with_conn!(db, c => diesel::sql_query(sql).load::<Line>(c))
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
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
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
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": "userName",
                                 "value": "eve@contoso.example" }],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert_eq!(f.snapshot().await, before, "PATCH");
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
);
