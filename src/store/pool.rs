//! The [`Store`]: the one way into the database. It owns a connection pool (r2d2) for either
//! backend and runs the blocking diesel work on tokio's blocking pool, so every caller (runs,
//! the supervisor, the daemon, the commands, the SCIM endpoint) shares connections instead of
//! opening its own, and nobody outside `src/store` holds a URL or a connection.

use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection};

use super::{DatabaseUrl, Db, StoreError};
use crate::tenant::TenantId;

/// How long a caller waits for a pooled connection when all are busy.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// How a store's pool is shaped.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Connections at most (a SQLite memory database always has exactly one).
    pub pool_size: u32,
    /// SQLite only: the connections do not checkpoint the write-ahead log on commit; the
    /// owner calls [`Store::checkpoint`] on a timer instead (the SCIM endpoint does, so no
    /// request stalls on a checkpoint).
    pub manual_checkpoints: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 8,
            manual_checkpoints: false,
        }
    }
}

/// A handle on the application database: cheap to clone, shared by every layer.
///
/// A store is bound to one tenant ([`Store::tenant`]; `default` unless
/// [`Store::for_tenant`] says otherwise): every tenant-scoped query filters by it and every
/// insert writes it, so code holding a store sees one tenant's data and nothing else.
/// Whole-database operations (migrating, pinging, checkpointing, the tenant table itself, a
/// run by its global id) say so in their docs.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    tenant: TenantId,
    /// The process's id that runs started through this store record (`runs.worker`).
    worker: Option<Arc<str>>,
}

struct Inner {
    url: DatabaseUrl,
    pool: Pool<Manager>,
    /// A dry run on an existing database: every unit of work first checks that no migration
    /// is waiting (a dry run never changes the schema).
    dry_run: bool,
    /// Bumped after every commit that may have written changes, so waits on the change feed
    /// (the events API, webhook delivery) wake at once instead of on their next poll.
    applied: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.inner.url.redacted())
            .field("dry_run", &self.inner.dry_run)
            .field("tenant", &self.tenant.as_str())
            .finish()
    }
}

/// Opens [`Db`] connections for the pool.
#[derive(Debug)]
struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = Db;
    type Error = StoreError;

    fn connect(&self) -> Result<Db, StoreError> {
        Db::open(&self.url)
    }

    fn is_valid(&self, db: &mut Db) -> Result<(), StoreError> {
        db.ping()
    }

    fn has_broken(&self, db: &mut Db) -> bool {
        std::thread::panicking() || db.is_broken()
    }
}

/// Turns SQLite's automatic checkpoints off on each new connection ([`StoreOptions`]).
#[derive(Debug)]
struct ManualCheckpoints;

impl CustomizeConnection<Db, StoreError> for ManualCheckpoints {
    fn on_acquire(&self, db: &mut Db) -> Result<(), StoreError> {
        db.sqlite_pragma("PRAGMA wal_autocheckpoint = 0;")
    }
}

impl Store {
    /// A store on `url` with the default pool. No connection is made until the first use,
    /// so opening a store never creates a SQLite file by itself.
    pub fn open(url: &DatabaseUrl) -> Store {
        Store::with_options(url, StoreOptions::default())
    }

    pub fn with_options(url: &DatabaseUrl, options: StoreOptions) -> Store {
        Store::build(url, options, false)
    }

    /// A store for a dry run, which never creates or migrates anything: against a SQLite file
    /// that does not exist yet it plans against an empty in-memory database; on an existing
    /// database, any work fails while migrations are waiting.
    pub async fn for_dry_run(url: &DatabaseUrl) -> Result<Store, StoreError> {
        if url.is_missing_file() {
            let store = Store::open(&DatabaseUrl::SqliteMemory);
            store.migrate().await?;
            return Ok(store);
        }
        Ok(Store::build(url, StoreOptions::default(), true))
    }

    fn build(url: &DatabaseUrl, options: StoreOptions, dry_run: bool) -> Store {
        let memory = matches!(url, DatabaseUrl::SqliteMemory);
        let manager = Manager { url: url.clone() };
        let builder = Pool::builder()
            .connection_timeout(CHECKOUT_TIMEOUT)
            .min_idle(Some(0))
            // A SQLite connection does not go stale; a PostgreSQL one may (server restart).
            .test_on_check_out(matches!(url, DatabaseUrl::Postgres(_)));
        let builder = if memory {
            // Each in-memory connection is a database of its own: exactly one, kept forever.
            builder.max_size(1).idle_timeout(None).max_lifetime(None)
        } else {
            builder.max_size(options.pool_size.max(1))
        };
        let builder = if options.manual_checkpoints && matches!(url, DatabaseUrl::Sqlite(_)) {
            builder.connection_customizer(Box::new(ManualCheckpoints))
        } else {
            builder
        };
        Store {
            inner: Arc::new(Inner {
                url: url.clone(),
                pool: builder.build_unchecked(manager),
                dry_run,
                applied: tokio::sync::watch::Sender::new(0),
            }),
            tenant: TenantId::default_tenant(),
            worker: None,
        }
    }

    /// The same database and pool, bound to `tenant`.
    pub fn for_tenant(&self, tenant: TenantId) -> Store {
        Store {
            inner: Arc::clone(&self.inner),
            tenant,
            worker: self.worker.clone(),
        }
    }

    /// The same store, whose runs record `worker` as the process that ran them.
    pub fn with_worker(&self, worker: &str) -> Store {
        Store {
            worker: Some(Arc::from(worker)),
            ..self.clone()
        }
    }

    /// The worker id runs started through this store record.
    pub(crate) fn worker(&self) -> Option<&str> {
        self.worker.as_deref()
    }

    /// Whether the database is PostgreSQL, where any number of processes share the schedules.
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner.url, DatabaseUrl::Postgres(_))
    }

    /// Tells the waits on the change feed that a write committed (any tenant's).
    pub(crate) fn notify_changes(&self) {
        self.inner.applied.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every [`Self::notify_changes`] after this call.
    pub(crate) fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.applied.subscribe()
    }

    /// The tenant this store reads and writes.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The database's URL with any password hidden, for messages.
    pub fn redacted_url(&self) -> String {
        self.inner.url.redacted()
    }

    /// True for PostgreSQL, whose writers may run side by side (SQLite takes one at a time).
    pub fn allows_concurrent_writes(&self) -> bool {
        matches!(self.inner.url, DatabaseUrl::Postgres(_))
    }

    /// True for a SQLite file database (the one with a write-ahead log to checkpoint).
    pub fn is_sqlite_file(&self) -> bool {
        matches!(self.inner.url, DatabaseUrl::Sqlite(_))
    }

    /// Applies the embedded migrations that have not run yet; returns their names. Whole
    /// database.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.unit(Db::migrate).await
    }

    /// True when migrations are waiting.
    pub async fn has_pending_migrations(&self) -> Result<bool, StoreError> {
        self.unit(Db::has_pending_migrations).await
    }

    /// A cheap round trip, for health checks. Whole database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.unit(Db::ping).await
    }

    /// Checkpoints SQLite's write-ahead log without waiting on readers or writers. Whole
    /// database.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.unit(|db| db.sqlite_pragma("PRAGMA wal_checkpoint(PASSIVE);"))
            .await
    }

    /// Runs `work` on one pooled connection on tokio's blocking pool. Every typed method of
    /// the store goes through here; `work` is one unit (its own transactions inside).
    pub(crate) async fn unit<T, E>(
        &self,
        work: impl FnOnce(&mut Db) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut db = store.checkout()?;
            work(&mut db)
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string()).into()))
    }

    /// Like [`Self::unit`], with the store's tenant handed to `work`: the way in for every
    /// tenant-scoped query.
    pub(crate) async fn scoped<T, E>(
        &self,
        work: impl FnOnce(&mut Db, &str) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let tenant = self.tenant.clone();
        self.unit(move |db| work(db, tenant.as_str())).await
    }

    /// A pooled connection (blocking). An unreachable database fails at once with the
    /// driver's error, as a direct connection would, instead of after the checkout timeout.
    fn checkout(&self) -> Result<PooledConnection<Manager>, StoreError> {
        let inner = &self.inner;
        let mut db = match inner.pool.try_get() {
            Some(db) => db,
            None => {
                let memory = matches!(inner.url, DatabaseUrl::SqliteMemory);
                if !memory && inner.pool.state().connections == 0 {
                    // Nothing is open yet: probe, so a bad URL reports the real cause now.
                    drop(Db::open(&inner.url)?);
                }
                inner.pool.get().map_err(|e| StoreError::Unavailable {
                    url: inner.url.redacted(),
                    detail: e.to_string(),
                })?
            }
        };
        if inner.dry_run && db.has_pending_migrations()? {
            return Err(StoreError::NeedsMigration {
                url: inner.url.redacted(),
            });
        }
        Ok(db)
    }
}
