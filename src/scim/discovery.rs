//! Discovery (RFC 7644 section 4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`,
//! describing exactly what this endpoint supports. Writes to them get 405 from the router.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::error::ScimError;
use super::http::{base_url, scim_response};
use super::list::list_response;
use super::resource::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, IDSYNC_SCHEMA, USER_SCHEMA};

pub async fn service_provider_config(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
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

fn resource_type_list(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "User accounts",
            "schema": USER_SCHEMA,
            "schemaExtensions": [
                { "schema": ENTERPRISE_SCHEMA, "required": false },
                { "schema": IDSYNC_SCHEMA, "required": false },
            ],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Groups of users",
            "schema": GROUP_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

pub async fn resource_types(headers: HeaderMap) -> Response {
    let list = resource_type_list(&base_url(&headers));
    scim_response(StatusCode::OK, &list_response(list.len() as u64, 0, list))
}

pub async fn resource_type(Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ScimError> {
    resource_type_list(&base_url(&headers))
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&id)))
        .map(|r| scim_response(StatusCode::OK, &r))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {id:?}")))
}

/// One attribute definition. Every string compares case-insensitively except where noted.
fn attr(name: &str, kind: &str, mutability: &str, required: bool, description: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "description": description,
        "required": required, "caseExact": false, "mutability": mutability,
        "returned": "default", "uniqueness": "none",
    })
}

/// The core User schema (RFC 7643 section 4.1), limited to the attributes the application keeps.
fn user_schema() -> Value {
    let mut user_name = attr(
        "userName",
        "string",
        "readWrite",
        true,
        "The sign-in name (the application's upn); unique, case-insensitive.",
    );
    user_name["uniqueness"] = json!("server");
    let mut name = attr("name", "complex", "readWrite", false, "The person's name.");
    name["subAttributes"] = json!([
        attr("givenName", "string", "readWrite", false, "Given name."),
        attr("familyName", "string", "readWrite", false, "Family name."),
    ]);
    let mut emails = attr(
        "emails",
        "complex",
        "readWrite",
        false,
        "Email addresses; the application keeps one: the primary one, else the work one, else the first.",
    );
    emails["multiValued"] = json!(true);
    emails["subAttributes"] = json!([
        attr("value", "string", "readWrite", false, "The address."),
        attr("type", "string", "readWrite", false, "Returned as \"work\"."),
        attr("primary", "boolean", "readWrite", false, "Returned as true."),
    ]);
    let mut external_id = attr(
        "externalId",
        "string",
        "readWrite",
        false,
        "The client's id for the user; links the pushed identity.",
    );
    external_id["caseExact"] = json!(true);
    json!({
        "id": USER_SCHEMA, "name": "User", "description": "User account",
        "attributes": [
            user_name,
            external_id,
            name,
            attr("displayName", "string", "readWrite", false, "Display name."),
            emails,
            attr("title", "string", "readWrite", false, "Job title."),
            attr("preferredLanguage", "string", "readWrite", false, "Preferred language, e.g. en-GB."),
            attr("active", "boolean", "readWrite", false, "false archives the user; true restores it."),
        ],
    })
}

/// The core Group schema (RFC 7643 section 4.2).
fn group_schema() -> Value {
    let mut display_name = attr("displayName", "string", "readWrite", true, "The group's name.");
    display_name["uniqueness"] = json!("none");
    let mut members = attr(
        "members",
        "complex",
        "readWrite",
        false,
        "The users in the group.",
    );
    members["multiValued"] = json!(true);
    let mut member_value = attr("value", "string", "immutable", false, "The member's id.");
    member_value["caseExact"] = json!(true);
    members["subAttributes"] = json!([
        member_value,
        attr(
            "display",
            "string",
            "readOnly",
            false,
            "The member's display name."
        )
    ]);
    json!({
        "id": GROUP_SCHEMA, "name": "Group", "description": "Group",
        "attributes": [display_name, members],
    })
}

/// Every schema (RFC 7643 section 7) with its `meta`.
fn schema_list(base: &str) -> Vec<Value> {
    let enterprise = json!({
        "id": ENTERPRISE_SCHEMA, "name": "EnterpriseUser", "description": "Enterprise user",
        "attributes": [attr("department", "string", "readWrite", false, "Department.")],
    });
    let source = attr(
        "source",
        "string",
        "readOnly",
        false,
        concat!(
            "The connector that owns the user (scim for pushed users); ",
            "absent for the application's own users."
        ),
    );
    let idsync = json!({
        "id": IDSYNC_SCHEMA, "name": "IdsyncUser",
        "description": "What idsync records about a user beyond the core schema",
        "attributes": [source],
    });
    [user_schema(), enterprise, idsync, group_schema()]
        .into_iter()
        .map(|mut s| {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            s["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"]);
            s["meta"] = json!({ "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") });
            s
        })
        .collect()
}

pub async fn schemas(headers: HeaderMap) -> Response {
    let list = schema_list(&base_url(&headers));
    scim_response(StatusCode::OK, &list_response(list.len() as u64, 0, list))
}

pub async fn schema(Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ScimError> {
    schema_list(&base_url(&headers))
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&id)))
        .map(|s| scim_response(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found(format!("no schema {id:?}")))
}
