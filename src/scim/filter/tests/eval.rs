//! Evaluation over sample resources: multi-valued attributes, the enterprise extension, case
//! rules, `pr`, `not` and precedence.

use serde_json::{json, Value};

use super::super::{parse_filter, parse_path, rfc7643_case_exact, rfc7643_multi_valued, AttrPath, CompareOp};
use super::check_rows;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The RFC 7643 section 8.2 user, trimmed, with empty values to probe `pr`.
fn bjensen() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "bjensen",
        "name": { "familyName": "Jensen", "givenName": "Barbara" },
        "displayName": "Babs Jensen",
        "nickName": "",
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "loginCount": 42,
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
        ],
        "addresses": [
            { "type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood" },
            {}
        ],
        "phoneNumbers": [],
        "roles": [],
        "ims": null,
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z"
        },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith" }
        }
    })
}

/// What Entra creates with its schema example: a manager as a plain string, explicit nulls.
fn entra_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "9c0d5b8f",
        "userName": "Test_User_ab6490ee@contoso.com",
        "active": true,
        "title": null,
        "addresses": null,
        "name": { "givenName": "", "familyName": null },
        "photos": [{}, { "value": "" }],
        "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {
            "manager": "123456",
            "department": null
        }
    })
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            { "value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen" },
            { "value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge" }
        ]
    })
}

/// (resource, filter, expected match). Comments say which rule a row pins down.
#[test]
fn evaluation() {
    let user = bjensen();
    let entra = entra_user();
    let group = group();
    let cases: Vec<(&Value, String, bool)> = vec![
        // Strings: case-insensitive by default, attribute names too.
        (&user, r#"userName eq "bjensen""#.into(), true),
        (&user, r#"userName eq "BJensen""#.into(), true),
        (&user, r#"USERNAME Eq "bjensen""#.into(), true),
        (&user, r#"userName eq "bjensen2""#.into(), false),
        (&user, r#"userName ne "bjensen""#.into(), false),
        (&user, r#"userName ne "someone""#.into(), true),
        (&user, r#"userName sw "BJ""#.into(), true),
        (&user, r#"userName ew "SEN""#.into(), true),
        (&user, r#"userName co "jens""#.into(), true),
        (&user, r#"name.familyName co "ENS""#.into(), true),
        (&user, r#"name.givenName sw "BAR""#.into(), true),
        (&user, r#"meta.resourceType eq "user""#.into(), true),
        // caseExact attributes (id, externalId) compare exactly.
        (
            &user,
            r#"id eq "2819c223-7f76-453a-919d-413861904646""#.into(),
            true,
        ),
        (
            &user,
            r#"id eq "2819C223-7F76-453A-919D-413861904646""#.into(),
            false,
        ),
        (&user, r#"externalId eq "BJENSEN""#.into(), false),
        (&user, r#"externalId eq "bjensen""#.into(), true),
        // Strings order lexicographically, case-folded unless caseExact.
        (&user, r#"userName gt "BJ""#.into(), true),
        (&user, r#"userName lt "b""#.into(), false),
        (&user, r#"userName le "BJENSEN""#.into(), true),
        (&user, r#"userName ge "c""#.into(), false),
        // dateTime orders chronologically: 04:56Z is after 06:00+02:00 (04:00Z), although
        // "04" sorts before "06" as text.
        (
            &user,
            r#"meta.created gt "2010-01-23T06:00:00+02:00""#.into(),
            true,
        ),
        (
            &user,
            r#"meta.created lt "2010-01-23T06:00:00+02:00""#.into(),
            false,
        ),
        (
            &user,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#.into(),
            true,
        ),
        (
            &user,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#.into(),
            false,
        ),
        (
            &user,
            r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#.into(),
            true,
        ),
        (
            &user,
            r#"meta.lastModified lt "2011-05-13T04:42:35""#.into(),
            true,
        ),
        // Numbers, integers and decimals.
        (&user, "loginCount eq 42".into(), true),
        (&user, "loginCount eq 42.0".into(), true),
        (&user, "loginCount gt 41".into(), true),
        (&user, "loginCount ge 42".into(), true),
        (&user, "loginCount lt 42".into(), false),
        (&user, "loginCount le -1".into(), false),
        (&user, r#"loginCount eq "42""#.into(), false),
        // Booleans: eq and ne, and no cross-type match.
        (&user, "active eq true".into(), true),
        (&user, "active eq TRUE".into(), true),
        (&user, "active ne true".into(), false),
        (&user, "active eq false".into(), false),
        (&user, r#"active eq "true""#.into(), false),
        (&user, "emails.primary eq true".into(), true),
        // Multi-valued: any value may match.
        (&user, r#"emails.value eq "babs@jensen.org""#.into(), true),
        (&user, r#"emails.type eq "home""#.into(), true),
        (&user, r#"emails co "example.com""#.into(), true),
        (&user, r#"emails eq "BABS@jensen.org""#.into(), true),
        (&user, r#"emails.value ew "@nowhere.test""#.into(), false),
        (
            &user,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#.into(),
            true,
        ),
        // A value filter needs one element to satisfy all of it; separate conditions may be
        // satisfied by different elements.
        (
            &user,
            r#"emails[type eq "work" and value co "@example.com"]"#.into(),
            true,
        ),
        (
            &user,
            r#"emails[type eq "home" and value co "@example.com"]"#.into(),
            false,
        ),
        (
            &user,
            r#"emails.type eq "home" and emails.value co "@example.com""#.into(),
            true,
        ),
        (&user, r#"emails[not (type eq "work")]"#.into(), true),
        (
            &user,
            r#"emails[primary eq true].value ew "@EXAMPLE.com""#.into(),
            true,
        ),
        (
            &user,
            r#"emails[type eq "work"].value eq "BJensen@Example.com""#.into(),
            true,
        ),
        (
            &user,
            r#"emails[type eq "home"].value eq "bjensen@example.com""#.into(),
            false,
        ),
        (&user, r#"emails[type eq "home"].primary pr"#.into(), false),
        (
            &user,
            r#"addresses[type eq "work"].streetAddress co "universal""#.into(),
            true,
        ),
        (&user, r#"name[givenName eq "barbara"]"#.into(), true),
        (&user, r#"phoneNumbers[type eq "work"]"#.into(), false),
        // The enterprise extension, by its URN in any case; the core URN means top level.
        (
            &user,
            format!(r#"{ENTERPRISE}:department eq "tour operations""#),
            true,
        ),
        (
            &user,
            format!(r#"{}:department eq "Tour Operations""#, ENTERPRISE.to_lowercase()),
            true,
        ),
        (&user, format!(r#"{ENTERPRISE}:employeeNumber eq "701984""#), true),
        (
            &user,
            format!(r#"{ENTERPRISE}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
            true,
        ),
        (
            &user,
            format!(r#"{ENTERPRISE}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
            true,
        ),
        (
            &user,
            format!(r#"{ENTERPRISE}:manager.displayName sw "john""#),
            true,
        ),
        (&user, format!("{ENTERPRISE}:costCenter pr"), false),
        (&user, r#"department eq "Tour Operations""#.into(), false),
        (
            &user,
            r#"urn:ietf:params:scim:schemas:extension:other:2.0:User:department pr"#.into(),
            false,
        ),
        (
            &user,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#.into(),
            false,
        ),
        (
            &user,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#.into(),
            true,
        ),
        (
            &user,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "jensen""#.into(),
            true,
        ),
        // pr: present and non-empty.
        (&user, "title pr".into(), true),
        (&user, "name pr".into(), true),
        (&user, "emails pr".into(), true),
        (&user, "emails.value pr".into(), true),
        (&user, "nickName pr".into(), false),
        (&user, "phoneNumbers pr".into(), false),
        (&user, "roles pr".into(), false),
        (&user, "ims pr".into(), false),
        (&user, "x509Certificates pr".into(), false),
        (&user, "addresses pr".into(), true),
        (&user, "addresses.country pr".into(), false),
        (&user, "active pr".into(), true),
        // null: eq null is "not present".
        (&user, "phoneNumbers eq null".into(), true),
        (&user, "nickName eq null".into(), true),
        (&user, "title eq null".into(), false),
        (&user, "title ne null".into(), true),
        // A missing attribute satisfies no comparison, not even ne; not (...) includes it.
        (&user, r#"costCenter ne "x""#.into(), false),
        (&user, r#"not (costCenter eq "x")"#.into(), true),
        (&user, r#"costCenter lt "zzz""#.into(), false),
        // not, and precedence: not > and > or.
        (&user, r#"not (userName eq "bjensen")"#.into(), false),
        (&user, "not (nickName pr)".into(), true),
        (
            &user,
            r#"userName eq "nobody" and title pr or active eq true"#.into(),
            true,
        ),
        (
            &user,
            r#"userName eq "nobody" and (title pr or active eq true)"#.into(),
            false,
        ),
        (
            &user,
            r#"title pr or userName eq "nobody" and active eq false"#.into(),
            true,
        ),
        (
            &user,
            r#"(title pr or userName eq "nobody") and active eq false"#.into(),
            false,
        ),
        (
            &user,
            r#"not (title pr) or userType eq "Employee" and not (active eq false)"#.into(),
            true,
        ),
        (
            &user,
            concat!(
                r#"userType ne "Employee" and not (emails co "#,
                r#""example.com" or emails.value co "example.org")"#
            )
            .into(),
            false,
        ),
        (
            &user,
            concat!(
                r#"userType eq "Employee" and (emails co "#,
                r#""example.com" or emails.value co "example.org")"#
            )
            .into(),
            true,
        ),
        (&user, r#"title pr and userType eq "Employee""#.into(), true),
        (&user, r#"title pr or userType eq "Intern""#.into(), true),
        // Entra's stored shapes: a string manager, URN key in another case, explicit nulls.
        (&entra, format!(r#"{ENTERPRISE}:manager eq "123456""#), true),
        (&entra, format!(r#"{ENTERPRISE}:manager.value eq "123456""#), true),
        (&entra, format!("{ENTERPRISE}:department pr"), false),
        (&entra, "title pr".into(), false),
        // A complex value with only empty sub-attributes is not present.
        (&entra, "name pr".into(), false),
        (&entra, "name eq null".into(), true),
        (&entra, "photos pr".into(), false),
        (&entra, "addresses eq null".into(), true),
        (
            &entra,
            r#"userName eq "test_user_AB6490EE@contoso.com""#.into(),
            true,
        ),
        (&entra, r#"externalId eq "x""#.into(), false),
        // Groups: members by value, and Entra's membership probe.
        (&group, r#"displayName eq "tour guides""#.into(), true),
        (
            &group,
            r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#.into(),
            true,
        ),
        (
            &group,
            r#"members.value eq "902c246b-6245-4190-8e05-00816be7344a""#.into(),
            true,
        ),
        (
            &group,
            concat!(
                r#"id eq "e9e30dba-f08f-4109-8486-d5c6a331660a" and "#,
                r#"members eq "2819c223-7f76-453a-919d-413861904646""#
            )
            .into(),
            true,
        ),
        (
            &group,
            r#"id eq "e9e30dba-f08f-4109-8486-d5c6a331660a" and members eq "00000000""#.into(),
            false,
        ),
        (
            &group,
            r#"members[display sw "mandy"].value sw "902c""#.into(),
            true,
        ),
        (
            &group,
            r#"members[display sw "mandy"].value sw "2819""#.into(),
            false,
        ),
    ];
    let rows: Vec<_> = cases
        .into_iter()
        .map(|(resource, filter, expected)| {
            let actual = match parse_filter(&filter) {
                Ok(parsed) => parsed.matches(resource, &rfc7643_case_exact).to_string(),
                Err(error) => format!("error: {error}"),
            };
            (filter, expected.to_string(), actual)
        })
        .collect();
    check_rows(&rows);
}

/// The callback sees the full path, so it can make `emails.value` exact but not `emails.type`.
#[test]
fn case_exact_callback_sees_full_paths() {
    let user = bjensen();
    let exact_email_values = |p: &AttrPath| p.is("emails", Some("value"));
    let check = |filter: &str| match parse_filter(filter) {
        Ok(f) => f.matches(&user, &exact_email_values),
        Err(error) => panic!("{filter}: {error}"),
    };
    assert!(!check(r#"emails[value eq "BJENSEN@example.com"]"#));
    assert!(check(r#"emails[value eq "bjensen@example.com"]"#));
    assert!(!check(r#"emails.value eq "BJENSEN@example.com""#));
    assert!(check(r#"emails[type eq "WORK"]"#));
    assert!(!check(r#"emails[type eq "WORK"].value eq "BJENSEN@example.com""#));
}

#[test]
fn simple_comparisons_for_the_store() {
    // (filter, the comparisons as "path op value" or "none")
    let cases = [
        (r#"userName eq "x""#, r#"userName eq "x""#),
        (r#"externalId eq "x""#, r#"externalId eq "x""#),
        (r#"displayName eq "Group 1""#, r#"displayName eq "Group 1""#),
        (
            r#"userName eq "a" and (active eq true and name.familyName sw "J")"#,
            r#"userName eq "a"; active eq true; name.familyName sw "J""#,
        ),
        (
            &format!(r#"{ENTERPRISE}:department eq "Sales" and id ne "1""#),
            &format!(r#"{ENTERPRISE}:department eq "Sales"; id ne "1""#),
        ),
        (r#"id eq "1" and members eq "2""#, "none"),
        (r#"emails.value eq "a@b""#, "none"),
        (r#"emails[type eq "work"].value eq "a@b""#, "none"),
        (r#"userName eq "a" or userName eq "b""#, "none"),
        (r#"not (userName eq "a")"#, "none"),
        ("title pr", "none"),
    ];
    let rows: Vec<_> = cases
        .iter()
        .map(|(filter, expected)| {
            let actual = match parse_filter(filter) {
                Ok(parsed) => match parsed.as_simple_comparisons(&rfc7643_multi_valued) {
                    Some(list) => list
                        .iter()
                        .map(|(path, op, value)| format!("{path} {op} {value}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                    None => "none".to_string(),
                },
                Err(error) => format!("error: {error}"),
            };
            (filter.to_string(), expected.to_string(), actual)
        })
        .collect();
    check_rows(&rows);
    let typed = parse_filter(r#"userName Eq "x""#).ok();
    let ops: Option<Vec<CompareOp>> = typed
        .as_ref()
        .and_then(|f| f.as_simple_comparisons(&|_| false))
        .map(|list| list.iter().map(|(_, op, _)| *op).collect());
    assert_eq!(ops, Some(vec![CompareOp::Eq]));
}

/// PATCH picks elements with the path's value filter, element by element.
#[test]
fn patch_value_filter_selects_elements() {
    let group = group();
    let members = group["members"].as_array().cloned().unwrap_or_default();
    let selected = |path: &str| -> Vec<String> {
        let Ok(parsed) = parse_path(path) else {
            panic!("{path} did not parse")
        };
        let Some(filter) = &parsed.value_filter else {
            panic!("{path} has no value filter")
        };
        members
            .iter()
            .filter(|m| filter.matches_element(m, &parsed.attr, &rfc7643_case_exact))
            .map(|m| m["display"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        selected(r#"members[value eq "902c246b-6245-4190-8e05-00816be7344a"]"#),
        ["Mandy Pepperidge"]
    );
    assert_eq!(
        selected(r#"members[display co "JENSEN" or display sw "m"]"#),
        ["Babs Jensen", "Mandy Pepperidge"]
    );
    assert!(selected(r#"members[value eq "nobody"]"#).is_empty());
    // Asked about `members.value`, a schema can make member ids exact.
    let exact_ids = |p: &AttrPath| p.is("members", Some("value"));
    let Ok(upper) = parse_path(r#"members[value eq "902C246B-6245-4190-8E05-00816BE7344A"]"#) else {
        panic!()
    };
    let filter = upper.value_filter.as_ref();
    assert_eq!(
        filter.map(|f| f.matches_element(&members[1], &upper.attr, &exact_ids)),
        Some(false)
    );
    assert_eq!(
        filter.map(|f| f.matches_element(&members[1], &upper.attr, &|_| false)),
        Some(true)
    );
}
