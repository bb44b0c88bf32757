//! Writing a pushed change: the same matcher, planner and store as the pull connectors, with
//! source `scim`, over only the rows the request touches.

use idsync_source::{ChangeSet, Fetched, UserRecord};

use super::error::ScimError;
use crate::planner::{self, Plan, PlanSettings};
use crate::store::scim::{Keys, ScimUserRow, SCIM_SOURCE};
use crate::store::{self, ApplyContext, Conn, CursorUpdate};

/// Plans `changes` against the rows `keys` names and applies the plan. A matcher conflict is
/// a 409 and nothing is written.
pub fn push(
    db: &mut Conn<'_>,
    changes: ChangeSet,
    keys: &Keys,
    settings: &PlanSettings,
) -> Result<Plan, ScimError> {
    let local = db.load_local_for(SCIM_SOURCE, keys)?;
    let now = store::now();
    let plan = planner::plan(SCIM_SOURCE, Fetched::Changes(changes), &local, settings, now);
    if let Some(c) = plan.conflicts.first() {
        return Err(ScimError::uniqueness(format!(
            "userName {:?} cannot be taken: {} ({})",
            c.record.upn,
            c.conflict.detail,
            c.conflict.reason.as_str()
        )));
    }
    let ctx = ApplyContext {
        run_id: None,
        run_end: None,
        now,
        cursor: CursorUpdate::Keep,
    };
    db.apply(&plan, &ctx)?;
    Ok(plan)
}

/// The user's current values as a record under `key`.
pub fn record_of(u: &ScimUserRow, key: &str) -> UserRecord {
    UserRecord {
        attributes: u.attributes.clone(),
        external_id: key.to_owned(),
        upn: u.upn.clone(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        given_name: u.given_name.clone(),
        family_name: u.family_name.clone(),
        job_title: u.job_title.clone(),
        department: u.department.clone(),
        preferred_language: u.preferred_language.clone(),
        enabled: u.active,
    }
}

/// Keys for loading a user record's candidates.
pub fn keys_for(record: &UserRecord, extra_user: Option<i64>) -> Keys {
    Keys {
        external_ids: vec![record.external_id.clone()],
        upns: vec![record.upn.clone()],
        emails: record.email.iter().cloned().collect(),
        user_ids: extra_user.into_iter().collect(),
        ..Keys::default()
    }
}

/// The `scim` link key of a user the client found (by GET) but never wrote: links it first,
/// as it is, so the change that follows updates this user whatever it renames.
pub fn ensure_linked(db: &mut Conn<'_>, u: &ScimUserRow) -> Result<String, ScimError> {
    if let Some((key, _)) = db.scim_link_of(u.id)? {
        return Ok(key);
    }
    let key = u
        .external_id
        .clone()
        .filter(|_| u.source.is_none())
        .unwrap_or_else(super::resource::generated_key);
    let record = record_of(u, &key);
    let keys = keys_for(&record, Some(u.id));
    push(
        db,
        ChangeSet {
            users: vec![record],
            ..ChangeSet::default()
        },
        &keys,
        &PlanSettings::default(),
    )?;
    match db.scim_link_of(u.id)? {
        Some((key, _)) => Ok(key),
        None => Err(ScimError::uniqueness(format!(
            "user {} could not be linked to SCIM: another user holds its userName or email",
            u.scim_id
        ))),
    }
}
