//! Tenants: create or rename, read, list, delete (`?purge=true` also removes their users and
//! groups). Deleting a tenant revokes its SCIM token and stops its connectors.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{AdminError, ErrorBody};
use super::extract::{AdminJson, AdminPath, AdminQuery};
use super::state::AdminState;
use super::tenant::{self, TenantPath};
use super::views::utc;
use crate::store::TenantRow;

/// The body of `PUT /tenants/{tenant}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    /// The customer organization's name, for people.
    pub display_name: String,
}

/// One tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TenantRow> for TenantView {
    fn from(t: TenantRow) -> TenantView {
        TenantView {
            id: t.id.to_string(),
            display_name: t.display_name,
            created_at: utc(t.created_at),
            updated_at: utc(t.updated_at),
        }
    }
}

/// `{"tenants": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantView>,
}

/// Creates the tenant (201) or renames it (200).
#[utoipa::path(put, path = "/tenants/{tenant}", tag = "tenants", params(TenantPath),
    request_body = TenantRequest,
    responses(
        (status = 200, description = "Updated", body = TenantView),
        (status = 201, description = "Created", body = TenantView),
        (status = 400, description = "Invalid id or body", body = ErrorBody),
    ))]
pub async fn put(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
    AdminJson(body): AdminJson<TenantRequest>,
) -> Result<(StatusCode, Json<TenantView>), AdminError> {
    let id = tenant::parse(&path.tenant)?;
    let name = body.display_name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AdminError::bad_key(
            "display_name",
            "display_name must have 1 to 200 characters and no control characters",
        ));
    }
    let created = state.store().put_tenant(&id, name, crate::store::now()).await?;
    let row = state.store().tenant_row(&id).await?;
    let row = row.ok_or_else(|| AdminError::Internal(format!("tenant {id} vanished after its write")))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(row.into())))
}

/// One tenant.
#[utoipa::path(get, path = "/tenants/{tenant}", tag = "tenants", params(TenantPath),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
) -> Result<Json<TenantView>, AdminError> {
    let id = tenant::parse(&path.tenant)?;
    let row = state.store().tenant_row(&id).await?;
    let row = row.ok_or_else(|| AdminError::NotFound(format!("no tenant is named {:?}", id.as_str())))?;
    Ok(Json(row.into()))
}

/// Every tenant, by id.
#[utoipa::path(get, path = "/tenants", tag = "tenants",
    responses((status = 200, description = "The tenants", body = TenantList)))]
pub async fn list(State(state): State<AdminState>) -> Result<Json<TenantList>, AdminError> {
    let rows = state.store().tenants().await?;
    Ok(Json(TenantList {
        tenants: rows.into_iter().map(TenantView::from).collect(),
    }))
}

/// `DELETE /tenants/{tenant}` options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Also remove the tenant's users, groups, runs, events and conflicts.
    #[serde(default)]
    pub purge: bool,
}

/// What a deletion did.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantDeleted {
    pub id: String,
    /// Whether its users and groups were removed too.
    pub purged: bool,
    /// How many of its stored connectors were removed (a running daemon stops them).
    pub connectors_stopped: usize,
}

/// Stops the tenant's connectors and revokes its SCIM token; with `purge=true` its users and
/// groups go too.
#[utoipa::path(delete, path = "/tenants/{tenant}", tag = "tenants", params(TenantPath, DeleteQuery),
    responses(
        (status = 200, description = "Deleted", body = TenantDeleted),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
    AdminQuery(query): AdminQuery<DeleteQuery>,
) -> Result<Json<TenantDeleted>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let connectors_stopped = state.registry().stop_tenant(&tenant.id).await?;
    state.store().delete_tenant(&tenant.id, query.purge).await?;
    Ok(Json(TenantDeleted {
        id: tenant.id.to_string(),
        purged: query.purge,
        connectors_stopped,
    }))
}
