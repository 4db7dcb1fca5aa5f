#![no_main]
//! os-release parser.

use libfuzzer_sys::fuzz_target;
use scanner_core::analyzers::os_release;

fuzz_target!(|data: &[u8]| {
    let d = os_release::parse_os_release(data);
    assert!(!d.id.is_empty());
});
