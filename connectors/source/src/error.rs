//! Source errors, classified by what the caller should do about them.

use thiserror::Error;

/// Why a fetch failed. Every variant fails the run and nothing destructive is applied; the
/// classification tells the daemon whether retrying can help.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The source refused our credentials (HTTP 401/403, a rejected token request). Retrying
    /// will not help until someone fixes the secret or the permissions.
    #[error("credentials rejected by {url}: HTTP {status}{}: {detail}", request_id_suffix(.request_id))]
    Credentials {
        url: String,
        status: u16,
        request_id: Option<String>,
        detail: String,
    },
    /// The source answered with an error or garbage, or the connection failed. Transient: a
    /// later run may succeed.
    #[error("{url}: {}{}: {detail}", status_text(.status), request_id_suffix(.request_id))]
    Upstream {
        url: String,
        status: Option<u16>,
        request_id: Option<String>,
        detail: String,
    },
    /// The data does not have the shape the connector expects (a file that does not parse,
    /// a user without a sign-in name). `location` says where.
    #[error("invalid data at {location}: {detail}")]
    InvalidData { location: String, detail: String },
    /// The connector is misconfigured in a way only visible at fetch time.
    #[error("configuration: {0}")]
    Config(String),
}

impl SourceError {
    /// True when retrying without human action cannot succeed.
    pub fn needs_operator(&self) -> bool {
        matches!(self, SourceError::Credentials { .. } | SourceError::Config(_))
    }

    /// The upstream HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            SourceError::Credentials { status, .. } => Some(*status),
            SourceError::Upstream { status, .. } => *status,
            _ => None,
        }
    }

    /// The upstream request id (Graph `request-id`, Okta `errorId`), for support tickets.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            SourceError::Credentials { request_id, .. } | SourceError::Upstream { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }
}

/// An error with every cause behind it, `outer: inner: innermost`: transport errors (reqwest,
/// hyper, rustls) hide the useful part (connection reset, certificate expired) in their causes.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn status_text(status: &Option<u16>) -> String {
    match status {
        Some(s) => format!("HTTP {s}"),
        None => "no response".to_owned(),
    }
}

fn request_id_suffix(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_name_every_cause() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        let outer = std::io::Error::other(SourceError::Config(format!("{inner}")));
        assert_eq!(error_chain(&outer), "configuration: connection reset by peer");
        #[derive(Debug, thiserror::Error)]
        #[error("request failed")]
        struct Wrapper(#[source] std::io::Error);
        assert_eq!(
            error_chain(&Wrapper(inner)),
            "request failed: connection reset by peer"
        );
    }

    #[test]
    fn messages_name_url_status_and_request_id() {
        let e = SourceError::Upstream {
            url: "https://graph.example/v1.0/users/delta".into(),
            status: Some(503),
            request_id: Some("abc-123".into()),
            detail: "service unavailable".into(),
        };
        assert_eq!(
            e.to_string(),
            "https://graph.example/v1.0/users/delta: HTTP 503 (request id abc-123): service unavailable"
        );
        assert!(!e.needs_operator());
        let e = SourceError::Credentials {
            url: "https://login.example/t/oauth2/v2.0/token".into(),
            status: 401,
            request_id: None,
            detail: "invalid_client".into(),
        };
        assert_eq!(
            e.to_string(),
            "credentials rejected by https://login.example/t/oauth2/v2.0/token: HTTP 401: invalid_client"
        );
        assert!(e.needs_operator());
        assert_eq!(e.status(), Some(401));
    }
}
