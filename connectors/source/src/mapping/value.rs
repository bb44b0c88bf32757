//! Where attribute values come from, and how their JSON becomes the strings expressions work
//! on.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;

use super::error::{EvalError, EvalErrorKind};

/// The attributes of one source object, as the connector fetched them.
///
/// A missing attribute and a JSON `null` mean the same thing, as in Entra: "for an attribute,
/// a Null is expressed by the absence of the attribute". Lookups are by exact name; a
/// connector whose upstream is case-insensitive can implement this trait to match that.
pub trait AttributeSource {
    fn attribute(&self, name: &str) -> Option<&Json>;
}

/// Besides exact keys, a dotted name walks into nested objects, so `[profile.department]`
/// reads an Okta user as Okta returns it. An exact key wins, because Graph attribute names
/// never contain dots but a flattened record might.
fn lookup<'a>(map: &'a serde_json::Map<String, Json>, name: &str) -> Option<&'a Json> {
    if let Some(value) = map.get(name) {
        return Some(value);
    }
    let (head, rest) = name.split_once('.')?;
    match map.get(head)? {
        Json::Object(inner) => lookup(inner, rest),
        _ => None,
    }
}

impl AttributeSource for serde_json::Map<String, Json> {
    fn attribute(&self, name: &str) -> Option<&Json> {
        lookup(self, name)
    }
}

/// Anything but an object has no attributes.
impl AttributeSource for Json {
    fn attribute(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(map) => lookup(map, name),
            _ => None,
        }
    }
}

impl<S: std::hash::BuildHasher> AttributeSource for HashMap<String, Json, S> {
    fn attribute(&self, name: &str) -> Option<&Json> {
        self.get(name)
    }
}

impl AttributeSource for BTreeMap<String, Json> {
    fn attribute(&self, name: &str) -> Option<&Json> {
        self.get(name)
    }
}

impl<T: AttributeSource + ?Sized> AttributeSource for &T {
    fn attribute(&self, name: &str) -> Option<&Json> {
        (**self).attribute(name)
    }
}

/// An intermediate result. Entra's values are strings (booleans are "True"/"False"), some
/// multi-valued; keeping that model makes functions behave as Microsoft documents them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    One(String),
    /// Always two or more values: an empty list is `Null` and a single value is `One`, so that
    /// `["a"]` and `"a"` behave the same everywhere.
    Many(Vec<String>),
}

impl Value {
    pub(crate) fn from_list(mut values: Vec<String>) -> Value {
        match values.len() {
            0 => Value::Null,
            1 => values.pop().map_or(Value::Null, Value::One),
            _ => Value::Many(values),
        }
    }

    pub(crate) fn boolean(b: bool) -> Value {
        Value::One(bool_text(b).to_owned())
    }

    /// Null or the empty string: the "has no value" test Microsoft uses for IsNullOrEmpty,
    /// scoping filters and the Replace fallback.
    pub(crate) fn is_null_or_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::One(s) => s.is_empty(),
            Value::Many(_) => false,
        }
    }
}

/// .NET's `Boolean.ToString()`, which is what Entra's boolean functions return.
pub(crate) fn bool_text(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn scalar_text(json: &Json) -> Option<String> {
    match json {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(bool_text(*b).to_owned()),
        Json::Number(n) => Some(n.to_string()),
        Json::Null | Json::Array(_) | Json::Object(_) => None,
    }
}

fn kind_name(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// Nulls inside an array are dropped: a list with a hole in it has no value there, not an
/// empty one.
pub(crate) fn from_json(name: &str, pos: usize, json: Option<&Json>) -> Result<Value, EvalError> {
    let unsupported = |found: &Json| EvalError {
        position: pos,
        kind: EvalErrorKind::UnsupportedValue {
            name: name.to_owned(),
            found: kind_name(found),
        },
    };
    match json {
        None | Some(Json::Null) => Ok(Value::Null),
        Some(Json::Array(items)) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                if item.is_null() {
                    continue;
                }
                values.push(scalar_text(item).ok_or_else(|| unsupported(item))?);
            }
            Ok(Value::from_list(values))
        }
        Some(other) => scalar_text(other)
            .map(Value::One)
            .ok_or_else(|| unsupported(other)),
    }
}
