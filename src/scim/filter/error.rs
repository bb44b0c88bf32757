//! Why a filter or PATCH path was rejected, worded for the `detail` of a SCIM 400 response.

use thiserror::Error;

/// A rejected filter or PATCH path.
///
/// Every variant carries the position of the problem, counted in characters (not bytes)
/// from 0, so a client can point at it in the string it sent. The message is meant to be
/// returned verbatim as the `detail` of an HTTP 400 with `scimType` `invalidFilter` (for a
/// `filter` parameter) or `invalidPath` (for a PATCH `path`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FilterError {
    /// `what` is "filter" or "path".
    #[error("the {what} is empty")]
    Empty { what: &'static str },

    #[error("unterminated string starting at position {position}")]
    UnterminatedString { position: usize },

    #[error("invalid escape sequence {sequence} in a string at position {position}")]
    InvalidEscape { sequence: String, position: usize },

    #[error("unescaped control character U+{code:04X} in a string at position {position}")]
    ControlCharacter { code: u32, position: usize },

    #[error("invalid number \"{text}\" at position {position}")]
    InvalidNumber { text: String, position: usize },

    #[error("unexpected character '{character}' at position {position}")]
    UnexpectedCharacter { character: char, position: usize },

    #[error("invalid attribute path \"{path}\" at position {position}: {reason}")]
    InvalidAttrPath {
        path: String,
        reason: &'static str,
        position: usize,
    },

    #[error(
        "unknown operator \"{found}\" at position {position}; \
         expected one of eq, ne, co, sw, ew, gt, ge, lt, le, pr"
    )]
    UnknownOperator { found: String, position: usize },

    /// The general "this token does not belong here" error. `expected` reads as a phrase,
    /// e.g. `an operator after "userName"`.
    #[error("expected {expected} at position {position}, found {found}")]
    Expected {
        expected: String,
        found: String,
        position: usize,
    },

    #[error("operator \"{op}\" cannot compare {value} at position {position}: {reason}")]
    InvalidComparison {
        op: &'static str,
        value: String,
        reason: &'static str,
        position: usize,
    },

    #[error("a value filter cannot contain another value filter \"[\" at position {position}")]
    NestedValuePath { position: usize },

    /// Bounds recursion so that no input can exhaust the stack.
    #[error("the filter nests parentheses or \"not\" more than {limit} levels deep at position {position}")]
    TooDeep { limit: usize, position: usize },

    /// Bounds the size of the tree, whose depth grows with every `and`/`or`.
    #[error("the filter has more than {limit} attribute expressions at position {position}")]
    TooManyExpressions { limit: usize, position: usize },
}

impl FilterError {
    /// Where the problem is, in characters from the start of the input.
    pub fn position(&self) -> usize {
        match self {
            FilterError::Empty { .. } => 0,
            FilterError::UnterminatedString { position }
            | FilterError::InvalidEscape { position, .. }
            | FilterError::ControlCharacter { position, .. }
            | FilterError::InvalidNumber { position, .. }
            | FilterError::UnexpectedCharacter { position, .. }
            | FilterError::InvalidAttrPath { position, .. }
            | FilterError::UnknownOperator { position, .. }
            | FilterError::Expected { position, .. }
            | FilterError::InvalidComparison { position, .. }
            | FilterError::NestedValuePath { position }
            | FilterError::TooDeep { position, .. }
            | FilterError::TooManyExpressions { position, .. } => *position,
        }
    }
}
