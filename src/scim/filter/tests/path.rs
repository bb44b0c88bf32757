//! PATCH path parsing: the paths Entra and Okta send, the RFC 7644 section 3.5.2 examples, and the errors.

use super::super::parse_path;
use super::{check_rows, outcome, patch_path_tree};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[test]
fn paths_parse() {
    let employee_number = format!("{ENTERPRISE}:employeeNumber");
    let manager = format!("{ENTERPRISE}:manager");
    let manager_value = format!("{ENTERPRISE}:manager.value");
    // (input, canonical form, tree)
    let cases: Vec<(&str, String, String)> = vec![
        ("members", "members".into(), "members".into()),
        ("active", "active".into(), "active".into()),
        ("nickName", "nickName".into(), "nickName".into()),
        ("displayName", "displayName".into(), "displayName".into()),
        ("name.givenName", "name.givenName".into(), "name.givenName".into()),
        (
            "name.familyName",
            "name.familyName".into(),
            "name.familyName".into(),
        ),
        (
            r#"members[value eq "2819c223"]"#,
            r#"members[value eq "2819c223"]"#.into(),
            r#"members [(eq value "2819c223")]"#.into(),
        ),
        (
            r#"members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]"#,
            r#"members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]"#.into(),
            r#"members [(eq value "7f4bc1a3-285e-48ae-8202-5accb43efb0e")]"#.into(),
        ),
        (
            r#"emails[type eq "work"].value"#,
            r#"emails[type eq "work"].value"#.into(),
            r#"emails [(eq type "work")] .value"#.into(),
        ),
        (
            r#"addresses[type eq "work"].streetAddress"#,
            r#"addresses[type eq "work"].streetAddress"#.into(),
            r#"addresses [(eq type "work")] .streetAddress"#.into(),
        ),
        (
            r#"members[value eq "2819c223" or value eq "902c246b"].display"#,
            r#"members[value eq "2819c223" or value eq "902c246b"].display"#.into(),
            r#"members [(or (eq value "2819c223") (eq value "902c246b"))] .display"#.into(),
        ),
        (
            &employee_number,
            employee_number.clone(),
            format!("<{ENTERPRISE}>employeeNumber"),
        ),
        (&manager, manager.clone(), format!("<{ENTERPRISE}>manager")),
        (
            &manager_value,
            manager_value.clone(),
            format!("<{ENTERPRISE}>manager.value"),
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName".into(),
            "<urn:ietf:params:scim:schemas:core:2.0:User>name.givenName".into(),
        ),
        // Leniency: keywords in the filter in any case, spaces around the path.
        (
            r#" emails[Type EQ "work"].Value "#,
            r#"emails[Type eq "work"].Value"#.into(),
            r#"emails [(eq Type "work")] .Value"#.into(),
        ),
    ];
    let rows: Vec<_> = cases
        .into_iter()
        .map(|(input, canonical, tree)| {
            let actual = match parse_path(input) {
                Ok(path) => {
                    let reparsed = parse_path(&path.to_string()).map(|p| patch_path_tree(&p));
                    let note = if reparsed.as_ref() == Ok(&patch_path_tree(&path)) {
                        ""
                    } else {
                        " REPARSE DIFFERS"
                    };
                    format!("{path}  {}{note}", patch_path_tree(&path))
                }
                Err(error) => format!("error: {error}"),
            };
            (input.to_string(), format!("{canonical}  {tree}"), actual)
        })
        .collect();
    check_rows(&rows);
}

#[test]
fn path_errors() {
    let cases: Vec<(&str, &str)> = vec![
        ("", "the path is empty"),
        ("   ", "the path is empty"),
        (
            r#""members""#,
            r#"expected an attribute path at position 0, found the string "members""#,
        ),
        (
            "[value eq 1]",
            r#"expected an attribute path at position 0, found "[""#,
        ),
        (
            r#"members eq "x""#,
            r#"expected "[" or the end of the path at position 8, found "eq""#,
        ),
        (
            "members value",
            r#"expected "[" or the end of the path at position 8, found "value""#,
        ),
        (
            r#"members[value eq "x"]extra"#,
            r#"expected "." and a sub-attribute, or the end of the path at position 21, found "extra""#,
        ),
        (
            "members[",
            r#"expected an attribute name, "(" or "not (" after "[" at position 8, found end of input"#,
        ),
        (
            r#"members[value eq "x""#,
            r#"expected "and", "or" or "]" (for the "[" at position 7) at position 20, found end of input"#,
        ),
        (
            r#"members[]"#,
            r#"expected an attribute name, "(" or "not (" after "[" at position 8, found "]""#,
        ),
        (
            r#"emails[type eq "work"]."#,
            r#"expected a sub-attribute name after "]." at position 23, found end of input"#,
        ),
        (
            r#"emails[type eq "work"].value.x"#,
            concat!(
                r#"invalid attribute path "value.x" at position 23: an "#,
                r#"attribute name may contain only letters, digits, '-' and '_'"#
            ),
        ),
        (
            r#"name.givenName[type eq "x"].value"#,
            concat!(
                r#"invalid attribute path "name.givenName[...].value" at position 28: a "#,
                r#"value path cannot have a sub-attribute both before and after the brackets"#
            ),
        ),
        (
            r#"emails[type[x pr]]"#,
            r#"a value filter cannot contain another value filter "[" at position 11"#,
        ),
        (
            "name.",
            r#"invalid attribute path "name." at position 0: an attribute name is empty"#,
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
            concat!(
                r#"invalid attribute path "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:" "#,
                r#"at position 0: an attribute name must follow the schema URI"#
            ),
        ),
        ("members/0", "unexpected character '/' at position 7"),
    ];
    let rows: Vec<_> = cases
        .into_iter()
        .map(|(input, expected)| {
            (
                input.to_string(),
                format!("error: {expected}"),
                outcome(parse_path(input)),
            )
        })
        .collect();
    check_rows(&rows);
}

/// The keys of Entra's path-less replace value object are paths too.
#[test]
fn value_object_keys_parse_as_paths() {
    for key in [
        "displayName",
        "name.givenName",
        "name.familyName",
        "active",
        &format!("{ENTERPRISE}:employeeNumber"),
    ] {
        assert_eq!(outcome(parse_path(key)), key, "key {key}");
    }
}
