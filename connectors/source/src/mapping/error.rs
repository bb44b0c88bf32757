//! Errors of parsing and evaluating expressions. Parse errors stop configuration loading;
//! evaluation errors concern one object, which the caller skips and records.

/// An expression that cannot be parsed, with the 1-based character position an admin can
/// count to in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct ParseError {
    /// 1-based position of the character where the problem was found (characters, not bytes,
    /// so accented attribute values do not shift it).
    pub position: usize,
    /// What was expected there, in words.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

/// An expression that parsed but cannot be evaluated for one particular object, such as `Mid`
/// given a start of "abc" read from an attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {kind}")]
pub struct EvalError {
    /// 1-based position of the function call or attribute that failed.
    pub position: usize,
    pub kind: EvalErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalErrorKind {
    #[error("{function}: {argument} must be a whole number, got {shown}")]
    NotAWholeNumber {
        function: &'static str,
        argument: &'static str,
        /// The offending value, quoted, or `null`.
        shown: String,
    },
    #[error("{function}: {argument} must be at least {minimum}, got {value}")]
    TooSmall {
        function: &'static str,
        argument: &'static str,
        minimum: i64,
        value: i64,
    },
    #[error(
        "{function}: {argument} has {count} values where one was expected; combine them with \
         Join or pick one with Item"
    )]
    MultiValued {
        function: &'static str,
        argument: String,
        count: usize,
    },
    #[error(
        "the expression produced {count} values where one was expected; combine them with Join \
         or pick one with Item"
    )]
    MultiValuedResult { count: usize },
    #[error("IIF: the condition evaluated to {value:?}, which is neither \"True\" nor \"False\"")]
    NotABoolean { value: String },
    #[error("'{operator}' compares numbers, but {value:?} is not a number")]
    NotANumber { operator: &'static str, value: String },
    #[error("Replace: regexPattern {pattern:?} is not a valid regular expression: {message}")]
    InvalidRegex { pattern: String, message: String },
    #[error("Replace: regexPattern evaluated to null")]
    NullPattern,
    #[error("Replace: regexPattern {pattern:?} has no group named {group:?}")]
    UnknownGroup { pattern: String, group: String },
    #[error("Replace: oldValue is empty, so there is nothing to replace")]
    EmptyOldValue,
    #[error(
        "attribute [{name}] holds a JSON {found}; expressions work on strings, numbers, \
         booleans and arrays of them"
    )]
    UnsupportedValue { name: String, found: &'static str },
}
