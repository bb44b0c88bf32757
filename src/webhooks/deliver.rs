//! One endpoint's delivery loop: the tenant's changes after the endpoint's position, in `seq`
//! order, one message at a time. A 2xx answer moves the position (in the same transaction as
//! the attempt's record); anything else, a timeout or a refused connection is retried after the
//! next wait of the retry schedule; a failure after the last wait disables the endpoint and
//! sends the failure mail. The position is only ever moved after an acknowledgement, so a crash
//! or `kill -9` at any point re-sends (with the same `webhook-id`) and never loses a change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use idsync_source::Secret;
use lettre::message::Mailbox;
use tokio::sync::watch;
use tracing::{info, warn};

use super::message::{self, Message};
use super::sign::SigningSecret;
use crate::secrets::Keyring;
use crate::store::changes::ChangeRow;
use crate::store::webhooks::{Attempt, Outcome, WebhookRow};
use crate::store::{Store, StoreError};
use crate::supervise::mail::Mailer;
use crate::tenant::TenantId;

/// Changes read from the feed at a time.
const PAGE: i64 = 1000;

/// Acknowledged messages recorded together (one transaction per this many).
const RECORD_EVERY: usize = 100;

/// How long one process's claim on an endpoint lasts without renewal. Every pass renews it,
/// so a process that dies hands the endpoint to another within this; the floor keeps a pass
/// of slow answers (each up to `timeout`) from losing the claim half-way.
fn lease_ttl(settings: &DeliverySettings) -> chrono::Duration {
    let ttl = (settings.timeout * 4).max(Duration::from_secs(60));
    chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60))
}

/// The lease row of an endpoint, in the connectors' lease table. A connector's name is one
/// word (no whitespace), so this never names a connector's lease.
fn lease_name(webhook: &str) -> String {
    format!("webhook {webhook}")
}

/// How delivery behaves (`[webhook_delivery]`).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// The wait after each failure (the first entry is the first attempt's: at once).
    pub retry_schedule: Vec<Duration>,
    /// One request's limit.
    pub timeout: Duration,
    /// How often an idle endpoint looks for changes written by another process (changes of
    /// this process wake it at once).
    pub poll: Duration,
}

impl DeliverySettings {
    pub fn from_config(c: &crate::config::WebhookDeliveryConfig) -> DeliverySettings {
        DeliverySettings {
            retry_schedule: c
                .retry_schedule_secs
                .iter()
                .map(|&s| Duration::from_secs(s))
                .collect(),
            timeout: Duration::from_secs(c.timeout_secs),
            poll: Duration::from_secs(1),
        }
    }
}

/// Where the endpoints' signing secrets come from: sealed in the database (opened with the
/// keyring), or the configuration file's.
#[derive(Debug, Clone, Default)]
pub struct SecretSource {
    pub keyring: Keyring,
    pub file: HashMap<(TenantId, String), Secret>,
}

impl SecretSource {
    fn of(&self, row: &WebhookRow) -> Result<SigningSecret, String> {
        let plain = match &row.secret {
            Some(sealed) => self.keyring.open(sealed).map_err(|e| e.to_string())?,
            None => {
                let tenant = TenantId::parse(&row.tenant_id).map_err(|e| e.to_string())?;
                self.file
                    .get(&(tenant, row.name.clone()))
                    .cloned()
                    .ok_or_else(|| {
                        "the endpoint's secret is no longer in the configuration file".to_owned()
                    })?
            }
        };
        SigningSecret::parse(plain.expose()).map_err(|e| e.to_string())
    }
}

/// What every endpoint loop shares.
#[derive(Debug)]
pub struct Delivery {
    pub store: Store,
    pub client: reqwest::Client,
    pub settings: DeliverySettings,
    pub secrets: SecretSource,
    /// The failure mail (`[alerts]`), when configured, and each tenant's own recipients.
    pub mailer: Option<Arc<Mailer>>,
    pub recipients: HashMap<TenantId, Vec<Mailbox>>,
    /// This process's name on the endpoints' leases.
    holder: String,
}

impl Delivery {
    pub fn new(
        store: Store,
        settings: DeliverySettings,
        secrets: SecretSource,
    ) -> Result<Delivery, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("idsync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Delivery {
            store,
            client,
            settings,
            secrets,
            holder: format!("webhooks:{}", uuid::Uuid::new_v4().simple()),
            mailer: None,
            recipients: HashMap::new(),
        })
    }

    /// The same delivery, holding endpoint leases as `holder`.
    pub fn holding_as(mut self, holder: String) -> Delivery {
        self.holder = holder;
        self
    }

    /// Delivers to the endpoint until it is deleted or `stop` turns true.
    pub async fn run_endpoint(
        self: Arc<Self>,
        tenant: TenantId,
        name: String,
        mut stop: watch::Receiver<bool>,
    ) {
        let store = self.store.for_tenant(tenant.clone());
        let mut applied = store.subscribe_changes();
        loop {
            if *stop.borrow() {
                break;
            }
            let wait = match self.step(&store, &name, &mut stop).await {
                Ok(Some(wait)) => wait,
                Ok(None) => break,
                Err(e) => {
                    warn!(%tenant, webhook = %name, error = %e, "webhook delivery cannot read the store");
                    self.settings.poll
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = applied.changed() => {}
                _ = stop.changed() => break,
            }
        }
        // Another process may take the endpoint over at once.
        if let Err(e) = store.release_lease(&lease_name(&name), &self.holder).await {
            warn!(%tenant, webhook = %name, error = %e, "webhook delivery cannot release its lease");
        }
    }

    /// One pass: delivers what is due; returns how long to wait before the next pass (`None`:
    /// the endpoint is gone).
    async fn step(
        &self,
        store: &Store,
        name: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<Duration>, StoreError> {
        let Some(row) = store.webhook(name).await? else {
            return Ok(None);
        };
        if row.disabled_at.is_some() {
            return Ok(Some(self.settings.poll));
        }
        // One process delivers to an endpoint at a time, so messages go out in `seq` order
        // however many processes share the database.
        let ttl = lease_ttl(&self.settings);
        if !store.acquire_lease(&lease_name(name), &self.holder, ttl).await? {
            return Ok(Some(self.settings.poll));
        }
        if let Some(due) = row.next_attempt_at {
            let left = (due - crate::store::now()).to_std().unwrap_or_default();
            if !left.is_zero() {
                return Ok(Some(left.min(self.settings.poll)));
            }
        }
        let rows = store.changes_after(row.delivered_seq, PAGE).await?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(Some(self.settings.poll));
        };
        let types = row.type_list();
        let wanted: Vec<ChangeRow> = rows
            .into_iter()
            .filter(|r| types.is_empty() || types.contains(&r.change_type))
            .collect();
        let size = usize::try_from(row.batch_size).unwrap_or(1).clamp(1, 1000);
        let (mut position, mut failures) = (row.delivered_seq, row.failures);
        // Acknowledged attempts are recorded (and the position moved) every `RECORD_EVERY`
        // messages: a crash in between re-sends at most those, with the same ids.
        let mut pending: Vec<Attempt> = Vec::new();
        let mut from = row.delivered_seq;
        for chunk in wanted.chunks(size) {
            let Some(message) = message::of(chunk) else {
                continue;
            };
            if *stop.borrow() {
                break;
            }
            let mut attempt = self.attempt(&row, failures, &message).await;
            attempt.from_seq = from;
            let delivered = matches!(attempt.outcome, Outcome::Delivered);
            let disabled = matches!(attempt.outcome, Outcome::Disable { .. });
            let reason = attempt.error.clone().unwrap_or_default();
            pending.push(attempt);
            if !delivered {
                let applied = store.record_webhook_attempts(name, pending).await?;
                if applied && disabled {
                    self.report_disabled(&row, &reason).await;
                }
                return Ok(Some(Duration::ZERO));
            }
            (position, failures) = (message.last_seq, 0);
            if pending.len() >= RECORD_EVERY {
                if !store
                    .record_webhook_attempts(name, std::mem::take(&mut pending))
                    .await?
                {
                    // Replayed or changed meanwhile: start again from its new position.
                    return Ok(Some(Duration::ZERO));
                }
                from = position;
            }
        }
        if !pending.is_empty() && !store.record_webhook_attempts(name, pending).await? {
            return Ok(Some(Duration::ZERO));
        }
        if last > position && !*stop.borrow() {
            store.skip_webhook(name, position, last).await?;
        }
        Ok(Some(Duration::ZERO))
    }

    /// Sends one message and says what its outcome means for the endpoint.
    async fn attempt(&self, row: &WebhookRow, failures: i64, message: &Message) -> Attempt {
        let attempted_at = crate::store::now();
        let started = Instant::now();
        let (status, error) = match self.secrets.of(row) {
            Ok(secret) => self.send(&row.url, &secret, message).await,
            Err(e) => (None, Some(format!("cannot sign: {e}"))),
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let outcome = if error.is_none() {
            Outcome::Delivered
        } else {
            let failures = failures + 1;
            match usize::try_from(failures)
                .ok()
                .and_then(|f| self.settings.retry_schedule.get(f))
            {
                Some(wait) => Outcome::Retry {
                    failures,
                    next_at: attempted_at + chrono::Duration::from_std(*wait).unwrap_or_default(),
                },
                None => Outcome::Disable {
                    failures,
                    reason: format!(
                        "{} attempts at {} failed; the last: {}",
                        failures,
                        message.id,
                        error.as_deref().unwrap_or_default()
                    ),
                },
            }
        };
        Attempt {
            message_id: message.id.clone(),
            first_seq: message.first_seq,
            last_seq: message.last_seq,
            attempted_at,
            status,
            duration_ms,
            error,
            from_seq: row.delivered_seq,
            outcome,
        }
    }

    /// One POST: the status received (if any) and what went wrong (`None`: a 2xx).
    async fn send(
        &self,
        url: &str,
        secret: &SigningSecret,
        message: &Message,
    ) -> (Option<i64>, Option<String>) {
        let timestamp = chrono::Utc::now().timestamp();
        let signature = secret.sign(&message.id, timestamp, &message.body);
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let status = answer.status();
                // The body is read (and dropped) so the connection can be reused.
                let _ = answer.bytes().await;
                if status.is_success() {
                    (Some(i64::from(status.as_u16())), None)
                } else {
                    (
                        Some(i64::from(status.as_u16())),
                        Some(format!("answered {status}")),
                    )
                }
            }
            Err(e) if e.is_timeout() => (
                None,
                Some(format!("no answer within {}s", self.settings.timeout.as_secs())),
            ),
            Err(e) if e.is_connect() => (None, Some("cannot connect".to_owned())),
            Err(e) => (None, Some(format!("request failed: {}", without_url(&e)))),
        }
    }

    async fn report_disabled(&self, row: &WebhookRow, reason: &str) {
        warn!(tenant = %row.tenant_id, webhook = %row.name, reason, "webhook disabled");
        let Some(mailer) = &self.mailer else {
            return;
        };
        let also = TenantId::parse(&row.tenant_id)
            .ok()
            .and_then(|t| self.recipients.get(&t).cloned())
            .unwrap_or_default();
        let subject = format!("idsync: webhook {}/{} disabled", row.tenant_id, row.name);
        let body = format!(
            "The webhook {name} of tenant {tenant} ({url}) is disabled: {reason}.\n\n\
             Changes are kept; once the receiver works again, replay from where it stopped:\n\
             POST /admin/v1/tenants/{tenant}/webhooks/{name}/replay {{\"after\": {seq}}}\n",
            name = row.name,
            tenant = row.tenant_id,
            url = row.url,
            seq = row.delivered_seq,
        );
        match mailer.send_also_to(&subject, body, &also).await {
            Ok(()) => info!(tenant = %row.tenant_id, webhook = %row.name, "webhook failure mail sent"),
            Err(e) => {
                warn!(tenant = %row.tenant_id, webhook = %row.name, error = %e, "webhook failure mail not sent")
            }
        }
    }
}

/// A request error's text without its URL (which may carry credentials in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}
