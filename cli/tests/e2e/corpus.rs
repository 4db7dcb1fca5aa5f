//! Exact OS package sets and layer attribution on the real corpus, checked against dpkg-query.

use std::collections::BTreeMap;

use crate::common::*;

#[test]
fn rootfs_minbase_matches_dpkg_query() {
    let Some(corpus) = corpus() else { return };
    let rootfs = corpus.join("rootfs/debian-minbase");
    let Some(expected) = dpkg_query(&rootfs.join("var/lib/dpkg")) else {
        return;
    };
    assert!(expected.len() > 50, "minbase has ~90 packages");
    for source in [
        format!("dir:{}", rootfs.display()),
        rootfs.display().to_string(),
    ] {
        let report = scan_json(&source);
        assert_eq!(package_set(&report), expected, "{source}");
        assert_eq!(report["subject"]["kind"], "directory");
        assert_eq!(report["inventory"]["distro"]["id"], "debian");
        let version = report["inventory"]["distro"]["version"]
            .as_str()
            .unwrap_or_default();
        let debian_version = std::fs::read_to_string(rootfs.join("etc/debian_version")).unwrap();
        assert_eq!(version, debian_version.trim());
    }
}

/// The app image: 4 layers (minbase, runtimes, app files, deletions with whiteouts). Every package
/// must be attributed to the first layer whose own dpkg database lists it at its final version:
/// layer 0 for what minbase already had, layer 1 for what the runtimes layer added or upgraded.
#[test]
fn app_image_packages_and_layers_in_every_image_format() {
    let Some(corpus) = corpus() else { return };
    let Some(expected) = dpkg_query(&corpus.join("rootfs/app/var/lib/dpkg")) else {
        return;
    };
    let Some(minbase) = dpkg_query(&corpus.join("rootfs/debian-minbase/var/lib/dpkg")) else {
        return;
    };
    let sources = [
        format!("oci:{}:app", corpus.join("oci").display()),
        format!("docker-archive:{}", corpus.join("app.tar").display()),
        corpus.join("app.tar").display().to_string(),
    ];
    let mut attributions = Vec::new();
    for source in &sources {
        let report = scan_json(source);
        assert_eq!(package_set(&report), expected, "{source}");
        let layers = report["subject"]["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 4, "{source}");
        let diff_ids: Vec<&str> = layers
            .iter()
            .map(|l| l["diff_id"].as_str().unwrap())
            .collect();
        let mut by_package = BTreeMap::new();
        for p in report["inventory"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| is_os_package(p))
        {
            let key = (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                p["arch"].as_str().unwrap().to_owned(),
            );
            let index = p["layer"]["index"]
                .as_u64()
                .expect("every package has a layer") as usize;
            assert_eq!(p["layer"]["diff_id"].as_str(), diff_ids.get(index).copied());
            let want = if minbase.contains(&key) { 0 } else { 1 };
            assert_eq!(index, want, "{source}: {key:?}");
            by_package.insert(key, index);
        }
        attributions.push(by_package);
    }
    assert!(attributions.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn minbase_image_is_one_layer_of_minbase_packages() {
    let Some(corpus) = corpus() else { return };
    let Some(expected) = dpkg_query(&corpus.join("rootfs/debian-minbase/var/lib/dpkg")) else {
        return;
    };
    let report = scan_json(&format!("oci:{}:minbase", corpus.join("oci").display()));
    assert_eq!(package_set(&report), expected);
    for p in report["inventory"]["packages"].as_array().unwrap() {
        // Language packages and unowned binaries of the minbase image are in its only layer too.
        assert_eq!(p["layer"]["index"], 0, "{p}");
    }
}

/// The CycloneDX and SPDX documents of the app image validate with the official tools.
#[test]
fn documents_validate_with_cyclonedx_python_lib_and_spdx_tools() {
    let Some(corpus) = corpus() else { return };
    let Some(python) = python() else { return };
    let dir = tempdir();
    let source = format!("oci:{}:app", corpus.join("oci").display());
    for (format, kind, file) in [
        ("cyclonedx-json", "cyclonedx", "app.cdx.json"),
        ("spdx-json", "spdx", "app.spdx.json"),
    ] {
        let path = dir.path().join(file);
        let out = stella(&[
            "scan",
            &source,
            "--format",
            format,
            "--output",
            path.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let check = std::process::Command::new(&python)
            .arg(repo_root().join("tests/validate/validate_sbom.py"))
            .arg(kind)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{kind} validation failed:\n{}\n{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
