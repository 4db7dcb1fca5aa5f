//! Conformance with Trivy: the real Trivy (offline) on the same inputs must report the same OS package
//! set (name, version, arch) and attribute each package to the same layer. Every difference must be
//! listed, with its reason, in tests/trivy-allowlist.txt; stale allowlist entries fail too.
//!
//! This module runs the Debian corpus; `trivy_rpm_apk` runs rpm and apk inputs built from the
//! scanner-core fixtures through the same helpers and allowlist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// (name, version, arch). For rpm, version is `[epoch:]version-release`: see [`version_key`].
pub type Key = (String, String, String);

pub fn trivy_available() -> Option<()> {
    let venv = std::env::var_os("TRIVY_VENV").map(PathBuf::from);
    require(
        venv.filter(|v| v.join("bin/trivy").is_file()).map(|_| ()),
        "TRIVY_VENV with the trivy binary",
    )
}

/// Runs Trivy and returns its CycloneDX document.
pub fn trivy_raw(args: &[&str], out: &Path) -> Value {
    let status = Command::new("bash")
        .arg(repo_root().join("tests/corpus/trivy-offline.sh"))
        .args(args)
        .args(["--format", "cyclonedx", "-o"])
        .arg(out)
        .status()
        .expect("run trivy");
    assert!(status.success(), "trivy {args:?} failed");
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

/// Runs Trivy and returns OS packages → layer diffID (empty for rootfs scans).
pub fn trivy(args: &[&str], out: &Path) -> BTreeMap<Key, String> {
    let doc = trivy_raw(args, out);
    let mut packages = BTreeMap::new();
    for c in doc["components"].as_array().into_iter().flatten() {
        let purl = c["purl"].as_str().unwrap_or_default();
        if !["pkg:deb/", "pkg:apk/", "pkg:rpm/"]
            .iter()
            .any(|t| purl.starts_with(t))
        {
            continue;
        }
        let arch = purl
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix("arch="))
            .unwrap_or_default();
        let layer = c["properties"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "aquasecurity:trivy:LayerDiffID")
            .and_then(|p| p["value"].as_str())
            .unwrap_or_default();
        packages.insert(
            (
                c["name"].as_str().unwrap().to_owned(),
                c["version"].as_str().unwrap().to_owned(),
                arch.to_owned(),
            ),
            layer.to_owned(),
        );
    }
    packages
}

/// The version as Trivy's CycloneDX `version` spells it, so the two inventories compare as keys.
///
/// stella keeps rpm's epoch apart (`version` = VERSION-RELEASE, `epoch` = EPOCH, as `rpm -q` prints
/// them and as the purl wants them: `@1.0-1?epoch=2`), while Trivy's CycloneDX `version` folds a
/// non-zero epoch in (`2:1.0-1`, rpm's EVR notation). Both carry the same facts, so the key joins ours
/// the same way: `[epoch:]version-release`, epoch left out when 0 (rpm compares a missing epoch as 0,
/// and Trivy prints neither). dpkg and apk have no `epoch` field (dpkg keeps its epoch inside
/// `version`, as Trivy does), so their versions pass through unchanged.
pub fn version_key(p: &Value) -> String {
    let version = p["version"].as_str().unwrap();
    match p["epoch"].as_u64() {
        Some(epoch) if epoch != 0 => format!("{epoch}:{version}"),
        _ => version.to_owned(),
    }
}

/// stella's OS packages → layer diffID (empty for rootfs scans).
pub fn ours(source: &str) -> BTreeMap<Key, String> {
    let report = scan_json(source);
    report["inventory"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| is_os_package(p))
        .map(|p| {
            (
                (
                    p["name"].as_str().unwrap().to_owned(),
                    version_key(p),
                    p["arch"].as_str().unwrap_or_default().to_owned(),
                ),
                p["layer"]["diff_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// Allowlist lines: `INPUT only-ours|only-trivy|layer NAME VERSION ARCH  # reason`.
pub fn allowlist() -> BTreeSet<(String, String, Key)> {
    let text = std::fs::read_to_string(repo_root().join("tests/trivy-allowlist.txt")).unwrap();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "bad allowlist line: {l}");
            assert!(
                text.lines()
                    .any(|full| full.starts_with(l) && full.contains('#')),
                "allowlist line without a reason: {l}"
            );
            (
                f[0].to_owned(),
                f[1].to_owned(),
                (f[2].to_owned(), f[3].to_owned(), f[4].to_owned()),
            )
        })
        .collect()
}

pub fn compare(
    input: &str,
    ours: &BTreeMap<Key, String>,
    trivy: &BTreeMap<Key, String>,
    layers: bool,
) -> BTreeSet<(String, String, Key)> {
    let mut diffs = BTreeSet::new();
    for k in ours.keys().filter(|k| !trivy.contains_key(*k)) {
        diffs.insert((input.to_owned(), "only-ours".to_owned(), k.clone()));
    }
    for k in trivy.keys().filter(|k| !ours.contains_key(*k)) {
        diffs.insert((input.to_owned(), "only-trivy".to_owned(), k.clone()));
    }
    if layers {
        for (k, layer) in ours {
            if trivy.get(k).is_some_and(|t| t != layer) {
                diffs.insert((input.to_owned(), "layer".to_owned(), k.clone()));
            }
        }
    }
    diffs
}

#[test]
fn os_packages_and_layers_match_trivy() {
    let Some(corpus) = corpus() else { return };
    let Some(()) = trivy_available() else { return };
    let dir = tempdir();
    let oci = corpus.join("oci");
    let app_tar = corpus.join("app.tar");
    let minbase = corpus.join("rootfs/debian-minbase");
    let cases: Vec<(&str, Vec<String>, String, bool)> = vec![
        (
            "app.tar",
            vec![
                "image".into(),
                "--input".into(),
                app_tar.display().to_string(),
            ],
            format!("docker-archive:{}", app_tar.display()),
            true,
        ),
        (
            "oci-app",
            vec![
                "image".into(),
                "--input".into(),
                format!("{}:app", oci.display()),
            ],
            format!("oci:{}:app", oci.display()),
            true,
        ),
        (
            "rootfs-minbase",
            vec!["rootfs".into(), minbase.display().to_string()],
            format!("dir:{}", minbase.display()),
            false,
        ),
    ];
    let mut found = BTreeSet::new();
    for (name, trivy_args, source, layers) in &cases {
        let args: Vec<&str> = trivy_args.iter().map(String::as_str).collect();
        let theirs = trivy(&args, &dir.path().join(format!("{name}.json")));
        let ours = ours(source);
        assert!(
            !theirs.is_empty() && !ours.is_empty(),
            "{name}: empty inventory"
        );
        found.extend(compare(name, &ours, &theirs, *layers));
    }
    let inputs: Vec<&str> = cases.iter().map(|c| c.0).collect();
    assert_explained(&found, &inputs);
}

/// Every INPUT an allowlist line may name: the cases of this module and of `trivy_rpm_apk`.
pub const INPUTS: &[&str] = &[
    "app.tar",
    "oci-app",
    "rootfs-minbase",
    "rootfs-rpm-sqlite",
    "rootfs-rpm-sysimage",
    "rootfs-rpm-bdb",
    "rootfs-rpm-base",
    "rootfs-rpm-ndb",
    "oci-rpm",
    "rootfs-apk",
    "oci-apk",
];

/// An allowlist line for an input no test runs could never be found stale.
#[test]
fn allowlist_names_only_inputs_a_test_runs() {
    for (input, kind, key) in allowlist() {
        assert!(INPUTS.contains(&input.as_str()), "unknown input {input}");
        assert!(
            ["only-ours", "only-trivy", "layer"].contains(&kind.as_str()),
            "unknown kind {kind} for {key:?}"
        );
    }
}

/// Fails unless `found` (the differences on `inputs`) is exactly the allowlist's lines for `inputs`:
/// every difference explained, no stale line. Lines for other inputs belong to other tests.
pub fn assert_explained(found: &BTreeSet<(String, String, Key)>, inputs: &[&str]) {
    for input in inputs {
        assert!(INPUTS.contains(input), "add {input} to trivy::INPUTS");
    }
    let allowed: BTreeSet<_> = allowlist()
        .into_iter()
        .filter(|(input, _, _)| inputs.contains(&input.as_str()))
        .collect();
    let unexplained: Vec<_> = found.difference(&allowed).collect();
    let stale: Vec<_> = allowed.difference(found).collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "differences from Trivy not in tests/trivy-allowlist.txt: {unexplained:#?}\n\
         allowlist entries that no longer differ: {stale:#?}"
    );
}
