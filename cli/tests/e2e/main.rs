//! End-to-end tests: the real `stella` binary on the real corpus (layered images built from Debian,
//! PyPI and npm packages by tests/corpus/build-corpus.sh), checked against tools we did not write:
//! dpkg-query, Trivy (offline), cyclonedx-python-lib and spdx-tools.
//!
//! `tests/run.sh` builds the corpus and the tool venv and sets CORPUS_DIR, STELLA_PYTHON, TRIVY_VENV.
//! Run outside it, tests that need those skip with a message — except under CI, where they fail.

// Helpers outside `#[test]` fns are test code too: a panic is how a check fails, and a skipped check
// says so on stderr.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing
)]

mod common;
/// The registry crate's test harness: a real `docker-registry` on 127.0.0.1, skopeo pushes, a token
/// server, hand-built OCI layouts. Shared by path so both test binaries run the same registry setup.
#[path = "../../../registry/tests/it/support.rs"]
#[allow(dead_code)]
mod support;

/// A throwaway PostgreSQL cluster, shared by path with the attestor crate's tests.
#[path = "../../../attestor/tests/it/pg_cluster.rs"]
mod pg_cluster;

mod bad_input;
mod bom_index;
mod cache;
mod ci_runners;
mod corpus;
mod cp;
mod demo;
mod determinism;
mod diff;
mod github_submit;
mod image;
mod referrers;
mod referrers_registry;
mod registry;
mod release;
mod serve;
mod tlog;
mod trivy;
mod trivy_lang;
mod trivy_rpm_apk;
mod tuf;
mod usage;
mod verify;
