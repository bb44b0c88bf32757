//! Filter parsing: the RFC 7644 examples, what Entra and Okta send, the grammar's corners, and
//! the error messages.

use super::super::{parse_filter, CompValue, CompareOp, Filter};
use super::{check_rows, outcome, tree};

/// (input, canonical form, tree). The canonical form is what `Display` prints and must parse
/// back to the same tree; the tree shows precedence and how each path was split.
fn check_parses(cases: &[(&str, &str, &str)]) {
    let mut rows = Vec::new();
    for &(input, canonical, expected_tree) in cases {
        let expected = format!("{canonical}  {expected_tree}");
        let actual = match parse_filter(input) {
            Ok(filter) => {
                let reparsed = outcome(parse_filter(&filter.to_string()).map(|f| tree(&f)));
                let round_trip = if reparsed == tree(&filter) {
                    String::new()
                } else {
                    format!(" REPARSED AS {reparsed}")
                };
                format!("{filter}  {}{round_trip}", tree(&filter))
            }
            Err(error) => format!("error: {error}"),
        };
        rows.push((input.to_string(), expected, actual));
    }
    check_rows(&rows);
}

/// Every example of RFC 7644 section 3.4.2.2, figure 2, with the line breaks the RFC adds
/// for page width replaced by the single space a client sends.
#[test]
fn rfc7644_figure_2_examples() {
    check_parses(&[
        (
            r#"userName eq "bjensen""#,
            r#"userName eq "bjensen""#,
            r#"(eq userName "bjensen")"#,
        ),
        (
            r#"name.familyName co "O'Malley""#,
            r#"name.familyName co "O'Malley""#,
            r#"(co name.familyName "O'Malley")"#,
        ),
        (r#"userName sw "J""#, r#"userName sw "J""#, r#"(sw userName "J")"#),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"(sw <urn:ietf:params:scim:schemas:core:2.0:User>userName "J")"#,
        ),
        ("title pr", "title pr", "(pr title)"),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"(gt meta.lastModified "2011-05-13T04:42:34Z")"#,
        ),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"(ge meta.lastModified "2011-05-13T04:42:34Z")"#,
        ),
        (
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"(lt meta.lastModified "2011-05-13T04:42:34Z")"#,
        ),
        (
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"(le meta.lastModified "2011-05-13T04:42:34Z")"#,
        ),
        (
            r#"title pr and userType eq "Employee""#,
            r#"title pr and userType eq "Employee""#,
            r#"(and (pr title) (eq userType "Employee"))"#,
        ),
        (
            r#"title pr or userType eq "Intern""#,
            r#"title pr or userType eq "Intern""#,
            r#"(or (pr title) (eq userType "Intern"))"#,
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"(eq schemas "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")"#,
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            concat!(
                r#"(and (eq userType "Employee") (or (co emails "#,
                r#""example.com") (co emails.value "example.org")))"#
            ),
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            concat!(
                r#"(and (ne userType "Employee") (not (or (co emails "#,
                r#""example.com") (co emails.value "example.org"))))"#
            ),
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails.type eq "work""#,
            r#"(and (eq userType "Employee") (eq emails.type "work"))"#,
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            concat!(
                r#"(and (eq userType "Employee") (some emails (and "#,
                r#"(eq type "work") (co value "@example.com"))))"#
            ),
        ),
        (
            concat!(
                r#"emails[type eq "work" and value co "@example.com"] "#,
                r#"or ims[type eq "xmpp" and value co "@foo.com"]"#
            ),
            concat!(
                r#"emails[type eq "work" and value co "@example.com"] "#,
                r#"or ims[type eq "xmpp" and value co "@foo.com"]"#
            ),
            concat!(
                r#"(or (some emails (and (eq type "work") (co value "@example.com"))) "#,
                r#"(some ims (and (eq type "xmpp") (co value "@foo.com"))))"#
            ),
        ),
    ]);
}

/// The filters Entra ID and Okta send (Microsoft Learn, "Develop and plan provisioning for a SCIM
/// endpoint"; Okta's SCIM 2.0 protocol reference).
#[test]
fn entra_and_okta_filters() {
    check_parses(&[
        // Entra "Test Connection" and user matching, Okta's user lookup.
        (
            r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            r#"(eq userName "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee")"#,
        ),
        (
            r#"externalId eq "jyoung""#,
            r#"externalId eq "jyoung""#,
            r#"(eq externalId "jyoung")"#,
        ),
        // Group lookup by both clients.
        (
            r#"displayName eq "Group 1""#,
            r#"displayName eq "Group 1""#,
            r#"(eq displayName "Group 1")"#,
        ),
        // Membership probe (inferred from the tutorial's diagram) and its example 4.
        (
            concat!(
                r#"id eq "e9e30dba-f08f-4109-8486-d5c6a331660a" and "#,
                r#"members eq "2819c223-7f76-453a-919d-413861904646""#
            ),
            concat!(
                r#"id eq "e9e30dba-f08f-4109-8486-d5c6a331660a" and "#,
                r#"members eq "2819c223-7f76-453a-919d-413861904646""#
            ),
            concat!(
                r#"(and (eq id "e9e30dba-f08f-4109-8486-d5c6a331660a") "#,
                r#"(eq members "2819c223-7f76-453a-919d-413861904646"))"#
            ),
        ),
        (
            r#"ID eq "1" and manager eq "2""#,
            r#"ID eq "1" and manager eq "2""#,
            r#"(and (eq ID "1") (eq manager "2"))"#,
        ),
        // A uniqueness attribute inside a multi-valued one.
        (
            r#"emails[type eq "work"].value eq "user@contoso.com""#,
            r#"emails[type eq "work" and value eq "user@contoso.com"]"#,
            r#"(some emails (and (eq type "work") (eq value "user@contoso.com")))"#,
        ),
        // Keywords and names in any case (RFC 7644 3.4.2.2: "userName Eq" and "Username eq").
        (
            r#"userName Eq "john""#,
            r#"userName eq "john""#,
            r#"(eq userName "john")"#,
        ),
        (
            r#"Username eq "john""#,
            r#"Username eq "john""#,
            r#"(eq Username "john")"#,
        ),
        (
            r#"userName EQ "a" AND active Eq True"#,
            r#"userName eq "a" and active eq true"#,
            r#"(and (eq userName "a") (eq active true))"#,
        ),
    ]);
}

#[test]
fn grammar_corners() {
    check_parses(&[
        // Precedence: not > and > or, left-associative.
        (
            "a pr or b pr and c pr",
            "a pr or (b pr and c pr)",
            "(or (pr a) (and (pr b) (pr c)))",
        ),
        (
            "a pr and b pr or c pr",
            "(a pr and b pr) or c pr",
            "(or (and (pr a) (pr b)) (pr c))",
        ),
        (
            "a pr and b pr and c pr",
            "(a pr and b pr) and c pr",
            "(and (and (pr a) (pr b)) (pr c))",
        ),
        (
            "a pr or b pr or c pr",
            "(a pr or b pr) or c pr",
            "(or (or (pr a) (pr b)) (pr c))",
        ),
        (
            "a pr and (b pr and c pr)",
            "a pr and (b pr and c pr)",
            "(and (pr a) (and (pr b) (pr c)))",
        ),
        (
            "(a pr or b pr) and c pr",
            "(a pr or b pr) and c pr",
            "(and (or (pr a) (pr b)) (pr c))",
        ),
        (
            "not (a pr) and b pr",
            "not (a pr) and b pr",
            "(and (not (pr a)) (pr b))",
        ),
        (
            "not (a pr or b pr)",
            "not (a pr or b pr)",
            "(not (or (pr a) (pr b)))",
        ),
        ("not(a pr)", "not (a pr)", "(not (pr a))"),
        ("NOT (a pr)", "not (a pr)", "(not (pr a))"),
        ("not (not (a pr))", "not (not (a pr))", "(not (not (pr a)))"),
        ("((a pr))", "a pr", "(pr a)"),
        // Whitespace: lenient about runs, tabs and spaces at the ends.
        (
            "  userName   eq \t \"x\"  ",
            r#"userName eq "x""#,
            r#"(eq userName "x")"#,
        ),
        (
            r#"(userName eq "x")and(title pr)"#,
            r#"userName eq "x" and title pr"#,
            r#"(and (eq userName "x") (pr title))"#,
        ),
        // Every operator and literal.
        (r#"a ne "x""#, r#"a ne "x""#, r#"(ne a "x")"#),
        (r#"a ew "x""#, r#"a ew "x""#, r#"(ew a "x")"#),
        ("a eq true", "a eq true", "(eq a true)"),
        ("a eq FALSE", "a eq false", "(eq a false)"),
        ("a eq null", "a eq null", "(eq a null)"),
        ("a ne Null", "a ne null", "(ne a null)"),
        ("a eq 42", "a eq 42", "(eq a 42)"),
        ("a gt -7", "a gt -7", "(gt a -7)"),
        ("a le 3.25", "a le 3.25", "(le a 3.25)"),
        ("a lt -1.5e3", "a lt -1500.0", "(lt a -1500.0)"),
        ("a ge 0", "a ge 0", "(ge a 0)"),
        // JSON string escapes, decoded and re-encoded.
        (
            r#"a eq "q\"b\\s\/\u00e9\n\t""#,
            r#"a eq "q\"b\\s/é\n\t""#,
            r#"(eq a "q\"b\\s/é\n\t")"#,
        ),
        (r#"a eq "\ud83d\ude00""#, r#"a eq "😀""#, r#"(eq a "😀")"#),
        (
            r#"displayName eq "Zoë (ops)""#,
            r#"displayName eq "Zoë (ops)""#,
            r#"(eq displayName "Zoë (ops)")"#,
        ),
        (r#"a eq """#, r#"a eq """#, r#"(eq a "")"#),
        // URN-qualified paths: the URI is everything before the last colon.
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales""#,
            r#"(eq <urn:ietf:params:scim:schemas:extension:enterprise:2.0:User>department "Sales")"#,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
            r#"(eq <urn:ietf:params:scim:schemas:extension:enterprise:2.0:User>manager.value "26118915")"#,
        ),
        // Value paths.
        (
            r#"emails[type eq "work"]"#,
            r#"emails[type eq "work"]"#,
            r#"(some emails (eq type "work"))"#,
        ),
        (
            r#"emails[not (type eq "work")]"#,
            r#"emails[not (type eq "work")]"#,
            r#"(some emails (not (eq type "work")))"#,
        ),
        (
            r#"emails[type eq "work" or type eq "home"].value co "@example.com""#,
            r#"emails[(type eq "work" or type eq "home") and value co "@example.com"]"#,
            r#"(some emails (and (or (eq type "work") (eq type "home")) (co value "@example.com")))"#,
        ),
        (
            r#"emails[primary eq true].value pr"#,
            r#"emails[primary eq true and value pr]"#,
            r#"(some emails (and (eq primary true) (pr value)))"#,
        ),
        (
            r#"members[$ref eq "https://x/Users/1"]"#,
            r#"members[$ref eq "https://x/Users/1"]"#,
            r#"(some members (eq $ref "https://x/Users/1"))"#,
        ),
        (
            r#"name.givenName[x pr]"#,
            r#"name.givenName[x pr]"#,
            r#"(some name.givenName (pr x))"#,
        ),
        // Attributes that share a keyword's name are still attributes.
        (r#"not eq "x""#, r#"not eq "x""#, r#"(eq not "x")"#),
        ("pr pr", "pr pr", "(pr pr)"),
        (
            r#"and eq "x" or or pr"#,
            r#"and eq "x" or or pr"#,
            r#"(or (eq and "x") (pr or))"#,
        ),
        (r#"x-y_1 eq "z""#, r#"x-y_1 eq "z""#, r#"(eq x-y_1 "z")"#),
    ]);
}

#[test]
fn error_messages() {
    let op_list = "expected one of eq, ne, co, sw, ew, gt, ge, lt, le, pr";
    let value = "a value after \"eq\" (a string in double quotes, a number, true, false or null)";
    let cases: Vec<(&str, String)> = vec![
        ("", "the filter is empty".into()),
        (" \t ", "the filter is empty".into()),
        (
            "userName",
            r#"expected an operator after "userName" at position 8, found end of input"#.into(),
        ),
        (
            r#"userName "x""#,
            concat!(
                r#"expected an operator after "userName" "#,
                r#"at position 9, found the string "x""#
            )
            .into(),
        ),
        (
            r#"userName eqq "x""#,
            format!(r#"unknown operator "eqq" at position 9; {op_list}"#),
        ),
        (
            r#"userName equals "x""#,
            format!(r#"unknown operator "equals" at position 9; {op_list}"#),
        ),
        (
            r#"userName and title pr"#,
            concat!(
                r#"expected an operator after "userName" "#,
                r#"at position 9, found "and""#
            )
            .into(),
        ),
        (
            r#"userName eq "abc"#,
            "unterminated string starting at position 12".into(),
        ),
        (
            r#"a eq "x" and b eq "y"#,
            "unterminated string starting at position 18".into(),
        ),
        (r#"a eq "x\"#, "unterminated string starting at position 5".into()),
        (
            r#"a eq "\u12"#,
            "unterminated string starting at position 5".into(),
        ),
        (
            "userName eq",
            format!("expected {value} at position 11, found end of input"),
        ),
        (
            "externalId eq jyoung",
            format!(r#"expected {value} at position 14, found "jyoung""#),
        ),
        (
            r#"a eq ("x")"#,
            format!(r#"expected {value} at position 5, found "(""#),
        ),
        (
            r#"userName eq "x" foo"#,
            concat!(
                r#"expected "and", "or" or the end of "#,
                r#"the filter at position 16, found "foo""#
            )
            .into(),
        ),
        (
            r#"userName eq "x" "y""#,
            concat!(
                r#"expected "and", "or" or the end of the "#,
                r#"filter at position 16, found the string "y""#
            )
            .into(),
        ),
        (
            r#"userName eq "x")"#,
            concat!(
                r#"expected "and", "or" or the end of the filter at "#,
                r#"position 15, found ")" without a matching "(""#
            )
            .into(),
        ),
        (
            r#"(userName eq "x""#,
            concat!(
                r#"expected "and", "or" or ")" (for the "(" at "#,
                r#"position 0) at position 16, found end of input"#
            )
            .into(),
        ),
        (
            r#"not (a pr]"#,
            concat!(
                r#"expected "and", "or" or ")" (for the "(" "#,
                r#"at position 4) at position 9, found "]""#
            )
            .into(),
        ),
        (
            r#"emails[type eq "work""#,
            concat!(
                r#"expected "and", "or" or "]" (for the "[" at "#,
                r#"position 6) at position 21, found end of input"#
            )
            .into(),
        ),
        (
            r#"emails[type eq "work")"#,
            concat!(
                r#"expected "and", "or" or "]" (for the "[" "#,
                r#"at position 6) at position 21, found ")""#
            )
            .into(),
        ),
        (
            r#"userName eq "x" and"#,
            concat!(
                r#"expected an attribute name, "(" or "not (" "#,
                r#"after "and" at position 19, found end of input"#
            )
            .into(),
        ),
        (
            "title pr and and x pr",
            concat!(
                r#"expected an attribute name, "(" or "not (" "#,
                r#"after "and" at position 13, found "and""#
            )
            .into(),
        ),
        (
            "title pr or",
            concat!(
                r#"expected an attribute name, "(" or "not (" "#,
                r#"after "or" at position 11, found end of input"#
            )
            .into(),
        ),
        (
            "()",
            r#"expected an attribute name, "(" or "not (" after "(" at position 1, found ")""#.into(),
        ),
        (
            r#""x" eq userName"#,
            concat!(
                r#"expected an attribute name, "(" or "not "#,
                r#"(" at position 0, found the string "x""#
            )
            .into(),
        ),
        (
            "not title pr",
            r#"expected "(" after "not" at position 4, found "title""#.into(),
        ),
        (
            "not",
            r#"expected "(" after "not" at position 3, found end of input"#.into(),
        ),
        (
            "active gt true",
            concat!(
                "operator \"gt\" cannot compare true at position 7: gt, ge, lt ",
                "and le order strings, numbers and dates, not booleans or null"
            )
            .into(),
        ),
        (
            "title le null",
            concat!(
                "operator \"le\" cannot compare null at position 6: gt, ge, lt ",
                "and le order strings, numbers and dates, not booleans or null"
            )
            .into(),
        ),
        (
            "userName co 5",
            concat!(
                "operator \"co\" cannot compare 5 at position 9: co, sw ",
                "and ew match inside strings, so the value must be a string"
            )
            .into(),
        ),
        (
            "userName sw null",
            concat!(
                "operator \"sw\" cannot compare null at position 9: co, sw ",
                "and ew match inside strings, so the value must be a string"
            )
            .into(),
        ),
        (
            r#"userName eq "a\qb""#,
            r#"invalid escape sequence \q in a string at position 14"#.into(),
        ),
        (
            r#"a eq "\u00zz""#,
            r#"invalid escape sequence \u00z in a string at position 6"#.into(),
        ),
        (
            r#"a eq "\ud800""#,
            r#"invalid escape sequence \ud800 in a string at position 6"#.into(),
        ),
        (
            r#"a eq "\ud800\u0041""#,
            concat!(
                r#"invalid escape sequence \ud800\u0041 "#,
                r#"in a string at position 6"#
            )
            .into(),
        ),
        (
            r#"a eq "\udc00""#,
            r#"invalid escape sequence \udc00 in a string at position 6"#.into(),
        ),
        (
            "a eq \"tab\there\"",
            "unescaped control character U+0009 in a string at position 9".into(),
        ),
        ("a eq 01", r#"invalid number "01" at position 5"#.into()),
        ("a eq 1.", r#"invalid number "1." at position 5"#.into()),
        ("a eq -", r#"invalid number "-" at position 5"#.into()),
        ("a eq 1e999", r#"invalid number "1e999" at position 5"#.into()),
        ("a eq 12abc", r#"invalid number "12abc" at position 5"#.into()),
        (
            r#"1userName eq "x""#,
            r#"invalid number "1userName" at position 0"#.into(),
        ),
        (
            r#"userName eq "x" && title pr"#,
            "unexpected character '&' at position 16".into(),
        ),
        (
            r#"userName eq 'x'"#,
            "unexpected character ''' at position 12".into(),
        ),
        (r#"ü eq "x""#, "unexpected character 'ü' at position 0".into()),
        (
            r#"name.given.family eq "x""#,
            concat!(
                r#"invalid attribute path "name.given.family" at position "#,
                r#"0: only one sub-attribute may follow an attribute name"#
            )
            .into(),
        ),
        (
            r#"urn:x:y: eq "x""#,
            concat!(
                r#"invalid attribute path "urn:x:y:" at position "#,
                r#"0: an attribute name must follow the schema URI"#
            )
            .into(),
        ),
        (
            r#"name. eq "x""#,
            concat!(
                r#"invalid attribute path "name." at "#,
                r#"position 0: an attribute name is empty"#
            )
            .into(),
        ),
        (
            r#"urn:x:1a eq "x""#,
            concat!(
                r#"invalid attribute path "urn:x:1a" at position "#,
                r#"0: an attribute name must start with a letter"#
            )
            .into(),
        ),
        (
            r#"_x eq "x""#,
            concat!(
                r#"invalid attribute path "_x" at position 0: "#,
                r#"an attribute name must start with a letter"#
            )
            .into(),
        ),
        (
            r#"a$b eq "x""#,
            concat!(
                r#"invalid attribute path "a$b" at position 0: an attribute "#,
                r#"name may contain only letters, digits, '-' and '_'"#
            )
            .into(),
        ),
        (
            r#"emails[type[value eq "x"] eq "y"]"#,
            concat!(
                r#"a value filter cannot contain another "#,
                r#"value filter "[" at position 11"#
            )
            .into(),
        ),
        (
            r#"emails[type eq "work"].value"#,
            concat!(
                r#"expected an operator after "value" "#,
                r#"at position 28, found end of input"#
            )
            .into(),
        ),
        (
            r#"emails[type eq "work"]."#,
            concat!(
                r#"expected a sub-attribute name after "#,
                r#""]." at position 23, found end of input"#
            )
            .into(),
        ),
        (
            r#"name.x[a pr].b pr"#,
            concat!(
                r#"invalid attribute path "name.x[...].b" at position 13: a value path "#,
                r#"cannot have a sub-attribute both before and after the brackets"#
            )
            .into(),
        ),
        (
            r#"emails[type eq "work"].value.x eq "y""#,
            concat!(
                r#"invalid attribute path "value.x" at position 23: an "#,
                r#"attribute name may contain only letters, digits, '-' and '_'"#
            )
            .into(),
        ),
        (
            r#"emails[type eq "work"] eq "x""#,
            concat!(
                r#"expected "and", "or" or the end of "#,
                r#"the filter at position 23, found "eq""#
            )
            .into(),
        ),
    ];
    let rows: Vec<_> = cases
        .into_iter()
        .map(|(input, expected)| {
            (
                input.to_string(),
                format!("error: {expected}"),
                outcome(parse_filter(input)),
            )
        })
        .collect();
    check_rows(&rows);
}

/// The position is a character count, so a client's cursor lands on the right spot even
/// after non-ASCII text.
#[test]
fn error_positions_count_characters() {
    let input = r#"displayName eq "Zoë" and x"#;
    match parse_filter(input) {
        Err(error) => {
            assert_eq!(error.position(), 26);
            assert_eq!(error.position(), input.chars().count());
            assert_ne!(error.position(), input.len());
        }
        Ok(filter) => panic!("expected an error, got {filter}"),
    }
}

#[test]
fn nesting_and_size_limits() {
    let deep = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    assert!(parse_filter(&deep(super::super::MAX_NESTING)).is_ok());
    assert_eq!(
        outcome(parse_filter(&deep(super::super::MAX_NESTING + 1))),
        "error: the filter nests parentheses or \"not\" more than 32 levels deep at position 32"
    );
    let nots = format!("{}a pr{}", "not (".repeat(40), ")".repeat(40));
    assert!(outcome(parse_filter(&nots)).starts_with("error: the filter nests parentheses"));

    let chain = |n: usize| vec!["a eq 1"; n].join(" and ");
    let longest = parse_filter(&chain(super::super::MAX_EXPRESSIONS));
    match &longest {
        Ok(filter) => {
            // The deepest tree the limits allow still displays, evaluates and drops.
            assert!(filter.to_string().len() > 2000);
            assert!(filter.matches(&serde_json::json!({"a": 1}), &|_| false));
        }
        Err(error) => panic!("{error}"),
    }
    assert_eq!(
        outcome(parse_filter(&chain(super::super::MAX_EXPRESSIONS + 1))),
        "error: the filter has more than 256 attribute expressions at position 2816"
    );
}

#[test]
fn filters_compare_paths_case_insensitively() {
    let a = parse_filter(r#"USERNAME eq "x""#);
    let b = parse_filter(r#"userName eq "x""#);
    assert_eq!(a, b);
    // Values are data: their case is kept and matters for equality of the tree.
    assert_ne!(parse_filter(r#"userName eq "X""#), b);
}

#[test]
fn from_str_and_building_in_code() {
    let parsed: Result<Filter, _> = r#"name.givenName eq "Barbara""#.parse();
    let built = Filter::Compare {
        path: super::super::AttrPath::new("name").with_sub_attr("givenName"),
        op: CompareOp::Eq,
        value: CompValue::Str("Barbara".into()),
    };
    assert_eq!(parsed, Ok(built));
}
