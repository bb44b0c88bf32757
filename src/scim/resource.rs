//! SCIM JSON <-> application columns: `userName` -> `upn`, `externalId` -> `external_id`,
//! the primary (or work) email -> `email`, `name.*`, `displayName`, `title` -> `job_title`,
//! `preferredLanguage`, `active`, the enterprise `department`, and back.

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use super::attributes::{kept_user_attributes, KeptAttributes};
use super::error::ScimError;
use super::extensions::Extensions;
use super::limits;
use crate::store::scim::{MemberRef, ScimGroupRow, ScimUserRow};
use idsync_source::record::attributes_object;

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

fn timestamp(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The weak ETag of a resource last changed at `updated_at`.
pub fn etag(updated_at: NaiveDateTime) -> String {
    format!("W/\"{}\"", updated_at.and_utc().timestamp_micros())
}

/// A user as SCIM JSON: the kept attributes (`users.attributes`) with the columns over
/// them. Absent values are left out (Entra wants no nulls: Microsoft Learn, "Develop and plan
/// provisioning for a SCIM endpoint").
pub fn user_json(u: &ScimUserRow, base: &str) -> Value {
    let mut out = attributes_object(u.attributes.as_deref());
    if u.source.as_deref() != Some("scim") {
        // A connector's link key is its own; only SCIM's clients set `externalId`.
        out.remove("externalId");
    }
    out.insert("id".into(), json!(u.scim_id));
    out.insert("userName".into(), json!(u.upn));
    let mut name = take_object(&mut out, "name");
    put(&mut name, "givenName", &u.given_name);
    put(&mut name, "familyName", &u.family_name);
    if !name.is_empty() {
        out.insert("name".into(), Value::Object(name));
    }
    put(&mut out, "displayName", &u.display_name);
    if !out.contains_key("emails") {
        if let Some(v) = &u.email {
            out.insert(
                "emails".into(),
                json!([{ "value": v, "type": "work", "primary": true }]),
            );
        }
    }
    put(&mut out, "title", &u.job_title);
    put(&mut out, "preferredLanguage", &u.preferred_language);
    out.insert("active".into(), json!(u.active));
    let mut enterprise = take_object(&mut out, ENTERPRISE_SCHEMA);
    put(&mut enterprise, "department", &u.department);
    if !enterprise.is_empty() {
        out.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    if let Some(v) = &u.source {
        out.insert(IDSYNC_SCHEMA.into(), json!({ "source": v }));
    }
    out.insert("schemas".into(), json!(schemas_of(&out, USER_SCHEMA)));
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

/// The core schema and the URN of every extension the resource carries.
fn schemas_of(resource: &Map<String, Value>, core: &str) -> Vec<String> {
    let mut out = vec![core.to_owned()];
    out.extend(
        resource
            .keys()
            .filter(|k| k.to_ascii_lowercase().starts_with("urn:"))
            .cloned(),
    );
    out
}

/// Removes and returns the object under `key` (an empty one when there is none).
fn take_object(obj: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match obj.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn put(obj: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        obj.insert(key.to_owned(), json!(v));
    }
}

/// A group as SCIM JSON: the kept attributes with the columns over them; `members` is `None`
/// when they were excluded.
pub fn group_json(g: &ScimGroupRow, members: Option<&[MemberRef]>, base: &str) -> Value {
    let mut out = attributes_object(g.attributes.as_deref());
    if g.source.as_deref() != Some("scim") {
        out.remove("externalId");
    }
    out.insert("id".into(), json!(g.scim_id));
    out.insert("displayName".into(), json!(g.display_name));
    out.insert("schemas".into(), json!(schemas_of(&out, GROUP_SCHEMA)));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": timestamp(g.created_at),
            "lastModified": timestamp(g.updated_at),
            "location": format!("{base}/Groups/{}", g.scim_id),
            "version": etag(g.updated_at),
        }),
    );
    if let Some(members) = members {
        out.insert(
            "members".into(),
            Value::Array(
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
            ),
        );
    }
    Value::Object(out)
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

/// An attribute under a limit: its label, its value, its value before (when there was one),
/// and whether it is an identifier (else a display string).
type LimitedField<'a> = (&'a str, Option<&'a str>, Option<Option<&'a str>>, bool);

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
    /// What has no column, as `users.attributes` keeps it (see [`super::attributes`]).
    pub attributes: Option<String>,
}

impl UserInput {
    pub fn from_json(body: &Value, exts: &Extensions) -> Result<UserInput, ScimError> {
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
        let KeptAttributes(attributes) = kept_user_attributes(obj, exts)?;
        Ok(UserInput {
            attributes,
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

    /// Refuses values over the limits of [`super::limits`], except those equal to the ones in
    /// `before` (a PATCH resends the stored values, which a connector may have written).
    pub fn check_limits(&self, before: Option<&UserInput>) -> Result<(), ScimError> {
        let department = format!("{ENTERPRISE_SCHEMA}:department");
        let was = |f: fn(&UserInput) -> Option<&str>| before.map(f);
        let fields: [LimitedField; 9] = [
            (
                "userName",
                Some(&self.user_name),
                was(|u| Some(&u.user_name)),
                true,
            ),
            (
                "externalId",
                self.external_id.as_deref(),
                was(|u| u.external_id.as_deref()),
                true,
            ),
            (
                "emails.value",
                self.email.as_deref(),
                was(|u| u.email.as_deref()),
                true,
            ),
            (
                "preferredLanguage",
                self.preferred_language.as_deref(),
                was(|u| u.preferred_language.as_deref()),
                true,
            ),
            (
                "displayName",
                self.display_name.as_deref(),
                was(|u| u.display_name.as_deref()),
                false,
            ),
            (
                "name.givenName",
                self.given_name.as_deref(),
                was(|u| u.given_name.as_deref()),
                false,
            ),
            (
                "name.familyName",
                self.family_name.as_deref(),
                was(|u| u.family_name.as_deref()),
                false,
            ),
            ("title", self.title.as_deref(), was(|u| u.title.as_deref()), false),
            (
                &department,
                self.department.as_deref(),
                was(|u| u.department.as_deref()),
                false,
            ),
        ];
        for (label, now, before, is_identifier) in fields {
            let Some(value) = now.filter(|v| before != Some(Some(v))) else {
                continue;
            };
            if is_identifier {
                limits::identifier(label, value)?;
            } else {
                limits::text(label, value)?;
            }
        }
        Ok(())
    }

    /// The normalized record the pipeline takes, under the link key `key`.
    pub fn to_record(&self, key: &str) -> idsync_source::UserRecord {
        let mut r = idsync_source::UserRecord {
            attributes: self.attributes.clone(),
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

/// Removes what is returned only on request (the idsync extension) and its URN in `schemas`.
fn hide_request_only(obj: &mut Map<String, Value>) {
    obj.remove(IDSYNC_SCHEMA);
    if let Some(Value::Array(schemas)) = obj.get_mut("schemas") {
        schemas.retain(|s| s.as_str() != Some(IDSYNC_SCHEMA));
    }
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
    // The idsync extension is `returned: "request"`: only when `attributes` names it.
    let asked = attributes
        .iter()
        .any(|a| top(a) == IDSYNC_SCHEMA.to_ascii_lowercase());
    if !asked {
        hide_request_only(obj);
    }
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
