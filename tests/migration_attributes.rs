//! Upgrading a database that SCIM already wrote to: migration 000007 adds `attributes` and
//! keeps the `externalId` clients saw (the link key, unless made up), on SQLite and
//! PostgreSQL. The database is built by running the earlier migrations' own SQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use idsync::store::{self, DatabaseUrl};

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Nullable<Text>)]
    attributes: Option<String>,
}

/// The SQL that creates the tables as they were before 000007, and the rows SCIM and a
/// connector wrote then.
fn before_000007(backend: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut folders: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    let mut sql = String::from(
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);\n",
    );
    for folder in folders
        .iter()
        .filter(|f| f.to_string_lossy() < dir.join("2026-12-01-000007").to_string_lossy())
    {
        sql += &std::fs::read_to_string(folder.join("up.sql")).unwrap();
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let version = name.split('_').next().unwrap().replace('-', "");
        sql += &format!(";\nINSERT INTO __diesel_schema_migrations (version) VALUES ('{version}');\n");
    }
    sql + "INSERT INTO users (scim_id, external_id, source, upn) VALUES \
           ('u1', 'ext-1', 'scim', 'a@x.example'), ('u2', '~made-up', 'scim', 'b@x.example'), \
           ('u3', 'hr-1', 'hr', 'c@x.example');
           INSERT INTO groups (scim_id, external_id, source, display_name) VALUES \
           ('g1', 'grp-1', 'scim', 'G');"
}

fn attributes(rows: Vec<Row>) -> Vec<(String, Option<serde_json::Value>)> {
    rows.into_iter()
        .map(|r| (r.key, r.attributes.map(|a| serde_json::from_str(&a).unwrap())))
        .collect()
}

fn check(url: &str, backend: &str) {
    let query = "SELECT scim_id AS key, attributes FROM users UNION ALL \
                 SELECT scim_id AS key, attributes FROM groups ORDER BY key";
    let rows = match backend {
        "sqlite" => {
            let mut c = SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
            c.batch_execute(&before_000007(backend)).unwrap();
            let applied = migrate(url);
            assert_eq!(
                applied.first().map(String::as_str),
                Some("20261201000007"),
                "{applied:?}"
            );
            diesel::sql_query(query).load::<Row>(&mut c).unwrap()
        }
        _ => {
            let mut c = PgConnection::establish(url).unwrap();
            c.batch_execute(&before_000007(backend)).unwrap();
            let applied = migrate(url);
            assert_eq!(
                applied.first().map(String::as_str),
                Some("20261201000007"),
                "{applied:?}"
            );
            diesel::sql_query(query).load::<Row>(&mut c).unwrap()
        }
    };
    let ext = |v: &str| Some(serde_json::json!({ "externalId": v }));
    assert_eq!(
        attributes(rows),
        [
            ("g1".to_owned(), ext("grp-1")),
            ("u1".to_owned(), ext("ext-1")),
            ("u2".to_owned(), None),
            ("u3".to_owned(), None),
        ],
        "{backend}"
    );
}

/// Runs the store's migrations; the names of those that ran.
fn migrate(url: &str) -> Vec<String> {
    let url = DatabaseUrl::parse(url).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(store::Store::open(&url).migrate()).unwrap()
}

#[test]
fn an_upgraded_database_keeps_the_external_ids_scim_showed() {
    let dir = tempfile::tempdir().unwrap();
    check(
        &format!("sqlite://{}", dir.path().join("old.db").display()),
        "sqlite",
    );
    let pg = support::postgres::TestDatabase::create();
    check(&pg.url, "postgres");
}
