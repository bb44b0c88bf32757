//! Opening the application database (SQLite or PostgreSQL, by URL) and migrating it.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::StoreError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The PostgreSQL advisory lock key that serializes migrations ("idsync" in ASCII).
const MIGRATION_LOCK: i64 = 0x6964_7379_6e63;

/// Where the database is, parsed from `[database] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://path` (relative to the working directory) or `sqlite:///absolute/path`.
    Sqlite(PathBuf),
    /// `sqlite::memory:`, for tests and dry runs against nothing.
    SqliteMemory,
    /// `postgres://...` or `postgresql://...`, handed to libpq as is.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url == "sqlite::memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://idsync.db".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        Err("expected sqlite://PATH, sqlite::memory: or postgres://...".into())
    }

    /// The URL with any password replaced, for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::SqliteMemory => "sqlite::memory:".into(),
            DatabaseUrl::Postgres(url) => redact_password(url),
        }
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// One connection to the application database.
pub enum Db {
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
/// compiled for each backend with all of diesel's features.
#[macro_export]
macro_rules! with_conn {
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
    pub fn open(url: &DatabaseUrl) -> Result<Db, StoreError> {
        let fail = |e: diesel::ConnectionError| StoreError::Connect(url.redacted(), e.to_string());
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
            Db::Sqlite(c) => match c.run_pending_migrations(SQLITE_MIGRATIONS) {
                Ok(applied) => Ok(applied.iter().map(ToString::to_string).collect()),
                Err(e) => match c.has_pending_migration(SQLITE_MIGRATIONS) {
                    Ok(false) => Ok(Vec::new()),
                    _ => Err(e),
                },
            },
            Db::Postgres(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let applied = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|a| a.iter().map(ToString::to_string).collect());
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                applied
            }
        };
        applied.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// True when migrations are waiting (a dry run refuses to change the schema).
    pub fn has_pending_migrations(&mut self) -> Result<bool, StoreError> {
        match self {
            Db::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
            Db::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        }
        .map_err(|e| StoreError::Migration(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_hides_passwords() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://idsync.db"),
            Ok(DatabaseUrl::Sqlite("idsync.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/x.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/x.db".into()))
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        let pg = DatabaseUrl::parse("postgres://idsync:hunter2@db:5432/app").unwrap();
        assert_eq!(pg.redacted(), "postgres://idsync:***@db:5432/app");
        assert!(!pg.redacted().contains("hunter2"));
    }
}
