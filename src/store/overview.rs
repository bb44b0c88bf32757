//! The operator console's tenants overview: one page of tenants with their health at a
//! glance, in one aggregate query whatever the number of tenants (each figure a correlated
//! subquery on an index that starts with `tenant_id`). Whole-database by nature: it lists
//! tenants, and every subquery is bound to the row's own tenant.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::{with_conn, Db, Store, StoreError};
use crate::tenant::TenantId;

/// How the overview is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverviewSort {
    /// By tenant id.
    #[default]
    Id,
    /// By display name.
    Name,
    /// Tenants needing attention first (quarantined, held, failing, conflicts), then by id.
    Health,
    /// Longest without a successful sync first.
    LastSuccess,
}

impl OverviewSort {
    fn order_by(self) -> &'static str {
        match self {
            OverviewSort::Id => "id",
            OverviewSort::Name => "lower(display_name), id",
            OverviewSort::Health => {
                "(quarantined_until IS NOT NULL) DESC, held DESC, failing DESC, conflicts_open DESC, id"
            }
            OverviewSort::LastSuccess => "(last_success_at IS NOT NULL), last_success_at, id",
        }
    }
}

/// Which page of the overview.
#[derive(Debug, Clone, Default)]
pub struct OverviewQuery {
    /// Part of the tenant's id or display name (any case); empty for every tenant.
    pub search: String,
    pub sort: OverviewSort,
    /// At most this many rows.
    pub limit: i64,
    /// Skip this many rows.
    pub offset: i64,
}

/// One tenant in the overview.
#[derive(Debug, Clone, QueryableByName)]
pub struct OverviewRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    /// Open conflicts of any connector.
    #[diesel(sql_type = BigInt)]
    pub conflicts_open: i64,
    /// The latest successful sync of any connector.
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub last_success_at: Option<NaiveDateTime>,
    /// Connectors whose last run failed (a failure streak).
    #[diesel(sql_type = BigInt)]
    pub failing: i64,
    /// The latest end of a quarantine still running.
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub quarantined_until: Option<NaiveDateTime>,
    /// Connectors whose latest run the deletion guard held.
    #[diesel(sql_type = BigInt)]
    pub held: i64,
    /// How many tenants match the search, on every row.
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

/// One page: rows and how many tenants match in all.
#[derive(Debug, Clone, Default)]
pub struct OverviewPage {
    pub rows: Vec<OverviewRow>,
    pub total: i64,
}

/// The query; `{p1}`..`{p4}` are the backend's placeholders.
const SQL: &str = "SELECT * FROM (SELECT t.id, t.display_name, \
  (SELECT count(*) FROM conflicts c WHERE c.tenant_id = t.id AND c.status = 'open') AS conflicts_open, \
  (SELECT max(s.last_success_at) FROM sync_state s WHERE s.tenant_id = t.id) AS last_success_at, \
  (SELECT count(*) FROM sync_state s WHERE s.tenant_id = t.id AND s.consecutive_failures > 0) AS failing, \
  (SELECT max(s.quarantined_until) FROM sync_state s WHERE s.tenant_id = t.id AND s.quarantined_until > {p1}) AS quarantined_until, \
  (SELECT count(*) FROM runs r WHERE r.tenant_id = t.id AND r.status = 'held' AND r.id = \
     (SELECT max(r2.id) FROM runs r2 WHERE r2.tenant_id = t.id AND r2.connector = r.connector)) AS held, \
  count(*) OVER () AS total \
  FROM tenants t WHERE (t.id LIKE {p2} OR lower(t.display_name) LIKE {p3})) o \
  ORDER BY {order} LIMIT {limit} OFFSET {offset}";

fn page(db: &mut Db, query: &OverviewQuery, now: NaiveDateTime) -> Result<OverviewPage, StoreError> {
    let escaped: String = query
        .search
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '%' | '_' | '\\'))
        .collect();
    let pattern = format!("%{escaped}%");
    let (limit, offset) = (query.limit.clamp(1, 500), query.offset.max(0));
    let sql = |marks: [&str; 3]| {
        SQL.replace("{p1}", marks[0])
            .replace("{p2}", marks[1])
            .replace("{p3}", marks[2])
            .replace("{order}", query.sort.order_by())
            .replace("{limit}", &limit.to_string())
            .replace("{offset}", &offset.to_string())
    };
    let rows: Vec<OverviewRow> = match db {
        Db::Sqlite(c) => diesel::sql_query(sql(["?", "?", "?"]))
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(&pattern)
            .bind::<Text, _>(&pattern)
            .load(c)?,
        Db::Postgres(c) => diesel::sql_query(sql(["$1", "$2", "$3"]))
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(&pattern)
            .bind::<Text, _>(&pattern)
            .load(c)?,
    };
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    Ok(OverviewPage { rows, total })
}

/// The settings of the stored connectors of `tenants`, as `(tenant, name, settings JSON)`,
/// for their schedules.
fn stored_settings(db: &mut Db, tenants: &[String]) -> Result<Vec<(String, String, String)>, StoreError> {
    use super::schema::connectors;
    Ok(with_conn!(db, |c| connectors::table
        .filter(connectors::tenant_id.eq_any(tenants))
        .select((connectors::tenant_id, connectors::name, connectors::settings))
        .load(c))?)
}

impl Store {
    /// One page of the tenants overview (see [`OverviewQuery`]), with the stored connectors'
    /// settings of the tenants on it, in two queries on one connection.
    pub async fn overview(
        &self,
        query: OverviewQuery,
    ) -> Result<(OverviewPage, Vec<(TenantId, String, String)>), StoreError> {
        let now = super::now();
        self.unit(move |db| {
            let page = page(db, &query, now)?;
            let ids: Vec<String> = page.rows.iter().map(|r| r.id.clone()).collect();
            let stored = stored_settings(db, &ids)?
                .into_iter()
                .filter_map(|(t, name, settings)| Some((TenantId::parse(&t).ok()?, name, settings)))
                .collect();
            Ok(page).map(|page| (page, stored))
        })
        .await
    }
}

/// A local user as the console shows one side of a conflict.
#[derive(Debug, Clone, Queryable)]
pub struct UserSummary {
    pub id: i64,
    pub upn: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub source: Option<String>,
    pub active: bool,
}

impl Store {
    /// The tenant's users with these ids (the local sides of its conflicts).
    pub async fn user_summaries(&self, ids: Vec<i64>) -> Result<Vec<UserSummary>, StoreError> {
        use super::schema::users;
        self.scoped(move |db, t| {
            Ok(with_conn!(db, |c| users::table
                .filter(users::tenant_id.eq(t).and(users::id.eq_any(&ids)))
                .select((
                    users::id,
                    users::upn,
                    users::email,
                    users::display_name,
                    users::source,
                    users::active,
                ))
                .load(c))?)
        })
        .await
    }

    /// How many active users `connector` owns: the base a held run's deactivations are "of".
    pub async fn active_owned(&self, connector: &str) -> Result<i64, StoreError> {
        use super::schema::users;
        let connector = connector.to_owned();
        self.scoped(move |db, t| {
            Ok(with_conn!(db, |c| users::table
                .filter(users::tenant_id.eq(t))
                .filter(users::source.eq(&connector).and(users::active.eq(true)))
                .count()
                .get_result(c))?)
        })
        .await
    }

    /// When the tenant's SCIM token was made, if it has one.
    pub async fn scim_token_since(&self) -> Result<Option<NaiveDateTime>, StoreError> {
        use super::schema::scim_tokens;
        self.scoped(|db, t| {
            Ok(with_conn!(db, |c| scim_tokens::table
                .filter(scim_tokens::tenant_id.eq(t))
                .select(scim_tokens::created_at)
                .first(c)
                .optional())?)
        })
        .await
    }
}
