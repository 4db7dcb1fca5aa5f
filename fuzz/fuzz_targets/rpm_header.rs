#![no_main]

use libfuzzer_sys::fuzz_target;
use scanner_core::analyzers::rpm;

fuzz_target!(|data: &[u8]| {
    let _ = rpm::header::parse_package(data, "/fuzz");
});
