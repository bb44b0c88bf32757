//! Conflicts settled by a person: link the record to a user, keep it apart from the users it
//! matched, or dismiss it. Each is one transaction that closes the conflict and writes the
//! decision, with who made it, to the event log. The next run acts on it: a link is found by
//! the matcher first, a record kept apart is never offered those users again (and becomes a
//! user of its own when its keys are free), a dismissed conflict is not raised again.

use diesel::prelude::*;
use serde_json::json;
use thiserror::Error;

use super::models::{NewEvent, NewLink};
use super::runs::ConflictRow;
use super::schema::{conflicts, events, user_links, users};
use super::{now, with_conn, Db, Store, StoreError};

/// `conflicts.status` of a conflict settled by linking.
pub const LINKED: &str = "linked";
/// `conflicts.status` of a conflict settled by keeping the record apart.
pub const KEPT_SEPARATE: &str = "kept_separate";
/// `conflicts.status` of a dismissed conflict.
pub const DISMISSED: &str = "dismissed";

/// What a person decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The record is this local user.
    Link { user_id: i64 },
    /// The record is none of the users it matched.
    KeepSeparate,
    /// Nothing to do; do not raise it again.
    Dismiss,
}

impl Resolution {
    fn status(self) -> &'static str {
        match self {
            Resolution::Link { .. } => LINKED,
            Resolution::KeepSeparate => KEPT_SEPARATE,
            Resolution::Dismiss => DISMISSED,
        }
    }
}

/// Why a resolution was refused, by what the caller should do.
#[derive(Debug, Error)]
pub enum ResolveError {
    /// No open conflict has this id in this tenant.
    #[error("no open conflict {0}")]
    NotFound(i64),
    /// The user to link to does not exist in this tenant.
    #[error("no user {0}")]
    NoUser(i64),
    /// The link would merge two identities of one source.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for ResolveError {
    fn from(e: diesel::result::Error) -> ResolveError {
        ResolveError::Store(e.into())
    }
}

impl Store {
    /// Settles open conflict `id` as `resolution`, recorded as decided by `actor`.
    pub async fn resolve_conflict(
        &self,
        id: i64,
        resolution: Resolution,
        actor: &str,
    ) -> Result<ConflictRow, ResolveError> {
        let actor = actor.to_owned();
        self.scoped(move |db, tenant| resolve(db, tenant, id, resolution, &actor))
            .await
    }
}

fn resolve(
    db: &mut Db,
    tenant: &str,
    id: i64,
    resolution: Resolution,
    actor: &str,
) -> Result<ConflictRow, ResolveError> {
    let mut outcome = Err(ResolveError::NotFound(id));
    let written = db.transaction(|db| {
        outcome = settle(db, tenant, id, resolution, actor);
        // A refusal rolls back whatever was written before it.
        match &outcome {
            Ok(_) => Ok(()),
            Err(_) => Err(StoreError::BadData("resolution refused".into())),
        }
    });
    match (written, outcome) {
        (Ok(()), outcome) => outcome,
        (Err(_), Err(refused)) => Err(refused),
        (Err(e), Ok(_)) => Err(e.into()),
    }
}

fn settle(
    db: &mut Db,
    tenant: &str,
    id: i64,
    resolution: Resolution,
    actor: &str,
) -> Result<ConflictRow, ResolveError> {
    let open = conflicts::table.filter(
        conflicts::id
            .eq(id)
            .and(conflicts::tenant_id.eq(tenant))
            .and(conflicts::status.eq("open")),
    );
    let conflict: ConflictRow =
        with_conn!(db, |c| open.select(ConflictRow::as_select()).first(c).optional())?
            .ok_or(ResolveError::NotFound(id))?;
    let now = now();
    if let Resolution::Link { user_id } = resolution {
        link(db, tenant, &conflict, user_id, now)?;
    }
    with_conn!(db, |c| diesel::update(conflicts::table.find(id))
        .set((
            conflicts::status.eq(resolution.status()),
            conflicts::resolved_at.eq(now)
        ))
        .execute(c))?;
    let user_id = match resolution {
        Resolution::Link { user_id } => Some(user_id),
        _ => conflict.local_user_id,
    };
    let event = NewEvent {
        tenant_id: tenant,
        run_id: None,
        connector: &conflict.connector,
        object_type: "user",
        object_id: user_id.unwrap_or(0),
        object_key: conflict.upn.clone().unwrap_or_default(),
        action: "conflict_resolved",
        detail: json!({
            "conflict_id": id,
            "resolution": resolution.status(),
            "external_id": conflict.external_id,
            "user_id": user_id,
            "by": actor,
        })
        .to_string(),
        created_at: now,
    };
    with_conn!(db, |c| diesel::insert_into(events::table)
        .values(&event)
        .execute(c))?;
    Ok(conflict)
}

/// Links the conflict's record to `user_id`: the user must exist in the tenant, and neither
/// it nor the record may already be linked to another identity of the source.
fn link(
    db: &mut Db,
    tenant: &str,
    conflict: &ConflictRow,
    user_id: i64,
    now: chrono::NaiveDateTime,
) -> Result<(), ResolveError> {
    let exists: i64 = with_conn!(db, |c| users::table
        .filter(users::id.eq(user_id).and(users::tenant_id.eq(tenant)))
        .count()
        .get_result(c))?;
    if exists == 0 {
        return Err(ResolveError::NoUser(user_id));
    }
    let source = conflict.connector.as_str();
    let taken: Vec<(String, i64)> = with_conn!(db, |c| user_links::table
        .filter(
            user_links::tenant_id
                .eq(tenant)
                .and(user_links::source.eq(source))
                .and(
                    user_links::user_id
                        .eq(user_id)
                        .or(user_links::external_id.eq(&conflict.external_id))
                )
        )
        .select((user_links::external_id, user_links::user_id))
        .load(c))?;
    if let Some((external_id, holder)) = taken.first() {
        return Err(ResolveError::Refused(format!(
            "{source} identity {external_id} is already linked to user {holder}; \
             linking would merge two identities"
        )));
    }
    let row = NewLink {
        tenant_id: tenant,
        source,
        external_id: &conflict.external_id,
        user_id,
        linked_at: now,
    };
    with_conn!(db, |c| diesel::insert_into(user_links::table)
        .values(&row)
        .execute(c))?;
    Ok(())
}
