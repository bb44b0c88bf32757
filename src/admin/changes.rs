//! The events API: the change feed after a cursor, a tenant's or every tenant's, optionally
//! held open until something arrives (a long poll that holds no database connection while
//! it waits).

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{AdminError, ErrorBody};
use super::extract::{AdminPath, AdminQuery};
use super::state::AdminState;
use super::tenant::{self, TenantPath};
use crate::store::changes::ChangeRow;
use crate::store::Store;

/// The longest `wait` honoured, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;

/// `GET .../changes` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The cursor: only changes with a greater `seq` (default 0, the start of the feed).
    pub after: Option<i64>,
    /// At most this many changes (default 100, at most 1000).
    pub limit: Option<i64>,
    /// With no change to answer yet, wait up to this many seconds for one (at most 60).
    pub wait: Option<u64>,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeList {
    /// In `seq` order. Each: `{"seq", "tenant_id", "type", "occurred_at", "source",
    /// "run_id", "changed_fields", "object"}` (and `"group"`, `"user"` for memberships).
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Value>,
    /// The cursor for the next call: the last `seq` answered, or `after` when none was.
    pub next_after: i64,
}

/// The tenant's changes after `after`, in `seq` order.
#[utoipa::path(get, path = "/tenants/{tenant}/changes", tag = "changes",
    params(TenantPath, ChangesQuery),
    responses(
        (status = 200, description = "The changes after the cursor", body = ChangeList),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn tenant_changes(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
    AdminQuery(query): AdminQuery<ChangesQuery>,
) -> Result<Json<ChangeList>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    answer(&tenant.store, &query, false).await
}

/// Every tenant's changes after `after`, in `seq` order: one feed for a consumer that serves
/// them all.
#[utoipa::path(get, path = "/changes", tag = "changes", params(ChangesQuery),
    responses(
        (status = 200, description = "The changes after the cursor", body = ChangeList),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
    ))]
pub async fn all_changes(
    State(state): State<AdminState>,
    AdminQuery(query): AdminQuery<ChangesQuery>,
) -> Result<Json<ChangeList>, AdminError> {
    answer(state.store(), &query, true).await
}

async fn answer(store: &Store, query: &ChangesQuery, all: bool) -> Result<Json<ChangeList>, AdminError> {
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(AdminError::bad_key(
            "after",
            format!("after={after}: a seq is 0 or more"),
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AdminError::bad_key(
            "limit",
            format!("limit={limit}: expected 1 to 1000"),
        ));
    }
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let rows = store.wait_for_changes(after, limit, wait, all).await?;
    Ok(Json(list(rows, after)))
}

fn list(rows: Vec<ChangeRow>, after: i64) -> ChangeList {
    let next_after = rows.last().map_or(after, |r| r.seq);
    ChangeList {
        changes: rows.iter().map(ChangeRow::to_json).collect(),
        next_after,
    }
}
