//! A Microsoft Graph collection or delta page (`value`, `@odata.nextLink`,
//! `@odata.deltaLink`): decoding never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = idsync_entra::fuzzing::page(data);
});
