//! The tenant table: which customer organizations exist. These are whole-database operations
//! (they do not depend on the tenant a [`Store`] is bound to); deleting a tenant removes its
//! rows from idsync's own tables, and with `purge` its users and groups too.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{
    alert_state, changes, conflicts, events, groups, leases, runs, scim_tokens, sync_state, tenants,
    user_links, users, webhook_attempts, webhooks,
};
use super::{with_conn, Db, Store, StoreError};
use crate::tenant::TenantId;

/// One tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantRow {
    pub id: TenantId,
    pub display_name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

type Raw = (String, String, NaiveDateTime, NaiveDateTime);

/// A stored row whose id is no slug (written around the store) is reported, not trusted.
fn row(raw: Raw) -> Result<TenantRow, StoreError> {
    let (id, display_name, created_at, updated_at) = raw;
    let id = TenantId::parse(&id).map_err(|e| StoreError::BadData(format!("tenants.id {id:?}: {e}")))?;
    Ok(TenantRow {
        id,
        display_name,
        created_at,
        updated_at,
    })
}

const COLUMNS: (
    tenants::id,
    tenants::display_name,
    tenants::created_at,
    tenants::updated_at,
) = (
    tenants::id,
    tenants::display_name,
    tenants::created_at,
    tenants::updated_at,
);

/// Creates the tenant or renames it; true when it was created.
fn put(db: &mut Db, id: &str, display_name: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    db.transaction(|db| {
        let updated = with_conn!(db, |c| diesel::update(tenants::table.find(id))
            .set((
                tenants::display_name.eq(display_name),
                tenants::updated_at.eq(now)
            ))
            .execute(c))?;
        if updated > 0 {
            return Ok(false);
        }
        let inserted = with_conn!(db, |c| diesel::insert_into(tenants::table)
            .values((
                tenants::id.eq(id),
                tenants::display_name.eq(display_name),
                tenants::created_at.eq(now),
                tenants::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        Ok(inserted > 0)
    })
}

/// Removes what the tenant's operation keeps (token, sync state, leases, alert state); with
/// `purge` also its users, groups (their memberships and links go with them), conflicts, runs,
/// events and, except for `default`, the tenant itself. True when the tenant existed.
fn delete(db: &mut Db, id: &str, purge: bool) -> Result<bool, StoreError> {
    db.transaction(|db| {
        let exists: i64 = with_conn!(db, |c| tenants::table
            .filter(tenants::id.eq(id))
            .count()
            .get_result(c))?;
        if exists == 0 {
            return Ok(false);
        }
        with_conn!(db, |c| {
            diesel::delete(scim_tokens::table.filter(scim_tokens::tenant_id.eq(id))).execute(c)?;
            diesel::delete(sync_state::table.filter(sync_state::tenant_id.eq(id))).execute(c)?;
            diesel::delete(leases::table.filter(leases::tenant_id.eq(id))).execute(c)?;
            diesel::delete(alert_state::table.filter(alert_state::tenant_id.eq(id))).execute(c)?;
            // A deleted tenant's webhooks stop; its change feed stays with its data.
            diesel::delete(webhook_attempts::table.filter(webhook_attempts::tenant_id.eq(id))).execute(c)?;
            diesel::delete(webhooks::table.filter(webhooks::tenant_id.eq(id))).execute(c)
        })?;
        if purge {
            with_conn!(db, |c| {
                diesel::delete(user_links::table.filter(user_links::tenant_id.eq(id))).execute(c)?;
                diesel::delete(groups::table.filter(groups::tenant_id.eq(id))).execute(c)?;
                diesel::delete(users::table.filter(users::tenant_id.eq(id))).execute(c)?;
                diesel::delete(conflicts::table.filter(conflicts::tenant_id.eq(id))).execute(c)?;
                diesel::delete(events::table.filter(events::tenant_id.eq(id))).execute(c)?;
                diesel::delete(changes::table.filter(changes::tenant_id.eq(id))).execute(c)?;
                diesel::delete(runs::table.filter(runs::tenant_id.eq(id))).execute(c)
            })?;
            if id != TenantId::DEFAULT {
                with_conn!(db, |c| diesel::delete(tenants::table.find(id)).execute(c))?;
            }
        }
        Ok(true)
    })
}

/// Tenant-scoped facts about the tenant a store is bound to.
impl Store {
    /// How many user rows the store's tenant has (archived ones included).
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        self.scoped(|db, tenant| {
            Ok(with_conn!(db, |c| users::table
                .filter(users::tenant_id.eq(tenant))
                .count()
                .get_result(c))?)
        })
        .await
    }
}

/// Tenant CRUD: whole-database operations, independent of [`Store::tenant`].
impl Store {
    /// Creates `id` with `display_name`, or updates the name of an existing one; returns
    /// true when the tenant was created.
    pub async fn put_tenant(
        &self,
        id: &TenantId,
        display_name: &str,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let (id, display_name) = (id.clone(), display_name.to_owned());
        self.unit(move |db| put(db, id.as_str(), &display_name, now))
            .await
    }

    /// Creates `id` (named after itself) unless it exists; leaves an existing one alone.
    pub async fn ensure_tenant(
        &self,
        id: &TenantId,
        display_name: &str,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let (id, display_name) = (id.clone(), display_name.to_owned());
        self.unit(move |db| {
            with_conn!(db, |c| diesel::insert_into(tenants::table)
                .values((
                    tenants::id.eq(id.as_str()),
                    tenants::display_name.eq(&display_name),
                    tenants::created_at.eq(now),
                    tenants::updated_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(c))?;
            Ok(())
        })
        .await
    }

    /// One tenant, if it exists.
    pub async fn tenant_row(&self, id: &TenantId) -> Result<Option<TenantRow>, StoreError> {
        let id = id.clone();
        let raw: Option<Raw> = self
            .unit(move |db| {
                with_conn!(db, |c| Ok::<_, StoreError>(
                    tenants::table
                        .find(id.as_str())
                        .select(COLUMNS)
                        .first(c)
                        .optional()?
                ))
            })
            .await?;
        raw.map(row).transpose()
    }

    /// Every tenant, by id.
    pub async fn tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        let raw: Vec<Raw> = self
            .unit(|db| {
                with_conn!(db, |c| Ok::<_, StoreError>(
                    tenants::table.order(tenants::id).select(COLUMNS).load(c)?
                ))
            })
            .await?;
        raw.into_iter().map(row).collect()
    }

    /// Deletes the tenant's operational state: its SCIM token (revoked), sync state, leases
    /// and alert state. Its users and groups stay unless `purge`, which removes them (with
    /// their memberships and links), its conflicts, runs and events, and the tenant row
    /// itself (`default` always stays: the application's own inserts land there). Returns
    /// false when there was no such tenant.
    pub async fn delete_tenant(&self, id: &TenantId, purge: bool) -> Result<bool, StoreError> {
        let id = id.clone();
        self.unit(move |db| delete(db, id.as_str(), purge)).await
    }
}
