//! Where the database is: `[database] url` parsed into SQLite (file or memory) or PostgreSQL.

use std::path::PathBuf;

use thiserror::Error;

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

/// A `[database] url` that names no database idsync can use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    #[error("sqlite:// needs a file path, e.g. sqlite://idsync.db")]
    MissingPath,
    #[error("expected sqlite://PATH, sqlite::memory: or postgres://...")]
    UnknownScheme,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        if url == "sqlite::memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(UrlError::MissingPath);
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        Err(UrlError::UnknownScheme)
    }

    /// The URL with any password replaced, for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::SqliteMemory => "sqlite::memory:".into(),
            DatabaseUrl::Postgres(url) => redact_password(url),
        }
    }

    /// A SQLite file that does not exist yet (opening it would create it).
    pub fn is_missing_file(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(path) if !path.exists())
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
