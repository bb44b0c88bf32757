//! Connectors stored in the database, as the admin API and a running daemon see them: put
//! (validated exactly like the configuration file, inline secrets sealed before the store
//! sees them), read back with secrets hidden, listed, deleted, and loaded (secrets opened) for
//! the daemon, which a change wakes at once.
//!
//! The configuration file wins: a stored connector may not take the (tenant, name) of one the
//! file defines.

mod sealing;

use std::sync::Arc;

use chrono::NaiveDateTime;
use serde_json::Value as Json;
use thiserror::Error;
use tokio::sync::Notify;

use crate::config::{Config, ConfigError, ConnectorConfig};
use crate::secrets::{Keyring, SecretsError};
pub use crate::store::connectors::Put;
use crate::store::connectors::{Resealed, StoredConnector};
use crate::store::webhooks::WebhookRow;
use crate::store::{Store, StoreError};
use crate::tenant::TenantId;

/// Why a stored connector could not be put, read or loaded, by what the caller should do.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The settings are wrong at a key (the message starts with it): fix the request (400).
    #[error(transparent)]
    Invalid(ConfigError),
    /// An inline secret with no `[admin] secrets_key` to encrypt it: configure the key or
    /// give the secret as a reference (400).
    #[error(
        "{key}: an inline secret cannot be stored without [admin] secrets_key (configure \
         secrets_key, or give it as {{\"env\": \"VAR\"}} or {{\"file\": \"PATH\"}})"
    )]
    NoSecretsKey { key: String },
    /// The configuration file defines this (tenant, name); it is changed there (409).
    #[error("connector {name:?} of tenant {tenant} is defined in the configuration file; change it there")]
    DefinedInFile { tenant: TenantId, name: String },
    /// No such tenant: create it first (404).
    #[error("no tenant {0}")]
    UnknownTenant(TenantId),
    /// A stored envelope cannot be opened (a key missing from the keyring, or corruption): an
    /// operator must look (500).
    #[error("connector {name:?} of tenant {tenant}: {source}")]
    Sealed {
        tenant: TenantId,
        name: String,
        source: SecretsError,
    },
    /// A webhook endpoint's sealed signing secret cannot be opened (500).
    #[error("webhook {name:?} of tenant {tenant}: {source}")]
    SealedWebhook {
        tenant: String,
        name: String,
        source: SecretsError,
    },
    /// The keyring cannot do what was asked (no current key to rotate to).
    #[error(transparent)]
    Keys(SecretsError),
    /// The database failed (500, or retry).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored connector as the API shows it: every secret `"***"`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredView {
    pub tenant: TenantId,
    pub name: String,
    pub settings: Json,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A stored connector as the daemon loads it.
#[derive(Debug)]
pub struct Loaded {
    pub tenant: TenantId,
    pub name: String,
    /// Its `updated_at`, which every put moves (a key rotation does not: the settings mean
    /// the same, so the daemon need not restart the connector).
    pub updated_at: NaiveDateTime,
    /// Its configuration, or why it cannot run.
    pub config: Result<ConnectorConfig, RegistryError>,
}

/// The stored connectors of one database, shared (in an `Arc`) by the admin API and the
/// daemon that runs them.
#[derive(Debug)]
pub struct ConnectorRegistry {
    store: Store,
    config: Arc<Config>,
    keyring: Keyring,
    /// Notified on every put and delete, so a daemon looks at once instead of at its next poll.
    changed: Notify,
}

impl ConnectorRegistry {
    /// The registry of `store`, sealing with `config`'s `[admin]` keys.
    pub fn new(store: Store, config: Arc<Config>) -> Result<ConnectorRegistry, SecretsError> {
        let keyring = config.admin.keyring()?;
        Ok(ConnectorRegistry {
            store,
            config,
            keyring,
            changed: Notify::new(),
        })
    }

    /// Validates `settings` like a `[[connectors]]` entry, seals its inline secrets and stores
    /// it. A new or changed connector runs within `[daemon] poll_secs`.
    pub async fn put(&self, tenant: &TenantId, name: &str, mut settings: Json) -> Result<Put, RegistryError> {
        if self.in_file(tenant, name) {
            return Err(RegistryError::DefinedInFile {
                tenant: tenant.clone(),
                name: name.to_owned(),
            });
        }
        self.config
            .connector_from_json(tenant, name, &settings)
            .map_err(RegistryError::Invalid)?;
        if self.store.tenant_row(tenant).await?.is_none() {
            return Err(RegistryError::UnknownTenant(tenant.clone()));
        }
        let sealed = sealing::seal(&self.keyring, &mut settings).map_err(|e| match e {
            SecretsError::NoKey => RegistryError::NoSecretsKey {
                key: first_inline_secret(&settings),
            },
            source => RegistryError::Sealed {
                tenant: tenant.clone(),
                name: name.to_owned(),
                source,
            },
        })?;
        let key_id = if sealed { self.keyring.current_id() } else { None };
        let put = self.store.put_connector(tenant, name, &settings, key_id).await?;
        self.changed.notify_one();
        Ok(put)
    }

    /// `(tenant, name)`'s settings with every secret hidden.
    pub async fn get(&self, tenant: &TenantId, name: &str) -> Result<Option<StoredView>, RegistryError> {
        Ok(self.store.stored_connector(tenant, name).await?.map(view))
    }

    /// A tenant's stored connectors, by name, secrets hidden.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredView>, RegistryError> {
        let stored = self.store.stored_connectors_of(tenant).await?;
        Ok(stored.into_iter().map(view).collect())
    }

    /// Removes `(tenant, name)`: a running daemon stops it (after a run in progress). False
    /// when none was stored.
    pub async fn delete(&self, tenant: &TenantId, name: &str) -> Result<bool, RegistryError> {
        let deleted = self.store.delete_connector(tenant, name).await?;
        self.changed.notify_one();
        Ok(deleted)
    }

    /// Removes every stored connector of `tenant` (when the tenant goes); how many there were.
    pub async fn stop_tenant(&self, tenant: &TenantId) -> Result<usize, RegistryError> {
        let mut removed = 0;
        for connector in self.store.stored_connectors_of(tenant).await? {
            if self.store.delete_connector(tenant, &connector.name).await? {
                removed += 1;
            }
        }
        self.changed.notify_one();
        Ok(removed)
    }

    /// The configuration of `tenant`'s connector `name`, the file's or a stored one (secrets
    /// opened), for a run now; `None` when neither defines it.
    pub async fn connector(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<ConnectorConfig>, RegistryError> {
        if let Some(config) = self.config.connector_of(tenant, name) {
            return Ok(Some(config.clone()));
        }
        let Some(stored) = self.store.stored_connector(tenant, name).await? else {
            return Ok(None);
        };
        self.load(stored).config.map(Some)
    }

    /// Every stored connector of every tenant, secrets opened, for the daemon to run. One that
    /// cannot be read carries its error (the others still run).
    pub async fn load_all(&self) -> Result<Vec<Loaded>, RegistryError> {
        let stored = self.store.stored_connectors().await?;
        Ok(stored.into_iter().map(|s| self.load(s)).collect())
    }

    /// The id of the key new secrets are sealed with, if one is configured.
    /// The keyring that seals stored secrets (webhook secrets are sealed with it too).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn current_key_id(&self) -> Option<&str> {
        self.keyring.current_id()
    }

    /// Waits for the next put or delete.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Re-encrypts every stored secret under the current key, in one transaction: the
    /// stored connectors' inline secrets and the webhook endpoints' signing secrets.
    pub async fn rotate_key(&self) -> Result<Resealed, RegistryError> {
        let Some(current) = self.keyring.current_id().map(str::to_owned) else {
            return Err(RegistryError::Keys(SecretsError::NoKey));
        };
        let (keyring, webhook_keyring) = (self.keyring.clone(), self.keyring.clone());
        let webhook_key = current.clone();
        let connector = move |c: &StoredConnector| {
            let mut settings = c.settings.clone();
            let sealed =
                sealing::reseal(&keyring, &mut settings).map_err(|source| RegistryError::Sealed {
                    tenant: c.tenant.clone(),
                    name: c.name.clone(),
                    source,
                })?;
            Ok(sealed.then(|| (settings, Some(current.clone()))))
        };
        let webhook = move |w: &WebhookRow| {
            let failed = |source| RegistryError::SealedWebhook {
                tenant: w.tenant_id.clone(),
                name: w.name.clone(),
                source,
            };
            let Some(sealed) = &w.secret else {
                return Ok(None);
            };
            let plain = webhook_keyring.open(sealed).map_err(failed)?;
            let resealed = webhook_keyring.seal(&plain).map_err(failed)?;
            Ok(Some((resealed, Some(webhook_key.clone()))))
        };
        self.store.reseal_secrets(connector, webhook).await
    }

    /// Opens and reads one stored connector. One the file has come to define since it was
    /// stored does not run: the file wins.
    fn load(&self, stored: StoredConnector) -> Loaded {
        let config = if self.in_file(&stored.tenant, &stored.name) {
            Err(RegistryError::DefinedInFile {
                tenant: stored.tenant.clone(),
                name: stored.name.clone(),
            })
        } else {
            self.open(&stored)
        };
        Loaded {
            tenant: stored.tenant,
            name: stored.name,
            updated_at: stored.updated_at,
            config,
        }
    }

    fn open(&self, stored: &StoredConnector) -> Result<ConnectorConfig, RegistryError> {
        let mut settings = stored.settings.clone();
        sealing::open(&self.keyring, &mut settings).map_err(|source| RegistryError::Sealed {
            tenant: stored.tenant.clone(),
            name: stored.name.clone(),
            source,
        })?;
        self.config
            .connector_from_json(&stored.tenant, &stored.name, &settings)
            .map_err(RegistryError::Invalid)
    }

    /// Whether the configuration file defines `(tenant, name)`.
    fn in_file(&self, tenant: &TenantId, name: &str) -> bool {
        self.config.connector_of(tenant, name).is_some()
    }
}

fn view(stored: StoredConnector) -> StoredView {
    StoredView {
        settings: crate::config::redacted(&stored.settings),
        tenant: stored.tenant,
        name: stored.name,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
    }
}

/// The first secret key of `settings` given inline, for the error that refuses it.
fn first_inline_secret(settings: &Json) -> String {
    let keys = crate::config::settings_kind(settings)
        .map(crate::config::secret_keys)
        .unwrap_or_default();
    keys.iter()
        .find(|k| settings.get(**k).is_some_and(Json::is_string))
        .map_or_else(|| "settings".to_owned(), |k| (*k).to_owned())
}
