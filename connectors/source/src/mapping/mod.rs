//! Attribute-mapping expressions and scoping filters in the syntax of Microsoft Entra
//! provisioning, shared by the Entra and Okta connectors.
//!
//! Admins who have configured Entra provisioning already know how to write
//! `Join(" ", [givenName], [surname])` or a scoping clause `department EQUALS Sales`; reusing
//! that language means they need not learn a new one, and Microsoft's documentation serves as
//! the reference. Where Microsoft leaves a behaviour open, the item's doc comment says what
//! idsync does and why.
//!
//! Everything here is pure: no I/O, no clock, no randomness (so Entra's `Now`, `Guid` and
//! `RandomString` are not offered). Configuration errors surface when the configuration is
//! parsed, with positions; evaluation errors concern one object.

mod error;
mod eval;
mod functions;
mod lexer;
mod parser;
mod scoping;
mod targets;
mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

pub use error::{EvalError, EvalErrorKind, ParseError};
pub use scoping::{
    Clause, ClauseFailure, Mismatch, Operator, Scope, ScopeDecision, ScopeError, ScopingFilter,
};
pub use targets::{Mapping, MappingEntry, MappingError, MappingEvalError, Purpose};
pub use value::AttributeSource;

use eval::Evaluator;
use parser::Node;

/// A parsed attribute-mapping expression, such as `Coalesce([mail], [userPrincipalName])`.
///
/// Besides function calls, a bare attribute (`[mail]`) or constant (`"Sales"`) is accepted,
/// covering Entra's "Direct" and "Constant" mapping types with the same type.
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    root: Node,
}

impl Expression {
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        let root = parser::parse(source)?;
        Ok(Self {
            source: source.to_owned(),
            root,
        })
    }

    /// The text the expression was parsed from, for logs and "provision on demand" output.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every attribute the expression reads, so a connector can ask the upstream for exactly
    /// those (Graph `$select`).
    pub fn attributes(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.root.collect_attributes(&mut names);
        names
    }

    /// The value for a single-valued target field; `None` means the expression produced no
    /// value (null), which the caller stores as "no value" rather than as "".
    ///
    /// A result with several values (a multi-valued attribute mapped directly) is an error
    /// rather than a guess; `Join` or `Item` in the expression say which value is wanted.
    pub fn evaluate<A: AttributeSource + ?Sized>(&self, attrs: &A) -> Result<Option<String>, EvalError> {
        let value = Evaluator { attrs }.eval(&self.root)?;
        eval::into_single(value, self.root.pos())
    }

    /// The values for a multi-valued target field; empty means null.
    pub fn evaluate_values<A: AttributeSource + ?Sized>(&self, attrs: &A) -> Result<Vec<String>, EvalError> {
        Evaluator { attrs }.eval(&self.root).map(eval::into_list)
    }
}

impl FromStr for Expression {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Expression {
    type Error = ParseError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Expression> for String {
    fn from(expression: Expression) -> Self {
        expression.source
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Read from configuration as a plain string, so a mistake is reported while the
/// configuration loads, with the position inside the expression.
impl<'de> serde::Deserialize<'de> for Expression {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Self::parse(&source).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Expression {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}
