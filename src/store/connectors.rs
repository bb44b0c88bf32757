//! Connectors stored in the database: their settings as JSON, already sealed (the store never
//! sees a plain secret and knows nothing of keys but the id it is told).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::connectors;
use super::{now, with_conn, Db, Store, StoreError};
use crate::tenant::TenantId;

/// One stored connector.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConnector {
    pub tenant: TenantId,
    pub name: String,
    /// The settings, each inline secret already replaced by its envelope.
    pub settings: serde_json::Value,
    /// The key the settings' envelopes are sealed with; `None` when they carry none.
    pub key_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    Updated,
}

/// A row as read.
type Row = (
    String,
    String,
    String,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
);

impl Store {
    /// Creates or replaces `(tenant, name)`'s settings.
    pub async fn put_connector(
        &self,
        tenant: &TenantId,
        name: &str,
        settings: &serde_json::Value,
        key_id: Option<&str>,
    ) -> Result<Put, StoreError> {
        let (tenant, name, key_id) = (tenant.to_string(), name.to_owned(), key_id.map(str::to_owned));
        let settings = serde_json::to_string(settings)?;
        self.unit(move |db| {
            db.write_transaction(|db| put(db, &tenant, &name, &settings, key_id.as_deref(), now()))
        })
        .await
    }

    pub async fn stored_connector(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<StoredConnector>, StoreError> {
        let (tenant, name) = (tenant.to_string(), name.to_owned());
        self.unit(move |db| {
            let query = connectors::table
                .filter(connectors::tenant_id.eq(&tenant).and(connectors::name.eq(&name)))
                .select(columns());
            let row: Option<Row> = with_conn!(db, |c| query.first(c).optional())?;
            row.map(stored).transpose()
        })
        .await
    }

    /// Every stored connector of every tenant (what a daemon runs), by tenant and name.
    pub async fn stored_connectors(&self) -> Result<Vec<StoredConnector>, StoreError> {
        self.unit(|db| all(db, None)).await
    }

    /// One tenant's stored connectors, by name.
    pub async fn stored_connectors_of(&self, tenant: &TenantId) -> Result<Vec<StoredConnector>, StoreError> {
        let tenant = tenant.to_string();
        self.unit(move |db| all(db, Some(&tenant))).await
    }

    /// Removes `(tenant, name)`; false when there was none.
    pub async fn delete_connector(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let (tenant, name) = (tenant.to_string(), name.to_owned());
        self.unit(move |db| {
            let rows =
                connectors::table.filter(connectors::tenant_id.eq(&tenant).and(connectors::name.eq(&name)));
            let deleted = with_conn!(db, |c| diesel::delete(rows).execute(c))?;
            Ok(deleted == 1)
        })
        .await
    }

    /// Rewrites every stored secret in one transaction: `connector` returns the new settings
    /// and key id of a stored connector, `webhook` the new sealed secret and key id of an
    /// endpoint; `None` leaves it as it is. Any error rolls everything back. `updated_at`
    /// stays: the settings mean the same.
    pub async fn reseal_secrets<E>(
        &self,
        mut connector: impl FnMut(&StoredConnector) -> Result<Option<(serde_json::Value, Option<String>)>, E>
            + Send
            + 'static,
        webhook: impl FnMut(&super::webhooks::WebhookRow) -> Result<Option<(String, Option<String>)>, E>
            + Send
            + 'static,
    ) -> Result<Resealed, E>
    where
        E: From<StoreError> + Send + 'static,
    {
        self.unit(move |db| {
            db.write_transaction(|db| {
                let mut done = Resealed::default();
                for stored in all(db, None)? {
                    let Some((settings, key_id)) = connector(&stored)? else {
                        done.connectors_without_secret += 1;
                        continue;
                    };
                    let settings = serde_json::to_string(&settings).map_err(StoreError::from)?;
                    let row = connectors::table.filter(
                        connectors::tenant_id
                            .eq(stored.tenant.as_str())
                            .and(connectors::name.eq(&stored.name)),
                    );
                    let update = diesel::update(row)
                        .set((connectors::settings.eq(&settings), connectors::key_id.eq(&key_id)));
                    with_conn!(db, |c| update.execute(c)).map_err(StoreError::from)?;
                    done.connectors += 1;
                }
                done.webhooks = super::webhooks::reseal(db, webhook)?;
                Ok(done)
            })
        })
        .await
    }
}

/// What [`Store::reseal_secrets`] rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    pub connectors: usize,
    /// Stored connectors with no inline secret (references only), left as they are.
    pub connectors_without_secret: usize,
    /// Endpoints whose signing secret was re-encrypted.
    pub webhooks: usize,
}

fn put(
    db: &mut Db,
    tenant: &str,
    name: &str,
    settings: &str,
    key_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<Put, StoreError> {
    let row = connectors::table.filter(connectors::tenant_id.eq(tenant).and(connectors::name.eq(name)));
    let update = diesel::update(row).set((
        connectors::settings.eq(settings),
        connectors::key_id.eq(key_id),
        connectors::updated_at.eq(now),
    ));
    if with_conn!(db, |c| update.execute(c))? == 1 {
        return Ok(Put::Updated);
    }
    let insert = diesel::insert_into(connectors::table).values((
        connectors::tenant_id.eq(tenant),
        connectors::name.eq(name),
        connectors::settings.eq(settings),
        connectors::key_id.eq(key_id),
        connectors::created_at.eq(now),
        connectors::updated_at.eq(now),
    ));
    with_conn!(db, |c| insert.execute(c))?;
    Ok(Put::Created)
}

fn all(db: &mut Db, tenant: Option<&str>) -> Result<Vec<StoredConnector>, StoreError> {
    // The body is built once per backend (`with_conn!`), as a boxed query is bound to one.
    let rows: Vec<Row> = with_conn!(db, |c| {
        let mut query = connectors::table
            .select(columns())
            .order((connectors::tenant_id, connectors::name))
            .into_boxed();
        if let Some(tenant) = tenant {
            query = query.filter(connectors::tenant_id.eq(tenant.to_owned()));
        }
        query.load(c)
    })?;
    rows.into_iter().map(stored).collect()
}

#[allow(clippy::type_complexity)]
fn columns() -> (
    connectors::tenant_id,
    connectors::name,
    connectors::settings,
    connectors::key_id,
    connectors::created_at,
    connectors::updated_at,
) {
    (
        connectors::tenant_id,
        connectors::name,
        connectors::settings,
        connectors::key_id,
        connectors::created_at,
        connectors::updated_at,
    )
}

fn stored(
    (tenant, name, settings, key_id, created_at, updated_at): Row,
) -> Result<StoredConnector, StoreError> {
    let settings = serde_json::from_str(&settings)
        .map_err(|e| StoreError::BadData(format!("connector {tenant}/{name}: settings are not JSON: {e}")))?;
    let tenant = TenantId::parse(&tenant)
        .map_err(|e| StoreError::BadData(format!("connector {tenant}/{name}: tenant id: {e}")))?;
    Ok(StoredConnector {
        tenant,
        name,
        settings,
        key_id,
        created_at,
        updated_at,
    })
}
