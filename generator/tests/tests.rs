//! The stella-generator integration-test binary: one binary, one module per area.

// Helpers outside `#[test]` fns are not covered by clippy.toml's allow-*-in-tests; in a test crate a
// panic is how a check fails, and a skipped check says so on stderr.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod golden;
mod protocol;
