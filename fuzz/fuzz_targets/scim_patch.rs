//! A SCIM PATCH request body (RFC 7644 section 3.5.2): parsing and applying it to a user
//! resource never panics, whatever the JSON.
#![no_main]

use idsync::scim::patch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(ops) = patch::parse_request(&body) else {
        return;
    };
    let mut resource = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"type": "work", "value": "bjensen@example.com", "primary": true}],
        "members": [{"value": "a"}, {"value": "b"}],
        "active": true
    });
    let _ = patch::apply(&mut resource, &ops);
});
