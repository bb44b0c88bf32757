//! What the SCIM handlers share: the store (whose pool is the endpoint's pool) with the
//! `read`/`write` units of work, the token cache, and the limits from `[scim]`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use super::error::ScimError;
use super::extensions::Extensions;
use crate::config::{ScimConfig, ScimDelete};
use crate::store::{Conn, Store};
use crate::tenant::TenantId;

/// How long a token check trusts the tenant it read for a digest (a rotation or revocation
/// takes effect within this).
const TOKEN_CACHE: Duration = Duration::from_secs(1);
/// Digests remembered at most; beyond this the cache starts over (a client guessing tokens
/// must not grow it without bound).
const TOKEN_CACHE_ENTRIES: usize = 4096;
/// How often a write refused because of a concurrent one is tried in all (PostgreSQL).
const WRITE_ATTEMPTS: u64 = 4;

/// The state every handler and middleware of the endpoint holds: cheap to clone, one per
/// server. A handler receives it bound to the tenant whose token the request presented
/// (see [`Self::for_tenant`]): every unit of work then runs on that tenant's store.
#[derive(Clone)]
pub struct ScimState {
    inner: Arc<Inner>,
    /// The daemon's store bound to the request's tenant (`default` before authentication).
    store: Store,
}

struct Inner {
    /// At most `pool_size` requests use the database at once; the others wait here, off the
    /// blocking threads, and the connectors' runs keep their share of the pool.
    permits: tokio::sync::Semaphore,
    /// Write units in flight at once: one on SQLite, which takes one writer (each unit is a
    /// short load-plan-apply); `[scim] concurrent_writes` on PostgreSQL. A fair (FIFO)
    /// semaphore, so no write waits behind a stream of later ones.
    writers: tokio::sync::Semaphore,
    /// Token digest -> the tenant it belongs to (or none) and when that was read, so
    /// authentication does not query the database on every request.
    tokens: Mutex<HashMap<String, (Instant, Option<TenantId>)>>,
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
    /// `[[scim.extensions]]`.
    extensions: Extensions,
    /// `[scim] allow_access_token_query`.
    allow_access_token_query: bool,
}

impl std::fmt::Debug for ScimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimState").field("store", &self.store).finish()
    }
}

impl ScimState {
    /// The endpoint's state over `store`, opened with manual checkpoints on SQLite (see
    /// [`Self::checkpoint_loop`]).
    pub fn new(store: Store, config: &ScimConfig) -> Self {
        let writers = if store.allows_concurrent_writes() {
            config.concurrent_writes.max(1)
        } else {
            1
        };
        ScimState {
            store,
            inner: Arc::new(Inner {
                permits: tokio::sync::Semaphore::new(config.pool_size.max(1)),
                writers: tokio::sync::Semaphore::new(writers),
                tokens: Mutex::new(HashMap::new()),
                max_body_bytes: config.max_body_bytes,
                max_results: config.max_results.max(1),
                delete: config.delete,
                public_url: config
                    .public_url
                    .as_ref()
                    .map(|u| u.trim_end_matches('/').to_owned()),
                trusted_proxies: config.trusted_proxies.clone(),
                extensions: Extensions::new(config.extensions.clone()),
                allow_access_token_query: config.allow_access_token_query,
            }),
        }
    }

    /// The same endpoint state, its units of work on `tenant`'s data only.
    pub fn for_tenant(&self, tenant: TenantId) -> Self {
        ScimState {
            inner: Arc::clone(&self.inner),
            store: self.store.for_tenant(tenant),
        }
    }

    /// The tenant this state's units of work see.
    pub fn tenant(&self) -> &TenantId {
        self.store.tenant()
    }

    pub fn max_results(&self) -> usize {
        self.inner.max_results
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    pub fn extensions(&self) -> &Extensions {
        &self.inner.extensions
    }

    pub fn allow_access_token_query(&self) -> bool {
        self.inner.allow_access_token_query
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

    /// Runs `f` on one of the store's pooled connections, off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn<'_>) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| ScimError::internal("the connection pool is closed"))?;
        self.store.with_conn(f).await
    }

    /// Like [`Self::read`], as one database transaction: everything `f` reads and writes (an
    /// early link, the load, the plan, the apply and its events) commits together, and an
    /// error anywhere in it, a 400 found late too, rolls all of it back (RFC 7644 section
    /// 3.5.2: a failed PATCH leaves the resource unmodified).
    ///
    /// On SQLite, which takes one writer at a time, writes queue for the write lock first, so
    /// a connector's run cannot make one fail half-way. On PostgreSQL they run side by side,
    /// each in its own transaction: a write locks the resource it changes (so writes to one
    /// resource take turns), and a unit refused because of a concurrent one (a unique value
    /// taken meanwhile, a deadlock) runs again from the start, up to [`WRITE_ATTEMPTS`]
    /// times. Two concurrent adds of one member thus end as one membership, and a second
    /// POST of one `userName` sees the first and answers 409.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Conn<'_>) -> Result<T, ScimError> + Send + Sync + 'static,
    ) -> Result<T, ScimError> {
        let f = Arc::new(f);
        let _turn = self
            .inner
            .writers
            .acquire()
            .await
            .map_err(|_| ScimError::internal("the endpoint is shutting down"))?;
        if !self.store.allows_concurrent_writes() {
            return self.write_once(Arc::clone(&f)).await;
        }
        let mut attempt = 1;
        loop {
            match self.write_once(Arc::clone(&f)).await {
                Err(e) if e.is_race() && attempt < WRITE_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(rand::random_range(1..=5) * attempt)).await;
                }
                done => return done,
            }
        }
    }

    /// One attempt of a write unit, on a pooled connection within the endpoint's share.
    async fn write_once<T: Send + 'static>(
        &self,
        f: Arc<impl Fn(&mut Conn<'_>) -> Result<T, ScimError> + Send + Sync + 'static>,
    ) -> Result<T, ScimError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| ScimError::internal("the connection pool is closed"))?;
        self.store.with_write_transaction(move |db| f(db)).await
    }

    /// Checkpoints SQLite's write-ahead log every 100 ms, off the request path (the pool's
    /// connections do not checkpoint on commit, which would stall the request that happens
    /// to cross the threshold). Often and small: at 2,000 writes a second, a checkpoint per
    /// second copied tens of megabytes at once and pushed POST p99 from ~15 ms to ~25 ms.
    /// Returns at once for PostgreSQL.
    pub async fn checkpoint_loop(self) {
        if !self.store.is_sqlite_file() {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let done = match self.inner.permits.acquire().await {
                Ok(_permit) => self.store.checkpoint().await,
                Err(_) => return,
            };
            if let Err(e) = done {
                warn!(error = %e, "SQLite checkpoint failed");
            }
        }
    }

    /// The tenant whose token has `digest`, read at most once per [`TOKEN_CACHE`]. The
    /// lookup compares digests, never secrets: equality on a SHA-256 of a secret that only
    /// its holder knows reveals nothing by its timing.
    pub(super) async fn tenant_of_token(&self, digest: &str) -> Result<Option<TenantId>, ScimError> {
        if let Ok(cache) = self.inner.tokens.lock() {
            if let Some((at, tenant)) = cache.get(digest) {
                if at.elapsed() < TOKEN_CACHE {
                    return Ok(tenant.clone());
                }
            }
        }
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| ScimError::internal("the connection pool is closed"))?;
        let tenant = self.store.scim_token_tenant(digest).await?;
        if let Ok(mut cache) = self.inner.tokens.lock() {
            if cache.len() >= TOKEN_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(digest.to_owned(), (Instant::now(), tenant.clone()));
        }
        Ok(tenant)
    }
}

/// Handlers take the state as the authentication left it: bound to the request's tenant.
/// A request that passed no authentication (only `/health`) gets the `default` tenant's.
impl axum::extract::FromRequestParts<ScimState> for ScimState {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &ScimState,
    ) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<TenantId>() {
            Some(tenant) => state.for_tenant(tenant.clone()),
            None => state.clone(),
        })
    }
}
