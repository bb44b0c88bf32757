//! Property tests: a generated filter tree, printed in its canonical form, parses back to the
//! same tree; and no string, random or built from the grammar's tokens, panics the parsers.

use proptest::prelude::*;

use super::super::{parse_filter, parse_path, AttrPath, CompValue, CompareOp, Filter};

/// Words the grammar gives a meaning where an attribute name could stand.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "pr", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "true", "false", "null",
];

const URIS: &[&str] = &[
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
];

const OPS: &[CompareOp] = &[
    CompareOp::Eq,
    CompareOp::Ne,
    CompareOp::Co,
    CompareOp::Sw,
    CompareOp::Ew,
    CompareOp::Gt,
    CompareOp::Ge,
    CompareOp::Lt,
    CompareOp::Le,
];

/// An `ATTRNAME` (RFC 7644 section 3.4.2.2: `ALPHA *(nameChar)`) that is not a keyword.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("a keyword", |n| {
        !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(n))
    })
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    let uri = prop::option::of(prop::sample::select(URIS));
    (uri, name(), prop::option::of(name())).prop_map(|(uri, attr, sub)| AttrPath {
        uri: uri.map(str::to_string),
        attr,
        sub_attr: sub,
    })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::Str),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>()
            .prop_filter_map("not finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

/// The operators the parser accepts with `value` (RFC 7644 section 3.4.2.2: `co`, `sw` and
/// `ew` take strings, `gt`, `ge`, `lt` and `le` take no booleans or null).
fn ops_for(value: &CompValue) -> Vec<CompareOp> {
    OPS.iter()
        .copied()
        .filter(|op| match value {
            CompValue::Str(_) => true,
            CompValue::Number(_) => !op.is_substring(),
            CompValue::Bool(_) | CompValue::Null => !op.is_substring() && !op.is_ordering(),
        })
        .collect()
}

/// An attribute expression: a comparison or `pr`.
fn attr_exp() -> impl Strategy<Value = Filter> {
    let compare = (attr_path(), comp_value()).prop_flat_map(|(path, value)| {
        prop::sample::select(ops_for(&value)).prop_map(move |op| Filter::Compare {
            path: path.clone(),
            op,
            value: value.clone(),
        })
    });
    prop_oneof![compare, attr_path().prop_map(Filter::Present)]
}

/// Trees of `and`, `or` and `not` over `leaf`, at most `depth` levels deep.
fn logic(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(depth, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
    .boxed()
}

/// A whole filter; `attr[...]` holds a filter without a value path of its own (`valFilter`).
fn filter() -> impl Strategy<Value = Filter> {
    let value_path =
        (attr_path(), logic(attr_exp().boxed(), 2)).prop_map(|(attr, inner)| Filter::ValuePath {
            attr: AttrPath {
                sub_attr: None,
                ..attr
            },
            filter: Box::new(inner),
        });
    let leaf = prop_oneof![3 => attr_exp(), 1 => value_path].boxed();
    logic(leaf, 4)
}

/// Fragments of the grammar, glued at random into mostly-wrong filters.
const TOKENS: &[&str] = &[
    "userName",
    "emails",
    "name.givenName",
    URIS[1],
    ":",
    ".",
    "[",
    "]",
    "(",
    ")",
    " ",
    "eq",
    "pr",
    "and",
    "or",
    "not",
    "\"x\"",
    "\"\\u00e9\"",
    "\"\\",
    "1",
    "-",
    "1e400",
    "true",
    "null",
    "\u{0}",
    "é",
];

proptest! {
    #[test]
    fn a_printed_filter_parses_back_to_the_same_tree(f in filter()) {
        let text = f.to_string();
        let parsed = parse_filter(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&f), "printed as {}", text);
    }

    #[test]
    fn random_strings_never_panic_the_parsers(s in any::<String>()) {
        let _ = parse_filter(&s);
        let _ = parse_path(&s);
    }

    #[test]
    fn strings_of_grammar_tokens_never_panic_the_parsers(
        parts in prop::collection::vec(prop::sample::select(TOKENS), 0..24)
    ) {
        let s = parts.concat();
        let _ = parse_filter(&s);
        let _ = parse_path(&s);
    }
}
