//! The event log of an apply, buffered and written in chunks as it grows, so a large run
//! never holds all its events at once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::super::models::NewEvent;
use super::super::schema::events;
use super::super::{with_conn, Db, StoreError, CHUNK};
use super::bulk;

/// The events of one apply, not yet written.
pub(super) struct EventLog<'a> {
    run_id: Option<i64>,
    tenant: &'a str,
    connector: &'a str,
    now: NaiveDateTime,
    rows: Vec<NewEvent<'a>>,
}

impl<'a> EventLog<'a> {
    pub(super) fn new(run_id: Option<i64>, tenant: &'a str, connector: &'a str, now: NaiveDateTime) -> Self {
        EventLog {
            run_id,
            tenant,
            connector,
            now,
            rows: Vec::with_capacity(CHUNK),
        }
    }

    /// Records that `action` happened to the object (`user` or `group`) `id`, named `key`.
    pub(super) fn push(
        &mut self,
        object_type: &'static str,
        id: i64,
        key: &str,
        action: &'static str,
        detail: serde_json::Value,
    ) {
        self.rows.push(NewEvent {
            tenant_id: self.tenant,
            run_id: self.run_id,
            connector: self.connector,
            object_type,
            object_id: id,
            object_key: key.to_owned(),
            action,
            detail: detail.to_string(),
            created_at: self.now,
        });
    }

    /// Writes the buffer once it holds a chunk's worth.
    pub(super) fn flush_full(&mut self, db: &mut Db) -> Result<(), StoreError> {
        self.flush_from(db, CHUNK)
    }

    /// Writes whatever is left.
    pub(super) fn flush(&mut self, db: &mut Db) -> Result<(), StoreError> {
        self.flush_from(db, 1)
    }

    fn flush_from(&mut self, db: &mut Db, min: usize) -> Result<(), StoreError> {
        if self.rows.len() >= min {
            let rows = &self.rows;
            match db {
                Db::Postgres(c) if rows.len() >= bulk::COPY_FROM => {
                    bulk::events(c, rows)?;
                }
                _ => insert_rows!(db, events::table, rows.as_slice()),
            }
            self.rows.clear();
        }
        Ok(())
    }
}
