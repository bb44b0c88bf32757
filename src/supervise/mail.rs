//! Sending alert mail over SMTP (lettre): `smtp://host:25` (plain, or STARTTLS when offered),
//! `smtp://host:587?tls=required`, `smtps://host:465`, with optional credentials.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::AlertsConfig;

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
    pub fn new(config: &AlertsConfig) -> Result<Mailer, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp_url.expose())
            .map_err(|e| format!("alerts.smtp_url: {e}"))?;
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let from = config.from.parse().map_err(|e| format!("alerts.from: {e}"))?;
        let to = config
            .to
            .iter()
            .enumerate()
            .map(|(i, a)| a.parse().map_err(|e| format!("alerts.to[{i}]: {e}")))
            .collect::<Result<Vec<Mailbox>, String>>()?;
        if to.is_empty() {
            return Err("alerts.to: give at least one address".into());
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            to,
        })
    }

    /// Sends one plain-text mail to every recipient.
    pub async fn send(&self, subject: &str, body: String) -> Result<(), String> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message
            .body(body)
            .map_err(|e| format!("cannot build the mail: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP delivery failed: {e}"))
    }
}
