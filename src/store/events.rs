//! Reading the event log (the provisioning log) for `idsync events`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{events, users};
use super::{with_conn, Db, Store, StoreError};

impl Store {
    /// The newest `filter.limit` events of the tenant matching the filter, oldest first.
    pub async fn events(&self, filter: EventFilter) -> Result<Vec<EventRow>, StoreError> {
        self.scoped(move |db, t| list(db, t, &filter)).await
    }
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub connector: Option<String>,
    /// A UPN or email (any case) or a user id: that user's own events and the membership events that
    /// name them.
    pub user: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub run: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub run_id: Option<i64>,
    pub connector: String,
    pub object_type: String,
    pub object_id: i64,
    pub object_key: String,
    pub action: String,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

/// The newest `limit` events matching the filter, oldest first.
pub(crate) fn list(db: &mut Db, tenant: &str, filter: &EventFilter) -> Result<Vec<EventRow>, StoreError> {
    let mut rows: Vec<EventRow> = with_conn!(db, |c| {
        let mut query = events::table
            .filter(events::tenant_id.eq(tenant.to_owned()))
            .select(EventRow::as_select())
            .into_boxed();
        if let Some(connector) = &filter.connector {
            query = query.filter(events::connector.eq(connector.clone()));
        }
        if let Some(since) = filter.since {
            query = query.filter(events::created_at.ge(since));
        }
        if let Some(run) = filter.run {
            query = query.filter(events::run_id.eq(run));
        }
        if let Some(user) = &filter.user {
            let key = user.trim().to_lowercase();
            let id: Option<i64> = match key.parse::<i64>() {
                Ok(id) => Some(id),
                // By the matcher's key, as every other lookup of a sign-in name.
                Err(_) => users::table
                    .filter(users::tenant_id.eq(tenant))
                    .filter({
                        let key = crate::matcher::identity_key(user);
                        users::upn_key.eq(key.clone()).or(users::email_key.eq(key))
                    })
                    .order(users::archived_at.is_not_null())
                    .select(users::id)
                    .first(c)
                    .optional()?,
            };
            // Membership events list the UPNs they add and remove, quoted, in their detail.
            let mentioned = format!("%\"{}\"%", key.replace('%', ""));
            let own = events::object_type.eq("user").and(
                events::object_id
                    .eq(id.unwrap_or(-1))
                    .or(
                        diesel::dsl::sql::<diesel::sql_types::Bool>("lower(object_key) = ")
                            .bind::<diesel::sql_types::Text, _>(key.clone()),
                    ),
            );
            let membership = events::object_type.eq("group").and(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(detail) LIKE ")
                    .bind::<diesel::sql_types::Text, _>(mentioned),
            );
            query = query.filter(own.or(membership));
        }
        query.order(events::id.desc()).limit(filter.limit.max(1)).load(c)
    })?;
    rows.reverse();
    Ok(rows)
}
