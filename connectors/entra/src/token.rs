//! App-only tokens: OAuth 2.0 client credentials against `{authority}/{tenant}/oauth2/v2.0/token`
//! by client secret or by a certificate-signed client assertion ("Microsoft identity platform
//! and the OAuth 2.0 client credentials flow",
//! <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>).
//!
//! graph-rs-sdk's own confidential client always asks `login.microsoftonline.com`-style
//! authorities it builds itself and cannot be pointed at another authority URL (a national
//! cloud given as a URL, or a local fake), so this client implements the SDK's
//! `ClientApplication` trait instead, and the SDK's request builder gets its bearer tokens from
//! here. The token is cached and renewed ahead of `expires_in`; the connector renews once more
//! after a 401.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use graph_core::identity::ForceTokenRefresh;
use graph_rs_sdk::error::{AuthExecutionError, AuthExecutionResult};
use graph_rs_sdk::identity::ClientApplication;
use idsync_source::assertion::{self, ASSERTION_TYPE};
use idsync_source::http;
use idsync_source::retry::{self, Failure, RetryPolicy};
use idsync_source::{Scrubber, Secret, SourceError};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::config::EntraConfig;
use crate::credential::Credential;

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Lifetime of a client assertion (Microsoft accepts up to 10 minutes).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// A client assertion: RS256, `x5t` and `x5t#S256` of the certificate, audience the token
/// endpoint, issuer and subject the client id.
fn client_assertion(
    key: &jsonwebtoken::EncodingKey,
    x5t: &str,
    x5t_s256: &str,
    token_url: &str,
    client_id: &str,
) -> Result<String, String> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(x5t.to_owned());
    header.x5t_s256 = Some(x5t_s256.to_owned());
    assertion::sign(key, &header, token_url, client_id, ASSERTION_LIFETIME)
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    /// Seconds; a number on the v2 endpoint, a string on some older ones.
    expires_in: NumberOrText,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

impl NumberOrText {
    /// The token's lifetime: whole non-negative seconds, as a number or as text.
    fn lifetime(&self) -> Option<Duration> {
        match self {
            NumberOrText::Number(n) => Some(Duration::from_secs(*n)),
            NumberOrText::Text(t) => t.trim().parse().ok().map(Duration::from_secs),
        }
    }
}

#[derive(Debug, Deserialize)]
struct TokenError {
    error: String,
    error_description: Option<String>,
    correlation_id: Option<String>,
    trace_id: Option<String>,
}

struct Cached {
    token: Secret,
    renew_at: Instant,
    /// Bumped on every renewal, so concurrent callers renew a rejected token only once.
    generation: u64,
}

struct Inner {
    http: reqwest::Client,
    /// Masks the client secret in what the token endpoint and Graph send back.
    scrubber: Scrubber,
    token_url: String,
    client_id: String,
    credential: Credential,
    policy: RetryPolicy,
    cache: Mutex<Option<Cached>>,
}

/// Fetches and caches app-only tokens. Cloning shares the cache.
#[derive(Clone)]
pub struct TokenClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("token_url", &self.inner.token_url)
            .field("credential", &self.inner.credential)
            .finish_non_exhaustive()
    }
}

impl TokenClient {
    pub(crate) fn new(http: reqwest::Client, config: &EntraConfig, credential: Credential) -> TokenClient {
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            config.authority_url.trim_end_matches('/'),
            config.tenant_id
        );
        TokenClient {
            inner: Arc::new(Inner {
                scrubber: match &credential {
                    Credential::Secret(secret) => Scrubber::new([secret]),
                    Credential::Certificate { .. } => Scrubber::default(),
                },
                http,
                token_url,
                client_id: config.client_id.clone(),
                credential,
                policy: config.retry.clone(),
                cache: Mutex::new(None),
            }),
        }
    }

    /// Masks the configured secret in upstream text.
    pub(crate) fn scrubber(&self) -> &Scrubber {
        &self.inner.scrubber
    }

    pub fn token_url(&self) -> &str {
        &self.inner.token_url
    }

    /// A valid token and its generation, from the cache unless it is due for renewal.
    pub async fn token(&self) -> Result<(Secret, u64), SourceError> {
        let mut cache = self.inner.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok((c.token.clone(), c.generation));
        }
        let generation = cache.as_ref().map_or(0, |c| c.generation) + 1;
        let (token, lifetime) = self.request().await?;
        let renew_at = http::renew_at(Instant::now(), lifetime);
        debug!(lifetime_secs = lifetime.as_secs(), "got a Graph access token");
        *cache = Some(Cached {
            token: token.clone(),
            renew_at,
            generation,
        });
        Ok((token, generation))
    }

    /// Forgets the token of `generation` (Graph rejected it); the next call fetches a new one.
    pub async fn invalidate(&self, generation: u64) {
        let mut cache = self.inner.cache.lock().await;
        if let Some(c) = cache.as_mut().filter(|c| c.generation == generation) {
            c.renew_at = Instant::now();
        }
    }

    async fn request(&self) -> Result<(Secret, Duration), SourceError> {
        let inner = &self.inner;
        let mut form: Vec<(&str, String)> = vec![
            ("client_id", inner.client_id.clone()),
            ("scope", GRAPH_SCOPE.to_owned()),
            ("grant_type", "client_credentials".to_owned()),
        ];
        match &inner.credential {
            Credential::Secret(secret) => form.push(("client_secret", secret.expose().to_owned())),
            Credential::Certificate { key, x5t, x5t_s256 } => {
                let assertion = client_assertion(key, x5t, x5t_s256, &inner.token_url, &inner.client_id)
                    .map_err(SourceError::Config)?;
                form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
                form.push(("client_assertion", assertion));
            }
        }
        let url = inner.token_url.clone();
        let result = retry::retry(
            &inner.policy,
            |_| {
                let request = inner.http.post(&url).form(&form);
                let url = url.clone();
                async move { token_attempt(request, &url, &inner.scrubber).await }
            },
            |error, pause, attempt| {
                warn!(
                    url = %url, attempt, pause_secs = pause.as_secs_f64(), error = %error,
                    "token request throttled; retrying"
                );
            },
        )
        .await;
        result.map_err(|e| {
            let exhausted = e.exhausted;
            let text = e.to_string();
            match e.error {
                SourceError::Upstream {
                    url,
                    status,
                    request_id,
                    ..
                } if exhausted => SourceError::Upstream {
                    url,
                    status,
                    request_id,
                    detail: text,
                },
                other => other,
            }
        })
    }
}

async fn token_attempt(
    request: reqwest::RequestBuilder,
    url: &str,
    scrubber: &Scrubber,
) -> Result<(Secret, Duration), Failure<SourceError>> {
    let upstream = |status: Option<u16>, request_id: Option<String>, detail: String| SourceError::Upstream {
        url: url.to_owned(),
        status,
        request_id,
        detail,
    };
    let response = request
        .send()
        .await
        .map_err(|e| Failure::Fatal(upstream(None, None, idsync_source::http::describe_reqwest(&e))))?;
    let status = response.status().as_u16();
    let retry_after = idsync_source::http::retry_after(response.headers());
    let body = response.bytes().await.map_err(|e| {
        Failure::Fatal(upstream(
            Some(status),
            None,
            idsync_source::http::describe_reqwest(&e),
        ))
    })?;
    if status == 200 {
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            Failure::Fatal(upstream(
                Some(status),
                None,
                format!("token response does not parse: {e}"),
            ))
        })?;
        if !parsed.token_type.eq_ignore_ascii_case("bearer") {
            return Err(Failure::Fatal(upstream(
                Some(status),
                None,
                format!("unexpected token_type {:?}", parsed.token_type),
            )));
        }
        let lifetime = parsed.expires_in.lifetime().ok_or_else(|| {
            Failure::Fatal(upstream(Some(status), None, "expires_in is not a number".into()))
        })?;
        return Ok((Secret::new(parsed.access_token), lifetime));
    }
    // An error body may echo the request, and with it the secret.
    let body = scrubber.scrub(&String::from_utf8_lossy(&body));
    let error: Option<TokenError> = serde_json::from_str(&body).ok();
    let request_id = error
        .as_ref()
        .and_then(|e| e.correlation_id.clone().or_else(|| e.trace_id.clone()));
    let detail = match &error {
        Some(e) => match &e.error_description {
            Some(d) => format!("{}: {}", e.error, d.lines().next().unwrap_or_default()),
            None => e.error.clone(),
        },
        None => body.chars().take(200).collect(),
    };
    match status {
        429 | 503 | 504 => Err(Failure::Retry {
            error: upstream(Some(status), request_id, detail),
            retry_after,
        }),
        // The identity platform answers a bad secret, assertion, client or tenant with 400 or
        // 401 and an OAuth error: retrying cannot help.
        400 | 401 | 403 => Err(Failure::Fatal(SourceError::Credentials {
            url: url.to_owned(),
            status,
            request_id,
            detail,
        })),
        _ => Err(Failure::Fatal(upstream(Some(status), request_id, detail))),
    }
}

/// graph-rs-sdk asks this for the bearer token of every request it builds.
#[async_trait]
impl ClientApplication for TokenClient {
    fn get_token_silent(&mut self) -> AuthExecutionResult<String> {
        // Only the async path is used; a blocking caller gets the cached token if it is fresh.
        let cache = self
            .inner
            .cache
            .try_lock()
            .map_err(|e| AuthExecutionError::Other(Box::new(e)))?;
        match cache.as_ref().filter(|c| Instant::now() < c.renew_at) {
            Some(c) => Ok(c.token.expose().to_owned()),
            None => Err(AuthExecutionError::Other(
                "no fresh token cached; use the async client".into(),
            )),
        }
    }

    async fn get_token_silent_async(&mut self) -> AuthExecutionResult<String> {
        match self.token().await {
            Ok((token, _)) => Ok(token.expose().to_owned()),
            Err(e) => Err(AuthExecutionError::Other(e.to_string().into())),
        }
    }

    fn with_force_token_refresh(&mut self, force_token_refresh: ForceTokenRefresh) {
        if force_token_refresh != ForceTokenRefresh::Never {
            if let Ok(mut cache) = self.inner.cache.try_lock() {
                if let Some(c) = cache.as_mut() {
                    c.renew_at = Instant::now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idsync_source::test_support::echo_server;

    #[test]
    fn expires_in_is_read_without_panicking() {
        let lifetime = |json: &str| {
            serde_json::from_str::<NumberOrText>(json)
                .ok()
                .and_then(|e| e.lifetime())
        };
        assert_eq!(lifetime("3599"), Some(Duration::from_secs(3599)));
        assert_eq!(lifetime(r#""3599""#), Some(Duration::from_secs(3599)));
        assert_eq!(lifetime("0"), Some(Duration::ZERO));
        assert_eq!(
            lifetime("9223372036854775808"),
            Some(Duration::from_secs(1 << 63))
        );
        assert_eq!(
            lifetime("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(lifetime(r#""18446744073709551616""#), None);
        assert_eq!(lifetime("-1"), None);
        assert_eq!(lifetime(r#""-1""#), None);
        assert_eq!(lifetime(r#""soon""#), None);
        assert_eq!(lifetime("1.5"), None);
    }

    const SECRET: &str = "Sx~8Q~a+b/c=d&e f";

    #[tokio::test]
    async fn an_echoed_client_secret_never_reaches_the_error() {
        let scrubber = Scrubber::new([&Secret::new(SECRET)]);
        let form = [
            ("client_id", "app"),
            ("client_secret", SECRET),
            ("grant_type", "client_credentials"),
        ];
        let as_oauth_error = |request: &str| {
            let body = request.split("\r\n\r\n").nth(1).unwrap_or_default();
            serde_json::json!({"error": "invalid_client", "error_description": body}).to_string()
        };
        let as_text = |request: &str| {
            let (head, body) = request.split_once("\r\n\r\n").unwrap_or_default();
            format!("{body}\n{head}")
        };
        for (status, answer) in [(401, as_oauth_error as fn(&str) -> String), (500, as_text)] {
            let url = echo_server(status, answer).unwrap();
            let request = reqwest::Client::new().post(&url).form(&form);
            let text = match token_attempt(request, &url, &scrubber).await {
                Ok(_) => panic!("the echo server answers errors only"),
                Err(Failure::Fatal(e) | Failure::Retry { error: e, .. }) => e.to_string(),
            };
            let encoded: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
            assert!(!text.contains(SECRET) && !text.contains(&encoded), "{text}");
            assert!(text.contains("client_secret=***"), "{text}");
        }
    }
}
