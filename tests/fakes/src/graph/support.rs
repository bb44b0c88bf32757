//! Shared helpers of the Entra tests: connector configuration for the fake, and the tenant's
//! ground truth to compare a [`Mirror`](crate::mirror::Mirror) with.
#![allow(clippy::type_complexity)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use idsync_entra::{EntraConfig, EntraSource};
use serde_json::Value as Json;

use super::{FakeGraph, CLIENT_ID, CLIENT_SECRET, TENANT};

/// Connector keys for the fake, with fast retries; `extra` is appended TOML.
pub fn config_text(fake: &FakeGraph, extra: &str) -> String {
    format!(
        r#"
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
authority_url = "{}"
graph_url = "{}"
{extra}
"#,
        fake.authority_url(),
        fake.graph_url()
    )
}

pub fn parse_config(text: &str) -> EntraConfig {
    let mut config: EntraConfig = idsync_source::test_support::parse_toml(text).unwrap();
    config.check(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    config
}

pub const FAST_RETRY: &str = "retry = { initial_backoff_secs = 0.01, max_backoff_secs = 0.05 }";

pub fn source(fake: &FakeGraph, extra: &str) -> EntraSource {
    let text = config_text(
        fake,
        &format!("client_secret = \"{CLIENT_SECRET}\"\n{FAST_RETRY}\n{extra}"),
    );
    EntraSource::new("entra", parse_config(&text))
}

/// What the application should hold for the fake's tenant: active users (enabled, in scope)
/// as id -> upn, and groups with their (transitive or direct) live user members.
pub fn truth(
    fake: &FakeGraph,
    flatten: bool,
    in_scope: impl Fn(&str, &serde_json::Map<String, Json>) -> bool,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, (String, BTreeSet<String>)>,
) {
    let users = fake.users();
    let groups = fake.groups();
    let scope: BTreeSet<&String> = users
        .iter()
        .filter(|(id, p)| in_scope(id, p))
        .map(|(id, _)| id)
        .collect();
    let active = users
        .iter()
        .filter(|(id, p)| {
            scope.contains(id) && p.get("accountEnabled").and_then(Json::as_bool).unwrap_or(true)
        })
        .map(|(id, p)| (id.clone(), p["userPrincipalName"].as_str().unwrap().to_owned()))
        .collect();
    let members = |root: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::from([root.to_owned()]);
        let mut stack = vec![root.to_owned()];
        let mut out = BTreeSet::new();
        while let Some(g) = stack.pop() {
            for m in &groups[&g].1 {
                if scope.contains(m) {
                    out.insert(m.clone());
                } else if flatten && groups.contains_key(m) && seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        out
    };
    let groups = groups
        .iter()
        .map(|(id, (name, _))| (id.clone(), (name.clone(), members(id))))
        .collect();
    (active, groups)
}

/// A fake started and seeded with the small directory of [`seed`].
pub async fn seeded() -> FakeGraph {
    let fake = FakeGraph::start().await;
    seed(&fake);
    fake
}

/// A small tenant: five people, a nested group structure with a cycle, and a device member.
pub fn seed(fake: &FakeGraph) {
    use super::user_props;
    for (id, upn, given, sur) in [
        ("u-ann", "ann@contoso.example", "Ann", "Archer"),
        ("u-bob", "bob@contoso.example", "Bob", "Baker"),
        ("u-cid", "cid@contoso.example", "Cid", "Cole"),
        ("u-dee", "dee@contoso.example", "Dee", "Dunn"),
        ("u-eve", "eve@contoso.example", "Eve", "Evans"),
    ] {
        fake.put_user(id, user_props(upn, given, sur));
    }
    fake.put_group("g-all", "All staff");
    fake.put_group("g-eng", "Engineering");
    fake.put_group("g-ops", "Operations");
    fake.add_member("g-all", "u-ann");
    fake.add_member("g-all", "g-eng");
    fake.add_member("g-eng", "u-bob");
    fake.add_member("g-eng", "u-cid");
    fake.add_member("g-eng", "g-ops");
    fake.add_member("g-ops", "u-dee");
    fake.add_member("g-ops", "g-eng");
    fake.add_member("g-ops", "device-1");
}
