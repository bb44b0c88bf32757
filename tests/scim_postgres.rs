//! The SCIM endpoint on PostgreSQL: the main operations end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use idsync::config::ScimDelete;
use idsync::store::DatabaseUrl;
use reqwest::StatusCode;
use serde_json::json;
use support::postgres::TestDatabase;
use support::scim::{config, filter, Server};

#[tokio::test]
async fn users_and_groups_on_postgres() {
    let pg = TestDatabase::create();
    let url = DatabaseUrl::parse(&pg.url).unwrap();
    let s = Server::start(url, None, config(ScimDelete::Archive)).await;

    let (st, u) = s
        .post(
            "/Users",
            &json!({
                "userName": "Pat@Contoso.example", "externalId": "p1",
                "emails": [{ "type": "work", "value": "pat@contoso.example" }],
                "active": "True",
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let id = u["id"].as_str().unwrap().to_owned();
    let (_, list) = s
        .get(&format!(
            "/Users?{}",
            filter("userName eq \"pat@contoso.example\"")
        ))
        .await;
    assert_eq!(list["totalResults"], 1);
    let (_, list) = s
        .get(&format!(
            "/Users?{}",
            filter("emails[type eq \"work\"].value eq \"PAT@contoso.example\"")
        ))
        .await;
    assert_eq!(list["totalResults"], 1);
    let (st, e) = s
        .post(
            "/Users",
            &json!({ "userName": "pat@contoso.example", "externalId": "p2" }),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["scimType"], "uniqueness");
    let (st, u) = s
        .patch(
            &format!("/Users/{id}"),
            &json!({ "Operations": [{ "op": "Replace", "path": "active", "value": "False" }] }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(u["active"], false);

    let (st, g) = s
        .post("/Groups", &json!({ "displayName": "PG", "externalId": "g1" }))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let gid = g["id"].as_str().unwrap().to_owned();
    let (st, _) = s
        .patch(
            &format!("/Groups/{gid}"),
            &json!({ "Operations": [{ "op": "add", "path": "members", "value": [{ "value": id }] }] }),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g) = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["members"][0]["value"], id.as_str());
    let (st, _) = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
