//! Listing parameters (`filter`, `startIndex`, `count`, `attributes`, `excludedAttributes`,
//! from the query string or a `.search` body) and the translation of filters into SQL
//! conditions, with what cannot be translated left to [`Filter::matches`].

use serde_json::{json, Value};

use super::error::ScimError;
use super::filter::{parse_filter, AttrPath, CompValue, CompareOp, Filter};
use super::resource::{get_ci, LIST_SCHEMA};
use crate::store::scim::{GroupCond, UserCond};

/// What a list request asks for.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 0-based offset (`startIndex` - 1).
    pub offset: u64,
    pub count: u64,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::bad("invalidValue", format!("{name} must be an integer, not {v:?}")))
}

impl ListParams {
    /// From query pairs (names compared case-insensitively).
    pub fn from_query(pairs: &[(String, String)], max_results: usize) -> Result<Self, ScimError> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Self::build(
            get("filter").map(str::to_owned),
            get("startIndex").map(|v| number("startIndex", v)).transpose()?,
            get("count").map(|v| number("count", v)).transpose()?,
            get("attributes").map(split_list).unwrap_or_default(),
            get("excludedAttributes").map(split_list).unwrap_or_default(),
            max_results,
        )
    }

    /// From a `POST .search` body.
    pub fn from_body(body: &Value, max_results: usize) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::bad("invalidValue", format!("{name} must be an integer"))),
                Some(Value::String(s)) => number(name, s).map(Some),
                Some(other) => Err(ScimError::bad(
                    "invalidValue",
                    format!("{name} must be an integer, not {other}"),
                )),
            }
        };
        let list = |name: &str| -> Vec<String> {
            match get_ci(obj, name) {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                Some(Value::String(s)) => split_list(s),
                _ => Vec::new(),
            }
        };
        Self::build(
            get_ci(obj, "filter").and_then(Value::as_str).map(str::to_owned),
            int("startIndex")?,
            int("count")?,
            list("attributes"),
            list("excludedAttributes"),
            max_results,
        )
    }

    fn build(
        filter: Option<String>,
        start_index: Option<i64>,
        count: Option<i64>,
        attributes: Vec<String>,
        excluded: Vec<String>,
        max_results: usize,
    ) -> Result<Self, ScimError> {
        let filter = match filter.filter(|f| !f.trim().is_empty()) {
            Some(text) => Some(
                parse_filter(&text)
                    .map_err(|e| ScimError::bad("invalidFilter", format!("filter {text:?}: {e}")))?,
            ),
            None => None,
        };
        // RFC 7644 section 3.4.2.4: below 1 means 1; a negative count means 0.
        let offset = (start_index.unwrap_or(1).max(1) - 1) as u64;
        let count = count.map_or(max_results as u64, |c| (c.max(0) as u64).min(max_results as u64));
        Ok(ListParams {
            filter,
            offset,
            count,
            attributes,
            excluded,
        })
    }
}

/// A ListResponse.
pub fn list_response(total: u64, offset: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": offset + 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// The `and`-ed parts of a filter.
fn conjuncts(filter: &Filter) -> Vec<&Filter> {
    let mut out = Vec::new();
    let mut pending = vec![filter];
    while let Some(f) = pending.pop() {
        match f {
            Filter::And(l, r) => {
                pending.push(r);
                pending.push(l);
            }
            other => out.push(other),
        }
    }
    out
}

fn eq_str(f: &Filter) -> Option<(&AttrPath, &str)> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(v),
        } => Some((path, v.as_str())),
        _ => None,
    }
}

/// `emails[type eq "work"].value eq "x"` (and `emails[value eq "x"]`, `primary eq true`): the
/// one email column holds the primary work address.
fn email_value_path(attr: &AttrPath, inner: &Filter) -> Option<String> {
    if !attr.is("emails", None) {
        return None;
    }
    let mut value = None;
    for part in conjuncts(inner) {
        match part {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::Str(v),
            } if path.is("value", None) => value = Some(v.clone()),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::Str(v),
            } if path.is("type", None) && v.eq_ignore_ascii_case("work") => {}
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::Bool(true),
            } if path.is("primary", None) => {}
            _ => return None,
        }
    }
    value
}

/// SQL conditions for the parts of a user filter that have them; `true` when every part
/// did (no evaluation in memory needed).
pub fn user_conditions(filter: &Filter) -> (Vec<UserCond>, bool) {
    let mut conds = Vec::new();
    let mut complete = true;
    for part in conjuncts(filter) {
        let cond = if let Some((path, v)) = eq_str(part) {
            let v = v.to_owned();
            if path.is("userName", None) {
                Some(UserCond::Upn(v))
            } else if path.is("externalId", None) {
                Some(UserCond::ExternalId(v))
            } else if path.is("id", None) {
                Some(UserCond::ScimId(v))
            } else if path.is("displayName", None) {
                Some(UserCond::DisplayName(v))
            } else if path.is("emails", Some("value")) {
                Some(UserCond::Email(v))
            } else {
                None
            }
        } else {
            match part {
                Filter::Compare {
                    path,
                    op: CompareOp::Eq,
                    value: CompValue::Bool(b),
                } if path.is("active", None) => Some(UserCond::Active(*b)),
                Filter::ValuePath { attr, filter } => email_value_path(attr, filter).map(UserCond::Email),
                _ => None,
            }
        };
        match cond {
            Some(c) => conds.push(c),
            None => complete = false,
        }
    }
    (conds, complete)
}

/// SQL conditions for the parts of a group filter that have them.
pub fn group_conditions(filter: &Filter) -> (Vec<GroupCond>, bool) {
    let mut conds = Vec::new();
    let mut complete = true;
    for part in conjuncts(filter) {
        let cond = eq_str(part).and_then(|(path, v)| {
            let v = v.to_owned();
            if path.is("displayName", None) {
                Some(GroupCond::DisplayName(v))
            } else if path.is("externalId", None) {
                Some(GroupCond::ExternalId(v))
            } else if path.is("id", None) {
                Some(GroupCond::ScimId(v))
            } else if path.is("members", None) || path.is("members", Some("value")) {
                Some(GroupCond::Member(v))
            } else {
                None
            }
        });
        let cond = cond.or_else(|| match part {
            Filter::ValuePath { attr, filter } if attr.is("members", None) => match eq_str(filter) {
                Some((p, v)) if p.is("value", None) => Some(GroupCond::Member(v.to_owned())),
                _ => None,
            },
            _ => None,
        });
        match cond {
            Some(c) => conds.push(c),
            None => complete = false,
        }
    }
    (conds, complete)
}

/// Whether the filter mentions `members` (then in-memory evaluation needs them).
pub fn mentions_members(filter: &Filter) -> bool {
    filter.to_string().to_ascii_lowercase().contains("members")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(f: &str) -> (Vec<UserCond>, bool) {
        user_conditions(&parse_filter(f).unwrap())
    }

    #[test]
    fn entra_and_okta_filters_become_sql() {
        assert_eq!(
            users("userName eq \"A@x\""),
            (vec![UserCond::Upn("A@x".into())], true)
        );
        assert_eq!(
            users("emails[type eq \"work\"].value eq \"a@x\""),
            (vec![UserCond::Email("a@x".into())], true)
        );
        assert_eq!(
            users("externalId eq \"e1\" and active eq true"),
            (
                vec![UserCond::ExternalId("e1".into()), UserCond::Active(true)],
                true
            )
        );
        assert!(!users("title co \"x\"").1);
        assert_eq!(users("userName eq \"a\" or userName eq \"b\""), (vec![], false));
        let (c, complete) = users("userName eq \"a\" and title sw \"x\"");
        assert_eq!((c, complete), (vec![UserCond::Upn("a".into())], false));
        let g = group_conditions(&parse_filter("displayName eq \"G\" and members[value eq \"u\"]").unwrap());
        assert_eq!(
            g,
            (
                vec![GroupCond::DisplayName("G".into()), GroupCond::Member("u".into())],
                true
            )
        );
    }
}
