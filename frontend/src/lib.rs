//! The BuildKit gateway frontend (DESIGN.md §5): wraps the Dockerfile frontend and attaches SBOM
//! attestations to each platform's result.

pub mod dockerfile;
