#![no_main]
//! A layer-cache entry read back from a cache directory (shared, possibly poisoned): decode it under
//! the key and diffID it is stored for; nothing may panic, a decoded entry re-encodes to itself, and
//! scanning it works. A first byte of 0 means "the rest is the JSON", which the fuzzer then shapes
//! directly (it is zstd-compressed here as the cache stores it).

use libfuzzer_sys::fuzz_target;
use scanner_core::cache;
use scanner_core::layer::Limits;
use scanner_core::model::Digest;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 10_000,
        max_wanted_total: 1 << 20,
        ..Limits::default()
    };
    let diff_id = Digest::sha256_of(b"a layer");
    let key = cache::key(&diff_id, &limits);
    let stored = match data.split_first() {
        Some((0, json)) => zstd::bulk::compress(json, 1).unwrap_or_default(),
        _ => data.to_vec(),
    };
    if let Ok(layer) = cache::decode(&stored, &key, &diff_id, &limits) {
        let again = cache::decode(&cache::encode(&key, &layer), &key, &diff_id, &limits);
        assert!(again.is_ok_and(|l| l == layer));
        let _ = scanner_core::scan::scan_changes(&[layer.changes], None, &|_| None);
    }
});
