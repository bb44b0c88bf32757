//! Reading runs and conflicts one at a time or as lists, for the admin API (the CLI's
//! `status` reads them through [`Store::status`]).

use diesel::prelude::*;

use super::runs::{ConflictRow, RunRow};
use super::schema::runs;
use super::{with_conn, Db, Store, StoreError};

impl Store {
    /// One run by its id (run ids are global).
    pub async fn run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        self.unit(move |db| run(db, id)).await
    }

    /// The newest `limit` runs, of one connector or of all, newest first.
    pub async fn runs(&self, connector: Option<String>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        self.unit(move |db| list(db, connector.as_deref(), limit)).await
    }

    /// The id of `connector`'s run still marked running, if any.
    pub async fn running_run(&self, connector: &str) -> Result<Option<i64>, StoreError> {
        let connector = connector.to_owned();
        self.unit(move |db| running(db, &connector)).await
    }

    /// Every open conflict, oldest first.
    pub async fn open_conflicts(&self) -> Result<Vec<ConflictRow>, StoreError> {
        self.unit(super::runs::open_conflicts).await
    }
}

fn run(db: &mut Db, id: i64) -> Result<Option<RunRow>, StoreError> {
    Ok(with_conn!(db, |c| runs::table
        .find(id)
        .select(RunRow::as_select())
        .first(c)
        .optional())?)
}

fn list(db: &mut Db, connector: Option<&str>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
    Ok(with_conn!(db, |c| {
        let mut query = runs::table.select(RunRow::as_select()).into_boxed();
        if let Some(connector) = connector {
            query = query.filter(runs::connector.eq(connector.to_owned()));
        }
        query.order(runs::id.desc()).limit(limit.max(1)).load(c)
    })?)
}

fn running(db: &mut Db, connector: &str) -> Result<Option<i64>, StoreError> {
    Ok(with_conn!(db, |c| runs::table
        .filter(runs::connector.eq(connector).and(runs::status.eq("running")))
        .order(runs::id.desc())
        .select(runs::id)
        .first(c)
        .optional())?)
}
