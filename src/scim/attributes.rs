//! What a client sends that has no column: kept whole in `users.attributes` and
//! `groups.attributes` (README, "The application's tables"), so that every attribute a client
//! sets comes back on GET and a PATCH `remove` removes it.
//!
//! The object is keyed by SCIM attribute name; an extension's attributes sit in an object
//! under its schema URN, as in the SCIM JSON (`{"urn:...:enterprise:2.0:User":
//! {"employeeNumber": "42"}}`). Attributes with a column (`userName`, `name.givenName`,
//! `department`, ...) are left out; so are the read-only ones (`id`, `meta`, `groups`, the
//! idsync extension), which RFC 7644 section 3.5.1 has a service provider ignore on input,
//! and `password`, which is never stored.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::extensions::Extensions;
use super::limits;
use super::resource::{ENTERPRISE_SCHEMA, IDSYNC_SCHEMA};
use crate::config::scim_extensions::ExtensionResource;
use idsync_source::record::attributes_text;

/// The longest attribute object, in bytes of its JSON text.
pub const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;

/// The attribute object of one resource, as column text (`None` when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAttributes(pub Option<String>);

/// User attributes with a column, read-only ones, and `password`: never kept.
const USER_NOT_KEPT: [&str; 10] = [
    "schemas",
    "id",
    "meta",
    "userName",
    "displayName",
    "title",
    "preferredLanguage",
    "active",
    "groups",
    "password",
];

/// Group attributes with a column or loaded by a query of their own.
const GROUP_NOT_KEPT: [&str; 5] = ["schemas", "id", "meta", "displayName", "members"];

/// The core attributes of RFC 7643 sections 4.1 and 4.2, as spelled there: a client may
/// write names in any case (section 2.1), the column keeps one spelling.
const CORE_NAMES: [&str; 16] = [
    "externalId",
    "name",
    "nickName",
    "profileUrl",
    "userType",
    "locale",
    "timezone",
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
    "formatted",
];

fn is_enterprise(key: &str) -> bool {
    // Entra also writes `...enterprise:2.0User` (Microsoft Learn, "Develop and plan
    // provisioning for a SCIM endpoint", example 2).
    key.eq_ignore_ascii_case(ENTERPRISE_SCHEMA)
        || key.eq_ignore_ascii_case("urn:ietf:params:scim:schemas:extension:enterprise:2.0User")
}

/// Removes nulls, and objects and lists left empty, so that "set to null" is "absent".
fn without_nulls(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(m) => {
            let kept: Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| without_nulls(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(list) => {
            let kept: Vec<Value> = list.iter().filter_map(without_nulls).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => Some(other.clone()),
    }
}

/// `value` as an object, or a 400 naming `label`.
fn object<'v>(value: &'v Value, label: &str) -> Result<&'v Map<String, Value>, ScimError> {
    value.as_object().ok_or_else(|| {
        ScimError::bad(
            "invalidValue",
            format!("Bad value type for attribute {label}: must be an object, not {value}"),
        )
    })
}

/// `obj` without the keys in `columns` (compared case-insensitively).
fn without(obj: &Map<String, Value>, columns: &[&str]) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| !columns.iter().any(|c| k.eq_ignore_ascii_case(c)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The attributes of a User body that `users.attributes` keeps.
pub fn kept_user_attributes(
    body: &Map<String, Value>,
    exts: &Extensions,
) -> Result<KeptAttributes, ScimError> {
    let mut kept = Map::new();
    for (key, value) in body {
        if USER_NOT_KEPT.iter().any(|n| key.eq_ignore_ascii_case(n)) {
            continue;
        }
        let value = if key.eq_ignore_ascii_case("name") {
            Value::Object(without(object(value, "name")?, &["givenName", "familyName"]))
        } else if is_enterprise(key) {
            Value::Object(without(object(value, ENTERPRISE_SCHEMA)?, &["department"]))
        } else {
            value.clone()
        };
        let key = if is_enterprise(key) {
            ENTERPRISE_SCHEMA
        } else {
            key.as_str()
        };
        if key.eq_ignore_ascii_case(IDSYNC_SCHEMA) {
            continue;
        }
        keep(&mut kept, key, &value)?;
    }
    exts.check(ExtensionResource::User, &mut kept)?;
    finish(kept)
}

/// The attributes of a Group body that `groups.attributes` keeps.
pub fn kept_group_attributes(
    body: &Map<String, Value>,
    exts: &Extensions,
) -> Result<KeptAttributes, ScimError> {
    let mut kept = Map::new();
    for (key, value) in body {
        if !GROUP_NOT_KEPT.iter().any(|n| key.eq_ignore_ascii_case(n)) {
            keep(&mut kept, key, value)?;
        }
    }
    exts.check(ExtensionResource::Group, &mut kept)?;
    finish(kept)
}

/// Adds one attribute under its canonical name, after the checks every kept value passes.
fn keep(kept: &mut Map<String, Value>, key: &str, value: &Value) -> Result<(), ScimError> {
    let Some(value) = without_nulls(value) else {
        return Ok(());
    };
    let name = CORE_NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(key))
        .map_or(key, |n| *n);
    if name == "externalId" && !value.is_string() {
        return Err(ScimError::bad(
            "invalidValue",
            format!("Bad value type for attribute externalId: must be a string, not {value}"),
        ));
    }
    if name.to_ascii_lowercase().starts_with("urn:") {
        object(&value, name)?;
    }
    check_strings(name, &value)?;
    kept.insert(name.to_owned(), value);
    Ok(())
}

/// Every string under `label` within the limits of a display string.
fn check_strings(label: &str, value: &Value) -> Result<(), ScimError> {
    match value {
        Value::String(s) => limits::text(label, s),
        Value::Array(list) => list.iter().try_for_each(|v| check_strings(label, v)),
        Value::Object(m) => m
            .iter()
            .try_for_each(|(k, v)| check_strings(&format!("{label}.{k}"), v)),
        _ => Ok(()),
    }
}

fn finish(kept: Map<String, Value>) -> Result<KeptAttributes, ScimError> {
    let text = attributes_text(&kept);
    if text.as_ref().is_some_and(|t| t.len() > MAX_ATTRIBUTES_BYTES) {
        return Err(ScimError::bad(
            "invalidValue",
            format!("the attributes without a column are longer than {MAX_ATTRIBUTES_BYTES} bytes of JSON"),
        ));
    }
    Ok(KeptAttributes(text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kept(body: Value) -> Value {
        let text = kept_user_attributes(body.as_object().unwrap(), &Extensions::default())
            .unwrap()
            .0;
        text.map_or(Value::Null, |t| serde_json::from_str(&t).unwrap())
    }

    #[test]
    fn columns_and_read_only_attributes_are_left_out_the_rest_is_kept() {
        let body = json!({
            "schemas": [], "id": "x", "userName": "a@x", "active": true, "password": "secret",
            "name": {"givenName": "A", "familyName": "B", "middleName": "M"},
            "EXTERNALID": "e1",
            "phoneNumbers": [{"value": "+1", "type": "work"}, null],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User":
                {"department": "D", "employeeNumber": "42", "manager": {"value": "m1"}},
            IDSYNC_SCHEMA: {"source": "okta"},
            "nickName": null,
        });
        assert_eq!(
            kept(body),
            json!({
                "name": {"middleName": "M"},
                "externalId": "e1",
                "phoneNumbers": [{"value": "+1", "type": "work"}],
                ENTERPRISE_SCHEMA: {"employeeNumber": "42", "manager": {"value": "m1"}},
            })
        );
        assert_eq!(
            kept(json!({"userName": "a", "name": {"givenName": "A"}})),
            Value::Null
        );
    }

    #[test]
    fn bad_shapes_name_the_attribute() {
        let e = kept_user_attributes(
            json!({"externalId": 3}).as_object().unwrap(),
            &Extensions::default(),
        )
        .unwrap_err();
        assert!(e.detail.contains("externalId"), "{e:?}");
        let e = kept_user_attributes(
            json!({"urn:x:y:User": "v"}).as_object().unwrap(),
            &Extensions::default(),
        )
        .unwrap_err();
        assert!(e.detail.contains("urn:x:y:User"), "{e:?}");
        let e = kept_user_attributes(
            json!({"nickName": "a\u{0}b"}).as_object().unwrap(),
            &Extensions::default(),
        )
        .unwrap_err();
        assert!(e.detail.starts_with("nickName contains"), "{e:?}");
        let big = "x".repeat(1000);
        let many: Vec<Value> = (0..100).map(|_| json!({ "value": big })).collect();
        let e = kept_user_attributes(
            json!({"photos": many}).as_object().unwrap(),
            &Extensions::default(),
        )
        .unwrap_err();
        assert!(e.detail.contains("bytes"), "{e:?}");
    }
}
