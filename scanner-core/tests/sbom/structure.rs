//! Cross-references inside each document resolve, identifiers are unique and well-formed.

use std::collections::BTreeSet;

use scanner_core::sbom::{to_cyclonedx_json, to_spdx_json};
use serde_json::Value;

use super::fixture;

fn cdx() -> Value {
    serde_json::from_slice(&to_cyclonedx_json(&fixture::report())).unwrap()
}

fn spdx() -> Value {
    serde_json::from_slice(&to_spdx_json(&fixture::report())).unwrap()
}

fn strs<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap())
        .collect()
}

#[test]
fn cyclonedx_refs_resolve_and_are_unique() {
    let doc = cdx();
    let serial = doc["serialNumber"].as_str().unwrap();
    let uuid = serial.strip_prefix("urn:uuid:").unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "5", "version 5 UUID");

    let subject = doc["metadata"]["component"]["bom-ref"].as_str().unwrap();
    let mut refs = vec![subject];
    refs.extend(strs(&doc["components"], "bom-ref"));
    let unique: BTreeSet<&str> = refs.iter().copied().collect();
    assert_eq!(unique.len(), refs.len(), "bom-refs unique: {refs:?}");

    let deps = doc["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), refs.len(), "one dependency entry per component");
    let dep_refs = strs(&doc["dependencies"], "ref");
    let mut sorted = dep_refs.clone();
    sorted.sort();
    assert_eq!(dep_refs, sorted, "dependencies sorted by ref");
    for d in deps {
        for target in d["dependsOn"].as_array().unwrap() {
            assert!(unique.contains(target.as_str().unwrap()), "{target}");
        }
    }
    // The shared zlib1g purl is disambiguated, the other purls are used as they are.
    let zlib: Vec<&str> = refs
        .iter()
        .copied()
        .filter(|r| r.starts_with("pkg:deb/debian/zlib1g@"))
        .collect();
    assert_eq!(zlib.len(), 2);
    assert!(zlib.iter().all(|r| r.contains('#')), "{zlib:?}");
}

#[test]
fn cyclonedx_graph_edges() {
    let doc = cdx();
    let depends_on = |prefix: &str| -> Vec<String> {
        doc["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["ref"].as_str().unwrap().starts_with(prefix))
            .unwrap()["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().split('@').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        depends_on("pkg:deb/debian/git@"),
        [
            "pkg:deb/debian/libc6",
            "pkg:deb/debian/perl-base",
            "pkg:deb/debian/zlib1g",
            "pkg:deb/debian/zlib1g",
        ]
    );
    assert_eq!(
        depends_on("pkg:apk/debian/busybox@"),
        ["pkg:apk/debian/musl"]
    );
    assert_eq!(
        depends_on("pkg:rpm/debian/openssl-libs@"),
        ["pkg:rpm/debian/bash", "pkg:rpm/debian/glibc"]
    );
    assert_eq!(
        depends_on("pkg:deb/debian/libstdc%2B%2B6@"),
        ["pkg:deb/debian/libc6"]
    );
    let subject = depends_on("pkg:oci/app@");
    assert_eq!(subject.len(), 12, "OS + 11 packages: {subject:?}");
}

#[test]
fn spdx_ids_are_valid_unique_and_resolve() {
    let doc = spdx();
    let ids = strs(&doc["packages"], "SPDXID");
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len());
    for id in &ids {
        let rest = id.strip_prefix("SPDXRef-").unwrap();
        assert!(
            rest.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "{id}"
        );
    }
    let rels = doc["relationships"].as_array().unwrap();
    assert_eq!(rels[0]["relationshipType"], "DESCRIBES");
    for r in rels {
        let a = r["spdxElementId"].as_str().unwrap();
        let b = r["relatedSpdxElement"].as_str().unwrap();
        assert!(a == "SPDXRef-DOCUMENT" || unique.contains(a), "{a}");
        assert!(unique.contains(b), "{b}");
    }
    let declared_refs: BTreeSet<&str> = strs(&doc["hasExtractedLicensingInfos"], "licenseId")
        .into_iter()
        .collect();
    for p in doc["packages"].as_array().unwrap() {
        let declared = p["licenseDeclared"].as_str().unwrap();
        for word in declared.split([' ', '(', ')']) {
            if word.starts_with("LicenseRef-") {
                assert!(declared_refs.contains(word), "{word}");
            }
        }
    }
}
