#![no_main]

use libfuzzer_sys::fuzz_target;
use scanner_core::analyzers::rpm;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = rpm::ndb::read_blobs(data) {
        for blob in records.into_iter().flatten() {
            let _ = rpm::header::parse_package(&blob, "/fuzz");
        }
    }
});
