#![no_main]
//! A stored base-image fragment (read back from BuildKit's cache): decode, and when it decodes, apply
//! it and scan it; nothing may panic and a decoded fragment re-encodes to itself.

use libfuzzer_sys::fuzz_target;
use scanner_core::fragment;
use scanner_core::layer::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 10_000,
        max_wanted_total: 1 << 20,
        ..Limits::default()
    };
    if let Ok(changes) = fragment::decode(data, &limits) {
        let again = fragment::decode(&fragment::encode(&changes), &limits);
        assert!(again.is_ok_and(|c| c.entries == changes.entries));
        let _ = scanner_core::scan::scan_changes(&[changes], None, &|_| None);
    }
});
