//! `registry::copy` between OCI layouts, and the verifier's readers (`target::top_manifest`,
//! `target::referrers_of`, `referrers::in_index_attestations`, `target::fetch_in_toto_layers`) on a
//! BuildKit-style attested index with nested referrers. Registries are exercised end to end by the
//! stella CLI's tests (cli/tests/e2e/cp.rs).

use std::collections::BTreeMap;
use std::path::Path;

use registry::copy::{copy, CopyOptions, Side};
use registry::layout_target::push_referrer_layout;
use registry::referrers::{
    artifact_manifest, in_index_attestations, Artifact, ARTIFACT_CYCLONEDX, ARTIFACT_IN_TOTO,
    ARTIFACT_SIGSTORE_BUNDLE, EMPTY_CONFIG,
};
use registry::target::{self, Target};
use registry::{Platform, PushOptions, SourceError};
use serde_json::{json, Value};

use crate::support::{layer_tar, sha256, write_blob, write_image, write_index, write_layout};

pub struct Built {
    pub index: String,
    pub amd64: String,
    pub arm64: String,
    pub attestation: String,
    pub statement: Vec<u8>,
    pub sbom: String,
    pub bundle: String,
}

/// An index (amd64, arm64, an attestation manifest of amd64), an SBOM referrer of the amd64 manifest
/// and a bundle referrer of the SBOM manifest.
pub fn build(dir: &Path) -> Built {
    let (amd, _) = write_image(
        dir,
        "linux",
        "amd64",
        None,
        &[layer_tar(&[("a", b"amd64")])],
    );
    let (arm, _) = write_image(
        dir,
        "linux",
        "arm64",
        None,
        &[layer_tar(&[("a", b"arm64")])],
    );
    let amd64 = amd["digest"].as_str().unwrap().to_owned();
    let statement = format!(r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}}}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{{}}}}"#, &amd64[7..]).into_bytes();
    let mut layer = write_blob(dir, ARTIFACT_IN_TOTO, &statement);
    layer["annotations"] = json!({"in-toto.io/predicate-type": "https://slsa.dev/provenance/v1"});
    let other = write_blob(dir, "application/octet-stream", b"not a statement");
    let config = write_blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"unknown","os":"unknown"}"#,
    );
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [other, layer]});
    let mut att = write_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    att["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    att["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd64});
    let attestation = att["digest"].as_str().unwrap().to_owned();
    let arm64 = arm["digest"].as_str().unwrap().to_owned();
    let index = write_index(dir, vec![amd, arm, att]);
    let index_digest = index["digest"].as_str().unwrap().to_owned();
    write_layout(dir, vec![("app", index)]);

    let sbom = Artifact {
        artifact_type: ARTIFACT_CYCLONEDX.to_owned(),
        content: br#"{"bomFormat":"CycloneDX"}"#.to_vec(),
        annotations: BTreeMap::new(),
    };
    let pushed = push_referrer_layout(
        dir,
        Some("app"),
        &sbom,
        Some(&Platform::parse("linux/amd64").unwrap()),
    )
    .unwrap();
    assert_eq!(pushed.len(), 1);
    let sbom_desc = pushed[0].manifest.clone();
    // The bundle refers to the SBOM manifest: written by hand, listed untagged in index.json.
    let bundle = Artifact {
        artifact_type: ARTIFACT_SIGSTORE_BUNDLE.to_owned(),
        content: b"{\"bundle\":1}".to_vec(),
        annotations: BTreeMap::new(),
    };
    let (bytes, bundle_desc) = artifact_manifest(&sbom_desc, &bundle);
    write_blob(dir, "x", &bytes);
    write_blob(dir, "x", EMPTY_CONFIG);
    write_blob(dir, "x", &bundle.content);
    let mut index_json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index_json["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::to_value(&bundle_desc).unwrap());
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index_json).unwrap(),
    )
    .unwrap();
    Built {
        index: index_digest,
        amd64,
        arm64,
        attestation,
        statement,
        sbom: sbom_desc.digest,
        bundle: bundle_desc.digest,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn opts(scratch: &Path) -> CopyOptions {
    CopyOptions::new(scratch.to_owned())
}

fn layout(dir: &Path, tag: &str) -> Target {
    Target::parse(&format!("oci:{}:{tag}", dir.display())).unwrap()
}

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

#[test]
fn copies_an_attested_index_with_nested_referrers_between_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let b = build(&src);
    let dst = tmp.path().join("dst");
    let report = rt()
        .block_on(copy(
            &layout(&src, "app"),
            &layout(&dst, "copied"),
            &opts(tmp.path()),
        ))
        .unwrap();
    assert_eq!(report.top.digest, b.index);
    assert!(report.index);
    assert_eq!(report.manifests, 3);
    let copied: Vec<&str> = report
        .referrers
        .iter()
        .map(|r| r.descriptor.digest.as_str())
        .collect();
    assert_eq!(copied, [b.sbom.as_str(), b.bundle.as_str()]);
    assert_eq!(report.tag.as_deref(), Some("copied"));
    for d in [
        &b.index,
        &b.amd64,
        &b.arm64,
        &b.attestation,
        &b.sbom,
        &b.bundle,
    ] {
        assert_eq!(blob(&dst, d), blob(&src, d), "{d} byte for byte");
    }

    // The verifier's readers at the destination.
    let t = layout(&dst, "copied");
    let po = PushOptions::default();
    let (top, desc) = rt().block_on(target::top_manifest(&t, &po)).unwrap();
    assert_eq!(sha256(&top), b.index);
    assert_eq!(desc.media_type, "application/vnd.oci.image.index.v1+json");
    let atts = in_index_attestations(&top).unwrap();
    assert_eq!(atts.len(), 2);
    assert!(atts[&b.arm64].is_empty());
    assert_eq!(atts[&b.amd64].len(), 1);
    assert_eq!(atts[&b.amd64][0].digest, b.attestation);
    let layers = rt()
        .block_on(target::fetch_in_toto_layers(&t, &atts[&b.amd64][0], &po))
        .unwrap();
    assert_eq!(layers.len(), 1, "only the in-toto layer");
    assert_eq!(layers[0].statement, b.statement);
    assert_eq!(
        layers[0].predicate_type.as_deref(),
        Some("https://slsa.dev/provenance/v1")
    );
    let of_amd64 = rt()
        .block_on(target::referrers_of(&t, &b.amd64, &po))
        .unwrap();
    let digests: Vec<&str> = of_amd64
        .iter()
        .map(|r| r.descriptor.digest.as_str())
        .collect();
    assert_eq!(digests, [b.sbom.as_str()]);
    assert_eq!(
        of_amd64[0].descriptor.artifact_type.as_deref(),
        Some(ARTIFACT_CYCLONEDX)
    );
    let of_sbom = rt()
        .block_on(target::referrers_of(&t, &b.sbom, &po))
        .unwrap();
    assert_eq!(of_sbom.len(), 1);
    assert_eq!(of_sbom[0].descriptor.digest, b.bundle);
    assert!(rt()
        .block_on(target::referrers_of(&t, &b.arm64, &po))
        .unwrap()
        .is_empty());

    // Again: everything is there, index.json unchanged.
    let before = std::fs::read(dst.join("index.json")).unwrap();
    let again = rt()
        .block_on(copy(
            &layout(&src, "app"),
            &layout(&dst, "copied"),
            &opts(tmp.path()),
        ))
        .unwrap();
    assert_eq!(again.blobs_copied, 0);
    assert_eq!(std::fs::read(dst.join("index.json")).unwrap(), before);

    // One platform only: the amd64 manifest as a single image, with its referrers.
    let mut one = opts(tmp.path());
    one.platform = Some(Platform::parse("linux/amd64").unwrap());
    let single = tmp.path().join("single");
    let r = rt()
        .block_on(copy(&layout(&src, "app"), &layout(&single, "amd64"), &one))
        .unwrap();
    assert_eq!(r.top.digest, b.amd64);
    assert!(!r.index);
    assert_eq!(r.referrers.len(), 2);
    // No referrers when asked not to.
    let mut bare = opts(tmp.path());
    bare.referrers = false;
    let none = tmp.path().join("none");
    let r = rt()
        .block_on(copy(&layout(&src, "app"), &layout(&none, "app"), &bare))
        .unwrap();
    assert!(r.referrers.is_empty());
    assert!(!none.join("blobs/sha256").join(&b.sbom[7..]).exists());
}

#[test]
fn a_corrupt_referrer_blob_fails_the_copy_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let b = build(&src);
    let path = src.join("blobs/sha256").join(&b.bundle[7..]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = b'[';
    std::fs::write(&path, &bytes).unwrap();
    let dst = tmp.path().join("dst");
    let e = rt()
        .block_on(copy(
            &layout(&src, "app"),
            &layout(&dst, "app"),
            &opts(tmp.path()),
        ))
        .unwrap_err();
    assert_eq!(e.side, Side::Source);
    assert!(matches!(e.error, SourceError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&b.bundle), "{e}");
    assert!(!dst.exists());
}
