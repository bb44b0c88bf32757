//! The SCIM `filter` parameter (RFC 7644 section 3.4.2.2) and PATCH `path` (section 3.5.2):
//! parsing never panics, a parsed filter prints as text that parses back to the same filter,
//! and evaluating it against a resource never panics.
#![no_main]

use idsync::scim::filter::{parse_filter, parse_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_path(text);
    let Ok(filter) = parse_filter(text) else {
        return;
    };
    let printed = filter.to_string();
    let reparsed = parse_filter(&printed).expect("a printed filter parses");
    assert_eq!(reparsed, filter, "round trip of {printed:?}");
    let resource = serde_json::json!({
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"type": "work", "value": "bjensen@example.com", "primary": true}],
        "active": true,
        "meta": {"lastModified": "2011-05-13T04:42:34Z"}
    });
    let _ = filter.matches(&resource, &|_| false);
});
