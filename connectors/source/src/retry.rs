//! Retrying throttled and failing upstream requests, shared by the pull connectors.
//!
//! The rules come from Microsoft Graph's throttling guidance
//! (<https://learn.microsoft.com/graph/throttling>, "Best practices to handle throttling") and
//! its SDKs' retry handler (msgraph-sdk-design, `middleware/RetryHandler.md`), and fit Okta's
//! rate limits as well (`docs/upstream.md` collects the facts):
//! - a response that asks for a pause (`Retry-After`: whole or fractional seconds, or an HTTP
//!   date) gets exactly that pause;
//! - without one, the pause grows exponentially with random jitter (the `backon` crate's
//!   exponential backoff), so clients throttled together do not retry together;
//! - attempts and the total time spent waiting are both capped, so a run fails with the last
//!   error instead of hanging. A `Retry-After` longer than what is left of the wait budget
//!   ends the retries at once rather than sleeping into a failure.
//!
//! The module knows no HTTP client: the operation says whether its failure may be retried and
//! with which `Retry-After`.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;

/// How hard to retry. Deserializable so connectors can expose it in their configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included (1 disables retries).
    pub max_attempts: u32,
    /// The most time spent waiting between attempts of one request, in seconds.
    pub max_wait_secs: f64,
    /// The first backoff pause when the upstream gives no `Retry-After`, in seconds.
    pub initial_backoff_secs: f64,
    /// The longest single backoff pause (before jitter), in seconds.
    pub max_backoff_secs: f64,
}

impl Default for RetryPolicy {
    /// Six attempts and at most three minutes of waiting, the Graph SDKs' cumulative cap.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_wait_secs: 180.0,
            initial_backoff_secs: 1.0,
            max_backoff_secs: 60.0,
        }
    }
}

impl RetryPolicy {
    /// The policy's durations, clamped to sane values (negative or NaN seconds become zero).
    fn secs(value: f64) -> Duration {
        if value.is_finite() && value > 0.0 {
            Duration::from_secs_f64(value.min(MAX_PAUSE_SECS))
        } else {
            Duration::ZERO
        }
    }

    pub fn max_wait(&self) -> Duration {
        Self::secs(self.max_wait_secs)
    }

    /// Checks the values, for configuration loading.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        for (name, v) in [
            ("max_wait_secs", self.max_wait_secs),
            ("initial_backoff_secs", self.initial_backoff_secs),
            ("max_backoff_secs", self.max_backoff_secs),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} must be a non-negative number of seconds"));
            }
        }
        Ok(())
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        let min = Self::secs(self.initial_backoff_secs);
        ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(Self::secs(self.max_backoff_secs).max(min))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .build()
    }
}

/// No single pause is longer than a day, whatever a header says.
const MAX_PAUSE_SECS: f64 = 86_400.0;

/// Reads a `Retry-After` header value: whole or fractional seconds (`10`, `2.128`) or an HTTP
/// date (`Wed, 21 Oct 2015 07:28:00 GMT`). A date in the past means "now"; anything else that
/// does not parse is `None`, and the caller falls back to its backoff.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(MAX_PAUSE_SECS)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    let pause = when.duration_since(now).unwrap_or(Duration::ZERO);
    Some(pause.min(Duration::from_secs_f64(MAX_PAUSE_SECS)))
}

/// How one failed attempt may continue.
#[derive(Debug, Clone)]
pub enum Failure<E> {
    /// Transient (429, 503, 504, a reset connection): try again, after `retry_after` when the
    /// upstream said how long to wait.
    Retry { error: E, retry_after: Option<Duration> },
    /// Retrying cannot help (400, 401, a body that does not parse).
    Fatal(E),
}

/// The error of the last attempt, with what the retries cost.
#[derive(Debug)]
pub struct RetryError<E> {
    pub error: E,
    /// Attempts made, the first one included.
    pub attempts: u32,
    /// Time spent waiting between attempts.
    pub waited: Duration,
    /// True when the error was retryable but the attempt or wait cap ran out.
    pub exhausted: bool,
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exhausted {
            write!(
                f,
                "{} (gave up after {} attempts and {:.1}s of waiting)",
                self.error,
                self.attempts,
                self.waited.as_secs_f64()
            )
        } else {
            self.error.fmt(f)
        }
    }
}

/// Runs `attempt` (given the attempt number, from 1) until it succeeds, fails fatally, or the
/// policy's caps run out. `on_retry` hears about every pause before it is taken, for logs.
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut attempt: F,
    mut on_retry: impl FnMut(&E, Duration, u32),
) -> Result<T, RetryError<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let max_wait = policy.max_wait();
    let mut backoff = policy.backoff();
    let mut waited = Duration::ZERO;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        crate::telemetry::upstream_request();
        let (error, retry_after) = match attempt(attempts).await {
            Ok(value) => return Ok(value),
            Err(Failure::Fatal(error)) => {
                return Err(RetryError {
                    error,
                    attempts,
                    waited,
                    exhausted: false,
                })
            }
            Err(Failure::Retry { error, retry_after }) => {
                crate::telemetry::upstream_throttled();
                (error, retry_after)
            }
        };
        let exhausted = |error| RetryError {
            error,
            attempts,
            waited,
            exhausted: true,
        };
        // Every retry takes a step of the backoff, which also counts the attempts.
        let Some(step) = backoff.next() else {
            return Err(exhausted(error));
        };
        let pause = retry_after.unwrap_or(step);
        if waited + pause > max_wait {
            return Err(exhausted(error));
        }
        on_retry(&error, pause, attempts);
        tokio::time::sleep(pause).await;
        waited += pause;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn retry_after_accepts_seconds_fractions_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 07:27:50 GMT
        assert_eq!(parse_retry_after("10", now), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_retry_after(" 2.128 ", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("1e30", now), Some(Duration::from_secs(86_400)));
    }

    fn policy(max_attempts: u32, max_wait_secs: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            max_wait_secs,
            initial_backoff_secs: 1.0,
            max_backoff_secs: 8.0,
        }
    }

    /// Runs `retry` over scripted outcomes, returning the result and the pauses taken.
    async fn run(
        policy: &RetryPolicy,
        script: Vec<Result<u32, Failure<&'static str>>>,
    ) -> (Result<u32, RetryError<&'static str>>, Vec<Duration>) {
        let script = RefCell::new(script.into_iter());
        let pauses = RefCell::new(Vec::new());
        let result = retry(
            policy,
            |_| {
                let next = script.borrow_mut().next();
                async move { next.unwrap_or(Err(Failure::Fatal("script ran out"))) }
            },
            |_, pause, _| pauses.borrow_mut().push(pause),
        )
        .await;
        (result, pauses.into_inner())
    }

    fn throttled(after: Option<f64>) -> Result<u32, Failure<&'static str>> {
        Err(Failure::Retry {
            error: "429",
            retry_after: after.map(Duration::from_secs_f64),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_exactly() {
        let started = tokio::time::Instant::now();
        let (result, pauses) = run(
            &policy(5, 60.0),
            vec![throttled(Some(2.128)), throttled(Some(1.0)), Ok(7)],
        )
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(pauses, vec![Duration::from_millis(2128), Duration::from_secs(1)]);
        assert_eq!(started.elapsed(), Duration::from_millis(3128));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_with_jitter_when_no_retry_after() {
        let (result, pauses) = run(
            &policy(6, 600.0),
            vec![
                throttled(None),
                throttled(None),
                throttled(None),
                throttled(None),
                Ok(1),
            ],
        )
        .await;
        assert_eq!(result.unwrap(), 1);
        // Base pauses 1, 2, 4, 8 s, each plus up to 100% jitter.
        for (pause, base) in pauses.iter().zip([1.0, 2.0, 4.0, 8.0]) {
            let secs = pause.as_secs_f64();
            assert!(
                secs >= base && secs <= 2.0 * base,
                "{secs} not in [{base}, {}]",
                2.0 * base
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_capped() {
        let (result, pauses) = run(&policy(3, 600.0), vec![throttled(Some(0.5)); 5]).await;
        let err = result.unwrap_err();
        assert_eq!((err.attempts, err.exhausted), (3, true));
        assert_eq!(pauses.len(), 2);
        assert_eq!(
            err.to_string(),
            "429 (gave up after 3 attempts and 1.0s of waiting)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn total_wait_is_capped_without_sleeping_past_it() {
        let started = tokio::time::Instant::now();
        let (result, pauses) = run(
            &policy(10, 5.0),
            vec![throttled(Some(3.0)), throttled(Some(3.0)), Ok(1)],
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!((err.attempts, err.waited), (2, Duration::from_secs(3)));
        assert_eq!(pauses, vec![Duration::from_secs(3)]);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_errors_are_not_retried() {
        let (result, pauses) = run(&policy(5, 60.0), vec![Err(Failure::Fatal("400")), Ok(1)]).await;
        let err = result.unwrap_err();
        assert_eq!((err.error, err.attempts, err.exhausted), ("400", 1, false));
        assert!(pauses.is_empty());
        assert_eq!(err.to_string(), "400");
    }
}
