//! What an Okta org answers: `Link` paging headers, `X-Rate-Limit-Reset` against `Date`, and
//! error bodies. No value may panic the client.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (headers, body) = data.split_at(split);
    idsync_okta::fuzzing::response(headers, body);
});
