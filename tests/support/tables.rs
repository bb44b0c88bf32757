//! The application's tables as a test reads them: plain diesel connections established
//! directly (a SQLite file or a PostgreSQL URL), never the store's own types.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use idsync::store::DatabaseUrl;

/// Runs `$body` with `$c` bound to the concrete connection of a [`Tables`], so a query is
/// written once for both backends: `with_tables!(tables, c => users::table.count().get_result(c))`.
#[macro_export]
macro_rules! with_tables {
    ($tables:expr, $c:ident => $body:expr) => {
        match $tables {
            $crate::support::tables::Tables::Sqlite($c) => $body,
            $crate::support::tables::Tables::Postgres($c) => $body,
        }
    };
}

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
        Tables::connect(&DatabaseUrl::parse(url).unwrap())
    }

    /// A connection to `url`; SQLite waits for the application's writers rather than failing.
    pub fn connect(url: &DatabaseUrl) -> Tables {
        match url {
            DatabaseUrl::Sqlite(path) => {
                let mut c = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
                c.batch_execute("PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;")
                    .unwrap();
                Tables::Sqlite(c)
            }
            DatabaseUrl::Postgres(u) => Tables::Postgres(PgConnection::establish(u).unwrap()),
            DatabaseUrl::SqliteMemory => panic!("an in-memory database has no tables to read"),
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

    /// Every row of every table, as text, one line per row prefixed with its table: what a
    /// test scans for a value that must be stored nowhere.
    pub fn every_row(&mut self) -> Vec<String> {
        let mut rows = Vec::new();
        let postgres = matches!(self, Tables::Postgres(_));
        let tables = if postgres {
            self.lines("SELECT table_name::text AS line FROM information_schema.tables WHERE table_schema = 'public'")
        } else {
            self.lines("SELECT name AS line FROM sqlite_master WHERE type = 'table'")
        };
        for table in tables {
            let select = if postgres {
                format!("SELECT t::text AS line FROM \"{table}\" t")
            } else {
                let columns = self.lines(&format!("SELECT name AS line FROM pragma_table_info('{table}')"));
                let row: Vec<String> = columns
                    .iter()
                    .map(|c| format!("coalesce(CAST(\"{c}\" AS TEXT), '')"))
                    .collect();
                format!("SELECT {} AS line FROM \"{table}\"", row.join(" || '|' || "))
            };
            rows.extend(self.lines(&select).into_iter().map(|r| format!("{table}: {r}")));
        }
        rows
    }
}
