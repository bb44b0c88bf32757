//! The tenant's SCIM bearer token: a new one (shown once, the only valid one from then on)
//! and revocation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{AdminError, ErrorBody};
use super::extract::{AdminPath, AdminQuery};
use super::state::AdminState;
use super::tenant::{self, TenantPath};
use crate::scim::tokens;

/// 201: the new token. It is not stored (only its SHA-256 is) and cannot be shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewToken {
    pub token: String,
}

/// Makes a new SCIM token for the tenant; the previous one stops working.
#[utoipa::path(post, path = "/tenants/{tenant}/scim-token", tag = "scim", params(TenantPath),
    responses(
        (status = 201, description = "The new token, shown once", body = NewToken),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
) -> Result<(StatusCode, Json<NewToken>), AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let token = tokens::new_secret();
    tenant
        .store
        .replace_scim_token(&tokens::digest(&token), crate::store::now())
        .await?;
    Ok((StatusCode::CREATED, Json(NewToken { token })))
}

/// `DELETE .../scim-token` options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevokeQuery {
    /// Also turn the groups SCIM created into ordinary local groups.
    #[serde(default)]
    pub detach_groups: bool,
}

/// What revocation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// False when no token was active.
    pub revoked: bool,
    pub groups_detached: usize,
}

/// Revokes the tenant's SCIM token.
#[utoipa::path(delete, path = "/tenants/{tenant}/scim-token", tag = "scim",
    params(TenantPath, RevokeQuery),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 404, description = "No such tenant", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AdminState>,
    AdminPath(path): AdminPath<TenantPath>,
    AdminQuery(query): AdminQuery<RevokeQuery>,
) -> Result<Json<Revoked>, AdminError> {
    let tenant = tenant::resolve(&state, &path.tenant).await?;
    let (removed, detached) = tenant
        .store
        .revoke_scim_token(query.detach_groups, crate::store::now())
        .await?;
    Ok(Json(Revoked {
        revoked: removed > 0,
        groups_detached: detached,
    }))
}
