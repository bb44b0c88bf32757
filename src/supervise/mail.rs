//! Sending alert mail over SMTP (lettre): `smtp://host:25` (plain, or STARTTLS when offered),
//! `smtp://host:587?tls=required`, `smtps://host:465`, with optional credentials.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use thiserror::Error;

use crate::config::AlertsConfig;

/// Why alert mail cannot be set up or sent.
#[derive(Debug, Error)]
pub enum MailError {
    /// The `[alerts]` section names something unusable: fix the configuration.
    #[error("{key}: {detail}")]
    Config { key: String, detail: String },
    /// There is no `[alerts]` section to send with.
    #[error("no [alerts] section in the configuration")]
    NotConfigured,
    #[error("cannot build the mail: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server did not take the mail: the next run retries.
    #[error("SMTP delivery failed: {0}")]
    Delivery(#[from] lettre::transport::smtp::Error),
}

/// The `[[tenants]]` entries' own recipients (`alerts_to`), checked, by tenant.
pub fn tenant_recipients(
    tenants: &[crate::config::TenantConfig],
) -> Result<std::collections::HashMap<crate::tenant::TenantId, Vec<Mailbox>>, MailError> {
    let mut out = std::collections::HashMap::new();
    for (i, tenant) in tenants.iter().enumerate() {
        let parsed = tenant
            .alerts_to
            .iter()
            .enumerate()
            .map(|(j, a)| {
                a.parse()
                    .map_err(|e| config_error(format!("tenants[{i}].alerts_to[{j}]"), e))
            })
            .collect::<Result<Vec<Mailbox>, MailError>>()?;
        out.insert(tenant.id.clone(), parsed);
    }
    Ok(out)
}

fn config_error(key: impl Into<String>, detail: impl std::fmt::Display) -> MailError {
    MailError::Config {
        key: key.into(),
        detail: detail.to_string(),
    }
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Builds the transport; nothing is contacted until the first mail.
    pub fn new(config: &AlertsConfig) -> Result<Mailer, MailError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp_url.expose())
            .map_err(|e| config_error("alerts.smtp_url", e))?;
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let from = config.from.parse().map_err(|e| config_error("alerts.from", e))?;
        let to = config
            .to
            .iter()
            .enumerate()
            .map(|(i, a)| a.parse().map_err(|e| config_error(format!("alerts.to[{i}]"), e)))
            .collect::<Result<Vec<Mailbox>, MailError>>()?;
        if to.is_empty() {
            return Err(config_error("alerts.to", "give at least one address"));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            to,
        })
    }

    /// Sends one plain-text mail to every recipient.
    pub async fn send(&self, subject: &str, body: String) -> Result<(), MailError> {
        self.send_also_to(subject, body, &[]).await
    }

    /// Sends one plain-text mail to every recipient and to `also` (a tenant's own).
    pub async fn send_also_to(&self, subject: &str, body: String, also: &[Mailbox]) -> Result<(), MailError> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject);
        for to in self.to.iter().chain(also.iter().filter(|a| !self.to.contains(a))) {
            message = message.to(to.clone());
        }
        let message = message.body(body)?;
        self.transport.send(message).await?;
        Ok(())
    }
}
