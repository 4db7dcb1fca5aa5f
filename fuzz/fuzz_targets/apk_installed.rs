#![no_main]
//! apk `lib/apk/db/installed` parser.

use libfuzzer_sys::fuzz_target;
use scanner_core::analyzers::apk;

fuzz_target!(|data: &[u8]| {
    let parsed = apk::parse_installed(data);
    for p in &parsed.packages {
        assert!(!p.name.is_empty() && !p.version.is_empty());
        assert!(p.files.iter().all(|f| f.path.starts_with('/')));
    }
});
