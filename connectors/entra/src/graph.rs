//! Requests to Microsoft Graph: built by graph-rs-sdk, sent with reqwest, retried here.
//!
//! The SDK builds every request (URL, query, `Authorization: Bearer` from [`TokenClient`]
//! through its `ClientApplication` trait). Two of its parts are not used, for measured reasons:
//! - its `users().delta()` / `groups().delta()` builders request `/users/delta()`, while the
//!   documented paths are `/users/delta` and `/users/microsoft.graph.delta` ("user: delta",
//!   <https://learn.microsoft.com/graph/api/user-delta>); a strict
//!   server answers 404 to the former, so the path is given to the SDK's `custom` builder;
//! - its `.paging()` neither retries 429/503 nor reports a round that ends without a
//!   deltaLink, so the page loop, `Retry-After` and backoff live here (see
//!   [`idsync_source::retry`]).

use std::sync::Arc;
use std::time::Duration;

use graph_rs_sdk::http::{Method, Url};
use graph_rs_sdk::{GraphClient, GraphClientConfiguration, ODataQuery};
use idsync_source::http::{self, RequestError};
use idsync_source::retry::{Failure, RetryPolicy};
use idsync_source::SourceError;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use tokio::sync::Semaphore;
use tracing::warn;

use crate::token::TokenClient;

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum GetError {
    /// The run fails with this error.
    Failed(SourceError),
    /// The delta state is gone (`syncStateNotFound`, `resyncRequired`, 410 Gone): start over
    /// with a full round.
    DeltaReset {
        url: String,
        status: u16,
        detail: String,
    },
}

impl From<SourceError> for GetError {
    fn from(e: SourceError) -> Self {
        GetError::Failed(e)
    }
}

/// The delta state is gone: the attempt's own outcome, turned into [`GetError::DeltaReset`].
#[derive(Debug)]
struct Reset {
    status: u16,
    detail: String,
}

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.detail)
    }
}

type AttemptError = http::AttemptError<Reset>;

/// A page of a collection or delta round.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    pub value: Option<Vec<Map<String, Json>>>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

/// The Graph client of one connector.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    sdk: GraphClient,
    tokens: TokenClient,
    policy: RetryPolicy,
    permits: Arc<Semaphore>,
}

impl Graph {
    /// Asks the token endpoint for a token (cached ones are fine: they were issued by it).
    pub(crate) async fn check_token(&self) -> Result<String, SourceError> {
        self.tokens.token().await?;
        Ok(format!(
            "{} issued a token for these credentials",
            self.tokens.token_url()
        ))
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(alias = "innererror", rename = "innerError")]
    inner: Option<Map<String, Json>>,
}

impl Graph {
    pub(crate) fn new(
        graph_url: &str,
        tokens: TokenClient,
        policy: RetryPolicy,
        max_concurrency: usize,
        timeout: Duration,
    ) -> Result<Graph, SourceError> {
        let base = Url::parse(graph_url.trim_end_matches('/'))
            .map_err(|e| SourceError::Config(format!("graph_url {graph_url:?}: {e}")))?;
        let config = GraphClientConfiguration::new()
            .client_application(tokens.clone())
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(30))
            // Checked at configuration time: https, or http to loopback only.
            .https_only(base.scheme() == "https");
        let mut sdk = GraphClient::from(config);
        // `use_endpoint` accepts only the public and national clouds' hosts (and panics on
        // others); the URL was checked when the configuration loaded.
        sdk.use_test_endpoint(&base);
        Ok(Graph {
            sdk,
            tokens,
            policy,
            permits: Arc::new(Semaphore::new(max_concurrency.max(1))),
        })
    }

    /// `{graph}/users/delta?$select=...` or `{graph}/groups/delta?$select=...`.
    pub(crate) fn delta_url(&self, collection: &str, select: &[&str]) -> String {
        let mut handler = self.sdk.custom(Method::GET, None);
        extend(handler.as_mut(), &[collection, "delta"]);
        handler.select(select).url().to_string()
    }

    /// `{graph}/users/{id}?$select=...`.
    pub(crate) fn user_url(&self, id: &str, select: &[&str]) -> String {
        let mut handler = self.sdk.custom(Method::GET, None);
        extend(handler.as_mut(), &["users", id]);
        handler.select(select).url().to_string()
    }

    /// GETs a URL and parses its JSON body, retrying throttling and renewing the token once
    /// on 401/403.
    pub(crate) async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, GetError> {
        let result = http::send_renewing(
            &self.policy,
            url,
            |attempt| self.attempt(url, attempt),
            |generation| async move {
                self.tokens.invalidate(generation).await;
                true
            },
            |error, pause, attempt| {
                warn!(
                    url = %url, attempt, pause_secs = pause.as_secs_f64(), error = %error,
                    "Graph request throttled or unavailable; retrying"
                );
            },
        )
        .await;
        let body = match result {
            Ok(body) => body,
            Err(RequestError::Failed(e)) => return Err(GetError::Failed(e)),
            Err(RequestError::Special(Reset { status, detail })) => {
                return Err(GetError::DeltaReset {
                    url: url.to_owned(),
                    status,
                    detail,
                })
            }
        };
        serde_json::from_slice(&body).map_err(|e| {
            GetError::Failed(SourceError::Upstream {
                url: url.to_owned(),
                status: Some(200),
                request_id: None,
                detail: format!("the body does not parse as a Graph page: {e}"),
            })
        })
    }

    async fn attempt(&self, url: &str, attempt: u32) -> Result<Vec<u8>, Failure<AttemptError>> {
        let fatal = |e: SourceError| Failure::Fatal(AttemptError::Failed(e));
        let upstream =
            |status: Option<u16>, request_id: Option<String>, detail: String| SourceError::Upstream {
                url: url.to_owned(),
                status,
                request_id,
                detail,
            };
        // One permit per request in flight, the token request included; none while waiting.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| fatal(SourceError::Config(format!("request limiter closed: {e}"))))?;
        // Fetch (or reuse) the token first, so its errors keep their detail; the SDK then
        // takes it from the same cache.
        let (_, generation) = self.tokens.token().await.map_err(fatal)?;
        let target = Url::parse(url).map_err(|e| fatal(upstream(None, None, format!("not a URL: {e}"))))?;
        let mut handler = self.sdk.custom(Method::GET, None);
        *handler.as_mut() = target;
        let mut builder = handler
            .build()
            .await
            .map_err(|e| fatal(upstream(None, None, format!("cannot build the request: {e}"))))?;
        if attempt > 1 {
            builder = builder.header("Retry-Attempt", (attempt - 1).to_string());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| fatal(upstream(None, None, http::describe_reqwest(&e))))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut request_id = headers
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.map_err(|e| {
            fatal(upstream(
                Some(status),
                request_id.clone(),
                http::describe_reqwest(&e),
            ))
        })?;
        if status == 200 {
            return Ok(body.to_vec());
        }
        let parsed: Option<ErrorDetail> = serde_json::from_slice::<ErrorBody>(&body).ok().map(|b| b.error);
        if let Some(id) = parsed
            .as_ref()
            .and_then(|p| p.inner.as_ref())
            .and_then(|i| i.get("request-id"))
            .and_then(Json::as_str)
        {
            request_id.get_or_insert_with(|| id.to_owned());
        }
        let code = parsed.as_ref().map(|p| p.code.clone()).unwrap_or_default();
        let detail = match &parsed {
            Some(p) if !p.message.is_empty() => format!("{}: {}", p.code, p.message),
            Some(p) => p.code.clone(),
            None if body.is_empty() => "no body".to_owned(),
            None => String::from_utf8_lossy(&body).chars().take(200).collect(),
        };
        let expired =
            code.eq_ignore_ascii_case("syncStateNotFound") || code.eq_ignore_ascii_case("resyncRequired");
        match status {
            410 => {
                let location = headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none");
                Err(Failure::Fatal(AttemptError::Special(Reset {
                    status,
                    detail: format!("{detail} (Location: {location})"),
                })))
            }
            400 | 404 if expired => Err(Failure::Fatal(AttemptError::Special(Reset { status, detail }))),
            401 | 403 => Err(Failure::Fatal(AttemptError::Rejected {
                status,
                request_id,
                detail,
                generation,
            })),
            429 | 503 | 504 => Err(Failure::Retry {
                error: AttemptError::Failed(upstream(Some(status), request_id, detail)),
                retry_after: http::retry_after(&headers),
            }),
            _ => Err(fatal(upstream(Some(status), request_id, detail))),
        }
    }
}

fn extend(url: &mut Url, segments: &[&str]) {
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
}
