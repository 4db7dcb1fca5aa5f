#![no_main]
//! TUF metadata from a stranger: parsed as each role and pushed through the client's checks
//! (signature thresholds, versions, hashes, expiry) from a fixed trusted root. Never a panic.

use libfuzzer_sys::fuzz_target;
use stella_tuf::metadata::{Metadata, Root, Snapshot, Targets, Timestamp};
use stella_tuf::TrustedSet;

const ROOT: &[u8] = include_bytes!("../../tuf/tests/fixtures/valid/client/metadata/root.json");
const TIMESTAMP: &[u8] = include_bytes!("../../tuf/tests/fixtures/rollback/repo/timestamp.json");
const SNAPSHOT: &[u8] = include_bytes!("../../tuf/tests/fixtures/rollback/repo/1.snapshot.json");
const NOW: i64 = 1_893_456_000;

fuzz_target!(|data: &[u8]| {
    let _ = Metadata::<Root>::from_bytes(data);
    let _ = Metadata::<Timestamp>::from_bytes(data);
    let _ = Metadata::<Snapshot>::from_bytes(data);
    let _ = Metadata::<Targets>::from_bytes(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = stella_tuf::canonical::encode(&v);
    }
    let _ = stella_tuf::fetch::check_relative_path(&String::from_utf8_lossy(data));
    let Ok(base) = TrustedSet::new(ROOT, NOW) else { return };
    let _ = base.clone().update_root(data);
    let _ = base.clone().update_timestamp(data);
    let mut set = base;
    if set.update_timestamp(TIMESTAMP).is_ok() {
        let _ = set.clone().update_snapshot(data, false);
        if set.update_snapshot(SNAPSHOT, false).is_ok() {
            let _ = set.update_targets(data, false);
        }
    }
});
