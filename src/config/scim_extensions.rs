//! `[[scim.extensions]]`: custom extension schemas (RFC 7643 section 3.3) the SCIM endpoint
//! publishes, checks and keeps, e.g. Interact's
//! `urn:ietf:params:scim:schemas:extension:interactsoftware:2.0:User` with `location`.

use serde::Deserialize;

/// One custom extension schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimExtension {
    /// The schema URN, e.g. `urn:ietf:params:scim:schemas:extension:acme:2.0:User`.
    pub schema: String,
    /// The resource type it extends.
    pub resource: ExtensionResource,
    /// The schema's `name` in `/Schemas` (default: the URN's last part).
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Whether every resource of the type must carry it (`schemaExtensions[].required`).
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub attributes: Vec<ExtensionAttribute>,
}

/// `resource = "User"` or `"Group"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ExtensionResource {
    User,
    Group,
}

/// One attribute of a custom extension (RFC 7643 section 2.2's characteristics).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionAttribute {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: AttributeType,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    /// The only values allowed (compared as `case_exact` says); empty allows any.
    #[serde(default)]
    pub canonical_values: Vec<String>,
    #[serde(default)]
    pub mutability: Mutability,
    #[serde(default)]
    pub description: String,
}

/// RFC 7643 section 2.3's simple types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttributeType {
    #[default]
    String,
    Boolean,
    Integer,
    Decimal,
    DateTime,
    Reference,
}

impl AttributeType {
    /// The name `/Schemas` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::Integer => "integer",
            AttributeType::Decimal => "decimal",
            AttributeType::DateTime => "dateTime",
            AttributeType::Reference => "reference",
        }
    }
}

/// RFC 7643 section 2.2's `mutability`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    #[default]
    ReadWrite,
    ReadOnly,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// The URNs the endpoint defines itself.
const RESERVED: [&str; 4] = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:idsync:params:scim:schemas:extension:idsync:2.0:User",
];

/// RFC 7643 section 2.1's ATTRNAME: a letter, then letters, digits, `-`, `_`.
fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A URN as the SQL of `attributes` filters may quote it: `urn:`, then letters, digits and
/// `:.-_`.
fn is_urn(urn: &str) -> bool {
    urn.len() > 4
        && urn[..4].eq_ignore_ascii_case("urn:")
        && urn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":.-_".contains(c))
}

/// Checks the extensions: URNs and names as RFC 7643 writes them, none twice, none of the
/// endpoint's own. Returns the failing key (under `scim.extensions`) and the problem.
pub fn check(extensions: &[ScimExtension]) -> Result<(), (String, String)> {
    for (i, ext) in extensions.iter().enumerate() {
        let at = |key: &str| format!("scim.extensions[{i}].{key}");
        if !is_urn(&ext.schema) {
            return Err((
                at("schema"),
                format!("{:?} is not a schema URN (urn:...)", ext.schema),
            ));
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&ext.schema)) {
            return Err((
                at("schema"),
                format!("{:?} is defined by idsync itself", ext.schema),
            ));
        }
        if extensions[..i]
            .iter()
            .any(|e| e.schema.eq_ignore_ascii_case(&ext.schema))
        {
            return Err((at("schema"), format!("{:?} is declared twice", ext.schema)));
        }
        for (j, a) in ext.attributes.iter().enumerate() {
            let at = |key: &str| format!("scim.extensions[{i}].attributes[{j}].{key}");
            if !is_attribute_name(&a.name) {
                return Err((
                    at("name"),
                    format!("{:?} is not an attribute name (RFC 7643 section 2.1)", a.name),
                ));
            }
            if ext.attributes[..j]
                .iter()
                .any(|b| b.name.eq_ignore_ascii_case(&a.name))
            {
                return Err((at("name"), format!("{:?} is declared twice", a.name)));
            }
            if !a.canonical_values.is_empty() && a.kind != AttributeType::String {
                return Err((
                    at("canonical_values"),
                    "only string attributes have canonical values".into(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<ScimExtension> {
        #[derive(Deserialize)]
        struct Shape {
            extensions: Vec<ScimExtension>,
        }
        toml::from_str::<Shape>(text).unwrap().extensions
    }

    #[test]
    fn interact_style_extensions_parse_and_bad_names_are_refused() {
        let exts = parse(
            r#"
            [[extensions]]
            schema = "urn:ietf:params:scim:schemas:extension:interactsoftware:2.0:Group"
            resource = "Group"
            [[extensions.attributes]]
            name = "groupType"
            required = true
            canonical_values = ["company", "department", "location", "group"]
            case_exact = true
            "#,
        );
        assert!(check(&exts).is_ok());
        assert_eq!(exts[0].attributes[0].kind, AttributeType::String);
        let mut bad = exts.clone();
        bad[0].attributes[0].name = "group type".into();
        let (key, message) = check(&bad).unwrap_err();
        assert_eq!(key, "scim.extensions[0].attributes[0].name");
        assert!(message.contains("group type"), "{message}");
        let mut bad = exts.clone();
        bad[0].schema = "urn:x:'y".into();
        assert_eq!(check(&bad).unwrap_err().0, "scim.extensions[0].schema");
        let mut twice = exts.clone();
        twice.push(exts[0].clone());
        assert!(check(&twice).unwrap_err().1.contains("twice"));
        let mut own = exts;
        own[0].schema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into();
        assert!(check(&own).unwrap_err().1.contains("idsync itself"));
    }
}
