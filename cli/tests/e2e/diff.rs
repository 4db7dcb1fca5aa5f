//! `stella diff OLD NEW`: two synthetic images sharing a base layer (a package upgraded, one added,
//! one removed by a rewritten dpkg status, one by a whiteout, one with an OLD-only layer), checked
//! against a golden JSON file; and the corpus images minbase → app.
//!
//! `UPDATE_GOLDEN=1 cargo test -p stella --test e2e diff` rewrites the golden file; review the diff.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::image::{self, Compression, E};
use crate::common::*;

fn golden(name: &str) -> PathBuf {
    repo_root().join("cli/tests/golden").join(name)
}

fn check_golden(name: &str, got: &[u8]) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        want == got,
        "{} differs from the output (UPDATE_GOLDEN=1 rewrites it; review the diff):\n{}",
        path.display(),
        String::from_utf8_lossy(got)
    );
}

/// OLD = [base, old-top], NEW = [base, new-top], both in one temp dir. Returns (OLD, NEW) sources
/// and the three diffIDs (base, old-top, new-top).
fn synthetic(dir: &Path) -> (String, String, [String; 3]) {
    let base = image::layer(
        &[
            E::Dir("etc/"),
            E::File("etc/os-release", image::OS_RELEASE),
            E::File(
                "var/lib/dpkg/status",
                &image::dpkg_status(&[
                    ("base-files", "12.4"),
                    ("curl", "7.88.1-10"),
                    ("oldpkg", "1.0"),
                ]),
            ),
            E::File(
                "app/node_modules/left-pad/package.json",
                br#"{"name":"left-pad","version":"1.3.0"}"#,
            ),
        ],
        Compression::Gzip,
    );
    // OLD's own top layer: a package NEW never had a layer for.
    let old_top = image::layer(
        &[E::File(
            "srv/node_modules/tiny/package.json",
            br#"{"name":"tiny","version":"0.0.1"}"#,
        )],
        Compression::Gzip,
    );
    // NEW's top layer: rewrites the dpkg database (curl upgraded, jq added, oldpkg gone) and
    // deletes left-pad with a whiteout.
    let new_top = image::layer(
        &[
            E::File(
                "var/lib/dpkg/status",
                &image::dpkg_status(&[
                    ("base-files", "12.4"),
                    ("curl", "7.88.1-10+deb12u8"),
                    ("jq", "1.6-2.1"),
                ]),
            ),
            E::File("app/node_modules/.wh.left-pad", b""),
        ],
        Compression::Gzip,
    );
    let ids =
        [&base, &old_top, &new_top].map(|(_, raw)| format!("sha256:{}", image::sha256_hex(raw)));
    image::oci_layout(&dir.join("old"), "1", &[base.clone(), old_top]);
    image::oci_layout(&dir.join("new"), "2", &[base, new_top]);
    (
        format!("oci:{}:1", dir.join("old").display()),
        format!("oci:{}:2", dir.join("new").display()),
        ids,
    )
}

fn run_ok(args: &[&str]) -> Vec<u8> {
    let out = stella(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stella {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn change<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no change for {name}: {d:#}"))
}

#[test]
fn diff_synthetic_images_attributes_changes_to_layers() {
    let dir = tempdir();
    let (old, new, [base, old_top, new_top]) = synthetic(dir.path());
    let json = run_ok(&["diff", &old, &new, "--format", "json", "--quiet"]);
    let d: Value = serde_json::from_slice(&json).unwrap();

    // Layers: the base shared at position 0, each top layer only on its side.
    let layers: Vec<(&str, &str)> = d["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["diffID"].as_str().unwrap(), l["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        layers,
        [
            (base.as_str(), "shared"),
            (new_top.as_str(), "added"),
            (old_top.as_str(), "removed")
        ]
    );

    let curl = change(&d, "curl");
    assert_eq!(curl["change"], "changed");
    assert_eq!(curl["oldVersion"], "7.88.1-10");
    assert_eq!(curl["newVersion"], "7.88.1-10+deb12u8");
    assert_eq!(
        curl["oldPurl"],
        "pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=debian-12"
    );
    assert_eq!(
        curl["newPurl"],
        "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u8?arch=amd64&distro=debian-12"
    );
    assert_eq!(curl["layer"]["image"], "new");
    assert_eq!(curl["layer"]["diffID"], new_top.as_str());

    let jq = change(&d, "jq");
    assert_eq!(jq["change"], "added");
    assert_eq!(jq["layer"]["diffID"], new_top.as_str());

    // Removed by NEW's top layer (the only NEW layer that can have): the rewritten status and the
    // whiteout.
    for name in ["oldpkg", "left-pad"] {
        let p = change(&d, name);
        assert_eq!(p["change"], "removed", "{p:#}");
        assert_eq!(p["layer"]["image"], "new", "{p:#}");
        assert_eq!(p["layer"]["diffID"], new_top.as_str(), "{p:#}");
    }
    // Removed with OLD's own layer, which NEW does not have.
    let tiny = change(&d, "tiny");
    assert_eq!(tiny["change"], "removed");
    assert_eq!(tiny["layer"]["image"], "old");
    assert_eq!(tiny["layer"]["diffID"], old_top.as_str());
    assert!(d["packages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["name"] != "base-files"));
    assert_eq!(
        d["summary"],
        serde_json::json!({"added": 1, "removed": 3, "changed": 1, "layersShared": 1,
            "layersMoved": 0, "layersAdded": 1, "layersRemoved": 1})
    );

    // Byte-identical across runs, and as the golden file says (temp paths normalised).
    assert!(json == run_ok(&["diff", &old, &new, "--format", "json", "--quiet"]));
    let text = String::from_utf8(json).unwrap();
    check_golden(
        "diff-synthetic.json",
        text.replace(&dir.path().display().to_string(), "$TMP")
            .as_bytes(),
    );

    // The table: grouped by layer, with the summary line; --output writes the same bytes.
    let table = String::from_utf8(run_ok(&["diff", &old, &new, "--quiet"])).unwrap();
    assert!(
        table.ends_with("1 added, 3 removed, 1 changed\n"),
        "{table}"
    );
    let short = |d: &str| d.trim_start_matches("sha256:")[..12].to_owned();
    assert!(
        table.contains(&format!("NEW layer 1 {}", short(&new_top))),
        "{table}"
    );
    assert!(
        table.contains(&format!("OLD layer 1 {} (removed)", short(&old_top))),
        "{table}"
    );
    assert!(table.contains("7.88.1-10 -> 7.88.1-10+deb12u8"), "{table}");
    let file = dir.path().join("diff.txt");
    run_ok(&[
        "diff",
        &old,
        &new,
        "--quiet",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), table);
}

#[test]
fn diff_reads_sboms_stella_scan_wrote() {
    let dir = tempdir();
    let (old, new, _) = synthetic(dir.path());
    let scanned = run_ok(&["diff", &old, &new, "--format", "json", "--quiet"]);
    let cdx = dir.path().join("old.cdx.json");
    let report = dir.path().join("old.json");
    run_ok(&["scan", &old, "--quiet", "--output", cdx.to_str().unwrap()]);
    run_ok(&[
        "scan",
        &old,
        "--quiet",
        "--format",
        "json",
        "--output",
        report.to_str().unwrap(),
    ]);
    let packages = |bytes: &[u8]| -> Value {
        let mut d: Value = serde_json::from_slice(bytes).unwrap();
        // A CycloneDX SBOM keeps the layers' diffIDs, not their history.
        for l in d["layers"].as_array_mut().unwrap() {
            l.as_object_mut().unwrap().remove("createdBy");
        }
        serde_json::json!([d["packages"], d["layers"], d["summary"]])
    };
    for sbom in [&cdx, &report] {
        let from_sbom = run_ok(&[
            "diff",
            sbom.to_str().unwrap(),
            &new,
            "--format",
            "json",
            "--quiet",
        ]);
        assert_eq!(
            packages(&from_sbom),
            packages(&scanned),
            "diff from {}",
            sbom.display()
        );
    }
}

#[test]
fn diff_unreadable_side_is_exit_3_naming_it() {
    let dir = tempdir();
    let (old, new, _) = synthetic(dir.path());
    let out = stella(&["diff", "oci:/nonexistent/stella-diff:1", &new]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OLD (oci:/nonexistent/stella-diff:1)"),
        "{err}"
    );
    let out = stella(&["diff", &old, "oci:/nonexistent/stella-diff:2"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NEW (oci:/nonexistent/stella-diff:2)"),
        "{err}"
    );
    // A JSON file that is no SBOM of ours.
    let bogus = dir.path().join("bogus.json");
    std::fs::write(&bogus, b"{\"hello\": 1}").unwrap();
    let out = stella(&["diff", bogus.to_str().unwrap(), &new]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OLD ("));
}

#[test]
fn diff_corpus_minbase_to_app_adds_the_upper_layers() {
    let Some(corpus) = corpus() else { return };
    let oci = corpus.join("oci");
    let minbase = format!("oci:{}:minbase", oci.display());
    let app = format!("oci:{}:app", oci.display());
    let d: Value = serde_json::from_slice(&run_ok(&[
        "diff", &minbase, &app, "--format", "json", "--quiet",
    ]))
    .unwrap();
    let base_report = scan_json(&minbase);
    let app_report = scan_json(&app);
    let base_layers = base_report["subject"]["layers"].as_array().unwrap();
    let app_layers = app_report["subject"]["layers"].as_array().unwrap();
    assert!(app_layers.len() > base_layers.len());
    let upper: Vec<&str> = app_layers[base_layers.len()..]
        .iter()
        .map(|l| l["diff_id"].as_str().unwrap())
        .collect();

    // Nothing removed or changed; every package app has beyond minbase is added, attributed to one
    // of app's upper layers — the layer the scan itself attributes it to.
    assert_eq!(d["summary"]["removed"], 0, "{:#}", d["summary"]);
    assert_eq!(d["summary"]["changed"], 0, "{:#}", d["summary"]);
    assert_eq!(d["summary"]["layersRemoved"], 0);
    assert_eq!(d["summary"]["layersShared"], base_layers.len());
    let added = d["packages"].as_array().unwrap();
    let app_packages = app_report["inventory"]["packages"].as_array().unwrap();
    let base_packages = base_report["inventory"]["packages"].as_array().unwrap();
    assert_eq!(added.len(), app_packages.len() - base_packages.len());
    assert!(!added.is_empty());
    for p in added {
        assert_eq!(p["change"], "added", "{p:#}");
        assert_eq!(p["layer"]["image"], "new", "{p:#}");
        let diff_id = p["layer"]["diffID"].as_str().unwrap();
        assert!(upper.contains(&diff_id), "{p:#}");
        let scanned = app_packages
            .iter()
            .find(|q| q["name"] == p["name"] && q["found_in"] == p["foundIn"])
            .unwrap_or_else(|| panic!("{p:#} not in app's scan"));
        assert_eq!(scanned["layer"]["diff_id"], diff_id, "{p:#}");
    }
    // Both ecosystems of the upper layers show up.
    for ty in ["deb", "pypi", "npm"] {
        assert!(added.iter().any(|p| p["type"] == ty), "no {ty} added");
    }
    let table = String::from_utf8(run_ok(&["diff", &minbase, &app, "--quiet"])).unwrap();
    assert!(
        table.ends_with(&format!("{} added, 0 removed, 0 changed\n", added.len())),
        "{table}"
    );
}
