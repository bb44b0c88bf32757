//! The `google` connector: users, groups and memberships of a Google Workspace customer from
//! the Admin SDK Directory API
//! (<https://developers.google.com/workspace/admin/directory/reference/rest>).
//!
//! - Auth: a service account with domain-wide delegation; a signed JWT is exchanged for a
//!   bearer token, cached and renewed ([`key`], [`token`]).
//! - Requests: reqwest + rustls; rate-limit answers and 5xx retried with backoff; one token
//!   renewal on 401 ([`client`]).
//! - Every run reads the whole directory and returns a complete snapshot ([`sync`]); the
//!   deletion guard holds a snapshot that would remove too many people, such as an empty
//!   user list from a customer that had users.
//! - Scope (groups, scoping filters) and the attribute mapping are applied here.

mod client;
pub mod config;
mod error;
pub mod key;
mod lookup;
mod sync;
mod token;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use idsync_source::http::build_client;
use idsync_source::mapping::Mapping;
use idsync_source::{Batch, FetchRequest, Progress, Source, SourceError};
use tokio::sync::OnceCell;
use tracing::info;

pub use config::GoogleConfig;
pub use token::SCOPES;

use client::Client;
use token::Tokens;
use wire::UserSelection;

/// A Google Workspace customer as an identity source.
#[derive(Debug)]
pub struct GoogleSource {
    name: String,
    config: GoogleConfig,
    /// The mapping, or why the configuration cannot be used (reported by `fetch`).
    mapping: Result<Mapping, String>,
    /// The user fields and custom schemas the mapping and the scoping filters read.
    selection: UserSelection,
    /// Built on the first request and kept, so the token cache outlives a run.
    client: OnceCell<Client>,
    /// EXTERNAL members skipped by the last run.
    external_skipped: AtomicU64,
}

impl GoogleSource {
    /// `config` should have passed [`GoogleConfig::check`]; problems left are reported by the
    /// first fetch as configuration errors.
    pub fn new(name: impl Into<String>, config: GoogleConfig) -> GoogleSource {
        let mapping = config.mapping().map_err(|e| e.to_string());
        let mut attributes: Vec<String> = mapping
            .as_ref()
            .map(|m| m.attributes().into_iter().collect())
            .unwrap_or_default();
        attributes.extend(config.scoping_filters.attributes());
        let selection = UserSelection::new(attributes.iter().map(String::as_str));
        GoogleSource {
            name: name.into(),
            config,
            mapping,
            selection,
            client: OnceCell::new(),
            external_skipped: AtomicU64::new(0),
        }
    }

    /// How many members outside the customer (`EXTERNAL`) the last run skipped.
    pub fn external_members_skipped(&self) -> u64 {
        self.external_skipped.load(Ordering::Relaxed)
    }

    async fn client(&self) -> Result<&Client, SourceError> {
        self.client
            .get_or_try_init(|| async {
                let http = build_client(self.config.request_timeout_secs, &self.config.directory_url)?;
                let signer = self
                    .config
                    .key()
                    .and_then(|k| k.signer())
                    .map_err(SourceError::Config)?;
                let tokens = Tokens::new(
                    http.clone(),
                    signer,
                    self.config.subject.clone(),
                    self.config.retry.clone(),
                );
                Ok(Client::new(http, tokens, self.config.retry.clone()))
            })
            .await
    }

    fn mapping(&self) -> Result<&Mapping, SourceError> {
        self.mapping.as_ref().map_err(|e| SourceError::Config(e.clone()))
    }
}

#[async_trait]
impl Source for GoogleSource {
    fn name(&self) -> &str {
        &self.name
    }

    /// Gets a token (the delegation works) and lists one user (the subject may read them).
    async fn check(&self) -> Result<String, SourceError> {
        self.mapping()?;
        let url = self.users_url(1)?;
        let page: serde_json::Value = self.client().await?.get(&url).await?;
        let seen = page["users"].as_array().map_or(0, Vec::len);
        Ok(format!(
            "{} issued a token for {}; {url} listed {seen} user(s)",
            self.config.key().map(|k| k.token_uri).unwrap_or_default(),
            self.config.subject
        ))
    }

    async fn fetch_user(&self, key: &str) -> Result<Option<idsync_source::UserLookup>, SourceError> {
        self.mapping()?;
        let client = self.client().await?;
        self.lookup_user(client, key).await
    }

    async fn fetch(&self, request: &FetchRequest, progress: &dyn Progress) -> Result<Batch, SourceError> {
        self.mapping()?;
        let client = self.client().await?;
        if request.full {
            info!(connector = %self.name, "full sync requested (every Google run is one)");
        }
        self.full(client, progress).await
    }
}
