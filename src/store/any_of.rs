//! `column IN (values)` as one statement that is prepared once and then reused, whatever the
//! number of values.
//!
//! Diesel's `eq_any` renders one placeholder per value on SQLite, and so marks its statement
//! as not cacheable (`AstPass::unsafe_to_cache_prepared`): every targeted load, and so every
//! SCIM write, prepared its lookups afresh. Here SQLite gets the values as one JSON array,
//! `column IN (SELECT value FROM json_each(?))` (<https://sqlite.org/json1.html#jeach>), and
//! PostgreSQL one array, `column = ANY($1)`, which is what diesel renders there too.

use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, Bool, HasSqlType, Text};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

/// `column` is one of `values`: see the module.
#[derive(Debug, Clone)]
pub struct AnyOf<'a, C, T> {
    column: C,
    values: &'a [T],
    /// The values as a JSON array, SQLite's one parameter.
    json: String,
}

/// `column IN values`, prepared once per shape on both backends.
pub fn any_of<C, T: serde::Serialize>(column: C, values: &[T]) -> AnyOf<'_, C, T> {
    // Integers and strings always serialize; an empty array matches nothing.
    let json = serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned());
    AnyOf { column, values, json }
}

impl<C: Expression, T> Expression for AnyOf<'_, C, T> {
    type SqlType = Bool;
}

impl<C, T, QS> AppearsOnTable<QS> for AnyOf<'_, C, T>
where
    C: AppearsOnTable<QS>,
    Self: Expression,
{
}

impl<C, T, QS> SelectableExpression<QS> for AnyOf<'_, C, T>
where
    C: SelectableExpression<QS>,
    Self: AppearsOnTable<QS>,
{
}

impl<C: ValidGrouping<()>, T> ValidGrouping<()> for AnyOf<'_, C, T> {
    type IsAggregate = C::IsAggregate;
}

impl<C, T> QueryId for AnyOf<'_, C, T> {
    type QueryId = ();
    // Cached by its SQL text, which does not depend on the values.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C: QueryFragment<Sqlite>, T> QueryFragment<Sqlite> for AnyOf<'_, C, T> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, String>(&self.json)?;
        out.push_sql("))");
        Ok(())
    }
}

impl<C, T> QueryFragment<Pg> for AnyOf<'_, C, T>
where
    C: QueryFragment<Pg> + Expression,
    C::SqlType: 'static,
    Pg: HasSqlType<C::SqlType>,
    [T]: ToSql<Array<C::SqlType>, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<C::SqlType>, [T]>(self.values)?;
        out.push_sql(")");
        Ok(())
    }
}
