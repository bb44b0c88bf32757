//! The application's side: its users, groups and links as the matcher and the planner see
//! them. The store loads these; nothing here touches a database.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    pub id: i64,
    pub scim_id: String,
    pub external_id: Option<String>,
    /// The owning connector; `None` for users the application created itself.
    pub source: Option<String>,
    pub upn: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub preferred_language: Option<String>,
    /// The attributes without a column: JSON object text (see `UserRecord::attributes`).
    pub attributes: Option<String>,
    pub active: bool,
    pub archived_at: Option<NaiveDateTime>,
}

impl LocalUser {
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

/// A row of `user_links`: one identity (source, external id) a user is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub source: String,
    pub external_id: String,
    pub user_id: i64,
    /// When the source stopped listing this identity.
    pub removed_at: Option<NaiveDateTime>,
}

/// A row of `groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalGroup {
    pub id: i64,
    pub external_id: Option<String>,
    pub source: Option<String>,
    pub display_name: String,
    pub read_only: bool,
}

/// What the store holds that one source's run needs to see.
#[derive(Debug, Clone, Default)]
pub struct LocalState {
    /// Every user: a record may match a user owned by anyone.
    pub users: Vec<LocalUser>,
    /// Every link of every source: the matcher must see whom other identities claim.
    pub links: Vec<Link>,
    /// The source's own groups, plus unowned local groups (for matching by name).
    pub groups: Vec<LocalGroup>,
    /// Members of the source's groups: group id -> user ids.
    pub members: HashMap<i64, HashSet<i64>>,
    /// External ids with an open conflict for this source.
    pub open_conflicts: HashSet<String>,
    /// External ids of this source an operator kept apart from local users (conflicts
    /// resolved `keep_separate`): external id -> the users it must not match.
    pub kept_apart: HashMap<String, HashSet<i64>>,
    /// True until the source's first successful run (the deletion guard exempts it).
    pub first_sync: bool,
    /// How many users and groups the source owns, when `users` and `groups` hold only part
    /// of the directory (an incremental run loads what its changes can touch).
    pub owned_counts: Option<(u64, u64)>,
}
