//! A SCIM User resource as a client POSTs or PUTs it (RFC 7643 section 4.1): reading it never
//! panics, and what is read turns into a record.
#![no_main]

use idsync::scim::resource::UserInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(input) = UserInput::from_json(&body) {
        let _ = input.to_record("fuzz-key");
    }
});
