//! Scoping filters as in Entra provisioning: which source objects are in scope at all, and,
//! for "provision on demand", which rule decided.
//!
//! Semantics follow Microsoft's "Scoping users or groups to be provisioned with scoping
//! filters": clauses in a filter are AND-ed, filters are OR-ed, a null or empty attribute makes
//! every clause false except `IS NULL`, comparisons are case-sensitive, and multi-valued
//! attributes are not supported (such a clause is false, and the explanation says why).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::parser::one_line;
use super::value::{bool_text, AttributeSource};

/// The operators Microsoft documents for scoping filters, under the names the Entra portal
/// shows. Entra also lists `&` and `!&`, whose documented meaning ("the evaluated attribute
/// exists in the input string value") is too unclear to reproduce faithfully, so they are
/// rejected with an explanation instead of guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    IsNotNull,
    IsNull,
    Equals,
    NotEquals,
    IsTrue,
    IsFalse,
    RegexMatch,
    NotRegexMatch,
    GreaterThan,
    GreaterThanOrEquals,
    Includes,
    EndsWith,
}

const OPERATORS: [Operator; 12] = [
    Operator::IsNotNull,
    Operator::IsNull,
    Operator::Equals,
    Operator::NotEquals,
    Operator::IsTrue,
    Operator::IsFalse,
    Operator::RegexMatch,
    Operator::NotRegexMatch,
    Operator::GreaterThan,
    Operator::GreaterThanOrEquals,
    Operator::Includes,
    Operator::EndsWith,
];

impl Operator {
    /// The spelling the Entra portal uses.
    pub fn name(self) -> &'static str {
        match self {
            Operator::IsNotNull => "IS NOT NULL",
            Operator::IsNull => "IS NULL",
            Operator::Equals => "EQUALS",
            Operator::NotEquals => "NOT EQUALS",
            Operator::IsTrue => "IS TRUE",
            Operator::IsFalse => "IS FALSE",
            Operator::RegexMatch => "REGEX MATCH",
            Operator::NotRegexMatch => "NOT REGEX MATCH",
            Operator::GreaterThan => "Greater_Than",
            Operator::GreaterThanOrEquals => "Greater_Than_OR_EQUALS",
            Operator::Includes => "Includes",
            Operator::EndsWith => "ENDS_WITH",
        }
    }

    /// Whether the clause compares against a `value`.
    pub fn takes_value(self) -> bool {
        !matches!(
            self,
            Operator::IsNotNull | Operator::IsNull | Operator::IsTrue | Operator::IsFalse
        )
    }

    /// Case, spaces and underscores are not significant (`IS NOT NULL`, `is_not_null`,
    /// `Greater_Than_OR_EQUALS`), because the portal itself mixes both spellings.
    fn canonical(text: &str) -> String {
        text.to_uppercase()
            .replace('_', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl FromStr for Operator {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = Operator::canonical(s);
        if let Some(op) = OPERATORS
            .iter()
            .find(|op| Operator::canonical(op.name()) == wanted)
        {
            return Ok(*op);
        }
        let hint = match wanted.as_str() {
            "&" | "!&" => "Microsoft's description of '&' and '!&' leaves their meaning unclear, so \
                           idsync does not offer them; use REGEX MATCH"
                .to_owned(),
            "CONTAINS" => "use Includes".to_owned(),
            _ => format!(
                "the operators are {}",
                OPERATORS
                    .iter()
                    .map(|op| op.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Err(ScopeError::UnknownOperator {
            given: s.to_owned(),
            hint,
        })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Operator {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One condition on one attribute, as written in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    pub attribute: String,
    pub operator: Operator,
    /// Absent for the unary operators. Integers are accepted so that `Greater_Than` can be
    /// written `value = 1000000` in TOML.
    #[serde(
        default,
        deserialize_with = "value_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.attribute, self.operator)?;
        match &self.value {
            Some(value) => write!(f, " {value:?}"),
            None => Ok(()),
        }
    }
}

fn value_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Text;
    impl<'a> serde::de::Visitor<'a> for Text {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an integer")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Text)
        }
    }
    d.deserialize_option(Text)
}

/// Clauses that must all hold. Entra gives each filter a title; `name` plays that part in
/// explanations.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScopingFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub clauses: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scoping operator {given:?}: {hint}")]
    UnknownOperator { given: String, hint: String },
    /// A filter without clauses would match every object and make all other filters moot.
    #[error("scoping filter {filter} has no clauses")]
    EmptyFilter { filter: usize },
    #[error("scoping filter {filter}, clause {clause} ({attribute} {operator}): {problem}")]
    InvalidClause {
        /// 1-based, as an admin counts the filters in the configuration file.
        filter: usize,
        /// 1-based within the filter.
        clause: usize,
        attribute: String,
        operator: Operator,
        problem: String,
    },
}

/// What a clause compares against, checked and compiled once when the scope is built.
#[derive(Debug, Clone)]
enum Test {
    Unary,
    Text(String),
    Regex(Regex),
    Integer(i64),
}

#[derive(Debug, Clone)]
struct Compiled {
    filter: ScopingFilter,
    tests: Vec<Test>,
}

/// Filters that are OR-ed; with no filters every object is in scope, as in Entra, where
/// attribute scoping is optional.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    filters: Vec<Compiled>,
}

fn compile(filter_no: usize, clause_no: usize, clause: &Clause) -> Result<Test, ScopeError> {
    let invalid = |problem: String| ScopeError::InvalidClause {
        filter: filter_no,
        clause: clause_no,
        attribute: clause.attribute.clone(),
        operator: clause.operator,
        problem,
    };
    if clause.attribute.trim().is_empty() {
        return Err(invalid("attribute is empty".to_owned()));
    }
    let op = clause.operator;
    let value = match (&clause.value, op.takes_value()) {
        (None, false) => return Ok(Test::Unary),
        (Some(_), false) => return Err(invalid(format!("{op} takes no value"))),
        (None, true) => return Err(invalid(format!("{op} needs a value"))),
        (Some(value), true) => value,
    };
    match op {
        Operator::RegexMatch | Operator::NotRegexMatch => Regex::new(value).map(Test::Regex).map_err(|e| {
            invalid(format!(
                "value is not a valid regular expression: {}",
                one_line(&e.to_string())
            ))
        }),
        Operator::GreaterThan | Operator::GreaterThanOrEquals => value
            .trim()
            .parse()
            .map(Test::Integer)
            .map_err(|_| invalid(format!("value must be an integer, got {value:?}"))),
        _ => Ok(Test::Text(value.clone())),
    }
}

impl Scope {
    pub fn new(filters: Vec<ScopingFilter>) -> Result<Self, ScopeError> {
        let mut compiled = Vec::with_capacity(filters.len());
        for (i, filter) in filters.into_iter().enumerate() {
            if filter.clauses.is_empty() {
                return Err(ScopeError::EmptyFilter { filter: i + 1 });
            }
            let tests = filter
                .clauses
                .iter()
                .enumerate()
                .map(|(j, clause)| compile(i + 1, j + 1, clause))
                .collect::<Result<Vec<_>, _>>()?;
            compiled.push(Compiled { filter, tests });
        }
        Ok(Self { filters: compiled })
    }

    pub fn filters(&self) -> impl Iterator<Item = &ScopingFilter> {
        self.filters.iter().map(|c| &c.filter)
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// Every attribute a clause reads, for the connector's `$select`.
    pub fn attributes(&self) -> BTreeSet<String> {
        self.filters()
            .flat_map(|f| f.clauses.iter().map(|c| c.attribute.clone()))
            .collect()
    }

    pub fn matches<A: AttributeSource + ?Sized>(&self, attrs: &A) -> bool {
        self.explain(attrs).in_scope()
    }

    /// Decides like [`Scope::matches`] and says why: the filter that let the object in, or
    /// for every filter the first clause that kept it out.
    pub fn explain<A: AttributeSource + ?Sized>(&self, attrs: &A) -> ScopeDecision {
        if self.filters.is_empty() {
            return ScopeDecision::NoFilters;
        }
        let mut failures = Vec::new();
        for (i, compiled) in self.filters.iter().enumerate() {
            let failed = compiled
                .filter
                .clauses
                .iter()
                .zip(&compiled.tests)
                .enumerate()
                .find_map(|(j, (clause, test))| {
                    check(clause, test, attrs.attribute(&clause.attribute))
                        .err()
                        .map(|mismatch| (j, clause, mismatch))
                });
            match failed {
                None => {
                    return ScopeDecision::InScope {
                        filter: i + 1,
                        name: compiled.filter.name.clone(),
                    }
                }
                Some((j, clause, mismatch)) => failures.push(ClauseFailure {
                    filter: i + 1,
                    filter_name: compiled.filter.name.clone(),
                    clause_number: j + 1,
                    clause: clause.clone(),
                    mismatch,
                }),
            }
        }
        ScopeDecision::OutOfScope { failures }
    }
}

impl TryFrom<Vec<ScopingFilter>> for Scope {
    type Error = ScopeError;

    fn try_from(filters: Vec<ScopingFilter>) -> Result<Self, Self::Error> {
        Self::new(filters)
    }
}

/// A configuration field of type `Scope` is validated while the configuration loads.
impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let filters = Vec::<ScopingFilter>::deserialize(deserializer)?;
        Self::new(filters).map_err(serde::de::Error::custom)
    }
}

/// The outcome of [`Scope::explain`]. Numbers are 1-based, as an admin counts filters and
/// clauses in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeDecision {
    /// No scoping filters are configured, so everything is in scope.
    NoFilters,
    /// The first filter whose clauses all held.
    InScope { filter: usize, name: Option<String> },
    /// No filter held; one entry per filter, naming its first false clause.
    OutOfScope { failures: Vec<ClauseFailure> },
}

impl ScopeDecision {
    pub fn in_scope(&self) -> bool {
        !matches!(self, ScopeDecision::OutOfScope { .. })
    }
}

fn filter_label(filter: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("scoping filter {filter} ({name:?})"),
        None => format!("scoping filter {filter}"),
    }
}

impl fmt::Display for ScopeDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeDecision::NoFilters => f.write_str("in scope: no scoping filters are configured"),
            ScopeDecision::InScope { filter, name } => write!(
                f,
                "in scope: every clause of {} holds",
                filter_label(*filter, name.as_deref())
            ),
            ScopeDecision::OutOfScope { failures } => {
                f.write_str("out of scope: ")?;
                for (i, failure) in failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{failure}")?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClauseFailure {
    pub filter: usize,
    pub filter_name: Option<String>,
    pub clause_number: usize,
    pub clause: Clause,
    pub mismatch: Mismatch,
}

impl fmt::Display for ClauseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, clause {} ({}) is false: {}",
            filter_label(self.filter, self.filter_name.as_deref()),
            self.clause_number,
            self.clause,
            self.mismatch
        )
    }
}

/// Why one clause was false for one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("the attribute has no value")]
    NoValue,
    #[error("the attribute has a value")]
    HasValue,
    #[error("the value is {actual:?}")]
    Value { actual: String },
    #[error("the value {actual:?} is not an integer")]
    NotAnInteger { actual: String },
    #[error("the value {actual:?} is not a boolean")]
    NotABoolean { actual: String },
    #[error("the attribute has {count} values, and scoping filters do not support multi-valued attributes")]
    MultiValued { count: usize },
    #[error("the attribute holds a JSON object")]
    Object,
}

/// An attribute reduced to what scoping needs. A one-element array counts as its element, as
/// in expressions.
enum Seen {
    Null,
    Bool(bool),
    Text(String),
    Many(usize),
    Object,
}

fn seen(json: Option<&Json>) -> Seen {
    match json {
        None | Some(Json::Null) => Seen::Null,
        Some(Json::String(s)) if s.is_empty() => Seen::Null,
        Some(Json::String(s)) => Seen::Text(s.clone()),
        Some(Json::Bool(b)) => Seen::Bool(*b),
        Some(Json::Number(n)) => Seen::Text(n.to_string()),
        Some(Json::Object(_)) => Seen::Object,
        Some(Json::Array(items)) => {
            let present: Vec<&Json> = items.iter().filter(|v| !v.is_null()).collect();
            match present.as_slice() {
                [] => Seen::Null,
                [one] => seen(Some(one)),
                many => Seen::Many(many.len()),
            }
        }
    }
}

fn check(clause: &Clause, test: &Test, json: Option<&Json>) -> Result<(), Mismatch> {
    let value = seen(json);
    match (clause.operator, &value) {
        (Operator::IsNull, Seen::Null) => return Ok(()),
        (Operator::IsNull, _) => return Err(Mismatch::HasValue),
        (Operator::IsNotNull, Seen::Null) => return Err(Mismatch::NoValue),
        (Operator::IsNotNull, _) => return Ok(()),
        (_, Seen::Null) => return Err(Mismatch::NoValue),
        (_, Seen::Many(count)) => return Err(Mismatch::MultiValued { count: *count }),
        (_, Seen::Object) => return Err(Mismatch::Object),
        _ => {}
    }
    let actual = match &value {
        Seen::Text(s) => s.clone(),
        Seen::Bool(b) => bool_text(*b).to_owned(),
        Seen::Null | Seen::Many(_) | Seen::Object => String::new(),
    };
    let holds = match (clause.operator, test) {
        (Operator::IsTrue | Operator::IsFalse, _) => {
            let b = match value {
                Seen::Bool(b) => b,
                _ if actual.trim().eq_ignore_ascii_case("true") => true,
                _ if actual.trim().eq_ignore_ascii_case("false") => false,
                _ => return Err(Mismatch::NotABoolean { actual }),
            };
            b == (clause.operator == Operator::IsTrue)
        }
        (Operator::GreaterThan | Operator::GreaterThanOrEquals, Test::Integer(limit)) => {
            let Ok(n) = actual.trim().parse::<i64>() else {
                return Err(Mismatch::NotAnInteger { actual });
            };
            if clause.operator == Operator::GreaterThan {
                n > *limit
            } else {
                n >= *limit
            }
        }
        (Operator::RegexMatch, Test::Regex(regex)) => regex.is_match(&actual),
        (Operator::NotRegexMatch, Test::Regex(regex)) => !regex.is_match(&actual),
        (Operator::Equals, Test::Text(v)) => actual == *v,
        (Operator::NotEquals, Test::Text(v)) => actual != *v,
        (Operator::Includes, Test::Text(v)) => actual.contains(v.as_str()),
        (Operator::EndsWith, Test::Text(v)) => actual.ends_with(v.as_str()),
        // `compile` pairs every operator with its test; other pairs do not occur.
        _ => false,
    };
    if holds {
        Ok(())
    } else {
        Err(Mismatch::Value { actual })
    }
}
