//! How requests authenticate (Okta's "Implement OAuth for Okta with a service app",
//! <https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/>): an API
//! token (`SSWS`), or an OAuth 2.0
//! service app's bearer token from the org authorization server, obtained by client
//! credentials with a `private_key_jwt` client assertion and cached for its lifetime.

use std::sync::Arc;
use std::time::Duration;

use idsync_source::assertion::{self, EncodingKey, Header, ASSERTION_TYPE};
use idsync_source::retry::{self, Failure, RetryPolicy};
use idsync_source::{Secret, SourceError};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, warn};

use idsync_source::http::describe_reqwest;

use crate::config::OktaConfig;
use crate::wire::{okta_error, until_reset};

/// The scopes a service app needs: list users, list groups and their members.
pub const SCOPES: &str = "okta.users.read okta.groups.read";
/// Lifetime of a client assertion (Okta accepts at most an hour).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

struct Cached {
    token: Secret,
    renew_at: Instant,
    generation: u64,
}

pub(crate) struct OAuth {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    key: EncodingKey,
    header: Header,
    policy: RetryPolicy,
    cache: Mutex<Option<Cached>>,
}

/// The `Authorization` header source. Cloning shares the token cache.
#[derive(Clone)]
pub(crate) enum Auth {
    Ssws(Secret),
    OAuth(Arc<OAuth>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Ssws(_) => f.write_str("Ssws(***)"),
            Auth::OAuth(o) => write!(f, "OAuth(client_id={}, token_url={})", o.client_id, o.token_url),
        }
    }
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: u64,
}

impl Auth {
    pub(crate) fn new(http: reqwest::Client, config: &OktaConfig) -> Result<Auth, SourceError> {
        if let Some(token) = &config.api_token {
            return Ok(Auth::Ssws(token.clone()));
        }
        let (key, alg) = config.private_key().map_err(SourceError::Config)?;
        let mut header = Header::new(alg);
        header.kid = config.key_id.clone();
        Ok(Auth::OAuth(Arc::new(OAuth {
            http,
            token_url: format!("{}/oauth2/v1/token", config.org()),
            client_id: config.client_id.clone().unwrap_or_default(),
            key,
            header,
            policy: config.retry.clone(),
            cache: Mutex::new(None),
        })))
    }

    /// The header value and the token's generation (0 for an API token).
    pub(crate) async fn header(&self) -> Result<(String, u64), SourceError> {
        match self {
            Auth::Ssws(token) => Ok((format!("SSWS {}", token.expose()), 0)),
            Auth::OAuth(o) => {
                let mut cache = o.cache.lock().await;
                if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.renew_at) {
                    return Ok((format!("Bearer {}", c.token.expose()), c.generation));
                }
                let generation = cache.as_ref().map_or(0, |c| c.generation) + 1;
                let (token, lifetime) = o.request().await?;
                let margin = (lifetime / 10).clamp(Duration::from_secs(1), Duration::from_secs(300));
                debug!(lifetime_secs = lifetime.as_secs(), "got an Okta access token");
                let value = format!("Bearer {}", token.expose());
                *cache = Some(Cached {
                    token,
                    renew_at: Instant::now() + lifetime.saturating_sub(margin),
                    generation,
                });
                Ok((value, generation))
            }
        }
    }

    /// Forgets the bearer token of `generation` (the org rejected it). False for an API
    /// token, which cannot be renewed.
    pub(crate) async fn invalidate(&self, generation: u64) -> bool {
        match self {
            Auth::Ssws(_) => false,
            Auth::OAuth(o) => {
                let mut cache = o.cache.lock().await;
                if let Some(c) = cache.as_mut().filter(|c| c.generation == generation) {
                    c.renew_at = Instant::now();
                }
                true
            }
        }
    }
}

impl OAuth {
    /// A token request, a 429 retried after the bucket resets (as for API requests).
    async fn request(&self) -> Result<(Secret, Duration), SourceError> {
        retry::retry(
            &self.policy,
            |_| self.attempt(),
            |error, pause, attempt| {
                warn!(
                    url = %self.token_url, attempt, pause_secs = pause.as_secs_f64(), error = %error,
                    "Okta token request rate-limited; waiting for the bucket to reset"
                );
            },
        )
        .await
        .map_err(|e| e.error)
    }

    async fn attempt(&self) -> Result<(Secret, Duration), Failure<SourceError>> {
        let fatal = Failure::Fatal;
        let assertion = assertion::sign(
            &self.key,
            &self.header,
            &self.token_url,
            &self.client_id,
            ASSERTION_LIFETIME,
        )
        .map_err(|e| fatal(SourceError::Config(e)))?;
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", SCOPES),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ];
        let url = &self.token_url;
        let upstream =
            |status: Option<u16>, request_id: Option<String>, detail: String| SourceError::Upstream {
                url: url.clone(),
                status,
                request_id,
                detail,
            };
        let response = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| fatal(upstream(None, None, describe_reqwest(&e))))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| fatal(upstream(Some(status), None, describe_reqwest(&e))))?;
        if status == 200 {
            let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                fatal(upstream(
                    Some(status),
                    None,
                    format!("token response does not parse: {e}"),
                ))
            })?;
            if !parsed.token_type.eq_ignore_ascii_case("bearer") {
                return Err(fatal(upstream(
                    Some(status),
                    None,
                    format!("unexpected token_type {:?}", parsed.token_type),
                )));
            }
            return Ok((
                Secret::new(parsed.access_token),
                Duration::from_secs(parsed.expires_in),
            ));
        }
        let (request_id, detail) = okta_error(&body);
        match status {
            400 | 401 | 403 => Err(fatal(SourceError::Credentials {
                url: url.clone(),
                status,
                request_id,
                detail,
            })),
            429 => Err(Failure::Retry {
                error: upstream(Some(status), request_id, detail),
                retry_after: until_reset(&headers).map(|d| d + Duration::from_secs(1)),
            }),
            _ => Err(fatal(upstream(Some(status), request_id, detail))),
        }
    }
}
