//! Custom extension schemas from `[[scim.extensions]]`: their `/Schemas` entries, and the
//! checks of the values a client writes (type, required, canonical values), whose errors
//! name the attribute and the value as Interact's service does ("Bad value type for
//! attribute X", "Missing attribute Y", "Value in attribute Z does not comply to a required
//! format").

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::schemas::attr;
use crate::config::scim_extensions::{
    AttributeType, ExtensionAttribute, ExtensionResource, Mutability, ScimExtension,
};

/// The configured extensions; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Extensions(Arc<Vec<ScimExtension>>);

impl Extensions {
    pub fn new(extensions: Vec<ScimExtension>) -> Self {
        Extensions(Arc::new(extensions))
    }

    /// The extensions of one resource type.
    pub fn of(&self, resource: ExtensionResource) -> impl Iterator<Item = &ScimExtension> {
        self.0.iter().filter(move |e| e.resource == resource)
    }

    /// The extension and attribute a filter or PATCH path names (`urn` compared
    /// case-insensitively, as RFC 7643 section 2.1 has attribute names compared).
    pub fn attribute(
        &self,
        resource: ExtensionResource,
        urn: &str,
        name: &str,
    ) -> Option<(&ScimExtension, &ExtensionAttribute)> {
        let ext = self.of(resource).find(|e| e.schema.eq_ignore_ascii_case(urn))?;
        let a = ext
            .attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))?;
        Some((ext, a))
    }

    /// The `/Schemas` entries.
    pub fn schemas(&self) -> Vec<Value> {
        self.0.iter().map(schema_json).collect()
    }

    /// Checks the extension objects among the kept attributes of a `resource` and writes
    /// them under the configured spellings (so filters find them); read-only attributes are
    /// dropped (RFC 7644 section 3.5.1: ignored on input).
    pub fn check(&self, resource: ExtensionResource, kept: &mut Map<String, Value>) -> Result<(), ScimError> {
        for ext in self.of(resource) {
            let key = kept.keys().find(|k| k.eq_ignore_ascii_case(&ext.schema)).cloned();
            let mut values = match key.and_then(|k| kept.remove(&k)) {
                Some(Value::Object(m)) => m,
                Some(other) => return Err(bad_type(&ext.schema, "an object", &other)),
                None => Map::new(),
            };
            let mut checked = Map::new();
            for a in &ext.attributes {
                let path = format!("{}:{}", ext.schema, a.name);
                let key = values.keys().find(|k| k.eq_ignore_ascii_case(&a.name)).cloned();
                match key.and_then(|k| values.remove(&k)) {
                    _ if a.mutability == Mutability::ReadOnly => {}
                    Some(v) => {
                        check_value(a, &path, &v)?;
                        checked.insert(a.name.clone(), v);
                    }
                    None if a.required => {
                        return Err(ScimError::bad(
                            "invalidValue",
                            format!("Missing attribute {path}"),
                        ))
                    }
                    None => {}
                }
            }
            if let Some(unknown) = values.keys().next() {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!(
                        "Unknown attribute {}:{unknown}: the schema does not define it",
                        ext.schema
                    ),
                ));
            }
            if !checked.is_empty() {
                kept.insert(ext.schema.clone(), Value::Object(checked));
            }
        }
        Ok(())
    }
}

fn bad_type(path: &str, expected: &str, value: &Value) -> ScimError {
    ScimError::bad(
        "invalidValue",
        format!("Bad value type for attribute {path}: expected {expected}, got {value}"),
    )
}

/// One value (or each of a multi-valued attribute's) against the attribute's type and
/// canonical values.
fn check_value(a: &ExtensionAttribute, path: &str, value: &Value) -> Result<(), ScimError> {
    match (a.multi_valued, value) {
        (true, Value::Array(list)) => list.iter().try_for_each(|v| check_one(a, path, v)),
        (true, other) => Err(bad_type(path, "a list", other)),
        (false, v) => check_one(a, path, v),
    }
}

fn check_one(a: &ExtensionAttribute, path: &str, value: &Value) -> Result<(), ScimError> {
    let fits = match a.kind {
        AttributeType::String | AttributeType::Reference => value.is_string(),
        AttributeType::Boolean => value.is_boolean(),
        AttributeType::Integer => value.is_i64() || value.is_u64(),
        AttributeType::Decimal => value.is_number(),
        AttributeType::DateTime => value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
    };
    if !fits {
        let expected = match a.kind {
            AttributeType::DateTime => "a dateTime (RFC 3339, e.g. 2026-12-01T10:00:00Z)".to_owned(),
            other => format!("a {}", other.as_str()),
        };
        return Err(bad_type(path, &expected, value));
    }
    if let (false, Some(s)) = (a.canonical_values.is_empty(), value.as_str()) {
        let allowed = a.canonical_values.iter().any(|c| {
            if a.case_exact {
                c == s
            } else {
                c.eq_ignore_ascii_case(s)
            }
        });
        if !allowed {
            return Err(ScimError::bad(
                "invalidValue",
                format!(
                    "Value in attribute {path} does not comply to a required format: {s:?} is not one of {}",
                    a.canonical_values.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// An extension's `/Schemas` entry.
fn schema_json(ext: &ScimExtension) -> Value {
    let attributes: Vec<Value> = ext
        .attributes
        .iter()
        .map(|a| {
            let mut v = attr(&a.name, a.kind.as_str(), &a.description);
            v["multiValued"] = json!(a.multi_valued);
            v["required"] = json!(a.required);
            v["caseExact"] = json!(a.case_exact);
            v["mutability"] = json!(a.mutability.as_str());
            if a.mutability == Mutability::WriteOnly {
                v["returned"] = json!("never");
            }
            if !a.canonical_values.is_empty() {
                v["canonicalValues"] = json!(a.canonical_values);
            }
            if a.kind == AttributeType::Reference {
                v["referenceTypes"] = json!(["external"]);
            }
            v
        })
        .collect();
    let name = ext
        .name
        .clone()
        .unwrap_or_else(|| ext.schema.rsplit(':').next().unwrap_or_default().to_owned());
    json!({
        "id": ext.schema, "name": name, "description": ext.description, "attributes": attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(kind: AttributeType, multi_valued: bool) -> ExtensionAttribute {
        ExtensionAttribute {
            name: "a".into(),
            kind,
            multi_valued,
            required: false,
            case_exact: false,
            canonical_values: Vec::new(),
            mutability: Mutability::ReadWrite,
            description: String::new(),
        }
    }

    #[test]
    fn each_type_takes_its_json_values_and_names_the_attribute_otherwise() {
        let cases = [
            (AttributeType::Boolean, json!(true), json!("true")),
            (AttributeType::Integer, json!(42), json!(4.5)),
            (AttributeType::Decimal, json!(4.5), json!("4.5")),
            (
                AttributeType::DateTime,
                json!("2026-12-01T10:00:00Z"),
                json!("yesterday"),
            ),
            (AttributeType::Reference, json!("https://x.example/a"), json!(1)),
        ];
        for (kind, good, bad) in cases {
            let a = attribute(kind, false);
            assert!(check_value(&a, "urn:x:User:a", &good).is_ok(), "{kind:?} {good}");
            let e = check_value(&a, "urn:x:User:a", &bad).unwrap_err();
            assert!(
                e.detail.starts_with("Bad value type for attribute urn:x:User:a"),
                "{e:?}"
            );
            assert!(e.detail.contains(&bad.to_string()), "{e:?}");
        }
        let list = attribute(AttributeType::Integer, true);
        assert!(check_value(&list, "p", &json!([1, 2])).is_ok());
        assert!(check_value(&list, "p", &json!(1)).is_err());
        assert!(check_value(&list, "p", &json!([1, "2"])).is_err());
    }

    #[test]
    fn canonical_values_follow_case_exactness_and_read_only_values_are_dropped() {
        let mut a = attribute(AttributeType::String, false);
        a.canonical_values = vec!["company".into()];
        assert!(check_value(&a, "p", &json!("COMPANY")).is_ok());
        a.case_exact = true;
        let e = check_value(&a, "p", &json!("COMPANY")).unwrap_err();
        assert_eq!(
            e.detail,
            "Value in attribute p does not comply to a required format: \"COMPANY\" is not one of company"
        );
        let mut ro = attribute(AttributeType::String, false);
        ro.mutability = Mutability::ReadOnly;
        let exts = Extensions::new(vec![ScimExtension {
            schema: "urn:x:2.0:User".into(),
            resource: ExtensionResource::User,
            name: None,
            description: String::new(),
            required: false,
            attributes: vec![ro],
        }]);
        let mut kept = json!({ "URN:X:2.0:USER": { "A": "set by the client" } })
            .as_object()
            .cloned()
            .unwrap();
        exts.check(ExtensionResource::User, &mut kept).unwrap();
        assert!(kept.is_empty(), "{kept:?}");
        let mut unknown = json!({ "urn:x:2.0:User": { "b": 1 } })
            .as_object()
            .cloned()
            .unwrap();
        let e = exts.check(ExtensionResource::User, &mut unknown).unwrap_err();
        assert!(
            e.detail.starts_with("Unknown attribute urn:x:2.0:User:b"),
            "{e:?}"
        );
    }
}
