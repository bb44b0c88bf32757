//! The `Plan`: every change one run would make, and nothing else. Dry-run prints it, the
//! deletion guard counts it, apply executes it, the event log and run counts describe it.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use chrono::NaiveDateTime;
use idsync_source::UserRecord;
use serde::Serialize;

use crate::matcher::{Conflict, MatchedBy};

/// A user the plan refers to: one that exists, or the n-th of `Plan::user_creates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum UserRef {
    Existing(i64),
    New(usize),
}

/// A group the plan refers to: one that exists, or the n-th of `Plan::group_creates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum GroupRef {
    Existing(i64),
    New(usize),
}

/// The application columns a source writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserField {
    Upn,
    Email,
    DisplayName,
    GivenName,
    FamilyName,
    JobTitle,
    Department,
    PreferredLanguage,
    /// The attributes without a column (`users.attributes`, JSON text).
    Attributes,
}

impl UserField {
    pub const ALL: [UserField; 9] = [
        UserField::Upn,
        UserField::Email,
        UserField::DisplayName,
        UserField::GivenName,
        UserField::FamilyName,
        UserField::JobTitle,
        UserField::Department,
        UserField::PreferredLanguage,
        UserField::Attributes,
    ];

    pub fn column(self) -> &'static str {
        match self {
            UserField::Upn => "upn",
            UserField::Email => "email",
            UserField::DisplayName => "display_name",
            UserField::GivenName => "given_name",
            UserField::FamilyName => "family_name",
            UserField::JobTitle => "job_title",
            UserField::Department => "department",
            UserField::PreferredLanguage => "preferred_language",
            UserField::Attributes => "attributes",
        }
    }

    /// The field's value in a record.
    pub fn of_record(self, r: &UserRecord) -> Option<&str> {
        match self {
            UserField::Upn => Some(r.upn.as_str()),
            UserField::Email => r.email.as_deref(),
            UserField::DisplayName => r.display_name.as_deref(),
            UserField::GivenName => r.given_name.as_deref(),
            UserField::FamilyName => r.family_name.as_deref(),
            UserField::JobTitle => r.job_title.as_deref(),
            UserField::Department => r.department.as_deref(),
            UserField::PreferredLanguage => r.preferred_language.as_deref(),
            UserField::Attributes => r.attributes.as_deref(),
        }
    }
}

/// One field's before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: UserField,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserUpdate {
    pub user_id: i64,
    pub upn: String,
    pub changes: Vec<FieldChange>,
}

/// A new link between a source identity and an existing user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserLink {
    pub user_id: i64,
    pub upn: String,
    pub external_id: String,
    pub by: &'static str,
    /// True when the source takes ownership of a local user (it becomes `users.source`);
    /// false when another source already owns the person.
    pub owner: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeactivationReason {
    /// The source no longer lists the user.
    Removed,
    /// The source lists the user as disabled.
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub user_id: i64,
    pub upn: String,
    pub reason: Option<DeactivationReason>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purge {
    pub user_id: i64,
    pub upn: String,
    pub archived_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupCreate {
    pub external_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupLink {
    pub group_id: i64,
    pub external_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRename {
    pub group_id: i64,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDelete {
    pub group_id: i64,
    pub display_name: String,
}

/// Membership changes of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MembershipChange {
    pub group: GroupRef,
    pub group_name: String,
    pub added: Vec<UserRef>,
    pub removed: Vec<i64>,
}

/// A record the matcher refused, with the record itself for the person who settles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedConflict {
    pub record: UserRecord,
    pub conflict: Conflict,
}

/// Every change of one run.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub source: String,
    pub user_creates: Vec<UserRecord>,
    pub user_links: Vec<UserLink>,
    pub user_updates: Vec<UserUpdate>,
    pub deactivations: Vec<StatusChange>,
    pub reactivations: Vec<StatusChange>,
    /// External ids the source stopped listing (bookkeeping for retention).
    pub links_removed: Vec<String>,
    /// External ids the source lists again.
    pub links_returned: Vec<String>,
    pub purges: Vec<Purge>,
    pub group_creates: Vec<GroupCreate>,
    pub group_links: Vec<GroupLink>,
    pub group_renames: Vec<GroupRename>,
    pub group_deletes: Vec<GroupDelete>,
    pub memberships: Vec<MembershipChange>,
    pub conflicts: Vec<PlannedConflict>,
    /// External ids whose open conflict this run resolved (they now match cleanly).
    pub conflicts_resolved: Vec<String>,
    /// Sign-in names of existing users referenced by membership changes, for display.
    pub user_labels: HashMap<i64, String>,
}

/// How much a plan changes, for the runs table and the one-line summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub created: u64,
    pub updated: u64,
    pub deactivated: u64,
    pub reactivated: u64,
    pub purged: u64,
    pub groups_changed: u64,
    pub memberships_added: u64,
    pub memberships_removed: u64,
    pub conflicts: u64,
}

impl Plan {
    pub fn counts(&self) -> PlanCounts {
        let linked_without_update = self
            .user_links
            .iter()
            .filter(|l| !self.user_updates.iter().any(|u| u.user_id == l.user_id))
            .count();
        PlanCounts {
            created: self.user_creates.len() as u64,
            updated: (self.user_updates.len() + linked_without_update) as u64,
            deactivated: self.deactivations.len() as u64,
            reactivated: self.reactivations.len() as u64,
            purged: self.purges.len() as u64,
            groups_changed: (self.group_creates.len()
                + self.group_links.len()
                + self.group_renames.len()
                + self.group_deletes.len()) as u64,
            memberships_added: self.memberships.iter().map(|m| m.added.len() as u64).sum(),
            memberships_removed: self.memberships.iter().map(|m| m.removed.len() as u64).sum(),
            conflicts: self.conflicts.len() as u64,
        }
    }

    /// True when applying the plan would write nothing.
    pub fn is_empty(&self) -> bool {
        self.counts() == PlanCounts::default()
            && self.links_removed.is_empty()
            && self.links_returned.is_empty()
            && self.conflicts_resolved.is_empty()
    }

    pub fn user_label(&self, user: UserRef) -> &str {
        match user {
            UserRef::New(i) => self.user_creates.get(i).map_or("?", |r| r.upn.as_str()),
            UserRef::Existing(id) => self.user_labels.get(&id).map_or("?", String::as_str),
        }
    }

    /// The plan as a person reads it (the dry-run output): one line per change.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write_lines(&mut out).unwrap_or_default();
        out
    }

    fn write_lines(&self, out: &mut String) -> fmt::Result {
        for r in &self.user_creates {
            let state = if r.enabled { "" } else { " (disabled)" };
            writeln!(out, "create user {}{state}", r.upn)?;
        }
        for l in &self.user_links {
            let how = if l.owner { "adopt local" } else { "link" };
            writeln!(
                out,
                "{how} user {} (#{}) as {} by {}",
                l.upn, l.user_id, l.external_id, l.by
            )?;
        }
        for u in &self.user_updates {
            let changes: Vec<String> = u
                .changes
                .iter()
                .map(|c| format!("{}: {} -> {}", c.field.column(), show(&c.before), show(&c.after)))
                .collect();
            writeln!(
                out,
                "update user {} (#{}): {}",
                u.upn,
                u.user_id,
                changes.join(", ")
            )?;
        }
        for d in &self.deactivations {
            let why = match d.reason {
                Some(DeactivationReason::Disabled) => "disabled upstream",
                _ => "removed upstream",
            };
            writeln!(out, "deactivate user {} (#{}): {why}", d.upn, d.user_id)?;
        }
        for r in &self.reactivations {
            writeln!(out, "reactivate user {} (#{})", r.upn, r.user_id)?;
        }
        for p in &self.purges {
            let since = p
                .archived_at
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            writeln!(
                out,
                "purge user {} (#{}): archived since {since}",
                p.upn, p.user_id
            )?;
        }
        for g in &self.group_creates {
            writeln!(out, "create group {}", g.display_name)?;
        }
        for g in &self.group_links {
            writeln!(
                out,
                "adopt local group {} (#{}) as {}",
                g.display_name, g.group_id, g.external_id
            )?;
        }
        for g in &self.group_renames {
            writeln!(out, "rename group #{}: {} -> {}", g.group_id, g.before, g.after)?;
        }
        for g in &self.group_deletes {
            writeln!(out, "delete group {} (#{})", g.display_name, g.group_id)?;
        }
        for m in &self.memberships {
            for &u in &m.added {
                writeln!(out, "add {} to {}", self.user_label(u), m.group_name)?;
            }
            for &u in &m.removed {
                writeln!(
                    out,
                    "remove {} from {}",
                    self.user_label(UserRef::Existing(u)),
                    m.group_name
                )?;
            }
        }
        for c in &self.conflicts {
            writeln!(
                out,
                "conflict {} ({}): {}: {}",
                c.record.upn,
                c.record.external_id,
                c.conflict.reason.as_str(),
                c.conflict.detail
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for PlanCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} deactivated, {} reactivated, {} purged, {} groups changed, \
             {} memberships added, {} removed, {} conflicts",
            self.created,
            self.updated,
            self.deactivated,
            self.reactivated,
            self.purged,
            self.groups_changed,
            self.memberships_added,
            self.memberships_removed,
            self.conflicts
        )
    }
}

fn show(value: &Option<String>) -> String {
    match value {
        Some(v) => format!("{v:?}"),
        None => "null".to_owned(),
    }
}

/// Used by the matcher's callers to describe how a link was found.
pub fn matched_by_label(by: MatchedBy) -> &'static str {
    by.as_str()
}
