//! The SCIM endpoint's `/Groups`: Entra's and Okta's shapes, membership PATCH, read-only
//! groups, and the discovery endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::scim::{filter, Server};

async fn user(s: &Server, name: &str) -> String {
    let (st, u) = s
        .post(
            "/Users",
            &json!({ "userName": name, "externalId": format!("ext-{name}") }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    u["id"].as_str().unwrap().to_owned()
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
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

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn groups_with_entra_and_okta_membership_changes() {
    let s = Server::sqlite().await;
    let (a, b, c) = (
        user(&s, "a@x.example").await,
        user(&s, "b@x.example").await,
        user(&s, "c@x.example").await,
    );
    // Entra's create body, with Microsoft's extra schema and no members.
    let (st, g) = s.post("/Groups", &json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Group1DisplayName",
        "meta": { "resourceType": "Group" },
    })).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let id = g["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{id}");
    assert_eq!(g["members"], json!([]));

    // Entra: add, then remove with a value list.
    let (st, _) = s.patch(&path, &json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        { "op": "Add", "path": "members", "value": [{ "$ref": null, "value": a }, { "$ref": null, "value": b }] },
    ]})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g) = s.get(&path).await;
    assert_eq!(member_ids(&g), sorted(vec![a.clone(), b.clone()]));
    let (st, _) = s
        .patch(
            &path,
            &json!({ "Operations": [
                { "op": "Remove", "path": "members", "value": [{ "value": a }] },
            ]}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g) = s.get(&path).await;
    assert_eq!(member_ids(&g), vec![b.clone()]);

    // aadOptscim062020 / Okta: remove by value filter; Okta add with display.
    let (st, _) = s
        .patch(
            &path,
            &json!({ "Operations": [
                { "op": "remove", "path": format!("members[value eq \"{b}\"]") },
                { "op": "add", "path": "members", "value": [{ "value": c, "display": "c@x.example" }] },
            ]}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g) = s.get(&path).await;
    assert_eq!(member_ids(&g), vec![c.clone()]);

    // Okta rename: path-less replace carrying id and displayName.
    let (st, _) = s
        .patch(
            &path,
            &json!({ "Operations": [
                { "op": "replace", "value": { "id": id, "displayName": "Renamed" } },
            ]}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    // Okta full replace of members.
    let (st, _) = s
        .patch(
            &path,
            &json!({ "Operations": [
                { "op": "replace", "path": "members", "value": [{ "value": a }, { "value": b }] },
            ]}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g) = s.get(&path).await;
    assert_eq!(g["displayName"], "Renamed");
    assert_eq!(member_ids(&g), sorted(vec![a.clone(), b.clone()]));

    // Entra's reads: excludedAttributes=members, by id and by displayName.
    let (_, g) = s.get(&format!("{path}?excludedAttributes=members")).await;
    assert!(g.get("members").is_none(), "{g}");
    assert_eq!(g["displayName"], "Renamed");
    let (_, list) = s
        .get(&format!(
            "/Groups?excludedAttributes=members&{}",
            filter("displayName eq \"renamed\"")
        ))
        .await;
    assert_eq!(list["totalResults"], 1);
    assert!(list["Resources"][0].get("members").is_none());
    let (_, list) = s
        .get(&format!(
            "/Groups?{}",
            filter(&format!("id eq \"{id}\" and members eq \"{a}\""))
        ))
        .await;
    assert_eq!(list["totalResults"], 1);
    let (_, list) = s
        .get(&format!(
            "/Groups?{}",
            filter(&format!("id eq \"{id}\" and members eq \"{c}\""))
        ))
        .await;
    assert_eq!(list["totalResults"], 0);
    let (_, list) = s
        .get(&format!(
            "/Groups?{}",
            filter("displayName sw \"ren\" or displayName eq \"x\"")
        ))
        .await;
    assert_eq!(list["totalResults"], 1);

    // Read-only in the application.
    let read_only: bool = s
        .db(|db| {
            use diesel::prelude::*;
            use idsync::store::schema::groups;
            with_tables!(db, c => groups::table.select(groups::read_only).first(c).unwrap())
        })
        .await;
    assert!(read_only);

    // Unknown member.
    let (st, e) = s
        .patch(
            &path,
            &json!({ "Operations": [{ "op": "add", "path": "members", "value": [{ "value": "nobody" }] }] }),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["detail"].as_str().unwrap().contains("nobody"));

    // PUT, then DELETE.
    let (st, g) = s
        .put(
            &path,
            &json!({ "displayName": "Put", "members": [{ "value": c }] }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{g}");
    assert_eq!(member_ids(&g), vec![c.clone()]);
    let (st, _) = s.delete(&path).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.get(&path).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn okta_creates_a_group_with_members() {
    let s = Server::sqlite().await;
    let a = user(&s, "okta-a@x.example").await;
    let (st, g) = s
        .post(
            "/Groups",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Test SCIMv2",
                "members": [{ "value": a, "display": "okta-a@x.example" }],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    assert_eq!(member_ids(&g), vec![a]);
    assert!(g.get("externalId").is_none());
}

#[tokio::test]
async fn discovery_describes_the_endpoint() {
    let s = Server::sqlite().await;
    let (st, spc) = s.get("/ServiceProviderConfig").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    let (_, types) = s.get("/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    let (st, t) = s.get("/ResourceTypes/User").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(t["endpoint"], "/Users");
    let (_, schemas) = s.get("/Schemas").await;
    assert_eq!(schemas["totalResults"], 4);
    assert!(!schemas.to_string().contains("null"));
    let (st, u) = s.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["attributes"][0]["name"], "userName");
    let (st, e) = s.post("/Schemas", &json!({})).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(e["status"], "405");
    let (st, _) = s.post("/ServiceProviderConfig", &json!({})).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn deleted_users_leave_the_member_lists() {
    let s = Server::sqlite().await;
    let (a, b) = (
        user(&s, "del-a@x.example").await,
        user(&s, "del-b@x.example").await,
    );
    let (_, g) = s
        .post(
            "/Groups",
            &json!({ "displayName": "D", "members": [{ "value": a }, { "value": b }] }),
        )
        .await;
    let gid = g["id"].as_str().unwrap().to_owned();
    let (st, _) = s.delete(&format!("/Users/{a}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g) = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(member_ids(&g), vec![b]);
}

/// A membership PATCH loads the named members only, however large the group.
#[tokio::test]
async fn a_member_change_loads_only_the_members_it_names() {
    let s = Server::sqlite().await;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(user(&s, &format!("big{i}@x.example")).await);
    }
    let members: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    let (st, g) = s
        .post(
            "/Groups",
            &json!({ "displayName": "Big", "externalId": "big", "members": members }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(g["members"].as_array().unwrap().len(), 40);
    let keys = idsync::store::scim::Keys {
        external_ids: vec!["ext-big7@x.example".into()],
        group_external_ids: vec!["big".into()],
        ..Default::default()
    };
    let local = s
        .store()
        .with_conn(move |c| c.load_local_for("scim", &keys))
        .await
        .unwrap();
    assert_eq!(local.users.len(), 1);
    assert_eq!(local.groups.len(), 1);
    assert_eq!(local.members.values().map(|m| m.len()).sum::<usize>(), 1);
}

#[tokio::test]
async fn root_search_lists_users_then_groups() {
    let s = Server::sqlite().await;
    let a = user(&s, "root@x.example").await;
    let (st, _) = s.post("/Groups", &json!({ "displayName": "root group" })).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, all) = s
        .post(
            "/.search",
            &json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"] }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(all["totalResults"], 2);
    assert_eq!(all["Resources"][0]["id"], a.as_str());
    assert_eq!(all["Resources"][1]["displayName"], "root group");
    let (_, page) = s.post("/.search", &json!({ "startIndex": 2, "count": 1 })).await;
    assert_eq!(page["Resources"].as_array().unwrap().len(), 1);
    assert_eq!(page["Resources"][0]["displayName"], "root group");
}

/// A request with `If-Match` (and, for PUT and PATCH, a body).
async fn with_if_match(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    if_match: &str,
    body: Option<&Value>,
) -> StatusCode {
    let mut req = s
        .client
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(&s.token)
        .header("if-match", if_match);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    req.send().await.unwrap().status()
}

/// PUT, PATCH and DELETE on a group check `If-Match` as they do on a user (RFC 7644 section
/// 3.14): another version is 412 and changes nothing; the current one or `*` goes through.
#[tokio::test]
async fn group_writes_check_if_match() {
    use reqwest::Method;
    let s = Server::sqlite().await;
    let a = user(&s, "etag-a@x.example").await;
    let (st, g) = s.post("/Groups", &json!({ "displayName": "Tagged" })).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let path = format!("/Groups/{}", g["id"].as_str().unwrap());
    let current = g["meta"]["version"].as_str().unwrap().to_owned();
    let stale = "W/\"1\"";
    let add = json!({ "Operations": [{ "op": "add", "path": "members", "value": [{ "value": a }] }] });
    let put = json!({ "displayName": "Renamed", "members": [{ "value": a }] });

    assert_eq!(
        with_if_match(&s, Method::PATCH, &path, stale, Some(&add)).await,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        with_if_match(&s, Method::PUT, &path, stale, Some(&put)).await,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        with_if_match(&s, Method::DELETE, &path, stale, None).await,
        StatusCode::PRECONDITION_FAILED
    );
    let (st, g) = s.get(&path).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(g["displayName"], "Tagged");
    assert_eq!(member_ids(&g), Vec::<String>::new());

    assert_eq!(
        with_if_match(&s, Method::PATCH, &path, &current, Some(&add)).await,
        StatusCode::NO_CONTENT
    );
    let (_, g) = s.get(&path).await;
    assert_eq!(member_ids(&g), vec![a.clone()]);
    let current = g["meta"]["version"].as_str().unwrap().to_owned();
    assert_eq!(
        with_if_match(&s, Method::PUT, &path, &current, Some(&put)).await,
        StatusCode::OK
    );
    assert_eq!(
        with_if_match(&s, Method::DELETE, &path, "*", None).await,
        StatusCode::NO_CONTENT
    );
    let (st, _) = s.get(&path).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
