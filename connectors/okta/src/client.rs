//! Requests to the Okta management API: authentication, the `Link: <...>; rel="next"` page
//! chain, rate-limit pacing and error reporting (Okta's "Core Okta API" reference and its rate
//! limit pages, <https://developer.okta.com/docs/reference/rl2-monitor/>).
//!
//! Pacing: every response's `X-Rate-Limit-Limit/Remaining/Reset` are kept per bucket (the
//! path with object ids left out). Before a request, when the bucket's remaining requests
//! fall to the configured reserve, the client waits until the bucket resets, so that share
//! stays free for the org's other integrations. A 429 waits until `X-Rate-Limit-Reset`,
//! measured against the response's `Date` (the org's clock), plus one second, within the
//! retry policy's caps. Any other failure (5xx, a truncated body, a reset connection) fails
//! the run with the URL, the status and Okta's `errorCode` and `errorId`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use idsync_source::http::{self, RequestError};
use idsync_source::retry::{Failure, RetryPolicy};
use idsync_source::{Scrubber, SourceError};
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::token::Auth;
use crate::wire::{header, next_link, okta_error, until_reset};

type AttemptError = http::AttemptError<std::convert::Infallible>;

/// What a bucket said last.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: u64,
    remaining: u64,
    reset_at: Instant,
}

/// The rate-limit bucket of a URL: its path with object ids replaced (`/api/v1/groups/{id}/users`).
fn bucket_key(url: &str) -> String {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    path.split('/')
        .enumerate()
        .map(|(i, s)| if i == 4 { "{id}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The Okta client of one connector. Requests go one at a time.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    auth: Auth,
    /// Masks the API token in what the org sends back.
    scrubber: Scrubber,
    policy: RetryPolicy,
    /// The share of each bucket kept free, 0.0 to 1.0.
    reserve: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Serializes requests, so pacing sees every response before the next request.
    turn: Mutex<()>,
    /// The earliest `Date` the org sent since [`Client::run_start`] was last called.
    earliest_date: std::sync::Mutex<Option<SystemTime>>,
}

/// A successful response: its body and the next page, if any.
pub(crate) struct Page<T> {
    pub items: T,
    pub next: Option<String>,
}

impl Client {
    pub(crate) fn new(http: reqwest::Client, auth: Auth, policy: RetryPolicy, reserve_percent: u8) -> Client {
        Client {
            http,
            scrubber: auth.scrubber(),
            auth,
            policy,
            reserve: f64::from(reserve_percent.min(99)) / 100.0,
            buckets: Mutex::new(HashMap::new()),
            turn: Mutex::new(()),
            earliest_date: std::sync::Mutex::new(None),
        }
    }

    /// When a run that started at `local` (this host's clock) started by the org's clock:
    /// the earlier of `local` and a second before the first response's `Date`, so that a
    /// clock running ahead of the org's cannot make the next incremental run skip changes.
    /// Also starts the next run's measurement.
    pub(crate) fn run_start(&self, local: DateTime<Utc>) -> DateTime<Utc> {
        let earliest = match self.earliest_date.lock() {
            Ok(mut d) => d.take(),
            Err(_) => None,
        };
        match earliest {
            Some(date) => local.min(DateTime::<Utc>::from(date) - chrono::Duration::seconds(1)),
            None => local,
        }
    }

    /// GETs `url` and parses its JSON body, with the `rel="next"` link.
    pub(crate) async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<Page<T>, SourceError> {
        let result = http::send_renewing(
            &self.policy,
            url,
            |attempt| self.attempt(url, attempt),
            |generation| self.auth.invalidate(generation),
            |error, pause, attempt| {
                warn!(
                    url = %url, attempt, pause_secs = pause.as_secs_f64(), error = %error,
                    "Okta rate limit reached; waiting for the bucket to reset"
                );
            },
        )
        .await;
        let (body, next) = match result {
            Ok(page) => page,
            Err(RequestError::Failed(e)) => return Err(e),
            Err(RequestError::Special(never)) => match never {},
        };
        let items = serde_json::from_slice(&body).map_err(|e| SourceError::Upstream {
            url: url.to_owned(),
            status: Some(200),
            request_id: None,
            detail: format!("the body does not parse: {e}"),
        })?;
        Ok(Page { items, next })
    }

    /// Waits while the URL's bucket is down to its reserve.
    async fn pace(&self, key: &str) {
        let bucket = self.buckets.lock().await.get(key).copied();
        let Some(b) = bucket else { return };
        let floor = (b.limit as f64 * self.reserve).ceil() as u64;
        let now = Instant::now();
        if b.remaining > floor || b.reset_at <= now {
            return;
        }
        let pause = (b.reset_at - now).min(self.policy.max_wait());
        info!(
            bucket = %key, limit = b.limit, remaining = b.remaining, pause_secs = pause.as_secs_f64(),
            "Okta rate-limit bucket at its reserve; pausing until it resets"
        );
        tokio::time::sleep(pause).await;
        self.buckets.lock().await.remove(key);
    }

    async fn record(&self, key: &str, headers: &HeaderMap) {
        let number = |name| header(headers, name).and_then(|v| v.trim().parse::<u64>().ok());
        let (Some(limit), Some(remaining), Some(wait)) = (
            number("x-rate-limit-limit"),
            number("x-rate-limit-remaining"),
            until_reset(headers),
        ) else {
            return;
        };
        // A concurrency 429 reports 0/0; it says nothing about the bucket.
        if limit == 0 {
            return;
        }
        self.buckets.lock().await.insert(
            key.to_owned(),
            Bucket {
                limit,
                remaining,
                reset_at: Instant::now() + wait,
            },
        );
    }

    async fn attempt(
        &self,
        url: &str,
        attempt: u32,
    ) -> Result<(Vec<u8>, Option<String>), Failure<AttemptError>> {
        let fatal = |e: SourceError| Failure::Fatal(AttemptError::Failed(e));
        let upstream =
            |status: Option<u16>, request_id: Option<String>, detail: String| SourceError::Upstream {
                url: url.to_owned(),
                status,
                request_id,
                detail,
            };
        let _turn = self.turn.lock().await;
        let key = bucket_key(url);
        self.pace(&key).await;
        let (authorization, generation) = self.auth.header().await.map_err(fatal)?;
        let mut request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::AUTHORIZATION, authorization);
        if attempt > 1 {
            request = request.header("X-Okta-Retry-Count", (attempt - 1).to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| fatal(upstream(None, None, http::describe_reqwest(&e))))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.record(&key, &headers).await;
        if let Some(date) = header(&headers, "date").and_then(|d| httpdate::parse_http_date(d).ok()) {
            if let Ok(mut earliest) = self.earliest_date.lock() {
                *earliest = Some(earliest.map_or(date, |e| e.min(date)));
            }
        }
        let okta_request_id = header(&headers, "x-okta-request-id").map(str::to_owned);
        let body = response.bytes().await.map_err(|e| {
            fatal(upstream(
                Some(status),
                okta_request_id.clone(),
                http::describe_reqwest(&e),
            ))
        })?;
        if status == 200 {
            return Ok((body.to_vec(), next_link(&headers)));
        }
        // An error body may echo the request, and with it the `Authorization` header.
        let body = self.scrubber.scrub(&String::from_utf8_lossy(&body));
        let (error_id, detail) = okta_error(body.as_bytes());
        let request_id = error_id.or(okta_request_id);
        match status {
            401 | 403 => Err(Failure::Fatal(AttemptError::Rejected {
                status,
                request_id,
                detail,
                generation,
            })),
            429 => {
                let wait = until_reset(&headers).map(|d| d.saturating_add(Duration::from_secs(1)));
                Err(Failure::Retry {
                    error: AttemptError::Failed(upstream(Some(status), request_id, detail)),
                    retry_after: wait,
                })
            }
            _ => Err(fatal(upstream(Some(status), request_id, detail))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idsync_source::test_support::echo_server;

    #[test]
    fn a_run_starts_by_the_earlier_clock() {
        let client = Client::new(
            reqwest::Client::new(),
            Auth::Ssws(idsync_source::Secret::new("t")),
            RetryPolicy::default(),
            50,
        );
        let local = DateTime::parse_from_rfc3339("2015-10-21T07:28:30Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(client.run_start(local), local, "no response seen");
        let org = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        *client.earliest_date.lock().unwrap() = Some(org);
        assert_eq!(client.run_start(local).to_rfc3339(), "2015-10-21T07:27:59+00:00");
        assert_eq!(client.run_start(local), local, "taken");
    }

    #[test]
    fn buckets_leave_object_ids_out() {
        assert_eq!(
            bucket_key("https://o/api/v1/groups/00g1/users?limit=2"),
            "/api/v1/groups/{id}/users"
        );
        assert_eq!(bucket_key("https://o/api/v1/users?limit=2"), "/api/v1/users");
    }

    const TOKEN: &str = "00QCjAl4MlV-WPXM_0HmjFx-vbGua";

    async fn failed_get(status: u16, answer: fn(&str) -> String) -> String {
        let url = echo_server(status, answer).unwrap();
        let client = Client::new(
            reqwest::Client::new(),
            Auth::Ssws(idsync_source::Secret::new(TOKEN)),
            RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            50,
        );
        match client
            .get::<Vec<serde_json::Value>>(&format!("{url}/api/v1/users"))
            .await
        {
            Ok(_) => panic!("the echo server answers errors only"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn an_echoed_api_token_never_reaches_the_error() {
        let as_okta_error =
            |request: &str| serde_json::json!({"errorCode": "E0000009", "errorSummary": request}).to_string();
        for (status, answer) in [(500, as_okta_error as fn(&str) -> String), (401, as_okta_error)] {
            let text = failed_get(status, answer).await;
            assert!(!text.contains(TOKEN), "{text}");
            assert!(
                text.to_ascii_lowercase().contains("authorization: ssws ***"),
                "{text}"
            );
        }
        let text = failed_get(502, |request| request.to_owned()).await;
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains("***"), "{text}");
    }
}
