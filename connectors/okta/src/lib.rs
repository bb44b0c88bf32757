//! The `okta` connector: users, groups and memberships from the Okta management API v1, by
//! full and incremental rounds (<https://developer.okta.com/docs/reference/core-okta-api/>;
//! the facts relied on are in `docs/upstream.md`).
//!
//! - Auth: an API token (`SSWS`) or an OAuth 2.0 service app with a `private_key_jwt`
//!   client assertion ([`token`]), against any org URL.
//! - Requests: reqwest + rustls, one at a time, paced by the rate-limit headers, 429 waited
//!   out until the bucket resets ([`client`]).
//! - The first run and every `full_sync_interval_hours` read the whole org and return a
//!   complete snapshot (which is how hard deletions are seen); other runs ask for what changed
//!   since the last one ([`sync`]). `resync --full` forces a full run.
//! - Scope (groups, scoping filters, STAGED users) and the attribute mapping are applied here,
//!   so the records the pipeline gets are final.

mod client;
pub mod config;
mod state;
mod sync;
mod token;
mod wire;

use async_trait::async_trait;
use idsync_source::http::build_client;
use idsync_source::mapping::Mapping;
use idsync_source::{Batch, FetchRequest, Progress, Source, SourceError};
use tokio::sync::OnceCell;
use tracing::{info, warn};

pub use config::OktaConfig;
pub use token::SCOPES;

use client::Client;
use state::Org;
use token::Auth;

/// An Okta org as an identity source.
#[derive(Debug)]
pub struct OktaSource {
    name: String,
    config: OktaConfig,
    /// The mapping, or why the configuration cannot be used (reported by `fetch`).
    mapping: Result<Mapping, String>,
    fingerprint: String,
    /// Built on the first fetch and kept, so the token cache and the rate-limit buckets
    /// outlive a run.
    client: OnceCell<Client>,
}

impl OktaSource {
    /// `config` should have passed [`OktaConfig::check`]; problems left are reported by the
    /// first fetch as configuration errors.
    pub fn new(name: impl Into<String>, config: OktaConfig) -> OktaSource {
        let mapping = config.mapping().map_err(|e| e.to_string());
        let fingerprint = fingerprint(&config, mapping.as_ref().ok());
        OktaSource {
            name: name.into(),
            config,
            mapping,
            fingerprint,
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&Client, SourceError> {
        self.client
            .get_or_try_init(|| async {
                let http = build_client(self.config.request_timeout_secs, &self.config.org_url)?;
                let auth = Auth::new(http.clone(), &self.config)?;
                Ok(Client::new(
                    http,
                    auth,
                    self.config.retry.clone(),
                    self.config.rate_limit_reserve_percent,
                ))
            })
            .await
    }

    fn mapping(&self) -> Result<&Mapping, SourceError> {
        self.mapping.as_ref().map_err(|e| SourceError::Config(e.clone()))
    }
}

/// A digest of everything that shapes the cursor's content: when it changes, a full sync runs.
fn fingerprint(config: &OktaConfig, mapping: Option<&Mapping>) -> String {
    let mut text = format!(
        "v{}|{}|{:?}|{}|",
        state::CURSOR_VERSION,
        config.org(),
        config.groups,
        config.sync_staged_users,
    );
    for filter in config.scoping_filters.filters() {
        text.push_str(&serde_json::to_string(filter).unwrap_or_default());
    }
    for entry in mapping.map(Mapping::entries).unwrap_or_default() {
        text.push_str(&format!("|{}={}", entry.target, entry.expression.source()));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl Source for OktaSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> Result<String, SourceError> {
        self.mapping()?;
        let url = format!("{}/api/v1/users?limit=1", self.config.org());
        self.client().await?.get::<serde_json::Value>(&url).await?;
        Ok(format!("{url} accepted the credentials"))
    }

    async fn fetch_user(&self, key: &str) -> Result<Option<idsync_source::UserLookup>, SourceError> {
        self.mapping()?;
        let client = self.client().await?;
        self.lookup_user(client, key).await
    }

    async fn fetch(&self, request: &FetchRequest, progress: &dyn Progress) -> Result<Batch, SourceError> {
        self.mapping()?;
        let client = self.client().await?;
        // Forget the Date headers of earlier runs; this run's first one dates its start.
        let started = client.run_start(chrono::Utc::now());
        if request.full {
            info!(connector = %self.name, "full sync requested");
        } else if let Some(cursor) = &request.cursor {
            match Org::from_cursor(cursor, &self.fingerprint) {
                Ok(resumed) => {
                    let interval = i64::try_from(self.config.full_sync_interval_hours)
                        .ok()
                        .and_then(chrono::Duration::try_hours)
                        .unwrap_or(chrono::Duration::MAX);
                    let since_full = started - resumed.last_full;
                    // A full reconcile is due after the interval, or if the clock went back.
                    if since_full >= chrono::Duration::zero() && since_full < interval {
                        return self.incremental(client, resumed, started, progress).await;
                    }
                    info!(connector = %self.name, "periodic full reconcile due");
                }
                Err(reason) => warn!(
                    connector = %self.name, reason = %reason,
                    "cannot resume from the stored cursor; running a full sync"
                ),
            }
        }
        self.full(client, started, progress).await
    }
}

/// Entry points for the fuzz targets in `fuzz/`: the parsers of what an Okta org answers.
/// Not part of the connector's API.
#[doc(hidden)]
pub mod fuzzing {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

    /// Reads `Link`, `X-Rate-Limit-Reset` and `Date` as given (each line `name: value`) and an
    /// error body, as the client does for every response.
    pub fn response(header_lines: &[u8], body: &[u8]) {
        let mut headers = HeaderMap::new();
        for line in header_lines.split(|b| *b == b'\n') {
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                headers.append(name, value);
            }
        }
        let _ = super::wire::next_link(&headers);
        let _ = super::wire::until_reset(&headers);
        let _ = super::wire::okta_error(body);
    }
}
