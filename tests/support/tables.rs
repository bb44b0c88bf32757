//! The application's tables as a test reads them: plain diesel connections established
//! directly (a SQLite file or a PostgreSQL URL), never the store's own types.

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};

/// One connection to the database behind a `[database] url`.
pub enum Tables {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Tables {
    /// `sqlite://PATH` or `postgres://...`, as in the configuration.
    pub fn open(url: &str) -> Tables {
        match url.strip_prefix("sqlite://") {
            Some(path) => Tables::Sqlite(SqliteConnection::establish(path).unwrap()),
            None => Tables::Postgres(PgConnection::establish(url).unwrap()),
        }
    }

    /// Runs a statement; the rows it changed.
    pub fn execute(&mut self, sql: &str) -> usize {
        match self {
            Tables::Sqlite(c) => diesel::sql_query(sql).execute(c),
            Tables::Postgres(c) => diesel::sql_query(sql).execute(c),
        }
        .unwrap()
    }

    /// A query's one text column, named `line`, one string per row.
    pub fn lines(&mut self, sql: &str) -> Vec<String> {
        let rows: Vec<Line> = match self {
            Tables::Sqlite(c) => diesel::sql_query(sql).load(c),
            Tables::Postgres(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap();
        rows.into_iter().map(|l| l.line).collect()
    }

    /// A query's one integer column, named `n`, from its one row.
    pub fn count(&mut self, sql: &str) -> i64 {
        let rows: Vec<Count> = match self {
            Tables::Sqlite(c) => diesel::sql_query(sql).load(c),
            Tables::Postgres(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap();
        rows.first().map_or(0, |r| r.n)
    }
}
