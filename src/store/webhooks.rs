//! Webhook endpoints and their delivery attempts: the rows behind `src/webhooks` and the admin
//! API's `/webhooks`. Each endpoint keeps its own position in the change feed
//! (`delivered_seq`), moved only when an attempt succeeds, in the same transaction as the
//! attempt's record, so a crash at any point re-sends rather than loses.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{webhook_attempts, webhooks};
use super::{with_conn, Db, Store, StoreError};

/// One endpoint as stored (its secret sealed, or NULL for one of the configuration file).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub tenant_id: String,
    pub name: String,
    pub url: String,
    pub secret: Option<String>,
    pub key_id: Option<String>,
    pub types: String,
    pub batch_size: i64,
    pub from_config: bool,
    pub created_after_seq: i64,
    pub delivered_seq: i64,
    pub failures: i64,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl WebhookRow {
    /// The change types it wants; empty means every type.
    pub fn type_list(&self) -> Vec<String> {
        serde_json::from_str(&self.types).unwrap_or_default()
    }
}

/// What a PUT (or the configuration file) says about an endpoint.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    pub url: String,
    /// The sealed secret and its key id; `None` keeps the stored one (or, for an endpoint of
    /// the configuration file, stores none).
    pub sealed_secret: Option<(String, Option<String>)>,
    pub types: Vec<String>,
    pub batch_size: i64,
    pub from_config: bool,
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub id: i64,
    pub message_id: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub attempted_at: NaiveDateTime,
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

/// An attempt to record, and what it means for the endpoint.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub message_id: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub attempted_at: NaiveDateTime,
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// The position the endpoint was at when the attempt started: the outcome is applied only
    /// if it is still there (a replay in between wins).
    pub from_seq: i64,
    pub outcome: Outcome,
}

/// What an attempt does to the endpoint.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Acknowledged: the position moves to `last_seq`, the failures reset.
    Delivered,
    /// Failed; the next attempt is due then.
    Retry { failures: i64, next_at: NaiveDateTime },
    /// Failed with the retry schedule spent: the endpoint is disabled.
    Disable { failures: i64, reason: String },
}

fn one<'a>(tenant: &'a str, name: &'a str) -> One<'a> {
    webhooks::table.filter(webhooks::tenant_id.eq(tenant).and(webhooks::name.eq(name)))
}

type One<'a> = diesel::dsl::Filter<
    webhooks::table,
    diesel::dsl::And<diesel::dsl::Eq<webhooks::tenant_id, &'a str>, diesel::dsl::Eq<webhooks::name, &'a str>>,
>;

/// Creates or changes an endpoint; returns true when it was created. A new endpoint starts at
/// the feed's end (it receives the changes committed after its creation); a changed one keeps
/// its position and is enabled again.
pub(crate) fn put(
    db: &mut Db,
    tenant: &str,
    name: &str,
    spec: &WebhookSpec,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let types = serde_json::to_string(&spec.types)?;
    // It reads, then writes: the write lock is taken first (`BEGIN IMMEDIATE` on SQLite), so
    // a concurrent writer makes it wait instead of failing it.
    db.write_transaction(|db| {
        let existing: Option<WebhookRow> = with_conn!(db, |c| one(tenant, name)
            .select(WebhookRow::as_select())
            .first(c)
            .optional())?;
        if existing.is_some() {
            let target = one(tenant, name);
            let values = (
                webhooks::url.eq(&spec.url),
                webhooks::types.eq(&types),
                webhooks::batch_size.eq(spec.batch_size),
                webhooks::from_config.eq(spec.from_config),
                webhooks::disabled_at.eq(None::<NaiveDateTime>),
                webhooks::disabled_reason.eq(None::<String>),
                webhooks::failures.eq(0),
                webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
                webhooks::updated_at.eq(now),
            );
            with_conn!(db, |c| diesel::update(target).set(values).execute(c))?;
            if let Some((secret, key_id)) = &spec.sealed_secret {
                let target = one(tenant, name);
                let values = (webhooks::secret.eq(secret), webhooks::key_id.eq(key_id));
                with_conn!(db, |c| diesel::update(target).set(values).execute(c))?;
            }
            return Ok(false);
        }
        let end = super::changes::last_seq(db)?;
        let (secret, key_id) = spec.sealed_secret.clone().unzip();
        let values = (
            webhooks::tenant_id.eq(tenant),
            webhooks::name.eq(name),
            webhooks::url.eq(&spec.url),
            webhooks::secret.eq(secret),
            webhooks::key_id.eq(key_id.flatten()),
            webhooks::types.eq(&types),
            webhooks::batch_size.eq(spec.batch_size),
            webhooks::from_config.eq(spec.from_config),
            webhooks::created_after_seq.eq(end),
            webhooks::delivered_seq.eq(end),
            webhooks::created_at.eq(now),
            webhooks::updated_at.eq(now),
        );
        with_conn!(db, |c| diesel::insert_into(webhooks::table)
            .values(values)
            .execute(c))?;
        Ok(true)
    })
}

pub(crate) fn get(db: &mut Db, tenant: &str, name: &str) -> Result<Option<WebhookRow>, StoreError> {
    Ok(with_conn!(db, |c| one(tenant, name)
        .select(WebhookRow::as_select())
        .first(c)
        .optional())?)
}

/// Every tenant's endpoints. Whole database: the delivery serves them all.
pub(crate) fn all(db: &mut Db) -> Result<Vec<WebhookRow>, StoreError> {
    Ok(with_conn!(db, |c| webhooks::table
        .order((webhooks::tenant_id, webhooks::name))
        .select(WebhookRow::as_select())
        .load(c))?)
}

pub(crate) fn list(db: &mut Db, tenant: &str) -> Result<Vec<WebhookRow>, StoreError> {
    Ok(with_conn!(db, |c| webhooks::table
        .filter(webhooks::tenant_id.eq(tenant))
        .order(webhooks::name)
        .select(WebhookRow::as_select())
        .load(c))?)
}

/// Removes the endpoint and its attempts; returns whether it existed.
pub(crate) fn delete(db: &mut Db, tenant: &str, name: &str) -> Result<bool, StoreError> {
    db.write_transaction(|db| {
        let attempts = webhook_attempts::table.filter(
            webhook_attempts::tenant_id
                .eq(tenant)
                .and(webhook_attempts::webhook.eq(name)),
        );
        with_conn!(db, |c| diesel::delete(attempts).execute(c))?;
        let n = with_conn!(db, |c| diesel::delete(one(tenant, name)).execute(c))?;
        Ok(n > 0)
    })
}

/// Sends again everything after `after`: the position moves there, the endpoint is enabled.
pub(crate) fn replay(
    db: &mut Db,
    tenant: &str,
    name: &str,
    after: i64,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let values = (
        webhooks::delivered_seq.eq(after),
        webhooks::failures.eq(0),
        webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
        webhooks::disabled_at.eq(None::<NaiveDateTime>),
        webhooks::disabled_reason.eq(None::<String>),
        webhooks::updated_at.eq(now),
    );
    let n = with_conn!(db, |c| diesel::update(one(tenant, name)).set(values).execute(c))?;
    Ok(n > 0)
}

/// The newest `limit` attempts, newest first.
pub(crate) fn attempts(
    db: &mut Db,
    tenant: &str,
    name: &str,
    limit: i64,
) -> Result<Vec<AttemptRow>, StoreError> {
    Ok(with_conn!(db, |c| webhook_attempts::table
        .filter(
            webhook_attempts::tenant_id
                .eq(tenant)
                .and(webhook_attempts::webhook.eq(name))
        )
        .order(webhook_attempts::id.desc())
        .limit(limit)
        .select(AttemptRow::as_select())
        .load(c))?)
}

/// Moves the position past changes the endpoint does not want (no attempt is made for them),
/// if it is still at `from`.
pub(crate) fn skip(db: &mut Db, tenant: &str, name: &str, from: i64, to: i64) -> Result<(), StoreError> {
    let target = one(tenant, name).filter(webhooks::delivered_seq.eq(from));
    with_conn!(db, |c| diesel::update(target)
        .set(webhooks::delivered_seq.eq(to))
        .execute(c))?;
    Ok(())
}

/// Records attempts made one after another from the same position (successes, then maybe
/// one failure) and applies their outcome, in one transaction: the position moves to the
/// last acknowledged message. Returns false when the endpoint had moved meanwhile (a replay)
/// and the outcome was not applied (the attempts are recorded all the same).
pub(crate) fn record(
    db: &mut Db,
    tenant: &str,
    name: &str,
    attempts: &[Attempt],
) -> Result<bool, StoreError> {
    let (Some(first), Some(last)) = (attempts.first(), attempts.last()) else {
        return Ok(true);
    };
    db.write_transaction(|db| {
        for chunk in attempts.chunks(500) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|a| {
                    (
                        webhook_attempts::tenant_id.eq(tenant),
                        webhook_attempts::webhook.eq(name),
                        webhook_attempts::message_id.eq(&a.message_id),
                        webhook_attempts::first_seq.eq(a.first_seq),
                        webhook_attempts::last_seq.eq(a.last_seq),
                        webhook_attempts::attempted_at.eq(a.attempted_at),
                        webhook_attempts::status.eq(a.status),
                        webhook_attempts::duration_ms.eq(a.duration_ms),
                        webhook_attempts::error.eq(a.error.as_deref()),
                    )
                })
                .collect();
            with_conn!(db, |c| diesel::insert_into(webhook_attempts::table)
                .values(&rows)
                .execute(c))?;
        }
        let delivered_to = attempts
            .iter()
            .rev()
            .find(|a| matches!(a.outcome, Outcome::Delivered))
            .map_or(first.from_seq, |a| a.last_seq);
        let target = one(tenant, name).filter(webhooks::delivered_seq.eq(first.from_seq));
        let now = last.attempted_at;
        let n = match &last.outcome {
            Outcome::Delivered => {
                let values = (
                    webhooks::delivered_seq.eq(delivered_to),
                    webhooks::failures.eq(0),
                    webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
                );
                with_conn!(db, |c| diesel::update(target).set(values).execute(c))?
            }
            Outcome::Retry { failures, next_at } => {
                let values = (
                    webhooks::delivered_seq.eq(delivered_to),
                    webhooks::failures.eq(failures),
                    webhooks::next_attempt_at.eq(next_at),
                );
                with_conn!(db, |c| diesel::update(target).set(values).execute(c))?
            }
            Outcome::Disable { failures, reason } => {
                let values = (
                    webhooks::delivered_seq.eq(delivered_to),
                    webhooks::failures.eq(failures),
                    webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
                    webhooks::disabled_at.eq(now),
                    webhooks::disabled_reason.eq(reason),
                    webhooks::updated_at.eq(now),
                );
                with_conn!(db, |c| diesel::update(target).set(values).execute(c))?
            }
        };
        Ok(n > 0)
    })
}

/// Deletes the tenant's attempts older than `before`; returns how many.
pub(crate) fn prune_attempts(db: &mut Db, tenant: &str, before: NaiveDateTime) -> Result<usize, StoreError> {
    let old = webhook_attempts::tenant_id
        .eq(tenant)
        .and(webhook_attempts::attempted_at.lt(before));
    Ok(with_conn!(db, |c| diesel::delete(
        webhook_attempts::table.filter(old)
    )
    .execute(c))?)
}

/// Rewrites the sealed secret of every endpoint that has one, as `reseal` says (inside the
/// caller's transaction): how many were rewritten.
pub(super) fn reseal<E>(
    db: &mut Db,
    mut reseal: impl FnMut(&WebhookRow) -> Result<Option<(String, Option<String>)>, E>,
) -> Result<usize, E>
where
    E: From<StoreError>,
{
    let mut rewritten = 0;
    for row in all(db).map_err(E::from)? {
        if row.secret.is_none() {
            continue;
        }
        let Some((secret, key_id)) = reseal(&row)? else {
            continue;
        };
        let target = webhooks::table.find((row.tenant_id.as_str(), row.name.as_str()));
        let update = diesel::update(target).set((webhooks::secret.eq(secret), webhooks::key_id.eq(key_id)));
        with_conn!(db, |c| update.execute(c)).map_err(StoreError::from)?;
        rewritten += 1;
    }
    Ok(rewritten)
}

impl Store {
    /// Creates or changes the tenant's endpoint `name`; true when created.
    pub async fn put_webhook(
        &self,
        name: &str,
        spec: WebhookSpec,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.scoped(move |db, t| put(db, t, &name, &spec, now)).await
    }

    pub async fn webhook(&self, name: &str) -> Result<Option<WebhookRow>, StoreError> {
        let name = name.to_owned();
        self.scoped(move |db, t| get(db, t, &name)).await
    }

    /// The tenant's endpoints, by name.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        self.scoped(list).await
    }

    /// Every tenant's endpoints. Whole database: for the delivery.
    pub async fn all_webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        self.unit(all).await
    }

    pub async fn delete_webhook(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.scoped(move |db, t| delete(db, t, &name)).await
    }

    pub async fn replay_webhook(
        &self,
        name: &str,
        after: i64,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let done = self.scoped(move |db, t| replay(db, t, &name, after, now)).await;
        self.notify_changes();
        done
    }

    pub async fn webhook_attempts(&self, name: &str, limit: i64) -> Result<Vec<AttemptRow>, StoreError> {
        let name = name.to_owned();
        self.scoped(move |db, t| attempts(db, t, &name, limit)).await
    }

    pub async fn skip_webhook(&self, name: &str, from: i64, to: i64) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.scoped(move |db, t| skip(db, t, &name, from, to)).await
    }

    /// Records attempts from one position; false when the endpoint had moved meanwhile (see
    /// [`record`]).
    pub async fn record_webhook_attempts(
        &self,
        name: &str,
        attempts: Vec<Attempt>,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.scoped(move |db, t| record(db, t, &name, &attempts)).await
    }

    /// Prunes the tenant's changes and delivery attempts older than `before`.
    pub async fn prune_feed(&self, before: NaiveDateTime) -> Result<(usize, usize), StoreError> {
        self.scoped(move |db, t| {
            Ok((
                super::changes::prune(db, t, before)?,
                prune_attempts(db, t, before)?,
            ))
        })
        .await
    }
}
