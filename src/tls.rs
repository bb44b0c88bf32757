//! TLS for a listener (the SCIM endpoint's `tls_cert_path` and `tls_key_path`), with rustls:
//! TLS 1.2 and 1.3 (Entra requires 1.2 or later: Microsoft Learn, "Tutorial: Develop and
//! plan provisioning for a SCIM endpoint"), the certificate chain and key read from PEM
//! files, and read again on SIGHUP or when either file changes, so a renewed certificate
//! takes effect without a restart. A connection that does not start with a TLS handshake
//! (plain HTTP) is closed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

/// How often the files' modification times are compared.
const POLL: Duration = Duration::from_secs(5);

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate chain {path}: {detail}")]
    Certificate { path: String, detail: String },
    #[error("cannot read the TLS private key {path}: {detail}")]
    Key { path: String, detail: String },
    #[error("the TLS certificate {cert} and key {key} do not make a server configuration: {detail}")]
    Config {
        cert: String,
        key: String,
        detail: String,
    },
}

/// The certificate and key files of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// A server configuration from the files as they are now.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let cert_path = self.cert.display().to_string();
        let key_path = self.key.display().to_string();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| TlsError::Certificate {
                path: cert_path.clone(),
                detail: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::Certificate {
                path: cert_path,
                detail: "no CERTIFICATE block in the file".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| TlsError::Key {
            path: key_path.clone(),
            detail: e.to_string(),
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| TlsError::Config {
                cert: cert_path,
                key: key_path,
                detail: e.to_string(),
            })?;
        Ok(Arc::new(config))
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let at = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((at(&self.cert)?, at(&self.key)?))
    }
}

/// The acceptor in effect: replaced whole when the files are read again.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    current: Arc<RwLock<TlsAcceptor>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish()
    }
}

impl Tls {
    /// Reads the files; an error here stops the start-up.
    pub fn new(files: TlsFiles) -> Result<Tls, TlsError> {
        let config = files.load()?;
        Ok(Tls {
            files,
            current: Arc::new(RwLock::new(TlsAcceptor::from(config))),
        })
    }

    /// The acceptor for the next connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        match self.current.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again; a bad file keeps the configuration in effect (and says so).
    pub fn reload(&self, why: &str) {
        match self.files.load() {
            Ok(config) => {
                let acceptor = TlsAcceptor::from(config);
                match self.current.write() {
                    Ok(mut a) => *a = acceptor,
                    Err(poisoned) => *poisoned.into_inner() = acceptor,
                }
                info!(cert = %self.files.cert.display(), why, "TLS certificate loaded");
            }
            Err(e) => warn!(error = %e, why, "TLS certificate not reloaded; the previous one stays"),
        }
    }

    /// Reloads on SIGHUP and when a file's modification time changes, until dropped.
    pub async fn watch(self) {
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut seen = self.files.modified();
        let mut tick = tokio::time::interval(POLL);
        loop {
            let hup = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = hup => self.reload("SIGHUP"),
                _ = tick.tick() => {
                    let now = self.files.modified();
                    if now != seen && now.is_some() {
                        seen = now;
                        self.reload("the files changed");
                    }
                }
            }
        }
    }
}
