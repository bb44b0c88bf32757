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
use serde_json::json;

use super::auth::IDENTITY;
use crate::scim::tokens;
use crate::store::decisions::{Action, TENANT_SCOPE};

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
    let token = create_as(&state, &path.tenant, IDENTITY).await?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// A new token, recorded in the event log (without the token) as made by `actor`.
pub(crate) async fn create_as(state: &AdminState, tenant: &str, actor: &str) -> Result<NewToken, AdminError> {
    let tenant = tenant::resolve(state, tenant).await?;
    let token = tokens::new_secret();
    tenant
        .store
        .replace_scim_token(&tokens::digest(&token), crate::store::now())
        .await?;
    tenant
        .store
        .record_action(action("scim_token_created", actor, json!({})))
        .await?;
    Ok(NewToken { token })
}

fn action(name: &'static str, actor: &str, detail: serde_json::Value) -> Action {
    Action {
        connector: TENANT_SCOPE.to_owned(),
        run_id: None,
        action: name,
        actor: actor.to_owned(),
        detail,
    }
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
    revoke_as(&state, &path.tenant, query.detach_groups, IDENTITY)
        .await
        .map(Json)
}

/// Revocation, recorded in the event log as decided by `actor`.
pub(crate) async fn revoke_as(
    state: &AdminState,
    tenant: &str,
    detach_groups: bool,
    actor: &str,
) -> Result<Revoked, AdminError> {
    let tenant = tenant::resolve(state, tenant).await?;
    let (removed, detached) = tenant
        .store
        .revoke_scim_token(detach_groups, crate::store::now())
        .await?;
    if removed > 0 {
        let detail = json!({ "groups_detached": detached });
        tenant
            .store
            .record_action(action("scim_token_revoked", actor, detail))
            .await?;
    }
    Ok(Revoked {
        revoked: removed > 0,
        groups_detached: detached,
    })
}
