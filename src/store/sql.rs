//! SQL functions the queries share, defined once for both backends.

use diesel::sql_types::{Nullable, Text};

diesel::define_sql_function! {
    /// SQL `lower()`; SQLite folds ASCII only: comparisons use the key columns, and this only
    /// serves rows that have no key yet.
    fn lower(x: Text) -> Text;
}

diesel::define_sql_function! {
    /// SQL `lower()` of a nullable column.
    #[sql_name = "lower"]
    fn lower_nullable(x: Nullable<Text>) -> Nullable<Text>;
}
