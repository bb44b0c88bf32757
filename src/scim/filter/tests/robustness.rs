//! No input makes the parsers panic: a list of malformed strings, and a deterministic fuzz loop
//! over the grammar's tokens.

use serde_json::{json, Value};

use super::super::{parse_filter, parse_path, rfc7643_case_exact, FilterError};
use super::{outcome, tree};

/// Small, seeded xorshift generator: the same cases on every run, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn sample_user() -> Value {
    json!({
        "userName": "bjensen",
        "title": "",
        "active": true,
        "emails": [{ "value": "b@example.com", "type": "work" }, "loose", null, 7],
        "name": { "givenName": "Barbara" },
        "meta": { "lastModified": "2011-05-13T04:42:34Z" },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "manager": "42" }
    })
}

/// What every outcome must satisfy: an error points inside (or just past) the input; a
/// success prints a canonical form that parses back to the same tree, and evaluates.
fn check_filter(input: &str, user: &Value) -> Result<(), String> {
    match parse_filter(input) {
        Err(error) => check_error_position(input, &error),
        Ok(filter) => {
            let canonical = filter.to_string();
            match parse_filter(&canonical) {
                Ok(again) if again == filter => {}
                Ok(again) => {
                    return Err(format!(
                        "{input:?} printed as {canonical:?}, which parses to {}",
                        tree(&again)
                    ))
                }
                Err(error) => {
                    return Err(format!(
                        "{input:?} printed as {canonical:?}, which fails: {error}"
                    ))
                }
            }
            filter.matches(user, &rfc7643_case_exact);
            filter.as_simple_comparisons(&|_| false);
            Ok(())
        }
    }
}

fn check_path(input: &str) -> Result<(), String> {
    match parse_path(input) {
        Err(error) => check_error_position(input, &error),
        Ok(path) => match parse_path(&path.to_string()) {
            Ok(again) if again == path => Ok(()),
            other => Err(format!(
                "path {input:?} printed as {path}, which parses to {other:?}"
            )),
        },
    }
}

fn check_error_position(input: &str, error: &FilterError) -> Result<(), String> {
    if error.position() > input.chars().count() {
        return Err(format!(
            "{input:?}: position {} is past the end: {error}",
            error.position()
        ));
    }
    if error.to_string().is_empty() {
        return Err(format!("{input:?}: empty message"));
    }
    Ok(())
}

#[test]
fn malformed_inputs_are_errors_not_panics() {
    let malformed = [
        "",
        " ",
        "(",
        ")",
        "[",
        "]",
        ".",
        "\"",
        "\\",
        "not",
        "not (",
        "not ()",
        "and",
        "or",
        "pr",
        "eq",
        "a",
        "a eq",
        "a eq \"",
        "a eq \"\\",
        "a eq \"\\u",
        "a eq \"\\u12",
        "a eq \"\\ud800\\",
        "a eq \"\\ud800\\u",
        "a pr and",
        "a pr or or",
        "a pr)",
        "(a pr",
        "((a pr)",
        "a[",
        "a[b",
        "a[b pr",
        "a[b pr]]",
        "a[]",
        "a[b pr].",
        "a[b pr].c",
        "a[b pr].c eq",
        "a[b[c pr]]",
        "a.b.c pr",
        "a..b pr",
        ".a pr",
        "a. pr",
        ":a pr",
        "a: pr",
        "urn: pr",
        "urn:x pr extra",
        "a eq -",
        "a eq --1",
        "a eq 1e",
        "a eq 1e+",
        "a eq .5",
        "a eq 0x10",
        "a eq 1.2.3",
        "a eq tru",
        "a eq nul",
        "a eq [1]",
        "a eq {}",
        "a gt true",
        "a co 1",
        "a sw false",
        "a eq \"x\" b",
        "a eq \"x\" and",
        "\u{0}",
        "a\u{0}eq 1",
        "a eq \"\u{7}\"",
        "a eq \"\u{1F600}",
        "é",
        "a eq \"x\" \u{200B}",
        "a pr \u{FEFF}",
        "%20",
        "a+eq+1",
        "a=1",
        "a eq 'x'",
        "a eq `x`",
        "a eq «x»",
        "not not (a pr)",
        "not (a pr) not (b pr)",
        "() and ()",
        "(((((((((((",
        "))))))))))",
        "[[[[[[[[",
        "]]]]]]]]",
        "a[b pr][c pr]",
        "a[b pr].c[d pr]",
        "$ pr",
        "$$ref pr",
        "-",
        "--",
    ];
    let user = sample_user();
    let failures: Vec<String> = malformed
        .iter()
        .filter_map(|input| {
            let problem = match parse_filter(input) {
                Ok(filter) => Some(format!("{input:?} parsed as {filter}")),
                Err(error) => check_error_position(input, &error).err(),
            };
            problem
                .or_else(|| check_path(input).err())
                .or_else(|| check_filter(input, &user).err())
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const PATHS: [&str; 8] = [
    "userName",
    "emails",
    "name.givenName",
    "Meta.LastModified",
    "active",
    "$ref",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
];
const STRINGS: [&str; 6] = [
    "\"x\"",
    "\"Work\"",
    "\"a\\\"b\"",
    "\"\\u00e9\\ud83d\\ude00\"",
    "\"\"",
    "\"2011-05-13T04:42:34Z\"",
];
const NUMBERS: [&str; 3] = ["42", "-1.5e3", "0"];
const LITERALS: [&str; 3] = ["true", "False", "null"];
const OPS: [&str; 11] = ["eq", "Eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"];

/// A random filter from the grammar, so that most cases parse and the round trip and the
/// evaluator get exercised; `depth` bounds the recursion.
fn generate(rng: &mut Rng, depth: usize, in_brackets: bool) -> String {
    let choice = if depth == 0 { 0 } else { rng.below(6) };
    match choice {
        1 => format!(
            "{} and {}",
            generate(rng, depth - 1, in_brackets),
            generate(rng, depth - 1, in_brackets)
        ),
        2 => format!(
            "{} or {}",
            generate(rng, depth - 1, in_brackets),
            generate(rng, depth - 1, in_brackets)
        ),
        3 => format!("not ({})", generate(rng, depth - 1, in_brackets)),
        4 => format!("({})", generate(rng, depth - 1, in_brackets)),
        5 if !in_brackets => {
            let inner = generate(rng, depth - 1, true);
            match rng.below(3) {
                0 => format!("emails[{inner}].value {}", comparison_tail(rng)),
                _ => format!("emails[{inner}]"),
            }
        }
        _ => format!("{} {}", rng.pick(&PATHS), comparison_tail(rng)),
    }
}

/// An operator and a value it accepts: strings for every operator, numbers for all but
/// the substring ones, booleans and null for `eq` and `ne` only.
fn comparison_tail(rng: &mut Rng) -> String {
    let op = rng.pick(&OPS);
    let value = match (op, rng.below(3)) {
        ("pr", _) => return "pr".to_string(),
        ("co" | "sw" | "ew", _) | (_, 0) => rng.pick(&STRINGS),
        ("eq" | "Eq" | "ne", 1) => rng.pick(&LITERALS),
        _ => rng.pick(&NUMBERS),
    };
    format!("{op} {value}")
}

/// Grammar-generated filters, half of them then damaged by dropping, repeating or
/// inserting a token, so that both the success paths and the error paths are reached.
#[test]
fn fuzz_token_sequences() {
    const JUNK: [&str; 16] = [
        "(", ")", "[", "]", ".", "\"", "\\", "and", "or", "not", "pr", "eq", ":", "1.", "é", "\"open",
    ];
    let user = sample_user();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    let mut parsed_ok = 0;
    for round in 0..20_000 {
        let depth = 1 + rng.below(4);
        let valid = generate(&mut rng, depth, false);
        let mut tokens: Vec<String> = valid.split(' ').map(str::to_string).collect();
        if round % 2 == 1 {
            for _ in 0..1 + rng.below(2) {
                let at = rng.below(tokens.len());
                match rng.below(3) {
                    0 if tokens.len() > 1 => {
                        tokens.remove(at);
                    }
                    1 => {
                        let copy = tokens[at].clone();
                        tokens.insert(at, copy);
                    }
                    _ => tokens.insert(at, rng.pick(&JUNK).to_string()),
                }
            }
        }
        let separator = if rng.below(4) == 0 { "  " } else { " " };
        let input = tokens.join(separator);
        if round % 2 == 0 && parse_filter(&input).is_err() {
            failures.push(format!(
                "generated filter {input:?} failed: {}",
                outcome(parse_filter(&input))
            ));
        }
        if parse_filter(&input).is_ok() {
            parsed_ok += 1;
        }
        failures.extend(check_filter(&input, &user).err());
        failures.extend(check_path(&input).err());
    }
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(parsed_ok > 10_000, "only {parsed_ok} generated filters parsed");
}

#[test]
fn fuzz_character_edits_of_valid_filters() {
    const SEEDS: [&str; 5] = [
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        concat!(
            r#"emails[type eq "work" and value co "@example.com"] "#,
            r#"or ims[type eq "xmpp" and value co "@foo.com"]"#
        ),
        r#"emails[type eq "work"].value eq "user@contoso.com""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
        r#"not (meta.lastModified gt "2011-05-13T04:42:34Z") and loginCount le -1.5e3"#,
    ];
    const INSERTS: [char; 16] = [
        '(', ')', '[', ']', '"', '\\', '.', ':', ' ', 'x', '1', '-', 'é', '\u{0}', 'u', '$',
    ];
    let user = sample_user();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut failures = Vec::new();
    for _ in 0..20_000 {
        let mut chars: Vec<char> = SEEDS[rng.below(SEEDS.len())].chars().collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = INSERTS[rng.below(INSERTS.len())],
                _ => chars.insert(at, INSERTS[rng.below(INSERTS.len())]),
            }
        }
        let input: String = chars.into_iter().collect();
        failures.extend(check_filter(&input, &user).err());
        failures.extend(check_path(&input).err());
    }
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
}
