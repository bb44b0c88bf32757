//! GET requests to the Directory API: the bearer token, retries of throttled and failing
//! requests, one token renewal on 401, and errors that carry Google's reasons.
//!
//! Google's guidance (<https://developers.google.com/workspace/admin/directory/v1/limits>):
//! 403 `userRateLimitExceeded` / `rateLimitExceeded` / `quotaExceeded` and 429 are retried
//! with exponential backoff, as are 5xx answers (`backendError`). A `Retry-After` is honoured.

use std::convert::Infallible;

use idsync_source::http::{self, describe_reqwest, retry_after, AttemptError, RequestError};
use idsync_source::retry::{Failure, RetryPolicy};
use idsync_source::SourceError;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::error::GoogleError;
use crate::token::Tokens;

/// A failed attempt; the connector has no outcome of its own to hand back.
type Attempt = AttemptError<Infallible>;

/// The Directory API client of one connector; requests may run in parallel.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    tokens: Tokens,
    policy: RetryPolicy,
}

impl Client {
    pub(crate) fn new(http: reqwest::Client, tokens: Tokens, policy: RetryPolicy) -> Client {
        Client { http, tokens, policy }
    }

    /// GETs `url` and parses its JSON body. A 401 renews the token once.
    pub(crate) async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, SourceError> {
        let body = http::send_renewing(
            &self.policy,
            url,
            |_| self.attempt(url),
            |generation| async move {
                self.tokens.invalidate(generation).await;
                true
            },
            |error, pause, attempt| {
                warn!(
                    url = %url, attempt, pause_secs = pause.as_secs_f64(), error = %error,
                    "Google request throttled or failed; retrying"
                );
            },
        )
        .await
        .map_err(|e| match e {
            RequestError::Failed(e) => e,
            RequestError::Special(never) => match never {},
        })?;
        serde_json::from_slice(&body).map_err(|e| SourceError::Upstream {
            url: url.to_owned(),
            status: Some(200),
            request_id: None,
            detail: format!("the body does not parse: {e}"),
        })
    }

    async fn attempt(&self, url: &str) -> Result<Vec<u8>, Failure<Attempt>> {
        let upstream = |status: Option<u16>, detail: String| {
            AttemptError::Failed(SourceError::Upstream {
                url: url.to_owned(),
                status,
                request_id: None,
                detail,
            })
        };
        let (authorization, generation) = self
            .tokens
            .header()
            .await
            .map_err(|e| Failure::Fatal(AttemptError::Failed(e)))?;
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::AUTHORIZATION, authorization)
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
            return Ok(body.to_vec());
        }
        let error = GoogleError::parse(&body);
        match status {
            401 => Err(Failure::Fatal(AttemptError::Rejected {
                status,
                request_id: None,
                detail: error.detail,
                generation,
            })),
            403 if error.is_rate_limit() => Err(Failure::Retry {
                error: upstream(Some(status), error.detail),
                retry_after: wait,
            }),
            403 => Err(Failure::Fatal(AttemptError::Failed(SourceError::Credentials {
                url: url.to_owned(),
                status,
                request_id: None,
                detail: error.detail,
            }))),
            429 | 500..=599 => Err(Failure::Retry {
                error: upstream(Some(status), error.detail),
                retry_after: wait,
            }),
            _ => Err(Failure::Fatal(upstream(Some(status), error.detail))),
        }
    }
}
