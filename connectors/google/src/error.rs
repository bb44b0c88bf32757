//! Google's error bodies, read into one line that keeps each `reason` and `message`.
//!
//! The Directory API answers `{"error": {"code", "message", "errors": [{"domain", "reason",
//! "message"}], "status"}}` (<https://developers.google.com/workspace/admin/directory/v1/limits>
//! and the JSON error format of Google APIs); the token endpoint answers OAuth 2.0's
//! `{"error", "error_description"}` (RFC 6749 section 5.2).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Envelope {
    error: ErrorField,
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Api(ApiError),
    OAuth(String),
}

#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<Item>,
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

/// What an error body says: the reasons (`userRateLimitExceeded`, `invalid_grant`) and a
/// description for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoogleError {
    pub reasons: Vec<String>,
    pub detail: String,
}

/// The 403 reasons that mean "slow down", not "not allowed".
const RATE_REASONS: [&str; 3] = ["userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"];

impl GoogleError {
    pub(crate) fn parse(body: &[u8]) -> GoogleError {
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope {
                error: ErrorField::Api(e),
                ..
            }) => {
                let mut parts: Vec<String> = e
                    .errors
                    .iter()
                    .filter(|i| !i.reason.is_empty() || !i.message.is_empty())
                    .map(|i| format!("{}: {}", i.reason, i.message))
                    .collect();
                if parts.is_empty() {
                    let status = e.status.unwrap_or_default();
                    parts.push(format!("{status}: {}", e.message));
                }
                GoogleError {
                    reasons: e.errors.into_iter().map(|i| i.reason).collect(),
                    detail: parts.join("; "),
                }
            }
            Ok(Envelope {
                error: ErrorField::OAuth(code),
                error_description,
            }) => GoogleError {
                detail: match error_description {
                    Some(d) => format!("{code}: {d}"),
                    None => code.clone(),
                },
                reasons: vec![code],
            },
            Err(_) if body.is_empty() => GoogleError {
                reasons: Vec::new(),
                detail: "no body".to_owned(),
            },
            Err(_) => GoogleError {
                reasons: Vec::new(),
                detail: String::from_utf8_lossy(body).chars().take(200).collect(),
            },
        }
    }

    /// A 403 that asks the client to back off.
    pub(crate) fn is_rate_limit(&self) -> bool {
        self.reasons.iter().any(|r| RATE_REASONS.contains(&r.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_keep_reason_and_message() {
        let e = GoogleError::parse(
            concat!(
                r#"{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"message":"#,
                r#""Rate Limit Exceeded","domain":"usageLimits","reason":"userRateLimitExceeded"}],"#,
                r#""status":"PERMISSION_DENIED"}}"#
            )
            .as_bytes(),
        );
        assert_eq!(e.detail, "userRateLimitExceeded: Rate Limit Exceeded");
        assert!(e.is_rate_limit());
        let e = GoogleError::parse(
            concat!(
                r#"{"error":{"code":403,"message":"Not Authorized to access this resource/api","#,
                r#""errors":[{"message":"Not Authorized to access this resource/api","#,
                r#""domain":"global","reason":"forbidden"}]}}"#
            )
            .as_bytes(),
        );
        assert!(!e.is_rate_limit());
        assert_eq!(e.reasons, ["forbidden"]);
        let e =
            GoogleError::parse(br#"{"error":{"code":500,"message":"Backend Error","status":"INTERNAL"}}"#);
        assert_eq!(e.detail, "INTERNAL: Backend Error");
    }

    #[test]
    fn oauth_errors_and_other_bodies() {
        let e = GoogleError::parse(
            br#"{"error":"unauthorized_client","error_description":"Client is unauthorized"}"#,
        );
        assert_eq!(e.reasons, ["unauthorized_client"]);
        assert_eq!(e.detail, "unauthorized_client: Client is unauthorized");
        assert_eq!(GoogleError::parse(b"").detail, "no body");
        assert_eq!(GoogleError::parse(b"<html>oops").detail, "<html>oops");
    }
}
