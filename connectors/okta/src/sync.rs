//! Full and incremental fetches and what they become: a complete snapshot, or a change set.
//! The queries follow Okta's Users and Groups APIs ("List all users", "List all groups",
//! "List all member users" at <https://developer.okta.com/docs/api/openapi/okta-management/>);
//! `docs/upstream.md` collects the facts relied on.
//!
//! - Full: every user through a `filter` (the plain list hides DEPROVISIONED users), every
//!   group, and the members of each synced group, each list followed to its last page.
//! - Incremental: users with `lastUpdated` after the last run (minus an overlap), groups whose
//!   `lastUpdated` or `lastMembershipUpdated` moved, and the members of groups whose
//!   membership moved, restated whole. Hard deletions are invisible to these queries; the
//!   periodic full reconcile finds them.
//!
//! Nothing is returned until every list has been read to its end, so a failed run leaves the
//! stored cursor where it was.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use idsync_source::mapping::Purpose;
use idsync_source::{
    Batch, ChangeSet, Fetched, GroupChange, GroupRecord, MembersChange, Progress, Snapshot, SourceError,
    UserRecord,
};
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use tracing::{info, warn};

use crate::client::Client;
use crate::state::{Group, Org, Resumed};
use crate::OktaSource;

type Object = Map<String, Json>;

/// A user as Okta's Users API lists it; only what the connector reads.
#[derive(Debug, Deserialize)]
pub(crate) struct WireUser {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    profile: Option<Object>,
}

/// A group as Okta's Groups API lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireGroup {
    id: String,
    #[serde(rename = "type", default)]
    kind: String,
    last_membership_updated: Option<String>,
    #[serde(default)]
    profile: Option<Object>,
}

impl WireGroup {
    fn name(&self) -> String {
        self.profile
            .as_ref()
            .and_then(|p| p.get("name"))
            .and_then(Json::as_str)
            .map_or_else(|| self.id.clone(), str::to_owned)
    }
}

/// Whether a user's status keeps the account enabled: deactivated (`DEPROVISIONED`) and
/// `SUSPENDED` users are disabled, every other `UserStatus` of Okta's Users API keeps the
/// account (`docs/upstream.md`, "Users and groups").
fn enabled(status: &str) -> bool {
    !matches!(status, "DEPROVISIONED" | "SUSPENDED")
}

/// The filter time format Okta documents: `2013-06-01T00:00:00.000Z`.
fn okta_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl OktaSource {
    fn url(&self, path: &str, params: &[(&str, &str)]) -> String {
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        format!("{}{path}?{}", self.config.org(), query.join("&"))
    }

    /// Users changed after `from`; every user for the Unix epoch. A `filter` is what makes
    /// Okta include DEPROVISIONED users.
    fn users_url(&self, from: &DateTime<Utc>) -> String {
        let limit = self.config.page_size.to_string();
        let filter = format!("lastUpdated gt \"{}\"", okta_time(from));
        self.url("/api/v1/users", &[("filter", &filter), ("limit", &limit)])
    }

    fn groups_url(&self, from: Option<&DateTime<Utc>>) -> String {
        let limit = self.config.page_size.to_string();
        match from {
            None => self.url("/api/v1/groups", &[("limit", &limit)]),
            Some(from) => {
                let t = okta_time(from);
                let filter = format!("lastUpdated gt \"{t}\" or lastMembershipUpdated gt \"{t}\"");
                self.url("/api/v1/groups", &[("filter", &filter), ("limit", &limit)])
            }
        }
    }

    fn members_url(&self, group: &str) -> String {
        let limit = self.config.page_size.to_string();
        self.url(
            &format!("/api/v1/groups/{}/users", encode(group)),
            &[("limit", &limit)],
        )
    }

    /// Reads a list from `url` to its last page, handing each page to `absorb`.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        client: &Client,
        url: String,
        kind: &str,
        progress: &dyn Progress,
        mut absorb: impl FnMut(Vec<T>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let page = client.get::<Vec<T>>(&url).await?;
            progress.fetched(kind, page.items.len() as u64);
            absorb(page.items)?;
            next = page.next.map(|link| self.next_url(&url, &link)).transpose()?;
        }
        Ok(())
    }

    /// A `rel="next"` target, resolved against the page's URL. It must stay on the org:
    /// the request carries the org's credentials.
    fn next_url(&self, page: &str, link: &str) -> Result<String, SourceError> {
        let invalid = |detail: String| SourceError::Upstream {
            url: page.to_owned(),
            status: Some(200),
            request_id: None,
            detail,
        };
        let next = url::Url::parse(page)
            .and_then(|base| base.join(link))
            .map_err(|e| invalid(format!("the next link {link:?} is not a URL: {e}")))?;
        let org =
            url::Url::parse(self.config.org()).map_err(|e| SourceError::Config(format!("org_url: {e}")))?;
        if next.origin() != org.origin() {
            return Err(invalid(format!(
                "the next link {next} leaves the org {}",
                self.config.org()
            )));
        }
        Ok(next.into())
    }

    /// Provision on demand: `GET /api/v1/users/{id or login}`, mapped, with the status and
    /// scope decisions spelled out. Group scope is reported, not evaluated.
    pub(crate) async fn lookup_user(
        &self,
        client: &Client,
        key: &str,
    ) -> Result<Option<idsync_source::UserLookup>, SourceError> {
        let url = format!("{}/api/v1/users/{}", self.config.org(), urlencode(key.trim()));
        let user: WireUser = match client.get(&url).await {
            Ok(page) => page.items,
            Err(SourceError::Upstream {
                status: Some(404), ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (record, in_scope) = self.user_record(&user)?;
        let empty = Object::new();
        let profile = user.profile.as_ref().unwrap_or(&empty);
        let mut steps = vec![
            format!(
                "Okta returned user {} ({}), status {}",
                user.id, record.upn, user.status
            ),
            format!(
                "scoping filters: {}",
                self.config.scoping_filters.explain(profile)
            ),
        ];
        if user.status == "STAGED" && !self.config.sync_staged_users {
            steps.push("STAGED users are not synced (sync_staged_users = false)".into());
        }
        if !self.config.groups.is_empty() {
            steps.push(format!(
                "group scope ({}) is checked at the next sync, not on demand",
                self.config.groups.join(", ")
            ));
        }
        Ok(Some(idsync_source::UserLookup {
            record,
            in_scope,
            steps,
        }))
    }

    /// A user as a record, and whether it passes the scoping filters and the STAGED switch.
    fn user_record(&self, user: &WireUser) -> Result<(UserRecord, bool), SourceError> {
        let empty = Object::new();
        let profile = user.profile.as_ref().unwrap_or(&empty);
        let invalid = |detail: String| SourceError::InvalidData {
            location: format!("user {}", user.id),
            detail,
        };
        if user.id.is_empty() {
            return Err(invalid("a user without an id".into()));
        }
        let values = self
            .mapping()?
            .evaluate(profile, Purpose::Create)
            .map_err(|e| invalid(e.to_string()))?;
        let mut record = UserRecord {
            attributes: None,
            external_id: user.id.clone(),
            enabled: enabled(&user.status),
            ..UserRecord::default()
        };
        record.set_mapped(values);
        if record.upn.trim().is_empty() {
            return Err(invalid("the upn mapping gave no value".into()));
        }
        let staged_out = user.status == "STAGED" && !self.config.sync_staged_users;
        Ok((
            record,
            !staged_out && self.config.scoping_filters.matches(profile),
        ))
    }

    /// Whether a group is synced: OKTA_GROUP and APP_GROUP unless `groups` lists others;
    /// BUILT_IN only when listed.
    fn synced(&self, group: &WireGroup) -> bool {
        let listed = || {
            let name = group.name();
            self.config
                .groups
                .iter()
                .any(|g| *g == group.id || g.eq_ignore_ascii_case(&name))
        };
        match group.kind.as_str() {
            "OKTA_GROUP" | "APP_GROUP" => self.config.groups.is_empty() || listed(),
            _ => !self.config.groups.is_empty() && listed(),
        }
    }

    /// The members of a group, with each member's record (members arrive as full users);
    /// `None` when the group was deleted after it was listed (404).
    async fn members(
        &self,
        client: &Client,
        org: &mut Org,
        group: &str,
        progress: &dyn Progress,
        records: &mut HashMap<u32, (UserRecord, bool)>,
    ) -> Result<Option<Vec<u32>>, SourceError> {
        let mut users = Vec::new();
        let listed = self
            .list(
                client,
                self.members_url(group),
                "members",
                progress,
                |page: Vec<WireUser>| {
                    for user in page {
                        let i = org.ids.intern(&user.id);
                        if let std::collections::hash_map::Entry::Vacant(e) = records.entry(i) {
                            e.insert(self.user_record(&user)?);
                        }
                        users.push(i);
                    }
                    Ok(())
                },
            )
            .await;
        match listed {
            Ok(()) => {}
            Err(SourceError::Upstream {
                status: Some(404),
                url,
                ..
            }) if users.is_empty() => {
                info!(
                    connector = %self.name, group, url = %url,
                    "a group was deleted while the org was read"
                );
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        users.sort_unstable();
        users.dedup();
        Ok(Some(users))
    }

    /// Every user `url` lists, their ids interned in `org`: index -> what `user_record` makes.
    async fn read_users(
        &self,
        client: &Client,
        url: String,
        org: &mut Org,
        progress: &dyn Progress,
    ) -> Result<HashMap<u32, (UserRecord, bool)>, SourceError> {
        let mut records = HashMap::new();
        self.list(client, url, "users", progress, |page: Vec<WireUser>| {
            for user in page {
                let i = org.ids.intern(&user.id);
                records.insert(i, self.user_record(&user)?);
            }
            Ok(())
        })
        .await?;
        Ok(records)
    }

    /// A full sync, returned as a complete snapshot.
    pub(crate) async fn full(
        &self,
        client: &Client,
        started: DateTime<Utc>,
        progress: &dyn Progress,
    ) -> Result<Batch, SourceError> {
        let mut org = Org::default();
        let mut records = self
            .read_users(client, self.users_url(&DateTime::UNIX_EPOCH), &mut org, progress)
            .await?;
        let mut all_groups: Vec<WireGroup> = Vec::new();
        self.list(client, self.groups_url(None), "groups", progress, |page| {
            all_groups.extend(page);
            Ok(())
        })
        .await?;
        for entry in &self.config.groups {
            let known = all_groups
                .iter()
                .any(|g| g.id == *entry || g.name().eq_ignore_ascii_case(entry));
            if !known {
                return Err(SourceError::Config(format!(
                    "groups: no group in the org has the id or name {entry:?}"
                )));
            }
        }
        for group in all_groups.iter().filter(|g| self.synced(g)) {
            let Some(users) = self
                .members(client, &mut org, &group.id, progress, &mut records)
                .await?
            else {
                continue;
            };
            org.groups.insert(
                group.id.clone(),
                Group {
                    name: group.name(),
                    users,
                },
            );
        }
        for (&i, (_, passing)) in &records {
            if !passing {
                org.out.insert(i);
            }
        }
        let scoped = !self.config.groups.is_empty();
        let mut users: Vec<UserRecord> = records
            .into_iter()
            .filter(|(i, _)| org.in_scope(*i, scoped))
            .map(|(_, (r, _))| r)
            .collect();
        users.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        let groups: Vec<GroupRecord> = org
            .groups
            .iter()
            .map(|(id, g)| GroupRecord {
                external_id: id.clone(),
                display_name: g.name.clone(),
                members: g
                    .users
                    .iter()
                    .filter(|&&u| !org.out.contains(&u))
                    .map(|&u| org.ids.name(u).to_owned())
                    .collect(),
            })
            .collect();
        info!(
            connector = %self.name, users = users.len(), groups = groups.len(),
            "Okta full sync fetched"
        );
        let started = client.run_start(started);
        let cursor = org.to_cursor(&self.fingerprint, &started, &started)?;
        Ok(Batch {
            data: Fetched::Snapshot(Snapshot { users, groups }),
            cursor: Some(cursor),
        })
    }

    /// An incremental sync: what changed since the last run.
    pub(crate) async fn incremental(
        &self,
        client: &Client,
        resumed: Resumed,
        started: DateTime<Utc>,
        progress: &dyn Progress,
    ) -> Result<Batch, SourceError> {
        let Resumed {
            mut org,
            since,
            last_full,
        } = resumed;
        let from = i64::try_from(self.config.overlap_secs)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .and_then(|overlap| since.checked_sub_signed(overlap))
            .unwrap_or(DateTime::UNIX_EPOCH);

        // Changed users, then changed groups, then the members of groups whose membership
        // moved; the state is updated only once everything has been read.
        let records = self
            .read_users(client, self.users_url(&from), &mut org, progress)
            .await?;
        let changed_users: HashSet<u32> = records.keys().copied().collect();
        let mut changed_groups: Vec<WireGroup> = Vec::new();
        self.list(client, self.groups_url(Some(&from)), "groups", progress, |page| {
            changed_groups.extend(page);
            Ok(())
        })
        .await?;

        let old = org.clone();
        let mut delta = Delta {
            affected: changed_users.clone(),
            records,
            ..Delta::default()
        };
        for group in &changed_groups {
            self.apply_group(client, &mut org, group, &from, progress, &mut delta)
                .await?;
        }
        for (&i, (_, passing)) in &delta.records {
            if *passing {
                org.out.remove(&i);
            } else {
                org.out.insert(i);
            }
        }
        let (mut users, mut removed_users) = self.scope_changes(&old, &org, &changed_users, &mut delta);
        let groups = group_changes(&org, &delta);
        let mut removed_groups = delta.removed_groups;
        users.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        removed_users.sort();
        removed_groups.sort();
        info!(
            connector = %self.name,
            users = users.len(), removed_users = removed_users.len(),
            groups = groups.len(), removed_groups = removed_groups.len(),
            "Okta incremental sync fetched"
        );
        let started = client.run_start(started);
        let cursor = org.to_cursor(&self.fingerprint, &started, &last_full)?;
        Ok(Batch {
            data: Fetched::Changes(ChangeSet {
                users,
                removed_users,
                groups,
                removed_groups,
            }),
            cursor: Some(cursor),
        })
    }
}

impl OktaSource {
    /// Applies one group the incremental query returned: dropped when it left the synced
    /// set or no longer exists, its members re-listed when its membership moved since
    /// `from`, else at most renamed.
    async fn apply_group(
        &self,
        client: &Client,
        org: &mut Org,
        group: &WireGroup,
        from: &DateTime<Utc>,
        progress: &dyn Progress,
        delta: &mut Delta,
    ) -> Result<(), SourceError> {
        let was = org.groups.contains_key(&group.id);
        let forget = |org: &mut Org, delta: &mut Delta| {
            if let Some(gone) = org.groups.remove(&group.id) {
                delta.affected.extend(gone.users);
                delta.removed_groups.push(group.id.clone());
            }
        };
        if !self.synced(group) {
            forget(org, delta);
            return Ok(());
        }
        let name = group.name();
        let moved = !was
            || group
                .last_membership_updated
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|t| t.with_timezone(&Utc) > *from);
        if !moved {
            if let Some(g) = org.groups.get_mut(&group.id) {
                if g.name != name {
                    g.name = name;
                    delta.renamed.insert(group.id.clone());
                }
            }
            return Ok(());
        }
        let Some(users) = self
            .members(client, org, &group.id, progress, &mut delta.records)
            .await?
        else {
            forget(org, delta);
            return Ok(());
        };
        let before: HashSet<u32> = org
            .groups
            .get(&group.id)
            .map(|g| g.users.iter().copied().collect())
            .unwrap_or_default();
        let after: HashSet<u32> = users.iter().copied().collect();
        delta
            .affected
            .extend(before.symmetric_difference(&after).copied());
        org.groups.insert(group.id.clone(), Group { name, users });
        delta.restate.insert(group.id.clone());
        Ok(())
    }

    /// Who entered or left the scope among the affected users (the records to send, the ids
    /// to remove), adding the groups whose in-scope members that changes to `restate`.
    fn scope_changes(
        &self,
        old: &Org,
        org: &Org,
        changed_users: &HashSet<u32>,
        delta: &mut Delta,
    ) -> (Vec<UserRecord>, Vec<String>) {
        let scoped = !self.config.groups.is_empty();
        let known_before = old.ids.len();
        let mut users: Vec<UserRecord> = Vec::new();
        let mut removed_users: Vec<String> = Vec::new();
        for &u in &delta.affected {
            let before = (u as usize) < known_before && old.in_scope(u, scoped);
            let after = org.in_scope(u, scoped);
            if after {
                // Members re-listed with a group are restated only when they enter the scope.
                if changed_users.contains(&u) || !before {
                    match delta.records.get(&u) {
                        Some((record, _)) => users.push(record.clone()),
                        None => warn!(
                            connector = %self.name, user = %org.ids.name(u),
                            "a user entered the scope without being read; the next full sync adds them"
                        ),
                    }
                }
            } else if before {
                removed_users.push(org.ids.name(u).to_owned());
            }
            if before != after {
                for (id, g) in old.groups.iter().chain(org.groups.iter()) {
                    if g.contains(u) {
                        delta.restate.insert(id.clone());
                    }
                }
            }
        }
        (users, removed_users)
    }
}

/// What an incremental run found besides the changed users.
#[derive(Debug, Default)]
struct Delta {
    /// The users read (changed ones and re-listed members), with whether they pass the filters.
    records: HashMap<u32, (UserRecord, bool)>,
    /// Users whose scope may have changed: changed ones and members that came or went.
    affected: HashSet<u32>,
    /// Groups to restate with their members.
    restate: BTreeSet<String>,
    /// Groups only renamed.
    renamed: BTreeSet<String>,
    /// Groups that left the synced set or no longer exist.
    removed_groups: Vec<String>,
}

/// The group changes: restated groups with their in-scope members, renamed ones by name.
fn group_changes(org: &Org, delta: &Delta) -> Vec<GroupChange> {
    let mut groups: Vec<GroupChange> = Vec::new();
    for (id, g) in &org.groups {
        if delta.restate.contains(id) {
            let members = g
                .users
                .iter()
                .filter(|&&u| !org.out.contains(&u))
                .map(|&u| org.ids.name(u).to_owned())
                .collect();
            groups.push(GroupChange {
                external_id: id.clone(),
                display_name: Some(g.name.clone()),
                members: MembersChange::Replace(members),
            });
        } else if delta.renamed.contains(id) {
            groups.push(GroupChange {
                external_id: id.clone(),
                display_name: Some(g.name.clone()),
                members: MembersChange::Unchanged,
            });
        }
    }
    groups
}

/// Percent-encodes a path segment (a login such as `ann@example.com` is a valid key).
fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        for s in [
            "ACTIVE",
            "PROVISIONED",
            "RECOVERY",
            "PASSWORD_EXPIRED",
            "LOCKED_OUT",
            "STAGED",
        ] {
            assert!(enabled(s), "{s}");
        }
        for s in ["DEPROVISIONED", "SUSPENDED"] {
            assert!(!enabled(s), "{s}");
        }
    }

    #[test]
    fn filter_values_are_percent_encoded() {
        let t = DateTime::parse_from_rfc3339("2013-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(okta_time(&t), "2013-06-01T00:00:00.000Z");
        assert_eq!(
            encode(&format!("lastUpdated gt \"{}\"", okta_time(&t))),
            "lastUpdated%20gt%20%222013-06-01T00%3A00%3A00.000Z%22"
        );
    }
}
