//! The usage view (EntryTrace) on the corpus app image: Entrypoint `/usr/bin/node`, Cmd
//! `/srv/app/index.js`. The view must hold node, the libraries it maps (libc among them), the app and
//! the npm modules its `package.json` pulls in — and none of the Java libraries or Python packages the
//! image also ships, which stay in the inventory view.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::*;

fn scan(source: &str, view: &str, format: &str) -> Value {
    let out = stella(&[
        "scan", source, "--view", view, "--format", format, "--quiet",
    ]);
    assert!(
        out.status.success(),
        "stella scan --view {view}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names(report: &Value, kind: &str) -> BTreeSet<String> {
    report["inventory"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == kind)
        .map(|p| match p["namespace"].as_str() {
            Some(ns) => format!("{ns}/{}", p["name"].as_str().unwrap()),
            None => p["name"].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[test]
fn corpus_app_usage_view_is_node_its_libraries_and_the_app_modules() {
    let Some(corpus) = corpus() else { return };
    let source = format!("oci:{}:app", corpus.join("oci").display());
    let usage = scan(&source, "usage", "json");
    let trace = &usage["inventory"]["usage"];
    assert_eq!(trace["chain"][0]["file"], "<image config>", "{trace}");
    assert_eq!(
        trace["terminals"],
        serde_json::json!(["/usr/bin/node"]),
        "{trace}"
    );
    let libs: Vec<&str> = trace["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for lib in [
        "libc.so.6",
        "libnode.so.108",
        "libstdc++.so.6",
        "ld-linux-x86-64.so.2",
    ] {
        assert!(
            libs.iter()
                .any(|l| l.rsplit('/').next().is_some_and(|b| b.starts_with(lib))),
            "{lib} not in the closure: {libs:?}"
        );
    }
    assert!(
        trace["unresolved"].as_array().is_none_or(Vec::is_empty),
        "{trace}"
    );

    let debs = names(&usage, "deb");
    for want in [
        "nodejs",
        "libnode108",
        "libc6",
        "libstdc++6",
        "libuv1",
        "libssl3",
    ] {
        assert!(
            debs.contains(want),
            "{want} not in the usage view: {debs:?}"
        );
    }
    for unwanted in [
        "libguava-java",
        "default-jre-headless",
        "python3",
        "curl",
        "bash",
    ] {
        assert!(!debs.contains(unwanted), "{unwanted} in the usage view");
    }
    let npm = names(&usage, "npm");
    for want in [
        "corpus-app",
        "express",
        "axios",
        "body-parser",
        "debug",
        "mime-types",
    ] {
        assert!(npm.contains(want), "{want} not in the usage view: {npm:?}");
    }
    // @types/node is a declared dependency too, so Node's lookup reaches it.
    assert!(npm.contains("@types/node"), "{npm:?}");
    assert!(names(&usage, "maven").is_empty());
    assert!(names(&usage, "pypi").is_empty());

    // The inventory view keeps everything, each component flagged.
    let inventory = scan(&source, "inventory", "json");
    let all = inventory["inventory"]["packages"].as_array().unwrap();
    assert!(all.len() > usage["inventory"]["packages"].as_array().unwrap().len());
    assert!(
        !names(&inventory, "maven").is_empty(),
        "no Java packages in the inventory"
    );
    assert!(
        !names(&inventory, "pypi").is_empty(),
        "no Python packages in the inventory"
    );
    let used: BTreeSet<String> = all
        .iter()
        .filter(|p| p["used_by_entrypoint"] == true)
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(used.contains("nodejs") && used.contains("express"));

    // Both formats carry the flag.
    let cdx = scan(&source, "inventory", "cyclonedx-json");
    let flags: BTreeSet<&str> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            c["properties"]
                .as_array()?
                .iter()
                .find(|p| p["name"] == "stella:usedByEntrypoint")?["value"]
                .as_str()
        })
        .collect();
    assert_eq!(flags, BTreeSet::from(["true", "false"]));
    let spdx = scan(&source, "usage", "spdx-json");
    let spdx_names: BTreeSet<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(spdx_names.contains("express") && spdx_names.contains("libc6"));
    assert!(!spdx_names.contains("libguava-java"));

    // Each SBOM says which view it is (what `stella verify`'s `views:` policy reads).
    let view_of = |cdx: &Value| {
        cdx["metadata"]["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "stella:sbom:view")
            .map(|p| p["value"].clone())
    };
    assert_eq!(view_of(&cdx), Some(json!("inventory")));
    assert_eq!(
        view_of(&scan(&source, "usage", "cyclonedx-json")),
        Some(json!("usage"))
    );
    assert_eq!(spdx["creationInfo"]["comment"], "stella:sbom:view=usage");
}

#[test]
fn usage_view_of_a_directory_needs_an_entrypoint() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("rootfs/debian-minbase");
    let out = stella(&[
        "scan",
        &format!("dir:{}", dir.display()),
        "--view",
        "usage",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--entrypoint"));
    let out = stella(&[
        "scan",
        &format!("dir:{}", dir.display()),
        "--view",
        "usage",
        "--entrypoint",
        r#"["/bin/bash","-c","exec ls"]"#,
        "--format",
        "json",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let debs = names(&report, "deb");
    assert!(
        debs.contains("coreutils") && debs.contains("libc6"),
        "{debs:?}"
    );
    assert!(!debs.contains("apt"), "{debs:?}");
}
