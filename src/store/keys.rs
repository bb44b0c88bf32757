//! Filling the comparison-key columns (`users.upn_key`, `users.email_key`, `groups.name_key`)
//! of rows that lack them.
//!
//! The keys are the matcher's [`identity_key`], computed in Rust: SQL cannot (SQLite's
//! `lower()` folds ASCII only, neither backend applies NFKC). Every store write sets them;
//! rows migrated from before the columns existed, and rows the application inserts itself,
//! have NULL keys. [`fill_missing`] gives them keys: after migrating, and before every load
//! that looks users up by key. It only touches NULL keys, so it is idempotent and, once the
//! rows are filled, one indexed query that finds nothing.

use diesel::prelude::*;

use super::schema::{groups, users};
use super::{with_conn, Db, StoreError};
use crate::matcher::identity_key;

/// Rows filled per round.
const ROWS_PER_ROUND: i64 = 1000;

/// Fills the keys of every user and group row that has none; returns how many rows it filled.
///
/// A user whose key another live user already holds (two rows the application inserted as
/// `ÅSA` and `åsa`) cannot take it under the unique index: it keeps a NULL key, is left
/// out of key lookups, and is logged for an operator to resolve.
pub fn fill_missing(db: &mut Db) -> Result<usize, StoreError> {
    Ok(fill_users(db)? + fill_groups(db)?)
}

fn fill_users(db: &mut Db) -> Result<usize, StoreError> {
    let mut filled = 0;
    let mut after = 0_i64;
    loop {
        let rows: Vec<(i64, String, Option<String>)> = with_conn!(db, |c| users::table
            .filter(users::upn_key.is_null().and(users::id.gt(after)))
            .order(users::id)
            .limit(ROWS_PER_ROUND)
            .select((users::id, users::upn, users::email))
            .load(c))?;
        let Some(last) = rows.last() else {
            return Ok(filled);
        };
        after = last.0;
        for (id, upn, email) in rows {
            let values = (
                users::upn_key.eq(identity_key(&upn)),
                users::email_key.eq(email.as_deref().map(identity_key)),
            );
            // In a savepoint: a refused row must not abort a surrounding PostgreSQL transaction.
            let set = with_conn!(db, |c| c
                .transaction(|c| diesel::update(users::table.find(id)).set(values).execute(c)));
            match set.map_err(StoreError::from) {
                Ok(_) => filled += 1,
                Err(e) if e.is_unique_violation() => {
                    tracing::warn!(user_id = id, upn = %upn, "another live user holds this name's key");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn fill_groups(db: &mut Db) -> Result<usize, StoreError> {
    let mut filled = 0;
    loop {
        let rows: Vec<(i64, String)> = with_conn!(db, |c| groups::table
            .filter(groups::name_key.is_null())
            .order(groups::id)
            .limit(ROWS_PER_ROUND)
            .select((groups::id, groups::display_name))
            .load(c))?;
        if rows.is_empty() {
            return Ok(filled);
        }
        for (id, name) in rows {
            with_conn!(db, |c| diesel::update(groups::table.find(id))
                .set(groups::name_key.eq(identity_key(&name)))
                .execute(c))?;
            filled += 1;
        }
    }
}
