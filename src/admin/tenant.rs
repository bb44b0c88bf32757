//! Which tenant a request is about: the `{tenant}` path segment, checked as a slug, and the
//! store scoped to it. Every handler starts here, so no handler sees two tenants.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::AdminError;
use super::state::AdminState;
use crate::store::Store;
use crate::tenant::TenantId;

/// `{tenant}` in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The tenant's id: 1-63 characters of `a-z`, `0-9` and `-`, not starting with `-`.
    pub tenant: String,
}

/// A tenant that exists, and the store bound to it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub store: Store,
}

/// `id` as a tenant id, or 400 naming what is wrong with it.
pub fn parse(id: &str) -> Result<TenantId, AdminError> {
    TenantId::parse(id).map_err(|e| AdminError::bad_key("tenant", format!("invalid tenant id {id:?}: {e}")))
}

/// The tenant `id` names: 400 for an invalid id, 404 for one that does not exist.
pub async fn resolve(state: &AdminState, id: &str) -> Result<Tenant, AdminError> {
    let id = parse(id)?;
    if state.store().tenant_row(&id).await?.is_none() {
        return Err(AdminError::NotFound(format!(
            "no tenant is named {:?}",
            id.as_str()
        )));
    }
    Ok(Tenant {
        store: state.store().for_tenant(id.clone()),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["default", "a", "acme-corp", "0", "a-", &"x".repeat(63)] {
            assert!(parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "Acme", "a_b", "a b", "é", &"x".repeat(64)] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
