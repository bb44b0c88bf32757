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
                _ => {}
            }
        }
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
