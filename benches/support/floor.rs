//! The store's floor: the rows a sync wrote (users, links, groups, memberships, events), read
//! back and bulk-loaded into a fresh, migrated database of the same backend, in one
//! transaction, the fastest plain way each backend offers: `COPY ... FROM STDIN` (binary) on
//! PostgreSQL, multi-row `INSERT`s of 1,000 rows on SQLite (with the pragmas idsync uses).
//! The indexes are in place, as they are for any writer of a live schema.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use idsync::store::schema::{events, group_members, groups, user_links, users};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
struct User {
    id: i64,
    scim_id: String,
    external_id: Option<String>,
    source: Option<String>,
    upn: String,
    email: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    job_title: Option<String>,
    department: Option<String>,
    preferred_language: Option<String>,
    active: bool,
    archived_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    upn_key: Option<String>,
    email_key: Option<String>,
    tenant_id: String,
    attributes: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = user_links, treat_none_as_default_value = false)]
struct Link {
    source: String,
    external_id: String,
    user_id: i64,
    linked_at: NaiveDateTime,
    removed_at: Option<NaiveDateTime>,
    tenant_id: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = groups, treat_none_as_default_value = false)]
struct Group {
    id: i64,
    scim_id: String,
    external_id: Option<String>,
    source: Option<String>,
    display_name: String,
    read_only: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    name_key: Option<String>,
    tenant_id: String,
    attributes: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = group_members, treat_none_as_default_value = false)]
struct Member {
    group_id: i64,
    user_id: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
struct Event {
    id: i64,
    run_id: Option<i64>,
    connector: String,
    object_type: String,
    object_id: i64,
    object_key: String,
    action: String,
    detail: String,
    created_at: NaiveDateTime,
    tenant_id: String,
}

/// Everything a sync wrote that the floor loads again.
pub struct Rows {
    users: Vec<User>,
    links: Vec<Link>,
    groups: Vec<Group>,
    members: Vec<Member>,
    events: Vec<Event>,
}

impl Rows {
    /// "N users, ..." for the floor's line.
    pub fn describe(&self) -> String {
        format!(
            "{} users, {} links, {} groups, {} memberships, {} events",
            self.users.len(),
            self.links.len(),
            self.groups.len(),
            self.members.len(),
            self.events.len()
        )
    }
}

macro_rules! read_all {
    ($c:expr) => {
        Rows {
            users: users::table.select(User::as_select()).load($c).unwrap(),
            links: user_links::table.select(Link::as_select()).load($c).unwrap(),
            groups: groups::table.select(Group::as_select()).load($c).unwrap(),
            members: group_members::table.select(Member::as_select()).load($c).unwrap(),
            events: events::table.select(Event::as_select()).load($c).unwrap(),
        }
    };
}

/// Reads the rows of the database at `url` (`sqlite://…` or `postgres://…`).
pub fn read(url: &str) -> Rows {
    match url.strip_prefix("sqlite://") {
        Some(path) => {
            let c = &mut SqliteConnection::establish(path).unwrap();
            read_all!(c)
        }
        None => {
            let c = &mut PgConnection::establish(url).unwrap();
            read_all!(c)
        }
    }
}

/// Loads `rows` into the migrated, empty database at `url`; returns the time it took.
pub fn load(url: &str, rows: &Rows) -> Duration {
    match url.strip_prefix("sqlite://") {
        Some(path) => load_sqlite(&mut SqliteConnection::establish(path).unwrap(), rows),
        None => load_postgres(&mut PgConnection::establish(url).unwrap(), rows),
    }
}

fn load_postgres(c: &mut PgConnection, rows: &Rows) -> Duration {
    let started = Instant::now();
    c.transaction(|c| {
        diesel::copy_from(users::table)
            .from_insertable(&rows.users)
            .execute(c)?;
        diesel::copy_from(user_links::table)
            .from_insertable(&rows.links)
            .execute(c)?;
        diesel::copy_from(groups::table)
            .from_insertable(&rows.groups)
            .execute(c)?;
        diesel::copy_from(group_members::table)
            .from_insertable(&rows.members)
            .execute(c)?;
        diesel::copy_from(events::table)
            .from_insertable(&rows.events)
            .execute(c)?;
        diesel::QueryResult::Ok(())
    })
    .unwrap();
    started.elapsed()
}

fn load_sqlite(c: &mut SqliteConnection, rows: &Rows) -> Duration {
    c.batch_execute(
        "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;",
    )
    .unwrap();
    let started = Instant::now();
    c.transaction(|c| {
        for chunk in rows.users.chunks(1000) {
            diesel::insert_into(users::table).values(chunk).execute(c)?;
        }
        for chunk in rows.links.chunks(1000) {
            diesel::insert_into(user_links::table).values(chunk).execute(c)?;
        }
        for chunk in rows.groups.chunks(1000) {
            diesel::insert_into(groups::table).values(chunk).execute(c)?;
        }
        for chunk in rows.members.chunks(5000) {
            diesel::insert_into(group_members::table)
                .values(chunk)
                .execute(c)?;
        }
        for chunk in rows.events.chunks(1000) {
            diesel::insert_into(events::table).values(chunk).execute(c)?;
        }
        diesel::QueryResult::Ok(())
    })
    .unwrap();
    started.elapsed()
}
