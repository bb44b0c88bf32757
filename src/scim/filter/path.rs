//! The target of a PATCH operation: `PATH = attrPath / valuePath [subAttr]` (RFC 7644 section 3.5.2).

use std::fmt;

use super::ast::{AttrPath, Filter};

/// A parsed PATCH `path`, e.g. `members`, `name.givenName`, `members[value eq "2819c223"]`,
/// `emails[type eq "work"].value` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
///
/// The same grammar reads the dotted and URN keys that Entra puts in the value object of a
/// path-less `replace` (`"name.givenName"`, `"urn:...:enterprise:2.0:User:employeeNumber"`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute the operation targets, with its schema URN and, for `name.givenName`,
    /// its sub-attribute.
    pub attr: AttrPath,
    /// Selects which elements of a multi-valued attribute the operation applies to; its
    /// paths are relative to one element (`value` in `members[value eq "..."]`).
    pub value_filter: Option<Filter>,
    /// The sub-attribute after the brackets: `value` in `emails[type eq "work"].value`,
    /// so the operation changes that sub-attribute of each selected element.
    pub sub_attr: Option<String>,
}

/// The canonical form, which parses back to the same path.
impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.value_filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}
