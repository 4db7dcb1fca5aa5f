//! Integration tests of the Attestor: bundles verified by sigstore-python (a verifier we did not
//! write), the real Sigstore test vectors, the service over HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing
)]

mod mtls;
mod pg_cluster;
mod service;
mod shared;
mod sigstore_interop;
mod upstream;
