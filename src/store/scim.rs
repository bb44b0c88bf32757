//! What the SCIM endpoint reads: single users and groups, filtered pages, the few rows a
//! pushed change touches (instead of the whole directory), and the endpoint's token.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::any_of::any_of;
pub use super::load::Keys;
use super::load::LoadOptions;
use super::schema::{group_members, groups, scim_tokens, user_links, users};
use super::sql::{lower, lower_nullable};
use super::{with_conn, Db, Store, StoreError};
use crate::local::LocalState;
use crate::matcher::identity_key;
use crate::tenant::TenantId;

/// Keys per `IN (...)` list: a request may name more (a group PATCH with 40,000 members) than
/// SQLite's 32,766 bound parameters.
const KEYS_PER_QUERY: usize = 1000;

/// The source name of everything the SCIM endpoint writes.
pub const SCIM_SOURCE: &str = "scim";

/// A user as the SCIM endpoint serves it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct ScimUserRow {
    pub id: i64,
    pub scim_id: String,
    pub external_id: Option<String>,
    pub source: Option<String>,
    pub upn: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub preferred_language: Option<String>,
    pub attributes: Option<String>,
    pub active: bool,
    pub archived_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A group as the SCIM endpoint serves it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = groups)]
pub struct ScimGroupRow {
    pub id: i64,
    pub scim_id: String,
    pub external_id: Option<String>,
    pub source: Option<String>,
    pub display_name: String,
    pub read_only: bool,
    pub attributes: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A member as a group lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub scim_id: String,
    pub display: String,
}

/// How a condition compares a value with the column's comparison key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMatch {
    Eq,
    StartsWith,
    Contains,
    EndsWith,
}

/// One SQL condition on users, from a SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum UserCond {
    /// `userName`, compared by the matcher's key (as the matcher and the uniqueness check do).
    Upn(KeyMatch, String),
    ExternalId(String),
    ScimId(String),
    /// The primary (work) email, compared by key.
    Email(KeyMatch, String),
    DisplayName(String),
    Active(bool),
    /// A string attribute in `users.attributes` (see [`kept_eq`]).
    Kept {
        urn: Option<String>,
        name: String,
        case_exact: bool,
        value: String,
    },
}

/// One SQL condition on groups, from a SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupCond {
    DisplayName(String),
    ExternalId(String),
    ScimId(String),
    /// Has the user with this SCIM id as a member.
    Member(String),
    /// A string attribute in `groups.attributes` (see [`kept_eq`]).
    Kept {
        urn: Option<String>,
        name: String,
        case_exact: bool,
        value: String,
    },
}

/// The SQL text (ending in `= `, before the bound value) and the value of a condition:
/// `table.attributes` holds the string `value` at `name` (in the object under `urn`, when
/// set), compared as is or, unless `case_exact`, lowercased: SQLite's `json_extract`,
/// PostgreSQL's `->>` on the text cast to `jsonb`. `table`, `urn` and `name` are written into
/// the SQL, so they must come from the code or the checked configuration (an attribute name
/// is letters, digits, `_` and `-`; a URN has no quote), never from a request.
fn kept_eq(
    pg: bool,
    table: &str,
    urn: Option<&str>,
    name: &str,
    case_exact: bool,
    value: &str,
) -> (String, String) {
    debug_assert!(!name.contains(['\'', '"']) && !urn.unwrap_or_default().contains(['\'', '"']));
    let extract = match (pg, urn) {
        (false, None) => format!("json_extract({table}.attributes, '$.\"{name}\"')"),
        (false, Some(u)) => format!("json_extract({table}.attributes, '$.\"{u}\".\"{name}\"')"),
        (true, None) => format!("(CAST({table}.attributes AS jsonb) ->> '{name}')"),
        (true, Some(u)) => format!("(CAST({table}.attributes AS jsonb) -> '{u}' ->> '{name}')"),
    };
    let (text, value) = if case_exact {
        (format!("{extract} = "), value.to_owned())
    } else {
        (format!("lower({extract}) = "), value.to_lowercase())
    };
    (text, value)
}

/// The SQL condition of [`kept_eq`]'s text and value.
macro_rules! kept_sql {
    ($cond:expr) => {{
        let (text, value) = $cond;
        diesel::dsl::sql::<diesel::sql_types::Bool>(&text).bind::<diesel::sql_types::Text, _>(value)
    }};
}

/// A page of results: the total that matched and the rows of the page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: u64,
    pub rows: Vec<T>,
}

/// Loads the rows a pushed change may touch: the one targeted load
/// ([`super::load::load_local_for`]), without what only a run reads.
pub(crate) fn load_local_for(
    db: &mut Db,
    tenant: &str,
    source: &str,
    keys: &Keys,
) -> Result<LocalState, StoreError> {
    super::load::load_local_for(db, tenant, source, keys, &LoadOptions::default())
}

/// Users the endpoint does not serve: those DELETEd through SCIM (their `scim` link is
/// marked removed) while the row waits for retention.
macro_rules! not_deleted {
    () => {
        diesel::dsl::not(diesel::dsl::exists(
            user_links::table.filter(
                user_links::user_id
                    .eq(users::id)
                    .and(user_links::source.eq(SCIM_SOURCE))
                    .and(user_links::removed_at.is_not_null()),
            ),
        ))
    };
}

/// A user by SCIM id, unless deleted through SCIM.
/// The user `scim_id`; with `lock`, its row stays locked until the transaction ends.
pub(crate) fn user_by_scim_id(
    db: &mut Db,
    tenant: &str,
    scim_id: &str,
    lock: bool,
) -> Result<Option<ScimUserRow>, StoreError> {
    let query = || {
        users::table
            .filter(users::tenant_id.eq(tenant).and(users::scim_id.eq(scim_id)))
            .filter(not_deleted!())
    };
    Ok(match db {
        Db::Postgres(c) if lock => query()
            .select(ScimUserRow::as_select())
            .for_update()
            .first(c)
            .optional()?,
        _ => with_conn!(db, |c| query()
            .select(ScimUserRow::as_select())
            .first(c)
            .optional()?),
    })
}

/// The user holding the link (`scim`, `key`).
pub(crate) fn user_by_link(db: &mut Db, tenant: &str, key: &str) -> Result<Option<ScimUserRow>, StoreError> {
    with_conn!(db, |c| Ok(users::table
        .inner_join(user_links::table)
        .filter(
            user_links::tenant_id
                .eq(tenant)
                .and(users::tenant_id.eq(tenant))
                .and(user_links::source.eq(SCIM_SOURCE))
                .and(user_links::external_id.eq(key))
        )
        .select(ScimUserRow::as_select())
        .first(c)
        .optional()?))
}

/// The user's `scim` link: its external id and whether it is marked removed.
pub(crate) fn scim_link_of(
    db: &mut Db,
    tenant: &str,
    user_id: i64,
) -> Result<Option<(String, bool)>, StoreError> {
    with_conn!(db, |c| {
        let row: Option<(String, Option<NaiveDateTime>)> = user_links::table
            .filter(
                user_links::tenant_id
                    .eq(tenant)
                    .and(user_links::user_id.eq(user_id))
                    .and(user_links::source.eq(SCIM_SOURCE)),
            )
            .select((user_links::external_id, user_links::removed_at))
            .first(c)
            .optional()?;
        Ok(row.map(|(k, r)| (k, r.is_some())))
    })
}

/// The `scim` link keys of the users with these SCIM ids: SCIM id -> (row id, link key).
pub(crate) fn scim_keys_of(
    db: &mut Db,
    tenant: &str,
    scim_ids: &[String],
) -> Result<HashMap<String, (i64, Option<String>)>, StoreError> {
    with_conn!(db, c => {
        let mut rows: Vec<(String, i64)> = Vec::with_capacity(scim_ids.len());
        let mut links: HashMap<i64, String> = HashMap::with_capacity(scim_ids.len());
        for chunk in scim_ids.chunks(KEYS_PER_QUERY) {
            let found: Vec<(String, i64)> = users::table
                .filter(users::tenant_id.eq(tenant).and(any_of(users::scim_id, chunk)))
                .filter(not_deleted!())
                .select((users::scim_id, users::id))
                .load(c)?;
            let ids: Vec<i64> = found.iter().map(|r| r.1).collect();
            // By user id (the tenant's users just found), the tenant checked on the rows: a
            // tenant-led condition would make SQLite scan the tenant's links.
            let theirs: Vec<(String, i64, String)> = user_links::table
                .filter(any_of(user_links::user_id, &ids).and(user_links::source.eq(SCIM_SOURCE)))
                .select((user_links::tenant_id, user_links::user_id, user_links::external_id))
                .load(c)?;
            links.extend(theirs.into_iter().filter(|(t, ..)| t == tenant).map(|(_, u, k)| (u, k)));
            rows.extend(found);
        }
        Ok(rows.into_iter().map(|(s, id)| (s, (id, links.get(&id).cloned()))).collect())
    })
}

/// A key condition in SQL terms. A row the application wrote itself has no key until the
/// next write's load or migration fills it ([`super::keys`]); until then `Eq` falls back to
/// comparing SQL `lower()` of both sides for it, as before the keys.
enum KeySql {
    /// The key equals this.
    Eq(String),
    /// The key is `LIKE` this pattern (escaped with `\`).
    Like(String),
}

/// The key condition for `value`: its key, or a pattern over its key.
fn key_sql(m: KeyMatch, value: &str) -> KeySql {
    let key = identity_key(value);
    let escaped = || key.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    match m {
        KeyMatch::Eq => KeySql::Eq(key),
        KeyMatch::StartsWith => KeySql::Like(format!("{}%", escaped())),
        KeyMatch::Contains => KeySql::Like(format!("%{}%", escaped())),
        KeyMatch::EndsWith => KeySql::Like(format!("%{}", escaped())),
    }
}

/// A page of users matching every condition, ordered by row id. `count` 0 counts only.
pub(crate) fn list_users(
    db: &mut Db,
    tenant: &str,
    conds: &[UserCond],
    offset: u64,
    count: u64,
) -> Result<Page<ScimUserRow>, StoreError> {
    let pg = matches!(db, Db::Postgres(_));
    macro_rules! filtered {
        () => {{
            let mut q = users::table
                .filter(users::tenant_id.eq(tenant))
                .filter(not_deleted!())
                .into_boxed();
            for cond in conds {
                q = match cond {
                    UserCond::Upn(m, v) => match key_sql(*m, v) {
                        KeySql::Eq(key) => q.filter(
                            users::upn_key
                                .eq(key)
                                .or(users::upn_key.is_null().and(lower(users::upn).eq(lower(v)))),
                        ),
                        KeySql::Like(pattern) => q.filter(users::upn_key.like(pattern).escape('\\')),
                    },
                    UserCond::ExternalId(v) => q
                        .filter(users::source.eq(SCIM_SOURCE))
                        .filter(kept_sql!(kept_eq(pg, "users", None, "externalId", true, v))),
                    UserCond::Kept {
                        urn,
                        name,
                        case_exact,
                        value,
                    } => q.filter(kept_sql!(kept_eq(
                        pg,
                        "users",
                        urn.as_deref(),
                        name,
                        *case_exact,
                        value
                    ))),
                    UserCond::ScimId(v) => q.filter(users::scim_id.eq(v)),
                    UserCond::Email(m, v) => match key_sql(*m, v) {
                        KeySql::Eq(key) => q.filter(
                            users::email_key.eq(key).or(users::email_key
                                .is_null()
                                .and(lower_nullable(users::email).eq(lower_nullable(Some(v.as_str()))))),
                        ),
                        KeySql::Like(pattern) => q.filter(users::email_key.like(pattern).escape('\\')),
                    },
                    UserCond::DisplayName(v) => {
                        q.filter(lower_nullable(users::display_name).eq(v.to_lowercase()))
                    }
                    UserCond::Active(v) => q.filter(users::active.eq(*v)),
                };
            }
            q
        }};
    }
    with_conn!(db, |c| {
        let rows: Vec<ScimUserRow> = if count == 0 {
            Vec::new()
        } else {
            filtered!()
                .order(users::id)
                .offset(offset.min(i64::MAX as u64) as i64)
                .limit(count.min(i64::MAX as u64) as i64)
                .select(ScimUserRow::as_select())
                .load(c)?
        };
        // A first page that is not full is the whole result: no COUNT needed.
        let total = if offset == 0 && (rows.len() as u64) < count {
            rows.len() as u64
        } else {
            filtered!().count().get_result::<i64>(c)? as u64
        };
        Ok(Page { total, rows })
    })
}

/// A group by SCIM id.
/// The group `scim_id`; with `lock`, its row stays locked until the transaction ends.
pub(crate) fn group_by_scim_id(
    db: &mut Db,
    tenant: &str,
    scim_id: &str,
    lock: bool,
) -> Result<Option<ScimGroupRow>, StoreError> {
    let query = || groups::table.filter(groups::tenant_id.eq(tenant).and(groups::scim_id.eq(scim_id)));
    Ok(match db {
        Db::Postgres(c) if lock => query()
            .select(ScimGroupRow::as_select())
            .for_update()
            .first(c)
            .optional()?,
        _ => with_conn!(db, |c| query()
            .select(ScimGroupRow::as_select())
            .first(c)
            .optional()?),
    })
}

/// The group `scim` owns under `key`.
pub(crate) fn group_by_key(db: &mut Db, tenant: &str, key: &str) -> Result<Option<ScimGroupRow>, StoreError> {
    with_conn!(db, |c| Ok(groups::table
        .filter(groups::tenant_id.eq(tenant))
        .filter(groups::source.eq(SCIM_SOURCE).and(groups::external_id.eq(key)))
        .select(ScimGroupRow::as_select())
        .first(c)
        .optional()?))
}

/// A page of groups matching every condition, ordered by row id.
pub(crate) fn list_groups(
    db: &mut Db,
    tenant: &str,
    conds: &[GroupCond],
    offset: u64,
    count: u64,
) -> Result<Page<ScimGroupRow>, StoreError> {
    let pg = matches!(db, Db::Postgres(_));
    macro_rules! filtered {
        () => {{
            let mut q = groups::table.filter(groups::tenant_id.eq(tenant)).into_boxed();
            for cond in conds {
                q = match cond {
                    GroupCond::DisplayName(v) => q.filter(
                        groups::name_key.eq(identity_key(v)).or(groups::name_key
                            .is_null()
                            .and(lower(groups::display_name).eq(lower(v)))),
                    ),
                    GroupCond::ExternalId(v) => q
                        .filter(groups::source.eq(SCIM_SOURCE))
                        .filter(kept_sql!(kept_eq(pg, "groups", None, "externalId", true, v))),
                    GroupCond::Kept {
                        urn,
                        name,
                        case_exact,
                        value,
                    } => q.filter(kept_sql!(kept_eq(
                        pg,
                        "groups",
                        urn.as_deref(),
                        name,
                        *case_exact,
                        value
                    ))),
                    GroupCond::ScimId(v) => q.filter(groups::scim_id.eq(v)),
                    GroupCond::Member(v) => q.filter(diesel::dsl::exists(
                        group_members::table
                            .inner_join(users::table)
                            .filter(group_members::group_id.eq(groups::id))
                            .filter(users::tenant_id.eq(tenant).and(users::scim_id.eq(v))),
                    )),
                };
            }
            q
        }};
    }
    with_conn!(db, |c| {
        let rows: Vec<ScimGroupRow> = if count == 0 {
            Vec::new()
        } else {
            filtered!()
                .order(groups::id)
                .offset(offset.min(i64::MAX as u64) as i64)
                .limit(count.min(i64::MAX as u64) as i64)
                .select(ScimGroupRow::as_select())
                .load(c)?
        };
        // A first page that is not full is the whole result: no COUNT needed.
        let total = if offset == 0 && (rows.len() as u64) < count {
            rows.len() as u64
        } else {
            filtered!().count().get_result::<i64>(c)? as u64
        };
        Ok(Page { total, rows })
    })
}

/// Sets a group's `attributes` when they differ (then `updated_at` too, so the ETag moves);
/// returns whether they did. A group has no planned attribute of this kind: what a SCIM
/// client keeps here no connector writes, so the write needs no plan.
pub(crate) fn set_group_attributes(
    db: &mut Db,
    tenant: &str,
    group_id: i64,
    attributes: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    with_conn!(db, |c| {
        let this_tenant = groups::tenant_id.eq(tenant).and(groups::id.eq(group_id));
        let before: Option<Option<String>> = groups::table
            .filter(this_tenant)
            .select(groups::attributes)
            .first(c)
            .optional()?;
        let Some(before) = before else {
            return Ok(false);
        };
        if before.as_deref() == attributes {
            return Ok(false);
        }
        diesel::update(groups::table.filter(this_tenant))
            .set((groups::attributes.eq(attributes), groups::updated_at.eq(now)))
            .execute(c)?;
        Ok::<_, StoreError>(true)
    })?;
    super::apply::changes::group_attributes_changed(db, tenant, group_id, SCIM_SOURCE, now)?;
    Ok(true)
}

/// The members of these groups: group id -> members, in row order.
pub(crate) fn members_of(
    db: &mut Db,
    tenant: &str,
    group_ids: &[i64],
) -> Result<HashMap<i64, Vec<MemberRef>>, StoreError> {
    with_conn!(db, c => {
        let mut out: HashMap<i64, Vec<MemberRef>> = HashMap::new();
        // Each chunk holds whole groups, so every member list stays in row order.
        for chunk in group_ids.chunks(KEYS_PER_QUERY) {
            // By group id, the members' tenant checked on the rows (see `scim_keys_of`).
            let rows: Vec<(String, i64, String, String, Option<String>)> = group_members::table
                .inner_join(users::table)
                .filter(any_of(group_members::group_id, chunk))
                .filter(not_deleted!())
                .order((group_members::group_id, users::id))
                .select((users::tenant_id, group_members::group_id, users::scim_id, users::upn, users::display_name))
                .load(c)?;
            for (_, g, scim_id, upn, display) in rows.into_iter().filter(|r| r.0 == tenant) {
                out.entry(g).or_default().push(MemberRef { scim_id, display: display.unwrap_or(upn) });
            }
        }
        Ok(out)
    })
}

/// A cheap query, for the health check.
pub(crate) fn ping(db: &mut Db) -> Result<(), StoreError> {
    with_conn!(db, |c| {
        diesel::sql_query("SELECT 1").execute(c)?;
        Ok(())
    })
}

/// The digest of the tenant's active token, if it has one.
pub(crate) fn token_digest(db: &mut Db, tenant: &str) -> Result<Option<String>, StoreError> {
    with_conn!(db, |c| Ok(scim_tokens::table
        .filter(scim_tokens::tenant_id.eq(tenant))
        .order(scim_tokens::id.desc())
        .select(scim_tokens::token_sha256)
        .first(c)
        .optional()?))
}

/// The tenant whose active token has this digest, if any: whole database (the token is what
/// selects the tenant of a SCIM request).
pub(crate) fn token_tenant(db: &mut Db, digest: &str) -> Result<Option<String>, StoreError> {
    with_conn!(db, |c| Ok(scim_tokens::table
        .filter(scim_tokens::token_sha256.eq(digest))
        .select(scim_tokens::tenant_id)
        .first(c)
        .optional()?))
}

/// Replaces the tenant's token (and only its) with one whose digest is `digest`.
pub(crate) fn replace_token(
    db: &mut Db,
    tenant: &str,
    digest: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    with_conn!(db, |c| c.transaction::<_, StoreError, _>(|c| {
        diesel::delete(scim_tokens::table.filter(scim_tokens::tenant_id.eq(tenant))).execute(c)?;
        diesel::insert_into(scim_tokens::table)
            .values((
                scim_tokens::tenant_id.eq(tenant),
                scim_tokens::token_sha256.eq(digest),
                scim_tokens::created_at.eq(now),
            ))
            .execute(c)?;
        Ok(())
    }))
}

/// Removes the token; with `detach_groups`, the groups SCIM owns become ordinary local groups.
/// Returns (tokens removed, groups detached).
pub(crate) fn revoke_token(
    db: &mut Db,
    tenant: &str,
    detach_groups: bool,
    now: NaiveDateTime,
) -> Result<(usize, usize), StoreError> {
    with_conn!(db, |c| c.transaction::<_, StoreError, _>(|c| {
        let removed =
            diesel::delete(scim_tokens::table.filter(scim_tokens::tenant_id.eq(tenant))).execute(c)?;
        let detached = if detach_groups {
            let scim_groups = groups::tenant_id.eq(tenant).and(groups::source.eq(SCIM_SOURCE));
            diesel::update(groups::table.filter(scim_groups))
                .set((
                    groups::source.eq(None::<String>),
                    groups::external_id.eq(None::<String>),
                    groups::read_only.eq(false),
                    groups::updated_at.eq(now),
                ))
                .execute(c)?
        } else {
            0
        };
        Ok((removed, detached))
    }))
}

impl Store {
    /// Replaces the tenant's SCIM token with one whose digest is `digest`; other tenants'
    /// tokens stay valid.
    pub async fn replace_scim_token(&self, digest: &str, now: NaiveDateTime) -> Result<(), StoreError> {
        let digest = digest.to_owned();
        self.scoped(move |db, t| replace_token(db, t, &digest, now)).await
    }

    /// The tenant whose SCIM token has this SHA-256 digest (hex). Whole database: the token
    /// presented is what selects a SCIM request's tenant.
    pub async fn scim_token_tenant(&self, digest: &str) -> Result<Option<TenantId>, StoreError> {
        let digest = digest.to_owned();
        let found = self.unit(move |db| token_tenant(db, &digest)).await?;
        found
            .map(|t| {
                TenantId::parse(&t)
                    .map_err(|e| StoreError::BadData(format!("scim_tokens.tenant_id {t:?}: {e}")))
            })
            .transpose()
    }

    /// Removes the SCIM token (see [`revoke_token`]); returns (tokens removed, groups detached).
    pub async fn revoke_scim_token(
        &self,
        detach_groups: bool,
        now: NaiveDateTime,
    ) -> Result<(usize, usize), StoreError> {
        self.scoped(move |db, t| revoke_token(db, t, detach_groups, now))
            .await
    }
}
