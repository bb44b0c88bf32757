//! Non-ASCII user names through the SCIM endpoint, on SQLite and on PostgreSQL: one person per
//! comparison key (the matcher's NFKC + lowercase + trim), and filters that compare that key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use idsync::config::ScimDelete;
use idsync::store::DatabaseUrl;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::postgres::TestDatabase;
use support::scim::{config, filter, Server};

/// A server on each backend; the PostgreSQL database lives as long as the server.
async fn servers() -> Vec<(Server, Option<TestDatabase>)> {
    let pg = TestDatabase::create();
    let url = DatabaseUrl::parse(&pg.url).unwrap();
    let postgres = Server::start(url, None, config(ScimDelete::Archive)).await;
    vec![(Server::sqlite().await, None), (postgres, Some(pg))]
}

fn backend(s: &Server) -> &'static str {
    if matches!(s.url, DatabaseUrl::Postgres(_)) {
        "postgres"
    } else {
        "sqlite"
    }
}

async fn post_user(s: &Server, user_name: &str, external_id: &str) -> (StatusCode, Value) {
    s.post(
        "/Users",
        &json!({ "userName": user_name, "externalId": external_id }),
    )
    .await
}

async fn find(s: &Server, f: &str) -> Vec<String> {
    let (st, list) = s.get(&format!("/Users?{}", filter(f))).await;
    assert_eq!(st, StatusCode::OK, "{f}: {list}");
    let ids: Vec<String> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(list["totalResults"], ids.len(), "{f}");
    ids
}

#[tokio::test]
async fn names_that_differ_only_by_case_width_or_form_are_one_person() {
    let pairs = [
        ("ÅSA@x.com", "åsa@x.com"),
        ("a\u{30a}sa@y.com", "\u{e5}sa@y.com"),
        ("\u{ff42}\u{ff4f}\u{ff42}@x.com", "bob@x.com"),
        ("\u{fb01}nn@x.com", "finn@x.com"),
        ("ALİCE@x.com", "alİce@x.com"),
    ];
    for (s, _pg) in servers().await {
        for (i, (first, second)) in pairs.iter().enumerate() {
            let (st, u) = post_user(&s, first, &format!("a{i}")).await;
            assert_eq!(st, StatusCode::CREATED, "{}: {first}: {u}", backend(&s));
            let (st, e) = post_user(&s, second, &format!("b{i}")).await;
            assert_eq!(
                st,
                StatusCode::CONFLICT,
                "{}: {second} after {first}: {e}",
                backend(&s)
            );
            assert_eq!(e["scimType"], "uniqueness");
        }
        let (_, list) = s.get("/Users").await;
        assert_eq!(list["totalResults"], pairs.len(), "{}", backend(&s));
    }
}

#[tokio::test]
async fn filters_compare_the_key() {
    for (s, _pg) in servers().await {
        let name = backend(&s);
        let (_, asa) = post_user(&s, "ÅSA@x.com", "asa1").await;
        let asa = asa["id"].as_str().unwrap().to_owned();
        let (_, other) = post_user(&s, "asa@x.com", "asa2").await;
        let other = other["id"].as_str().unwrap().to_owned();
        let (_, alice) = post_user(&s, "ALİCE@x.com", "alice").await;
        let alice = alice["id"].as_str().unwrap().to_owned();
        let (st, wide) = s
            .post(
                "/Users",
                &json!({
                    "userName": "\u{ff42}\u{ff4f}\u{ff42}@x.com", "externalId": "bob",
                    "emails": [{ "type": "work", "value": "\u{ff22}ob@Mail.x.com" }],
                }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{name}: {wide}");
        let bob = wide["id"].as_str().unwrap().to_owned();

        let (asa, other, alice, bob) = (asa.as_str(), other.as_str(), alice.as_str(), bob.as_str());
        let cases: [(&str, Vec<&str>); 17] = [
            ("userName eq \"ÅSA@x.com\"", vec![asa]),
            ("userName eq \"åsa@x.com\"", vec![asa]),
            ("userName eq \"a\u{30a}sa@x.com\"", vec![asa]),
            ("userName eq \"asa@x.com\"", vec![other]),
            ("userName eq \"ALİCE@x.com\"", vec![alice]),
            ("userName eq \"bob@x.com\"", vec![bob]),
            ("emails[type eq \"work\"].value eq \"bob@mail.x.com\"", vec![bob]),
            ("emails.value eq \"BOB@MAIL.X.COM\"", vec![bob]),
            // sw, co and ew compare on the key too; `_` and `%` are literal characters.
            ("userName sw \"Å\"", vec![asa]),
            ("userName sw \"\u{ff42}\"", vec![bob]),
            ("userName co \"SA@\"", vec![asa, other]),
            ("userName ew \"İCE@X.COM\"", vec![alice]),
            ("userName co \"_\"", vec![]),
            ("userName sw \"%\"", vec![]),
            ("emails.value ew \"@mail.x.com\"", vec![bob]),
            // Evaluated in memory (no SQL for `or`): the same key.
            ("userName eq \"BOB@x.com\" or userName eq \"nobody\"", vec![bob]),
            ("userName eq \"a\u{30a}sa@x.com\" or title pr", vec![asa]),
        ];
        for (f, expected) in cases {
            assert_eq!(find(&s, f).await, expected, "{name}: {f}");
        }
    }
}

#[tokio::test]
async fn rows_the_application_wrote_without_keys_are_found_by_key() {
    for (s, _pg) in servers().await {
        let name = backend(&s);
        s.db(|db| {
            with_tables!(db, c => diesel::RunQueryDsl::execute(
                diesel::sql_query(
                    "INSERT INTO users (scim_id, upn, email, active, created_at, updated_at) \
                     VALUES ('local1', 'ÅSA@x.com', 'Åsa@x.com', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                ),
                c
            ))
            .unwrap()
        })
        .await;
        // Unfilled, the row still answers an ASCII-insensitive filter on its own spelling.
        assert_eq!(find(&s, "userName eq \"ÅSA@x.com\"").await, ["local1"], "{name}");
        let (st, u) = post_user(&s, "åsa@x.com", "asa").await;
        assert_eq!(st, StatusCode::CREATED, "{name}: {u}");
        assert_eq!(u["id"], "local1", "{name}: linked, not duplicated");
        // The write filled the key: every spelling finds the row now.
        assert_eq!(
            find(&s, "userName eq \"a\u{30a}sa@x.com\"").await,
            ["local1"],
            "{name}"
        );
        let (_, all) = s.get("/Users").await;
        assert_eq!(all["totalResults"], 1, "{name}");
    }
}
