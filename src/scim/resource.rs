//! SCIM JSON <-> application columns: `userName` -> `upn`, `externalId` -> `external_id`,
//! the primary (or work) email -> `email`, `name.*`, `displayName`, `title` -> `job_title`,
//! `preferredLanguage`, `active`, the enterprise `department`, and back.

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use super::error::ScimError;
use crate::store::scim::{MemberRef, ScimGroupRow, ScimUserRow};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Read-only application facts with no core attribute (which connector owns the user).
pub const IDSYNC_SCHEMA: &str = "urn:idsync:params:scim:schemas:extension:idsync:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Link keys the endpoint made up for resources posted without an `externalId` start with
/// this; they are never shown as `externalId`.
pub const GENERATED_KEY_PREFIX: &str = "~";

/// A fresh link key for a resource posted without an `externalId`.
pub fn generated_key() -> String {
    format!("{GENERATED_KEY_PREFIX}{}", uuid::Uuid::now_v7().simple())
}

/// The client-visible external id: none for generated keys.
fn visible_external_id(ext: Option<&str>) -> Option<&str> {
    ext.filter(|e| !e.starts_with(GENERATED_KEY_PREFIX))
}

fn timestamp(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The weak ETag of a resource last changed at `updated_at`.
pub fn etag(updated_at: NaiveDateTime) -> String {
    format!("W/\"{}\"", updated_at.and_utc().timestamp_micros())
}

/// A user as SCIM JSON. Absent values are left out (Entra wants no nulls: Microsoft Learn,
/// "Develop and plan provisioning for a SCIM endpoint").
pub fn user_json(u: &ScimUserRow, base: &str) -> Value {
    let mut out = Map::new();
    out.insert(
        "schemas".into(),
        json!([USER_SCHEMA, ENTERPRISE_SCHEMA, IDSYNC_SCHEMA]),
    );
    out.insert("id".into(), json!(u.scim_id));
    if let Some(ext) =
        visible_external_id(u.external_id.as_deref()).filter(|_| u.source.as_deref() == Some("scim"))
    {
        out.insert("externalId".into(), json!(ext));
    }
    out.insert("userName".into(), json!(u.upn));
    let mut name = Map::new();
    if let Some(v) = &u.given_name {
        name.insert("givenName".into(), json!(v));
    }
    if let Some(v) = &u.family_name {
        name.insert("familyName".into(), json!(v));
    }
    if !name.is_empty() {
        out.insert("name".into(), Value::Object(name));
    }
    if let Some(v) = &u.display_name {
        out.insert("displayName".into(), json!(v));
    }
    if let Some(v) = &u.email {
        out.insert(
            "emails".into(),
            json!([{ "value": v, "type": "work", "primary": true }]),
        );
    }
    if let Some(v) = &u.job_title {
        out.insert("title".into(), json!(v));
    }
    if let Some(v) = &u.preferred_language {
        out.insert("preferredLanguage".into(), json!(v));
    }
    out.insert("active".into(), json!(u.active));
    let mut enterprise = Map::new();
    if let Some(v) = &u.department {
        enterprise.insert("department".into(), json!(v));
    }
    out.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    let mut idsync = Map::new();
    if let Some(v) = &u.source {
        idsync.insert("source".into(), json!(v));
    }
    out.insert(IDSYNC_SCHEMA.into(), Value::Object(idsync));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": timestamp(u.created_at),
            "lastModified": timestamp(u.updated_at),
            "location": format!("{base}/Users/{}", u.scim_id),
            "version": etag(u.updated_at),
        }),
    );
    Value::Object(out)
}

/// A group as SCIM JSON; `members` is `None` when they were excluded.
pub fn group_json(g: &ScimGroupRow, members: Option<&[MemberRef]>, base: &str) -> Value {
    let mut out = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.scim_id,
        "displayName": g.display_name,
        "meta": {
            "resourceType": "Group",
            "created": timestamp(g.created_at),
            "lastModified": timestamp(g.updated_at),
            "location": format!("{base}/Groups/{}", g.scim_id),
            "version": etag(g.updated_at),
        },
    });
    if let Some(ext) =
        visible_external_id(g.external_id.as_deref()).filter(|_| g.source.as_deref() == Some("scim"))
    {
        out["externalId"] = json!(ext);
    }
    if let Some(members) = members {
        out["members"] = Value::Array(
            members
                .iter()
                .map(|m| {
                    json!({
                        "value": m.scim_id,
                        "display": m.display,
                        "type": "User",
                        "$ref": format!("{base}/Users/{}", m.scim_id),
                    })
                })
                .collect(),
        );
    }
    out
}

/// The case-insensitive lookup of an attribute (RFC 7643 section 2.1).
pub fn get_ci<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The enterprise extension object, also under Entra's misspelled `...enterprise:2.0User`
/// (Microsoft Learn, "Develop and plan provisioning for a SCIM endpoint", example 2).
fn enterprise(obj: &Map<String, Value>) -> Option<&Map<String, Value>> {
    obj.iter()
        .find(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k == ENTERPRISE_SCHEMA.to_ascii_lowercase()
                || k == "urn:ietf:params:scim:schemas:extension:enterprise:2.0user"
        })
        .and_then(|(_, v)| v.as_object())
}

/// A string attribute: absent and null are `None`; anything else but a string is an error.
fn string_at(obj: &Map<String, Value>, name: &str, label: &str) -> Result<Option<String>, ScimError> {
    match get_ci(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ScimError::bad(
            "invalidValue",
            format!("{label} must be a string, not {other}"),
        )),
    }
}

/// A boolean, accepting Entra's `"True"`/`"False"` strings (Microsoft Learn, "Known issues
/// and resolutions with SCIM 2.0 protocol compliance").
pub fn lenient_bool(value: &Value, label: &str) -> Result<bool, ScimError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::bad(
            "invalidValue",
            format!("{label} must be a boolean, not {other}"),
        )),
    }
}

/// What a User body says about the application's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInput {
    pub user_name: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub preferred_language: Option<String>,
    pub active: bool,
}

impl UserInput {
    pub fn from_json(body: &Value) -> Result<UserInput, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
        let user_name = string_at(obj, "userName", "userName")?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ScimError::bad("invalidValue", "userName is required and must not be empty"))?;
        let (given_name, family_name) = match get_ci(obj, "name") {
            None | Some(Value::Null) => (None, None),
            Some(Value::Object(name)) => (
                string_at(name, "givenName", "name.givenName")?,
                string_at(name, "familyName", "name.familyName")?,
            ),
            Some(other) => {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("name must be an object, not {other}"),
                ))
            }
        };
        let department = match enterprise(obj) {
            Some(ext) => string_at(ext, "department", &format!("{ENTERPRISE_SCHEMA}:department"))?,
            None => None,
        };
        let active = match get_ci(obj, "active") {
            None | Some(Value::Null) => true,
            Some(v) => lenient_bool(v, "active")?,
        };
        Ok(UserInput {
            user_name,
            external_id: string_at(obj, "externalId", "externalId")?,
            email: primary_email(obj)?,
            display_name: string_at(obj, "displayName", "displayName")?,
            given_name,
            family_name,
            title: string_at(obj, "title", "title")?,
            department,
            preferred_language: string_at(obj, "preferredLanguage", "preferredLanguage")?,
            active,
        })
    }

    /// The normalized record the pipeline takes, under the link key `key`.
    pub fn to_record(&self, key: &str) -> idsync_source::UserRecord {
        let mut r = idsync_source::UserRecord {
            external_id: key.to_owned(),
            upn: self.user_name.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            job_title: self.title.clone(),
            department: self.department.clone(),
            preferred_language: self.preferred_language.clone(),
            enabled: self.active,
        };
        r.normalize();
        r
    }
}

/// `emails[primary eq true].value`, else `emails[type eq "work"].value`, else the first.
fn primary_email(obj: &Map<String, Value>) -> Result<Option<String>, ScimError> {
    let list = match get_ci(obj, "emails") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(ScimError::bad(
                "invalidValue",
                format!("emails must be a list, not {other}"),
            ))
        }
    };
    let mut entries = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let e = e
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidValue", format!("emails[{i}] must be an object")))?;
        let value = string_at(e, "value", &format!("emails[{i}].value"))?;
        let primary = match get_ci(e, "primary") {
            None | Some(Value::Null) => false,
            Some(v) => lenient_bool(v, &format!("emails[{i}].primary"))?,
        };
        let work = string_at(e, "type", &format!("emails[{i}].type"))?
            .is_some_and(|t| t.eq_ignore_ascii_case("work"));
        if let Some(value) = value {
            entries.push((value, primary, work));
        }
    }
    let pick = entries
        .iter()
        .find(|e| e.1)
        .or_else(|| entries.iter().find(|e| e.2))
        .or_else(|| entries.first());
    Ok(pick.map(|e| e.0.clone()))
}

/// Keeps or drops top-level attributes per `attributes` / `excludedAttributes` (RFC 7644
/// section 3.4.2.5). `id` and `schemas` are always returned; a sub-attribute or an extension
/// attribute selects or drops its whole parent object.
pub fn project(resource: &mut Value, attributes: &[String], excluded: &[String]) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let top = |a: &str| -> String {
        let lower = a.to_ascii_lowercase();
        for schema in [USER_SCHEMA, GROUP_SCHEMA] {
            if let Some(rest) = lower.strip_prefix(&format!("{}:", schema.to_ascii_lowercase())) {
                return rest.split('.').next().unwrap_or_default().to_owned();
            }
        }
        for schema in [ENTERPRISE_SCHEMA, IDSYNC_SCHEMA] {
            if lower.starts_with(&schema.to_ascii_lowercase()) {
                return schema.to_ascii_lowercase();
            }
        }
        lower.split('.').next().unwrap_or_default().to_owned()
    };
    let always = ["id", "schemas"];
    if !attributes.is_empty() {
        let keep: Vec<String> = attributes.iter().map(|a| top(a)).collect();
        obj.retain(|k, _| {
            let k = k.to_ascii_lowercase();
            always.contains(&k.as_str()) || keep.contains(&k)
        });
    } else if !excluded.is_empty() {
        let drop: Vec<String> = excluded.iter().map(|a| top(a)).collect();
        obj.retain(|k, _| {
            let k = k.to_ascii_lowercase();
            always.contains(&k.as_str()) || !drop.contains(&k)
        });
    }
}
