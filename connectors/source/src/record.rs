//! Normalized records: what every connector yields, whatever its wire format.

use serde::{Deserialize, Serialize};

/// A person as the identity source describes them, after attribute mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The source's immutable object id (Entra object id, Okta user id, HR employee id).
    pub external_id: String,
    /// The sign-in name; the application's unique login.
    pub upn: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub preferred_language: Option<String>,
    /// False when the source keeps the account but has disabled it.
    pub enabled: bool,
    /// Every attribute without a field of its own (SCIM's `externalId`, further `emails`, the
    /// enterprise extension's `employeeNumber`, custom extension attributes): the canonical
    /// text (keys sorted, no spaces) of a JSON object keyed by SCIM attribute name, extension
    /// attributes in an object under their schema URN. `None` when there is none. Text, so
    /// the planner compares it as it compares every other field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<String>,
}

/// The canonical text of an attribute object (see [`UserRecord::attributes`]): `None` for an
/// empty one. `serde_json` keeps object keys sorted, so equal objects give equal text.
pub fn attributes_text(attributes: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    (!attributes.is_empty()).then(|| serde_json::Value::Object(attributes.clone()).to_string())
}

/// The object behind an attribute text; an empty one for `None` or text that is not an object.
pub fn attributes_object(text: Option<&str>) -> serde_json::Map<String, serde_json::Value> {
    match text.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(serde_json::Value::Object(map))) => map,
        _ => serde_json::Map::new(),
    }
}

/// Splits a full attribute path `urn:...:User:location` into the schema URN and the attribute
/// name; `None` for a name without a URN.
pub fn split_extension_path(path: &str) -> Option<(&str, &str)> {
    if !path.to_ascii_lowercase().starts_with("urn:") {
        return None;
    }
    let (urn, name) = path.rsplit_once(':')?;
    (!name.is_empty() && !urn.is_empty()).then_some((urn, name))
}

impl UserRecord {
    /// Sets the fields an attribute mapping evaluated, as (target field, value) pairs; an
    /// unset `upn` becomes empty, and targets that are not user fields are left alone.
    pub fn set_mapped<'a>(&mut self, values: impl IntoIterator<Item = (&'a str, Option<String>)>) {
        for (target, value) in values {
            match target {
                "upn" => self.upn = value.unwrap_or_default(),
                "email" => self.email = value,
                "display_name" => self.display_name = value,
                "given_name" => self.given_name = value,
                "family_name" => self.family_name = value,
                "job_title" => self.job_title = value,
                "department" => self.department = value,
                "preferred_language" => self.preferred_language = value,
                path => self.set_extension_value(path, value),
            }
        }
    }

    /// Sets the extension attribute a full path names (`urn:...:User:location`), where a SCIM
    /// client's push puts it, so pulled and pushed users carry the same names; `None` removes
    /// it. A target that is not such a path is left alone.
    fn set_extension_value(&mut self, path: &str, value: Option<String>) {
        let Some((urn, name)) = split_extension_path(path) else {
            return;
        };
        let mut attributes = attributes_object(self.attributes.as_deref());
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let ext = attributes
            .entry(urn.to_owned())
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if let serde_json::Value::Object(ext) = ext {
            match value {
                Some(v) => {
                    ext.insert(name.to_owned(), serde_json::Value::String(v));
                }
                None => {
                    ext.remove(name);
                }
            }
            if ext.is_empty() {
                attributes.remove(urn);
            }
        }
        self.attributes = attributes_text(&attributes);
    }

    /// Trims every value and turns empty strings into `None`, so that `" ann@x "` and
    /// `"ann@x"` are one value and an empty attribute means "not set".
    pub fn normalize(&mut self) {
        self.external_id = self.external_id.trim().to_owned();
        self.upn = self.upn.trim().to_owned();
        for field in [
            &mut self.email,
            &mut self.display_name,
            &mut self.given_name,
            &mut self.family_name,
            &mut self.job_title,
            &mut self.department,
            &mut self.preferred_language,
        ] {
            *field = field
                .take()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
        }
    }
}

/// A group with its complete set of user members (external ids), nesting already resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub external_id: String,
    pub display_name: String,
    pub members: Vec<String>,
}

/// Everything the source holds. Only a snapshot may imply that what is absent was removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub users: Vec<UserRecord>,
    pub groups: Vec<GroupRecord>,
}

/// How a group's membership changed in an incremental fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembersChange {
    /// The membership did not change (only the group's attributes did).
    Unchanged,
    /// The complete new member list.
    Replace(Vec<String>),
    /// Explicit additions and removals.
    Delta {
        added: Vec<String>,
        removed: Vec<String>,
    },
}

/// A group that changed in an incremental fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChange {
    pub external_id: String,
    /// The new display name, when it is known (a delta page may carry only member changes).
    pub display_name: Option<String>,
    pub members: MembersChange,
}

/// What changed since the cursor. Removals are explicit; absence means nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Users created or changed (complete records).
    pub users: Vec<UserRecord>,
    /// External ids of users the source removed.
    pub removed_users: Vec<String>,
    pub groups: Vec<GroupChange>,
    /// External ids of groups the source removed.
    pub removed_groups: Vec<String>,
}

/// The two shapes a fetch can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Snapshot(Snapshot),
    Changes(ChangeSet),
}

/// One successful fetch: the data and the cursor to store with it, in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub data: Fetched,
    /// Where the next incremental fetch resumes; `None` for sources that cannot resume.
    pub cursor: Option<String>,
}

impl Fetched {
    /// Normalizes every user record (see [`UserRecord::normalize`]).
    pub fn normalize(&mut self) {
        let users = match self {
            Fetched::Snapshot(s) => &mut s.users,
            Fetched::Changes(c) => &mut c.users,
        };
        users.iter_mut().for_each(UserRecord::normalize);
    }
}

impl Batch {
    /// Number of user and group records carried, for run counts and progress.
    pub fn counts(&self) -> (usize, usize) {
        match &self.data {
            Fetched::Snapshot(s) => (s.users.len(), s.groups.len()),
            Fetched::Changes(c) => (
                c.users.len() + c.removed_users.len(),
                c.groups.len() + c.removed_groups.len(),
            ),
        }
    }
}
