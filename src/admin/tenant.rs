//! Which tenant a request is about: the `{tenant}` path segment, checked as a slug, and the
//! store scoped to it. Every handler starts here, so no handler sees two tenants.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::AdminError;
use super::state::AdminState;
use crate::store::Store;

/// The tenant that a configuration naming none belongs to.
pub const DEFAULT_TENANT: &str = "default";

/// `{tenant}` in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The tenant's id: 1-63 characters of `a-z`, `0-9` and `-`, not starting with `-`.
    pub tenant: String,
}

/// A tenant that exists, and the store as that tenant sees it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub store: Store,
}

/// Whether `id` is a tenant slug; the error says what is wrong with it.
pub fn check_slug(id: &str) -> Result<(), AdminError> {
    let bad = |why: &str| AdminError::bad_key("tenant", format!("invalid tenant id {id:?}: {why}"));
    if id.is_empty() || id.len() > 63 {
        return Err(bad("it must have 1 to 63 characters"));
    }
    if id.starts_with('-') {
        return Err(bad("it must not start with '-'"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("only a-z, 0-9 and '-' are allowed"));
    }
    Ok(())
}

/// The tenant `id` names: 400 for an invalid slug, 404 for one that does not exist.
pub async fn resolve(state: &AdminState, id: &str) -> Result<Tenant, AdminError> {
    check_slug(id)?;
    if id != DEFAULT_TENANT {
        return Err(AdminError::NotFound(format!("no tenant is named {id:?}")));
    }
    Ok(Tenant {
        id: id.to_owned(),
        store: state.store().clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["default", "a", "acme-corp", "0", "a-", &"x".repeat(63)] {
            assert!(check_slug(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "Acme", "a_b", "a b", "é", &"x".repeat(64)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
