//! Filters into SQL (RFC 7644 section 3.4.2.2): the conditions the store can answer for the
//! parts of a filter it has columns for, with what cannot be translated left to
//! [`Filter::matches`].

use super::extensions::Extensions;
use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::resource::ENTERPRISE_SCHEMA;
use crate::config::scim_extensions::{AttributeType, ExtensionResource};
use crate::store::scim::{GroupCond, KeyMatch, UserCond};

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

/// `userName` and the work email under `eq`, `sw`, `co` and `ew`: compared by the matcher's
/// key, as the uniqueness check compares them (both are caseExact false, RFC 7643 section
/// 4.1.1 and 4.1.2).
fn key_condition(part: &Filter) -> Option<UserCond> {
    let Filter::Compare {
        path,
        op,
        value: CompValue::Str(v),
    } = part
    else {
        return None;
    };
    let m = match op {
        CompareOp::Eq => KeyMatch::Eq,
        CompareOp::Sw => KeyMatch::StartsWith,
        CompareOp::Co => KeyMatch::Contains,
        CompareOp::Ew => KeyMatch::EndsWith,
        _ => return None,
    };
    if path.is("userName", None) {
        Some(UserCond::Upn(m, v.clone()))
    } else if path.is("emails", Some("value")) {
        Some(UserCond::Email(m, v.clone()))
    } else {
        None
    }
}

/// The enterprise extension's string attributes kept in `users.attributes`.
const ENTERPRISE_KEPT: [&str; 4] = ["employeeNumber", "costCenter", "organization", "division"];

/// A single-valued string extension attribute kept in the `attributes` column: its URN and
/// name as the schema spells them (the SQL quotes those, never the request's text) and
/// whether it is case-exact.
fn kept_string(
    path: &AttrPath,
    resource: ExtensionResource,
    exts: &Extensions,
) -> Option<(String, String, bool)> {
    let uri = path.uri.as_deref()?;
    if path.sub_attr.is_some() {
        return None;
    }
    if resource == ExtensionResource::User && uri.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
        let name = ENTERPRISE_KEPT
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&path.attr))?;
        return Some((ENTERPRISE_SCHEMA.to_owned(), (*name).to_owned(), false));
    }
    let (ext, a) = exts.attribute(resource, uri, &path.attr)?;
    (a.kind == AttributeType::String && !a.multi_valued)
        .then(|| (ext.schema.clone(), a.name.clone(), a.case_exact))
}

/// SQL conditions for the parts of a user filter that have them; `true` when every part
/// did (no evaluation in memory needed).
pub fn user_conditions(filter: &Filter, exts: &Extensions) -> (Vec<UserCond>, bool) {
    let mut conds = Vec::new();
    let mut complete = true;
    for part in conjuncts(filter) {
        let cond = if let Some(c) = key_condition(part) {
            Some(c)
        } else if let Some((path, v)) = eq_str(part) {
            let v = v.to_owned();
            if path.is("externalId", None) {
                Some(UserCond::ExternalId(v))
            } else if path.is("id", None) {
                Some(UserCond::ScimId(v))
            } else if path.is("displayName", None) {
                Some(UserCond::DisplayName(v))
            } else {
                kept_string(path, ExtensionResource::User, exts).map(|(urn, name, case_exact)| {
                    UserCond::Kept {
                        urn: Some(urn),
                        name,
                        case_exact,
                        value: v,
                    }
                })
            }
        } else {
            match part {
                Filter::Compare {
                    path,
                    op: CompareOp::Eq,
                    value: CompValue::Bool(b),
                } if path.is("active", None) => Some(UserCond::Active(*b)),
                Filter::ValuePath { attr, filter } => {
                    email_value_path(attr, filter).map(|v| UserCond::Email(KeyMatch::Eq, v))
                }
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
pub fn group_conditions(filter: &Filter, exts: &Extensions) -> (Vec<GroupCond>, bool) {
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
                kept_string(path, ExtensionResource::Group, exts).map(|(urn, name, case_exact)| {
                    GroupCond::Kept {
                        urn: Some(urn),
                        name,
                        case_exact,
                        value: v,
                    }
                })
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

/// Whether the filter mentions `attr` (then in-memory evaluation needs its values).
pub fn mentions(filter: &Filter, attr: &str) -> bool {
    filter
        .to_string()
        .to_ascii_lowercase()
        .contains(&attr.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::super::filter::parse_filter;
    use super::*;

    fn users(f: &str) -> (Vec<UserCond>, bool) {
        user_conditions(&parse_filter(f).unwrap(), &Extensions::default())
    }

    #[test]
    fn entra_and_okta_filters_become_sql() {
        assert_eq!(
            users("userName eq \"A@x\""),
            (vec![UserCond::Upn(KeyMatch::Eq, "A@x".into())], true)
        );
        assert_eq!(
            users("emails[type eq \"work\"].value eq \"a@x\""),
            (vec![UserCond::Email(KeyMatch::Eq, "a@x".into())], true)
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
        assert_eq!(
            (c, complete),
            (vec![UserCond::Upn(KeyMatch::Eq, "a".into())], false)
        );
        let g = group_conditions(
            &parse_filter("displayName eq \"G\" and members[value eq \"u\"]").unwrap(),
            &Extensions::default(),
        );
        assert_eq!(
            g,
            (
                vec![GroupCond::DisplayName("G".into()), GroupCond::Member("u".into())],
                true
            )
        );
    }
}
