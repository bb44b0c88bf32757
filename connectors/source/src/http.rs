//! The HTTP pieces the pull connectors share: a transport error's text, the `Retry-After`
//! header, and the loop that retries one authenticated request and renews its token once.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::error::{error_chain, SourceError};
use crate::retry::{self, Failure, RetryPolicy};

/// The HTTP client a pull connector sends its requests with: `request_timeout_secs` for a
/// whole request, 30 seconds to connect, and https only when the configured `base_url` is
/// https (the configuration checks already allow plain http only to loopback).
pub fn build_client(request_timeout_secs: u64, base_url: &str) -> Result<reqwest::Client, SourceError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(request_timeout_secs))
        .connect_timeout(Duration::from_secs(30))
        .https_only(base_url.starts_with("https:"))
        .build()
        .map_err(|e| SourceError::Config(format!("cannot build the HTTP client: {e}")))
}

/// A transport error with its causes, and whether it was a timeout.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = error_chain(e);
    if e.is_timeout() {
        text.push_str(" (timed out)");
    }
    text
}

/// The pause a response asks for in its `Retry-After` header, if any.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()))
}

/// The longest a cached token is trusted, whatever its `expires_in` says.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// The part of a token's lifetime kept in reserve: a tenth, between 1 s and 5 minutes.
pub fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).clamp(Duration::from_secs(1), Duration::from_secs(300))
}

/// When to renew a token fetched at `now` that lives `lifetime` (an upstream's `expires_in`):
/// the renewal margin early, and at most [`MAX_TOKEN_LIFETIME`] on, so no value an upstream
/// sends can overflow the clock.
pub fn renew_at(now: Instant, lifetime: Duration) -> Instant {
    let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
    let after = lifetime.saturating_sub(renewal_margin(lifetime));
    now.checked_add(after).unwrap_or(now)
}

/// One failed attempt of an authenticated request, before the retry policy decides.
#[derive(Debug)]
pub enum AttemptError<X> {
    /// 401/403: the upstream refused the token of `generation`. Renewed once, then fatal.
    Rejected {
        status: u16,
        request_id: Option<String>,
        detail: String,
        generation: u64,
    },
    /// An outcome the connector handles itself (Graph's delta reset), handed back as it is.
    Special(X),
    /// Any other failure.
    Failed(SourceError),
}

impl<X: fmt::Display> fmt::Display for AttemptError<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Rejected { status, detail, .. } => write!(f, "HTTP {status}: {detail}"),
            AttemptError::Special(x) => x.fmt(f),
            AttemptError::Failed(e) => e.fmt(f),
        }
    }
}

/// Why an authenticated request failed for good.
#[derive(Debug)]
pub enum RequestError<X> {
    /// The run fails with this error.
    Failed(SourceError),
    /// The connector's own outcome, from [`AttemptError::Special`].
    Special(X),
}

impl<X> From<SourceError> for RequestError<X> {
    fn from(e: SourceError) -> Self {
        RequestError::Failed(e)
    }
}

/// Runs `attempt` under the retry policy. When the upstream rejects the token, `renew` is
/// asked to forget that token's generation (it answers false when the credential cannot be
/// renewed, as an API token) and the request runs once more; a second rejection is a
/// [`SourceError::Credentials`]. An error that stayed retryable until the caps ran out says
/// what the retries cost. `on_retry` hears about every pause, for logs.
pub async fn send_renewing<T, X, F, Fut, R, RFut>(
    policy: &RetryPolicy,
    url: &str,
    mut attempt: F,
    mut renew: R,
    mut on_retry: impl FnMut(&AttemptError<X>, Duration, u32),
) -> Result<T, RequestError<X>>
where
    X: fmt::Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure<AttemptError<X>>>>,
    R: FnMut(u64) -> RFut,
    RFut: Future<Output = bool>,
{
    let mut renewed = false;
    loop {
        let e = match retry::retry(policy, &mut attempt, &mut on_retry).await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let text = e.to_string();
        match e.error {
            AttemptError::Rejected { generation, .. } if !renewed && renew(generation).await => {
                tracing::debug!(url = %url, "the upstream rejected the token; renewing it once");
                renewed = true;
            }
            AttemptError::Rejected {
                status,
                request_id,
                detail,
                ..
            } => {
                let suffix = if renewed {
                    " (after renewing the token)"
                } else {
                    ""
                };
                return Err(RequestError::Failed(SourceError::Credentials {
                    url: url.to_owned(),
                    status,
                    request_id,
                    detail: format!("{detail}{suffix}"),
                }));
            }
            AttemptError::Special(x) => return Err(RequestError::Special(x)),
            AttemptError::Failed(SourceError::Upstream {
                url,
                status,
                request_id,
                ..
            }) if e.exhausted => {
                return Err(RequestError::Failed(SourceError::Upstream {
                    url,
                    status,
                    request_id,
                    detail: text,
                }))
            }
            AttemptError::Failed(other) => return Err(RequestError::Failed(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    type Outcome = Result<u32, Failure<AttemptError<&'static str>>>;

    fn rejected(generation: u64) -> Outcome {
        Err(Failure::Fatal(AttemptError::Rejected {
            status: 401,
            request_id: Some("r1".into()),
            detail: "E0000011: Invalid token provided".into(),
            generation,
        }))
    }

    /// Runs the loop over scripted outcomes; `renewable` is what `renew` answers.
    async fn run(
        script: Vec<Outcome>,
        renewable: bool,
    ) -> (Result<u32, RequestError<&'static str>>, Vec<u64>) {
        let script = RefCell::new(script.into_iter());
        let renewals = RefCell::new(Vec::new());
        let policy = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let result = send_renewing(
            &policy,
            "https://upstream.example/api",
            |_| {
                let next = script.borrow_mut().next();
                async move { next.unwrap_or(Ok(0)) }
            },
            |generation| {
                renewals.borrow_mut().push(generation);
                async move { renewable }
            },
            |_, _, _| {},
        )
        .await;
        (result, renewals.into_inner())
    }

    #[test]
    fn margin_is_a_tenth_within_bounds() {
        assert_eq!(
            renewal_margin(Duration::from_secs(3599)),
            Duration::from_secs(300)
        );
        assert_eq!(renewal_margin(Duration::from_secs(600)), Duration::from_secs(60));
        assert_eq!(renewal_margin(Duration::from_secs(5)), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn any_token_lifetime_gives_a_renewal_time() {
        let now = Instant::now();
        let after = |secs: u64| renew_at(now, Duration::from_secs(secs)) - now;
        assert_eq!(after(0), Duration::ZERO);
        assert_eq!(after(3600), Duration::from_secs(3300));
        let day = MAX_TOKEN_LIFETIME - Duration::from_secs(300);
        assert_eq!(after(1 << 63), day, "2^63 s");
        assert_eq!(after(u64::MAX), day, "u64::MAX s");
        assert_eq!(renew_at(now, Duration::MAX) - now, day);
    }

    #[tokio::test]
    async fn a_rejected_token_is_renewed_once() {
        let (result, renewals) = run(vec![rejected(3), Ok(7)], true).await;
        assert_eq!(result.ok(), Some(7));
        assert_eq!(renewals, vec![3]);

        let (result, renewals) = run(vec![rejected(1), rejected(2), Ok(7)], true).await;
        assert_eq!(renewals, vec![1]);
        let Err(RequestError::Failed(e)) = result else {
            panic!("expected a failure")
        };
        assert_eq!(
            e.to_string(),
            "credentials rejected by https://upstream.example/api: HTTP 401 (request id r1): \
             E0000011: Invalid token provided (after renewing the token)"
        );
        assert!(e.needs_operator());
    }

    #[tokio::test]
    async fn a_token_that_cannot_be_renewed_fails_at_once() {
        let (result, renewals) = run(vec![rejected(0), Ok(7)], false).await;
        assert_eq!(renewals, vec![0]);
        let Err(RequestError::Failed(e)) = result else {
            panic!("expected a failure")
        };
        assert!(e.to_string().ends_with("Invalid token provided"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn special_outcomes_pass_and_exhaustion_is_reported() {
        let special = Err(Failure::Fatal(AttemptError::Special("delta reset")));
        let (result, _) = run(vec![special], true).await;
        assert!(matches!(result, Err(RequestError::Special("delta reset"))));

        let throttled = || -> Outcome {
            Err(Failure::Retry {
                error: AttemptError::Failed(SourceError::Upstream {
                    url: "https://upstream.example/api".into(),
                    status: Some(429),
                    request_id: None,
                    detail: "slow down".into(),
                }),
                retry_after: Some(Duration::from_secs(1)),
            })
        };
        let (result, _) = run(vec![throttled(), throttled(), Ok(1)], true).await;
        let Err(RequestError::Failed(e)) = result else {
            panic!("expected a failure")
        };
        assert_eq!(
            e.to_string(),
            "https://upstream.example/api: HTTP 429: https://upstream.example/api: HTTP 429: slow down \
             (gave up after 2 attempts and 1.0s of waiting)"
        );
    }
}
