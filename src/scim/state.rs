//! What the SCIM handlers share: the connection pool with its `read`/`write` closures, the
//! token cache, and the limits from `[scim]`.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use super::error::ScimError;
use crate::config::{ScimConfig, ScimDelete};
use crate::store::{self, DatabaseUrl, Db};

/// How long a token check trusts the digest it read (a rotation takes effect within this).
const TOKEN_CACHE: Duration = Duration::from_secs(1);

/// The state every handler and middleware of the endpoint holds: cheap to clone, one per
/// server.
#[derive(Clone)]
pub struct ScimState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The database the pool opens its connections to.
    url: DatabaseUrl,
    /// Connections returned after use, reused by the next request.
    idle: Mutex<Vec<Db>>,
    /// At most this many connections stay open (and in use at once).
    pool_size: usize,
    /// At most `pool_size` requests use the database at once; the others wait for a
    /// connection instead of opening (and dropping) one of their own.
    permits: tokio::sync::Semaphore,
    /// Writes are serialised: each is a short load-plan-apply, and SQLite takes one writer.
    /// A fair (FIFO) lock, so no write waits behind a stream of later ones.
    write: tokio::sync::Mutex<()>,
    /// The stored token digest and when it was read, so authentication does not query the
    /// database on every request.
    token: Mutex<Option<(Instant, Option<String>)>>,
    /// Requests with a larger body get 413.
    max_body_bytes: usize,
    /// The largest page a list answers.
    max_results: usize,
    /// What DELETE does to a user.
    delete: ScimDelete,
    /// `[scim] public_url` without a trailing slash: the base of every `Location`.
    public_url: Option<String>,
    /// The peers whose `X-Forwarded-*` headers are believed.
    trusted_proxies: Vec<IpAddr>,
}

impl std::fmt::Debug for ScimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimState")
            .field("url", &self.inner.url.redacted())
            .finish()
    }
}

impl ScimState {
    pub fn new(url: DatabaseUrl, config: &ScimConfig) -> Self {
        ScimState {
            inner: Arc::new(Inner {
                url,
                idle: Mutex::new(Vec::new()),
                pool_size: config.pool_size.max(1),
                permits: tokio::sync::Semaphore::new(config.pool_size.max(1)),
                write: tokio::sync::Mutex::new(()),
                token: Mutex::new(None),
                max_body_bytes: config.max_body_bytes,
                max_results: config.max_results.max(1),
                delete: config.delete,
                public_url: config
                    .public_url
                    .as_ref()
                    .map(|u| u.trim_end_matches('/').to_owned()),
                trusted_proxies: config.trusted_proxies.clone(),
            }),
        }
    }

    pub fn max_results(&self) -> usize {
        self.inner.max_results
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    pub fn delete_mode(&self) -> ScimDelete {
        self.inner.delete
    }

    pub fn public_url(&self) -> Option<&str> {
        self.inner.public_url.as_deref()
    }

    /// Whether `peer` is one of `[scim] trusted_proxies`.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.inner.trusted_proxies.contains(&peer)
    }

    /// Runs `f` on a pooled connection on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| ScimError::internal("the connection pool is closed"))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut db = match inner.idle.lock().ok().and_then(|mut idle| idle.pop()) {
                Some(db) => db,
                None => open(&inner.url)?,
            };
            let out = f(&mut db);
            if let Ok(mut idle) = inner.idle.lock() {
                if idle.len() < inner.pool_size {
                    idle.push(db);
                }
            }
            out
        })
        .await
        .map_err(|e| ScimError::internal(format!("request task failed: {e}")))?
    }

    /// Like [`Self::read`], holding the write lock: load, plan and apply see no other write.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        let _guard = self.inner.write.lock().await;
        self.read(f).await
    }

    /// Checkpoints SQLite's write-ahead log every 100 ms, off the request path (the pool's
    /// connections do not checkpoint on commit, which would stall the request that happens
    /// to cross the threshold). Often and small: at 2,000 writes a second, a checkpoint per
    /// second copied tens of megabytes at once and pushed POST p99 from ~15 ms to ~25 ms.
    /// Returns at once for PostgreSQL.
    pub async fn checkpoint_loop(self) {
        if !matches!(self.inner.url, DatabaseUrl::Sqlite(_)) {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let done = self
                .read(|db| {
                    if let Db::Sqlite(c) = db {
                        diesel::connection::SimpleConnection::batch_execute(
                            c,
                            "PRAGMA wal_checkpoint(PASSIVE);",
                        )
                        .map_err(|e| ScimError::internal(e.to_string()))?;
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = done {
                warn!(detail = %e.detail, "SQLite checkpoint failed");
            }
        }
    }

    /// The stored token digest, read at most once per [`TOKEN_CACHE`].
    pub(super) async fn token_digest(&self) -> Result<Option<String>, ScimError> {
        if let Ok(cache) = self.inner.token.lock() {
            if let Some((at, digest)) = cache.as_ref() {
                if at.elapsed() < TOKEN_CACHE {
                    return Ok(digest.clone());
                }
            }
        }
        let digest = self.read(|db| Ok(store::scim::token_digest(db)?)).await?;
        if let Ok(mut cache) = self.inner.token.lock() {
            *cache = Some((Instant::now(), digest.clone()));
        }
        Ok(digest)
    }
}

/// A pooled connection: SQLite leaves checkpoints to [`ScimState::checkpoint_loop`].
fn open(url: &DatabaseUrl) -> Result<Db, ScimError> {
    let mut db = Db::open(url)?;
    if let Db::Sqlite(c) = &mut db {
        if matches!(url, DatabaseUrl::Sqlite(_)) {
            diesel::connection::SimpleConnection::batch_execute(c, "PRAGMA wal_autocheckpoint = 0;")
                .map_err(|e| ScimError::internal(e.to_string()))?;
        }
    }
    Ok(db)
}
