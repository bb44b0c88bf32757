//! Decides whether a JSON resource matches a filter, with the semantics of RFC 7644 section 3.4.2.2.
//!
//! The rules, in the order a reader will ask about them:
//! - Attribute names and schema URNs match JSON keys case-insensitively (RFC 7643 section 2.1).
//! - A path with an extension URN looks inside that extension's object,
//!   `resource["urn:...:enterprise:2.0:User"]["department"]`; a core URN
//!   (`urn:ietf:params:scim:schemas:core:...`) names a top-level attribute.
//! - A multi-valued attribute matches if any of its values matches.
//! - Comparing a complex value itself (`emails co "example.com"`) compares its `value`
//!   sub-attribute, the "primary value" of RFC 7643 section 2.4. Conversely `value` of a plain
//!   value is the value itself, so `manager.value eq "42"` also matches Entra's string
//!   `"manager": "42"`, and `schemas[value eq "..."]` works on an array of strings.
//! - Strings compare case-insensitively unless `case_exact` says the attribute is caseExact:
//!   by the matcher's [`identity_key`] (NFKC, lowercase, trim), as the SQL translation and
//!   the uniqueness of `userName` do, so `ｂｏｂ` and `Bob` are equal.
//!   `co`, `sw`, `ew` apply to strings only; `gt ge lt le` order strings lexicographically,
//!   numbers numerically and, when both sides parse as dateTime, chronologically. Booleans
//!   support only `eq` and `ne`. A value of another JSON type than the literal never matches.
//! - A comparison against a missing attribute is false, `ne` included, as in SQL, so a
//!   translation to a `WHERE` clause agrees with this evaluator; `not (a eq "x")` is the way
//!   to include resources without `a`.
//! - `pr` means present and non-empty: not null, not `""`, not `[]`, not `{}`. `eq null`
//!   is its negation and `ne null` its synonym.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde_json::{Map, Value};

use super::ast::{is_core_schema_uri, AttrPath, CompValue, CompareOp, Filter};
use crate::matcher::identity_key;

/// How deep `pr` looks into nested objects before it calls a value non-empty. SCIM complex
/// attributes nest one level; the bound only keeps odd input from recursing without limit.
const MAX_PRESENCE_DEPTH: usize = 8;

impl Filter {
    /// Whether `resource` (a SCIM resource as JSON) matches this filter.
    ///
    /// `case_exact` answers RFC 7643's `caseExact` for an attribute; it receives the full
    /// path, so inside `emails[value eq "x"]` it is asked about `emails.value`.
    /// [`super::rfc7643_case_exact`] covers the core User and Group schemas.
    pub fn matches(&self, resource: &Value, case_exact: &dyn Fn(&AttrPath) -> bool) -> bool {
        eval(self, resource, None, case_exact)
    }

    /// Whether one element of the multi-valued attribute `attr` satisfies this value filter:
    /// what a PATCH needs to find the elements `members[value eq "..."]` selects. Paths in
    /// the filter are relative to the element; `case_exact` is asked about `attr.sub`.
    pub fn matches_element(
        &self,
        element: &Value,
        attr: &AttrPath,
        case_exact: &dyn Fn(&AttrPath) -> bool,
    ) -> bool {
        eval(self, element, Some(attr), case_exact)
    }
}

/// Evaluates `filter` against `scope`: the resource, or one element of the multi-valued
/// attribute `parent` when inside a value filter's brackets.
fn eval(
    filter: &Filter,
    scope: &Value,
    parent: Option<&AttrPath>,
    case_exact: &dyn Fn(&AttrPath) -> bool,
) -> bool {
    match filter {
        Filter::Compare { path, op, value } => {
            let values = resolve(scope, path);
            match value {
                CompValue::Null => match op {
                    CompareOp::Eq => !is_present(&values),
                    CompareOp::Ne => is_present(&values),
                    _ => false,
                },
                _ => {
                    let exact = case_exact(&absolute(parent, path));
                    values.iter().any(|v| compare(v, *op, value, exact))
                }
            }
        }
        Filter::Present(path) => is_present(&resolve(scope, path)),
        Filter::And(l, r) => eval(l, scope, parent, case_exact) && eval(r, scope, parent, case_exact),
        Filter::Or(l, r) => eval(l, scope, parent, case_exact) || eval(r, scope, parent, case_exact),
        Filter::Not(inner) => !eval(inner, scope, parent, case_exact),
        Filter::ValuePath { attr, filter } => {
            let attr_abs = absolute(parent, attr);
            resolve(scope, attr)
                .into_iter()
                .any(|element| eval(filter, element, Some(&attr_abs), case_exact))
        }
    }
}

/// The path as seen from the resource, so a schema callback can recognise `emails.value`
/// when the filter says `emails[value eq "x"]`.
fn absolute(parent: Option<&AttrPath>, path: &AttrPath) -> AttrPath {
    match parent {
        None => path.clone(),
        Some(parent) => AttrPath {
            uri: parent.uri.clone(),
            attr: parent.attr.clone(),
            sub_attr: Some(path.attr.clone()),
        },
    }
}

/// All values `path` reaches from `scope`, arrays unpacked one level and nulls left out.
fn resolve<'v>(scope: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let base = match &path.uri {
        None => Some(scope),
        Some(uri) => schema_scope(scope, uri),
    };
    let Some(top) = base.and_then(|b| lookup(b, &path.attr)) else {
        return Vec::new();
    };
    let mut values = Vec::new();
    unpack(top, &mut values);
    if let Some(sub) = &path.sub_attr {
        let parents = std::mem::take(&mut values);
        for parent in parents {
            if let Some(v) = lookup(parent, sub) {
                unpack(v, &mut values);
            }
        }
    }
    values
}

/// The object a URN-qualified attribute lives in: the extension's object when the resource
/// has one under that URN, the resource itself for a core schema URN, else nothing.
fn schema_scope<'v>(scope: &'v Value, uri: &str) -> Option<&'v Value> {
    let extension = scope
        .as_object()
        .and_then(|o| get_ci(o, uri))
        .filter(|v| v.is_object());
    match extension {
        Some(ext) => Some(ext),
        None if is_core_schema_uri(uri) => Some(scope),
        None => None,
    }
}

fn lookup<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    match value {
        Value::Object(o) => get_ci(o, name),
        Value::Null => None,
        plain if name.eq_ignore_ascii_case("value") => Some(plain),
        _ => None,
    }
}

/// A key lookup that tries the exact spelling first, then any casing.
fn get_ci<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn unpack<'v>(value: &'v Value, into: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => into.extend(items.iter().filter(|v| !v.is_null())),
        Value::Null => {}
        other => into.push(other),
    }
}

fn is_present(values: &[&Value]) -> bool {
    values.iter().any(|v| is_non_empty(v, 0))
}

fn is_non_empty(value: &Value, depth: usize) -> bool {
    if depth >= MAX_PRESENCE_DEPTH {
        return true;
    }
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(|v| is_non_empty(v, depth + 1)),
        Value::Object(fields) => fields.values().any(|v| is_non_empty(v, depth + 1)),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// Compares one attribute value with the filter's literal.
fn compare(value: &Value, op: CompareOp, literal: &CompValue, case_exact: bool) -> bool {
    let value = match value {
        Value::Object(o) => match get_ci(o, "value") {
            Some(primary) => primary,
            None => return false,
        },
        other => other,
    };
    match (value, literal) {
        (Value::String(a), CompValue::Str(b)) => compare_strings(a, op, b, case_exact),
        (Value::Number(a), CompValue::Number(b)) => compare_numbers(a, b).is_some_and(|o| holds(op, o)),
        (Value::Bool(a), CompValue::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        _ => false,
    }
}

fn compare_strings(value: &str, op: CompareOp, literal: &str, case_exact: bool) -> bool {
    let (a, b): (Cow<'_, str>, Cow<'_, str>) = if case_exact {
        (Cow::Borrowed(value), Cow::Borrowed(literal))
    } else {
        (Cow::Owned(identity_key(value)), Cow::Owned(identity_key(literal)))
    };
    match op {
        CompareOp::Co => a.contains(b.as_ref()),
        CompareOp::Sw => a.starts_with(b.as_ref()),
        CompareOp::Ew => a.ends_with(b.as_ref()),
        _ => {
            let ordering = match (parse_date_time(value), parse_date_time(literal)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.cmp(&b),
            };
            holds(op, ordering)
        }
    }
}

/// Integers compare exactly; anything else compares as `f64`.
fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// SCIM dateTime is xsd:dateTime; clients send RFC 3339 (`2011-05-13T04:42:34Z`), and some
/// leave out the offset, which is then taken as UTC.
fn parse_date_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let looks_like_date =
        s.len() >= 19 && s.as_bytes().get(4) == Some(&b'-') && s.as_bytes().get(10) == Some(&b'T');
    if !looks_like_date {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc().fixed_offset())
    })
}
