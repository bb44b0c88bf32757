//! Provision on demand: one user by id or primary email, `GET /admin/directory/v1/users/{userKey}`
//! (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/get>),
//! mapped, with the scope decisions spelled out.

use idsync_source::{SourceError, UserLookup};

use crate::client::Client;
use crate::sync::encode_segment;
use crate::GoogleSource;

impl GoogleSource {
    /// The user `key` names, or `None` when Google knows no such user (404). Group scope is
    /// reported, not evaluated: it needs the group lists a sync reads.
    pub(crate) async fn lookup_user(
        &self,
        client: &Client,
        key: &str,
    ) -> Result<Option<UserLookup>, SourceError> {
        let mut params = self.selection.projection();
        params.push(("fields", self.selection.fields.clone()));
        let url = self.url(&format!("users/{}", encode_segment(key.trim())), &params)?;
        let user: crate::wire::Object = match client.get(&url).await {
            Ok(user) => user,
            Err(SourceError::Upstream {
                status: Some(404), ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (record, passing, user) = self.user_record(user)?;
        let mut steps = vec![
            format!(
                "Google returned user {} ({}), {}",
                record.external_id,
                record.upn,
                if record.enabled {
                    "active"
                } else {
                    "suspended or archived"
                }
            ),
            format!("scoping filters: {}", self.config.scoping_filters.explain(&user)),
        ];
        if !self.config.groups.is_empty() {
            steps.push(format!(
                "group scope ({}) is checked at the next sync, not on demand",
                self.config.groups.join(", ")
            ));
        }
        Ok(Some(UserLookup {
            record,
            in_scope: passing,
            steps,
        }))
    }
}
