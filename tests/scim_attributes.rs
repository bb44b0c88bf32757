//! Every attribute a client sends is kept (`users.attributes`, `groups.attributes`), and
//! custom extension schemas (Interact's) are published, checked, kept, filtered and patched;
//! on a real SQLite file and a real PostgreSQL server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use idsync::config::{Config, ScimDelete};
use idsync::store::DatabaseUrl;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::postgres::TestDatabase;
use support::scim::{config, filter, Server};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const IDSYNC: &str = "urn:idsync:params:scim:schemas:extension:idsync:2.0:User";
const INTERACT_USER: &str = "urn:ietf:params:scim:schemas:extension:interactsoftware:2.0:User";
const INTERACT_GROUP: &str = "urn:ietf:params:scim:schemas:extension:interactsoftware:2.0:Group";

/// Interact's extensions, as an operator writes them in `idsync.toml`.
const EXTENSIONS: &str = r#"
[database]
url = "sqlite://unused.db"

[scim]
listen = "127.0.0.1:0"

[[scim.extensions]]
schema = "urn:ietf:params:scim:schemas:extension:interactsoftware:2.0:User"
resource = "User"
[[scim.extensions.attributes]]
name = "location"
[[scim.extensions.attributes]]
name = "loginType"
canonical_values = ["sso", "password"]

[[scim.extensions]]
schema = "urn:ietf:params:scim:schemas:extension:interactsoftware:2.0:Group"
resource = "Group"
[[scim.extensions.attributes]]
name = "groupType"
required = true
case_exact = true
canonical_values = ["company", "department", "location", "group"]
"#;

struct Fixture {
    s: Server,
    _pg: Option<TestDatabase>,
}

async fn start(url: DatabaseUrl, pg: Option<TestDatabase>) -> Fixture {
    let parsed = Config::parse(EXTENSIONS, std::path::Path::new("idsync.toml"), []).unwrap();
    let mut c = config(ScimDelete::Archive);
    c.extensions = parsed.scim.unwrap().extensions;
    Fixture {
        s: Server::start(url, None, c).await,
        _pg: pg,
    }
}

async fn sqlite() -> (Fixture, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("idsync.db"));
    (start(url, None).await, dir)
}

async fn postgres() -> (Fixture, ()) {
    let pg = TestDatabase::create();
    let url = DatabaseUrl::parse(&pg.url).unwrap();
    (start(url, Some(pg)).await, ())
}

fn patch(ops: Value) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops })
}

/// The enterprise extension, further emails and phone numbers, and `externalId` survive POST,
/// PATCH add/replace/remove and PUT; a removed attribute is gone.
async fn every_attribute_is_kept(f: Fixture) {
    let s = &f.s;
    let (st, manager) = s.post("/Users", &json!({ "userName": "boss@x.example" })).await;
    assert_eq!(st, StatusCode::CREATED, "{manager}");
    let manager_id = manager["id"].as_str().unwrap();
    let (st, u) = s
        .post(
            "/Users",
            &json!({
                "userName": "ann@x.example", "externalId": "ext-ann",
                "emails": [
                    { "value": "ann@x.example", "type": "work", "primary": true },
                    { "value": "ann@home.example", "type": "home" },
                ],
                "phoneNumbers": [{ "value": "+49 30 1234", "type": "mobile" }],
                "addresses": [{ "locality": "Berlin", "country": "DE", "type": "work" }],
                ENTERPRISE: {
                    "employeeNumber": "701984", "costCenter": "4130", "organization": "Acme",
                    "division": "Ops", "department": "Tour Operations",
                    "manager": { "value": manager_id, "$ref": format!("{}/Users/{manager_id}", s.base) },
                },
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let id = u["id"].as_str().unwrap().to_owned();
    let (_, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got["externalId"], "ext-ann");
    assert_eq!(got["emails"][1]["type"], "home", "{got}");
    assert_eq!(got["phoneNumbers"][0]["value"], "+49 30 1234");
    assert_eq!(got["addresses"][0]["locality"], "Berlin");
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(got[ENTERPRISE]["department"], "Tour Operations");
    assert_eq!(got[ENTERPRISE]["manager"]["value"], manager_id);

    let (st, u) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([
                { "op": "replace", "path": "externalId", "value": "ext-ann-2" },
                { "op": "add", "path": format!("{ENTERPRISE}:costCenter"), "value": "4140" },
                { "op": "remove", "path": "phoneNumbers" },
                { "op": "remove", "path": format!("{ENTERPRISE}:division") },
            ])),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["externalId"], "ext-ann-2");
    assert_eq!(u[ENTERPRISE]["costCenter"], "4140");
    assert!(u.get("phoneNumbers").is_none(), "{u}");
    assert!(u[ENTERPRISE].get("division").is_none(), "{u}");
    let (_, list) = s
        .get(&format!("/Users?{}", filter("externalId eq \"ext-ann-2\"")))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    let (_, list) = s
        .get(&format!("/Users?{}", filter("externalId eq \"ext-ann\"")))
        .await;
    assert_eq!(list["totalResults"], 0, "{list}");
    let (_, list) = s
        .get(&format!(
            "/Users?{}",
            filter(&format!("{ENTERPRISE}:employeeNumber eq \"701984\""))
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");

    // The whole extension by its URN, then `externalId` removed.
    let (st, u) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([
                { "op": "remove", "path": ENTERPRISE },
                { "op": "remove", "path": "externalId" },
            ])),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert!(u.get(ENTERPRISE).is_none(), "{u}");
    assert!(u.get("externalId").is_none(), "{u}");
    assert!(
        !u["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE)),
        "{u}"
    );

    // PUT replaces: what it leaves out is gone.
    let (st, u) = s
        .put(
            &format!("/Users/{id}"),
            &json!({ "userName": "ann@x.example", "externalId": "ext-ann-3", "nickName": "Annie" }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["nickName"], "Annie");
    assert_eq!(u["externalId"], "ext-ann-3");
    assert!(
        u.get("addresses").is_none() && u["emails"].as_array().is_none(),
        "{u}"
    );

    // Read-only: the idsync extension's `source` is ignored on input and returned on request.
    let (st, u) = s
        .post(
            "/Users",
            &json!({ "userName": "ro@x.example", IDSYNC: { "source": "hr" }, "groups": [{ "value": "g" }] }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    assert!(u.get(IDSYNC).is_none() && u.get("groups").is_none(), "{u}");
    let ro = u["id"].as_str().unwrap().to_owned();
    let (st, u) = s
        .patch(
            &format!("/Users/{ro}"),
            &patch(json!([{ "op": "replace", "path": format!("{IDSYNC}:source"), "value": "hr" }])),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    let (_, u) = s.get(&format!("/Users/{ro}?attributes={IDSYNC}")).await;
    assert_eq!(u[IDSYNC]["source"], "scim", "{u}");

    // Groups keep `externalId` on PATCH too.
    let (st, g) = s
        .post(
            "/Groups",
            &json!({ "displayName": "Ops", "externalId": "g-1", INTERACT_GROUP: { "groupType": "department" } }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let (st, _) = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{ "op": "replace", "path": "externalId", "value": "g-2" }])),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g) = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["externalId"], "g-2", "{g}");
    let (st, e) = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{ "op": "replace", "path": "meta", "value": {} }])),
        )
        .await;
    assert_eq!(
        (st, &e["scimType"]),
        (StatusCode::BAD_REQUEST, &json!("mutability")),
        "{e}"
    );
    let (_, list) = s
        .get(&format!("/Groups?{}", filter("externalId eq \"g-2\"")))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

/// Interact's extensions: discovery, POST, GET, filter, PATCH (full path, path-less URN key,
/// whole object), PUT, and errors that name the attribute and the value.
async fn interact_extensions_round_trip(f: Fixture) {
    let s = &f.s;
    let (_, schemas) = s.get("/Schemas").await;
    let user_ext = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == INTERACT_USER)
        .unwrap_or_else(|| panic!("{schemas}"));
    assert_eq!(
        user_ext["attributes"][1]["canonicalValues"],
        json!(["sso", "password"])
    );
    let (_, rt) = s.get("/ResourceTypes/Group").await;
    assert_eq!(
        rt["schemaExtensions"],
        json!([{ "schema": INTERACT_GROUP, "required": false }])
    );

    let (st, u) = s
        .post(
            "/Users",
            &json!({ "userName": "bo@x.example", INTERACT_USER: { "location": "Berlin", "loginType": "sso" } }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let id = u["id"].as_str().unwrap().to_owned();
    let (_, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got[INTERACT_USER]["location"], "Berlin");
    assert!(got["schemas"].as_array().unwrap().contains(&json!(INTERACT_USER)));
    s.post(
        "/Users",
        &json!({ "userName": "cy@x.example", INTERACT_USER: { "location": "Paris" } }),
    )
    .await;
    let (_, list) = s
        .get(&format!(
            "/Users?{}",
            filter(&format!("{INTERACT_USER}:location eq \"berlin\""))
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["userName"], "bo@x.example");

    let path = format!("/Users/{id}");
    let (st, u) = s
        .patch(
            &path,
            &patch(
                json!([{ "op": "replace", "path": format!("{INTERACT_USER}:location"), "value": "Oslo" }]),
            ),
        )
        .await;
    assert_eq!(
        (st, &u[INTERACT_USER]["location"]),
        (StatusCode::OK, &json!("Oslo")),
        "{u}"
    );
    let (st, u) = s
        .patch(
            &path,
            &patch(json!([{ "op": "replace", "value": { format!("{INTERACT_USER}:location"): "Rome" } }])),
        )
        .await;
    assert_eq!(
        (st, &u[INTERACT_USER]["location"]),
        (StatusCode::OK, &json!("Rome")),
        "{u}"
    );
    let (st, u) = s
        .patch(
            &path,
            &patch(json!([{ "op": "add", "path": INTERACT_USER, "value": { "loginType": "password" } }])),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(
        u[INTERACT_USER],
        json!({ "location": "Rome", "loginType": "password" })
    );

    // Errors name the attribute and the value, and change nothing.
    let (st, e) = s
        .patch(
            &path,
            &patch(
                json!([{ "op": "replace", "path": format!("{INTERACT_USER}:loginType"), "value": "magic" }]),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["scimType"], "invalidValue");
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{INTERACT_USER}:loginType")) && detail.contains("magic"),
        "{detail}"
    );
    let (st, e) = s
        .put(
            &path,
            &json!({ "userName": "bo@x.example", INTERACT_USER: { "location": 7 } }),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Bad value type for attribute {INTERACT_USER}:location")),
        "{e}"
    );
    let (_, got) = s.get(&path).await;
    assert_eq!(got[INTERACT_USER]["loginType"], "password");

    // PUT replaces the extension.
    let (st, u) = s
        .put(
            &path,
            &json!({ "userName": "bo@x.example", INTERACT_USER: { "location": "Lima" } }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u[INTERACT_USER], json!({ "location": "Lima" }));

    // Groups: `groupType` is required and case-exact.
    let (st, e) = s.post("/Groups", &json!({ "displayName": "Sales" })).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        e["detail"],
        format!("Missing attribute {INTERACT_GROUP}:groupType")
    );
    let (st, e) = s
        .post(
            "/Groups",
            &json!({ "displayName": "Sales", INTERACT_GROUP: { "groupType": "Department" } }),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("\"Department\""), "{e}");
    let (st, g) = s
        .post(
            "/Groups",
            &json!({ "displayName": "Sales", INTERACT_GROUP: { "groupType": "department" } }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let (st, e) = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{ "op": "remove", "path": format!("{INTERACT_GROUP}:groupType") }])),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, _) = s
        .patch(&format!("/Groups/{gid}"), &patch(json!([{ "op": "replace", "path": format!("{INTERACT_GROUP}:groupType"), "value": "location" }])))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, list) = s
        .get(&format!(
            "/Groups?{}",
            filter(&format!("{INTERACT_GROUP}:groupType eq \"location\""))
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0][INTERACT_GROUP]["groupType"], "location");
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                let (f, _dir) = super::sqlite().await;
                super::$case(f).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                let (f, _keep) = super::postgres().await;
                super::$case(f).await
            })*
        }
    };
}

on_both!(every_attribute_is_kept, interact_extensions_round_trip);
