//! The published schemas (RFC 7643 section 7): every attribute of the core User and Group
//! schemas and of the enterprise extension, with all their characteristics, as sections 4.1,
//! 4.2, 4.3 and 8.7.1 define them. Attributes with a column are stored there; the others are
//! kept in the `attributes` column ([`super::attributes`]), so every one comes back as written.
//!
//! Left out: the User's `password` (this endpoint neither stores nor checks passwords, and
//! says so with `changePassword` unsupported) and `groups` (memberships are written and read
//! through `/Groups`).

use serde_json::{json, Value};

use super::resource::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, IDSYNC_SCHEMA, USER_SCHEMA};

/// One attribute definition with RFC 7643 section 2.2's defaults: single-valued, optional,
/// case-insensitive, `readWrite`, returned by default, not unique.
pub fn attr(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "description": description,
        "required": false, "caseExact": false, "mutability": "readWrite",
        "returned": "default", "uniqueness": "none",
    })
}

/// `attr` with `key` set to `value`, for the characteristics that differ from the defaults.
fn with(mut a: Value, changes: &[(&str, Value)]) -> Value {
    for (k, v) in changes {
        a[*k] = v.clone();
    }
    a
}

fn complex(name: &str, description: &str, multi: bool, subs: Vec<Value>) -> Value {
    with(
        attr(name, "complex", description),
        &[("multiValued", json!(multi)), ("subAttributes", json!(subs))],
    )
}

/// A multi-valued attribute of RFC 7643 section 2.4: `value`, `display`, `type`, `primary`.
fn multi_valued(name: &str, description: &str, value_kind: &str, types: &[&str]) -> Value {
    let mut kind = attr("type", "string", "A label indicating the attribute's function.");
    if !types.is_empty() {
        kind["canonicalValues"] = json!(types);
    }
    complex(
        name,
        description,
        true,
        vec![
            attr("value", value_kind, "The attribute's value."),
            attr(
                "display",
                "string",
                "A human-readable name, primarily used for display purposes.",
            ),
            kind,
            attr(
                "primary",
                "boolean",
                "Whether this is the preferred value; true at most once.",
            ),
        ],
    )
}

fn name_attribute() -> Value {
    complex(
        "name",
        "The components of the user's real name.",
        false,
        vec![
            attr("formatted", "string", "The full name, formatted for display."),
            attr("familyName", "string", "The family name."),
            attr("givenName", "string", "The given name."),
            attr("middleName", "string", "The middle name(s)."),
            attr("honorificPrefix", "string", "The honorific prefix(es), e.g. Ms."),
            attr("honorificSuffix", "string", "The honorific suffix(es), e.g. III."),
        ],
    )
}

fn addresses_attribute() -> Value {
    let sub = |n: &str, d: &str| attr(n, "string", d);
    complex(
        "addresses",
        "Physical mailing addresses.",
        true,
        vec![
            sub("formatted", "The full mailing address, formatted for display."),
            sub("streetAddress", "The full street address."),
            sub("locality", "The city or locality."),
            sub("region", "The state or region."),
            sub("postalCode", "The zip code or postal code."),
            sub("country", "The country name (ISO 3166-1 alpha-2)."),
            with(
                sub("type", "A label indicating the address's function."),
                &[("canonicalValues", json!(["work", "home", "other"]))],
            ),
            attr("primary", "boolean", "Whether this is the preferred address."),
        ],
    )
}

fn photos_attribute() -> Value {
    let mut photos = multi_valued(
        "photos",
        "URLs of photos of the user.",
        "reference",
        &["photo", "thumbnail"],
    );
    photos["subAttributes"][0]["referenceTypes"] = json!(["external"]);
    photos
}

fn reference(name: &str, types: &[&str], description: &str) -> Value {
    with(
        attr(name, "reference", description),
        &[("referenceTypes", json!(types)), ("caseExact", json!(true))],
    )
}

/// The core User schema (RFC 7643 section 4.1).
pub fn user_schema() -> Value {
    let s = |n: &str, d: &str| attr(n, "string", d);
    let attributes =
        vec![
        with(
            s("userName", "The sign-in name (the application's upn); unique, case-insensitive."),
            &[("required", json!(true)), ("uniqueness", json!("server"))],
        ),
        with(
            s("externalId", "The client's id for the user."),
            &[("caseExact", json!(true))],
        ),
        name_attribute(),
        s("displayName", "The name of the user, suitable for display."),
        s("nickName", "The casual way to address the user."),
        reference("profileUrl", &["external"], "A URI of the user's online profile."),
        s("title", "The user's title, e.g. Vice President."),
        s("userType", "The relationship between the organization and the user."),
        s("preferredLanguage", "The preferred written or spoken language, e.g. en-GB."),
        s("locale", "The default location for localizing, e.g. en-US."),
        s("timezone", "The time zone in the IANA format, e.g. Europe/Berlin."),
        attr("active", "boolean", "false archives the user; true restores it."),
        multi_valued(
            "emails",
            "Email addresses; the column `email` holds the primary one, else the work one, else the first.",
            "string",
            &["work", "home", "other"],
        ),
        multi_valued(
            "phoneNumbers",
            "Phone numbers.",
            "string",
            &["work", "home", "mobile", "fax", "pager", "other"],
        ),
        multi_valued(
            "ims",
            "Instant messaging addresses.",
            "string",
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        ),
        photos_attribute(),
        addresses_attribute(),
        multi_valued("entitlements", "Entitlements of the user.", "string", &[]),
        multi_valued("roles", "Roles of the user.", "string", &[]),
        multi_valued("x509Certificates", "X.509 certificates of the user.", "binary", &[]),
    ];
    json!({ "id": USER_SCHEMA, "name": "User", "description": "User Account", "attributes": attributes })
}

/// The core Group schema (RFC 7643 section 4.2). Members are users: a `Group` member is
/// refused (the application has no nested groups).
pub fn group_schema() -> Value {
    let immutable = |a: Value| with(a, &[("mutability", json!("immutable"))]);
    let members = complex(
        "members",
        "The members of the group.",
        true,
        vec![
            immutable(with(
                attr("value", "string", "The id of the member."),
                &[("caseExact", json!(true))],
            )),
            immutable(reference("$ref", &["User", "Group"], "The URI of the member.")),
            with(
                attr("display", "string", "The member's display name."),
                &[("mutability", json!("readOnly"))],
            ),
            immutable(with(
                attr("type", "string", "The type of the member."),
                &[("canonicalValues", json!(["User", "Group"]))],
            )),
        ],
    );
    json!({
        "id": GROUP_SCHEMA, "name": "Group", "description": "Group",
        "attributes": [
            with(
                attr("displayName", "string", "A human-readable name for the group."),
                &[("required", json!(true))],
            ),
            with(
                attr("externalId", "string", "The client's id for the group."),
                &[("caseExact", json!(true))],
            ),
            members,
        ],
    })
}

/// The enterprise User extension (RFC 7643 section 4.3).
pub fn enterprise_schema() -> Value {
    let s = |n: &str, d: &str| attr(n, "string", d);
    let manager = complex(
        "manager",
        "The user's manager.",
        false,
        vec![
            s("value", "The id of the manager."),
            reference("$ref", &["User"], "The URI of the manager."),
            with(
                s("displayName", "The manager's display name."),
                &[("mutability", json!("readOnly"))],
            ),
        ],
    );
    json!({
        "id": ENTERPRISE_SCHEMA, "name": "EnterpriseUser", "description": "Enterprise User",
        "attributes": [
            s("employeeNumber", "A number assigned by the organization."),
            s("costCenter", "The name of a cost center."),
            s("organization", "The name of an organization."),
            s("division", "The name of a division."),
            s("department", "The name of a department."),
            manager,
        ],
    })
}

/// idsync's read-only facts about a user.
pub fn idsync_schema() -> Value {
    let source = with(
        attr(
            "source",
            "string",
            "The connector that owns the user (scim for pushed users); absent for the application's own users.",
        ),
        &[
            ("mutability", json!("readOnly")),
            ("caseExact", json!(true)),
            ("returned", json!("request")),
        ],
    );
    json!({
        "id": IDSYNC_SCHEMA, "name": "IdsyncUser",
        "description": "What idsync records about a user beyond the core schema",
        "attributes": [source],
    })
}
