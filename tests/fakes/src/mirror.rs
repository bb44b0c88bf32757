//! A mirror of what the application would hold, folded from a connector's batches the way
//! the planner folds them, for the connector tests of every kind.

use std::collections::{BTreeMap, BTreeSet};

use idsync_source::{
    Batch, FetchRequest, Fetched, MembersChange, NoProgress, Source, SourceError, UserRecord,
};

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
    pub async fn sync(&mut self, source: &dyn Source) -> Result<&'static str, SourceError> {
        self.sync_with(source, false).await
    }

    /// Fetches and folds; returns "snapshot" or "changes".
    pub async fn sync_with(&mut self, source: &dyn Source, full: bool) -> Result<&'static str, SourceError> {
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
