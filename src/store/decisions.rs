//! Decisions a person makes through the admin API or the console, each in the event log with
//! who made it: letting a held run through (approve), refusing it (reject), asking for a run,
//! and the SCIM token's rotation and revocation.

use diesel::prelude::*;
use serde_json::{json, Value};

use super::models::NewEvent;
use super::runs::{approve, RunStatus};
use super::schema::{events, runs, sync_state};
use super::{now, with_conn, Db, Store, StoreError};

/// `runs.status` of a held run a person refused: its withheld changes never apply.
pub const REJECTED: &str = "rejected";

/// `events.connector` of a decision about the tenant rather than one connector.
pub const TENANT_SCOPE: &str = "admin";

/// What a decision is about, in the event log.
#[derive(Debug, Clone)]
pub struct Action {
    /// The connector, or [`TENANT_SCOPE`].
    pub connector: String,
    /// The run it concerns, if any.
    pub run_id: Option<i64>,
    /// `guard_approved`, `held_run_rejected`, `run_requested`, `scim_token_created`, ...
    pub action: &'static str,
    /// Who decided: `admin` for the API's token, `console:<operator>` for the console.
    pub actor: String,
    /// More to say, merged into the event's detail next to `by`.
    pub detail: Value,
}

fn write(db: &mut Db, tenant: &str, action: &Action) -> Result<(), StoreError> {
    let mut detail = json!({ "by": action.actor });
    if let (Some(out), Value::Object(more)) = (detail.as_object_mut(), &action.detail) {
        out.extend(more.clone());
    }
    let (object_type, object_key) = if action.connector == TENANT_SCOPE {
        ("tenant", tenant.to_owned())
    } else {
        ("connector", action.connector.clone())
    };
    let event = NewEvent {
        tenant_id: tenant,
        run_id: action.run_id,
        connector: &action.connector,
        object_type,
        object_id: action.run_id.unwrap_or(0),
        object_key,
        action: action.action,
        detail: detail.to_string(),
        created_at: now(),
    };
    with_conn!(db, |c| diesel::insert_into(events::table)
        .values(&event)
        .execute(c))?;
    Ok(())
}

/// The connector's latest run, when the deletion guard held it.
fn held_run(db: &mut Db, tenant: &str, connector: &str) -> Result<Option<i64>, StoreError> {
    let latest: Option<(i64, String)> = with_conn!(db, |c| runs::table
        .filter(runs::tenant_id.eq(tenant).and(runs::connector.eq(connector)))
        .order(runs::id.desc())
        .select((runs::id, runs::status))
        .first(c)
        .optional())?;
    Ok(latest.and_then(|(id, status)| (status == RunStatus::Held.as_str()).then_some(id)))
}

impl Store {
    /// Records `action` in the tenant's event log.
    pub async fn record_action(&self, action: Action) -> Result<(), StoreError> {
        self.scoped(move |db, t| write(db, t, &action)).await
    }

    /// Lets the next run of `connector` through the deletion guard once, recorded as decided
    /// by `actor` (with the held run it answers, if the latest run is one).
    pub async fn approve_as(&self, connector: &str, actor: &str) -> Result<Option<i64>, StoreError> {
        let (connector, actor) = (connector.to_owned(), actor.to_owned());
        self.scoped(move |db, t| {
            db.transaction(|db| {
                let held = held_run(db, t, &connector)?;
                approve(db, t, &connector, now())?;
                let action = Action {
                    connector: connector.clone(),
                    run_id: held,
                    action: "guard_approved",
                    actor: actor.clone(),
                    detail: json!({}),
                };
                write(db, t, &action)?;
                Ok(held)
            })
        })
        .await
    }

    /// Refuses the connector's held run: the run is marked rejected, any approval given for
    /// the next run is withdrawn, so the withheld changes do not apply; the next run is
    /// judged by the guard afresh. `None` (and nothing written) when the latest run is not
    /// held.
    pub async fn reject_held(&self, connector: &str, actor: &str) -> Result<Option<i64>, StoreError> {
        let (connector, actor) = (connector.to_owned(), actor.to_owned());
        self.scoped(move |db, t| {
            db.transaction(|db| {
                let Some(run) = held_run(db, t, &connector)? else {
                    return Ok(None);
                };
                with_conn!(db, |c| {
                    diesel::update(runs::table.find(run).filter(runs::tenant_id.eq(t)))
                        .set(runs::status.eq(REJECTED))
                        .execute(c)?;
                    let state = sync_state::table.filter(
                        sync_state::tenant_id
                            .eq(t)
                            .and(sync_state::connector.eq(&connector)),
                    );
                    diesel::update(state)
                        .set((
                            sync_state::guard_approved.eq(false),
                            sync_state::updated_at.eq(now()),
                        ))
                        .execute(c)
                })?;
                let action = Action {
                    connector: connector.clone(),
                    run_id: Some(run),
                    action: "held_run_rejected",
                    actor: actor.clone(),
                    detail: json!({}),
                };
                write(db, t, &action)?;
                Ok(Some(run))
            })
        })
        .await
    }
}
