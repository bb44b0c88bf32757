//! Recognises filters simple enough for a database layer to turn into a plain `WHERE a = ? AND b = ?`.

use super::ast::{AttrPath, CompValue, CompareOp, Filter};

impl Filter {
    /// The comparisons of a filter that is only an `and` of comparisons on single-valued
    /// attributes, such as Entra's `userName eq "x"` or Okta's `displayName eq "x"`; `None`
    /// for anything else (`or`, `not`, `pr`, value filters, multi-valued attributes), which
    /// the caller then evaluates with [`Filter::matches`].
    ///
    /// `multi_valued` says which attributes may hold several values, where a single column
    /// comparison would be wrong; [`super::rfc7643_multi_valued`] covers the core schemas.
    /// Comparisons come in filter order. A translation must follow the evaluator's rules:
    /// case-insensitive strings unless caseExact, and no match on a missing attribute.
    pub fn as_simple_comparisons(
        &self,
        multi_valued: &dyn Fn(&AttrPath) -> bool,
    ) -> Option<Vec<(&AttrPath, CompareOp, &CompValue)>> {
        let mut out = Vec::new();
        // An explicit stack rather than recursion: a long `and` chain is a deep left spine.
        let mut pending = vec![self];
        while let Some(filter) = pending.pop() {
            match filter {
                Filter::And(l, r) => {
                    pending.push(r);
                    pending.push(l);
                }
                Filter::Compare { path, op, value } if !multi_valued(path) => out.push((path, *op, value)),
                _ => return None,
            }
        }
        Some(out)
    }
}
