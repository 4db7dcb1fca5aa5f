//! The registry crate's one integration-test binary.

// Helpers outside `#[test]` functions panic on setup failures by design; clippy.toml's test allowances
// only cover the test functions themselves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod copy;
mod layout_referrers;
mod local;
mod lying_referrers;
mod remote;
mod remote_referrers;
mod sources;
mod support;
