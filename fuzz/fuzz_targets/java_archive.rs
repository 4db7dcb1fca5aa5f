#![no_main]
//! Java archive analyzer: zip reader (EOCD/zip64, central directory, local headers, stored and
//! deflate), pom.properties / pom.xml / MANIFEST.MF parsing and nested archives under limits.
//! Seeds: `fuzz/seed-java_archive.sh`.

use libfuzzer_sys::fuzz_target;
use scanner_core::lang::java::{analyze_archive, Limits};

fuzz_target!(|data: &[u8]| {
    // Tight limits so the depth, entry and byte bounds are reached too.
    let limits = Limits {
        max_depth: 4,
        max_entries: 1_000,
        max_entry_bytes: 4 << 20,
        max_total_bytes: 16 << 20,
    };
    let (pkgs, _diags) = analyze_archive("app/app-1.0.jar", data, &limits);
    for p in &pkgs {
        assert!(p.found_in.starts_with("/app/app-1.0.jar"));
        assert_eq!(p.checksums.len(), 1);
    }
});
