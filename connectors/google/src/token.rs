//! Access tokens: the signed JWT exchanged at the key file's `token_uri` for a bearer token
//! (grant type `urn:ietf:params:oauth:grant-type:jwt-bearer`), cached until shortly before it
//! expires and renewed when the API rejects it.
//! Source: <https://developers.google.com/identity/protocols/oauth2/service-account>,
//! "Making the access token request" and "Handling the response".

use std::time::Duration;

use idsync_source::http::{describe_reqwest, retry_after};
use idsync_source::retry::{self, Failure, RetryPolicy};
use idsync_source::{Secret, SourceError};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::error::GoogleError;
use crate::key::{Signer, GRANT_TYPE};

/// The read-only scopes the connector asks for, which the administrator grants to the
/// service account's client id under domain-wide delegation.
pub const SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
];

struct Cached {
    token: Secret,
    renew_at: Instant,
    generation: u64,
}

/// The token source of one connector.
pub(crate) struct Tokens {
    http: reqwest::Client,
    signer: Signer,
    subject: String,
    policy: RetryPolicy,
    cache: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("key", &self.signer)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default = "default_type")]
    token_type: String,
    expires_in: u64,
}

fn default_type() -> String {
    "Bearer".to_owned()
}

impl Tokens {
    pub(crate) fn new(http: reqwest::Client, signer: Signer, subject: String, policy: RetryPolicy) -> Tokens {
        Tokens {
            http,
            signer,
            subject,
            policy,
            cache: Mutex::new(None),
        }
    }

    /// The `Authorization` header value and the token's generation.
    pub(crate) async fn header(&self) -> Result<(String, u64), SourceError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok((format!("Bearer {}", c.token.expose()), c.generation));
        }
        let generation = cache.as_ref().map_or(0, |c| c.generation) + 1;
        let (token, lifetime) = self.request().await?;
        let margin = (lifetime / 10).clamp(Duration::from_secs(1), Duration::from_secs(300));
        debug!(lifetime_secs = lifetime.as_secs(), "got a Google access token");
        let value = format!("Bearer {}", token.expose());
        *cache = Some(Cached {
            token,
            renew_at: Instant::now() + lifetime.saturating_sub(margin),
            generation,
        });
        Ok((value, generation))
    }

    /// Forgets the token of `generation` (the API rejected it), so the next request gets a
    /// new one.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_mut().filter(|c| c.generation == generation) {
            c.renew_at = Instant::now();
        }
    }

    async fn request(&self) -> Result<(Secret, Duration), SourceError> {
        let url = &self.signer.key.token_uri;
        retry::retry(
            &self.policy,
            |_| self.attempt(),
            |error, pause, attempt| {
                warn!(
                    url = %url, attempt, pause_secs = pause.as_secs_f64(), error = %error,
                    "Google token request failed; retrying"
                );
            },
        )
        .await
        .map_err(|e| {
            let text = e.to_string();
            match e.error {
                SourceError::Upstream {
                    url,
                    status,
                    request_id,
                    ..
                } if e.exhausted => SourceError::Upstream {
                    detail: text,
                    url,
                    status,
                    request_id,
                },
                other => other,
            }
        })
    }

    async fn attempt(&self) -> Result<(Secret, Duration), Failure<SourceError>> {
        let url = &self.signer.key.token_uri;
        let upstream = |status: Option<u16>, detail: String| SourceError::Upstream {
            url: url.clone(),
            status,
            request_id: None,
            detail,
        };
        let assertion = self
            .signer
            .assertion(&self.subject, &SCOPES.join(" "))
            .map_err(|e| Failure::Fatal(SourceError::Config(e)))?;
        let form = [("grant_type", GRANT_TYPE), ("assertion", assertion.as_str())];
        let response = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| Failure::Retry {
                error: upstream(None, describe_reqwest(&e)),
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| Failure::Retry {
            error: upstream(Some(status), describe_reqwest(&e)),
            retry_after: None,
        })?;
        if status == 200 {
            let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                Failure::Fatal(upstream(
                    Some(status),
                    format!("token response does not parse: {e}"),
                ))
            })?;
            if !parsed.token_type.eq_ignore_ascii_case("bearer") {
                let detail = format!("unexpected token_type {:?}", parsed.token_type);
                return Err(Failure::Fatal(upstream(Some(status), detail)));
            }
            return Ok((
                Secret::new(parsed.access_token),
                Duration::from_secs(parsed.expires_in),
            ));
        }
        let error = GoogleError::parse(&body);
        match status {
            429 | 500..=599 => Err(Failure::Retry {
                error: upstream(Some(status), error.detail),
                retry_after: wait,
            }),
            400..=499 => Err(Failure::Fatal(SourceError::Credentials {
                url: url.clone(),
                status,
                request_id: None,
                detail: error.detail,
            })),
            _ => Err(Failure::Fatal(upstream(Some(status), error.detail))),
        }
    }
}
