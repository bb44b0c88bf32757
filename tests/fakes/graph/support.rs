//! Shared helpers of the Entra tests: connector configuration for the fake, a mirror that folds
//! batches the way the planner does, and the tenant's ground truth to compare it with.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use idsync_entra::{EntraConfig, EntraSource};
use idsync_source::{
    Batch, FetchRequest, Fetched, MembersChange, NoProgress, Source, SourceError, UserRecord,
};
use serde_json::Value as Json;

use crate::graph_fake::{FakeGraph, CLIENT_ID, CLIENT_SECRET, TENANT};

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
    let value: toml::Value = toml::from_str(text).unwrap();
    let mut config: EntraConfig = serde_path_to_error::deserialize(value).unwrap();
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

/// The users and groups the application would hold, folded from batches like the planner.
#[derive(Debug, Default)]
pub struct Mirror {
    /// id -> (record, active)
    pub users: BTreeMap<String, (UserRecord, bool)>,
    /// id -> (name, members)
    pub groups: BTreeMap<String, (String, BTreeSet<String>)>,
    pub cursor: Option<String>,
}

impl Mirror {
    pub async fn sync(&mut self, source: &EntraSource) -> Result<&'static str, SourceError> {
        self.sync_with(source, false).await
    }

    /// Fetches and folds; returns "snapshot" or "changes".
    pub async fn sync_with(&mut self, source: &EntraSource, full: bool) -> Result<&'static str, SourceError> {
        let request = FetchRequest {
            cursor: self.cursor.clone(),
            full,
        };
        let batch = source.fetch(&request, &NoProgress).await?;
        Ok(self.apply(batch))
    }

    pub fn apply(&mut self, batch: Batch) -> &'static str {
        let mut data = batch.data;
        data.normalize();
        let kind = match data {
            Fetched::Snapshot(s) => {
                let present: BTreeSet<String> = s.users.iter().map(|u| u.external_id.clone()).collect();
                for (id, (_, active)) in self.users.iter_mut() {
                    if !present.contains(id) {
                        *active = false;
                    }
                }
                for u in s.users {
                    let active = u.enabled;
                    self.users.insert(u.external_id.clone(), (u, active));
                }
                self.groups = s
                    .groups
                    .into_iter()
                    .map(|g| (g.external_id, (g.display_name, g.members.into_iter().collect())))
                    .collect();
                "snapshot"
            }
            Fetched::Changes(c) => {
                for u in c.users {
                    let active = u.enabled;
                    self.users.insert(u.external_id.clone(), (u, active));
                }
                for id in c.removed_users {
                    if let Some((_, active)) = self.users.get_mut(&id) {
                        *active = false;
                    }
                }
                for g in c.groups {
                    let entry = self
                        .groups
                        .entry(g.external_id.clone())
                        .or_insert_with(|| (g.external_id.clone(), BTreeSet::new()));
                    if let Some(name) = g.display_name {
                        entry.0 = name;
                    }
                    match g.members {
                        MembersChange::Unchanged => {}
                        MembersChange::Replace(m) => entry.1 = m.into_iter().collect(),
                        MembersChange::Delta { added, removed } => {
                            entry.1.extend(added);
                            for r in removed {
                                entry.1.remove(&r);
                            }
                        }
                    }
                }
                for id in c.removed_groups {
                    self.groups.remove(&id);
                }
                "changes"
            }
        };
        self.cursor = batch.cursor;
        kind
    }

    /// Active users as id -> upn.
    pub fn active(&self) -> BTreeMap<String, String> {
        self.users
            .iter()
            .filter(|(_, (_, active))| *active)
            .map(|(id, (u, _))| (id.clone(), u.upn.clone()))
            .collect()
    }

    pub fn record(&self, id: &str) -> &UserRecord {
        &self.users[id].0
    }

    /// Groups as id -> (name, members).
    pub fn groups(&self) -> BTreeMap<String, (String, BTreeSet<String>)> {
        self.groups.clone()
    }
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

/// A small tenant: five people, a nested group structure with a cycle, and a device member.
pub fn seed(fake: &FakeGraph) {
    use crate::graph_fake::user_props;
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
