//! The pull side fills the attributes a SCIM push fills: an Entra mapping that targets an
//! extension attribute by its full path (`mapping."urn:...:User:location" = "[city]"`) lands
//! in `users.attributes` under the names an Interact-style SCIM client pushes, and the SCIM
//! endpoint serves and filters the pulled user by it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use diesel::prelude::*;
use idsync::config::ScimDelete;
use idsync::store::DatabaseUrl;
use idsync_fakes::graph::support::{config_text, seeded};
use idsync_fakes::graph::CLIENT_SECRET;
use serde_json::{json, Value};
use support::binary::Binary;
use support::scim::{config, filter, Server};

const SECRET_ENV: &str = "IDSYNC_TEST_ENTRA_SECRET";
const INTERACT_USER: &str = "urn:ietf:params:scim:schemas:extension:interactsoftware:2.0:User";

/// `users.attributes` of the user with this UPN, as JSON.
fn attributes_of(db: &std::path::Path, upn: &str) -> Value {
    diesel::table! { users (id) { id -> BigInt, upn -> Text, attributes -> Nullable<Text>, } }
    let mut c = SqliteConnection::establish(&db.display().to_string()).unwrap();
    let text: Option<String> = users::table
        .filter(users::upn.eq(upn))
        .select(users::attributes)
        .first(&mut c)
        .unwrap();
    text.map_or(Value::Null, |t| serde_json::from_str(&t).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entra_mapping_fills_the_extension_attribute_a_scim_push_fills() {
    let fake = seeded().await;
    fake.patch_user("u-ann", json!({ "city": "Berlin" }));
    let keys = format!(
        "client_secret = {{ env = \"{SECRET_ENV}\" }}\n\
         mapping.\"{INTERACT_USER}:location\" = {{ expression = \"[city]\" }}\n\
         retry = {{ initial_backoff_secs = 0.01, max_backoff_secs = 0.05 }}"
    );
    let setup = Binary::new(
        "entra",
        &config_text(&fake, &keys),
        &[(SECRET_ENV, CLIENT_SECRET)],
    );
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    let requests = fake.requests();
    let delta = requests.iter().find(|r| r.path == "/v1.0/users/delta").unwrap();
    assert!(
        delta.param("$select").unwrap().split(',').any(|p| p == "city"),
        "city is selected"
    );

    let pulled = attributes_of(&setup.db, "ann@contoso.example");
    assert_eq!(pulled, json!({ INTERACT_USER: { "location": "Berlin" } }));
    assert_eq!(
        attributes_of(&setup.db, "bob@contoso.example"),
        Value::Null,
        "no city, no attributes"
    );

    // A SCIM client pushes the same attribute: the same names in the same column.
    let mut scim_config = config(ScimDelete::Archive);
    let text = format!(
        "[database]\nurl = \"sqlite://x.db\"\n[scim]\nlisten = \"127.0.0.1:0\"\n\
         [[scim.extensions]]\nschema = \"{INTERACT_USER}\"\nresource = \"User\"\n\
         [[scim.extensions.attributes]]\nname = \"location\"\n"
    );
    let parsed = idsync::config::Config::parse(&text, std::path::Path::new("idsync.toml"), []).unwrap();
    scim_config.extensions = parsed.scim.unwrap().extensions;
    let s = Server::start(DatabaseUrl::Sqlite(setup.db.clone()), None, scim_config).await;
    let (st, pushed) = s
        .post(
            "/Users",
            &json!({ "userName": "zoe@contoso.example", INTERACT_USER: { "location": "Berlin" } }),
        )
        .await;
    assert_eq!(st, reqwest::StatusCode::CREATED, "{pushed}");
    assert_eq!(attributes_of(&setup.db, "zoe@contoso.example"), pulled);
    let (_, list) = s
        .get(&format!(
            "/Users?{}",
            filter(&format!("{INTERACT_USER}:location eq \"Berlin\""))
        ))
        .await;
    let names: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann@contoso.example", "zoe@contoso.example"], "{list}");

    // The upstream value changes, then goes: the attribute follows, then is removed.
    fake.patch_user("u-ann", json!({ "city": "Paris" }));
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        attributes_of(&setup.db, "ann@contoso.example")[INTERACT_USER]["location"],
        "Paris"
    );
    fake.patch_user("u-ann", json!({ "city": null }));
    let (code, out) = setup.resync(false).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(attributes_of(&setup.db, "ann@contoso.example"), Value::Null);
}
