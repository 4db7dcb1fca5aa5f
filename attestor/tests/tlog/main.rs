//! Integration tests for the transparency-log core: public test vectors, real Sigstore data and
//! the on-disk store.

// Helpers outside `#[test]` functions panic on setup failures by design; clippy.toml's test
// allowances only cover the test functions themselves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod merkle_vectors;
mod sigstore_real;
mod store;

use std::path::PathBuf;

/// `/work/shared/testdata` seen from this crate, or `$STELLA_SHARED_TESTDATA`. A missing folder
/// fails the test unless `STELLA_SKIP_SHARED_TESTDATA=1` says to skip it (loudly).
pub fn shared_testdata() -> Option<PathBuf> {
    let dir = match std::env::var_os("STELLA_SHARED_TESTDATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata"
        )),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("STELLA_SKIP_SHARED_TESTDATA").is_some() {
        eprintln!(
            "SKIPPED: shared test data not found at {} (STELLA_SKIP_SHARED_TESTDATA is set)",
            dir.display()
        );
        return None;
    }
    panic!(
        "shared test data not found at {}; set STELLA_SHARED_TESTDATA to its folder \
         (or STELLA_SKIP_SHARED_TESTDATA=1 to skip these tests)",
        dir.display()
    );
}
