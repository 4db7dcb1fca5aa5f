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

mod bad_input;
mod corpus;
mod determinism;
mod trivy;
mod trivy_rpm_apk;
