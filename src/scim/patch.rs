//! PATCH (RFC 7644 section 3.5.2) on a resource's JSON: `add`, `replace` and `remove`, with
//! and without `path`, value paths, and the quirks of Entra and Okta: capitalised op names,
//! `"False"` strings, path-less values with dotted and URN keys, removal by a value list.
//! The quirks are documented on Microsoft Learn ("Develop and plan provisioning for a SCIM
//! endpoint"; "Known issues and resolutions with SCIM 2.0 protocol compliance of the
//! Microsoft Entra user provisioning service") and in Okta's "SCIM 2.0 protocol reference".

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{parse_path, rfc7643_case_exact, AttrPath, CompValue, CompareOp, PatchPath};
use super::resource::get_ci;

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// One operation of a PATCH request.
#[derive(Debug, Clone)]
pub struct PatchOp {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Reads a PatchOp body. Op names are case-insensitive (Entra sends `Replace`).
pub fn parse_request(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::bad("invalidSyntax", "Operations must be a list of operations"))?;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let op = op
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidSyntax", format!("Operations[{i}] must be an object")))?;
        let name = get_ci(op, "op").and_then(Value::as_str).unwrap_or_default();
        let kind = match name.to_ascii_lowercase().as_str() {
            "add" => Op::Add,
            "replace" => Op::Replace,
            "remove" => Op::Remove,
            _ => {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    format!("Operations[{i}].op must be add, replace or remove, not {name:?}"),
                ))
            }
        };
        let path = match get_ci(op, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.trim().is_empty() => None,
            Some(Value::String(p)) => Some(
                parse_path(p)
                    .map_err(|e| ScimError::bad("invalidPath", format!("Operations[{i}].path {p:?}: {e}")))?,
            ),
            Some(other) => {
                return Err(ScimError::bad(
                    "invalidPath",
                    format!("Operations[{i}].path must be a string, not {other}"),
                ))
            }
        };
        let value = get_ci(op, "value").cloned().filter(|v| !v.is_null());
        if kind != Op::Remove && value.is_none() {
            return Err(ScimError::bad(
                "invalidValue",
                format!("Operations[{i}] ({name}) needs a value"),
            ));
        }
        if kind == Op::Remove && path.is_none() {
            return Err(ScimError::bad(
                "noTarget",
                format!("Operations[{i}] (remove) needs a path"),
            ));
        }
        out.push(PatchOp {
            op: kind,
            path,
            value,
        });
    }
    Ok(out)
}

/// Applies the operations to a resource's JSON, in order. `urns` are the extension schemas
/// of the resource type, which a path may name as a whole.
pub fn apply(resource: &mut Value, ops: &[PatchOp], urns: &[String]) -> Result<(), ScimError> {
    for op in ops {
        match &op.path {
            Some(path) => match whole_extension(path, urns) {
                Some(urn) => apply_extension(object_mut(resource)?, op.op, urn, op.value.as_ref())?,
                None => apply_path(resource, op.op, path, op.value.as_ref())?,
            },
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "a PATCH operation without a path needs an object value",
                    ));
                };
                for (key, value) in values {
                    let known = urns.iter().any(|u| u.eq_ignore_ascii_case(key));
                    if (known || is_extension_urn(key)) && value.is_object() {
                        // `"urn:...:enterprise:2.0:User": {"department": "x"}`.
                        let ext = slot(object_mut(resource)?, key);
                        if !ext.is_object() {
                            *ext = Value::Object(Map::new());
                        }
                        if let (Some(target), Value::Object(inner)) = (ext.as_object_mut(), value) {
                            for (k, v) in inner {
                                *slot(target, k) = v.clone();
                            }
                        }
                        continue;
                    }
                    // Dotted and URN keys (`name.givenName`) are paths.
                    let path = parse_path(key).map_err(|e| {
                        ScimError::bad("invalidPath", format!("attribute {key:?} in the value: {e}"))
                    })?;
                    apply_path(resource, op.op, &path, Some(value))?;
                }
            }
        }
    }
    Ok(())
}

/// The extension URN a path names as a whole (`"path": "urn:...:enterprise:2.0:User"`),
/// which the path grammar reads as the attribute `User` of the schema `urn:...:2.0`.
fn whole_extension<'u>(path: &PatchPath, urns: &'u [String]) -> Option<&'u str> {
    let attr = &path.attr;
    if attr.sub_attr.is_some() || path.value_filter.is_some() || path.sub_attr.is_some() {
        return None;
    }
    let uri = attr.uri.as_deref()?;
    let full = format!("{uri}:{}", attr.attr);
    urns.iter()
        .find(|u| u.eq_ignore_ascii_case(&full))
        .map(String::as_str)
}

/// `remove` drops the extension; `add` and `replace` set the sub-attributes the value names
/// and leave the others (RFC 7644 sections 3.5.2.1 and 3.5.2.3).
fn apply_extension(
    root: &mut Map<String, Value>,
    op: Op,
    urn: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if op == Op::Remove {
        remove_ci(root, urn);
        return Ok(());
    }
    let Some(Value::Object(values)) = value else {
        return Err(ScimError::bad(
            "invalidValue",
            format!("Bad value type for attribute {urn}: the value must be an object"),
        ));
    };
    let ext = slot(root, urn);
    if !ext.is_object() {
        *ext = Value::Object(Map::new());
    }
    let target = object_mut(ext)?;
    for (k, v) in values {
        if !k.eq_ignore_ascii_case("schemas") {
            *slot(target, k) = v.clone();
        }
    }
    Ok(())
}

fn is_extension_urn(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.starts_with("urn:")
        && !lower.starts_with("urn:ietf:params:scim:schemas:core:")
        && parse_path(key).is_err()
}

fn object_mut(v: &mut Value) -> Result<&mut Map<String, Value>, ScimError> {
    v.as_object_mut()
        .ok_or_else(|| ScimError::internal("the resource is not a JSON object"))
}

/// The entry for `name`, matched case-insensitively, created (null) when absent.
fn slot<'m>(obj: &'m mut Map<String, Value>, name: &str) -> &'m mut Value {
    let key = obj
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned());
    obj.entry(key).or_insert(Value::Null)
}

fn remove_ci(obj: &mut Map<String, Value>, name: &str) {
    if let Some(key) = obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned() {
        obj.remove(&key);
    }
}

/// The object holding the attribute: the resource, or an extension's object.
fn container<'v>(resource: &'v mut Value, attr: &AttrPath) -> Result<&'v mut Map<String, Value>, ScimError> {
    let root = object_mut(resource)?;
    if attr.is_core() {
        return Ok(root);
    }
    let uri = attr.uri.clone().unwrap_or_default();
    let ext = slot(root, &uri);
    if !ext.is_object() {
        *ext = Value::Object(Map::new());
    }
    object_mut(ext)
}

fn apply_path(
    resource: &mut Value,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let attr = &path.attr;
    let holder = container(resource, attr)?;
    if let Some(filter) = &path.value_filter {
        return apply_filtered(holder, op, path, filter, value);
    }
    // `name.givenName`: the sub-attribute of a complex attribute.
    if let Some(sub) = &attr.sub_attr {
        let parent = slot(holder, &attr.attr);
        if op == Op::Remove {
            if let Some(p) = parent.as_object_mut() {
                remove_ci(p, sub);
            }
            return Ok(());
        }
        if !parent.is_object() {
            *parent = Value::Object(Map::new());
        }
        let parent = object_mut(parent)?;
        *slot(parent, sub) = value.cloned().unwrap_or(Value::Null);
        return Ok(());
    }
    match op {
        Op::Remove => {
            // Entra: `{"op":"Remove","path":"members","value":[{"value":"id"}]}` removes those.
            if let (Some(Value::Array(list)), Some(Value::Array(gone))) =
                (holder_get(holder, &attr.attr), value)
            {
                let gone: Vec<&Value> = gone.iter().filter_map(|g| g.get("value")).collect();
                let kept: Vec<Value> = list
                    .iter()
                    .filter(|e| !e.get("value").is_some_and(|v| gone.contains(&v)))
                    .cloned()
                    .collect();
                *slot(holder, &attr.attr) = Value::Array(kept);
            } else {
                remove_ci(holder, &attr.attr);
            }
        }
        Op::Replace => *slot(holder, &attr.attr) = value.cloned().unwrap_or(Value::Null),
        Op::Add => {
            let target = slot(holder, &attr.attr);
            match (target, value) {
                (Value::Array(list), Some(Value::Array(more))) => {
                    // One primary value at most (RFC 7643 section 2.4): a new primary demotes the old.
                    if more.iter().any(is_primary) {
                        for e in list.iter_mut().filter(|e| is_primary(e)) {
                            if let Some(e) = e.as_object_mut() {
                                remove_ci(e, "primary");
                            }
                        }
                    }
                    for v in more {
                        if !list.contains(v) {
                            list.push(v.clone());
                        }
                    }
                }
                (target @ Value::Null, Some(v)) => *target = v.clone(),
                (Value::Object(obj), Some(Value::Object(more))) => {
                    for (k, v) in more {
                        *slot(obj, k) = v.clone();
                    }
                }
                (target, Some(v)) => *target = v.clone(),
                (_, None) => {}
            }
        }
    }
    Ok(())
}

fn is_primary(v: &Value) -> bool {
    v.as_object().and_then(|o| get_ci(o, "primary")).is_some_and(|p| {
        p == &Value::Bool(true) || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
    })
}

fn holder_get<'m>(holder: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    get_ci(holder, name)
}

/// `emails[type eq "work"].value` and `members[value eq "x"]`.
fn apply_filtered(
    holder: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    filter: &super::filter::Filter,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let attr = &path.attr;
    let list = slot(holder, &attr.attr);
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    let Value::Array(elements) = list else {
        return Err(ScimError::bad(
            "invalidPath",
            format!("{path}: {} is not multi-valued", attr.attr),
        ));
    };
    let selected: Vec<usize> = elements
        .iter()
        .enumerate()
        .filter(|(_, e)| filter.matches_element(e, attr, &rfc7643_case_exact))
        .map(|(i, _)| i)
        .collect();
    match (op, &path.sub_attr) {
        (Op::Remove, None) => {
            let mut i = 0;
            elements.retain(|_| {
                let keep = !selected.contains(&i);
                i += 1;
                keep
            });
        }
        (Op::Remove, Some(sub)) => {
            for &i in &selected {
                if let Some(e) = elements[i].as_object_mut() {
                    remove_ci(e, sub);
                }
            }
        }
        (_, sub) => {
            let value = value.cloned().unwrap_or(Value::Null);
            if selected.is_empty() {
                // Entra replaces `emails[type eq "work"].value` on users without a work email:
                // create the element the filter describes.
                let Some(mut element) = element_from_filter(filter) else {
                    return Err(ScimError::bad(
                        "noTarget",
                        format!("{path}: no element matches the filter"),
                    ));
                };
                match sub {
                    Some(sub) => {
                        element.insert(sub.clone(), value);
                    }
                    None => {
                        if let Value::Object(v) = value {
                            element.extend(v);
                        }
                    }
                }
                elements.push(Value::Object(element));
                return Ok(());
            }
            for &i in &selected {
                match (sub, &mut elements[i]) {
                    (Some(sub), Value::Object(e)) => *slot(e, sub) = value.clone(),
                    (None, Value::Object(e)) => {
                        if let Value::Object(v) = &value {
                            for (k, v) in v {
                                *slot(e, k) = v.clone();
                            }
                        }
                    }
                    (_, other) => *other = value.clone(),
                }
            }
        }
    }
    Ok(())
}

/// The element `type eq "work" and primary eq true` describes, for an add into an empty list.
fn element_from_filter(filter: &super::filter::Filter) -> Option<Map<String, Value>> {
    let comparisons = filter.as_simple_comparisons(&|_| false)?;
    let mut out = Map::new();
    for (path, op, value) in comparisons {
        if op != CompareOp::Eq || path.sub_attr.is_some() {
            return None;
        }
        let v = match value {
            CompValue::Str(s) => Value::String(s.clone()),
            CompValue::Bool(b) => Value::Bool(*b),
            CompValue::Number(n) => Value::Number(n.clone()),
            CompValue::Null => return None,
        };
        out.insert(path.attr.clone(), v);
    }
    Some(out)
}
