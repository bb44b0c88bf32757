//! Row types: what diesel reads from and writes to the tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::*;
use crate::local::{Link, LocalGroup, LocalUser};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub scim_id: String,
    pub external_id: Option<String>,
    pub source: Option<String>,
    pub upn: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub preferred_language: Option<String>,
    pub attributes: Option<String>,
    pub active: bool,
    pub archived_at: Option<NaiveDateTime>,
}

impl From<UserRow> for LocalUser {
    fn from(r: UserRow) -> Self {
        LocalUser {
            id: r.id,
            scim_id: r.scim_id,
            external_id: r.external_id,
            source: r.source,
            upn: r.upn,
            email: r.email,
            display_name: r.display_name,
            given_name: r.given_name,
            family_name: r.family_name,
            job_title: r.job_title,
            department: r.department,
            preferred_language: r.preferred_language,
            attributes: r.attributes,
            active: r.active,
            archived_at: r.archived_at,
        }
    }
}

/// `None` is NULL, not DEFAULT: uniform rows let SQLite take a whole batch in one statement.
#[derive(Debug, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser<'a> {
    pub tenant_id: &'a str,
    pub scim_id: String,
    pub external_id: Option<&'a str>,
    pub source: Option<&'a str>,
    pub upn: &'a str,
    pub email: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub job_title: Option<&'a str>,
    pub department: Option<&'a str>,
    pub preferred_language: Option<&'a str>,
    pub attributes: Option<&'a str>,
    pub active: bool,
    pub archived_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub upn_key: String,
    pub email_key: Option<String>,
}

/// Column updates; `None` leaves a column alone, `Some(None)` sets it NULL.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub upn: Option<String>,
    /// Set with `upn`.
    pub upn_key: Option<String>,
    pub email: Option<Option<String>>,
    /// Set with `email`.
    pub email_key: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub job_title: Option<Option<String>>,
    pub department: Option<Option<String>>,
    pub preferred_language: Option<Option<String>>,
    pub attributes: Option<Option<String>>,
    pub source: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = user_links)]
pub struct LinkRow {
    pub source: String,
    pub external_id: String,
    pub user_id: i64,
    pub removed_at: Option<NaiveDateTime>,
}

impl From<LinkRow> for Link {
    fn from(r: LinkRow) -> Self {
        Link {
            source: r.source,
            external_id: r.external_id,
            user_id: r.user_id,
            removed_at: r.removed_at,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = user_links, treat_none_as_default_value = false)]
pub struct NewLink<'a> {
    pub tenant_id: &'a str,
    pub source: &'a str,
    pub external_id: &'a str,
    pub user_id: i64,
    pub linked_at: NaiveDateTime,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = groups)]
pub struct GroupRow {
    pub id: i64,
    pub external_id: Option<String>,
    pub source: Option<String>,
    pub display_name: String,
    pub read_only: bool,
}

impl From<GroupRow> for LocalGroup {
    fn from(r: GroupRow) -> Self {
        LocalGroup {
            id: r.id,
            external_id: r.external_id,
            source: r.source,
            display_name: r.display_name,
            read_only: r.read_only,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = groups, treat_none_as_default_value = false)]
pub struct NewGroup<'a> {
    pub tenant_id: &'a str,
    pub scim_id: String,
    pub external_id: &'a str,
    pub source: &'a str,
    pub display_name: &'a str,
    pub read_only: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub name_key: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = group_members, treat_none_as_default_value = false)]
pub struct NewMember {
    pub group_id: i64,
    pub user_id: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct NewEvent<'a> {
    pub tenant_id: &'a str,
    pub run_id: Option<i64>,
    pub connector: &'a str,
    pub object_type: &'static str,
    pub object_id: i64,
    pub object_key: String,
    pub action: &'static str,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

/// A row of the change feed (`apply/changes.rs`): one change, or a run of membership
/// changes (`seq` to `last_seq`); `data` is JSON text.
#[derive(Debug, Insertable)]
#[diesel(table_name = changes, treat_none_as_default_value = false)]
pub struct NewChange<'a> {
    pub seq: i64,
    pub tenant_id: &'a str,
    pub change_type: &'static str,
    pub object_id: i64,
    pub scim_id: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub source: &'a str,
    pub run_id: Option<i64>,
    pub occurred_at: NaiveDateTime,
    pub changed_fields: String,
    pub data: String,
    pub last_seq: i64,
    pub object_seq: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = conflicts, treat_none_as_default_value = false)]
pub struct NewConflict<'a> {
    pub tenant_id: &'a str,
    pub connector: &'a str,
    pub run_id: Option<i64>,
    pub external_id: &'a str,
    pub upn: Option<&'a str>,
    pub reason: &'static str,
    pub detail: &'a str,
    pub local_user_id: Option<i64>,
    pub other_user_id: Option<i64>,
    pub record: String,
    pub status: &'static str,
    pub first_seen_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}
