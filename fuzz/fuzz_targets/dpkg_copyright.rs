#![no_main]
//! `usr/share/doc/<pkg>/copyright` license extraction.

use libfuzzer_sys::fuzz_target;
use scanner_core::analyzers::dpkg;

fuzz_target!(|data: &[u8]| {
    for license in dpkg::parse_copyright(data) {
        assert!(!license.is_empty());
    }
});
