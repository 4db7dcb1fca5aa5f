//! The signer-gateway crate's one integration-test binary.

// Helpers outside `#[test]` functions panic on setup failures by design; clippy.toml's test allowances
// only cover the test functions themselves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing
)]

mod harness;
mod keyless;
mod release;
mod services;
/// The registry crate's test harness: a real `docker-registry` on 127.0.0.1, skopeo pushes,
/// hand-built OCI layouts. Shared by path so every test binary runs the same registry setup.
#[path = "../../../registry/tests/it/support.rs"]
#[allow(dead_code)]
mod support;
