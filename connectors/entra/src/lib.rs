//! The `entra` connector: users, groups and memberships from Microsoft Graph v1.0, by full and
//! incremental (delta) rounds.
//!
//! - Auth: client credentials by secret or certificate ([`token`]), against any authority URL.
//! - Requests: built by graph-rs-sdk, sent with reqwest + rustls, retried on 429/503/504 with
//!   `Retry-After` or exponential backoff with jitter ([`graph`], [`idsync_source::retry`]).
//! - A full sync reads `/users/delta` and `/groups/delta` to their deltaLinks and returns a
//!   complete snapshot; later runs resume from the deltaLinks kept in the cursor and return
//!   only what changed ([`sync`]). Expired or reset delta state falls back to a full sync.
//! - Scope (groups, scoping filters), the attribute mapping and nesting are applied here, so
//!   the records the pipeline gets are final.

pub mod config;
mod credential;
mod graph;
mod state;
mod sync;
pub mod token;

use std::time::Duration;

use async_trait::async_trait;
use idsync_source::http::build_client;
use idsync_source::mapping::{Mapping, Scope};
use idsync_source::{Batch, FetchRequest, NestedGroups, Progress, Source, SourceError};
use tokio::sync::OnceCell;
use tracing::{info, warn};

pub use config::{EntraConfig, MappingOverrides, MappingRule};

use graph::{GetError, Graph};
use state::Tenant;
use token::TokenClient;

/// An Entra ID tenant as an identity source.
#[derive(Debug)]
pub struct EntraSource {
    name: String,
    config: EntraConfig,
    /// The mapping, or why the configuration cannot be used (reported by `fetch`).
    mapping: Result<Mapping, String>,
    /// `$select` of the users round: what the mapping and the filters read.
    user_select: Vec<String>,
    fingerprint: String,
    /// Built on the first fetch and kept, so the token cache outlives a run.
    graph: OnceCell<Graph>,
}

/// Group properties read: the name and the membership annotations.
const GROUP_SELECT: [&str; 2] = ["displayName", "members"];

impl EntraSource {
    /// `config` should have passed [`EntraConfig::check`]; problems left are reported by
    /// the first fetch as configuration errors.
    pub fn new(name: impl Into<String>, config: EntraConfig) -> EntraSource {
        let mapping = config.mapping().map_err(|e| e.to_string());
        let mut select: Vec<String> = match &mapping {
            Ok(m) => m.attributes().into_iter().collect(),
            Err(_) => Vec::new(),
        };
        select.extend(config.scoping_filters.attributes());
        select.push("accountEnabled".into());
        select.sort();
        select.dedup();
        let fingerprint = fingerprint(&config, mapping.as_ref().ok(), &select);
        EntraSource {
            name: name.into(),
            config,
            mapping,
            user_select: select,
            fingerprint,
            graph: OnceCell::new(),
        }
    }

    /// The `$select` of the users round.
    pub fn user_select(&self) -> &[String] {
        &self.user_select
    }

    async fn graph(&self) -> Result<&Graph, SourceError> {
        self.graph
            .get_or_try_init(|| async {
                let credential = self.config.credential().map_err(SourceError::Config)?;
                let timeout = Duration::from_secs(self.config.request_timeout_secs);
                let http = build_client(self.config.request_timeout_secs, &self.config.authority_url)?;
                let tokens = TokenClient::new(http, &self.config, credential);
                Graph::new(
                    &self.config.graph_url,
                    tokens,
                    self.config.retry.clone(),
                    self.config.max_concurrency,
                    timeout,
                )
            })
            .await
    }

    fn mapping(&self) -> Result<&Mapping, SourceError> {
        self.mapping.as_ref().map_err(|e| SourceError::Config(e.clone()))
    }

    fn scope(&self) -> &Scope {
        &self.config.scoping_filters
    }

    fn nesting(&self) -> NestedGroups {
        self.config.nested_groups
    }
}

/// A digest of everything that shapes the cursor's content: when it changes, the stored
/// delta links and graph no longer fit and a full sync runs.
fn fingerprint(config: &EntraConfig, mapping: Option<&Mapping>, select: &[String]) -> String {
    let mut text = format!(
        "v{}|{}|{}|{}|{:?}|{:?}|{:?}|",
        state::CURSOR_VERSION,
        config.graph_url,
        config.tenant_id,
        config.client_id,
        config.nested_groups,
        config.groups,
        select
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
impl Source for EntraSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch_user(&self, key: &str) -> Result<Option<idsync_source::UserLookup>, SourceError> {
        self.lookup_user(key).await
    }

    async fn check(&self) -> Result<String, SourceError> {
        self.mapping()?;
        self.graph().await?.check_token().await
    }

    async fn fetch(&self, request: &FetchRequest, progress: &dyn Progress) -> Result<Batch, SourceError> {
        let graph = self.graph().await?;
        if let (false, Some(cursor)) = (request.full, &request.cursor) {
            match Tenant::from_cursor(cursor, &self.fingerprint) {
                Ok((tenant, users_link, groups_link)) => {
                    match self
                        .incremental(graph, tenant, &users_link, &groups_link, progress)
                        .await
                    {
                        Ok(batch) => return Ok(batch),
                        Err(GetError::Failed(e)) => return Err(e),
                        Err(GetError::DeltaReset { url, status, detail }) => warn!(
                            connector = %self.name, url = %url, status, detail = %detail,
                            "Graph delta state expired or was reset; falling back to a full sync"
                        ),
                    }
                }
                Err(reason) => warn!(
                    connector = %self.name, reason = %reason,
                    "cannot resume from the stored cursor; running a full sync"
                ),
            }
        } else if request.full {
            info!(connector = %self.name, "full sync requested");
        }
        self.full(graph, progress).await
    }
}

/// Entry points for the fuzz targets in `fuzz/`: the decoder of a Graph page. Not part of the
/// connector's API.
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes a page of a collection or delta round as the page loop does.
    pub fn page(body: &[u8]) -> bool {
        serde_json::from_slice::<super::graph::Page>(body).is_ok()
    }
}
