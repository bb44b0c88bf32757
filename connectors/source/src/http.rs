//! The HTTP pieces the pull connectors share: a transport error's text, the `Retry-After`
//! header, and the loop that retries one authenticated request and renews its token once.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::retry::{self, Failure, RetryPolicy};
use crate::SourceError;

/// A transport error with its causes, and whether it was a timeout.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = crate::error_chain(e);
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
