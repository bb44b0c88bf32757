//! Leases: one process at a time runs a connector, however many share the database. A lease
//! is a row with an expiry, renewed while the run lasts; a crashed holder's lease expires and
//! another process takes over. It works the same on SQLite and PostgreSQL.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::schema::leases;
use super::{now, with_conn, Db, Store, StoreError};

impl Store {
    /// Takes `connector`'s lease for `holder` for `ttl` (see [`acquire`]).
    pub async fn acquire_lease(
        &self,
        connector: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (connector, holder) = (connector.to_owned(), holder.to_owned());
        self.scoped(move |db, t| acquire(db, t, &connector, &holder, ttl, now()))
            .await
    }

    /// Extends our lease by `ttl` from now; false when it is no longer ours.
    pub async fn renew_lease(
        &self,
        connector: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (connector, holder) = (connector.to_owned(), holder.to_owned());
        self.scoped(move |db, t| renew(db, t, &connector, &holder, ttl, now()))
            .await
    }

    pub async fn release_lease(&self, connector: &str, holder: &str) -> Result<(), StoreError> {
        let (connector, holder) = (connector.to_owned(), holder.to_owned());
        self.scoped(move |db, t| release(db, t, &connector, &holder))
            .await
    }

    /// Who holds `connector`'s lease, and until when, if anyone does.
    pub async fn lease_holder(&self, connector: &str) -> Result<Option<(String, NaiveDateTime)>, StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, t| holder_until(db, t, &connector, now()))
            .await
    }
}

/// Takes the lease of `connector` for `holder` until `now + ttl`, when it is free, expired, or
/// already ours. Returns whether we hold it.
pub(crate) fn acquire(
    db: &mut Db,
    tenant: &str,
    connector: &str,
    holder: &str,
    ttl: Duration,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let until = now + ttl;
    let taken = with_conn!(db, |c| c.transaction::<_, diesel::result::Error, _>(|c| {
        // An expired lease is nobody's.
        diesel::delete(
            leases::table.filter(
                leases::tenant_id
                    .eq(tenant)
                    .and(leases::connector.eq(connector))
                    .and(leases::expires_at.lt(now)),
            ),
        )
        .execute(c)?;
        // Free: the insert wins (a concurrent insert waits on the key and then does nothing).
        let inserted = diesel::insert_into(leases::table)
            .values((
                leases::tenant_id.eq(tenant),
                leases::connector.eq(connector),
                leases::holder.eq(holder),
                leases::expires_at.eq(until),
            ))
            .on_conflict_do_nothing()
            .execute(c)?;
        if inserted == 1 {
            return Ok(true);
        }
        // Held: only by us may it be extended.
        let ours = diesel::update(
            leases::table.filter(
                leases::tenant_id
                    .eq(tenant)
                    .and(leases::connector.eq(connector))
                    .and(leases::holder.eq(holder)),
            ),
        )
        .set(leases::expires_at.eq(until))
        .execute(c)?;
        Ok(ours == 1)
    }))?;
    Ok(taken)
}

/// Extends our lease; false when it is no longer ours (it expired and someone took it).
pub(crate) fn renew(
    db: &mut Db,
    tenant: &str,
    connector: &str,
    holder: &str,
    ttl: Duration,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let renewed = with_conn!(db, |c| diesel::update(
        leases::table.filter(
            leases::tenant_id
                .eq(tenant)
                .and(leases::connector.eq(connector))
                .and(leases::holder.eq(holder))
        )
    )
    .set(leases::expires_at.eq(now + ttl))
    .execute(c))?;
    Ok(renewed == 1)
}

/// Gives the lease back.
pub(crate) fn release(db: &mut Db, tenant: &str, connector: &str, holder: &str) -> Result<(), StoreError> {
    with_conn!(db, |c| diesel::delete(
        leases::table.filter(
            leases::tenant_id
                .eq(tenant)
                .and(leases::connector.eq(connector))
                .and(leases::holder.eq(holder))
        )
    )
    .execute(c))?;
    Ok(())
}

/// The current holder and the lease's expiry, when it is held and not expired.
pub(crate) fn holder_until(
    db: &mut Db,
    tenant: &str,
    connector: &str,
    now: NaiveDateTime,
) -> Result<Option<(String, NaiveDateTime)>, StoreError> {
    Ok(with_conn!(db, |c| leases::table
        .filter(
            leases::tenant_id
                .eq(tenant)
                .and(leases::connector.eq(connector))
                .and(leases::expires_at.ge(now))
        )
        .select((leases::holder, leases::expires_at))
        .first::<(String, NaiveDateTime)>(c)
        .optional())?)
}
