//! [`Conn`]: one pooled connection lent to a unit of work that must stay on one connection
//! (a SCIM write: its load, plan and apply, as one transaction). It exposes the store's typed
//! query functions and nothing of diesel, so the caller still reaches the database only
//! through the store.

use super::scim::{self, GroupCond, Keys, MemberRef, Page, ScimGroupRow, ScimUserRow, UserCond};
use super::{apply, ApplyContext, Db, Store, StoreError};
use crate::local::LocalState;
use crate::planner::{Plan, PlanCounts};
use std::collections::HashMap;

/// A connection checked out of the store's pool for one unit of work.
pub struct Conn<'a> {
    db: &'a mut Db,
    /// The tenant of the store that lent the connection: every query is scoped to it.
    tenant: &'a str,
    /// Inside a write unit: the resource a write reads by its SCIM id is locked until the
    /// commit (PostgreSQL; SQLite's one writer needs no row locks), so concurrent writes to
    /// one resource take turns and each sees the other's result.
    locking: bool,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conn")
    }
}

impl Store {
    /// Runs `work` on one pooled connection (off the async threads): every query it makes
    /// sees the same connection, in order.
    pub async fn with_conn<T, E>(
        &self,
        work: impl FnOnce(&mut Conn<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.scoped(move |db, tenant| {
            work(&mut Conn {
                db,
                tenant,
                locking: false,
            })
        })
        .await
    }

    /// Like [`Self::with_conn`], with all of `work` in one transaction that holds the write
    /// lock from its start (see [`Db::write_transaction`]): what it reads and writes commits
    /// together, and an `Err` from anywhere in it (a late 400 too) leaves the database as it
    /// was.
    pub async fn with_write_transaction<T, E>(
        &self,
        work: impl FnOnce(&mut Conn<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let done = self
            .scoped(move |db, tenant| {
                db.write_transaction(|db| {
                    work(&mut Conn {
                        db,
                        tenant,
                        locking: true,
                    })
                })
            })
            .await;
        self.notify_changes();
        done
    }
}

/// The SCIM endpoint's queries, as [`super::scim`] defines them.
impl Conn<'_> {
    pub fn load_local_for(&mut self, source: &str, keys: &Keys) -> Result<LocalState, StoreError> {
        scim::load_local_for(self.db, self.tenant, source, keys)
    }

    /// Applies `plan` in one transaction (see [`super::apply()`]); inside
    /// [`Store::with_write_transaction`] a savepoint of the unit's transaction.
    pub fn apply(&mut self, plan: &Plan, ctx: &ApplyContext) -> Result<PlanCounts, StoreError> {
        apply(self.db, self.tenant, plan, ctx)
    }

    pub fn user_by_scim_id(&mut self, scim_id: &str) -> Result<Option<ScimUserRow>, StoreError> {
        scim::user_by_scim_id(self.db, self.tenant, scim_id, self.locking)
    }

    pub fn user_by_link(&mut self, key: &str) -> Result<Option<ScimUserRow>, StoreError> {
        scim::user_by_link(self.db, self.tenant, key)
    }

    pub fn scim_link_of(&mut self, user_id: i64) -> Result<Option<(String, bool)>, StoreError> {
        scim::scim_link_of(self.db, self.tenant, user_id)
    }

    pub fn scim_keys_of(
        &mut self,
        scim_ids: &[String],
    ) -> Result<HashMap<String, (i64, Option<String>)>, StoreError> {
        scim::scim_keys_of(self.db, self.tenant, scim_ids)
    }

    pub fn list_users(
        &mut self,
        conds: &[UserCond],
        offset: u64,
        count: u64,
    ) -> Result<Page<ScimUserRow>, StoreError> {
        scim::list_users(self.db, self.tenant, conds, offset, count)
    }

    pub fn group_by_scim_id(&mut self, scim_id: &str) -> Result<Option<ScimGroupRow>, StoreError> {
        scim::group_by_scim_id(self.db, self.tenant, scim_id, self.locking)
    }

    pub fn group_by_key(&mut self, key: &str) -> Result<Option<ScimGroupRow>, StoreError> {
        scim::group_by_key(self.db, self.tenant, key)
    }

    pub fn list_groups(
        &mut self,
        conds: &[GroupCond],
        offset: u64,
        count: u64,
    ) -> Result<Page<ScimGroupRow>, StoreError> {
        scim::list_groups(self.db, self.tenant, conds, offset, count)
    }

    pub fn set_group_attributes(
        &mut self,
        group_id: i64,
        attributes: Option<&str>,
        now: chrono::NaiveDateTime,
    ) -> Result<bool, StoreError> {
        scim::set_group_attributes(self.db, self.tenant, group_id, attributes, now)
    }

    pub fn members_of(&mut self, group_ids: &[i64]) -> Result<HashMap<i64, Vec<MemberRef>>, StoreError> {
        scim::members_of(self.db, self.tenant, group_ids)
    }

    pub fn ping(&mut self) -> Result<(), StoreError> {
        scim::ping(self.db)
    }

    pub fn token_digest(&mut self) -> Result<Option<String>, StoreError> {
        scim::token_digest(self.db, self.tenant)
    }
}
