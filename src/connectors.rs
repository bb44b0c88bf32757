//! Builds the configured connectors: the one place that knows every connector kind.

use idsync_entra::EntraSource;
use idsync_file::FileSource;
use idsync_google::GoogleSource;
use idsync_okta::OktaSource;
use idsync_source::Source;

use crate::config::{ConnectorConfig, ConnectorKind};

/// A configured connector and the source that fetches for it.
pub struct Connector {
    pub config: ConnectorConfig,
    pub source: Box<dyn Source>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

pub fn build(config: &ConnectorConfig) -> Connector {
    let source: Box<dyn Source> = match &config.kind {
        ConnectorKind::File(file) => Box::new(FileSource::new(&config.name, file.clone())),
        ConnectorKind::Entra(entra) => Box::new(EntraSource::new(&config.name, (**entra).clone())),
        ConnectorKind::Okta(okta) => Box::new(OktaSource::new(&config.name, (**okta).clone())),
        ConnectorKind::Google(google) => Box::new(GoogleSource::new(&config.name, (**google).clone())),
    };
    Connector {
        config: config.clone(),
        source,
    }
}
