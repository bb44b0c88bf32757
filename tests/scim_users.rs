//! The SCIM endpoint's `/Users`: Entra's and Okta's request shapes, filters, PATCH quirks,
//! errors, and the matcher linking pushed users to local ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::scim::{filter, Server};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn entra_user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{ "primary": true, "type": "work", "value": user_name }],
        "meta": { "resourceType": "User" },
        "name": { "formatted": "Given Family", "familyName": "Family", "givenName": "Given" },
        "roles": [],
        "title": null,
        "addresses": null,
        ENTERPRISE: { "department": "Sales", "manager": null },
    })
}

#[tokio::test]
async fn create_read_and_find_users_as_entra_does() {
    let s = Server::sqlite().await;
    // Test Connection: a random externalId finds nothing, with 200 and an empty list.
    let (st, body) = s
        .get(&format!(
            "/Users?{}",
            filter("externalId eq \"0f3a9c44-8c56-4d8e-9a6b-1b2c3d4e5f60\"")
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));

    let (st, created) = s
        .post("/Users", &entra_user("Ann.Lee@contoso.example", "ext-ann"))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["userName"], "Ann.Lee@contoso.example");
    assert_eq!(created["externalId"], "ext-ann");
    assert_eq!(created["name"]["givenName"], "Given");
    assert_eq!(created[ENTERPRISE]["department"], "Sales");
    assert_eq!(created["emails"][0]["value"], "Ann.Lee@contoso.example");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(created["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/Users/{id}")));
    assert!(created.to_string().find("null").is_none(), "no nulls: {created}");

    let (st, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["id"], id.as_str());

    // userName compares case-insensitively.
    for f in [
        "userName eq \"ann.lee@contoso.example\"",
        "externalId eq \"ext-ann\"",
        "emails[type eq \"work\"].value eq \"ANN.LEE@contoso.example\"",
        "emails.value eq \"ann.lee@contoso.example\"",
        "id eq \"ID\"",
        "userName eq \"ann.lee@contoso.example\" and active eq true",
        "userName sw \"ann\"",
        "name.givenName eq \"given\" or userName eq \"nobody\"",
        "not (userName eq \"nobody\")",
        "meta.resourceType eq \"User\" and title pr or userName co \"lee\"",
    ] {
        let f = f.replace("ID", &id);
        let (st, list) = s.get(&format!("/Users?{}", filter(&f))).await;
        assert_eq!(st, StatusCode::OK, "{f}: {list}");
        assert_eq!(list["totalResults"], 1, "{f}: {list}");
        assert_eq!(list["Resources"][0]["id"], id.as_str(), "{f}");
    }
    for f in [
        "externalId eq \"EXT-ANN\"",
        "userName eq \"other\"",
        "active eq false",
    ] {
        let (_, list) = s.get(&format!("/Users?{}", filter(f))).await;
        assert_eq!(list["totalResults"], 0, "{f}: {list}");
    }

    // attributes / excludedAttributes.
    let (_, list) = s
        .get(&format!(
            "/Users?{}&attributes=userName",
            filter("userName eq \"ann.lee@contoso.example\"")
        ))
        .await;
    let r = list["Resources"][0].as_object().unwrap();
    assert!(r.contains_key("id") && r.contains_key("userName") && !r.contains_key("emails"));
    let (_, got) = s
        .get(&format!("/Users/{id}?excludedAttributes=emails,name"))
        .await;
    assert!(got.get("emails").is_none() && got.get("name").is_none() && got.get("userName").is_some());

    // POST /Users/.search.
    let (st, list) = s
        .post(
            "/Users/.search",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "userName eq \"ann.lee@contoso.example\"", "startIndex": 1, "count": 10,
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["totalResults"], 1);
}

#[tokio::test]
async fn paging_is_stable_and_counts_the_total() {
    let s = Server::sqlite().await;
    for i in 0..5 {
        let (st, _) = s
            .post("/Users", &json!({ "userName": format!("u{i}@x.example") }))
            .await;
        assert_eq!(st, StatusCode::CREATED);
    }
    let (_, page) = s.get("/Users?startIndex=2&count=2").await;
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "u1@x.example");
    assert_eq!(page["Resources"][1]["userName"], "u2@x.example");
    let (_, page) = s.get("/Users?count=0").await;
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["Resources"], json!([]));
    // Okta's query shape.
    let (_, page) = s
        .get(&format!(
            "/Users?{}&startIndex=1&count=100",
            filter("userName eq \"U3@x.example\"")
        ))
        .await;
    assert_eq!(page["totalResults"], 1);
}

#[tokio::test]
async fn patch_accepts_entra_and_okta_quirks() {
    let s = Server::sqlite().await;
    let (_, created) = s
        .post("/Users", &entra_user("bob@contoso.example", "ext-bob"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");

    // Entra without the flag: capitalised ops, a string boolean.
    let (st, u) = s.patch(&path, &json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            { "op": "Replace", "path": "active", "value": "False" },
            { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "robert@contoso.example" },
            { "op": "Replace", "path": "name.familyName", "value": "Builder" },
            { "op": "Add", "path": "nickName", "value": "Bobby" },
            { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops" },
        ],
    })).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["active"], false);
    assert_eq!(u["emails"][0]["value"], "robert@contoso.example");
    assert_eq!(u["name"]["familyName"], "Builder");
    assert_eq!(u[ENTERPRISE]["department"], "Ops");
    // Inactive users are still returned.
    let (st, got) = s.get(&path).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["active"], false);

    // Entra with aadOptscim062020: path-less replace with dotted and URN keys.
    let (st, u) = s
        .patch(
            &path,
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "value": {
                    "active": true,
                    "displayName": "Bob B.",
                    "name.givenName": "Robert",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
                    "title": "Engineer",
                }}],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["active"], true);
    assert_eq!(u["displayName"], "Bob B.");
    assert_eq!(u["name"]["givenName"], "Robert");
    assert_eq!(u[ENTERPRISE]["department"], "R&D");
    assert_eq!(u["title"], "Engineer");

    // Okta: deactivation as a path-less replace.
    let (st, u) = s
        .patch(
            &path,
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "value": { "active": false } }],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(u["active"], false);

    // Remove with a path; rename of userName.
    let (st, u) = s
        .patch(
            &path,
            &json!({
                "Operations": [
                    { "op": "remove", "path": "title" },
                    { "op": "replace", "path": "userName", "value": "robert@contoso.example" },
                    { "op": "replace", "path": "active", "value": true },
                ],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert!(u.get("title").is_none());
    assert_eq!(u["userName"], "robert@contoso.example");

    // Bad PATCH bodies.
    let (st, e) = s
        .patch(
            &path,
            &json!({ "Operations": [{ "op": "frobnicate", "path": "title", "value": "x" }] }),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "invalidSyntax");
    let (st, e) = s
        .patch(
            &path,
            &json!({ "Operations": [{ "op": "replace", "path": "emails[type eq]", "value": "x" }] }),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "invalidPath");
    let (st, e) = s
        .patch(
            &path,
            &json!({ "Operations": [{ "op": "replace", "path": "active", "value": "maybe" }] }),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "invalidValue");
    assert!(e["detail"].as_str().unwrap().contains("active"), "{e}");

    // The events table recorded the changes under source scim.
    let events: i64 = s.db(|db| {
        use diesel::prelude::*;
        use idsync::store::schema::events;
        with_tables!(db, c => events::table.filter(events::connector.eq("scim")).count().get_result(c).unwrap())
    }).await;
    assert!(events >= 5, "{events} events");
}

#[tokio::test]
async fn put_replaces_and_delete_archives() {
    let s = Server::sqlite().await;
    let (_, created) = s
        .post("/Users", &entra_user("cy@contoso.example", "ext-cy"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    // Okta updates with PUT.
    let (st, u) = s.put(&path, &json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id, "userName": "cy@contoso.example", "name": { "givenName": "Cy", "familyName": "Young" },
        "emails": [{ "primary": true, "value": "cy@contoso.example", "type": "work" }],
        "displayName": "Cy Young", "active": true, "password": "ignored", "groups": [],
    })).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["displayName"], "Cy Young");
    assert!(
        u.get(ENTERPRISE).and_then(|e| e.get("department")).is_none(),
        "PUT replaced department: {u}"
    );

    // If-Match with a stale version.
    let stale = s
        .client
        .put(format!("{}{path}", s.base))
        .bearer_auth(&s.token)
        .header("if-match", "W/\"1\"")
        .json(&json!({ "userName": "cy@contoso.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);

    let (st, body) = s.delete(&path).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (st, e) = s.get(&path).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(e["status"], "404");
    // The row stays, archived, until retention purges it.
    let (active, archived): (bool, bool) = s
        .db(move |db| {
            use diesel::prelude::*;
            use idsync::store::schema::users;
            with_tables!(db, c => users::table
            .filter(users::scim_id.eq(&id))
            .select((users::active, users::archived_at.is_not_null()))
            .first(c)
            .unwrap())
        })
        .await;
    assert_eq!((active, archived), (false, true));
    // The same person can be provisioned again.
    let (st, again) = s
        .post("/Users", &entra_user("cy@contoso.example", "ext-cy"))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(again["active"], true);
}

#[tokio::test]
async fn hard_delete_removes_the_row() {
    let s = Server::sqlite_with(idsync::config::ScimDelete::Hard).await;
    let (_, created) = s.post("/Users", &json!({ "userName": "gone@x.example" })).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (st, _) = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let rows: i64 = s
        .db(|db| {
            use diesel::prelude::*;
            use idsync::store::schema::users;
            with_tables!(db, c => users::table.count().get_result(c).unwrap())
        })
        .await;
    assert_eq!(rows, 0);
    let (st, _) = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// A DELETEd user stays archived until the SCIM retention (applied by housekeeping) purges
/// it; a user who is only inactive, and one still active, stay.
#[tokio::test]
async fn retention_purges_deleted_users_only() {
    let s = Server::sqlite().await;
    let mut ids = Vec::new();
    for name in ["gone@x.example", "paused@x.example", "here@x.example"] {
        let (_, created) = s
            .post("/Users", &json!({ "userName": name, "externalId": name }))
            .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        s.delete(&format!("/Users/{}", ids[0])).await.0,
        StatusCode::NO_CONTENT
    );
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "value": {"active": false}}]});
    assert_eq!(
        s.patch(&format!("/Users/{}", ids[1]), &deactivate).await.0,
        StatusCode::OK
    );
    let count = || {
        s.db(|db| {
            use diesel::prelude::*;
            use idsync::store::schema::users;
            with_tables!(db, c => users::table.count().get_result::<i64>(c).unwrap())
        })
    };
    assert_eq!(count().await, 3, "DELETE archives; the row waits for retention");

    let store = idsync::store::Store::open(&s.url);
    let guard = idsync::planner::GuardSettings {
        max_deactivations: 500,
        max_deactivation_percent: 100.0,
    };
    let purged = idsync::reconcile::retention::purge_archived(&store, "scim", 0, &guard)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(count().await, 2);
    assert_eq!(
        s.get(&format!("/Users/{}", ids[1])).await.0,
        StatusCode::OK,
        "inactive, not deleted: kept"
    );
    assert_eq!(s.get(&format!("/Users/{}", ids[2])).await.0, StatusCode::OK);
}

#[tokio::test]
async fn errors_follow_the_scim_schema() {
    let s = Server::sqlite().await;
    let (st, _) = s
        .post("/Users", &entra_user("dup@contoso.example", "ext-1"))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    // Same userName, another externalId: 409 uniqueness.
    let (st, e) = s
        .post("/Users", &entra_user("DUP@contoso.example", "ext-2"))
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["scimType"], "uniqueness");
    assert_eq!(e["status"], "409");
    assert_eq!(e["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    // Same externalId again.
    let (st, e) = s
        .post("/Users", &entra_user("dup@contoso.example", "ext-1"))
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");

    let (st, e) = s.get("/Users/does-not-exist").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(e["status"], "404");

    let (st, e) = s.get(&format!("/Users?{}", filter("userName eq"))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "invalidFilter");
    let (st, e) = s.get(&format!("/Users?{}", filter("externalId eq jyoung"))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "invalidFilter");

    let (st, e) = s.post("/Users", &json!({ "displayName": "no user name" })).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["detail"].as_str().unwrap().contains("userName"));
    let (st, e) = s.post("/Users", &json!({ "userName": "x@x", "title": 5 })).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["detail"].as_str().unwrap().contains("title"));

    let raw = |ct: Option<&'static str>, body: String| {
        let mut r = s
            .client
            .post(format!("{}/Users", s.base))
            .bearer_auth(&s.token)
            .body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    let r = raw(Some("application/json"), "{\"userName\": ".into())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/scim+json");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["scimType"], "invalidSyntax");
    let r = raw(Some("application/xml"), "<user/>".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // No Content-Type at all is fine.
    let r = raw(None, json!({ "userName": "noct@x.example" }).to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let big = json!({ "userName": "big@x.example", "displayName": "x".repeat(100 * 1024) }).to_string();
    let r = raw(Some("application/scim+json"), big).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn authentication_is_required_except_for_health() {
    let s = Server::sqlite().await;
    let r = s.client.get(format!("{}/Users", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["status"], "401");
    let r = s
        .client
        .get(format!("{}/Users", s.base))
        .bearer_auth("idsync_scim_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s.client.get(format!("{}/health", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_pushed_user_links_to_the_existing_local_user() {
    let s = Server::sqlite().await;
    // A user the application created itself (SAML sign-in), and one a pull connector owns.
    s.db(|db| {
        use diesel::prelude::*;
        with_tables!(db, c => {
            diesel::sql_query("INSERT INTO users (scim_id, upn, email, active, created_at, updated_at) VALUES ('local1', 'dana@contoso.example', 'dana@contoso.example', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)").execute(c).unwrap();
            diesel::sql_query("INSERT INTO users (scim_id, upn, source, external_id, active, created_at, updated_at) VALUES ('hr1', 'eve@contoso.example', 'hr', 'E1', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)").execute(c).unwrap();
            diesel::sql_query("INSERT INTO user_links (source, external_id, user_id, linked_at) SELECT 'hr', 'E1', id, CURRENT_TIMESTAMP FROM users WHERE scim_id = 'hr1'").execute(c).unwrap();
        })
    }).await;
    let (st, u) = s
        .post("/Users", &entra_user("Dana@contoso.example", "ext-dana"))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    assert_eq!(u["id"], "local1", "linked, not duplicated");
    assert_eq!(u["externalId"], "ext-dana");
    let (st, u) = s
        .post(
            "/Users",
            &json!({ "userName": "eve@contoso.example", "externalId": "ext-eve" }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    assert_eq!(u["id"], "hr1");
    let (_, all) = s.get("/Users").await;
    assert_eq!(all["totalResults"], 2);
}

#[tokio::test]
async fn every_filter_example_of_rfc_7644() {
    let s = Server::sqlite().await;
    let (st, _) = s
        .post(
            "/Users",
            &json!({
                "userName": "bjensen", "title": "Tour Guide",
                "name": { "givenName": "Barbara", "familyName": "O'Malley" },
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": "701984" },
                "emails": [{ "type": "work", "value": "bjensen@example.com", "primary": true }],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = s
        .post(
            "/Users",
            &json!({
                "userName": "jsmith", "emails": [{ "type": "home", "value": "js@example.org" }],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    // RFC 7644 section 3.4.2.2, in order, with the count each finds here (None: any 200).
    let cases: [(&str, Option<u64>); 18] = [
        ("userName eq \"bjensen\"", Some(1)),
        ("name.familyName co \"O'Malley\"", Some(1)),
        ("userName sw \"J\"", Some(1)),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"", Some(1)),
        ("title pr", Some(1)),
        ("meta.lastModified gt \"2011-05-13T04:42:34Z\"", Some(2)),
        ("meta.lastModified ge \"2011-05-13T04:42:34Z\"", Some(2)),
        ("meta.lastModified lt \"2011-05-13T04:42:34Z\"", Some(0)),
        ("meta.lastModified le \"2011-05-13T04:42:34Z\"", Some(0)),
        ("title pr and userType eq \"Employee\"", Some(0)),
        ("title pr or userType eq \"Intern\"", Some(1)),
        // `schemas` lists the extensions a user carries (RFC 7643 section 3): bjensen's only.
        ("schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"", Some(1)),
        ("userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")", Some(0)),
        ("userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")", None),
        ("userType eq \"Employee\" and (emails.type eq \"work\")", Some(0)),
        ("userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]", Some(0)),
        ("emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]", Some(1)),
        // Entra's uniqueness probe.
        ("emails[type eq \"work\"].value eq \"bjensen@example.com\"", Some(1)),
    ];
    for (f, expected) in cases {
        let (st, list) = s.get(&format!("/Users?{}", filter(f))).await;
        assert_eq!(st, StatusCode::OK, "{f}: {list}");
        if let Some(n) = expected {
            assert_eq!(list["totalResults"], n, "{f}: {list}");
        }
    }
}

#[tokio::test]
async fn entra_shapes_without_a_column_are_accepted() {
    let s = Server::sqlite().await;
    // Example 2 of Entra's tutorial: explicit nulls and the misspelled enterprise URN.
    let (st, u) = s.post("/Users", &json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "externalId": "e2", "userName": "e2@contoso.example", "active": true,
        "addresses": null, "phoneNumbers": null, "title": null,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0User": { "department": "Legal", "manager": null },
    })).await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    assert_eq!(u[ENTERPRISE]["department"], "Legal");
    let id = u["id"].as_str().unwrap().to_owned();
    let (st, u) = s.patch(&format!("/Users/{id}"), &json!({ "Operations": [
        { "op": "Add", "path": "manager", "value": [{ "$ref": "http://x/Users/1", "value": "1" }] },
        { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42" },
        { "op": "Add", "path": "nickName", "value": "Babs" },
    ]})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["userName"], "e2@contoso.example");
}

#[tokio::test]
async fn adding_a_primary_email_replaces_the_stored_one() {
    let s = Server::sqlite().await;
    let (_, u) = s.post("/Users", &json!({ "userName": "fay@x.example", "emails": [{ "value": "old@x.example", "primary": true }] })).await;
    let id = u["id"].as_str().unwrap().to_owned();
    let (st, u) = s.patch(&format!("/Users/{id}"), &json!({ "Operations": [
        { "op": "add", "path": "emails", "value": [{ "value": "new@x.example", "type": "work", "primary": true }] },
    ]})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    // Both are kept; the new primary one demotes the old (RFC 7643 section 2.4) and becomes
    // the `email` column.
    assert_eq!(
        u["emails"],
        json!([{ "value": "old@x.example" }, { "value": "new@x.example", "type": "work", "primary": true }])
    );
    let (_, list) = s
        .get(&format!(
            "/Users?{}",
            filter("emails[primary eq true].value eq \"new@x.example\"")
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
}
