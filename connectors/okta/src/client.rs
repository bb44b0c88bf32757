//! Requests to the Okta management API (upstream-apis.md B2, B6): authentication, the
//! `Link: <...>; rel="next"` page chain, rate-limit pacing and error reporting.
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

use idsync_source::retry::{self, Failure, RetryPolicy};
use idsync_source::SourceError;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::token::Auth;

/// A transport error with its causes, and whether it was a timeout.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = idsync_source::error_chain(e);
    if e.is_timeout() {
        text.push_str(" (timed out)");
    }
    text
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    error_code: String,
    #[serde(default)]
    error_summary: String,
    error_id: Option<String>,
    #[serde(default)]
    error_causes: Vec<ErrorCause>,
    // OAuth endpoints answer in RFC 6749 form.
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorCause {
    #[serde(default)]
    error_summary: String,
}

/// The `errorId` and a one-line description (`E0000047: API call exceeded ...`) of an error
/// body, or the start of the body when it is not Okta's error shape.
pub(crate) fn okta_error(body: &[u8]) -> (Option<String>, String) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) if !e.error_code.is_empty() => {
            let mut detail = format!("{}: {}", e.error_code, e.error_summary);
            for cause in e.error_causes.iter().filter(|c| !c.error_summary.is_empty()) {
                detail.push_str("; ");
                detail.push_str(&cause.error_summary);
            }
            (e.error_id, detail)
        }
        Ok(ErrorBody {
            error: Some(error),
            error_description,
            ..
        }) => (
            None,
            match error_description {
                Some(d) => format!("{error}: {d}"),
                None => error,
            },
        ),
        _ if body.is_empty() => (None, "no body".to_owned()),
        _ => (None, String::from_utf8_lossy(body).chars().take(200).collect()),
    }
}

/// The `rel="next"` target among a response's `Link` headers (one header per relation, or
/// several comma-separated in one).
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for link in text.split(',') {
            let mut parts = link.split(';');
            let target = parts.next().unwrap_or_default().trim();
            let is_next = parts.any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                let target = target.trim_start_matches('<').trim_end_matches('>');
                if !target.is_empty() {
                    return Some(target.to_owned());
                }
            }
        }
    }
    None
}

/// What a bucket said last.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: u64,
    remaining: u64,
    reset_at: Instant,
}

/// The time until `X-Rate-Limit-Reset`, measured against the response's `Date` (or the
/// local clock when it has none).
pub(crate) fn until_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset: u64 = header(headers, "x-rate-limit-reset")?.trim().parse().ok()?;
    let now = header(headers, "date")
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or_else(SystemTime::now);
    let reset = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    Some(reset.duration_since(now).unwrap_or(Duration::ZERO))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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
    policy: RetryPolicy,
    /// The share of each bucket kept free, 0.0 to 1.0.
    reserve: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Serializes requests, so pacing sees every response before the next request.
    turn: Mutex<()>,
    /// The earliest `Date` the org sent since [`Client::run_start`] was last called.
    earliest_date: std::sync::Mutex<Option<SystemTime>>,
}

/// One failed attempt, before the retry policy decides.
#[derive(Debug)]
enum AttemptError {
    Rejected {
        status: u16,
        request_id: Option<String>,
        detail: String,
        generation: u64,
    },
    Other(SourceError),
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Rejected { status, detail, .. } => write!(f, "HTTP {status}: {detail}"),
            AttemptError::Other(e) => e.fmt(f),
        }
    }
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
        let mut renewed = false;
        loop {
            let result = retry::retry(
                &self.policy,
                |attempt| self.attempt(url, attempt),
                |error, pause, attempt| {
                    warn!(url = %url, attempt, pause_secs = pause.as_secs_f64(), error = %error, "Okta rate limit reached; waiting for the bucket to reset");
                },
            )
            .await;
            let e = match result {
                Ok((body, next)) => {
                    let items = serde_json::from_slice(&body).map_err(|e| SourceError::Upstream {
                        url: url.to_owned(),
                        status: Some(200),
                        request_id: None,
                        detail: format!("the body does not parse: {e}"),
                    })?;
                    return Ok(Page { items, next });
                }
                Err(e) => e,
            };
            let text = e.to_string();
            match e.error {
                AttemptError::Rejected { generation, .. }
                    if !renewed && self.auth.invalidate(generation).await =>
                {
                    debug!(url = %url, "Okta rejected the access token; renewing it once");
                    renewed = true;
                }
                AttemptError::Rejected {
                    status,
                    request_id,
                    detail,
                    ..
                } => {
                    return Err(SourceError::Credentials {
                        url: url.to_owned(),
                        status,
                        request_id,
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
        let fatal = |e: SourceError| Failure::Fatal(AttemptError::Other(e));
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
            .map_err(|e| fatal(upstream(None, None, describe_reqwest(&e))))?;
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
                describe_reqwest(&e),
            ))
        })?;
        if status == 200 {
            return Ok((body.to_vec(), next_link(&headers)));
        }
        let (error_id, detail) = okta_error(&body);
        let request_id = error_id.or(okta_request_id);
        match status {
            401 | 403 => Err(Failure::Fatal(AttemptError::Rejected {
                status,
                request_id,
                detail,
                generation,
            })),
            429 => {
                let wait = until_reset(&headers).map(|d| d + Duration::from_secs(1));
                Err(Failure::Retry {
                    error: AttemptError::Other(upstream(Some(status), request_id, detail)),
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
    use reqwest::header::HeaderValue;

    #[test]
    fn next_link_is_found_among_links() {
        let mut h = HeaderMap::new();
        h.append(
            "link",
            HeaderValue::from_static("<https://o/api/v1/users?limit=2>; rel=\"self\""),
        );
        h.append(
            "link",
            HeaderValue::from_static("<https://o/api/v1/users?after=00u2&limit=2>; rel=\"next\""),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://o/api/v1/users?after=00u2&limit=2")
        );
        let mut h = HeaderMap::new();
        h.append(
            "link",
            HeaderValue::from_static("<https://o/a?x=1>; rel=\"self\", <https://o/a?after=b>; rel=\"next\""),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://o/a?after=b"));
        let mut h = HeaderMap::new();
        h.append("link", HeaderValue::from_static("<https://o/a>; rel=\"self\""));
        assert_eq!(next_link(&h), None);
    }

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
    fn reset_is_measured_against_the_date_header() {
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        h.insert("x-rate-limit-reset", HeaderValue::from_static("1445412510"));
        assert_eq!(until_reset(&h), Some(Duration::from_secs(30)));
    }

    #[test]
    fn errors_carry_code_summary_and_id() {
        let (id, detail) = okta_error(
            br#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"oae1","errorCauses":[]}"#,
        );
        assert_eq!(id.as_deref(), Some("oae1"));
        assert_eq!(
            detail,
            "E0000047: API call exceeded rate limit due to too many requests."
        );
        assert_eq!(
            bucket_key("https://o/api/v1/groups/00g1/users?limit=2"),
            "/api/v1/groups/{id}/users"
        );
        assert_eq!(bucket_key("https://o/api/v1/users?limit=2"), "/api/v1/users");
    }
}
