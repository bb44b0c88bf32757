//! `/Groups`: create, read, list, replace, patch (membership changes touch only the named
//! members) and delete. Groups written through SCIM are read-only in the application.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use idsync_source::{ChangeSet, GroupChange, MembersChange};
use serde_json::Value;

use super::attributes::{kept_group_attributes, KeptAttributes};
use super::conditions::group_conditions;
use super::error::ScimError;
use super::extensions::Extensions;
use super::filter::{CompValue, CompareOp, Filter};
use super::http::{json_body, resource_response, scim_response, BaseUrl, IfMatch};
use super::limits;
use super::list::{returns, ListParams, Listed};
use super::patch::{self, Op, PatchOp};
use super::push::{ensure_linked, push};
use super::resource::{etag, generated_key, get_ci, group_json, project};
use super::state::ScimState;
use crate::config::scim_extensions::ExtensionResource;
use crate::planner::PlanSettings;
use crate::store::scim::{self as sstore, GroupCond, Keys, ScimGroupRow, SCIM_SOURCE};
use crate::store::{self, Conn};
use idsync_source::record::attributes_object;

fn missing(id: &str) -> ScimError {
    ScimError::not_found(format!("no group has id {id:?}"))
}

fn group_response(
    status: StatusCode,
    row: &ScimGroupRow,
    members: Option<&[sstore::MemberRef]>,
    base: &str,
) -> Response {
    let location = format!("{base}/Groups/{}", row.scim_id);
    let json = group_json(row, members, base);
    resource_response(status, &json, &etag(row.updated_at), &location)
}

/// Groups in lists and searches; their members are loaded only when asked for.
pub struct Groups;

impl Listed for Groups {
    type Cond = GroupCond;

    const EXPANDED: Option<&'static str> = Some("members");

    fn conditions(filter: &Filter, exts: &Extensions) -> (Vec<GroupCond>, bool) {
        group_conditions(filter, exts)
    }

    fn page(
        db: &mut Conn<'_>,
        conds: &[GroupCond],
        (offset, count): (u64, u64),
        base: &str,
        expand: bool,
    ) -> Result<(u64, Vec<Value>), ScimError> {
        let page = db.list_groups(conds, offset, count)?;
        let mut members = if expand {
            let ids: Vec<i64> = page.rows.iter().map(|g| g.id).collect();
            db.members_of(&ids)?
        } else {
            HashMap::new()
        };
        let resources = page
            .rows
            .iter()
            .map(|g| {
                let m = expand.then(|| members.remove(&g.id).unwrap_or_default());
                group_json(g, m.as_deref(), base)
            })
            .collect();
        Ok((page.total, resources))
    }
}

/// The member ids of a `members` value: `[{"value": "id"}, ...]` (a bare id is accepted too).
fn member_ids(value: &Value, label: &str) -> Result<Vec<String>, ScimError> {
    let list = match value {
        Value::Array(list) => list.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        Value::Null => &[],
        other => {
            return Err(ScimError::bad(
                "invalidValue",
                format!("{label} must be a list of members, not {other}"),
            ))
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let id = match m {
                Value::String(s) => s.as_str(),
                Value::Object(o) => get_ci(o, "value").and_then(Value::as_str).ok_or_else(|| {
                    ScimError::bad("invalidValue", format!("{label}[{i}].value must be a user id"))
                })?,
                other => {
                    return Err(ScimError::bad(
                        "invalidValue",
                        format!("{label}[{i}] must be an object, not {other}"),
                    ))
                }
            };
            limits::identifier(&format!("{label}[{i}].value"), id)?;
            Ok(id.to_owned())
        })
        .collect()
}

/// The `scim` link keys of the members (linking users the client never wrote).
fn member_keys(db: &mut Conn<'_>, ids: &[String]) -> Result<HashMap<String, String>, ScimError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found = db.scim_keys_of(ids)?;
    let mut out = HashMap::with_capacity(ids.len());
    for id in ids {
        let (_, key) = found
            .get(id)
            .ok_or_else(|| ScimError::bad("invalidValue", format!("members: no user has id {id:?}")))?;
        let key = match key {
            Some(k) => k.clone(),
            None => {
                let row = db.user_by_scim_id(id)?.ok_or_else(|| {
                    ScimError::bad("invalidValue", format!("members: no user has id {id:?}"))
                })?;
                ensure_linked(db, &row)?
            }
        };
        out.insert(id.clone(), key);
    }
    Ok(out)
}

/// The link key of a group SCIM may write: its own, or a local group it takes over.
fn owned_key(db: &mut Conn<'_>, row: &ScimGroupRow) -> Result<String, ScimError> {
    match (row.source.as_deref(), &row.external_id) {
        (Some(SCIM_SOURCE), Some(key)) => Ok(key.clone()),
        (None, _) => {
            let key = generated_key();
            let keys = Keys {
                group_ids: vec![row.id],
                ..Keys::default()
            };
            let settings = PlanSettings {
                match_groups_by_name: true,
                ..PlanSettings::default()
            };
            let change = GroupChange {
                external_id: key.clone(),
                display_name: Some(row.display_name.clone()),
                members: MembersChange::Unchanged,
            };
            push(
                db,
                ChangeSet {
                    groups: vec![change],
                    ..ChangeSet::default()
                },
                &keys,
                &settings,
            )?;
            Ok(key)
        }
        (Some(other), _) => Err(ScimError::bad(
            "mutability",
            format!(
                "group {} is managed by the connector {other:?}, not through SCIM",
                row.scim_id
            ),
        )),
    }
}

/// Applies a group change: `name` (if any) and the membership change in SCIM ids.
fn write_group(
    db: &mut Conn<'_>,
    key: &str,
    name: Option<String>,
    members: Members,
) -> Result<(), ScimError> {
    let all: Vec<String> = match &members {
        Members::Unchanged => Vec::new(),
        Members::Replace(ids) => ids.clone(),
        Members::Delta { added, removed } => added.iter().chain(removed).cloned().collect(),
    };
    let keys_of = member_keys(db, &all)?;
    let k = |ids: &[String]| -> Vec<String> { ids.iter().filter_map(|i| keys_of.get(i).cloned()).collect() };
    let (change, all_members) = match &members {
        Members::Unchanged => (MembersChange::Unchanged, false),
        Members::Replace(ids) => (MembersChange::Replace(k(ids)), true),
        Members::Delta { added, removed } => (
            MembersChange::Delta {
                added: k(added),
                removed: k(removed),
            },
            false,
        ),
    };
    let keys = Keys {
        external_ids: keys_of.values().cloned().collect(),
        group_external_ids: vec![key.to_owned()],
        all_members,
        ..Keys::default()
    };
    let change = GroupChange {
        external_id: key.to_owned(),
        display_name: name,
        members: change,
    };
    push(
        db,
        ChangeSet {
            groups: vec![change],
            ..ChangeSet::default()
        },
        &keys,
        &PlanSettings::default(),
    )?;
    Ok(())
}

/// A membership change in SCIM user ids.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Members {
    Unchanged,
    Replace(Vec<String>),
    Delta {
        added: Vec<String>,
        removed: Vec<String>,
    },
}

impl Members {
    fn add(&mut self, ids: Vec<String>) {
        match self {
            Members::Unchanged => {
                *self = Members::Delta {
                    added: ids,
                    removed: Vec::new(),
                }
            }
            Members::Replace(list) => {
                list.extend(ids.into_iter().filter(|i| !list.contains(i)).collect::<Vec<_>>())
            }
            Members::Delta { added, removed } => {
                removed.retain(|r| !ids.contains(r));
                added.extend(ids);
            }
        }
    }

    fn remove(&mut self, ids: Vec<String>) {
        match self {
            Members::Unchanged => {
                *self = Members::Delta {
                    added: Vec::new(),
                    removed: ids,
                }
            }
            Members::Replace(list) => list.retain(|m| !ids.contains(m)),
            Members::Delta { added, removed } => {
                added.retain(|a| !ids.contains(a));
                removed.extend(ids);
            }
        }
    }
}

/// What a group body says: display name, external id, members, and what
/// `groups.attributes` keeps.
type GroupInput = (String, Option<String>, Vec<String>, KeptAttributes);

fn group_input(body: &Value, exts: &Extensions) -> Result<GroupInput, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    let name = get_ci(obj, "displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ScimError::bad(
                "invalidValue",
                "displayName is required and must be a non-empty string",
            )
        })?
        .to_owned();
    let external_id = match get_ci(obj, "externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ScimError::bad(
                "invalidValue",
                format!("externalId must be a string, not {other}"),
            ))
        }
    };
    let members = match get_ci(obj, "members") {
        None => Vec::new(),
        Some(v) => member_ids(v, "members")?,
    };
    limits::text("displayName", &name)?;
    if let Some(e) = &external_id {
        limits::identifier("externalId", e)?;
    }
    let kept = kept_group_attributes(obj, exts)?;
    Ok((name, external_id, members, kept))
}

/// Sets the group's kept attributes and reads it back with its members.
fn finish_write(
    db: &mut Conn<'_>,
    row: &ScimGroupRow,
    kept: &KeptAttributes,
) -> Result<(ScimGroupRow, Vec<sstore::MemberRef>), ScimError> {
    db.set_group_attributes(row.id, kept.0.as_deref(), store::now())?;
    let row = db
        .group_by_scim_id(&row.scim_id)?
        .ok_or_else(|| missing(&row.scim_id))?;
    let listed = db.members_of(&[row.id])?.remove(&row.id).unwrap_or_default();
    Ok((row, listed))
}

/// The operations of a PATCH on the kept attributes, applied to what the group keeps now.
fn patched_attributes(
    row: &ScimGroupRow,
    ops: &[PatchOp],
    exts: &Extensions,
) -> Result<KeptAttributes, ScimError> {
    let mut json = Value::Object(attributes_object(row.attributes.as_deref()));
    let urns: Vec<String> = exts
        .of(ExtensionResource::Group)
        .map(|e| e.schema.clone())
        .collect();
    patch::apply(&mut json, ops, &urns)?;
    let obj = json
        .as_object()
        .ok_or_else(|| ScimError::internal("the group's attributes are not an object"))?;
    kept_group_attributes(obj, exts)
}

/// Folds PATCH operations into a new name, a membership change, and the operations on the
/// kept attributes (`externalId`, extension attributes).
fn fold_ops(ops: &[PatchOp]) -> Result<(Option<String>, Members, Vec<PatchOp>), ScimError> {
    let mut name = None;
    let mut members = Members::Unchanged;
    let mut kept_ops = Vec::new();
    let name_of = |v: &Value| -> Result<String, ScimError> {
        let name = v
            .as_str()
            .map(str::to_owned)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                ScimError::bad(
                    "invalidValue",
                    format!("displayName must be a non-empty string, not {v}"),
                )
            })?;
        limits::text("displayName", &name)?;
        Ok(name)
    };
    for op in ops {
        let Some(path) = &op.path else {
            let Some(Value::Object(values)) = &op.value else {
                return Err(ScimError::bad(
                    "invalidValue",
                    "a PATCH operation without a path needs an object value",
                ));
            };
            let mut kept = serde_json::Map::new();
            for (k, v) in values {
                if ["id", "schemas", "meta"]
                    .iter()
                    .any(|n| k.eq_ignore_ascii_case(n))
                {
                    // Read-only: they change nothing (Okta's "SCIM 2.0 protocol reference": a
                    // group rename sends `id` with `displayName`).
                } else if k.eq_ignore_ascii_case("displayName") {
                    name = Some(name_of(v)?);
                } else if k.eq_ignore_ascii_case("members") {
                    let ids = member_ids(v, "members")?;
                    match op.op {
                        Op::Replace => members = Members::Replace(ids),
                        _ => members.add(ids),
                    }
                } else {
                    kept.insert(k.clone(), v.clone());
                }
            }
            if !kept.is_empty() {
                kept_ops.push(PatchOp {
                    op: op.op,
                    path: None,
                    value: Some(Value::Object(kept)),
                });
            }
            continue;
        };
        let attr = &path.attr;
        if attr.is("displayName", None) && path.value_filter.is_none() {
            match (&op.op, &op.value) {
                (Op::Remove, _) => {
                    return Err(ScimError::bad(
                        "mutability",
                        "displayName is required and cannot be removed",
                    ))
                }
                (_, Some(v)) => name = Some(name_of(v)?),
                (_, None) => {}
            }
        } else if attr.is("members", None) || attr.is("members", Some("value")) {
            match (&op.op, &path.value_filter, &op.value) {
                (Op::Remove, Some(filter), _) => {
                    let ids = filter
                        .as_simple_comparisons(&|_| false)
                        .filter(|c| c.len() == 1)
                        .and_then(|c| match c[0] {
                            (p, CompareOp::Eq, CompValue::Str(v)) if p.is("value", None) => Some(v.clone()),
                            _ => None,
                        })
                        .ok_or_else(|| {
                            ScimError::bad(
                                "invalidPath",
                                format!("{path}: only members[value eq \"id\"] is supported"),
                            )
                        })?;
                    members.remove(vec![ids]);
                }
                (Op::Remove, None, Some(v)) => members.remove(member_ids(v, "value")?),
                (Op::Remove, None, None) => members = Members::Replace(Vec::new()),
                (Op::Add, None, Some(v)) => members.add(member_ids(v, "value")?),
                (Op::Replace, None, Some(v)) => members = Members::Replace(member_ids(v, "value")?),
                _ => {
                    return Err(ScimError::bad(
                        "invalidPath",
                        format!("{path}: not supported for {:?}", op.op),
                    ))
                }
            }
        } else if attr.is("id", None) || attr.is("meta", None) {
            return Err(ScimError::bad(
                "mutability",
                format!("{path} is read-only (RFC 7643 section 3.1)"),
            ));
        } else {
            kept_ops.push(op.clone());
        }
    }
    Ok((name, members, kept_ops))
}

pub async fn create(
    state: ScimState,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let (name, external_id, members, kept) = group_input(&body, state.extensions())?;
    let (row, listed) = state
        .write(move |db| {
            let key = external_id.clone().unwrap_or_else(generated_key);
            if let Some(g) = db.group_by_key(&key)? {
                return Err(ScimError::uniqueness(format!(
                    "externalId {key:?} is already provisioned as group {}",
                    g.scim_id
                )));
            }
            write_group(db, &key, Some(name.clone()), Members::Replace(members.clone()))?;
            let row = db
                .group_by_key(&key)?
                .ok_or_else(|| ScimError::internal("the created group cannot be read back"))?;
            finish_write(db, &row, &kept)
        })
        .await?;
    Ok(group_response(StatusCode::CREATED, &row, Some(&listed), &base))
}

pub async fn get_one(
    state: ScimState,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query, state.max_results())?;
    let with_members = returns(&params, "members");
    let lookup = id.clone();
    let (row, members) = state
        .read(move |db| {
            let Some(row) = db.group_by_scim_id(&lookup)? else {
                return Ok(None);
            };
            let members = if with_members {
                Some(db.members_of(&[row.id])?.remove(&row.id).unwrap_or_default())
            } else {
                None
            };
            Ok(Some((row, members)))
        })
        .await?
        .ok_or_else(|| missing(&id))?;
    let mut json = group_json(&row, members.as_deref(), &base);
    project(&mut json, &params.attributes, &params.excluded);
    Ok(scim_response(StatusCode::OK, &json))
}

pub async fn replace(
    state: ScimState,
    Path(id): Path<String>,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let (name, _, members, kept) = group_input(&body, state.extensions())?;
    let if_match = IfMatch::from_headers(&headers);
    let (row, listed) = state
        .write(move |db| {
            let row = db.group_by_scim_id(&id)?.ok_or_else(|| missing(&id))?;
            if_match.check(&etag(row.updated_at))?;
            let key = owned_key(db, &row)?;
            write_group(db, &key, Some(name.clone()), Members::Replace(members.clone()))?;
            finish_write(db, &row, &kept)
        })
        .await?;
    Ok(group_response(StatusCode::OK, &row, Some(&listed), &base))
}

pub async fn patch(
    state: ScimState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let ops = patch::parse_request(&body)?;
    let (name, members, kept_ops) = fold_ops(&ops)?;
    let exts = state.extensions().clone();
    let if_match = IfMatch::from_headers(&headers);
    state
        .write(move |db| {
            let row = db.group_by_scim_id(&id)?.ok_or_else(|| missing(&id))?;
            if_match.check(&etag(row.updated_at))?;
            let key = owned_key(db, &row)?;
            let kept = (!kept_ops.is_empty())
                .then(|| patched_attributes(&row, &kept_ops, &exts))
                .transpose()?;
            write_group(db, &key, name.clone(), members.clone())?;
            if let Some(kept) = kept {
                db.set_group_attributes(row.id, kept.0.as_deref(), store::now())?;
            }
            Ok(())
        })
        .await?;
    // Microsoft Learn, "Develop and plan provisioning for a SCIM endpoint": a group PATCH
    // should answer 204, since a body with all the members is not advisable.
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn delete(
    state: ScimState,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let if_match = IfMatch::from_headers(&headers);
    state
        .write(move |db| {
            let row = db.group_by_scim_id(&id)?.ok_or_else(|| missing(&id))?;
            if_match.check(&etag(row.updated_at))?;
            if row.source.is_none() {
                // The application's own group: PUT and PATCH take it over, DELETE does not
                // remove it (README, "SCIM", who may change what).
                return Err(ScimError::bad(
                    "mutability",
                    format!(
                        "group {} is a local group that SCIM never provisioned; \
                         SCIM deletes only the groups it provisioned or took over",
                        row.scim_id
                    ),
                ));
            }
            let key = owned_key(db, &row)?;
            let keys = Keys {
                group_external_ids: vec![key.clone()],
                ..Keys::default()
            };
            push(
                db,
                ChangeSet {
                    removed_groups: vec![key],
                    ..ChangeSet::default()
                },
                &keys,
                &PlanSettings::default(),
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
