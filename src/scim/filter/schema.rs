//! The two RFC 7643 attribute characteristics the filter code needs, for the core User and Group schemas.
//!
//! Only what the RFC fixes is listed here; a server with its own schema passes its own
//! callbacks to [`super::Filter::matches`] and [`super::Filter::as_simple_comparisons`].

use super::ast::AttrPath;

/// The core attributes whose `caseExact` is true (RFC 7643 section 3.1: `id` and
/// `externalId`). Every other core string compares case-insensitively, `userName` included.
pub fn rfc7643_case_exact(path: &AttrPath) -> bool {
    path.is("id", None) || path.is("externalId", None)
}

/// The multi-valued attributes of the core User (RFC 7643 section 4.1.2) and Group
/// (section 4.2) schemas, plus `schemas` itself. A path into one of them, `emails.value`
/// included, may match several values.
pub fn rfc7643_multi_valued(path: &AttrPath) -> bool {
    const MULTI_VALUED: [&str; 11] = [
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
        "members",
        "schemas",
    ];
    path.is_core()
        && MULTI_VALUED
            .iter()
            .any(|name| path.attr.eq_ignore_ascii_case(name))
}
