//! Table-driven tests for the filter and path parsers and the evaluator, with helpers that render trees.

mod eval;
mod parse;
mod path;
mod robustness;
mod roundtrip;

use super::{AttrPath, Filter, PatchPath};

/// A parse result as one line: the canonical form, or `error: <message>`.
fn outcome<T: std::fmt::Display, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(value) => value.to_string(),
        Err(error) => format!("error: {error}"),
    }
}

/// An S-expression of the tree, spelling out what the canonical form leaves implicit: how
/// an attribute path was split (`<uri>attr.sub`) and the exact nesting of every operator.
fn tree(filter: &Filter) -> String {
    match filter {
        Filter::Compare { path, op, value } => format!("({op} {} {value})", path_tree(path)),
        Filter::Present(path) => format!("(pr {})", path_tree(path)),
        Filter::And(l, r) => format!("(and {} {})", tree(l), tree(r)),
        Filter::Or(l, r) => format!("(or {} {})", tree(l), tree(r)),
        Filter::Not(inner) => format!("(not {})", tree(inner)),
        Filter::ValuePath { attr, filter } => format!("(some {} {})", path_tree(attr), tree(filter)),
    }
}

fn path_tree(path: &AttrPath) -> String {
    let uri = path.uri.as_deref().map(|u| format!("<{u}>")).unwrap_or_default();
    let sub = path
        .sub_attr
        .as_deref()
        .map(|s| format!(".{s}"))
        .unwrap_or_default();
    format!("{uri}{}{sub}", path.attr)
}

fn patch_path_tree(path: &PatchPath) -> String {
    let filter = path
        .value_filter
        .as_ref()
        .map(|f| format!(" [{}]", tree(f)))
        .unwrap_or_default();
    let sub = path
        .sub_attr
        .as_deref()
        .map(|s| format!(" .{s}"))
        .unwrap_or_default();
    format!("{}{filter}{sub}", path_tree(&path.attr))
}

/// Runs a table and reports every failing row at once, so one run shows all the drift.
fn check_rows(rows: &[(String, String, String)]) {
    let failures: Vec<String> = rows
        .iter()
        .filter(|(_, expected, actual)| expected != actual)
        .map(|(input, expected, actual)| {
            format!("input:    {input}\nexpected: {expected}\nactual:   {actual}\n")
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
