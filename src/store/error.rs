//! The store's one error type, classified by what the caller should do with it.

use thiserror::Error;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached: fix the URL or the server, or retry later.
    #[error("cannot connect to {url}: {detail}")]
    Unavailable { url: String, detail: String },
    /// The schema could not be brought up to date: an operator must look.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// A dry run found migrations waiting; it never changes the schema.
    #[error("{url} needs migrations; a dry run does not change it (run `idsync migrate`)")]
    NeedsMigration { url: String },
    /// A statement failed and its transaction rolled back: this run fails, the next may not.
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    /// The database answered something the store cannot use (a bug or a hand-edited row).
    #[error("unexpected data in the database: {0}")]
    BadData(String),
    /// A value could not be encoded for storage.
    #[error("cannot encode for the database: {0}")]
    Encode(#[from] serde_json::Error),
    /// The blocking task that ran the work panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// True when a unique index refused the write (someone else holds the value).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// True when a concurrent transaction made this one fail and running it again may
    /// succeed: a unique value taken meanwhile, a serialization failure, or a deadlock
    /// (PostgreSQL's SQLSTATE 40P01, which diesel does not classify; its message is stable,
    /// <https://www.postgresql.org/docs/current/errcodes-appendix.html>).
    pub fn is_race(&self) -> bool {
        use diesel::result::DatabaseErrorKind as Kind;
        match self {
            StoreError::Query(diesel::result::Error::DatabaseError(kind, info)) => {
                matches!(kind, Kind::UniqueViolation | Kind::SerializationFailure)
                    || info.message().starts_with("deadlock detected")
            }
            _ => false,
        }
    }
}
