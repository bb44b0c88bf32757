//! What the supervisor keeps between runs: each connector's failure streak and quarantine,
//! and the state of its alert conditions.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alert_state, conflicts, sync_state};
use super::{with_conn, Db, StoreError};
use crate::supervise::alerts::{AlertRow, Condition};
use crate::supervise::quarantine::Health;

pub fn load_health(db: &mut Db, connector: &str) -> Result<Health, StoreError> {
    let row: Option<(i64, i64, Option<NaiveDateTime>)> = with_conn!(db, c => sync_state::table
        .find(connector)
        .select((sync_state::consecutive_failures, sync_state::quarantine_level, sync_state::quarantined_until))
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

pub fn save_health(
    db: &mut Db,
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
    with_conn!(db, c => diesel::insert_into(sync_state::table)
        .values((sync_state::connector.eq(connector), values))
        .on_conflict(sync_state::connector)
        .do_update()
        .set(values)
        .execute(c))?;
    Ok(())
}

pub fn alert_rows(db: &mut Db, connector: &str) -> Result<HashMap<&'static str, AlertRow>, StoreError> {
    let rows: Vec<(String, bool, String, NaiveDateTime, Option<NaiveDateTime>)> = with_conn!(db, c => alert_state::table
        .filter(alert_state::connector.eq(connector))
        .select((alert_state::condition, alert_state::active, alert_state::detail, alert_state::raised_at, alert_state::last_sent_at))
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

pub fn save_alert(
    db: &mut Db,
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
    with_conn!(db, c => diesel::insert_into(alert_state::table)
        .values((alert_state::connector.eq(connector), alert_state::condition.eq(condition.as_str()), values))
        .on_conflict((alert_state::connector, alert_state::condition))
        .do_update()
        .set(values)
        .execute(c))?;
    Ok(())
}

pub fn open_conflicts(db: &mut Db, connector: &str) -> Result<i64, StoreError> {
    Ok(with_conn!(db, c => conflicts::table
        .filter(conflicts::connector.eq(connector).and(conflicts::status.eq("open")))
        .count()
        .get_result(c))?)
}
