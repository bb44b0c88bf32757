//! SCIM filters and PATCH paths: parsing (RFC 7644 sections 3.4.2.2 and 3.5.2) and evaluation
//! over JSON resources.
//!
//! Pure code: no I/O, no clock, no database. The SCIM endpoint parses the `filter` query
//! parameter with [`parse_filter`] and a PATCH operation's `path` with [`parse_path`]; a
//! [`FilterError`]'s message is the `detail` of the HTTP 400 (`scimType` `invalidFilter` or
//! `invalidPath`). [`Filter::matches`] evaluates a filter against a resource, and
//! [`Filter::as_simple_comparisons`] picks out the filters a store can answer with a plain
//! `WHERE` clause.
//!
//! Accepted beyond the strict ABNF, because real clients send it: keywords in any case
//! (`Eq`, `AND`, `True`), any run of whitespace between tokens, `not (` with or without the
//! space (the ABNF has none, the RFC's examples have one; erratum 7319), and Entra's
//! `emails[type eq "work"].value eq "x"`. Values must be JSON literals: an unquoted
//! `externalId eq jyoung` is rejected with a message saying so.
//!
//! Not accepted: a PATCH path that is a whole expression (`schemas eq "..."`, proposed by
//! erratum 7122), and extension attributes without their URN (`department` for the
//! enterprise `department`), which RFC 7644 section 3.10 does not allow.

mod ast;
mod error;
mod eval;
mod lexer;
mod parser;
mod path;
mod schema;
mod simple;

#[cfg(test)]
mod tests;

pub use ast::{AttrPath, CompValue, CompareOp, Filter};
pub use error::FilterError;
pub use parser::{MAX_EXPRESSIONS, MAX_NESTING};
pub use path::PatchPath;
pub use schema::{rfc7643_case_exact, rfc7643_multi_valued};

/// Parses a `filter` query parameter, already percent-decoded.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    parser::parse_filter(input)
}

/// Parses a PATCH operation's `path`. Errors belong in a 400 with `scimType` `invalidPath`.
pub fn parse_path(input: &str) -> Result<PatchPath, FilterError> {
    parser::parse_patch_path(input)
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parser::parse_filter(s)
    }
}

/// Parsing a path; errors belong in an HTTP 400 with `scimType` `invalidPath`.
impl std::str::FromStr for PatchPath {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parser::parse_patch_path(s)
    }
}
