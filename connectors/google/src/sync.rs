//! One run: every user, every group and the members of the synced groups, each list read to
//! its last page, returned as one complete snapshot.
//!
//! The Directory API has no delta query, so every run is a full snapshot (the README says
//! why and what it costs). Nothing is returned until every page of every list has arrived;
//! any failure fails the run, so a partial answer can never read as "these people left".

use std::collections::{HashMap, HashSet};

use futures_util::stream::{self, StreamExt};
use idsync_source::mapping::Purpose;
use idsync_source::{
    resolve_nesting, Batch, Fetched, NestedGroup, NestedGroups, Progress, Snapshot, SourceError, UserRecord,
};
use tracing::{info, warn};

use crate::client::Client;
use crate::wire::{
    self, GroupsPage, MembersPage, Object, Page, WireGroup, WireMember, GROUPS_PAGE, USERS_PAGE,
};
use crate::GoogleSource;

/// One group's members, or `None` when the group is gone.
type Listed = Result<Option<Vec<WireMember>>, SourceError>;

/// What the members of the groups read say, before nesting is resolved.
#[derive(Default)]
struct Memberships {
    groups: Vec<NestedGroup>,
    /// EXTERNAL members (outside the customer), skipped.
    external: u64,
}

impl GoogleSource {
    /// `{directory}/admin/directory/v1/{path}` with the query pairs, encoded.
    pub(crate) fn url(&self, path: &str, params: &[(&str, String)]) -> Result<String, SourceError> {
        let base = format!("{}/admin/directory/v1/{path}", self.config.directory());
        let mut url =
            url::Url::parse(&base).map_err(|e| SourceError::Config(format!("directory_url: {e}")))?;
        if !params.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url.into())
    }

    /// `customer=` (or `domain=`), as users.list and groups.list require one of them.
    fn owner(&self) -> (&'static str, String) {
        match &self.config.domain {
            Some(domain) => ("domain", domain.clone()),
            None => ("customer", self.config.customer_id.clone()),
        }
    }

    pub(crate) fn users_url(&self, max_results: u32) -> Result<String, SourceError> {
        let mut params = vec![self.owner(), ("maxResults", max_results.to_string())];
        params.extend(self.selection.projection());
        params.push(("showDeleted", "false".to_owned()));
        params.push((
            "fields",
            format!("nextPageToken,users({})", self.selection.fields),
        ));
        self.url("users", &params)
    }

    fn groups_url(&self) -> Result<String, SourceError> {
        let params = [
            self.owner(),
            ("maxResults", GROUPS_PAGE.to_string()),
            ("fields", "nextPageToken,groups(id,email,name)".to_owned()),
        ];
        self.url("groups", &params)
    }

    fn members_url(&self, group: &str) -> Result<String, SourceError> {
        let params = [
            ("maxResults", GROUPS_PAGE.to_string()),
            ("fields", "nextPageToken,members(id,email,type)".to_owned()),
        ];
        self.url(&format!("groups/{}/members", encode_segment(group)), &params)
    }

    /// Reads a list from `url` to its last page, handing each page's items to `absorb`.
    async fn list<P: Page>(
        &self,
        client: &Client,
        url: &str,
        kind: &str,
        progress: &dyn Progress,
        mut absorb: impl FnMut(Vec<P::Item>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let mut token: Option<String> = None;
        loop {
            let page_url = match &token {
                None => url.to_owned(),
                Some(t) => {
                    let mut u = url::Url::parse(url).map_err(|e| SourceError::Config(e.to_string()))?;
                    u.query_pairs_mut().append_pair("pageToken", t);
                    u.into()
                }
            };
            let (items, next) = client.get::<P>(&page_url).await?.split();
            progress.fetched(kind, items.len() as u64);
            absorb(items)?;
            match next.filter(|t| !t.is_empty()) {
                Some(next) if token.as_deref() == Some(next.as_str()) => {
                    return Err(SourceError::Upstream {
                        url: page_url,
                        status: Some(200),
                        request_id: None,
                        detail: "the nextPageToken repeats the page's own token".to_owned(),
                    })
                }
                Some(next) => token = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// A user resource as a record, and whether it passes the scoping filters.
    pub(crate) fn user_record(&self, mut user: Object) -> Result<(UserRecord, bool, Object), SourceError> {
        let id = user
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let location = format!("user {id}");
        let invalid = |detail: String| SourceError::InvalidData {
            location: location.clone(),
            detail,
        };
        if id.is_empty() {
            return Err(invalid("a user without an id".into()));
        }
        wire::derive(&mut user);
        let values = self
            .mapping()?
            .evaluate(&user, Purpose::Create)
            .map_err(|e| invalid(e.to_string()))?;
        let mut record = UserRecord {
            attributes: None,
            external_id: id,
            enabled: wire::enabled(&user),
            ..UserRecord::default()
        };
        record.set_mapped(values);
        if record.upn.trim().is_empty() {
            return Err(invalid("the upn mapping gave no value".into()));
        }
        let passing = self.config.scoping_filters.matches(&user);
        Ok((record, passing, user))
    }

    /// The members of one group; `None` when the group was deleted after it was listed.
    async fn members(
        &self,
        client: &Client,
        group: &str,
        progress: &dyn Progress,
    ) -> Result<Option<Vec<WireMember>>, SourceError> {
        let mut members = Vec::new();
        let url = self.members_url(group)?;
        let listed = self
            .list::<MembersPage>(client, &url, "members", progress, |page| {
                members.extend(page);
                Ok(())
            })
            .await;
        match listed {
            Ok(()) => Ok(Some(members)),
            Err(SourceError::Upstream {
                status: Some(404), ..
            }) if members.is_empty() => {
                info!(connector = %self.name, group, "a group was deleted while the directory was read");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the members of `roots` and, when nesting is flattened, of every group nested in
    /// them (each group once, so cycles end), a few lists at a time.
    async fn memberships(
        &self,
        client: &Client,
        roots: &[&WireGroup],
        known: &HashMap<&str, &WireGroup>,
        all_users: &[String],
        progress: &dyn Progress,
    ) -> Result<Memberships, SourceError> {
        let mut out = Memberships::default();
        let mut seen: HashSet<String> = roots.iter().map(|g| g.id.clone()).collect();
        let mut wave: Vec<String> = roots.iter().map(|g| g.id.clone()).collect();
        while !wave.is_empty() {
            let results: Vec<(String, Listed)> = stream::iter(wave)
                .map(|id| async move {
                    let members = self.members(client, &id, progress).await;
                    (id, members)
                })
                .buffer_unordered(self.config.parallel_requests)
                .collect()
                .await;
            let mut next = Vec::new();
            for (id, members) in results {
                let Some(members) = members? else { continue };
                let mut group = NestedGroup {
                    display_name: known
                        .get(id.as_str())
                        .map(|g| g.display_name())
                        .unwrap_or_default(),
                    external_id: id,
                    user_members: Vec::new(),
                    group_members: Vec::new(),
                };
                for m in members {
                    match m.kind.as_str() {
                        "USER" if !m.id.is_empty() => group.user_members.push(m.id),
                        "GROUP" if !m.id.is_empty() => group.group_members.push(m.id),
                        "CUSTOMER" => group.user_members.extend(all_users.iter().cloned()),
                        "EXTERNAL" => out.external += 1,
                        other => warn!(
                            connector = %self.name, group = %group.external_id, kind = %other,
                            "a member of an unknown type is skipped"
                        ),
                    }
                }
                if self.config.nested_groups == NestedGroups::Flatten {
                    for child in &group.group_members {
                        if known.contains_key(child.as_str()) && seen.insert(child.clone()) {
                            next.push(child.clone());
                        }
                    }
                }
                out.groups.push(group);
            }
            wave = next;
        }
        Ok(out)
    }

    /// Every user, as records with their scoping verdict, in the order listed.
    async fn users(
        &self,
        client: &Client,
        progress: &dyn Progress,
    ) -> Result<Vec<(UserRecord, bool)>, SourceError> {
        let mut users = Vec::new();
        let url = self.users_url(USERS_PAGE)?;
        self.list::<wire::UsersPage>(client, &url, "users", progress, |page| {
            for user in page {
                let (record, passing, _) = self.user_record(user)?;
                users.push((record, passing));
            }
            Ok(())
        })
        .await?;
        Ok(users)
    }

    /// A full run, returned as a complete snapshot.
    pub(crate) async fn full(&self, client: &Client, progress: &dyn Progress) -> Result<Batch, SourceError> {
        let users = self.users(client, progress).await?;
        if users.is_empty() {
            warn!(connector = %self.name, "Google listed no users at all; the deletion guard judges the run");
        }
        let mut all_groups: Vec<WireGroup> = Vec::new();
        let url = self.groups_url()?;
        self.list::<GroupsPage>(client, &url, "groups", progress, |page| {
            all_groups.extend(page);
            Ok(())
        })
        .await?;
        let listed = &self.config.groups;
        for entry in listed {
            if !all_groups.iter().any(|g| g.is(entry)) {
                return Err(SourceError::Config(format!(
                    "groups: no group of the customer has the email or id {entry:?}"
                )));
            }
        }
        let roots: Vec<&WireGroup> = all_groups
            .iter()
            .filter(|g| listed.is_empty() || listed.iter().any(|e| g.is(e)))
            .collect();
        let known: HashMap<&str, &WireGroup> = all_groups.iter().map(|g| (g.id.as_str(), g)).collect();
        let ids: Vec<String> = users.iter().map(|(u, _)| u.external_id.clone()).collect();
        let memberships = self.memberships(client, &roots, &known, &ids, progress).await?;
        self.external_skipped
            .store(memberships.external, std::sync::atomic::Ordering::Relaxed);
        let root_ids: HashSet<&str> = roots.iter().map(|g| g.id.as_str()).collect();
        let mut groups: Vec<_> = resolve_nesting(memberships.groups, self.config.nested_groups)
            .into_iter()
            .filter(|g| root_ids.contains(g.external_id.as_str()))
            .collect();
        let grouped: HashSet<&str> = groups
            .iter()
            .flat_map(|g| g.members.iter().map(String::as_str))
            .collect();
        let in_scope: HashSet<String> = users
            .iter()
            .filter(|(u, passing)| {
                *passing && (listed.is_empty() || grouped.contains(u.external_id.as_str()))
            })
            .map(|(u, _)| u.external_id.clone())
            .collect();
        for group in &mut groups {
            group.members.retain(|m| in_scope.contains(m));
        }
        let mut users: Vec<UserRecord> = users
            .into_iter()
            .filter(|(u, _)| in_scope.contains(&u.external_id))
            .map(|(u, _)| u)
            .collect();
        users.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        groups.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        info!(
            connector = %self.name, users = users.len(), groups = groups.len(),
            external_members_skipped = memberships.external, "Google directory fetched"
        );
        Ok(Batch {
            data: Fetched::Snapshot(Snapshot { users, groups }),
            cursor: None,
        })
    }
}

/// Percent-encodes a path segment (a group key may be an email).
pub(crate) fn encode_segment(segment: &str) -> String {
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
