//! Discovery (RFC 7644 section 4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`,
//! describing exactly what this endpoint supports. Writes to them get 405 from the router.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::error::ScimError;
use super::extensions::Extensions;
use super::http::{scim_response, BaseUrl};
use super::list::list_response;
use super::resource::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, IDSYNC_SCHEMA, USER_SCHEMA};
use super::schemas::{enterprise_schema, group_schema, idsync_schema, user_schema};
use super::state::ScimState;
use crate::config::scim_extensions::ExtensionResource;

pub async fn service_provider_config(BaseUrl(base): BaseUrl) -> Response {
    scim_response(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": 1000 },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": concat!(
                    "A secret created with `idsync scim-token create`, ",
                    "sent as `Authorization: Bearer <token>`."
                ),
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            },
        }),
    )
}

/// `schemaExtensions` of a resource type: the built-in ones and the configured ones.
fn extensions_of(exts: &Extensions, resource: ExtensionResource, builtin: &[&str]) -> Value {
    let mut out: Vec<Value> = builtin
        .iter()
        .map(|s| json!({ "schema": s, "required": false }))
        .collect();
    out.extend(
        exts.of(resource)
            .map(|e| json!({ "schema": e.schema, "required": e.required })),
    );
    Value::Array(out)
}

fn resource_type_list(base: &str, exts: &Extensions) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "User accounts",
            "schema": USER_SCHEMA,
            "schemaExtensions": extensions_of(exts, ExtensionResource::User, &[ENTERPRISE_SCHEMA, IDSYNC_SCHEMA]),
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Groups of users",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": extensions_of(exts, ExtensionResource::Group, &[]),
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

pub async fn resource_types(State(state): State<ScimState>, BaseUrl(base): BaseUrl) -> Response {
    let list = resource_type_list(&base, state.extensions());
    scim_response(StatusCode::OK, &list_response(list.len() as u64, 0, list))
}

pub async fn resource_type(
    State(state): State<ScimState>,
    Path(id): Path<String>,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ScimError> {
    resource_type_list(&base, state.extensions())
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&id)))
        .map(|r| scim_response(StatusCode::OK, &r))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {id:?}")))
}

/// Every schema (RFC 7643 section 7) with its `meta`.
fn schema_list(base: &str, exts: &Extensions) -> Vec<Value> {
    [
        user_schema(),
        enterprise_schema(),
        idsync_schema(),
        group_schema(),
    ]
    .into_iter()
    .chain(exts.schemas())
    .map(|mut s| {
        let id = s["id"].as_str().unwrap_or_default().to_owned();
        s["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"]);
        s["meta"] = json!({ "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") });
        s
    })
    .collect()
}

pub async fn schemas(State(state): State<ScimState>, BaseUrl(base): BaseUrl) -> Response {
    let list = schema_list(&base, state.extensions());
    scim_response(StatusCode::OK, &list_response(list.len() as u64, 0, list))
}

pub async fn schema(
    State(state): State<ScimState>,
    Path(id): Path<String>,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ScimError> {
    schema_list(&base, state.extensions())
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&id)))
        .map(|s| scim_response(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found(format!("no schema {id:?}")))
}
