//! What surrounds a run, for the daemon and `resync` alike: the lease (one process runs a
//! connector at a time), the failure streak and quarantine, metrics, and alert mail.
//! A failure here (mail, metrics) is logged and never breaks a sync.

pub mod alerts;
pub mod mail;
pub mod problems;
pub mod quarantine;

use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use thiserror::Error;
use tracing::{info, warn, Instrument};

use self::alerts::{AlertRow, Condition, Mail};
pub use self::mail::{MailError, Mailer};
pub use self::problems::Problems;
use self::quarantine::{Health, QuarantineSettings, Transition};
use crate::config::{Config, ConnectorConfig, Schedule};
use crate::connectors::Connector;
use crate::reconcile::{self, Outcome, RunOptions, RunProgress, RunReport};
use crate::store::{self, Store};
use crate::tenant::TenantId;
use lettre::message::Mailbox;
use std::collections::HashMap;

/// A supervised run's result.
#[derive(Debug)]
pub enum Supervised {
    /// The run took place (a dry run too), with the health it left behind.
    Ran {
        report: Box<RunReport>,
        health: Health,
        transition: Transition,
    },
    /// The run did not start: another process holds the lease, or it could not be taken.
    Skipped { reason: String, health: Health },
}

impl Supervised {
    /// The connector's health after the run (or as stored, when it was skipped).
    pub fn health(&self) -> &Health {
        match self {
            Supervised::Ran { health, .. } | Supervised::Skipped { health, .. } => health,
        }
    }
}

/// A scheduled run's next due time, written when the run ends and before its lease is
/// released, so no other worker finds the connector due in between.
pub struct NextDue<'a> {
    /// The stored connector's version the run was claimed with (see `Store::set_next_due`).
    pub version: Option<NaiveDateTime>,
    /// The next due time from the health the run left behind.
    pub after: &'a (dyn Fn(&Health) -> NaiveDateTime + Send + Sync),
}

/// Why the supervisor cannot be set up.
#[derive(Debug, Error)]
pub enum SuperviseError {
    #[error(transparent)]
    Mail(#[from] MailError),
}

pub struct Supervisor {
    store: Store,
    /// Who we are in the leases table: host, process and a random suffix.
    holder: String,
    lease: Duration,
    quarantine: QuarantineSettings,
    mailer: Option<Mailer>,
    /// Each tenant's own alert recipients (`[[tenants]] alerts_to`), added to `[alerts] to`.
    recipients: HashMap<TenantId, Vec<Mailbox>>,
    reminder: Duration,
    /// Failing writes and dead runs, for `/healthz`.
    problems: Problems,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    pub fn new(config: &Config, store: Store) -> Result<Supervisor, SuperviseError> {
        let mailer = config.alerts.as_ref().map(Mailer::new).transpose()?;
        let recipients = mail::tenant_recipients(&config.tenants)?;
        let reminder = match config
            .alerts
            .as_ref()
            .map(|a| Schedule::parse_interval(&a.reminder_after))
        {
            Some(Ok(Schedule::Every(d))) => Duration::from_std(d).unwrap_or_else(|_| Duration::hours(24)),
            _ => Duration::hours(24),
        };
        let holder = format!(
            "{}:{}:{:08x}",
            host_name(),
            std::process::id(),
            rand::random::<u32>()
        );
        let lease_secs = i64::try_from(config.daemon.lease_secs).unwrap_or(120);
        Ok(Supervisor {
            store: store.with_worker(&holder),
            holder,
            lease: Duration::seconds(lease_secs.max(3)),
            quarantine: QuarantineSettings {
                after_failures: config.daemon.quarantine_after_failures,
                ..QuarantineSettings::default()
            },
            mailer,
            recipients,
            reminder,
            problems: Problems::default(),
        })
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The store runs go through (recording this supervisor as their worker).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What is wrong right now: failing writes, runs that died.
    pub fn problems(&self) -> &Problems {
        &self.problems
    }

    /// The store of `connector`'s tenant: everything about one connector's runs is its
    /// tenant's.
    fn store_of(&self, connector: &ConnectorConfig) -> Store {
        self.store.for_tenant(connector.tenant.clone())
    }

    /// After a supervised run died outside the run itself (a panic the run could not catch):
    /// counts the failure toward quarantine, releases the lease, and says so on `/healthz`.
    pub async fn after_panic(&self, connector: &ConnectorConfig, reason: String) -> Health {
        let label = connector.label();
        warn!(connector = %label, error = %reason, "the connector's run died; it is rescheduled");
        let outcome = Outcome::Failed {
            error: reason.clone(),
            needs_operator: false,
        };
        let store = self.store_of(connector);
        let (health, _) = self.record(&store, &connector.name, &outcome).await;
        self.release(&store, &connector.name).await;
        self.problems.run_died(&label, reason);
        health
    }

    /// Runs `connector` once under its lease, then records health, metrics and alerts.
    pub async fn run(
        &self,
        connector: &Connector,
        options: RunOptions,
        progress: &RunProgress,
    ) -> Supervised {
        if options.dry_run {
            let store = self.store_of(&connector.config);
            let report = reconcile::run_once(&store, connector, options, progress).await;
            return Supervised::Ran {
                report: Box::new(report),
                health: Health::default(),
                transition: Transition::None,
            };
        }
        let span = tracing::info_span!("supervised", connector = %connector.config.label());
        self.run_leased(connector, (options, progress), None)
            .instrument(span)
            .await
    }

    /// Runs a connector a worker claimed from the shared schedules (its lease is already
    /// ours), then writes its next due time before the lease is released.
    pub async fn run_scheduled(&self, connector: &Connector, next: NextDue<'_>) -> Supervised {
        let span = tracing::info_span!("supervised", connector = %connector.config.label());
        let progress = RunProgress::hidden();
        self.run_leased(connector, (RunOptions::default(), &progress), Some(next))
            .instrument(span)
            .await
    }

    /// Writes a scheduled run's next due time; a failure leaves the claim's (the lease's
    /// expiry), so the connector runs again soon rather than never.
    pub async fn schedule_next(&self, connector: &ConnectorConfig, next: &NextDue<'_>, health: &Health) {
        let store = self.store_of(connector);
        let due = (next.after)(health);
        if let Err(e) = store
            .set_next_due(&connector.name, next.version, due, store::now())
            .await
        {
            warn!(error = %e, "cannot write the next due time; the connector is due when its lease expires");
        }
    }

    async fn run_leased(
        &self,
        connector: &Connector,
        (options, progress): (RunOptions, &RunProgress),
        next: Option<NextDue<'_>>,
    ) -> Supervised {
        let (name, label) = (connector.config.name.clone(), connector.config.label());
        let store = self.store_of(&connector.config);
        if let Some(skipped) = self.acquire(&store, &name).await {
            return skipped;
        }
        let heartbeat = self.heartbeat(&store, &name);
        let run = reconcile::run_once(&store, connector, options, progress);
        let report = idsync_source::telemetry::scoped(label.clone(), run).await;
        heartbeat.abort();
        let (health, transition) = self.record(&store, &name, &report.outcome).await;
        if let Some(next) = &next {
            self.schedule_next(&connector.config, next, &health).await;
        }
        self.release(&store, &name).await;
        if report.panicked {
            self.problems.run_died(&label, report.outcome.error().to_owned());
        } else {
            self.problems.run_completed(&label);
        }
        record_metrics(&label, &report, &health);
        self.alert(&store, &connector.config, &report, &health).await;
        Supervised::Ran {
            report: Box::new(report),
            health,
            transition,
        }
    }

    /// Takes the lease; `Some` (the skip) when another process holds it or it cannot be taken.
    async fn acquire(&self, store: &Store, name: &str) -> Option<Supervised> {
        match store.acquire_lease(name, &self.holder, self.lease).await {
            Ok(true) => None,
            Ok(false) => {
                let reason = match store.lease_holder(name).await {
                    Ok(Some((holder, until))) => format!(
                        "another process ({holder}) holds this connector's lease until {until} UTC; \
                         a crashed holder's lease expires then"
                    ),
                    _ => "another process holds this connector's lease".to_owned(),
                };
                info!(reason = %reason, "run skipped");
                Some(Supervised::Skipped {
                    reason,
                    health: store.health(name).await.unwrap_or_default(),
                })
            }
            Err(e) => {
                warn!(error = %e, "cannot take the lease; run skipped");
                self.problems.write_failed(format!("taking the lease: {e}"));
                Some(Supervised::Skipped {
                    reason: format!("lease: {e}"),
                    health: Health::default(),
                })
            }
        }
    }

    async fn release(&self, store: &Store, name: &str) {
        if let Err(e) = store.release_lease(name, &self.holder).await {
            warn!(error = %e, "cannot release the lease; it will expire");
        }
    }

    /// Renews the lease every third of its lifetime while the run lasts.
    fn heartbeat(&self, store: &Store, name: &str) -> tokio::task::JoinHandle<()> {
        let (store, name, holder, ttl) = (store.clone(), name.to_owned(), self.holder.clone(), self.lease);
        let every = (ttl / 3).to_std().unwrap_or(StdDuration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match store.renew_lease(&name, &holder, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        warn!("lost the lease while running; another process may start this connector")
                    }
                    Err(e) => warn!(error = %e, "cannot renew the lease"),
                }
            }
        })
    }

    async fn record(&self, store: &Store, name: &str, outcome: &Outcome) -> (Health, Transition) {
        let error = outcome.is_failed().then(|| outcome.error());
        let now = store::now();
        let recorded = match store.health(name).await {
            Ok(before) => {
                let (after, transition) = quarantine::after_run(&before, outcome, &self.quarantine, now);
                store
                    .save_health(name, &after, error, now)
                    .await
                    .map(|()| (after, transition))
            }
            Err(e) => Err(e),
        };
        match recorded {
            Ok((health, transition)) => {
                self.problems.write_succeeded();
                match transition {
                    Transition::Entered | Transition::Extended => warn!(
                        until = ?health.quarantined_until,
                        failures = health.consecutive_failures,
                        "connector quarantined; next attempt at the end of the quarantine"
                    ),
                    Transition::Left => info!("connector left quarantine"),
                    Transition::None => {}
                }
                (health, transition)
            }
            Err(e) => {
                warn!(error = %e, "cannot record the run's health");
                self.problems
                    .write_failed(format!("recording the run's health: {e}"));
                (Health::default(), Transition::None)
            }
        }
    }

    /// Raises, reminds and clears alert conditions, mailing when one is due.
    async fn alert(&self, store: &Store, connector: &ConnectorConfig, report: &RunReport, health: &Health) {
        let name = connector.name.as_str();
        let (rows, open_conflicts) = match store.alert_state(name).await {
            Ok(s) => s,
            Err(e) => return warn!(error = %e, "cannot read the alert state"),
        };
        metrics::gauge!("idsync_conflicts_open", "connector" => connector.label()).set(open_conflicts as f64);
        let also = self
            .recipients
            .get(&connector.tenant)
            .map_or(&[][..], Vec::as_slice);
        let failed = report.outcome.is_failed();
        let now = store::now();
        for condition in Condition::ALL {
            // A failed run says nothing about whether a hold or a conflict was cleared.
            let (active, escalated) = match condition {
                Condition::RunFailed => (failed, false),
                Condition::Quarantined => (health.is_quarantined(), false),
                Condition::Held if failed => continue,
                Condition::Held => (matches!(report.outcome, Outcome::Held { .. }), false),
                Condition::Conflicts if failed => continue,
                Condition::Conflicts => (open_conflicts > 0, report.counts.conflicts > 0),
            };
            let previous = rows.get(condition.as_str());
            let Some(mail) = alerts::due(previous, active, escalated, now, self.reminder) else {
                continue;
            };
            let (subject, body) = compose(connector, condition, mail, report, health, open_conflicts);
            let sent = self.send_alert(condition, mail, &subject, body, also).await;
            let raised_at = match previous {
                Some(p) if p.active && active => p.raised_at,
                _ => now,
            };
            let row = AlertRow {
                // An undelivered recovery keeps the condition raised, so the mail is owed.
                active: if sent {
                    active
                } else {
                    active || previous.is_some_and(|p| p.active)
                },
                detail: subject,
                raised_at,
                last_sent_at: if sent { Some(now) } else { None },
            };
            if let Err(e) = store.save_alert(name, condition, &row).await {
                warn!(error = %e, "cannot record the alert state");
            }
        }
    }

    /// Mails one alert; true when it went out (or there is no mailer to send it with).
    async fn send_alert(
        &self,
        condition: Condition,
        mail: Mail,
        subject: &str,
        body: String,
        also: &[Mailbox],
    ) -> bool {
        let Some(mailer) = &self.mailer else {
            return true;
        };
        match mailer.send_also_to(subject, body, also).await {
            Ok(()) => {
                info!(condition = condition.as_str(), mail = ?mail, "alert mail sent");
                true
            }
            Err(e) => {
                warn!(condition = condition.as_str(), error = %e,
                    "alert mail not delivered; will retry after the next run");
                false
            }
        }
    }

    /// `idsync alerts test`.
    pub async fn send_test(&self) -> Result<(), MailError> {
        let mailer = self.mailer.as_ref().ok_or(MailError::NotConfigured)?;
        mailer
            .send(
                "[idsync] test alert",
                format!(
                    "This is a test mail from idsync ({}).\n\nFailure alerts for this configuration's \
                     connectors will arrive like this one.\n",
                    self.holder
                ),
            )
            .await
    }
}

/// An alert's subject and body. The connector is named by its label (`acme/entra` for a
/// tenant's), and the commands it suggests name the tenant.
fn compose(
    config: &ConnectorConfig,
    condition: Condition,
    mail: Mail,
    report: &RunReport,
    health: &Health,
    open_conflicts: i64,
) -> (String, String) {
    let when = |t: Option<NaiveDateTime>| {
        t.map(|t| format!("{} UTC", t.format("%Y-%m-%d %H:%M")))
            .unwrap_or_default()
    };
    let label = config.label();
    let connector = if config.tenant.is_default() {
        config.name.clone()
    } else {
        format!("{} --tenant {}", config.name, config.tenant)
    };
    let run = report
        .run_id
        .map(|id| format!("run #{id}"))
        .unwrap_or_else(|| "the run".into());
    let (what, body) = match (condition, mail) {
        (_, Mail::Recovered) => {
            let what = match condition {
                Condition::RunFailed => "runs succeed again",
                Condition::Quarantined => "quarantine ended",
                Condition::Held => "no run is held any more",
                Condition::Conflicts => "no open conflicts",
            };
            let body = format!("Recovered: {what}.\nThe latest run: {}\n", report.summary());
            (format!("recovered: {what}"), body)
        }
        (Condition::RunFailed, _) => {
            let error = report.outcome.error();
            (
                "run failed".into(),
                format!(
                    "What happened: {run} failed.\nError: {error}\n\nApplied: nothing. A failed fetch never \
                     reaches the database, and a failed apply is rolled back; the cursor stays where it \
                      was.\n\n\
                     What you can do: {}\n",
                    if report.outcome.needs_operator() {
                        "the identity provider refused the credentials or the configuration is wrong: \
                        check the \
                         connector's secret or certificate, its permissions and `idsync config` keys; \
                          idsync will \
                         not retry on its own schedule until the quarantine ends."
                    } else {
                        "idsync retries on the next schedule; if the error persists, check the identity \
                        provider's \
                         status and the URL and request id above."
                    }
                ),
            )
        }
        (Condition::Quarantined, _) => (
            "connector quarantined".into(),
            format!(
                "What happened: {} consecutive failed runs put the connector in quarantine.\nNext \
                attempt: {}\n\
                 Last error: {}\n\nWhat you can do: fix the cause (credentials, permissions, network), \
                  then run \
                 `idsync resync --connector {connector}`; a successful run ends the quarantine.\n",
                health.consecutive_failures,
                when(health.quarantined_until),
                report.outcome.error()
            ),
        ),
        (Condition::Held, _) => held_mail(&connector, &run, report),
        (Condition::Conflicts, _) => (
            "matcher conflicts need a person".into(),
            format!(
                "What happened: {open_conflicts} record(s) could not be matched safely to a local user \
                 (two people would have been merged). The rest of the run was applied.\n\n\
                 What you can do: `idsync status` lists each conflict with both sides and the reason; fix \
                 the duplicate or mismatched UPN or email in the identity provider or the application.\n"
            ),
        ),
    };
    let prefix = match mail {
        Mail::Reminder => "reminder: ",
        _ => "",
    };
    (
        format!("[idsync] {label}: {prefix}{what}"),
        format!("Connector: {label}\n{body}"),
    )
}

/// The subject and body of a held run's mail.
fn held_mail(connector: &str, run: &str, report: &RunReport) -> (String, String) {
    (
        "run held by the deletion guard".into(),
        format!(
            "What happened: {run} would have removed too much at once: {}.\n\nApplied: only what is not \
                 destructive ({} created, {} updated, {} reactivated, {} memberships added). Not \
                  applied: the \
                 deactivations, purges and deletions; `idsync status` and the run record list them.\n\n\
                 What you can do: check the identity provider. If the removals are real, run \
                 `idsync approve --connector {connector}` and the next run applies them.\n",
            match &report.outcome {
                Outcome::Held { reason } => reason.as_str(),
                _ => "",
            },
            report.counts.created,
            report.counts.updated,
            report.counts.reactivated,
            report.counts.memberships_added
        ),
    )
}

fn record_metrics(name: &str, report: &RunReport, health: &Health) {
    let connector = name.to_owned();
    let outcome = report.outcome.as_str();
    metrics::counter!("idsync_runs_total", "connector" => connector.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("idsync_run_duration_seconds", "connector" => connector.clone())
        .record(report.elapsed.as_secs_f64());
    metrics::counter!("idsync_objects_fetched_total", "connector" => connector.clone(), "kind" => "users")
        .increment(report.fetched_users);
    metrics::counter!("idsync_objects_fetched_total", "connector" => connector.clone(), "kind" => "groups")
        .increment(report.fetched_groups);
    let c = report.counts;
    for (kind, n) in [
        ("created", c.created),
        ("updated", c.updated),
        ("deactivated", c.deactivated),
        ("reactivated", c.reactivated),
        ("purged", c.purged),
        ("groups_changed", c.groups_changed),
        ("memberships_added", c.memberships_added),
        ("memberships_removed", c.memberships_removed),
    ] {
        metrics::counter!("idsync_changes_applied_total", "connector" => connector.clone(), "kind" => kind)
            .increment(n);
    }
    if matches!(report.outcome, Outcome::Succeeded) {
        let now = chrono::Utc::now().timestamp() as f64;
        metrics::gauge!("idsync_last_success_timestamp_seconds", "connector" => connector.clone()).set(now);
    }
    metrics::gauge!("idsync_connector_quarantined", "connector" => connector)
        .set(if health.is_quarantined() { 1.0 } else { 0.0 });
}

/// This machine's name, for naming lease holders (empty where the kernel does not say).
pub fn host_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    host.trim().to_owned()
}
