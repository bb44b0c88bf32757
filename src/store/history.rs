//! Reading runs one at a time or as lists, for the admin API (the CLI's
//! `status` reads them through [`Store::status`]). Every query is scoped to the store's
//! tenant: a run id of another tenant reads as absent.

use diesel::prelude::*;

use super::runs::{recent_runs, RunRow};
use super::schema::runs;
use super::{with_conn, Db, Store, StoreError};

impl Store {
    /// One run of this tenant by its id (run ids are global).
    pub async fn run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        self.scoped(move |db, tenant| run(db, tenant, id)).await
    }

    /// This tenant's newest `limit` runs, of one connector or of all, newest first.
    pub async fn runs(&self, connector: Option<String>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        self.scoped(move |db, tenant| recent_runs(db, tenant, connector.as_deref(), limit.max(1)))
            .await
    }

    /// The id of `connector`'s run still marked running, if any.
    pub async fn running_run(&self, connector: &str) -> Result<Option<i64>, StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, tenant| running(db, tenant, &connector))
            .await
    }
}

fn run(db: &mut Db, tenant: &str, id: i64) -> Result<Option<RunRow>, StoreError> {
    Ok(with_conn!(db, |c| runs::table
        .filter(runs::id.eq(id).and(runs::tenant_id.eq(tenant)))
        .select(RunRow::as_select())
        .first(c)
        .optional())?)
}

fn running(db: &mut Db, tenant: &str, connector: &str) -> Result<Option<i64>, StoreError> {
    Ok(with_conn!(db, |c| runs::table
        .filter(
            runs::tenant_id
                .eq(tenant)
                .and(runs::connector.eq(connector))
                .and(runs::status.eq("running"))
        )
        .order(runs::id.desc())
        .select(runs::id)
        .first(c)
        .optional())?)
}
