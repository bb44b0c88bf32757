//! What the supervisor keeps between runs: each connector's failure streak and quarantine,
//! and the state of its alert conditions. The types live here, with their rows, so the store
//! depends on no layer above it; `supervise` decides what they mean.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alert_state, conflicts, sync_state};
use super::{with_conn, Db, Store, StoreError};

/// A connector's failure streak, as stored in `sync_state`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub consecutive_failures: u32,
    /// How many quarantine retries have failed (indexes the intervals).
    pub level: u32,
    pub quarantined_until: Option<NaiveDateTime>,
}

impl Health {
    pub fn is_quarantined(&self) -> bool {
        self.quarantined_until.is_some()
    }
}

/// What an operator is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    RunFailed,
    Quarantined,
    Held,
    Conflicts,
}

impl Condition {
    pub const ALL: [Condition; 4] = [
        Condition::RunFailed,
        Condition::Quarantined,
        Condition::Held,
        Condition::Conflicts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::RunFailed => "run_failed",
            Condition::Quarantined => "quarantined",
            Condition::Held => "held",
            Condition::Conflicts => "conflicts",
        }
    }
}

/// A condition as stored in `alert_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub active: bool,
    pub detail: String,
    pub raised_at: NaiveDateTime,
    /// When the last mail about it went out; `None` while a mail is still owed.
    pub last_sent_at: Option<NaiveDateTime>,
}

/// A connector's alert conditions as stored, by [`Condition::as_str`].
pub type AlertRows = HashMap<&'static str, AlertRow>;

impl Store {
    /// The connector's stored failure streak and quarantine.
    pub async fn health(&self, connector: &str) -> Result<Health, StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, t| load_health(db, t, &connector)).await
    }

    /// The stored health of each of `connectors`, on one connection.
    pub async fn health_of(&self, connectors: &[String]) -> Result<Vec<Health>, StoreError> {
        let connectors = connectors.to_vec();
        self.scoped(move |db, t| connectors.iter().map(|c| load_health(db, t, c)).collect())
            .await
    }

    /// Stores the health after a run, with the run's error (if it failed).
    pub async fn save_health(
        &self,
        connector: &str,
        health: &Health,
        last_error: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let (connector, health) = (connector.to_owned(), health.clone());
        let last_error = last_error.map(str::to_owned);
        self.scoped(move |db, t| save_health(db, t, &connector, &health, last_error.as_deref(), now))
            .await
    }

    /// The connector's alert conditions and its count of open conflicts, on one connection.
    pub async fn alert_state(&self, connector: &str) -> Result<(AlertRows, i64), StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, t| Ok((alert_rows(db, t, &connector)?, open_conflicts(db, t, &connector)?)))
            .await
    }

    pub async fn save_alert(
        &self,
        connector: &str,
        condition: Condition,
        row: &AlertRow,
    ) -> Result<(), StoreError> {
        let (connector, row) = (connector.to_owned(), row.clone());
        self.scoped(move |db, t| save_alert(db, t, &connector, condition, &row))
            .await
    }

    /// How many conflicts of `connector` are open.
    pub async fn open_conflict_count(&self, connector: &str) -> Result<i64, StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, t| open_conflicts(db, t, &connector)).await
    }
}

pub(crate) fn load_health(db: &mut Db, tenant: &str, connector: &str) -> Result<Health, StoreError> {
    let row: Option<(i64, i64, Option<NaiveDateTime>)> = with_conn!(db, |c| sync_state::table
        .find((tenant, connector))
        .select((
            sync_state::consecutive_failures,
            sync_state::quarantine_level,
            sync_state::quarantined_until
        ))
        .first(c)
        .optional())?;
    Ok(row
        .map(|(failures, level, until)| Health {
            consecutive_failures: u32::try_from(failures).unwrap_or(u32::MAX),
            level: u32::try_from(level).unwrap_or(u32::MAX),
            quarantined_until: until,
        })
        .unwrap_or_default())
}

pub(crate) fn save_health(
    db: &mut Db,
    tenant: &str,
    connector: &str,
    health: &Health,
    last_error: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let values = (
        sync_state::consecutive_failures.eq(i64::from(health.consecutive_failures)),
        sync_state::quarantine_level.eq(i64::from(health.level)),
        sync_state::quarantined_until.eq(health.quarantined_until),
        sync_state::last_error.eq(last_error),
        sync_state::updated_at.eq(now),
    );
    with_conn!(db, |c| diesel::insert_into(sync_state::table)
        .values((
            sync_state::tenant_id.eq(tenant),
            sync_state::connector.eq(connector),
            values
        ))
        .on_conflict((sync_state::tenant_id, sync_state::connector))
        .do_update()
        .set(values)
        .execute(c))?;
    Ok(())
}

pub(crate) fn alert_rows(db: &mut Db, tenant: &str, connector: &str) -> Result<AlertRows, StoreError> {
    let rows: Vec<(String, bool, String, NaiveDateTime, Option<NaiveDateTime>)> =
        with_conn!(db, |c| alert_state::table
            .filter(
                alert_state::tenant_id
                    .eq(tenant)
                    .and(alert_state::connector.eq(connector))
            )
            .select((
                alert_state::condition,
                alert_state::active,
                alert_state::detail,
                alert_state::raised_at,
                alert_state::last_sent_at
            ))
            .load(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(condition, active, detail, raised_at, last_sent_at)| {
            let known = Condition::ALL.iter().find(|c| c.as_str() == condition)?;
            Some((
                known.as_str(),
                AlertRow {
                    active,
                    detail,
                    raised_at,
                    last_sent_at,
                },
            ))
        })
        .collect())
}

pub(crate) fn save_alert(
    db: &mut Db,
    tenant: &str,
    connector: &str,
    condition: Condition,
    row: &AlertRow,
) -> Result<(), StoreError> {
    let values = (
        alert_state::active.eq(row.active),
        alert_state::detail.eq(&row.detail),
        alert_state::raised_at.eq(row.raised_at),
        alert_state::last_sent_at.eq(row.last_sent_at),
    );
    with_conn!(db, |c| diesel::insert_into(alert_state::table)
        .values((
            alert_state::tenant_id.eq(tenant),
            alert_state::connector.eq(connector),
            alert_state::condition.eq(condition.as_str()),
            values
        ))
        .on_conflict((
            alert_state::tenant_id,
            alert_state::connector,
            alert_state::condition
        ))
        .do_update()
        .set(values)
        .execute(c))?;
    Ok(())
}

pub(crate) fn open_conflicts(db: &mut Db, tenant: &str, connector: &str) -> Result<i64, StoreError> {
    Ok(with_conn!(db, |c| conflicts::table
        .filter(
            conflicts::tenant_id
                .eq(tenant)
                .and(conflicts::connector.eq(connector))
                .and(conflicts::status.eq("open"))
        )
        .count()
        .get_result(c))?)
}
