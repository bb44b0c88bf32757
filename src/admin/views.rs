//! The JSON shapes the API answers with, built from the store's rows. Times are RFC 3339 in
//! UTC.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::events::EventRow;
use crate::store::runs::{ConflictRow, RunRow};

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// What a run changed.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct RunCounts {
    pub fetched_users: i64,
    pub fetched_groups: i64,
    pub created: i64,
    pub updated: i64,
    pub deactivated: i64,
    pub reactivated: i64,
    pub purged: i64,
    pub groups_changed: i64,
    pub memberships_added: i64,
    pub memberships_removed: i64,
    pub conflicts: i64,
}

/// One run of one connector.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub run_id: i64,
    pub connector: String,
    /// `scheduled`, `full` or `on_demand`.
    pub mode: String,
    /// `running`, `succeeded`, `held`, `failed` or `interrupted`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: RunCounts,
    /// Why the run failed, for a failed run.
    pub error: Option<String>,
    /// The changes the deletion guard held back, for a held run (one per line).
    pub held_changes: Option<String>,
}

impl From<RunRow> for RunView {
    fn from(r: RunRow) -> RunView {
        RunView {
            run_id: r.id,
            connector: r.connector,
            mode: r.mode,
            status: r.status,
            started_at: utc(r.started_at),
            finished_at: r.finished_at.map(utc),
            counts: RunCounts {
                fetched_users: r.fetched_users,
                fetched_groups: r.fetched_groups,
                created: r.created,
                updated: r.updated,
                deactivated: r.deactivated,
                reactivated: r.reactivated,
                purged: r.purged,
                groups_changed: r.groups_changed,
                memberships_added: r.memberships_added,
                memberships_removed: r.memberships_removed,
                conflicts: r.conflicts,
            },
            error: r.error,
            held_changes: r.held_changes,
        }
    }
}

/// One entry of the event log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub run_id: Option<i64>,
    /// The connector, `scim`, or `admin` for a decision made through this API.
    pub connector: String,
    /// `user` or `group`.
    pub object_type: String,
    pub object_id: i64,
    /// The user's UPN or the group's name.
    pub object_key: String,
    pub action: String,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

impl From<EventRow> for EventView {
    fn from(e: EventRow) -> EventView {
        EventView {
            id: e.id,
            run_id: e.run_id,
            connector: e.connector,
            object_type: e.object_type,
            object_id: e.object_id,
            object_key: e.object_key,
            action: e.action,
            detail: e.detail,
            created_at: utc(e.created_at),
        }
    }
}

/// A record the matcher would not decide alone.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConflictView {
    pub id: i64,
    pub connector: String,
    /// The record's id in its source.
    pub external_id: String,
    pub upn: Option<String>,
    pub reason: String,
    pub detail: String,
    /// The local user the record matched.
    pub local_user_id: Option<i64>,
    /// The other local user it matched as well.
    pub other_user_id: Option<i64>,
    pub first_seen_at: DateTime<Utc>,
}

impl From<ConflictRow> for ConflictView {
    fn from(c: ConflictRow) -> ConflictView {
        ConflictView {
            id: c.id,
            connector: c.connector,
            external_id: c.external_id,
            upn: c.upn,
            reason: c.reason,
            detail: c.detail,
            local_user_id: c.local_user_id,
            other_user_id: c.other_user_id,
            first_seen_at: utc(c.first_seen_at),
        }
    }
}

/// `{"runs": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunView>,
}

/// `{"events": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
}

/// `{"conflicts": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictList {
    pub conflicts: Vec<ConflictView>,
}
