//! Language packages against Trivy: on the corpus app image, every npm / PyPI / Maven / Go / … package
//! the real Trivy (offline) reports must be in our inventory with the same purl, read from the same
//! file, attributed to the same layer — or be listed with its reason in
//! tests/trivy-lang-allowlist.txt. What we find beyond Trivy is printed as the test's report (Trivy
//! leaves out language packages whose files an OS package installed; we keep them, linked to that
//! package through `stella:package:owner`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::*;
use crate::trivy::{trivy_available, trivy_raw};

/// (purl without qualifiers, absolute path of the file it was read from).
type Key = (String, String);

fn is_language(purl: &str) -> bool {
    !purl.is_empty() && !["pkg:deb/", "pkg:apk/", "pkg:rpm/"].iter().any(|t| purl.starts_with(t))
}

fn prop<'a>(c: &'a Value, name: &str) -> Option<&'a str> {
    c["properties"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["value"].as_str())
}

fn bare(purl: &str) -> String {
    purl.split(['?', '#']).next().unwrap_or(purl).to_owned()
}

/// Trivy's language packages → layer diffID.
fn theirs(doc: &Value) -> BTreeMap<Key, String> {
    doc["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| is_language(c["purl"].as_str().unwrap_or_default()))
        .map(|c| {
            let path = prop(c, "aquasecurity:trivy:FilePath").unwrap_or_default();
            (
                (
                    bare(c["purl"].as_str().unwrap()),
                    format!("/{}", path.trim_start_matches('/')),
                ),
                prop(c, "aquasecurity:trivy:LayerDiffID")
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// Our language packages → (layer diffID, owner).
fn ours(doc: &Value) -> BTreeMap<Key, (String, Option<String>)> {
    doc["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| is_language(c["purl"].as_str().unwrap_or_default()))
        .map(|c| {
            (
                (
                    bare(c["purl"].as_str().unwrap()),
                    prop(c, "stella:package:foundIn").unwrap_or_default().to_owned(),
                ),
                (
                    prop(c, "stella:layer:diffID").unwrap_or_default().to_owned(),
                    prop(c, "stella:package:owner").map(str::to_owned),
                ),
            )
        })
        .collect()
}

/// Allowlist lines: `INPUT only-trivy|layer PURL PATH  # reason`.
fn allowlist() -> BTreeSet<(String, String, Key)> {
    let text =
        std::fs::read_to_string(repo_root().join("tests/trivy-lang-allowlist.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (entry, reason) = l.split_once('#').expect("allowlist line without a reason");
            assert!(!reason.trim().is_empty(), "allowlist line without a reason: {l}");
            let f: Vec<&str> = entry.split_whitespace().collect();
            assert_eq!(f.len(), 4, "bad allowlist line: {l}");
            (
                f[0].to_owned(),
                f[1].to_owned(),
                (f[2].to_owned(), f[3].to_owned()),
            )
        })
        .collect()
}

#[test]
fn language_packages_cover_trivy() {
    let Some(corpus) = corpus() else { return };
    let Some(()) = trivy_available() else { return };
    let dir = tempdir();
    let app_tar = corpus.join("app.tar");
    let oci = corpus.join("oci");
    let cases = [
        (
            "app.tar",
            vec![
                "image".to_owned(),
                "--input".to_owned(),
                app_tar.display().to_string(),
            ],
            format!("docker-archive:{}", app_tar.display()),
        ),
        (
            "oci-app",
            vec![
                "image".to_owned(),
                "--input".to_owned(),
                format!("{}:app", oci.display()),
            ],
            format!("oci:{}:app", oci.display()),
        ),
    ];
    let allowed = allowlist();
    let mut found = BTreeSet::new();
    for (input, trivy_args, source) in &cases {
        let args: Vec<&str> = trivy_args.iter().map(String::as_str).collect();
        let t = theirs(&trivy_raw(&args, &dir.path().join(format!("{input}.json"))));
        let out = stella(&["scan", source, "--format", "cyclonedx-json", "--quiet"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let o = ours(&serde_json::from_slice(&out.stdout).unwrap());
        assert!(t.len() > 50, "{input}: Trivy found only {} language packages", t.len());
        for (k, layer) in &t {
            match o.get(k) {
                None => {
                    found.insert((input.to_string(), "only-trivy".to_owned(), k.clone()));
                }
                Some((ours_layer, _)) if ours_layer != layer => {
                    found.insert((input.to_string(), "layer".to_owned(), k.clone()));
                }
                Some(_) => {}
            }
        }
        let beyond: Vec<_> = o.iter().filter(|(k, _)| !t.contains_key(*k)).collect();
        eprintln!(
            "[trivy-lang] {input}: Trivy {} language packages, stella {} ({} beyond Trivy):",
            t.len(),
            o.len(),
            beyond.len()
        );
        for ((purl, path), (_, owner)) in beyond {
            let why = owner.as_deref().map_or_else(
                || "not an OS package's file".to_owned(),
                |o| format!("installed by {o}"),
            );
            eprintln!("[trivy-lang]   + {purl} {path} ({why})");
        }
        // Everything we report beyond Trivy that no OS package owns must be explained.
        for ((purl, path), (_, owner)) in o.iter().filter(|(k, _)| !t.contains_key(*k)) {
            if owner.is_none() {
                found.insert((
                    input.to_string(),
                    "only-ours".to_owned(),
                    (purl.clone(), path.clone()),
                ));
            }
        }
    }
    let unexplained: Vec<_> = found.difference(&allowed).collect();
    let stale: Vec<_> = allowed.difference(&found).collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "differences not in tests/trivy-lang-allowlist.txt: {unexplained:#?}\nstale lines: {stale:#?}"
    );
}
