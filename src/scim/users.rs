//! `/Users`: create, read, list, replace, patch and delete.

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use idsync_source::ChangeSet;
use serde_json::Value;

use super::conditions::user_conditions;
use super::error::ScimError;
use super::extensions::Extensions;
use super::filter::Filter;
use super::http::{json_body, resource_response, BaseUrl, IfMatch};
use super::list::{ListParams, Listed};
use super::patch;
use super::push::{ensure_linked, keys_for, push};
use super::resource::{etag, generated_key, project, user_json, UserInput, ENTERPRISE_SCHEMA, IDSYNC_SCHEMA};
use super::state::ScimState;
use crate::config::scim_extensions::ExtensionResource;
use crate::config::ScimDelete;
use crate::planner::PlanSettings;
use crate::store::scim::{self as sstore, ScimUserRow, UserCond, SCIM_SOURCE};
use crate::store::Conn;

fn missing(id: &str) -> ScimError {
    ScimError::not_found(format!("no user has id {id:?}"))
}

/// Who may change a user through SCIM (README, "SCIM", "Who may change what"): a user
/// another source owns (a pull connector) is read-only here, 400 `mutability` naming the
/// owner (RFC 7644 section 3.12: the request tried to modify what the client may not). A
/// local user (no source) is adopted by POST, PUT or PATCH, but not removed by a DELETE
/// before SCIM ever provisioned it: the application's own users are not the client's to
/// archive. 400 and not 404, since a GET of the same id answers the user.
fn check_owner(db: &mut Conn<'_>, row: &ScimUserRow, deleting: bool) -> Result<(), ScimError> {
    match row.source.as_deref() {
        Some(SCIM_SOURCE) => Ok(()),
        Some(other) => Err(ScimError::bad(
            "mutability",
            format!(
                "user {} is managed by the connector {other:?}, not through SCIM",
                row.scim_id
            ),
        )),
        None if deleting && db.scim_link_of(row.id)?.is_none() => Err(ScimError::bad(
            "mutability",
            format!(
                "user {} is a local user that SCIM never provisioned; \
                 SCIM deletes only the users it provisioned or adopted",
                row.scim_id
            ),
        )),
        None => Ok(()),
    }
}

/// The schema URNs a User PATCH may name as a whole (`path` = the URN).
fn user_extension_urns(exts: &Extensions) -> Vec<String> {
    let mut urns = vec![ENTERPRISE_SCHEMA.to_owned(), IDSYNC_SCHEMA.to_owned()];
    urns.extend(exts.of(ExtensionResource::User).map(|e| e.schema.clone()));
    urns
}

fn user_response(status: StatusCode, row: &ScimUserRow, base: &str) -> Response {
    let location = format!("{base}/Users/{}", row.scim_id);
    let mut json = user_json(row, base);
    project(&mut json, &[], &[]);
    resource_response(status, &json, &etag(row.updated_at), &location)
}

/// Users in lists and searches.
pub struct Users;

impl Listed for Users {
    type Cond = UserCond;

    fn conditions(filter: &Filter, exts: &Extensions) -> (Vec<UserCond>, bool) {
        user_conditions(filter, exts)
    }

    fn page(
        db: &mut Conn<'_>,
        conds: &[UserCond],
        (offset, count): (u64, u64),
        base: &str,
        _expand: bool,
    ) -> Result<(u64, Vec<Value>), ScimError> {
        let page = db.list_users(conds, offset, count)?;
        Ok((page.total, page.rows.iter().map(|r| user_json(r, base)).collect()))
    }
}

pub async fn create(
    state: ScimState,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let input = UserInput::from_json(&body, state.extensions())?;
    input.check_limits(None)?;
    let row = state
        .write(move |db| {
            let key = input.external_id.clone().unwrap_or_else(generated_key);
            if let Some(u) = db.user_by_link(&key)? {
                if let Some((_, false)) = db.scim_link_of(u.id)? {
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
            db.user_by_link(&key)?
                .ok_or_else(|| ScimError::internal("the created user cannot be read back"))
        })
        .await?;
    Ok(user_response(StatusCode::CREATED, &row, &base))
}

pub async fn get_one(
    state: ScimState,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query, state.max_results())?;
    let lookup = id.clone();
    let row = state
        .read(move |db| Ok(db.user_by_scim_id(&lookup)?))
        .await?
        .ok_or_else(|| missing(&id))?;
    let mut json = user_json(&row, &base);
    project(&mut json, &params.attributes, &params.excluded);
    Ok(resource_response(
        StatusCode::OK,
        &json,
        &etag(row.updated_at),
        "",
    ))
}

/// Writes `input` over the user `id` (PUT, and PATCH after applying its operations).
async fn write_existing(
    state: &ScimState,
    id: String,
    headers: &HeaderMap,
    base: String,
    change: impl Fn(&ScimUserRow, &str) -> Result<UserInput, ScimError> + Send + Sync + 'static,
) -> Result<ScimUserRow, ScimError> {
    let if_match = IfMatch::from_headers(headers);
    state
        .write(move |db| {
            let row = db.user_by_scim_id(&id)?.ok_or_else(|| missing(&id))?;
            if_match.check(&etag(row.updated_at))?;
            check_owner(db, &row, false)?;
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
            db.user_by_scim_id(&id)?.ok_or_else(|| missing(&id))
        })
        .await
}

pub async fn replace(
    state: ScimState,
    Path(id): Path<String>,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let input = UserInput::from_json(&body, state.extensions())?;
    input.check_limits(None)?;
    let row = write_existing(&state, id, &headers, base.clone(), move |_, _| Ok(input.clone())).await?;
    Ok(user_response(StatusCode::OK, &row, &base))
}

pub async fn patch(
    state: ScimState,
    Path(id): Path<String>,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    body: Body,
) -> Result<Response, ScimError> {
    let body = json_body(&state, &headers, body).await?;
    let ops = patch::parse_request(&body)?;
    let exts = state.extensions().clone();
    let row = write_existing(&state, id, &headers, base.clone(), move |row, base| {
        let mut json = user_json(row, base);
        let before = UserInput::from_json(&json, &exts)?;
        let urns = user_extension_urns(&exts);
        patch::apply(&mut json, &ops, &urns)?;
        let input = UserInput::from_json(&json, &exts)?;
        input.check_limits(Some(&before))?;
        Ok(input)
    })
    .await?;
    Ok(user_response(StatusCode::OK, &row, &base))
}

pub async fn delete(
    state: ScimState,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let mode = state.delete_mode();
    let if_match = IfMatch::from_headers(&headers);
    state
        .write(move |db| {
            let row = db.user_by_scim_id(&id)?.ok_or_else(|| missing(&id))?;
            if_match.check(&etag(row.updated_at))?;
            check_owner(db, &row, true)?;
            let key = ensure_linked(db, &row)?;
            remove(db, &row, &key, mode)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// DELETE: the source removed the identity, like a pull-side removal (the user is archived
/// when SCIM owns it); `hard` then purges the row at once, through the planner's retention.
fn remove(db: &mut Conn<'_>, row: &ScimUserRow, key: &str, mode: ScimDelete) -> Result<(), ScimError> {
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
