//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod image;

/// One skip-or-fail rule for every binary that shares the registry harness.
pub use crate::support::require;

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The corpus directory (CORPUS_DIR, else target/corpus), when it has been built.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/corpus"));
    let ok = dir.join("oci/.done").is_file()
        && dir.join("app.tar").is_file()
        && dir.join("rootfs/debian-minbase/.done").is_file();
    require(
        ok.then_some(dir),
        "the corpus (CORPUS_DIR or target/corpus)",
    )
}

/// Runs `stella ARGS…` with a pinned SOURCE_DATE_EPOCH unless the caller sets one.
pub fn stella(args: &[&str]) -> Output {
    stella_env(args, &[])
}

/// Runs `stella ARGS…` with extra environment variables. Each run gets an empty layer cache of its
/// own (STELLA_CACHE_DIR, removed afterwards) unless `env` sets one, so parallel tests neither share
/// ~/.cache nor see each other's layers.
pub fn stella_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let cache = tempfile::Builder::new()
        .prefix("stella-e2e-cache-")
        .tempdir()
        .expect("cache tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("STELLA_CACHE_DIR", cache.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run stella")
}

/// Runs `stella scan SOURCE --format json` and parses the report, asserting success.
pub fn scan_json(source: &str) -> Value {
    let out = stella(&["scan", source, "--format", "json", "--quiet"]);
    assert!(
        out.status.success(),
        "stella scan {source} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report is JSON")
}

/// True for a package of an OS package manager (dpkg, apk, rpm) in a JSON report.
pub fn is_os_package(p: &Value) -> bool {
    matches!(p["kind"].as_str(), Some("deb" | "apk" | "rpm"))
}

/// (name, version, arch) of every OS package in a report.
pub fn package_set(report: &Value) -> BTreeSet<(String, String, String)> {
    report["inventory"]["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| is_os_package(p))
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["version"].as_str().unwrap_or_default().to_owned(),
                p["arch"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// What Debian's own dpkg-query says is installed in a dpkg database.
pub fn dpkg_query(admindir: &Path) -> Option<BTreeSet<(String, String, String)>> {
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.display()))
        .args([
            "-W",
            "-f",
            "${db:Status-Status}|${Package}|${Version}|${Architecture}\\n",
        ])
        .output()
        .ok();
    let out = require(out, "dpkg-query")?;
    assert!(out.status.success(), "dpkg-query failed");
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split('|');
                let (status, name, version, arch) = (f.next()?, f.next()?, f.next()?, f.next()?);
                (status == "installed")
                    .then(|| (name.to_owned(), version.to_owned(), arch.to_owned()))
            })
            .collect(),
    )
}

/// The Python interpreter with the validators and Trivy's venv, from tests/run.sh.
pub fn python() -> Option<PathBuf> {
    let py = std::env::var_os("STELLA_PYTHON").map(PathBuf::from);
    let ok = py.filter(|p| {
        Command::new(p)
            .args(["-c", "import cyclonedx, spdx_tools"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    require(ok, "STELLA_PYTHON with cyclonedx-python-lib and spdx-tools")
}

/// A scratch directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
