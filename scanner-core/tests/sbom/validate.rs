//! Our documents checked by tools we did not write: cyclonedx-python-lib (CycloneDX 1.6 JSON schema,
//! strict) and spdx-tools (SPDX 2.3 parser + full validation), through tests/validate/validate_sbom.py.
//!
//! The Python comes from `STELLA_PYTHON` (default `python3`). When the modules are missing the test is
//! skipped with a message, except under CI (`CI` set), where that is a failure: CI must not pass
//! without having validated.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scanner_core::model::ScanReport;
use scanner_core::sbom::{to_cyclonedx_json, to_spdx_json};

use super::fixture;

/// validate_sbom.py's exit code for "the Python modules are not installed".
const EXIT_MISSING_MODULES: i32 = 3;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/validate/validate_sbom.py")
}

/// Runs the validator on `file`; `None` when it cannot run here, which is allowed outside CI only.
fn run(kind: &str, file: &Path) -> Option<Output> {
    let python = std::env::var("STELLA_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let in_ci = std::env::var_os("CI").is_some();
    let output = match Command::new(&python)
        .arg(script())
        .arg(kind)
        .arg(file)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(!in_ci, "CI: cannot run {python}: {e}");
            eprintln!("skipping {kind} validation: cannot run {python}: {e}");
            return None;
        }
    };
    if output.status.code() == Some(EXIT_MISSING_MODULES) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !in_ci,
            "CI: validator modules missing for {python}: {stderr}"
        );
        eprintln!(
            "skipping {kind} validation: {stderr}(set STELLA_PYTHON to a venv with tests/requirements.txt)"
        );
        return None;
    }
    Some(output)
}

fn validate_report(name: &str, report: &ScanReport) {
    let dir = tempfile::tempdir().unwrap();
    let cdx = dir.path().join(format!("{name}.cdx.json"));
    let spdx = dir.path().join(format!("{name}.spdx.json"));
    std::fs::write(&cdx, to_cyclonedx_json(report)).unwrap();
    std::fs::write(&spdx, to_spdx_json(report)).unwrap();
    for (kind, file) in [("cyclonedx", &cdx), ("spdx", &spdx)] {
        if let Some(output) = run(kind, file) {
            assert!(
                output.status.success(),
                "{kind} validation of {name} failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn image_documents_validate() {
    validate_report("image", &fixture::report());
}

#[test]
fn language_documents_validate() {
    validate_report("language", &fixture::language_report());
}

#[test]
fn empty_directory_documents_validate() {
    validate_report("directory", &fixture::empty_directory());
}

#[test]
fn hostile_strings_still_validate() {
    validate_report("hostile", &fixture::hostile());
}

/// The validator itself must reject a broken document, or a green run proves nothing.
#[test]
fn validator_rejects_broken_documents() {
    let dir = tempfile::tempdir().unwrap();
    let report = fixture::report();
    let cdx = String::from_utf8(to_cyclonedx_json(&report)).unwrap();
    let spdx = String::from_utf8(to_spdx_json(&report)).unwrap();
    for (kind, good, bad) in [
        // An unknown top-level key: the strict 1.6 schema forbids additional properties.
        (
            "cyclonedx",
            cdx.as_str(),
            cdx.replacen("\"version\": 1,", "\"version\": 1, \"bogus\": 1,", 1),
        ),
        // A relationship to an element that does not exist.
        (
            "spdx",
            spdx.as_str(),
            spdx.replacen(
                "\"relatedSpdxElement\": \"SPDXRef-Image",
                "\"relatedSpdxElement\": \"SPDXRef-Nope",
                1,
            ),
        ),
    ] {
        assert_ne!(good, bad, "{kind}: the test did not break the document");
        let file = dir.path().join(format!("broken.{kind}.json"));
        std::fs::write(&file, bad).unwrap();
        if let Some(output) = run(kind, &file) {
            assert_eq!(
                output.status.code(),
                Some(1),
                "{kind}: broken document accepted"
            );
        }
    }
}
