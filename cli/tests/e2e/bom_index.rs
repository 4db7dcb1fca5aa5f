//! `stella sbom index`, `stella sbom index-query` and the index pushed as a referrer: on a synthetic
//! two-layer image in an OCI layout and on the corpus app image. The index must say exactly what
//! the SBOM says (purls, layer of each, usedByEntrypoint), be byte-identical run to run, and
//! reach the layout as an `application/vnd.stella.bom-index.v1` referrer holding the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::common::image::{self, Compression, E};
use crate::common::*;

const ARTIFACT: &str = "application/vnd.stella.bom-index.v1";

fn ok(out: &Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.clone()
}

/// Base layer: Debian with dpkg packages; top layer: an npm package.
fn two_layer_image(dir: &Path) {
    let base = image::layer(
        &[
            E::Dir("etc/"),
            E::File("etc/os-release", image::OS_RELEASE),
            E::File(
                "var/lib/dpkg/status",
                &image::dpkg_status(&[
                    ("base-files", "12.4"),
                    ("libc6", "2.36-9"),
                    ("openssl", "3.0.11-1"),
                ]),
            ),
        ],
        Compression::Gzip,
    );
    let top = image::layer(
        &[E::File(
            "app/node_modules/lodash/package.json",
            br#"{"name":"lodash","version":"4.17.21"}"#,
        )],
        Compression::Gzip,
    );
    image::oci_layout(dir, "app", &[base, top]);
}

/// What the SBOM says: purl → (layer indexes, used by the entrypoint).
fn sbom_facts(sbom: &[u8]) -> BTreeMap<String, (BTreeSet<u64>, bool)> {
    let doc: Value = serde_json::from_slice(sbom).unwrap();
    let mut out: BTreeMap<String, (BTreeSet<u64>, bool)> = BTreeMap::new();
    let mut stack: Vec<&Value> = doc["components"].as_array().unwrap().iter().collect();
    while let Some(c) = stack.pop() {
        stack.extend(c["components"].as_array().into_iter().flatten());
        let Some(purl) = c["purl"].as_str() else {
            continue;
        };
        let e = out.entry(purl.to_owned()).or_default();
        for p in c["properties"].as_array().into_iter().flatten() {
            match p["name"].as_str().unwrap() {
                "stella:layer:index" => {
                    e.0.insert(p["value"].as_str().unwrap().parse().unwrap());
                }
                "stella:usedByEntrypoint" => e.1 |= p["value"] == "true",
                _ => {}
            }
        }
    }
    out
}

/// `index-query --format json` with `args`.
fn query(index: &Path, args: &[&str]) -> Value {
    let mut all = vec!["sbom", "index-query", index.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    serde_json::from_slice(&ok(&stella(&all), "index-query")).unwrap()
}

fn purls(v: &Value) -> Vec<String> {
    v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["purl"].as_str().unwrap().to_owned())
        .collect()
}

/// The index agrees with the SBOM on every purl, its layers and its entrypoint use.
fn assert_index_matches_sbom(sbom: &[u8], index: &Path) {
    let facts = sbom_facts(sbom);
    let all = query(index, &["--prefix", ""]);
    assert_eq!(all["count"], facts.len());
    assert_eq!(
        all["index"]["sbomSha256"],
        image::sha256_hex(sbom),
        "the header names the SBOM it indexes"
    );
    let traced = sbom.windows(23).any(|w| w == b"stella:usedByEntrypoint");
    assert_eq!(all["index"]["usageTraced"], traced);
    let mut got: BTreeMap<String, (BTreeSet<u64>, bool)> = BTreeMap::new();
    for m in all["matches"].as_array().unwrap() {
        let layers = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["index"].as_u64().unwrap())
            .collect();
        got.insert(
            m["purl"].as_str().unwrap().to_owned(),
            (layers, m["usedByEntrypoint"] == true),
        );
    }
    assert_eq!(got, facts);
}

#[test]
fn synthetic_image_index_queries_and_referrer_push() {
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    two_layer_image(&dir);
    let image = format!("oci:{}:app", dir.display());
    let cdx = tmp.path().join("app.cdx.json");
    ok(
        &stella(&["scan", &image, "--output", cdx.to_str().unwrap()]),
        "scan",
    );
    let sbom = std::fs::read(&cdx).unwrap();

    let idx = tmp.path().join("app.bomidx");
    let idx2 = tmp.path().join("again.bomidx");
    for out in [&idx, &idx2] {
        ok(
            &stella(&[
                "sbom",
                "index",
                cdx.to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
            ]),
            "sbom index",
        );
    }
    let bytes = std::fs::read(&idx).unwrap();
    assert_eq!(bytes, std::fs::read(&idx2).unwrap(), "deterministic bytes");
    assert!(bytes.starts_with(b"\x89BOMIDX\n"));
    assert_index_matches_sbom(&sbom, &idx);

    // Version-less purl: the deb package in layer 0, not openssl's longer-named neighbours.
    let openssl = query(&idx, &["--purl", "pkg:deb/debian/openssl"]);
    let hits = purls(&openssl);
    assert_eq!(hits.len(), 1, "{openssl}");
    assert!(hits[0].starts_with("pkg:deb/debian/openssl@3.0.11-1"));
    assert_eq!(openssl["matches"][0]["layers"][0]["index"], 0);
    // Prefix: the npm package came with layer 1.
    let npm = query(&idx, &["--prefix", "pkg:npm/"]);
    assert_eq!(purls(&npm), ["pkg:npm/lodash@4.17.21"]);
    assert_eq!(npm["matches"][0]["layers"][0]["index"], 1);
    assert!(query(&idx, &["--purl", "pkg:npm/lodash@4.17.2"])["count"] == 0);
    // Type.
    assert_eq!(query(&idx, &["--type", "deb"])["count"], 3);

    // Join against an advisory list, as lines and as a JSON array.
    let list = tmp.path().join("advisories.txt");
    std::fs::write(
        &list,
        "# advisories\npkg:npm/lodash\npkg:deb/debian/libc6@2.36-9\npkg:npm/react@18.0.0\npkg:deb/debian/zlib1g\n",
    )
    .unwrap();
    let joined = query(&idx, &["--join", list.to_str().unwrap()]);
    let mut hits = purls(&joined);
    hits.sort();
    assert_eq!(hits.len(), 2, "{joined}");
    assert!(hits[0].starts_with("pkg:deb/debian/libc6@2.36-9"));
    assert_eq!(hits[1], "pkg:npm/lodash@4.17.21");
    let arr = tmp.path().join("advisories.json");
    std::fs::write(&arr, r#"["pkg:npm/lodash"]"#).unwrap();
    assert_eq!(query(&idx, &["--join", arr.to_str().unwrap()])["count"], 1);

    // The table form names the purl.
    let table = ok(
        &stella(&[
            "sbom",
            "index-query",
            idx.to_str().unwrap(),
            "--purl",
            "pkg:npm/lodash",
        ]),
        "index-query table",
    );
    let table = String::from_utf8(table).unwrap();
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("pkg:npm/lodash@4.17.21"), "{table}");

    // A corrupt index is refused with exit 3 and a reason; so is a non-CycloneDX SBOM.
    let bad = tmp.path().join("bad.bomidx");
    let mut corrupt = bytes.clone();
    corrupt[8] = 9;
    std::fs::write(&bad, &corrupt).unwrap();
    let out = stella(&["sbom", "index-query", bad.to_str().unwrap(), "--prefix", ""]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("version 9"));
    let out = stella(&[
        "sbom",
        "index",
        bad.to_str().unwrap(),
        "--output",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));

    // Push: a referrer of the image holding exactly the index bytes.
    let pushed = tmp.path().join("pushed.bomidx");
    let out = ok(
        &stella(&[
            "sbom",
            "index",
            cdx.to_str().unwrap(),
            "--output",
            pushed.to_str().unwrap(),
            "--push",
            &image,
        ]),
        "sbom index --push",
    );
    assert_eq!(std::fs::read(&pushed).unwrap(), bytes);
    let manifest_digest = String::from_utf8(out).unwrap().trim().to_owned();
    let refs: Value = serde_json::from_slice(&ok(
        &stella(&[
            "referrers",
            &image,
            "--artifact-type",
            ARTIFACT,
            "--format",
            "json",
        ]),
        "referrers",
    ))
    .unwrap();
    let refs = refs["referrers"].as_array().unwrap();
    assert_eq!(refs.len(), 1, "{refs:?}");
    let d = &refs[0]["descriptor"];
    assert_eq!(d["digest"], manifest_digest.as_str());
    assert_eq!(d["artifactType"], ARTIFACT);
    assert_eq!(
        d["annotations"]["dev.stella.bom-index.sbom.digest"],
        format!("sha256:{}", image::sha256_hex(&sbom))
    );
    let blob = |digest: &str| {
        std::fs::read(
            dir.join("blobs/sha256")
                .join(digest.strip_prefix("sha256:").unwrap()),
        )
        .unwrap()
    };
    let manifest: Value = serde_json::from_slice(&blob(&manifest_digest)).unwrap();
    assert_eq!(manifest["artifactType"], ARTIFACT);
    assert_eq!(manifest["layers"][0]["mediaType"], ARTIFACT);
    assert_eq!(
        blob(manifest["layers"][0]["digest"].as_str().unwrap()),
        bytes
    );
    // The SBOM pull still finds no SBOM (the index is not one).
    let out = stella(&["sbom", "pull", &image]);
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn corpus_app_image_index_matches_its_sbom() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempdir();
    let cdx = tmp.path().join("app.cdx.json");
    let source = format!("docker-archive:{}", corpus.join("app.tar").display());
    ok(
        &stella(&["scan", &source, "--output", cdx.to_str().unwrap()]),
        "scan corpus app",
    );
    let sbom = std::fs::read(&cdx).unwrap();
    let idx = tmp.path().join("app.bomidx");
    ok(
        &stella(&[
            "sbom",
            "index",
            cdx.to_str().unwrap(),
            "--output",
            idx.to_str().unwrap(),
        ]),
        "sbom index",
    );
    assert_index_matches_sbom(&sbom, &idx);
    let facts = sbom_facts(&sbom);
    assert!(facts.len() > 50, "the corpus app has many packages");
    // Every purl of the SBOM, joined back, finds every component.
    let list = tmp.path().join("all.txt");
    std::fs::write(&list, facts.keys().cloned().collect::<Vec<_>>().join("\n")).unwrap();
    assert_eq!(
        query(&idx, &["--join", list.to_str().unwrap()])["count"],
        facts.len()
    );
}
