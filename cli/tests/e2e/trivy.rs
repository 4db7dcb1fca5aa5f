//! Conformance with Trivy: the real Trivy (offline) on the same inputs must report the same OS package
//! set (name, version, arch) and attribute each package to the same layer. Every difference must be
//! listed, with its reason, in tests/trivy-allowlist.txt; stale allowlist entries fail too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::*;

type Key = (String, String, String);

fn trivy_available() -> Option<()> {
    let venv = std::env::var_os("TRIVY_VENV").map(PathBuf::from);
    require(
        venv.filter(|v| v.join("bin/trivy").is_file()).map(|_| ()),
        "TRIVY_VENV with the trivy binary",
    )
}

/// Runs Trivy and returns OS packages → layer diffID (empty for rootfs scans).
fn trivy(args: &[&str], out: &Path) -> BTreeMap<Key, String> {
    let status = Command::new("bash")
        .arg(repo_root().join("tests/corpus/trivy-offline.sh"))
        .args(args)
        .args(["--format", "cyclonedx", "-o"])
        .arg(out)
        .status()
        .expect("run trivy");
    assert!(status.success(), "trivy {args:?} failed");
    let doc: Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
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

fn ours(source: &str) -> BTreeMap<Key, String> {
    let report = scan_json(source);
    report["inventory"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["version"].as_str().unwrap().to_owned(),
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
fn allowlist() -> BTreeSet<(String, String, Key)> {
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

fn compare(
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
    let allowed = allowlist();
    let unexplained: Vec<_> = found.difference(&allowed).collect();
    let stale: Vec<_> = allowed.difference(&found).collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "differences from Trivy not in tests/trivy-allowlist.txt: {unexplained:#?}\n\
         allowlist entries that no longer differ: {stale:#?}"
    );
}
