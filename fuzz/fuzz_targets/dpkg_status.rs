#![no_main]
//! dpkg status / status.d parser, plus the info-file parsers that read the same kind of bytes.

use libfuzzer_sys::fuzz_target;
use scanner_core::analyzers::dpkg;

fuzz_target!(|data: &[u8]| {
    let parsed = dpkg::parse_status(data);
    for p in &parsed.packages {
        assert!(!p.name.is_empty() && !p.version.is_empty());
    }
    let _ = dpkg::parse_list(data);
    let _ = dpkg::parse_md5sums(data);
});
