//! Table-driven tests: each row is an input and the expected output, so a new case is one
//! row. Rows marked "MS" are the examples from Microsoft's reference pages.

use std::collections::BTreeSet;

use serde_json::{json, Value as Json};

use super::*;

fn attrs(text: &str) -> Json {
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("test attributes {text:?} are not JSON: {e}"),
    }
}

/// (expression, attributes as JSON, expected value; `None` is null).
const EVALUATE: &[(&str, &str, Option<&str>)] = &[
    // MS: Append
    (
        r#"Append([userPrincipalName], ".test")"#,
        r#"{"userPrincipalName": "John.Doe@contoso.com"}"#,
        Some("John.Doe@contoso.com.test"),
    ),
    // MS: Coalesce
    (
        r#"Coalesce([mail],[userPrincipalName])"#,
        r#"{"mail": null, "userPrincipalName": "John.Doe@contoso.com"}"#,
        Some("John.Doe@contoso.com"),
    ),
    (
        r#"Coalesce([mail],[userPrincipalName])"#,
        r#"{"mail": "jd@contoso.com", "userPrincipalName": "John.Doe@contoso.com"}"#,
        Some("jd@contoso.com"),
    ),
    // MS: IIF and its documented AND / OR nesting
    (
        r#"IIF([country]="USA",[country],[department])"#,
        r#"{"country": "USA", "department": "Sales"}"#,
        Some("USA"),
    ),
    (
        r#"IIF([country]="USA",[country],[department])"#,
        r#"{"country": "NZ", "department": "Sales"}"#,
        Some("Sales"),
    ),
    (
        r#"IIF([country]="USA",IIF([state]="CA","True","False"),"False")"#,
        r#"{"country": "USA", "state": "CA"}"#,
        Some("True"),
    ),
    (
        r#"IIF([country]="USA",IIF([state]="CA","True","False"),"False")"#,
        r#"{"country": "USA", "state": "WA"}"#,
        Some("False"),
    ),
    (
        r#"IIF([country]="USA","True",IIF([state]="CA","True","False"))"#,
        r#"{"country": "MX", "state": "CA"}"#,
        Some("True"),
    ),
    (
        r#"IIF([country]="USA","True",IIF([state]="CA","True","False"))"#,
        r#"{"country": "MX", "state": "WA"}"#,
        Some("False"),
    ),
    // MS: the Switch workaround for empty values recommended in the IIF section
    (
        r#"Switch([country],[country],"","Other")"#,
        r#"{"country": ""}"#,
        Some("Other"),
    ),
    (
        r#"Switch([country],[country],"","Other")"#,
        r#"{}"#,
        Some("Other"),
    ),
    (
        r#"Switch([country],[country],"","Other")"#,
        r#"{"country": "NZ"}"#,
        Some("NZ"),
    ),
    // MS: IIF instead of Switch (Switch caution note), and lower-case `switch` from the same note
    (
        r#"IIF([companyName] = "Company A", "A", IIF([companyName] = "Company B", "B", "External"))"#,
        r#"{"companyName": "Company B"}"#,
        Some("B"),
    ),
    (
        r#"switch([companyName], "External", "Company A", "A", "Company B", "B")"#,
        r#"{"companyName": "Company C"}"#,
        Some("External"),
    ),
    // MS: IsNull / IsNullOrEmpty / IsPresent
    (r#"IsNull([displayName])"#, r#"{}"#, Some("True")),
    (
        r#"IsNull([displayName])"#,
        r#"{"displayName": ""}"#,
        Some("False"),
    ),
    (
        r#"IsNullOrEmpty([displayName])"#,
        r#"{"displayName": ""}"#,
        Some("True"),
    ),
    (
        r#"IsNullOrEmpty([displayName])"#,
        r#"{"displayName": "Jo"}"#,
        Some("False"),
    ),
    (
        r#"IsPresent([displayName])"#,
        r#"{"displayName": "Jo"}"#,
        Some("True"),
    ),
    (
        r#"IsPresent([displayName])"#,
        r#"{"displayName": null}"#,
        Some("False"),
    ),
    // MS: Left
    (r#"Left("John Doe", 3)"#, r#"{}"#, Some("Joh")),
    // MS: "Generate user alias by concatenating parts of first and last name"
    (
        r#"Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))"#,
        r#"{"givenName": "John", "surname": "Doe"}"#,
        Some("JohDoe"),
    ),
    // MS: NormalizeDiacritics
    (
        r#"NormalizeDiacritics([givenName])"#,
        r#"{"givenName": "Zoë"}"#,
        Some("Zoe"),
    ),
    // MS: Replace, examples 1 to 6 and "Strip known domain name"
    (
        r#"Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )"#,
        r#"{"BusinessTitle": "Product Developer"}"#,
        Some("Software Engineer"),
    ),
    (
        r#"Replace([UserID],"<username>", , , , , "<username>@contoso.com")"#,
        r#"{"UserID": "jsmith"}"#,
        Some("jsmith@contoso.com"),
    ),
    (
        concat!(
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "#,
            r#""${phoneNumber}", , )"#,
        ),
        r#"{"telephoneNumber": "+91 9998887777"}"#,
        Some("9998887777"),
    ),
    // Microsoft's page gives "19998887777", but its pattern does not remove the "+".
    (
        r#"Replace([mobile], , "[()\\s-]+", , "", , )"#,
        r#"{"mobile": "+1 (999) 888-7777"}"#,
        Some("+19998887777"),
    ),
    (
        r#"Replace([AddressLineData], ,"(?<streetNumber>^\\d*)","streetNumber", "888", , )"#,
        r#"{"AddressLineData": "545 Tremont Street"}"#,
        Some("888 Tremont Street"),
    ),
    (
        r#"Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )"#,
        r#"{"userPrincipalName": "jsmith@contoso.com"}"#,
        Some("jsmith"),
    ),
    (
        concat!(
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , "#,
            r#", [mobile], )"#,
        ),
        r#"{"telephoneNumber": "", "mobile": "+91 8887779999"}"#,
        Some("8887779999"),
    ),
    (
        r#"Replace([mailNickname], , "[a-zA-Z_]*", , "", , )"#,
        r#"{"mailNickname": "john_doe72"}"#,
        Some("72"),
    ),
    (
        r#"Replace([mail], "@contoso.com", , ,"", ,)"#,
        r#"{"mail": "john.doe@contoso.com"}"#,
        Some("john.doe"),
    ),
    // MS: Switch
    (
        concat!(
            r#"Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "#,
            r#""SA", "Australia/Adelaide")"#,
        ),
        r#"{"state": "QLD"}"#,
        Some("Australia/Brisbane"),
    ),
    (
        concat!(
            r#"Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "#,
            r#""SA", "Australia/Adelaide")"#,
        ),
        r#"{"state": "VIC"}"#,
        Some("Australia/Sydney"),
    ),
    (
        r#"Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")"#,
        r#"{"statusFlag": "TRUE"}"#,
        Some("1"),
    ),
    (
        r#"Switch([statusFlag], "Default Value", "true", "1", "", "0")"#,
        r#"{"statusFlag": ""}"#,
        Some("0"),
    ),
    // MS: ToLower, and the rules inside the SelectUniqueValue example
    (
        concat!(
            r#"ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], "#,
            r#"[PreferredLastName]))), "contoso.com"))"#,
        ),
        r#"{"PreferredFirstName": "John", "PreferredLastName": "Smith"}"#,
        Some("john.smith@contoso.com"),
    ),
    (
        concat!(
            "Join(\"@\", NormalizeDiacritics(StripSpaces(Join(\".\",  Mid([PreferredFirstName], 1, 2), ",
            "[PreferredLastName]))),\n    \"contoso.com\")",
        ),
        r#"{"PreferredFirstName": "John", "PreferredLastName": "Smith"}"#,
        Some("Jo.Smith@contoso.com"),
    ),
    // MS: Word
    (r#"Word("The quick brown fox",3," ")"#, r#"{}"#, Some("brown")),
    (
        r#"Word("This,string!has&many separators",3,",!&#")"#,
        r#"{}"#,
        Some("has"),
    ),
    // MS: "Add a comma between last name and first name": Join skips empty values
    (
        r#"Join(", ", "", [surname], [givenName])"#,
        r#"{"givenName": "John", "surname": "Doe"}"#,
        Some("Doe, John"),
    ),
    // MS: string escapes
    (
        r#""Company name: \"Contoso\"""#,
        r#"{}"#,
        Some(r#"Company name: "Contoso""#),
    ),
    // Direct and constant mappings, dotted Okta paths, Graph extension attributes
    (r#"[mail]"#, r#"{"mail": "a@b.c"}"#, Some("a@b.c")),
    (r#"[mail]"#, r#"{}"#, None),
    (r#""Sales""#, r#"{}"#, Some("Sales")),
    (
        r#"[profile.department]"#,
        r#"{"profile": {"department": "Sales"}}"#,
        Some("Sales"),
    ),
    (
        r#"[extension_abc_employeeId]"#,
        r#"{"extension_abc_employeeId": "E1"}"#,
        Some("E1"),
    ),
    (
        r#"[a.b]"#,
        r#"{"a.b": "flat", "a": {"b": "nested"}}"#,
        Some("flat"),
    ),
    // JSON scalars become Entra's strings
    (r#"[accountEnabled]"#, r#"{"accountEnabled": true}"#, Some("True")),
    (r#"[employeeNumber]"#, r#"{"employeeNumber": 42}"#, Some("42")),
    (
        r#"Not([accountEnabled])"#,
        r#"{"accountEnabled": true}"#,
        Some("False"),
    ),
    (r#"Not("false")"#, r#"{}"#, Some("True")),
    (r#"Not([missing])"#, r#"{}"#, Some("True")),
    (r#"[groups]"#, r#"{"groups": ["only"]}"#, Some("only")),
    (r#"IsNull([groups])"#, r#"{"groups": []}"#, Some("True")),
    // Null propagation where Microsoft is silent, and its documented null rules
    (r#"Append([missing], "x")"#, r#"{}"#, None),
    (r#"Append("x", [missing])"#, r#"{}"#, Some("x")),
    (r#"ToLower([missing])"#, r#"{}"#, None),
    (r#"Mid([missing], 1, 2)"#, r#"{}"#, None),
    (r#"Replace([missing], "a", , , "b", , )"#, r#"{}"#, None),
    (r#"Left([missing], 2)"#, r#"{}"#, Some("")),
    (r#"Word([missing], 1, " ")"#, r#"{}"#, Some("")),
    (r#"Coalesce([a], [b])"#, r#"{}"#, None),
    (r#"Coalesce([a], [b], "default")"#, r#"{}"#, Some("default")),
    (r#"Coalesce([a], [b])"#, r#"{"a": "", "b": "x"}"#, Some("")),
    (r#"Join(".", [a], [b])"#, r#"{}"#, None),
    (r#"Switch([a], , "x", "y")"#, r#"{"a": "z"}"#, None),
    // Multi-valued sources
    (
        r#"Join(";", [proxyAddresses], "extra")"#,
        r#"{"proxyAddresses": ["a", "", "b", null]}"#,
        Some("a;b;extra"),
    ),
    (
        r#"Item([proxyAddresses], 2)"#,
        r#"{"proxyAddresses": ["a", "b", "c"]}"#,
        Some("b"),
    ),
    (
        r#"Item([proxyAddresses], 4)"#,
        r#"{"proxyAddresses": ["a", "b", "c"]}"#,
        None,
    ),
    (r#"Item([mail], 1)"#, r#"{"mail": "a@b.c"}"#, Some("a@b.c")),
    // Comparisons: null or empty makes every comparison false, `<>` included
    (r#"IIF([country]<>"USA","abroad","home")"#, r#"{}"#, Some("home")),
    (
        r#"IIF([country]<>"USA","abroad","home")"#,
        r#"{"country": "NZ"}"#,
        Some("abroad"),
    ),
    (
        r#"IIF([level] > 5, "senior", "junior")"#,
        r#"{"level": 12}"#,
        Some("senior"),
    ),
    (
        r#"IIF([level] >= 12, "senior", "junior")"#,
        r#"{"level": "12"}"#,
        Some("senior"),
    ),
    (r#"IIF([level] < 5, "a", "b")"#, r#"{"level": "10"}"#, Some("b")),
    (r#"IIF([level] <= -1, "a", "b")"#, r#"{"level": "-1"}"#, Some("a")),
    (r#"[a]=[b]"#, r#"{"a": "x", "b": "x"}"#, Some("True")),
    (r#"[a]="X""#, r#"{"a": "x"}"#, Some("False")),
    (
        r#"IIF(IsPresent([country]),[country],"Other")"#,
        r#"{}"#,
        Some("Other"),
    ),
    (r#"IIF([flag], "on", "off")"#, r#"{"flag": true}"#, Some("on")),
    // Function names in any casing
    (r#"JOIN(",", [a], [b])"#, r#"{"a": "1", "b": "2"}"#, Some("1,2")),
    (r#"iif([a]="1", "y", "n")"#, r#"{"a": "1"}"#, Some("y")),
    // Edges of Left, Mid, Word
    (r#"Left("abc", 0)"#, r#"{}"#, Some("")),
    (r#"Left("abc", -1)"#, r#"{}"#, Some("abc")),
    (r#"Left("abc", 10)"#, r#"{}"#, Some("abc")),
    (r#"Mid("abcdef", 2, 3)"#, r#"{}"#, Some("bcd")),
    (r#"Mid("abc", 2, 10)"#, r#"{}"#, Some("bc")),
    (r#"Mid("abc", 5, 1)"#, r#"{}"#, Some("")),
    (r#"Mid("Zoë Ångström", 5, 3)"#, r#"{}"#, Some("Ång")),
    (r#"Word("a  b", 2, " ")"#, r#"{}"#, Some("b")),
    (r#"Word("a b", 0, " ")"#, r#"{}"#, Some("")),
    (r#"Word("a b", 3, " ")"#, r#"{}"#, Some("")),
    // Casing with and without culture
    (r#"ToUpper("istanbul")"#, r#"{}"#, Some("ISTANBUL")),
    (r#"ToUpper("istanbul", "tr-TR")"#, r#"{}"#, Some("İSTANBUL")),
    (r#"ToLower("ISTANBUL", "tr-TR")"#, r#"{}"#, Some("ıstanbul")),
    (r#"ToUpper("straße")"#, r#"{}"#, Some("STRAßE")),
    (r#"ToLower("ÉLODIE")"#, r#"{}"#, Some("élodie")),
    // NormalizeDiacritics: rows of Microsoft's table, and non-Latin scripts left alone
    (
        r#"NormalizeDiacritics("Ångström Æsir Øre Łódź Straße Ğ ū̀")"#,
        r#"{}"#,
        Some("Angstrom AEsir OEre Lodz Strasse G u"),
    ),
    (
        r#"NormalizeDiacritics("œ̄ ǣ ı İ ș ț")"#,
        r#"{}"#,
        Some("oe ae i I s t"),
    ),
    (r#"NormalizeDiacritics("Йосиф が")"#, r#"{}"#, Some("Йосиф が")),
    // Trim is an idsync addition; StripSpaces removes only spaces
    (r#"Trim("  a b  ")"#, r#"{}"#, Some("a b")),
    ("StripSpaces(\" a b\tc \")", r#"{}"#, Some("ab\tc")),
    // Backslash escapes and whitespace between tokens
    (r#""a\\b""#, r#"{}"#, Some(r"a\b")),
    (
        "Join(\n  \"-\",\n  [a],\n  [b]\n)",
        r#"{"a": "1", "b": "2"}"#,
        Some("1-2"),
    ),
    // Replace: .NET replacement syntax and the fallback form with a source that has a value
    (
        r#"Replace([x], , "(\\d+)-(\\d+)", , "$2-$1", , )"#,
        r#"{"x": "12-34"}"#,
        Some("34-12"),
    ),
    (
        r#"Replace([x], , "b", , "[$&]", , )"#,
        r#"{"x": "abc"}"#,
        Some("a[b]c"),
    ),
    (
        r#"Replace([x], , "b", , "$5 $", , )"#,
        r#"{"x": "abc"}"#,
        Some("a $c"),
    ),
    (
        concat!(
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , "#,
            r#", [mobile], )"#,
        ),
        r#"{"telephoneNumber": "555", "mobile": "+91 8887779999"}"#,
        Some("555"),
    ),
    (
        concat!(
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , "#,
            r#", [mobile], )"#,
        ),
        r#"{"mobile": "none"}"#,
        None,
    ),
    (
        r#"Replace([x], [old], , , [new], , )"#,
        r#"{"x": "a.b.c", "old": ".", "new": "/"}"#,
        Some("a/b/c"),
    ),
    (
        r##"Replace([x], , [pattern], , "#", , )"##,
        r#"{"x": "a1b2", "pattern": "\\d"}"#,
        Some("a#b#"),
    ),
];

#[test]
fn expressions_evaluate_as_documented() {
    let mut failures = Vec::new();
    for (source, input, expected) in EVALUATE {
        let got = Expression::parse(source)
            .map_err(|e| format!("parse error {e}"))
            .and_then(|e| e.evaluate(&attrs(input)).map_err(|e| format!("eval error {e}")));
        if got.as_ref().map(Option::as_deref) != Ok(*expected) {
            failures.push(format!(
                "{source}\n  with {input}\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// (expression, attributes, expected error as displayed).
const EVALUATION_ERRORS: &[(&str, &str, &str)] = &[
    (
        r#"[proxyAddresses]"#,
        r#"{"proxyAddresses": ["a", "b"]}"#,
        concat!(
            "at position 1: the expression produced 2 values where one ",
            "was expected; combine them with Join or ",
            "pick one with Item",
        ),
    ),
    (
        r#"ToLower([proxyAddresses])"#,
        r#"{"proxyAddresses": ["a", "b"]}"#,
        concat!(
            "at position 9: ToLower: source has 2 values where one was expected; combine them with Join or ",
            "pick one with Item",
        ),
    ),
    (
        r#"Mid([x], [start], 2)"#,
        r#"{"x": "abc", "start": "abc"}"#,
        r#"at position 10: Mid: start must be a whole number, got "abc""#,
    ),
    (
        r#"Left([x], [n])"#,
        r#"{"x": "abc"}"#,
        "at position 11: Left: NumChars must be a whole number, got null",
    ),
    (
        r#"Mid("abc", 0, 1)"#,
        r#"{}"#,
        "at position 1: Mid: start must be at least 1, got 0",
    ),
    (
        r#"Mid("abc", 1, -1)"#,
        r#"{}"#,
        "at position 1: Mid: length must be at least 0, got -1",
    ),
    (
        r#"Item([p], 0)"#,
        r#"{"p": ["a"]}"#,
        "at position 1: Item: index must be at least 1, got 0",
    ),
    (
        r#"IIF([flag], "a", "b")"#,
        r#"{"flag": "maybe"}"#,
        r#"at position 5: IIF: the condition evaluated to "maybe", which is neither "True" nor "False""#,
    ),
    (
        r#"IIF([n] > 5, "a", "b")"#,
        r#"{"n": "x"}"#,
        r#"at position 9: '>' compares numbers, but "x" is not a number"#,
    ),
    (
        r#"IIF([n] > 5, "a", "b")"#,
        r#"{"n": "inf"}"#,
        r#"at position 9: '>' compares numbers, but "inf" is not a number"#,
    ),
    (
        r#"Replace([x], , [pattern], , "", , )"#,
        r#"{"x": "a", "pattern": "("}"#,
        r#"at position 16: Replace: regexPattern "(" is not a valid regular expression: unclosed group"#,
    ),
    (
        r#"Replace([x], , [pattern], , "", , )"#,
        r#"{"x": "a"}"#,
        "at position 1: Replace: regexPattern evaluated to null",
    ),
    (
        r#"Replace([x], , [pattern], [group], "", , )"#,
        r#"{"x": "a", "pattern": "(?<g>a)", "group": "h"}"#,
        r#"at position 27: Replace: regexPattern "(?<g>a)" has no group named "h""#,
    ),
    (
        r#"Replace([x], [old], , , "y", , )"#,
        r#"{"x": "a", "old": ""}"#,
        "at position 14: Replace: oldValue is empty, so there is nothing to replace",
    ),
    (
        r#"ToLower([manager])"#,
        r#"{"manager": {"id": "1"}}"#,
        concat!(
            "at position 9: attribute [manager] holds a JSON object; expressions work on strings, numbers, ",
            "booleans and arrays of them",
        ),
    ),
    (
        r#"Join(",", [x])"#,
        r#"{"x": [[1]]}"#,
        concat!(
            "at position 11: attribute [x] holds a JSON array; ",
            "expressions work on strings, numbers, booleans ",
            "and arrays of them",
        ),
    ),
];

#[test]
fn evaluation_errors_name_the_position_and_the_problem() {
    let mut failures = Vec::new();
    for (source, input, expected) in EVALUATION_ERRORS {
        let got = Expression::parse(source)
            .map_err(|e| format!("parse error {e}"))
            .map(|e| e.evaluate(&attrs(input)));
        match got {
            Ok(Err(e)) if e.to_string() == *expected => {}
            other => failures.push(format!("{source}\n  expected {expected}\n  got      {other:?}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// (expression, expected error as displayed).
const PARSE_ERRORS: &[(&str, &str)] = &[
    (
        r#"Join(",", [a] [b])"#,
        "at position 15: expected ',' or ')' after argument 2 of Join, found attribute [b]",
    ),
    (
        r#"Join("é", [a] [b])"#,
        "at position 15: expected ',' or ')' after argument 2 of Join, found attribute [b]",
    ),
    (
        r#"Join(",", [a]"#,
        "at position 14: expected ',' or ')' after argument 2 of Join, found the end of the expression",
    ),
    (
        r#"Mid([a], 1, 2"#,
        "at position 14: expected ',' or ')' after argument 3 of Mid, found the end of the expression",
    ),
    (
        r#"Foo([a])"#,
        concat!(
            "at position 1: unknown function 'Foo'; the functions are Append, Coalesce, IIF, IsNull, ",
            "IsNullOrEmpty, IsPresent, Item, Join, Left, Mid, NormalizeDiacritics, Not, Replace, ",
            "StripSpaces, Switch, ToLower, ToUpper, Trim, Word",
        ),
    ),
    (
        r#"FormatDateTime([x], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")"#,
        "at position 1: FormatDateTime is an Entra function that idsync does not support",
    ),
    (
        r#"Trim(split([x], ","))"#,
        "at position 6: Split is an Entra function that idsync does not support",
    ),
    (
        r#"Left("abc")"#,
        "at position 1: Left takes 2 arguments, as in Left(String, NumChars); found 1",
    ),
    (
        r#"IsNull()"#,
        "at position 1: IsNull takes 1 argument, as in IsNull(Expression); found 0",
    ),
    (
        r#"ToLower("a", "tr", "x")"#,
        "at position 1: ToLower takes 1 to 2 arguments, as in ToLower(source, culture); found 3",
    ),
    (
        r#"Join(",")"#,
        concat!(
            "at position 1: Join takes at least 2 arguments, as in Join(separator, source1, source2, ...); ",
            "found 1",
        ),
    ),
    (
        r#"Switch([a], "d", "k")"#,
        concat!(
            "at position 1: Switch takes at least 4 arguments, as in Switch(source, defaultValue, key1, ",
            "value1, key2, value2, ...); found 3",
        ),
    ),
    (
        r#"Switch([a], "d", "k", "v", "k2")"#,
        concat!(
            "at position 1: Switch takes key/value pairs after source and defaultValue, so an even number ",
            "of arguments; found 5",
        ),
    ),
    (
        r#"Switch([a], "d", , "v")"#,
        "at position 18: Switch: argument 3 (key1) is required but empty",
    ),
    (
        r#"IIF([a]="x", , "b")"#,
        "at position 14: IIF: argument 2 (valueIfTrue) is required but empty",
    ),
    (
        r#"Join(",", [a],, [b])"#,
        "at position 15: Join: argument 3 (source2) is required but empty",
    ),
    (
        r#"Replace([a], "x", , , "y")"#,
        concat!(
            "at position 1: Replace takes 7 arguments, as in Replace(source, oldValue, regexPattern, ",
            "regexGroupName, replacementValue, replacementAttributeName, template); found 5",
        ),
    ),
    (
        r#"Replace(, "x", , , "y", , )"#,
        "at position 9: Replace: argument 1 (source) is required but empty",
    ),
    (
        r#"Replace([a], "x", , , , , )"#,
        "at position 1: Replace: oldValue needs replacementValue or template",
    ),
    (
        r#"Replace([a], "x", "y", , "z", , )"#,
        "at position 1: Replace: give oldValue or regexPattern, not both",
    ),
    (
        r#"Replace([a], , , , "z", , )"#,
        "at position 1: Replace: needs oldValue or regexPattern",
    ),
    (
        r#"Replace([a], "x", , , "y", , "t")"#,
        "at position 1: Replace: give oldValue with replacementValue or with template, not both",
    ),
    (
        r#"Replace([a], "x", , "g", "y", , )"#,
        "at position 1: Replace: regexGroupName and replacementAttributeName work only with regexPattern",
    ),
    (
        r#"Replace([a], , "x", , "y", , "t")"#,
        "at position 1: Replace: template works only with oldValue",
    ),
    (
        r#"Replace([a], , "x", , , [b], )"#,
        "at position 1: Replace: replacementAttributeName needs regexGroupName",
    ),
    (
        r#"Replace([a], , "(?<g>x)", "g", , , )"#,
        "at position 1: Replace: regexGroupName needs replacementValue or replacementAttributeName",
    ),
    (
        r#"Replace([a], , "(", , "z", , )"#,
        "at position 16: Replace: regexPattern is not a valid regular expression: unclosed group",
    ),
    (
        r#"Replace([a], , "(?<=a)b", , "z", , )"#,
        concat!(
            "at position 16: Replace: regexPattern is not a valid regular expression: look-around, ",
            "including look-ahead and look-behind, is not supported",
        ),
    ),
    (
        r#"Replace([a], , "(?<x>a)", "y", "z", , )"#,
        r#"at position 27: Replace: regexPattern has no group named "y""#,
    ),
    (
        r#"[a"#,
        "at position 3: expected ']' to close the attribute opened at position 1",
    ),
    (
        r#"[]"#,
        "at position 1: expected an attribute name between '[' and ']'",
    ),
    (
        r#"[a b]"#,
        concat!(
            "at position 3: unexpected character ' ' in an attribute name: expected a letter, a digit, '_', ",
            "'.', ':', '-' or the closing ']'",
        ),
    ),
    (
        r#""abc"#,
        r#"at position 5: expected '"' to close the string constant opened at position 1"#,
    ),
    (
        r#"Replace([a], , "\d", , "", , )"#,
        concat!(
            r#"at position 17: expected '\' or '"' after '\' in a string constant (write a literal "#,
            r#"backslash as \\)"#,
        ),
    ),
    (
        r#"Join"#,
        concat!(
            r#"at position 1: expected '(' after 'Join': a bare word can only be a function name; "#,
            r#"attributes go in [brackets] and strings in "quotes""#,
        ),
    ),
    (
        r#"Left("abc", vbBinaryCompare)"#,
        concat!(
            r#"at position 13: expected '(' after 'vbBinaryCompare': a bare word can only be a function "#,
            r#"name; attributes go in [brackets] and strings in "quotes""#,
        ),
    ),
    (
        r#""#,
        concat!(
            "at position 1: expected an attribute, a string constant, a number or a function call, found ",
            "the end of the expression",
        ),
    ),
    (
        r#"   "#,
        concat!(
            "at position 4: expected an attribute, a string constant, a number or a function call, found ",
            "the end of the expression",
        ),
    ),
    (
        r#"[a] [b]"#,
        "at position 5: expected the end of the expression, found attribute [b]",
    ),
    (
        r#"ToLower([a]) )"#,
        "at position 14: expected the end of the expression, found ')'",
    ),
    (
        r#"[a]="x"="y""#,
        concat!(
            "at position 8: expected the end of the expression, found '=' (comparisons cannot be chained; ",
            "nest IIF calls instead)",
        ),
    ),
    (
        r#"IIF([a]=, "x", "y")"#,
        "at position 9: expected a value after '=', found ','",
    ),
    (
        r#"Join(",", ([a]))"#,
        "at position 11: expected an attribute, a string constant, a number or a function call, found '('",
    ),
    (
        r#"Append([a], @)"#,
        concat!(
            r#"at position 13: unexpected character '@': expected an attribute in [brackets], a string in "#,
            r#""quotes", a number or a function call"#,
        ),
    ),
    (
        r#"&HF"#,
        concat!(
            r#"at position 1: unexpected character '&': expected an attribute in [brackets], a string in "#,
            r#""quotes", a number or a function call"#,
        ),
    ),
];

#[test]
fn parse_errors_say_where_and_what_was_expected() {
    let mut failures = Vec::new();
    for (source, expected) in PARSE_ERRORS {
        match Expression::parse(source) {
            Err(e) if e.to_string() == *expected => {}
            Err(e) => failures.push(format!("{source}\n  expected {expected}\n  got      {e}")),
            Ok(_) => failures.push(format!("{source}\n  expected {expected}\n  but it parsed")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let source = format!("{}[a]{}", "Trim(".repeat(100), ")".repeat(100));
    let error = Expression::parse(&source).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(
        error,
        Err("at position 321: expression nests functions deeper than 64 levels".to_owned())
    );
    let fine = format!("{}[a]{}", "Trim(".repeat(64), ")".repeat(64));
    assert!(Expression::parse(&fine).is_ok());
}

/// (expression, the attributes it reads).
const ATTRIBUTES: &[(&str, &[&str])] = &[
    (
        r#"Coalesce([mail], Join(".", [givenName], [surname]), [mail])"#,
        &["givenName", "mail", "surname"],
    ),
    (
        concat!(
            r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , "#,
            r#", [mobile], )"#,
        ),
        &["mobile", "telephoneNumber"],
    ),
    (r#"Replace([x], [old], , , [new], , )"#, &["new", "old", "x"]),
    (
        r#"Replace([x], , [pattern], [group], "", , )"#,
        &["group", "pattern", "x"],
    ),
    (
        r#"IIF([country]="USA",[country],[department])"#,
        &["country", "department"],
    ),
    (
        concat!(
            r#"Switch(IsPresent([directManager]),[directManager], "#,
            r#"IsPresent([skiplevelManager]),[skiplevelManager], IsPresent([director]),[director])"#,
        ),
        &["directManager", "director", "skiplevelManager"],
    ),
    (
        r#"Append([extension_abc_employeeId], [profile.login])"#,
        &["extension_abc_employeeId", "profile.login"],
    ),
    (r#""constant""#, &[]),
];

#[test]
fn attributes_lists_every_attribute_read() {
    for (source, expected) in ATTRIBUTES {
        let got = Expression::parse(source).map(|e| e.attributes());
        let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(got, Ok(expected), "{source}");
    }
}

#[test]
fn evaluate_values_keeps_every_value_for_multi_valued_targets() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[proxyAddresses]",
            r#"{"proxyAddresses": ["a", "b"]}"#,
            &["a", "b"],
        ),
        ("[proxyAddresses]", r#"{"proxyAddresses": []}"#, &[]),
        ("[mail]", r#"{"mail": "m"}"#, &["m"]),
        ("[mail]", r#"{}"#, &[]),
    ];
    for (source, input, expected) in cases {
        let got = Expression::parse(source)
            .map_err(|e| e.to_string())
            .and_then(|e| e.evaluate_values(&attrs(input)).map_err(|e| e.to_string()));
        let expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(got, Ok(expected), "{source} with {input}");
    }
}

#[test]
fn expressions_read_from_configuration_report_positions() {
    let ok: Result<Expression, _> = serde_json::from_value(json!("Join(\" \", [a], [b])"));
    assert_eq!(
        ok.map(|e| e.to_string()).map_err(|e| e.to_string()),
        Ok("Join(\" \", [a], [b])".to_owned())
    );
    let bad: Result<Expression, _> = serde_json::from_value(json!("Left([a])"));
    assert_eq!(
        bad.map(|_| ()).map_err(|e| e.to_string()),
        Err("at position 1: Left takes 2 arguments, as in Left(String, NumChars); found 1".to_owned())
    );
}

#[test]
fn mapping_reports_the_target_of_a_bad_expression() {
    let rows = [
        ("userName", "[userPrincipalName]", false),
        ("displayName", r#"Join(" ", [givenName] [surname])"#, false),
    ];
    let error = Mapping::new(rows).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(
        error,
        Err(concat!(
            r#"mapping for "displayName": at position 23: expected ',' or ')' after argument 2 of Join, "#,
            r#"found attribute [surname]"#,
        )
        .to_owned())
    );
    let duplicate = Mapping::new([("a", "[x]", false), ("a", "[y]", true)]).map(|_| ());
    assert_eq!(
        duplicate.map_err(|e| e.to_string()),
        Err(r#""a" is mapped more than once"#.to_owned())
    );
}

#[test]
fn mapping_applies_create_only_entries_on_create_only() {
    let mapping = Mapping::new([
        ("email", "Coalesce([mail], [userPrincipalName])", false),
        (
            "username",
            r#"ToLower(Replace([userPrincipalName], "@contoso.com", , , "", , ))"#,
            true,
        ),
        ("department", "[department]", false),
    ]);
    let Ok(mapping) = mapping else {
        panic!("mapping should parse: {mapping:?}");
    };
    let user = attrs(r#"{"userPrincipalName": "J.Doe@contoso.com"}"#);
    let owned = |rows: Vec<(&str, Option<String>)>| -> Vec<(String, Option<String>)> {
        rows.into_iter().map(|(t, v)| (t.to_owned(), v)).collect()
    };
    let created = mapping.evaluate(&user, Purpose::Create).map(owned);
    let updated = mapping.evaluate(&user, Purpose::Update).map(owned);
    let s = |t: &str, v: Option<&str>| (t.to_owned(), v.map(str::to_owned));
    assert_eq!(
        created,
        Ok(vec![
            s("email", Some("J.Doe@contoso.com")),
            s("username", Some("j.doe")),
            s("department", None),
        ])
    );
    assert_eq!(
        updated,
        Ok(vec![s("email", Some("J.Doe@contoso.com")), s("department", None)])
    );
    let expected_attributes: BTreeSet<String> = ["department", "mail", "userPrincipalName"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(mapping.attributes(), expected_attributes);

    let failing = Mapping::new([("n", "Left([x], [count])", false)]);
    let result = failing.map(|m| {
        m.evaluate(&attrs(r#"{"x": "abc", "count": "two"}"#), Purpose::Update)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    assert_eq!(
        result.map_err(|e| e.to_string()),
        Ok(Err(
            r#"mapping for "n": at position 11: Left: NumChars must be a whole number, got "two""#.to_owned()
        ))
    );
}

// ---------------------------------------------------------------------------------------
// Scoping filters

fn scope(filters: Json) -> Result<Scope, String> {
    serde_json::from_value::<Scope>(filters).map_err(|e| e.to_string())
}

/// (operator, value, the attribute `a` as JSON (`-` for absent), in scope?). Each row is a
/// scope with one filter of one clause on attribute `a`.
const CLAUSES: &[(&str, Option<&str>, &str, bool)] = &[
    ("IS NOT NULL", None, r#""x""#, true),
    ("IS NOT NULL", None, r#""""#, false),
    ("IS NOT NULL", None, "null", false),
    ("IS NOT NULL", None, "-", false),
    ("IS NOT NULL", None, "[]", false),
    ("IS NOT NULL", None, r#"["x", "y"]"#, true),
    ("IS NOT NULL", None, "false", true),
    ("IS NOT NULL", None, "0", true),
    ("IS NULL", None, "-", true),
    ("IS NULL", None, r#""""#, true),
    ("IS NULL", None, r#""x""#, false),
    ("EQUALS", Some("Sales"), r#""Sales""#, true),
    ("EQUALS", Some("Sales"), r#""sales""#, false),
    ("EQUALS", Some("Sales"), "-", false),
    ("EQUALS", Some("Sales"), r#"["Sales"]"#, true),
    ("EQUALS", Some("Sales"), r#"["Sales", "HR"]"#, false),
    ("EQUALS", Some("42"), "42", true),
    ("NOT EQUALS", Some("Sales"), r#""Marketing""#, true),
    ("NOT EQUALS", Some("Sales"), r#""Sales""#, false),
    ("NOT EQUALS", Some("Sales"), "-", false),
    ("NOT EQUALS", Some("Sales"), r#""""#, false),
    ("IS TRUE", None, "true", true),
    ("IS TRUE", None, r#""True""#, true),
    ("IS TRUE", None, "false", false),
    ("IS TRUE", None, r#""yes""#, false),
    ("IS TRUE", None, "-", false),
    ("IS FALSE", None, "false", true),
    ("IS FALSE", None, r#""FALSE""#, true),
    ("IS FALSE", None, "true", false),
    ("IS FALSE", None, "-", false),
    // MS "Common scoping filters": unanchored, case-sensitive .NET-style matching
    ("REGEX MATCH", Some(r".*\@domain.com"), r#""jo@domain.com""#, true),
    ("REGEX MATCH", Some(r".*\@domain.com"), r#""jo@other.com""#, false),
    ("REGEX MATCH", Some("([1-9][0-9])"), r#""45""#, true),
    ("REGEX MATCH", Some("([1-9][0-9])"), r#""5""#, false),
    (
        "REGEX MATCH",
        Some("(1[0-9][0-9][0-9][0-9][0-9][0-9])"),
        r#""1234567""#,
        true,
    ),
    (
        "REGEX MATCH",
        Some("(1[0-9][0-9][0-9][0-9][0-9][0-9])"),
        "1234567",
        true,
    ),
    ("REGEX MATCH", Some("^sales$"), r#""Sales""#, false),
    (
        "NOT REGEX MATCH",
        Some(r".*\@domain.com"),
        r#""jo@other.com""#,
        true,
    ),
    (
        "NOT REGEX MATCH",
        Some(r".*\@domain.com"),
        r#""jo@domain.com""#,
        false,
    ),
    ("NOT REGEX MATCH", Some(r".*\@domain.com"), "-", false),
    ("Greater_Than", Some("1000000"), "1500000", true),
    ("Greater_Than", Some("1000000"), r#""1500000""#, true),
    ("Greater_Than", Some("1000000"), "1000000", false),
    ("Greater_Than", Some("1000000"), r#""abc""#, false),
    ("Greater_Than", Some("1000000"), "-", false),
    ("Greater_Than_OR_EQUALS", Some("1000000"), "1000000", true),
    ("Greater_Than_OR_EQUALS", Some("1000000"), "999999", false),
    ("Includes", Some("Eng"), r#""Engineering""#, true),
    ("Includes", Some("Eng"), r#""engineering""#, false),
    ("ENDS_WITH", Some("@contoso.com"), r#""jo@contoso.com""#, true),
    ("ENDS_WITH", Some("@contoso.com"), r#""jo@contoso.com.au""#, false),
    ("ENDS_WITH", Some("@contoso.com"), r#""jo@CONTOSO.com""#, false),
];

#[test]
fn scoping_clauses_follow_microsofts_operator_table() {
    let mut failures = Vec::new();
    for (operator, value, attribute, expected) in CLAUSES {
        let clause = match value {
            Some(v) => json!({"attribute": "a", "operator": operator, "value": v}),
            None => json!({"attribute": "a", "operator": operator}),
        };
        let user = if *attribute == "-" {
            json!({})
        } else {
            json!({"a": attrs(attribute)})
        };
        match scope(json!([{"clauses": [clause]}])) {
            Ok(s) if s.matches(&user) == *expected => {}
            Ok(s) => failures.push(format!(
                "a {operator} {value:?} with a = {attribute}: expected {expected}, got {}",
                s.explain(&user)
            )),
            Err(e) => failures.push(format!("a {operator} {value:?}: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// (operator as written, the operator it means).
const OPERATOR_SPELLINGS: &[(&str, Operator)] = &[
    ("IS NOT NULL", Operator::IsNotNull),
    ("IS_NOT_NULL", Operator::IsNotNull),
    ("is  not   null", Operator::IsNotNull),
    ("IS NULL", Operator::IsNull),
    ("Equals", Operator::Equals),
    ("NOT_EQUALS", Operator::NotEquals),
    ("IS TRUE", Operator::IsTrue),
    ("is_false", Operator::IsFalse),
    ("REGEX MATCH", Operator::RegexMatch),
    ("NOT_REGEX_MATCH", Operator::NotRegexMatch),
    ("Greater_Than", Operator::GreaterThan),
    ("GREATER THAN OR EQUALS", Operator::GreaterThanOrEquals),
    ("Greater_Than_OR_EQUALS", Operator::GreaterThanOrEquals),
    ("includes", Operator::Includes),
    ("ENDS_WITH", Operator::EndsWith),
    ("ends with", Operator::EndsWith),
];

#[test]
fn operators_parse_in_any_documented_spelling() {
    for (text, expected) in OPERATOR_SPELLINGS {
        assert_eq!(text.parse::<Operator>(), Ok(*expected), "{text}");
        assert_eq!(expected.name().parse::<Operator>(), Ok(*expected));
    }
}

/// (scope as JSON, expected error as displayed).
fn scope_errors() -> Vec<(Json, &'static str)> {
    vec![
        (
            json!([{"clauses": [{"attribute": "department", "operator": "EQUALS"}]}]),
            "scoping filter 1, clause 1 (department EQUALS): EQUALS needs a value",
        ),
        (
            json!([{"clauses": [{"attribute": "mail", "operator": "IS NOT NULL"}]},
                {"clauses": [{"attribute": "mail", "operator": "IS NOT NULL"},
                             {"attribute": "mail", "operator": "IS NULL", "value": "x"}]}]),
            "scoping filter 2, clause 2 (mail IS NULL): IS NULL takes no value",
        ),
        (
            json!([{"clauses": [{"attribute": "upn", "operator": "REGEX MATCH", "value": "("}]}]),
            concat!(
                "scoping filter 1, clause 1 (upn REGEX MATCH): value is not a valid regular expression: ",
                "unclosed group",
            ),
        ),
        (
            json!([{"clauses": [{"attribute": "id", "operator": "Greater_Than", "value": "ten"}]}]),
            "scoping filter 1, clause 1 (id Greater_Than): value must be an integer, got \"ten\"",
        ),
        (
            json!([{"clauses": [{"attribute": " ", "operator": "IS NULL"}]}]),
            "scoping filter 1, clause 1 (  IS NULL): attribute is empty",
        ),
        (
            json!([{"name": "empty", "clauses": []}]),
            "scoping filter 1 has no clauses",
        ),
        (
            json!([{"clauses": [{"attribute": "a", "operator": "LIKE", "value": "x"}]}]),
            concat!(
                "unknown scoping operator \"LIKE\": the operators are IS NOT NULL, IS NULL, EQUALS, NOT ",
                "EQUALS, IS TRUE, IS FALSE, REGEX MATCH, NOT REGEX MATCH, Greater_Than, ",
                "Greater_Than_OR_EQUALS, Includes, ENDS_WITH",
            ),
        ),
        (
            json!([{"clauses": [{"attribute": "a", "operator": "&", "value": "x"}]}]),
            concat!(
                "unknown scoping operator \"&\": Microsoft's description ",
                "of '&' and '!&' leaves their meaning ",
                "unclear, so idsync does not offer them; use REGEX MATCH",
            ),
        ),
        (
            json!([{"clauses": [{"attribute": "a", "operator": "contains", "value": "x"}]}]),
            "unknown scoping operator \"contains\": use Includes",
        ),
        (
            json!([{"clauses": [{"attribute": "a", "operator": "EQUALS", "values": "x"}]}]),
            "unknown field `values`, expected one of `attribute`, `operator`, `value`",
        ),
        (
            json!([{"clause": []}]),
            "unknown field `clause`, expected `name` or `clauses`",
        ),
        (
            json!([{"clauses": [{"attribute": "a", "operator": "EQUALS", "value": ["x"]}]}]),
            "invalid type: sequence, expected a string or an integer",
        ),
    ]
}

#[test]
fn invalid_scopes_are_rejected_with_the_filter_and_clause() {
    let mut failures = Vec::new();
    for (filters, expected) in scope_errors() {
        match scope(filters.clone()) {
            Err(e) if e == expected => {}
            Err(e) => failures.push(format!("{filters}\n  expected {expected}\n  got      {e}")),
            Ok(_) => failures.push(format!("{filters}\n  expected {expected}\n  but it was accepted")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn integer_values_are_accepted_for_numeric_clauses() {
    let parsed: Result<Vec<ScopingFilter>, _> = serde_json::from_value(json!([
        {"clauses": [{"attribute": "employeeId", "operator": "Greater_Than", "value": 1000000}]}
    ]));
    let value = parsed
        .as_ref()
        .ok()
        .and_then(|f| f.first())
        .and_then(|f| f.clauses.first())
        .and_then(|c| c.value.clone());
    assert_eq!(value.as_deref(), Some("1000000"), "{parsed:?}");
}

/// Microsoft's example filter: New York, Engineering, employee ID between 1,000,000 and
/// 2,000,000, a job title. Entra has no Less_Than, so the upper bound is a regular expression.
fn example_scope() -> Json {
    json!([
        {"name": "NY engineers", "clauses": [
            {"attribute": "state", "operator": "EQUALS", "value": "New York"},
            {"attribute": "department", "operator": "EQUALS", "value": "Engineering"},
            {"attribute": "employeeId", "operator": "Greater_Than_OR_EQUALS", "value": 1000000},
            {"attribute": "employeeId", "operator": "REGEX MATCH", "value": "^(1[0-9]{6}|2000000)$"},
            {"attribute": "jobTitle", "operator": "IS NOT NULL"}
        ]},
        {"clauses": [
            {"attribute": "mail", "operator": "ENDS_WITH", "value": "@contractors.contoso.com"}
        ]}
    ])
}

/// (scope, user, the decision as displayed).
fn decisions() -> Vec<(Json, &'static str, &'static str)> {
    vec![
        (json!([]), r#"{}"#, "in scope: no scoping filters are configured"),
        (
            example_scope(),
            concat!(
                r#"{"state": "New York", "department": "Engineering", "employeeId": "1500000", "jobTitle": "#,
                r#""Dev"}"#,
            ),
            r#"in scope: every clause of scoping filter 1 ("NY engineers") holds"#,
        ),
        (
            example_scope(),
            r#"{"state": "New York", "department": "Sales", "mail": "x@contractors.contoso.com"}"#,
            "in scope: every clause of scoping filter 2 holds",
        ),
        (
            example_scope(),
            r#"{"state": "New York", "department": "Sales", "mail": "x@contoso.com"}"#,
            concat!(
                r#"out of scope: scoping filter 1 ("NY engineers"), clause 2 (department EQUALS "#,
                r#""Engineering") is false: the value is "Sales"; scoping filter 2, clause 1 (mail "#,
                r#"ENDS_WITH "@contractors.contoso.com") is false: the value is "x@contoso.com""#,
            ),
        ),
        (
            example_scope(),
            concat!(
                r#"{"state": "New York", "department": "Engineering", "employeeId": "2500000", "jobTitle": "#,
                r#""Dev"}"#,
            ),
            concat!(
                r#"out of scope: scoping filter 1 ("NY engineers"), clause 4 (employeeId REGEX MATCH "#,
                r#""^(1[0-9]{6}|2000000)$") is false: the value is "2500000"; scoping filter 2, clause 1 "#,
                r#"(mail ENDS_WITH "@contractors.contoso.com") is false: the attribute has no value"#,
            ),
        ),
        (
            example_scope(),
            concat!(
                r#"{"state": "New York", "department": "Engineering", "employeeId": "E1", "jobTitle": "#,
                r#""Dev", "mail": ["a", "b"]}"#,
            ),
            concat!(
                r#"out of scope: scoping filter 1 ("NY engineers"), clause 3 (employeeId "#,
                r#"Greater_Than_OR_EQUALS "1000000") is false: the value "E1" is not an integer; scoping "#,
                r#"filter 2, clause 1 (mail ENDS_WITH "@contractors.contoso.com") is false: the attribute "#,
                r#"has 2 values, and scoping filters do not support multi-valued attributes"#,
            ),
        ),
        (
            json!([{"clauses": [{"attribute": "profile.isAdmin", "operator": "IS TRUE"}]}]),
            r#"{"profile": {"isAdmin": "maybe"}}"#,
            concat!(
                r#"out of scope: scoping filter 1, clause 1 (profile.isAdmin IS TRUE) is false: the value "#,
                r#""maybe" is not a boolean"#,
            ),
        ),
        (
            json!([{"clauses": [{"attribute": "manager", "operator": "EQUALS", "value": "x"}]}]),
            r#"{"manager": {"id": "x"}}"#,
            concat!(
                r#"out of scope: scoping filter 1, clause 1 (manager EQUALS "x") is false: the attribute "#,
                r#"holds a JSON object"#,
            ),
        ),
        (
            json!([{"clauses": [{"attribute": "mail", "operator": "IS NULL"}]}]),
            r#"{"mail": "a@b.c"}"#,
            "out of scope: scoping filter 1, clause 1 (mail IS NULL) is false: the attribute has a value",
        ),
    ]
}

#[test]
fn explain_names_the_deciding_filter_and_clause() {
    let mut failures = Vec::new();
    for (filters, user, expected) in decisions() {
        let got = scope(filters).map(|s| {
            let decision = s.explain(&attrs(user));
            assert_eq!(decision.in_scope(), s.matches(&attrs(user)));
            decision.to_string()
        });
        if got.as_deref() != Ok(expected) {
            failures.push(format!("{user}\n  expected {expected}\n  got      {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn scope_lists_the_attributes_its_clauses_read() {
    let got = scope(example_scope()).map(|s| s.attributes());
    let expected: BTreeSet<String> = ["department", "employeeId", "jobTitle", "mail", "state"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(got, Ok(expected));
}
