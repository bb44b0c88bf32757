//! Shared helpers of the Google tests: the service account key file and connector
//! configuration for the fake, a small directory, and its ground truth to compare a
//! [`Mirror`](crate::mirror::Mirror) with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use idsync_google::{GoogleConfig, GoogleSource};
use serde_json::{json, Map, Value as Json};

/// Active users (id -> primary email) and groups (id -> (name, members)).
pub type Truth = (
    BTreeMap<String, String>,
    BTreeMap<String, (String, BTreeSet<String>)>,
);

use super::{FakeGoogle, ADMIN, CLIENT_EMAIL, KEY_ID, RSA_KEY_PEM};

/// Fast retries for tests.
pub const TEST_KEYS: &str = "retry.initial_backoff_secs = 0.01\nretry.max_backoff_secs = 0.05";

/// The key file JSON for the fake, signed with `pem`.
pub fn key_file(fake: &FakeGoogle, pem: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "idsync-test",
        "private_key_id": KEY_ID,
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": fake.token_url(),
    })
    .to_string()
}

/// Connector keys for the fake (the key given inline); `extra` is appended TOML.
pub fn config_text(fake: &FakeGoogle, extra: &str) -> String {
    format!(
        "service_account_key = {:?}\nsubject = \"{ADMIN}\"\ndirectory_url = \"{}\"\n{TEST_KEYS}\n{extra}\n",
        key_file(fake, RSA_KEY_PEM),
        fake.url()
    )
}

pub fn parse_config(text: &str) -> GoogleConfig {
    let mut config: GoogleConfig = idsync_source::test_support::parse_toml(text).unwrap();
    config.check(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    config
}

pub fn source(fake: &FakeGoogle, extra: &str) -> GoogleSource {
    GoogleSource::new("google", parse_config(&config_text(fake, extra)))
}

/// A user resource's usual fields.
pub fn person(given: &str, family: &str, title: &str, department: &str, ou: &str) -> Json {
    json!({
        "name": {"givenName": given, "familyName": family, "fullName": format!("{given} {family}")},
        "organizations": [{"title": "Volunteer", "department": "Club"},
                          {"title": title, "department": department, "primary": true}],
        "languages": [{"languageCode": "en-GB", "preference": "preferred"}],
        "orgUnitPath": ou,
    })
}

/// Five users, four groups (nested, one cycle), an EXTERNAL member.
pub fn seed(fake: &FakeGoogle) {
    fake.add_user(
        "u-ann",
        "ann@example.com",
        person("Ann", "Archer", "Engineer", "R&D", "/Engineering"),
    );
    fake.add_user(
        "u-bob",
        "bob@example.com",
        person("Bob", "Baker", "Designer", "R&D", "/Engineering"),
    );
    fake.add_user(
        "u-cid",
        "cid@example.com",
        person("Cid", "Cole", "Seller", "Sales", "/Sales"),
    );
    fake.add_user(
        "u-dee",
        "dee@example.com",
        person("Dee", "Dunn", "Manager", "Sales", "/Sales"),
    );
    let mut eve = person("Eve", "Evans", "Contractor", "Ops", "/Contractors");
    eve["customSchemas"] = json!({"HR": {"costCenter": "CC-7", "employeeType": "contractor"}});
    fake.add_user("u-eve", "eve@example.com", eve);
    fake.add_group("g-eng", "eng@example.com", "Engineering");
    fake.add_group("g-platform", "platform@example.com", "Platform");
    fake.add_group("g-sales", "sales@example.com", "Sales");
    fake.add_group("g-all", "all@example.com", "Everyone");
    fake.add_member("g-eng", "USER", "u-ann");
    fake.add_member("g-eng", "GROUP", "g-platform");
    fake.add_member("g-platform", "USER", "u-bob");
    fake.add_member("g-platform", "GROUP", "g-eng");
    fake.add_member("g-sales", "USER", "u-cid");
    fake.add_member("g-sales", "USER", "u-dee");
    fake.add_member("g-sales", "EXTERNAL", "partner@elsewhere.example");
    fake.add_member("g-all", "GROUP", "g-eng");
    fake.add_member("g-all", "GROUP", "g-sales");
    fake.add_member("g-all", "USER", "u-eve");
}

/// The users of a group: direct, or through nested groups (each group once).
fn members(fake_groups: &BTreeMap<String, super::Group>, id: &str, flatten: bool) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([id.to_owned()]);
    let mut stack = vec![id.to_owned()];
    let mut users = BTreeSet::new();
    while let Some(g) = stack.pop() {
        let Some(group) = fake_groups.get(&g) else {
            continue;
        };
        for (kind, m) in &group.members {
            match kind.as_str() {
                "USER" => {
                    users.insert(m.clone());
                }
                "GROUP" if flatten && seen.insert(m.clone()) => stack.push(m.clone()),
                _ => {}
            }
        }
    }
    users
}

/// The ground truth: active in-scope users (id -> primary email) and synced groups (id ->
/// (name, in-scope members)), for `groups` (emails or ids; empty: all), the nesting mode and
/// a scoping predicate over the user resource.
pub fn truth(
    fake: &FakeGoogle,
    groups: &[&str],
    flatten: bool,
    scope: impl Fn(&Map<String, Json>) -> bool,
) -> Truth {
    let state = fake.state();
    let synced: Vec<(&String, &super::Group)> = state
        .groups
        .iter()
        .filter(|(id, g)| groups.is_empty() || groups.iter().any(|e| *e == id.as_str() || *e == g.email))
        .collect();
    let resolved: Vec<(String, String, BTreeSet<String>)> = synced
        .iter()
        .map(|(id, g)| ((*id).clone(), g.name.clone(), members(&state.groups, id, flatten)))
        .collect();
    let grouped: BTreeSet<&String> = resolved.iter().flat_map(|(_, _, m)| m.iter()).collect();
    let in_scope: BTreeMap<&String, &Map<String, Json>> = state
        .users
        .iter()
        .filter(|(id, u)| scope(u) && (groups.is_empty() || grouped.contains(id)))
        .collect();
    let users = in_scope
        .iter()
        .filter(|(_, u)| u["suspended"] != json!(true) && u["archived"] != json!(true))
        .map(|(id, u)| ((*id).clone(), u["primaryEmail"].as_str().unwrap().to_owned()))
        .collect();
    let groups = resolved
        .into_iter()
        .map(|(id, name, m)| {
            (
                id,
                (name, m.into_iter().filter(|u| in_scope.contains_key(u)).collect()),
            )
        })
        .collect();
    (users, groups)
}
