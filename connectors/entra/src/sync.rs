//! Delta rounds and what they become: a complete snapshot (full sync) or a change set
//! (incremental sync from the stored deltaLinks), per Microsoft's "Use delta query to track
//! changes in Microsoft Graph data" (<https://learn.microsoft.com/graph/delta-query-overview>)
//! and "Get incremental changes for groups" (<https://learn.microsoft.com/graph/delta-query-groups>).
//!
//! Every round is read to its `@odata.deltaLink` before anything is returned; a round that
//! fails leaves the stored cursor where it was, so nothing is lost or half-applied.

use std::collections::{BTreeSet, HashMap, HashSet};

use idsync_source::mapping::Purpose;
use idsync_source::{
    Batch, ChangeSet, Fetched, GroupChange, GroupRecord, MembersChange, NestedGroups, Progress, Snapshot,
    SourceError, UserRecord,
};
use serde_json::{Map, Value as Json};
use tracing::{debug, info};

use crate::graph::{GetError, Graph, Page};
use crate::state::{Node, Tenant};
use crate::{EntraSource, GROUP_SELECT};

type Object = Map<String, Json>;

/// What one users round said, per user: the last word wins (an object may appear more than
/// once in a round: delta query overview, "Resource representation in the delta query response").
#[derive(Debug, Default)]
struct UserRound {
    /// `None`: removed (`@removed`, reason `changed` or `deleted`).
    users: HashMap<String, Option<(UserRecord, bool)>>,
}

/// What one groups round said, per group, with repeated objects merged.
#[derive(Debug, Default)]
struct GroupRound {
    /// `None`: removed.
    groups: HashMap<String, Option<GroupDelta>>,
}

#[derive(Debug, Default)]
struct GroupDelta {
    name: Option<String>,
    /// Member id -> present (false: `@removed`).
    users: HashMap<String, bool>,
    groups: HashMap<String, bool>,
}

fn object_id(item: &Object, what: &str) -> Result<String, SourceError> {
    item.get("id")
        .and_then(Json::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| SourceError::InvalidData {
            location: format!("{what} delta"),
            detail: format!("an object without an id: {}", Json::Object(item.clone())),
        })
}

impl EntraSource {
    /// A user object as a record, and whether it passes the scoping filters.
    fn user_record(&self, id: &str, attrs: &Object) -> Result<(UserRecord, bool), SourceError> {
        let values =
            self.mapping()?
                .evaluate(attrs, Purpose::Create)
                .map_err(|e| SourceError::InvalidData {
                    location: format!("user {id}"),
                    detail: e.to_string(),
                })?;
        let mut record = UserRecord {
            attributes: None,
            external_id: id.to_owned(),
            upn: String::new(),
            email: None,
            display_name: None,
            given_name: None,
            family_name: None,
            job_title: None,
            department: None,
            preferred_language: None,
            // Graph omits accountEnabled only when it was never set; Entra enables by default.
            enabled: attrs
                .get("accountEnabled")
                .and_then(Json::as_bool)
                .unwrap_or(true),
        };
        record.set_mapped(values);
        if record.upn.trim().is_empty() {
            return Err(SourceError::InvalidData {
                location: format!("user {id}"),
                detail: "the upn mapping gave no value".into(),
            });
        }
        Ok((record, self.scope().matches(attrs)))
    }

    /// Provision on demand: `GET /users/{id or userPrincipalName}`, mapped, with the scoping
    /// filters' verdict. Group scope is reported, not evaluated: it needs the whole graph.
    pub(crate) async fn lookup_user(
        &self,
        key: &str,
    ) -> Result<Option<idsync_source::UserLookup>, SourceError> {
        let graph = self.graph().await?;
        let select: Vec<&str> = self.user_select.iter().map(String::as_str).collect();
        let object = match graph.get::<Object>(&graph.user_url(key.trim(), &select)).await {
            Ok(object) => object,
            Err(GetError::Failed(SourceError::Upstream {
                status: Some(404), ..
            })) => return Ok(None),
            Err(GetError::Failed(e)) => return Err(e),
            Err(GetError::DeltaReset { url, status, detail }) => {
                return Err(SourceError::Upstream {
                    url,
                    status: Some(status),
                    request_id: None,
                    detail,
                })
            }
        };
        let id = object.get("id").and_then(Json::as_str).unwrap_or(key).to_owned();
        let (record, _) = self.user_record(&id, &object)?;
        let decision = self.scope().explain(&object);
        let mut steps = vec![
            format!("Graph returned user {id} ({})", record.upn),
            format!("scoping filters: {decision}"),
        ];
        if !self.config.groups.is_empty() {
            steps.push(format!(
                "group scope ({}) is checked at the next sync, not on demand",
                self.config.groups.join(", ")
            ));
        }
        Ok(Some(idsync_source::UserLookup {
            record,
            in_scope: decision.in_scope(),
            steps,
        }))
    }

    fn absorb_users(&self, round: &mut UserRound, items: Vec<Object>) -> Result<(), SourceError> {
        for item in items {
            let id = object_id(&item, "users")?;
            let change = if item.contains_key("@removed") {
                None
            } else {
                Some(self.user_record(&id, &item)?)
            };
            round.users.insert(id, change);
        }
        Ok(())
    }

    /// Follows a round from `start` to its deltaLink, handing each page's objects to `absorb`.
    async fn round(
        &self,
        graph: &Graph,
        start: &str,
        kind: &str,
        progress: &dyn Progress,
        mut absorb: impl FnMut(Vec<Object>) -> Result<(), SourceError>,
    ) -> Result<String, GetError> {
        let mut url = start.to_owned();
        let mut pages = 0u64;
        loop {
            let page: Page = graph.get(&url).await?;
            pages += 1;
            let Some(items) = page.value else {
                return Err(GetError::Failed(SourceError::Upstream {
                    url,
                    status: Some(200),
                    request_id: None,
                    detail: "the page has no `value` array".into(),
                }));
            };
            progress.fetched(kind, items.len() as u64);
            absorb(items)?;
            match (page.next_link, page.delta_link) {
                (Some(next), _) => url = next,
                (None, Some(delta)) => {
                    debug!(connector = %self.name, kind, pages, "delta round complete");
                    return Ok(delta);
                }
                (None, None) => {
                    return Err(GetError::Failed(SourceError::Upstream {
                        url,
                        status: Some(200),
                        request_id: None,
                        detail: "the page has neither @odata.nextLink nor @odata.deltaLink".into(),
                    }))
                }
            }
        }
    }

    /// Reads both rounds (concurrently when `max_concurrency` allows).
    async fn rounds(
        &self,
        graph: &Graph,
        users_start: &str,
        groups_start: &str,
        progress: &dyn Progress,
    ) -> Result<(UserRound, String, GroupRound, String), GetError> {
        let mut users = UserRound::default();
        let mut groups = GroupRound::default();
        let (users_link, groups_link) = tokio::try_join!(
            self.round(graph, users_start, "users", progress, |items| self
                .absorb_users(&mut users, items)),
            self.round(graph, groups_start, "groups", progress, |items| absorb_groups(
                &mut groups,
                items
            )),
        )?;
        Ok((users, users_link, groups, groups_link))
    }

    /// A full sync: both initial rounds, returned as a complete snapshot.
    pub(crate) async fn full(&self, graph: &Graph, progress: &dyn Progress) -> Result<Batch, SourceError> {
        let select: Vec<&str> = self.user_select.iter().map(String::as_str).collect();
        let users_url = graph.delta_url("users", &select);
        let groups_url = graph.delta_url("groups", &GROUP_SELECT);
        let (users, users_link, groups, groups_link) = self
            .rounds(graph, &users_url, &groups_url, progress)
            .await
            .map_err(|e| match e {
                GetError::Failed(e) => e,
                GetError::DeltaReset { url, status, detail } => SourceError::Upstream {
                    url,
                    status: Some(status),
                    request_id: None,
                    detail: format!("an initial delta round was refused: {detail}"),
                },
            })?;

        let mut tenant = Tenant::default();
        let mut records: HashMap<u32, UserRecord> = HashMap::with_capacity(users.users.len());
        for (id, change) in users.users {
            if let Some((record, passing)) = change {
                let i = tenant.ids.intern(&id);
                if passing {
                    tenant.passing.insert(i);
                }
                records.insert(i, record);
            }
        }
        for (id, change) in groups.groups {
            let Some(delta) = change else { continue };
            let mut node = Node {
                name: delta.name.unwrap_or_else(|| id.clone()),
                ..Node::default()
            };
            for (user, present) in delta.users {
                if present {
                    node.add_user(tenant.ids.intern(&user));
                }
            }
            node.groups = delta
                .groups
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(g, _)| g)
                .collect();
            tenant.groups.insert(id, node);
        }
        // Only existing users count as members: a membership may name an object the users round
        // does not hold (docs/upstream.md, "Paging and delta rounds").
        for node in tenant.groups.values_mut() {
            node.users.retain(|u| records.contains_key(u));
        }

        let synced = tenant.synced(&self.config.groups)?;
        let scope = tenant.in_scope(!self.config.groups.is_empty(), &synced, self.nesting());
        let mut resolved = tenant.resolve(&synced, self.nesting());
        let groups: Vec<GroupRecord> = synced
            .iter()
            .map(|id| GroupRecord {
                external_id: id.clone(),
                display_name: tenant.groups.get(id).map(|n| n.name.clone()).unwrap_or_default(),
                members: in_scope_members(&tenant, &scope, resolved.remove(id).unwrap_or_default()),
            })
            .collect();
        let mut users: Vec<UserRecord> = records
            .into_iter()
            .filter(|(i, _)| scope.contains(i))
            .map(|(_, r)| r)
            .collect();
        users.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        info!(
            connector = %self.name, users = users.len(), groups = groups.len(),
            "Entra full sync fetched"
        );
        let cursor = tenant.to_cursor(&self.fingerprint, &users_link, &groups_link)?;
        Ok(Batch {
            data: Fetched::Snapshot(Snapshot { users, groups }),
            cursor: Some(cursor),
        })
    }

    /// An incremental sync from the stored deltaLinks.
    pub(crate) async fn incremental(
        &self,
        graph: &Graph,
        mut tenant: Tenant,
        users_link: &str,
        groups_link: &str,
        progress: &dyn Progress,
    ) -> Result<Batch, GetError> {
        let (users, users_link, groups, groups_link) =
            self.rounds(graph, users_link, groups_link, progress).await?;
        let mode = self.nesting();
        let scoped = !self.config.groups.is_empty();
        let old_synced = tenant.synced(&self.config.groups)?;
        let old_scope = tenant.in_scope(scoped, &old_synced, mode);
        // The graph before the changes, to tell which groups a departing user was in.
        let old_groups = tenant.clone();

        let mut changes = apply_user_round(&mut tenant, users);
        apply_group_round(&mut tenant, groups, &mut changes);

        let new_synced = tenant.synced(&self.config.groups)?;
        let new_scope = tenant.in_scope(scoped, &new_synced, mode);
        let left: HashSet<u32> = old_scope.difference(&new_scope).copied().collect();
        let entered: Vec<u32> = new_scope.difference(&old_scope).copied().collect();
        for &i in &entered {
            if let Some(groups) = tenant.departed.remove(tenant.ids.name(i)) {
                changes.changed_groups.extend(groups);
            }
        }
        if !left.is_empty() {
            for (u, groups) in old_groups.groups_of(&left, mode, &old_synced) {
                tenant.departed.insert(old_groups.ids.name(u).to_owned(), groups);
            }
        }
        self.read_entering(graph, &tenant, &entered, &mut changes.records)
            .await?;

        let moved: HashSet<u32> = left.iter().chain(entered.iter()).copied().collect();
        let group_changes =
            self.group_changes(&tenant, &changes, &moved, (&old_synced, &new_synced), &new_scope);
        let removed_groups: Vec<String> = old_synced.difference(&new_synced).cloned().collect();

        let mut out_users: Vec<UserRecord> = changes
            .records
            .into_iter()
            .filter(|(i, _)| new_scope.contains(i))
            .map(|(_, r)| r)
            .collect();
        out_users.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        let mut removed_users: Vec<String> = left
            .iter()
            .chain(changes.removed.iter())
            .map(|&i| tenant.ids.name(i).to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        removed_users.retain(|id| !out_users.iter().any(|u| &u.external_id == id));
        info!(
            connector = %self.name,
            users = out_users.len(), removed_users = removed_users.len(),
            groups = group_changes.len(), removed_groups = removed_groups.len(),
            "Entra delta sync fetched"
        );
        let cursor = tenant.to_cursor(&self.fingerprint, &users_link, &groups_link)?;
        Ok(Batch {
            data: Fetched::Changes(ChangeSet {
                users: out_users,
                removed_users,
                groups: group_changes,
                removed_groups,
            }),
            cursor: Some(cursor),
        })
    }

    /// Reads one by one the users who entered the scope without changing themselves (added
    /// to a scoped group), so the change set carries their records.
    async fn read_entering(
        &self,
        graph: &Graph,
        tenant: &Tenant,
        entered: &[u32],
        records: &mut HashMap<u32, UserRecord>,
    ) -> Result<(), GetError> {
        let select: Vec<&str> = self.user_select.iter().map(String::as_str).collect();
        let unread: Vec<u32> = entered
            .iter()
            .copied()
            .filter(|i| !records.contains_key(i))
            .collect();
        for i in unread {
            let id = tenant.ids.name(i).to_owned();
            match graph.get::<Object>(&graph.user_url(&id, &select)).await {
                Ok(object) => {
                    let (record, _) = self.user_record(&id, &object)?;
                    records.insert(i, record);
                }
                Err(GetError::Failed(SourceError::Upstream {
                    status: Some(404), ..
                })) => {
                    debug!(connector = %self.name, user = %id, "a user entering the scope no longer exists");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The group changes of an incremental run: every synced group whose resolved members
    /// may differ (changed ones, those holding a user who entered or left the scope, and,
    /// flattened, every ancestor of those) with its members, and renamed ones by name only.
    fn group_changes(
        &self,
        tenant: &Tenant,
        changes: &Applied,
        moved: &HashSet<u32>,
        (old_synced, new_synced): (&BTreeSet<String>, &BTreeSet<String>),
        new_scope: &HashSet<u32>,
    ) -> Vec<GroupChange> {
        let mode = self.nesting();
        let mut affected = changes.changed_groups.clone();
        if !moved.is_empty() {
            for (id, node) in &tenant.groups {
                if node.users.iter().any(|u| moved.contains(u)) {
                    affected.insert(id.clone());
                }
            }
        }
        if mode == NestedGroups::Flatten {
            affected = tenant.with_ancestors(&affected);
        }
        let emit: BTreeSet<String> = new_synced
            .iter()
            .filter(|g| !old_synced.contains(*g) || affected.contains(*g))
            .cloned()
            .collect();
        let mut resolved = tenant.resolve(&emit, mode);
        let mut group_changes: Vec<GroupChange> = Vec::new();
        for id in new_synced {
            let name = tenant.groups.get(id).map(|n| n.name.clone());
            if emit.contains(id) {
                let members = in_scope_members(tenant, new_scope, resolved.remove(id).unwrap_or_default());
                group_changes.push(GroupChange {
                    external_id: id.clone(),
                    display_name: name,
                    members: MembersChange::Replace(members),
                });
            } else if changes.renamed.contains(id) {
                group_changes.push(GroupChange {
                    external_id: id.clone(),
                    display_name: name,
                    members: MembersChange::Unchanged,
                });
            }
        }
        group_changes
    }
}

/// What the delta rounds changed in the stored graph.
#[derive(Debug, Default)]
struct Applied {
    /// Users the users round returned, by interned id.
    records: HashMap<u32, UserRecord>,
    /// Users the users round removed.
    removed: HashSet<u32>,
    /// Groups whose own members changed.
    changed_groups: BTreeSet<String>,
    /// Groups whose name changed.
    renamed: BTreeSet<String>,
}

/// Applies the users round. Removed users also leave every group, whether or not the groups
/// round reports it: users report group rounds that miss such removals (Microsoft Q&A
/// question 1023346; docs/upstream.md, "Paging and delta rounds").
fn apply_user_round(tenant: &mut Tenant, users: UserRound) -> Applied {
    let mut applied = Applied::default();
    for (id, change) in users.users {
        let i = tenant.ids.intern(&id);
        match change {
            None => {
                tenant.passing.remove(&i);
                applied.records.remove(&i);
                applied.removed.insert(i);
            }
            Some((record, passing)) => {
                if passing {
                    tenant.passing.insert(i);
                } else {
                    tenant.passing.remove(&i);
                }
                applied.removed.remove(&i);
                applied.records.insert(i, record);
            }
        }
    }
    if !applied.removed.is_empty() {
        for (id, node) in tenant.groups.iter_mut() {
            let before = node.users.len();
            node.users.retain(|u| !applied.removed.contains(u));
            if node.users.len() != before {
                applied.changed_groups.insert(id.clone());
            }
        }
    }
    applied
}

/// Applies the groups round after the users round.
fn apply_group_round(tenant: &mut Tenant, groups: GroupRound, applied: &mut Applied) {
    for (id, change) in groups.groups {
        let Some(delta) = change else {
            if tenant.groups.remove(&id).is_some() {
                for (parent, node) in tenant.groups.iter_mut() {
                    if node.groups.remove(&id) {
                        applied.changed_groups.insert(parent.clone());
                    }
                }
            }
            applied.changed_groups.remove(&id);
            continue;
        };
        let node = tenant.groups.entry(id.clone()).or_insert_with(|| {
            applied.changed_groups.insert(id.clone());
            Node {
                name: id.clone(),
                ..Node::default()
            }
        });
        if let Some(name) = delta.name.filter(|n| *n != node.name) {
            node.name = name;
            applied.renamed.insert(id.clone());
        }
        let mut changed = false;
        for (user, present) in delta.users {
            let u = tenant.ids.intern(&user);
            changed |= if present && !applied.removed.contains(&u) {
                node.add_user(u)
            } else {
                node.remove_user(u)
            };
        }
        for (group, present) in delta.groups {
            changed |= if present {
                node.groups.insert(group)
            } else {
                node.groups.remove(&group)
            };
        }
        if changed {
            applied.changed_groups.insert(id);
        }
    }
}

/// Resolved members limited to users in scope.
fn in_scope_members(tenant: &Tenant, scope: &HashSet<u32>, members: Vec<String>) -> Vec<String> {
    members
        .into_iter()
        .filter(|m| tenant.ids.get(m).is_some_and(|i| scope.contains(&i)))
        .collect()
}

fn absorb_groups(round: &mut GroupRound, items: Vec<Object>) -> Result<(), SourceError> {
    for item in items {
        let id = object_id(&item, "groups")?;
        if item.contains_key("@removed") {
            round.groups.insert(id, None);
            continue;
        }
        let delta = round
            .groups
            .entry(id)
            .or_insert(None)
            .get_or_insert_with(GroupDelta::default);
        if let Some(name) = item.get("displayName").and_then(Json::as_str) {
            delta.name = Some(name.to_owned());
        }
        let Some(members) = item.get("members@delta") else {
            continue;
        };
        let Some(members) = members.as_array() else {
            return Err(SourceError::InvalidData {
                location: "groups delta".into(),
                detail: "members@delta is not an array".into(),
            });
        };
        for member in members {
            let Some(member_id) = member.get("id").and_then(Json::as_str) else {
                continue;
            };
            let present = member.get("@removed").is_none();
            match member.get("@odata.type").and_then(Json::as_str) {
                Some("#microsoft.graph.user") => {
                    delta.users.insert(member_id.to_owned(), present);
                }
                Some("#microsoft.graph.group") => {
                    delta.groups.insert(member_id.to_owned(), present);
                }
                // Devices, contacts and service principals are not people.
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objects(value: Json) -> Vec<Object> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn repeated_groups_merge_and_removals_win_in_order() {
        let mut round = GroupRound::default();
        absorb_groups(
            &mut round,
            objects(json!([
                {"id": "g1", "displayName": "One", "members@delta": [
                    {"@odata.type": "#microsoft.graph.user", "id": "u1"},
                    {"@odata.type": "#microsoft.graph.device", "id": "d1"}]},
                {"id": "g2", "@removed": {"reason": "deleted"}},
            ])),
        )
        .unwrap();
        absorb_groups(
            &mut round,
            objects(json!([
                {"id": "g1", "displayName": "One", "members@delta": [
                    {"@odata.type": "#microsoft.graph.user", "id": "u2"},
                    {"@odata.type": "#microsoft.graph.group", "id": "g3"},
                    {"@odata.type": "#microsoft.graph.user", "id": "u1", "@removed": {"reason": "deleted"}}]},
            ])),
        )
        .unwrap();
        let g1 = round.groups["g1"].as_ref().unwrap();
        assert_eq!(g1.name.as_deref(), Some("One"));
        assert_eq!(g1.users.get("u1"), Some(&false));
        assert_eq!(g1.users.get("u2"), Some(&true));
        assert_eq!(g1.groups.get("g3"), Some(&true));
        assert!(round.groups["g2"].is_none());
        assert!(absorb_groups(&mut round, objects(json!([{"displayName": "no id"}]))).is_err());
    }
}
