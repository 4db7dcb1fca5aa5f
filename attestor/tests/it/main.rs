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
mod service;
mod sigstore_interop;
mod upstream;
