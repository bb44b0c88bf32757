//! One connection to the application database (SQLite or PostgreSQL, by URL): opening it with
//! the pragmas every connection needs, and migrating. The pool in `pool.rs` hands these out;
//! the query modules take `&mut Db` and are written once for both backends via `with_conn!`.

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DatabaseUrl, StoreError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The PostgreSQL advisory lock key that serializes migrations ("idsync" in ASCII).
const MIGRATION_LOCK: i64 = 0x6964_7379_6e63;

/// One connection to the application database.
pub(crate) enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Db::Sqlite(_) => "Db::Sqlite",
            Db::Postgres(_) => "Db::Postgres",
        })
    }
}

/// Runs `$body` with `$c` bound to the concrete connection, so store code is written once and
/// compiled for each backend with all of diesel's features. The closure-like form,
/// `with_conn!(db, |c| query.execute(c))`, is the one to use: rustfmt formats it.
#[macro_export]
macro_rules! with_conn {
    ($db:expr, |$c:ident| $body:expr) => {
        $crate::with_conn!($db, $c => $body)
    };
    ($db:expr, $c:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($c) => $body,
            $crate::store::Db::Postgres($c) => $body,
        }
    };
}

impl Db {
    /// Opens a connection. SQLite gets WAL (readers do not block the sync), foreign keys and a
    /// busy timeout so a daemon and a `resync` can share the file; the timeout comes first, as
    /// switching the journal mode needs a lock a writer may be holding.
    pub(crate) fn open(url: &DatabaseUrl) -> Result<Db, StoreError> {
        let fail = |e: diesel::ConnectionError| StoreError::Unavailable {
            url: url.redacted(),
            detail: e.to_string(),
        };
        match url {
            DatabaseUrl::Sqlite(path) => {
                let mut c = SqliteConnection::establish(&path.to_string_lossy()).map_err(fail)?;
                c.batch_execute(
                    "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )?;
                Ok(Db::Sqlite(c))
            }
            DatabaseUrl::SqliteMemory => {
                let mut c = SqliteConnection::establish(":memory:").map_err(fail)?;
                c.batch_execute("PRAGMA foreign_keys = ON;")?;
                Ok(Db::Sqlite(c))
            }
            DatabaseUrl::Postgres(u) => Ok(Db::Postgres(PgConnection::establish(u).map_err(fail)?)),
        }
    }

    /// Applies the embedded migrations that have not run yet; returns their names.
    ///
    /// Several processes may start at once on one database: on PostgreSQL they take turns
    /// behind an advisory lock; on SQLite the loser of the race finds nothing left to do.
    pub fn migrate(&mut self) -> Result<Vec<String>, StoreError> {
        let applied = match self {
            Db::Sqlite(c) => {
                // SQLite adds a column with a REFERENCES clause and a default, and drops a
                // table it rebuilds, only while foreign keys are not enforced (its documented
                // procedure for schema changes); each migration still runs in a transaction.
                c.batch_execute("PRAGMA foreign_keys = OFF;")?;
                let applied = match c.run_pending_migrations(SQLITE_MIGRATIONS) {
                    Ok(applied) => Ok(applied.iter().map(ToString::to_string).collect()),
                    Err(e) => match c.has_pending_migration(SQLITE_MIGRATIONS) {
                        Ok(false) => Ok(Vec::new()),
                        _ => Err(e),
                    },
                };
                c.batch_execute("PRAGMA foreign_keys = ON;")?;
                applied
            }
            Db::Postgres(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let applied = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|a| a.iter().map(ToString::to_string).collect());
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                applied
            }
        };
        let applied = applied.map_err(|e| StoreError::Migration(e.to_string()))?;
        // The comparison keys are computed in Rust, so rows from before their columns get them
        // here (see `keys.rs`).
        super::keys::fill_missing(self)?;
        Ok(applied)
    }

    /// True when migrations are waiting (a dry run refuses to change the schema).
    pub fn has_pending_migrations(&mut self) -> Result<bool, StoreError> {
        match self {
            Db::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
            Db::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        }
        .map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Runs `work` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    /// Unlike diesel's `transaction`, `work` gets the [`Db`], so the query functions it calls
    /// stay ordinary functions over one connection. Inside [`Self::write_transaction`] (or
    /// another transaction) it is a savepoint: its rollback undoes only its own work.
    ///
    /// Every caller writes, so an outermost transaction on SQLite is `BEGIN IMMEDIATE`, as in
    /// [`Self::write_transaction`]: a deferred one that read first could not take the write
    /// lock after another connection's commit (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout
    /// waits out), and the worker's claims commit every few seconds.
    pub(crate) fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Db::Sqlite(c) => {
                if outermost(c) {
                    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
                } else {
                    AnsiTransactionManager::begin_transaction(c)
                }
            }
            Db::Postgres(c) => AnsiTransactionManager::begin_transaction(c),
        }?;
        self.finish(work)
    }

    /// Runs `work` as one outer transaction that takes the write lock at once: `BEGIN
    /// IMMEDIATE` on SQLite (waiting up to the busy timeout for a running writer), so a
    /// concurrent writer cannot fail the unit with "database is locked" after its reads; a
    /// plain `BEGIN` on PostgreSQL, whose row locks wait by themselves. Everything `work`
    /// writes, nested transactions included, commits together or not at all: any `Err`
    /// (of the store or of the caller) rolls it all back.
    pub fn write_transaction<T, E: From<StoreError>>(
        &mut self,
        work: impl FnOnce(&mut Db) -> Result<T, E>,
    ) -> Result<T, E> {
        match self {
            Db::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
            Db::Postgres(c) => AnsiTransactionManager::begin_transaction(c),
        }
        .map_err(|e| E::from(StoreError::from(e)))?;
        self.finish(work)
    }

    /// Runs `work` in the transaction just begun, then commits it or rolls it back.
    fn finish<T, E: From<StoreError>>(&mut self, work: impl FnOnce(&mut Db) -> Result<T, E>) -> Result<T, E> {
        match work(self) {
            Ok(value) => {
                with_conn!(self, |c| AnsiTransactionManager::commit_transaction(c))
                    .map_err(|e| E::from(StoreError::from(e)))?;
                Ok(value)
            }
            Err(e) => {
                // The rollback's own failure leaves the connection broken; the pool drops it.
                let _ = with_conn!(self, |c| AnsiTransactionManager::rollback_transaction(c));
                Err(e)
            }
        }
    }

    /// True when the connection must not be reused (a transaction left open or failed).
    pub(crate) fn is_broken(&mut self) -> bool {
        with_conn!(self, |c| diesel::r2d2::R2D2Connection::is_broken(c))
    }

    /// A cheap round trip: is the connection still good?
    pub fn ping(&mut self) -> Result<(), StoreError> {
        with_conn!(self, |c| c.batch_execute("SELECT 1"))?;
        Ok(())
    }

    /// Runs raw SQLite pragmas; a no-op on PostgreSQL.
    pub(crate) fn sqlite_pragma(&mut self, sql: &str) -> Result<(), StoreError> {
        if let Db::Sqlite(c) = self {
            c.batch_execute(sql)?;
        }
        Ok(())
    }
}

/// Whether no transaction is open on `c`.
fn outermost(c: &mut SqliteConnection) -> bool {
    matches!(
        AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth(),
        Ok(None)
    )
}
