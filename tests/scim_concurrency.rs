//! Concurrent SCIM writes, on SQLite (one writer at a time) and on PostgreSQL (writers side
//! by side, each resource locked by the write that changes it, races retried): every request
//! gets its own right answer and nothing is lost or doubled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures_util::future::join_all;
use idsync::config::ScimDelete;
use idsync::store::DatabaseUrl;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::postgres::TestDatabase;
use support::scim::{config, Server};

/// How many requests each case has in flight at once.
const WRITERS: usize = 16;

struct Fixture {
    s: Server,
    _pg: Option<TestDatabase>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let s = Server::sqlite_config(pool(config(ScimDelete::Archive))).await;
        Fixture { s, _pg: None }
    }

    async fn postgres() -> Fixture {
        let pg = TestDatabase::create();
        let url = DatabaseUrl::parse(&pg.url).unwrap();
        let s = Server::start(url, None, pool(config(ScimDelete::Archive))).await;
        Fixture { s, _pg: Some(pg) }
    }

    async fn user(&self, name: &str) -> String {
        let (st, u) = self
            .s
            .post("/Users", &json!({ "userName": name, "externalId": name }))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{u}");
        u["id"].as_str().unwrap().to_owned()
    }

    async fn group(&self, name: &str) -> String {
        let (st, g) = self
            .s
            .post("/Groups", &json!({ "displayName": name, "externalId": name }))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{g}");
        g["id"].as_str().unwrap().to_owned()
    }

    async fn members(&self, group: &str) -> Vec<String> {
        let (st, g) = self.s.get(&format!("/Groups/{group}")).await;
        assert_eq!(st, StatusCode::OK, "{g}");
        let mut ids: Vec<String> = g["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

/// Enough connections, and write slots on PostgreSQL, that every writer has one: the
/// transactions really run at once.
fn pool(mut c: idsync::config::ScimConfig) -> idsync::config::ScimConfig {
    c.pool_size = WRITERS;
    c.concurrent_writes = WRITERS;
    c
}

fn add_member(user: &str) -> Value {
    json!({ "Operations": [{ "op": "add", "path": "members", "value": [{ "value": user }] }] })
}

async fn one_member_added_at_once_is_one_membership(f: Fixture) {
    let user = f.user("pat@contoso.example").await;
    let group = f.group("Staff").await;
    let path = format!("/Groups/{group}");
    let body = add_member(&user);
    let answers = join_all((0..WRITERS).map(|_| f.s.patch(&path, &body))).await;
    for (st, body) in &answers {
        assert_eq!(*st, StatusCode::NO_CONTENT, "{body}");
    }
    assert_eq!(f.members(&group).await, vec![user]);
}

async fn members_added_side_by_side_are_all_kept(f: Fixture) {
    let group = f.group("Staff").await;
    let mut users = Vec::new();
    for i in 0..WRITERS {
        users.push(f.user(&format!("user{i}@contoso.example")).await);
    }
    let path = format!("/Groups/{group}");
    let bodies: Vec<Value> = users.iter().map(|u| add_member(u)).collect();
    let answers = join_all(bodies.iter().map(|b| f.s.patch(&path, b))).await;
    for (st, body) in &answers {
        assert_eq!(*st, StatusCode::NO_CONTENT, "{body}");
    }
    users.sort();
    assert_eq!(f.members(&group).await, users);
}

async fn one_user_name_posted_at_once_is_created_once(f: Fixture) {
    let bodies: Vec<Value> = (0..WRITERS)
        .map(|i| json!({ "userName": "sam@contoso.example", "externalId": format!("sam-{i}") }))
        .collect();
    let answers = join_all(bodies.iter().map(|b| f.s.post("/Users", b))).await;
    let created = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (st, body) in answers.iter().filter(|(st, _)| *st != StatusCode::CREATED) {
        assert_eq!(*st, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["scimType"], "uniqueness", "{body}");
    }
    let (_, list) =
        f.s.get(&format!(
            "/Users?{}",
            support::scim::filter("userName eq \"sam@contoso.example\"")
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

/// Each request changes another attribute of one user: none overwrites another's change.
async fn patches_of_one_user_lose_no_change(f: Fixture) {
    let user = f.user("kim@contoso.example").await;
    let path = format!("/Users/{user}");
    let bodies: Vec<Value> = [
        ("title", json!("Engineer")),
        ("displayName", json!("Kim Lee")),
        ("nickName", json!("kim")),
        ("preferredLanguage", json!("de-DE")),
        ("name.givenName", json!("Kim")),
        ("name.familyName", json!("Lee")),
        ("locale", json!("de-DE")),
        ("timezone", json!("Europe/Berlin")),
    ]
    .into_iter()
    .map(|(path, value)| json!({ "Operations": [{ "op": "replace", "path": path, "value": value }] }))
    .collect();
    let answers = join_all(bodies.iter().map(|b| f.s.patch(&path, b))).await;
    for (st, body) in &answers {
        assert_eq!(*st, StatusCode::OK, "{body}");
    }
    let (_, u) = f.s.get(&path).await;
    assert_eq!(u["title"], "Engineer", "{u}");
    assert_eq!(u["displayName"], "Kim Lee", "{u}");
    assert_eq!(u["nickName"], "kim", "{u}");
    assert_eq!(u["preferredLanguage"], "de-DE", "{u}");
    assert_eq!(u["name"]["givenName"], "Kim", "{u}");
    assert_eq!(u["name"]["familyName"], "Lee", "{u}");
    assert_eq!(u["locale"], "de-DE", "{u}");
    assert_eq!(u["timezone"], "Europe/Berlin", "{u}");
}

/// Writes that present one `If-Match` version: the first wins, the others are told the
/// resource has changed since (RFC 7644 section 3.14), and none is applied over it.
async fn one_version_is_replaced_once(f: Fixture) {
    let user = f.user("lee@contoso.example").await;
    let path = format!("/Users/{user}");
    let (_, u) = f.s.get(&path).await;
    let version = u["meta"]["version"].as_str().unwrap().to_owned();
    let bodies: Vec<Value> = (0..WRITERS)
        .map(|i| json!({ "Operations": [{ "op": "replace", "path": "title", "value": format!("t{i}") }] }))
        .collect();
    let answers = join_all(bodies.iter().map(|b| {
        let request =
            f.s.client
                .request(Method::PATCH, format!("{}{path}", f.s.base))
                .bearer_auth(&f.s.token)
                .header("If-Match", &version)
                .header("Content-Type", "application/scim+json")
                .body(b.to_string());
        async move { request.send().await.unwrap().status() }
    }))
    .await;
    let won = answers.iter().filter(|st| **st == StatusCode::OK).count();
    assert_eq!(won, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|st| *st == StatusCode::OK || *st == StatusCode::PRECONDITION_FAILED),
        "{answers:?}"
    );
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                super::$case(super::Fixture::sqlite().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                super::$case(super::Fixture::postgres().await).await
            })*
        }
    };
}

on_both!(
    one_member_added_at_once_is_one_membership,
    members_added_side_by_side_are_all_kept,
    one_user_name_posted_at_once_is_created_once,
    patches_of_one_user_lose_no_change,
    one_version_is_replaced_once,
);
