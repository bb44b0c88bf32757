//! The `file` connector: a directory export (users and groups with members) in one JSON file,
//! read as a complete snapshot on every run.
//!
//! It serves HR exports and the demo. The format is idsync's own, documented in
//! `config/README.md`; group members may name users or other groups, and nesting is resolved
//! like any other source's.

use std::collections::HashSet;
use std::path::PathBuf;

use async_trait::async_trait;
use idsync_source::{
    resolve_nesting, Batch, FetchRequest, Fetched, NestedGroup, NestedGroups, Progress, Snapshot, Source,
    SourceError, UserRecord,
};
use serde::Deserialize;

/// Keys of a `kind = "file"` connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The JSON export; a relative path is taken from the configuration file's folder.
    pub path: PathBuf,
    /// `flatten` (default) gives each group its transitive user members; `direct` only the
    /// users listed in the group itself.
    #[serde(default)]
    pub nested_groups: NestedGroups,
}

/// The export format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Export {
    #[serde(default)]
    users: Vec<ExportUser>,
    #[serde(default)]
    groups: Vec<ExportGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportUser {
    id: String,
    upn: String,
    email: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    job_title: Option<String>,
    department: Option<String>,
    preferred_language: Option<String>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportGroup {
    id: String,
    display_name: String,
    /// Ids of users or of other groups.
    #[serde(default)]
    members: Vec<String>,
}

/// Reads one export file.
#[derive(Debug)]
pub struct FileSource {
    name: String,
    config: FileConfig,
}

impl FileSource {
    /// `config.path` must already be resolved against the configuration file's folder.
    pub fn new(name: impl Into<String>, config: FileConfig) -> Self {
        FileSource {
            name: name.into(),
            config,
        }
    }
}

#[async_trait]
impl Source for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch_user(&self, key: &str) -> Result<Option<idsync_source::UserLookup>, SourceError> {
        let batch = self
            .fetch(&FetchRequest::default(), &idsync_source::NoProgress)
            .await?;
        let Fetched::Snapshot(snapshot) = batch.data else {
            return Ok(None);
        };
        let wanted = key.trim().to_lowercase();
        let found = snapshot
            .users
            .into_iter()
            .find(|u| u.external_id == key.trim() || u.upn.trim().to_lowercase() == wanted);
        Ok(found.map(|record| idsync_source::UserLookup {
            steps: vec![
                format!(
                    "found in {} as id {}",
                    self.config.path.display(),
                    record.external_id
                ),
                "scope: a file export has no scope; every listed user is in it".to_owned(),
            ],
            record,
            in_scope: true,
        }))
    }

    async fn check(&self) -> Result<String, SourceError> {
        let batch = self
            .fetch(&FetchRequest::default(), &idsync_source::NoProgress)
            .await?;
        let (users, groups) = batch.counts();
        Ok(format!(
            "{} reads: {users} users, {groups} groups",
            self.config.path.display()
        ))
    }

    async fn fetch(&self, _request: &FetchRequest, progress: &dyn Progress) -> Result<Batch, SourceError> {
        let path = &self.config.path;
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| SourceError::InvalidData {
                location: path.display().to_string(),
                detail: format!("cannot read the export: {e}"),
            })?;
        let snapshot = parse_export(&text, &path.display().to_string(), self.config.nested_groups)?;
        progress.fetched("users", snapshot.users.len() as u64);
        progress.fetched("groups", snapshot.groups.len() as u64);
        Ok(Batch {
            data: Fetched::Snapshot(snapshot),
            cursor: None,
        })
    }
}

/// Parses and checks an export. `origin` names the file in error messages.
pub fn parse_export(text: &str, origin: &str, nested: NestedGroups) -> Result<Snapshot, SourceError> {
    // serde would take a JSON array for the export struct too: `[]` must not read as an empty
    // directory (which would mean "everyone left").
    if !text.trim_start().starts_with('{') {
        return Err(SourceError::InvalidData {
            location: format!("{origin} line 1 column 1"),
            detail: "expected a JSON object with \"users\" and \"groups\"".into(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let export: Export = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let inner = e.inner();
        // serde_json ends its message with the position, which the location already gives.
        let message = inner.to_string();
        let detail = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        SourceError::InvalidData {
            location: format!(
                "{origin} line {} column {} ({})",
                inner.line(),
                inner.column(),
                e.path()
            ),
            detail: detail.to_owned(),
        }
    })?;
    let users = check_users(export.users, origin)?;
    let user_ids: HashSet<&str> = users.iter().map(|u| u.external_id.as_str()).collect();
    let groups = check_groups(export.groups, &user_ids, origin)?;
    Ok(Snapshot {
        users,
        groups: resolve_nesting(groups, nested),
    })
}

fn invalid(origin: &str, location: String, detail: String) -> SourceError {
    SourceError::InvalidData {
        location: format!("{origin} {location}"),
        detail,
    }
}

/// The export's users as records: ids present and unique, every user with a upn.
fn check_users(export: Vec<ExportUser>, origin: &str) -> Result<Vec<UserRecord>, SourceError> {
    let invalid = |location: String, detail: String| invalid(origin, location, detail);
    let mut user_ids = HashSet::new();
    let mut users = Vec::with_capacity(export.len());
    for (i, u) in export.into_iter().enumerate() {
        if u.id.trim().is_empty() {
            return Err(invalid(
                format!("users[{i}].id"),
                "an id must not be empty".into(),
            ));
        }
        if u.upn.trim().is_empty() {
            return Err(invalid(
                format!("users[{i}].upn"),
                format!("user {} has an empty upn", u.id),
            ));
        }
        if !user_ids.insert(u.id.clone()) {
            return Err(invalid(
                format!("users[{i}].id"),
                format!("id {} appears twice", u.id),
            ));
        }
        users.push(UserRecord {
            attributes: None,
            external_id: u.id,
            upn: u.upn,
            email: u.email,
            display_name: u.display_name,
            given_name: u.given_name,
            family_name: u.family_name,
            job_title: u.job_title,
            department: u.department,
            preferred_language: u.preferred_language,
            enabled: u.enabled,
        });
    }
    Ok(users)
}

/// The export's groups, each member sorted into users and groups of this export.
fn check_groups(
    export: Vec<ExportGroup>,
    user_ids: &HashSet<&str>,
    origin: &str,
) -> Result<Vec<NestedGroup>, SourceError> {
    let invalid = |location: String, detail: String| invalid(origin, location, detail);
    let group_ids: HashSet<String> = export.iter().map(|g| g.id.clone()).collect();
    let mut groups = Vec::with_capacity(export.len());
    for (i, g) in export.into_iter().enumerate() {
        if user_ids.contains(g.id.as_str()) {
            return Err(invalid(
                format!("groups[{i}].id"),
                format!("id {} is both a user and a group", g.id),
            ));
        }
        let mut group = NestedGroup {
            external_id: g.id,
            display_name: g.display_name,
            user_members: Vec::new(),
            group_members: Vec::new(),
        };
        for (j, member) in g.members.into_iter().enumerate() {
            if user_ids.contains(member.as_str()) {
                group.user_members.push(member);
            } else if group_ids.contains(&member) {
                group.group_members.push(member);
            } else {
                return Err(invalid(
                    format!("groups[{i}].members[{j}]"),
                    format!("{member} is neither a user nor a group of this export"),
                ));
            }
        }
        groups.push(group);
    }
    if groups.len() != group_ids.len() {
        return Err(invalid("groups".into(), "two groups share an id".into()));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Snapshot, String> {
        parse_export(text, "dir.json", NestedGroups::Flatten).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_users_and_flattens_groups() {
        let snapshot = parse(
            r#"{"users": [
                  {"id": "1", "upn": "ann@example.com", "email": "ann@example.com"},
                  {"id": "2", "upn": "bob@example.com", "enabled": false}],
                "groups": [
                  {"id": "all", "display_name": "All", "members": ["eng"]},
                  {"id": "eng", "display_name": "Engineering", "members": ["1", "2"]}]}"#,
        )
        .unwrap();
        assert_eq!(snapshot.users.len(), 2);
        assert!(snapshot.users[0].enabled);
        assert!(!snapshot.users[1].enabled);
        assert_eq!(snapshot.users[1].email, None);
        assert_eq!(snapshot.groups[0].members, vec!["1", "2"]);
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases = [
            (
                r#"{"users": [{"id": "1", "upn": "a", "enabld": true}]}"#,
                "dir.json line 1 column 43 (users[0].enabld): unknown field `enabld`, expected one of `id`",
            ),
            (
                r#"{"users": [{"id": "1", "upn": "a", "enabled": "yes"}]}"#,
                "(users[0].enabled): invalid type: string \"yes\", expected a boolean",
            ),
            (
                r#"{"users": [{"id": "1", "upn": " "}]}"#,
                "dir.json users[0].upn: user 1 has an empty upn",
            ),
            (
                r#"{"users": [{"id": "1", "upn": "a"}, {"id": "1", "upn": "b"}]}"#,
                "users[1].id: id 1 appears twice",
            ),
            (
                r#"{"groups": [{"id": "g", "display_name": "G", "members": ["x"]}]}"#,
                "groups[0].members[0]: x is neither a user nor a group",
            ),
            (r#"{"users": [{"id": "1", "upn": "a""#, "EOF while parsing"),
            ("[]", "dir.json line 1 column 1: expected a JSON object"),
            ("", "dir.json line 1 column 1: expected a JSON object"),
        ];
        for (input, expected) in cases {
            let err = parse(input).unwrap_err();
            assert!(
                err.contains(expected),
                "input {input}\n  error {err}\n  wanted {expected}"
            );
        }
    }
}
