//! Schedules shared by every worker process on one database: when each connector is due, and
//! the claim that hands due connectors to one worker at a time. A claim locks the due rows it
//! reads (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent workers pass over each
//! other's rows instead of waiting) and takes each connector's lease (`lease.rs`) in the same
//! short transaction. The failure streak and quarantine stay in `sync_state`
//! (`supervision.rs`): a worker writes the next due time from them when a run ends.
//!
//! Claiming, syncing the stored connectors' rows and listing the held leases are
//! whole-database: a worker serves every tenant. Writing one connector's next due time is
//! scoped to the store's tenant.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};

use super::schema::{leases, schedules};
use super::{lease, with_conn, Db, Store, StoreError};
use crate::tenant::TenantId;

/// Where a scheduled connector is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `[[connectors]]` entry of the configuration file.
    File,
    /// A connector stored through the admin API (`connectors` table).
    Stored,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::File => "file",
            Origin::Stored => "stored",
        }
    }
}

/// A connector a worker claimed: its lease is the worker's until it releases it or stops
/// renewing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub tenant: TenantId,
    pub connector: String,
    pub origin: Origin,
    /// The stored connector's `updated_at` at the claim (`None` for the file's).
    pub version: Option<NaiveDateTime>,
}

/// What a claim took, and when the next of the claimable connectors is due (the worker
/// sleeps until then, or until its poll, whichever comes first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    pub claimed: Vec<Claimed>,
    pub next_due: Option<NaiveDateTime>,
}

/// A lease held right now, for `idsync status` and `/status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldLease {
    pub holder: String,
    pub tenant: String,
    pub connector: String,
    pub expires_at: NaiveDateTime,
}

/// What a claim asks for.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Who claims (the lease holder).
    pub holder: String,
    /// At most this many connectors.
    pub limit: usize,
    /// How long the leases last without renewal.
    pub ttl: Duration,
    /// The file's connectors this worker can run, as `tenant/name`: a file connector another
    /// process's configuration defines is not claimed by one that does not know it.
    pub files: Vec<String>,
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = Text)]
    tenant_id: String,
    #[diesel(sql_type = Text)]
    connector: String,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    version: Option<NaiveDateTime>,
}

/// The due rows, oldest due first, locked; rows another claim holds are skipped.
const DUE_POSTGRES: &str = "SELECT s.tenant_id, s.connector, s.origin, s.version FROM schedules s \
     WHERE s.next_due_at <= $1 \
       AND (s.origin = 'stored' OR (s.tenant_id || '/' || s.connector) = ANY($2)) \
       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.tenant_id = s.tenant_id \
                       AND l.connector = s.connector AND l.expires_at >= $1) \
     ORDER BY s.next_due_at, s.tenant_id, s.connector LIMIT $3 \
     FOR UPDATE OF s SKIP LOCKED";

/// SQLite has one writer at a time (the claim runs under `BEGIN IMMEDIATE`) and no arrays:
/// the file's connectors come as one newline-separated text.
const DUE_SQLITE: &str = "SELECT s.tenant_id, s.connector, s.origin, s.version FROM schedules s \
     WHERE s.next_due_at <= ?1 \
       AND (s.origin = 'stored' OR instr(?2, char(10) || s.tenant_id || '/' || s.connector || char(10)) > 0) \
       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.tenant_id = s.tenant_id \
                       AND l.connector = s.connector AND l.expires_at >= ?1) \
     ORDER BY s.next_due_at, s.tenant_id, s.connector LIMIT ?3";

/// The earliest due time among the connectors a claim could take.
const NEXT_POSTGRES: &str = "SELECT min(s.next_due_at) AS next_due_at FROM schedules s \
     WHERE s.origin = 'stored' OR (s.tenant_id || '/' || s.connector) = ANY($1)";

const NEXT_SQLITE: &str = "SELECT min(s.next_due_at) AS next_due_at FROM schedules s \
     WHERE s.origin = 'stored' OR instr(?1, char(10) || s.tenant_id || '/' || s.connector || char(10)) > 0";

#[derive(QueryableByName)]
struct NextRow {
    #[diesel(sql_type = Nullable<Timestamp>)]
    next_due_at: Option<NaiveDateTime>,
}

/// Stored connectors without a schedule, or changed since theirs was written.
const NEW_OR_CHANGED: &str = "SELECT c.tenant_id, c.name AS connector, c.updated_at, \
       (s.connector IS NOT NULL) AS existed FROM connectors c \
     LEFT JOIN schedules s ON s.tenant_id = c.tenant_id AND s.connector = c.name \
     WHERE s.connector IS NULL OR s.origin <> 'stored' OR s.version IS NULL OR s.version <> c.updated_at";

/// Schedules of stored connectors that were removed.
const REMOVED: &str = "SELECT tenant_id, connector FROM schedules WHERE origin = 'stored' AND NOT EXISTS \
     (SELECT 1 FROM connectors c WHERE c.tenant_id = schedules.tenant_id AND c.name = schedules.connector)";

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = Text)]
    tenant_id: String,
    #[diesel(sql_type = Text)]
    connector: String,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
    #[diesel(sql_type = Bool)]
    existed: bool,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    tenant_id: String,
    #[diesel(sql_type = Text)]
    connector: String,
}

/// What a sync of the stored connectors' schedules changed, as `(tenant, name)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoredChanges {
    pub found: Vec<(String, String)>,
    pub changed: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
}

impl Store {
    /// Schedules the file's connectors (whole-database): each is due now, as every
    /// connector runs once when a process starts.
    pub async fn register_file_schedules(
        &self,
        connectors: Vec<(TenantId, String)>,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        self.unit(move |db| {
            db.transaction(|db| {
                for (tenant, name) in &connectors {
                    register_file(db, tenant.as_str(), name, now)?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Brings the stored connectors' schedules in line with the `connectors` table
    /// (whole-database): a new or changed one is due now, a removed one is dropped.
    pub async fn sync_stored_schedules(&self, now: NaiveDateTime) -> Result<StoredChanges, StoreError> {
        self.unit(move |db| db.transaction(|db| sync_stored(db, now)))
            .await
    }

    /// Claims up to `request.limit` due connectors whose lease is free or expired, and takes
    /// their leases (whole-database), in one short transaction. Each claimed row is due
    /// again when its lease would expire, so a holder that dies loses it to the next claim
    /// after that; the worker writes the real next due time when the run ends. The answer
    /// also says when the next claimable connector is due, read after the claim.
    pub async fn claim_due(&self, request: ClaimRequest, now: NaiveDateTime) -> Result<Claim, StoreError> {
        self.unit(move |db| {
            db.write_transaction(|db| {
                let claimed = claim(db, &request, now)?;
                let next_due = earliest_due(db, &request.files)?;
                Ok(Claim { claimed, next_due })
            })
        })
        .await
    }

    /// Writes when this tenant's `connector` is due next, unless its stored settings changed
    /// since `version` was claimed: then it is due at `now`, to run with the new settings.
    pub async fn set_next_due(
        &self,
        connector: &str,
        version: Option<NaiveDateTime>,
        next: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, t| set_next_due(db, t, &connector, version, (next, now)))
            .await
    }

    /// When this tenant's `connector` is due next, if it is scheduled.
    pub async fn next_due(&self, connector: &str) -> Result<Option<NaiveDateTime>, StoreError> {
        let connector = connector.to_owned();
        self.scoped(move |db, t| {
            Ok(with_conn!(db, |c| schedules::table
                .find((t, connector.as_str()))
                .select(schedules::next_due_at)
                .first(c)
                .optional())?)
        })
        .await
    }

    /// Every lease held now, by holder (whole-database: for `idsync status`).
    pub async fn held_leases(&self) -> Result<Vec<HeldLease>, StoreError> {
        self.unit(move |db| held(db, None, super::now())).await
    }

    /// This tenant's leases held now, by holder.
    pub async fn held_leases_of_tenant(&self) -> Result<Vec<HeldLease>, StoreError> {
        self.scoped(move |db, t| held(db, Some(t), super::now())).await
    }
}

fn register_file(db: &mut Db, tenant: &str, name: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    let due = (
        schedules::origin.eq(Origin::File.as_str()),
        schedules::version.eq(None::<NaiveDateTime>),
        schedules::next_due_at.eq(now),
    );
    with_conn!(db, |c| diesel::insert_into(schedules::table)
        .values((
            schedules::tenant_id.eq(tenant),
            schedules::connector.eq(name),
            due
        ))
        .on_conflict((schedules::tenant_id, schedules::connector))
        .do_update()
        .set(due)
        .execute(c))?;
    Ok(())
}

fn sync_stored(db: &mut Db, now: NaiveDateTime) -> Result<StoredChanges, StoreError> {
    let mut changes = StoredChanges::default();
    let due: Vec<StoredRow> = with_conn!(db, |c| diesel::sql_query(NEW_OR_CHANGED).load(c))?;
    for row in due {
        let values = (
            schedules::origin.eq(Origin::Stored.as_str()),
            schedules::version.eq(Some(row.updated_at)),
            schedules::next_due_at.eq(now),
        );
        with_conn!(db, |c| diesel::insert_into(schedules::table)
            .values((
                schedules::tenant_id.eq(&row.tenant_id),
                schedules::connector.eq(&row.connector),
                values
            ))
            .on_conflict((schedules::tenant_id, schedules::connector))
            .do_update()
            .set(values)
            .execute(c))?;
        let list = if row.existed {
            &mut changes.changed
        } else {
            &mut changes.found
        };
        list.push((row.tenant_id, row.connector));
    }
    let gone: Vec<KeyRow> = with_conn!(db, |c| diesel::sql_query(REMOVED).load(c))?;
    for row in gone {
        with_conn!(db, |c| diesel::delete(
            schedules::table.find((row.tenant_id.as_str(), row.connector.as_str()))
        )
        .execute(c))?;
        changes.removed.push((row.tenant_id, row.connector));
    }
    Ok(changes)
}

fn claim(db: &mut Db, request: &ClaimRequest, now: NaiveDateTime) -> Result<Vec<Claimed>, StoreError> {
    let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
    let due: Vec<DueRow> = match db {
        Db::Postgres(c) => diesel::sql_query(DUE_POSTGRES)
            .bind::<Timestamp, _>(now)
            .bind::<Array<Text>, _>(&request.files)
            .bind::<BigInt, _>(limit)
            .load(c)?,
        Db::Sqlite(c) => diesel::sql_query(DUE_SQLITE)
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(file_list(&request.files))
            .bind::<BigInt, _>(limit)
            .load(c)?,
    };
    let mut claimed = Vec::with_capacity(due.len());
    for row in due {
        // An admin API run may have taken the lease since the read: then it is not ours.
        if !lease::acquire(
            db,
            &row.tenant_id,
            &row.connector,
            &request.holder,
            request.ttl,
            now,
        )? {
            continue;
        }
        with_conn!(db, |c| diesel::update(
            schedules::table.find((row.tenant_id.as_str(), row.connector.as_str()))
        )
        .set(schedules::next_due_at.eq(now + request.ttl))
        .execute(c))?;
        let Ok(tenant) = TenantId::parse(&row.tenant_id) else {
            continue;
        };
        claimed.push(Claimed {
            tenant,
            connector: row.connector,
            origin: if row.origin == Origin::File.as_str() {
                Origin::File
            } else {
                Origin::Stored
            },
            version: row.version,
        });
    }
    Ok(claimed)
}

/// The earliest due time among the stored connectors and the file's `files`.
fn earliest_due(db: &mut Db, files: &[String]) -> Result<Option<NaiveDateTime>, StoreError> {
    let row: NextRow = match db {
        Db::Postgres(c) => diesel::sql_query(NEXT_POSTGRES)
            .bind::<Array<Text>, _>(files)
            .get_result(c)?,
        Db::Sqlite(c) => diesel::sql_query(NEXT_SQLITE)
            .bind::<Text, _>(file_list(files))
            .get_result(c)?,
    };
    Ok(row.next_due_at)
}

/// The file's connectors as one newline-separated text (SQLite has no arrays).
fn file_list(files: &[String]) -> String {
    format!("\n{}\n", files.join("\n"))
}

fn set_next_due(
    db: &mut Db,
    tenant: &str,
    connector: &str,
    version: Option<NaiveDateTime>,
    (next, now): (NaiveDateTime, NaiveDateTime),
) -> Result<(), StoreError> {
    let row = schedules::table.find((tenant, connector));
    let stored: Option<Option<NaiveDateTime>> =
        with_conn!(db, |c| row.select(schedules::version).first(c).optional())?;
    let Some(current) = stored else {
        // Removed while it ran: nothing to schedule.
        return Ok(());
    };
    let due = if current == version { next } else { now };
    with_conn!(db, |c| diesel::update(row)
        .set(schedules::next_due_at.eq(due))
        .execute(c))?;
    Ok(())
}

fn held(db: &mut Db, tenant: Option<&str>, now: NaiveDateTime) -> Result<Vec<HeldLease>, StoreError> {
    let rows: Vec<(String, String, String, NaiveDateTime)> = with_conn!(db, |c| {
        let mut query = leases::table
            .filter(leases::expires_at.ge(now))
            .select((
                leases::holder,
                leases::tenant_id,
                leases::connector,
                leases::expires_at,
            ))
            .order((leases::holder, leases::tenant_id, leases::connector))
            .into_boxed();
        if let Some(tenant) = tenant {
            query = query.filter(leases::tenant_id.eq(tenant));
        }
        query.load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(holder, tenant, connector, expires_at)| HeldLease {
            holder,
            tenant,
            connector,
            expires_at,
        })
        .collect())
}
