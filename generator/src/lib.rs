//! The BuildKit SBOM generator protocol (DESIGN.md §4).
