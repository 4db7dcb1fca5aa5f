//! Writers: golden snapshots, determinism, structural checks, and validation by tools we did not write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)] // test helpers, outside #[test] fns

mod fixture;
mod snapshots;
mod structure;
mod validate;
