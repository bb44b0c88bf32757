//! The event log and the open conflicts of a tenant, and settling a conflict.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::IDENTITY;
use super::error::{AdminError, ErrorBody};
use super::extract::{AdminJson, AdminPath, AdminQuery};
use super::state::AdminState;
use super::tenant::{self, TenantPath};
use super::views::{ConflictList, ConflictView, EventList, EventView};
use crate::config::Schedule;
use crate::store::events::EventFilter;
use crate::store::resolutions::{Resolution, ResolveError, DISMISSED, KEPT_SEPARATE, LINKED};

/// `GET .../events` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// A UPN (any case) or a user id: that user's events and the membership events naming them.
    pub user: Option<String>,
    /// RFC 3339 (`2026-11-23T10:00:00Z`) or a span back from now (`2h`, `7d`).
    pub since: Option<String>,
    /// Only this connector's events (`scim` for the SCIM endpoint's, `admin` for this API's).
    pub connector: Option<String>,
    /// Only this run's events.
    pub run: Option<i64>,
    /// The newest this many, returned oldest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// `since` as a time: RFC 3339, or a span such as `2h` back from `now`.
pub fn parse_since(text: &str, now: NaiveDateTime) -> Result<NaiveDateTime, AdminError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.naive_utc());
    }
    match Schedule::parse_interval(text) {
        Ok(Schedule::Every(span)) => chrono::Duration::from_std(span)
            .ok()
            .and_then(|span| now.checked_sub_signed(span))
            .ok_or_else(|| AdminError::bad_key("since", format!("since={text:?}: the span is too long"))),
        _ => Err(AdminError::bad_key(
            "since",
            format!("since={text:?}: expected an RFC 3339 time (2026-11-23T10:00:00Z) or a span (2h, 7d)"),
        )),
    }
}

/// The tenant's event log, oldest first.
#[utoipa::path(get, path = "/tenants/{tenant}/events", tag = "history",
    params(TenantPath, EventsQuery),
    responses(
        (status = 200, description = "The matching events, oldest first", body = EventList),
        (status = 400, description = "A filter is invalid", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
    AdminQuery(query): AdminQuery<EventsQuery>,
) -> Result<Json<EventList>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let since = query
        .since
        .as_deref()
        .map(|s| parse_since(s, crate::store::now()))
        .transpose()?;
    let filter = EventFilter {
        connector: query.connector,
        user: query.user.filter(|u| !u.trim().is_empty()),
        since,
        run: query.run,
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
    let rows = tenant.store.events(filter).await?;
    Ok(Json(EventList {
        events: rows.into_iter().map(EventView::from).collect(),
    }))
}

/// The tenant's open conflicts, oldest first.
#[utoipa::path(get, path = "/tenants/{tenant}/conflicts", tag = "history", params(TenantPath),
    responses(
        (status = 200, description = "The open conflicts", body = ConflictList),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn conflicts(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
) -> Result<Json<ConflictList>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let rows = tenant.store.open_conflicts().await?;
    Ok(Json(ConflictList {
        conflicts: rows.into_iter().map(ConflictView::from).collect(),
    }))
}

/// `{tenant}` and `{id}` of a conflict.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConflictPath {
    /// The tenant's id.
    pub tenant: String,
    /// The conflict's id.
    pub id: i64,
}

/// What a person decides about a conflict.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolveAction {
    /// The record is the user `user_id`: the next run links it there.
    Link,
    /// The record is none of the users it matched: the next run never matches it to them and
    /// creates its own user when its sign-in name and email are free.
    KeepSeparate,
    /// Close the conflict; it is not raised again.
    Dismiss,
}

/// The body of `POST .../conflicts/{id}/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub action: ResolveAction,
    /// The local user to link to (for `link` only).
    pub user_id: Option<i64>,
}

/// The settled conflict.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resolved {
    pub conflict: ConflictView,
    /// `linked`, `kept_separate` or `dismissed`.
    pub status: String,
    /// Who decided.
    pub by: String,
}

/// Settles an open conflict; the decision is in the event log with who made it, and the next
/// run honours it.
#[utoipa::path(post, path = "/tenants/{tenant}/conflicts/{id}/resolve", tag = "history",
    params(ConflictPath), request_body = ResolveRequest,
    responses(
        (status = 200, description = "Settled", body = Resolved),
        (status = 400, description = "A link without `user_id`, or to a user that does not exist", body = ErrorBody),
        (status = 404, description = "No such tenant or open conflict", body = ErrorBody),
        (status = 409, description = "Linking would merge two identities of the source", body = ErrorBody),
    ))]
pub async fn resolve(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<ConflictPath>,
    AdminJson(body): AdminJson<ResolveRequest>,
) -> Result<Json<Resolved>, AdminError> {
    resolve_as(&state, &path, &body, IDENTITY).await.map(Json)
}

/// Settles the conflict as decided by `actor` (shared with the console).
pub(crate) async fn resolve_as(
    state: &AdminState,
    path: &ConflictPath,
    body: &ResolveRequest,
    actor: &str,
) -> Result<Resolved, AdminError> {
    let tenant = tenant::resolve(state, &path.tenant).await?;
    let resolution = match (body.action, body.user_id) {
        (ResolveAction::Link, Some(user_id)) => Resolution::Link { user_id },
        (ResolveAction::Link, None) => {
            return Err(AdminError::bad_key(
                "user_id",
                "`link` needs the user_id to link to",
            ))
        }
        (_, Some(_)) => {
            return Err(AdminError::bad_key("user_id", "user_id is for `link` only"));
        }
        (ResolveAction::KeepSeparate, None) => Resolution::KeepSeparate,
        (ResolveAction::Dismiss, None) => Resolution::Dismiss,
    };
    let settled = tenant
        .store
        .resolve_conflict(path.id, resolution, actor)
        .await
        .map_err(|e| match e {
            ResolveError::NotFound(_) => AdminError::NotFound(e.to_string()),
            ResolveError::NoUser(_) => AdminError::bad_key("user_id", e.to_string()),
            ResolveError::Refused(message) => AdminError::Conflict {
                message,
                run_id: None,
            },
            ResolveError::Store(e) => AdminError::Store(e),
        })?;
    let status = match resolution {
        Resolution::Link { .. } => LINKED,
        Resolution::KeepSeparate => KEPT_SEPARATE,
        Resolution::Dismiss => DISMISSED,
    };
    Ok(Resolved {
        conflict: settled.into(),
        status: status.to_owned(),
        by: actor.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_rfc3339_or_a_span() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default();
        let at = parse_since("2026-11-30T10:00:00+01:00", now).ok();
        assert_eq!(at.map(|t| t.to_string()).as_deref(), Some("2026-11-30 09:00:00"));
        let ago = parse_since("2h", now).ok();
        assert_eq!(ago.map(|t| t.to_string()).as_deref(), Some("2026-12-01 10:00:00"));
        for bad in ["yesterday", "2026-13-01T00:00:00Z", ""] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
