//! GET requests to the Directory API: the bearer token, retries of throttled and failing
//! requests, one token renewal on 401, and errors that carry Google's reasons.
//!
//! Google's guidance (<https://developers.google.com/workspace/admin/directory/v1/limits>):
//! 403 `userRateLimitExceeded` / `rateLimitExceeded` / `quotaExceeded` and 429 are retried
//! with exponential backoff, as are 5xx answers (`backendError`). A `Retry-After` is honoured.

use std::time::{Duration, SystemTime};

use idsync_source::retry::{self, Failure, RetryPolicy};
use idsync_source::SourceError;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use crate::error::GoogleError;
use crate::token::Tokens;

/// A reqwest error with its causes, and whether it timed out.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = idsync_source::error_chain(e);
    if e.is_timeout() {
        text.push_str(" (timed out)");
    }
    text
}

/// The pause a response's `Retry-After` asks for.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    retry::parse_retry_after(value, SystemTime::now())
}

/// One failed attempt, before the retry policy decides.
#[derive(Debug)]
enum AttemptError {
    /// 401: the token of `generation` was refused.
    Unauthorized {
        detail: String,
        generation: u64,
    },
    Other(SourceError),
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Unauthorized { detail, .. } => write!(f, "HTTP 401: {detail}"),
            AttemptError::Other(e) => e.fmt(f),
        }
    }
}

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
        let mut renewed = false;
        loop {
            let result = retry::retry(
                &self.policy,
                |_| self.attempt(url),
                |error, pause, attempt| {
                    warn!(
                        url = %url, attempt, pause_secs = pause.as_secs_f64(), error = %error,
                        "Google request throttled or failed; retrying"
                    );
                },
            )
            .await;
            let e = match result {
                Ok(body) => {
                    return serde_json::from_slice(&body).map_err(|e| SourceError::Upstream {
                        url: url.to_owned(),
                        status: Some(200),
                        request_id: None,
                        detail: format!("the body does not parse: {e}"),
                    })
                }
                Err(e) => e,
            };
            let text = e.to_string();
            match e.error {
                AttemptError::Unauthorized { generation, .. } if !renewed => {
                    debug!(url = %url, "Google rejected the access token; renewing it once");
                    self.tokens.invalidate(generation).await;
                    renewed = true;
                }
                AttemptError::Unauthorized { detail, .. } => {
                    return Err(SourceError::Credentials {
                        url: url.to_owned(),
                        status: 401,
                        request_id: None,
                        detail,
                    })
                }
                AttemptError::Other(SourceError::Upstream {
                    url,
                    status,
                    request_id,
                    ..
                }) if e.exhausted => {
                    return Err(SourceError::Upstream {
                        url,
                        status,
                        request_id,
                        detail: text,
                    })
                }
                AttemptError::Other(other) => return Err(other),
            }
        }
    }

    async fn attempt(&self, url: &str) -> Result<Vec<u8>, Failure<AttemptError>> {
        let upstream = |status: Option<u16>, detail: String| {
            AttemptError::Other(SourceError::Upstream {
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
            .map_err(|e| Failure::Fatal(AttemptError::Other(e)))?;
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
            401 => Err(Failure::Fatal(AttemptError::Unauthorized {
                detail: error.detail,
                generation,
            })),
            403 if error.is_rate_limit() => Err(Failure::Retry {
                error: upstream(Some(status), error.detail),
                retry_after: wait,
            }),
            403 => Err(Failure::Fatal(AttemptError::Other(SourceError::Credentials {
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
