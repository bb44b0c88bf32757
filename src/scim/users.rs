//! `/Users`: create, read, list, replace, patch and delete.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use idsync_source::ChangeSet;
use serde_json::Value;

use super::error::ScimError;
use super::filter::rfc7643_case_exact;
use super::patch;
use super::push::{ensure_linked, keys_for, push};
use super::resource::{etag, generated_key, project, user_json, UserInput};
use super::search::{list_response, user_conditions, ListParams};
use super::server::{base_url, json_body, scim_response, ScimState};
use crate::config::ScimDelete;
use crate::planner::PlanSettings;
use crate::store::scim::{self as sstore, ScimUserRow};
use crate::store::Db;

fn missing(id: &str) -> ScimError {
    ScimError::not_found(format!("no user has id {id:?}"))
}

fn user_response(status: StatusCode, row: &ScimUserRow, headers: &HeaderMap) -> Response {
    let base = base_url(headers);
    let mut response = scim_response(status, &user_json(row, &base));
    if let Ok(v) = HeaderValue::from_str(&etag(row.updated_at)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&format!("{base}/Users/{}", row.scim_id)) {
            response.headers_mut().insert(header::LOCATION, v);
        }
    }
    response
}

/// 412 when `If-Match` names another version.
fn check_if_match(headers: &HeaderMap, row: &ScimUserRow) -> Result<(), ScimError> {
    if let Some(expected) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        let current = etag(row.updated_at);
        let ok = expected.split(',').map(str::trim).any(|e| {
            e == "*" || e == current || e.trim_start_matches("W/") == current.trim_start_matches("W/")
        });
        if !ok {
            return Err(ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                format!("If-Match {expected} does not match the current version {current}"),
            ));
        }
    }
    Ok(())
}

pub async fn create(
    State(state): State<ScimState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let input = UserInput::from_json(&body)?;
    let row = state
        .write(move |db| {
            let key = input.external_id.clone().unwrap_or_else(generated_key);
            if let Some(u) = sstore::user_by_link(db, &key)? {
                if let Some((_, false)) = sstore::scim_link_of(db, u.id)? {
                    return Err(ScimError::uniqueness(format!(
                        "externalId {key:?} is already provisioned as user {}",
                        u.scim_id
                    )));
                }
            }
            let record = input.to_record(&key);
            let keys = keys_for(&record, None);
            push(
                db,
                ChangeSet {
                    users: vec![record],
                    ..ChangeSet::default()
                },
                &keys,
                &PlanSettings::default(),
            )?;
            sstore::user_by_link(db, &key)?
                .ok_or_else(|| ScimError::internal("the created user cannot be read back"))
        })
        .await?;
    Ok(user_response(StatusCode::CREATED, &row, &headers))
}

pub async fn get_one(
    State(state): State<ScimState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query, state.max_results())?;
    let lookup = id.clone();
    let row = state
        .read(move |db| Ok(sstore::user_by_scim_id(db, &lookup)?))
        .await?
        .ok_or_else(|| missing(&id))?;
    let mut json = user_json(&row, &base_url(&headers));
    project(&mut json, &params.attributes, &params.excluded);
    let mut response = scim_response(StatusCode::OK, &json);
    if let Ok(v) = HeaderValue::from_str(&etag(row.updated_at)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

pub async fn list(
    State(state): State<ScimState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query, state.max_results())?;
    run_list(state, params, headers).await
}

pub async fn search(
    State(state): State<ScimState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let params = ListParams::from_body(&body, state.max_results())?;
    run_list(state, params, headers).await
}

async fn run_list(state: ScimState, params: ListParams, headers: HeaderMap) -> Result<Response, ScimError> {
    let offset = params.offset;
    let (total, resources) = find(&state, params, &headers).await?;
    Ok(scim_response(
        StatusCode::OK,
        &list_response(total, offset, resources),
    ))
}

/// One page of matching resources, projected, and the total that matched.
pub(super) async fn find(
    state: &ScimState,
    params: ListParams,
    headers: &HeaderMap,
) -> Result<(u64, Vec<Value>), ScimError> {
    let base = base_url(headers);
    let (conds, complete) = match &params.filter {
        Some(f) => user_conditions(f),
        None => (Vec::new(), true),
    };
    let filter = params.filter.clone();
    let (offset, count) = (params.offset, params.count);
    let base2 = base.clone();
    let (total, resources) = state
        .read(move |db| {
            if complete {
                let page = sstore::list_users(db, &conds, offset, count)?;
                let resources: Vec<Value> = page.rows.iter().map(|r| user_json(r, &base2)).collect();
                return Ok((page.total, resources));
            }
            // The SQL narrows, the evaluator decides.
            let all = sstore::list_users(db, &conds, 0, u64::MAX >> 2)?;
            let matched: Vec<Value> = all
                .rows
                .iter()
                .map(|r| user_json(r, &base2))
                .filter(|j| filter.as_ref().is_none_or(|f| f.matches(j, &rfc7643_case_exact)))
                .collect();
            let total = matched.len() as u64;
            Ok((
                total,
                matched
                    .into_iter()
                    .skip(offset as usize)
                    .take(count as usize)
                    .collect(),
            ))
        })
        .await?;
    let resources = resources
        .into_iter()
        .map(|mut j| {
            project(&mut j, &params.attributes, &params.excluded);
            j
        })
        .collect();
    Ok((total, resources))
}

/// Writes `input` over the user `id` (PUT, and PATCH after applying its operations).
async fn write_existing(
    state: &ScimState,
    id: String,
    headers: &HeaderMap,
    change: impl FnOnce(&ScimUserRow, &str) -> Result<UserInput, ScimError> + Send + 'static,
) -> Result<ScimUserRow, ScimError> {
    let if_match = headers.clone();
    let base = base_url(headers);
    state
        .write(move |db| {
            let row = sstore::user_by_scim_id(db, &id)?.ok_or_else(|| missing(&id))?;
            check_if_match(&if_match, &row)?;
            let input = change(&row, &base)?;
            let key = ensure_linked(db, &row)?;
            let record = input.to_record(&key);
            let keys = keys_for(&record, Some(row.id));
            push(
                db,
                ChangeSet {
                    users: vec![record],
                    ..ChangeSet::default()
                },
                &keys,
                &PlanSettings::default(),
            )?;
            sstore::user_by_scim_id(db, &id)?.ok_or_else(|| missing(&id))
        })
        .await
}

pub async fn replace(
    State(state): State<ScimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let input = UserInput::from_json(&body)?;
    let row = write_existing(&state, id, &headers, move |_, _| Ok(input)).await?;
    Ok(user_response(StatusCode::OK, &row, &headers))
}

pub async fn patch(
    State(state): State<ScimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let ops = patch::parse_request(&body)?;
    let row = write_existing(&state, id, &headers, move |row, base| {
        let mut json = user_json(row, base);
        patch::apply(&mut json, &ops)?;
        UserInput::from_json(&json)
    })
    .await?;
    Ok(user_response(StatusCode::OK, &row, &headers))
}

pub async fn delete(
    State(state): State<ScimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let mode = state.delete_mode();
    state
        .write(move |db| {
            let row = sstore::user_by_scim_id(db, &id)?.ok_or_else(|| missing(&id))?;
            check_if_match(&headers, &row)?;
            let key = ensure_linked(db, &row)?;
            remove(db, &row, &key, mode)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// DELETE: the source removed the identity, like a pull-side removal (the user is archived
/// when SCIM owns it); `hard` then purges the row at once, through the planner's retention.
fn remove(db: &mut Db, row: &ScimUserRow, key: &str, mode: ScimDelete) -> Result<(), ScimError> {
    let keys = sstore::Keys {
        user_ids: vec![row.id],
        external_ids: vec![key.to_owned()],
        ..sstore::Keys::default()
    };
    push(
        db,
        ChangeSet {
            removed_users: vec![key.to_owned()],
            ..ChangeSet::default()
        },
        &keys,
        &PlanSettings::default(),
    )?;
    if mode == ScimDelete::Hard {
        let settings = PlanSettings {
            delete_archived_after_days: Some(0),
            ..PlanSettings::default()
        };
        push(db, ChangeSet::default(), &keys, &settings)?;
    }
    Ok(())
}
