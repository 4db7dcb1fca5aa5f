//! An OCI layout as a referrers target: push, discover, fetch — on small layouts built here, a
//! multi-platform index, a BuildKit-style index with in-index attestation manifests, concurrent pushers
//! and a corrupt referrer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use registry::layout_target::{
    fetch_referrer_layout, list_referrers_layout, list_referrers_layout_for_platform,
    push_referrer_layout,
};
use registry::referrers::{
    Artifact, Discovery, Referrer, ANNOTATION_CREATED, ARTIFACT_CYCLONEDX, ARTIFACT_IN_TOTO,
    ARTIFACT_SPDX,
};
use registry::{resolve_local, Platform, Source};
use serde_json::{json, Value};

use crate::support::{build_test_layout, layer_tar, sha256, write_blob, write_image, write_layout};

fn artifact(kind: &str, content: &str, created: Option<&str>) -> Artifact {
    let mut annotations = BTreeMap::new();
    if let Some(c) = created {
        annotations.insert(ANNOTATION_CREATED.to_owned(), c.to_owned());
    }
    Artifact {
        artifact_type: kind.to_owned(),
        content: content.as_bytes().to_vec(),
        annotations,
    }
}

fn index_json(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

fn platform(s: &str) -> Platform {
    Platform::parse(s).unwrap()
}

/// The digest a tag names in index.json.
fn tagged(dir: &Path, tag: &str) -> String {
    index_json(dir)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Digests of the platform manifests of the index at `index_digest`.
fn platform_manifests(dir: &Path, index_digest: &str) -> Vec<(String, String)> {
    let bytes = std::fs::read(
        dir.join("blobs/sha256")
            .join(index_digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let index: Value = serde_json::from_slice(&bytes).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut name = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                name.push_str(&format!("/{v}"));
            }
            (name, m["digest"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn push_list_fetch_on_a_single_image() {
    let tmp = tempfile::tempdir().unwrap();
    let t = build_test_layout(&tmp.path().join("l"));
    let dir = t.path.as_path();
    let subject = tagged(dir, "single");
    let before = index_json(dir)["manifests"].as_array().unwrap().len();

    let sbom = artifact(
        ARTIFACT_CYCLONEDX,
        r#"{"bomFormat":"CycloneDX"}"#,
        Some("2024-05-01T12:00:00Z"),
    );
    let pushed = push_referrer_layout(dir, Some("single"), &sbom, None).unwrap();
    assert_eq!(pushed.len(), 1);
    let p = &pushed[0];
    assert_eq!(p.subject.digest, subject);
    assert_eq!(p.subject.media_type, registry::OCI_MANIFEST);
    assert_eq!(p.fallback_tag, None);
    assert_eq!(
        p.manifest.artifact_type.as_deref(),
        Some(ARTIFACT_CYCLONEDX)
    );

    // index.json: one more entry, untagged, pointing at a manifest whose subject is the image.
    let index = index_json(dir);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), before + 1);
    let entry = entries
        .iter()
        .find(|e| e["digest"] == p.manifest.digest.as_str())
        .unwrap();
    assert!(entry.get("annotations").is_none(), "no ref.name: {entry}");
    assert_eq!(entry["artifactType"], ARTIFACT_CYCLONEDX);
    let manifest_bytes = std::fs::read(
        dir.join("blobs/sha256")
            .join(p.manifest.digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(sha256(&manifest_bytes), p.manifest.digest);
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["subject"]["digest"], subject.as_str());
    assert!(dir
        .join("blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        .is_file());
    // Nothing left behind: no lock, no temporary files.
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .chain(std::fs::read_dir(dir.join("blobs/sha256")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lock") || n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let found = list_referrers_layout(dir, Some("single"), None).unwrap();
    assert_eq!(found.len(), 1);
    let r = &found[0];
    assert_eq!(r.subject, subject);
    assert_eq!(r.discovery, Discovery::Layout);
    assert_eq!(r.descriptor, p.manifest, "as the push described it");
    let (m, media_type, layer) = fetch_referrer_layout(dir, r).unwrap();
    assert_eq!(m, manifest_bytes);
    assert_eq!(media_type, ARTIFACT_CYCLONEDX);
    assert_eq!(layer, sbom.content);

    // The other image in the layout has no referrers; filters are exact.
    assert!(list_referrers_layout(dir, Some("multi"), None)
        .unwrap()
        .iter()
        .all(|r| r.subject != subject));
    assert!(
        list_referrers_layout(dir, Some("single"), Some(ARTIFACT_SPDX))
            .unwrap()
            .is_empty()
    );

    // Pushing the same artifact again changes nothing.
    let again = push_referrer_layout(dir, Some("single"), &sbom, None).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].manifest, pushed[0].manifest);
    assert_eq!(again[0].subject, pushed[0].subject);
    assert_eq!(
        index_json(dir)["manifests"].as_array().unwrap().len(),
        before + 1
    );

    // The image still resolves, by tag, and scanning is not confused by the referrer entry.
    let image = resolve_local(
        &Source::parse(&format!("oci:{}:single", dir.display())).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(image.manifest_digest.as_deref(), Some(subject.as_str()));
}

#[test]
fn an_untagged_single_image_layout_still_resolves_after_a_push() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let (desc, _) = write_image(&dir, "linux", "amd64", None, &[layer_tar(&[("a", b"1")])]);
    write_layout(&dir, vec![]);
    let subject = desc["digest"].as_str().unwrap().to_owned();
    let mut untagged = desc.clone();
    untagged.as_object_mut().unwrap().remove("platform");
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [untagged]}).to_string(),
    )
    .unwrap();
    let pushed = push_referrer_layout(
        &dir,
        None,
        &artifact(ARTIFACT_SPDX, r#"{"spdxVersion":"SPDX-2.3"}"#, None),
        None,
    )
    .unwrap();
    assert_eq!(pushed[0].subject.digest, subject);
    let source = Source::parse(&format!("oci:{}", dir.display())).unwrap();
    let image = resolve_local(&source, None).unwrap();
    assert_eq!(image.manifest_digest.as_deref(), Some(subject.as_str()));
    assert_eq!(list_referrers_layout(&dir, None, None).unwrap().len(), 1);
}

#[test]
fn a_multi_platform_index_gets_one_referrer_per_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let t = build_test_layout(&tmp.path().join("l"));
    let dir = t.path.as_path();
    let index = tagged(dir, "multi");
    let platforms = platform_manifests(dir, &index);
    assert_eq!(platforms.len(), 3);

    let all = artifact(
        ARTIFACT_CYCLONEDX,
        r#"{"all":1}"#,
        Some("2024-01-01T00:00:00Z"),
    );
    let pushed = push_referrer_layout(dir, Some("multi"), &all, None).unwrap();
    let subjects: BTreeSet<&str> = pushed.iter().map(|p| p.subject.digest.as_str()).collect();
    let expected: BTreeSet<&str> = platforms.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(subjects, expected, "each platform manifest, not the index");
    assert_eq!(
        pushed
            .iter()
            .map(|p| &p.manifest.digest)
            .collect::<BTreeSet<_>>()
            .len(),
        3,
        "three distinct referrer manifests"
    );

    let arm64 = artifact(
        ARTIFACT_SPDX,
        r#"{"arm64":1}"#,
        Some("2024-02-01T00:00:00Z"),
    );
    let pushed =
        push_referrer_layout(dir, Some("multi"), &arm64, Some(&platform("linux/arm64"))).unwrap();
    let arm64_digest = &platforms
        .iter()
        .find(|(p, _)| p == "linux/arm64/v8")
        .unwrap()
        .1;
    assert_eq!(pushed.len(), 1);
    assert_eq!(&pushed[0].subject.digest, arm64_digest);

    // A referrer of the index itself (as cosign attaches to an index) is discovered too.
    let index_desc = registry::referrers::Descriptor {
        media_type: registry::OCI_INDEX.to_owned(),
        digest: index.clone(),
        size: std::fs::metadata(
            dir.join("blobs/sha256")
                .join(index.trim_start_matches("sha256:")),
        )
        .unwrap()
        .len(),
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    };
    let on_index = artifact(ARTIFACT_CYCLONEDX, r#"{"index":1}"#, None);
    let (bytes, desc) = registry::referrers::artifact_manifest(&index_desc, &on_index);
    write_blob(dir, registry::OCI_MANIFEST, &bytes);
    write_blob(dir, ARTIFACT_CYCLONEDX, &on_index.content);
    write_blob(dir, "application/vnd.oci.empty.v1+json", b"{}");
    let mut idx = index_json(dir);
    idx["manifests"].as_array_mut().unwrap().push(
        json!({"mediaType": registry::OCI_MANIFEST, "digest": desc.digest, "size": desc.size}),
    );
    std::fs::write(dir.join("index.json"), idx.to_string()).unwrap();

    let found = list_referrers_layout(dir, Some("multi"), None).unwrap();
    assert_eq!(found.len(), 5, "{found:#?}");
    let on = |d: &str| found.iter().filter(|r| r.subject == d).count();
    assert_eq!(on(arm64_digest), 2);
    assert_eq!(on(&index), 1);
    assert_eq!(
        found
            .iter()
            .find(|r| r.subject == index)
            .unwrap()
            .descriptor
            .artifact_type
            .as_deref(),
        Some(ARTIFACT_CYCLONEDX),
        "artifactType read from the manifest, not from index.json"
    );
    let mut sorted = found.clone();
    sorted.sort_by(|a, b| a.subject.cmp(&b.subject));
    assert_eq!(
        found.iter().map(|r| &r.subject).collect::<Vec<_>>(),
        sorted.iter().map(|r| &r.subject).collect::<Vec<_>>(),
        "sorted by subject first"
    );
    // Deterministic: the same listing twice.
    assert_eq!(
        found,
        list_referrers_layout(dir, Some("multi"), None).unwrap()
    );

    let arm =
        list_referrers_layout_for_platform(dir, Some("multi"), &platform("linux/arm64"), None)
            .unwrap();
    assert_eq!(arm.len(), 2);
    assert!(arm.iter().all(|r| &r.subject == arm64_digest));
    let spdx = list_referrers_layout_for_platform(
        dir,
        Some("multi"),
        &platform("linux/arm64"),
        Some(ARTIFACT_SPDX),
    )
    .unwrap();
    assert_eq!(spdx.len(), 1);
    assert_eq!(
        fetch_referrer_layout(dir, &spdx[0]).unwrap().2,
        arm64.content
    );

    let e = push_referrer_layout(dir, Some("multi"), &all, Some(&platform("linux/s390x")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux/s390x") && e.contains("linux/arm64/v8"),
        "{e}"
    );
    let e = push_referrer_layout(dir, Some("nope"), &all, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'nope'") && e.contains("single, multi"), "{e}");
}

/// An in-toto statement as BuildKit writes one into an attestation manifest.
fn statement(predicate_type: &str, subject_digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "pkg:docker/app@latest?platform=linux%2Famd64",
                     "digest": {"sha256": subject_digest.trim_start_matches("sha256:")}}],
        "predicate": {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"},
    }))
    .unwrap()
}

/// A BuildKit-exported layout: index.json → the image index (tagged) → two platform manifests and,
/// per platform, an attestation manifest (platform unknown/unknown, `vnd.docker.reference.*`
/// annotations) whose layers are in-toto statements.
fn buildkit_layout(dir: &Path) -> (String, Vec<(String, Vec<u8>)>) {
    let (amd, _) = write_image(dir, "linux", "amd64", None, &[layer_tar(&[("a", b"amd")])]);
    let (arm, _) = write_image(dir, "linux", "arm64", None, &[layer_tar(&[("a", b"arm")])]);
    let mut entries = vec![amd.clone(), arm.clone()];
    let mut statements = Vec::new();
    for image in [&amd, &arm] {
        let subject = image["digest"].as_str().unwrap();
        let sbom = statement("https://spdx.dev/Document", subject);
        let provenance = statement("https://slsa.dev/provenance/v0.2", subject);
        let mut layers = Vec::new();
        for (bytes, predicate) in [
            (&sbom, "https://spdx.dev/Document"),
            (&provenance, "https://slsa.dev/provenance/v0.2"),
        ] {
            let mut d = write_blob(dir, ARTIFACT_IN_TOTO, bytes);
            d["annotations"] = json!({"in-toto.io/predicate-type": predicate});
            layers.push(d);
        }
        let config = write_blob(dir, "application/vnd.oci.image.config.v1+json", b"{\"architecture\":\"unknown\",\"os\":\"unknown\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
        });
        let mut d = write_blob(
            dir,
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
        d["annotations"] = json!({
            "vnd.docker.reference.digest": subject,
            "vnd.docker.reference.type": "attestation-manifest",
        });
        d["platform"] = json!({"architecture": "unknown", "os": "unknown"});
        entries.push(d);
        statements.push((subject.to_owned(), sbom));
    }
    let index = crate::support::write_index(dir, entries);
    write_layout(dir, vec![("app", index.clone())]);
    (index["digest"].as_str().unwrap().to_owned(), statements)
}

#[test]
fn buildkit_attestation_manifests_in_the_index_are_referrers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let (_index, statements) = buildkit_layout(&dir);

    let found = list_referrers_layout(&dir, Some("app"), None).unwrap();
    assert_eq!(found.len(), 2, "{found:#?}");
    for r in &found {
        assert_eq!(r.discovery, Discovery::BuildkitIndex);
        assert_eq!(
            r.descriptor.artifact_type.as_deref(),
            Some(ARTIFACT_IN_TOTO)
        );
        assert_eq!(
            r.descriptor.annotations["in-toto.io/predicate-type"],
            "https://spdx.dev/Document"
        );
        let (_, media_type, layer) = fetch_referrer_layout(&dir, r).unwrap();
        assert_eq!(media_type, ARTIFACT_IN_TOTO);
        let expected = &statements.iter().find(|(s, _)| *s == r.subject).unwrap().1;
        assert_eq!(
            &layer, expected,
            "the first in-toto statement of its subject"
        );
    }
    let subjects: BTreeSet<&String> = found.iter().map(|r| &r.subject).collect();
    assert_eq!(
        subjects,
        statements.iter().map(|(s, _)| s).collect::<BTreeSet<_>>()
    );

    // An SBOM push attaches to the two platform manifests, never to the attestation manifests.
    let pushed = push_referrer_layout(
        &dir,
        Some("app"),
        &artifact(ARTIFACT_CYCLONEDX, "{}", None),
        None,
    )
    .unwrap();
    assert_eq!(
        pushed
            .iter()
            .map(|p| &p.subject.digest)
            .collect::<BTreeSet<_>>(),
        subjects
    );
    let all = list_referrers_layout(&dir, Some("app"), None).unwrap();
    assert_eq!(all.len(), 4);
    let cdx = list_referrers_layout(&dir, Some("app"), Some(ARTIFACT_CYCLONEDX)).unwrap();
    assert!(cdx.iter().all(|r| r.discovery == Discovery::Layout) && cdx.len() == 2);
    let amd = list_referrers_layout_for_platform(
        &dir,
        Some("app"),
        &platform("linux/amd64"),
        Some(ARTIFACT_IN_TOTO),
    )
    .unwrap();
    assert_eq!(amd.len(), 1);
}

#[test]
fn twenty_concurrent_pushes_are_all_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let t = build_test_layout(&tmp.path().join("l"));
    let dir = t.path.clone();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let a = artifact(
                    ARTIFACT_CYCLONEDX,
                    &format!(r#"{{"bomFormat":"CycloneDX","n":{i}}}"#),
                    Some(&format!("2024-01-01T00:00:{i:02}Z")),
                );
                push_referrer_layout(&dir, Some("single"), &a, None).unwrap()
            })
        })
        .collect();
    let pushed: BTreeSet<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .map(|p| p.manifest.digest)
        .collect();
    assert_eq!(pushed.len(), 20);
    let found: Vec<Referrer> = list_referrers_layout(&dir, Some("single"), None).unwrap();
    let listed: BTreeSet<String> = found.iter().map(|r| r.descriptor.digest.clone()).collect();
    assert_eq!(listed, pushed);
    // Sorted by creation time within the subject.
    let created: Vec<&String> = found
        .iter()
        .map(|r| &r.descriptor.annotations[ANNOTATION_CREATED])
        .collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted);
    assert!(!dir.join("index.json.lock").exists());
}

#[test]
fn a_corrupt_referrer_manifest_is_an_error_naming_its_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let t = build_test_layout(&tmp.path().join("l"));
    let dir = t.path.as_path();
    let pushed = push_referrer_layout(
        dir,
        Some("single"),
        &artifact(ARTIFACT_CYCLONEDX, "{}", None),
        None,
    )
    .unwrap();
    let digest = pushed[0].manifest.digest.clone();
    let path = dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let e = list_referrers_layout(dir, Some("single"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&digest) && e.contains("digest mismatch"), "{e}");

    std::fs::remove_file(&path).unwrap();
    let e = list_referrers_layout(dir, Some("single"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&digest) && e.contains("missing"), "{e}");

    // A referrer layer that was tampered with is caught on fetch.
    let tmp2 = tempfile::tempdir().unwrap();
    let t2 = build_test_layout(&tmp2.path().join("l"));
    let content = r#"{"bomFormat":"CycloneDX"}"#;
    push_referrer_layout(
        &t2.path,
        Some("single"),
        &artifact(ARTIFACT_CYCLONEDX, content, None),
        None,
    )
    .unwrap();
    let layer = sha256(content.as_bytes());
    std::fs::write(
        t2.path
            .join("blobs/sha256")
            .join(layer.trim_start_matches("sha256:")),
        content.replace("CycloneDX", "CycloneDY"),
    )
    .unwrap();
    let r = &list_referrers_layout(&t2.path, Some("single"), None).unwrap()[0];
    let e = fetch_referrer_layout(&t2.path, r).unwrap_err().to_string();
    assert!(e.contains(&layer), "{e}");
}

#[test]
fn not_a_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let e = push_referrer_layout(
        &tmp.path().join("missing"),
        None,
        &artifact(ARTIFACT_CYCLONEDX, "{}", None),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not an OCI image layout"), "{e}");
    let e = list_referrers_layout(tmp.path(), None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no 'oci-layout' file"), "{e}");
}

/// A Sigstore bundle is pushed as cosign v3 does: artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`
/// and the `dev.sigstore.bundle.predicateType` annotation, both visible in discovery and in the manifest.
#[test]
fn a_sigstore_bundle_referrer_carries_its_predicate_type() {
    use registry::referrers::{ANNOTATION_BUNDLE_PREDICATE_TYPE, ARTIFACT_SIGSTORE_BUNDLE};
    let tmp = tempfile::tempdir().unwrap();
    let t = build_test_layout(&tmp.path().join("l"));
    let dir = t.path.as_path();
    let subject = tagged(dir, "single");
    let mut bundle = artifact(
        ARTIFACT_SIGSTORE_BUNDLE,
        r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#,
        Some("2024-05-01T12:00:00Z"),
    );
    bundle.annotations.insert(
        ANNOTATION_BUNDLE_PREDICATE_TYPE.to_owned(),
        "https://cyclonedx.org/bom".to_owned(),
    );
    push_referrer_layout(dir, Some("single"), &bundle, None).unwrap();
    let found = list_referrers_layout(dir, Some("single"), Some(ARTIFACT_SIGSTORE_BUNDLE)).unwrap();
    assert_eq!(found.len(), 1);
    let r = &found[0];
    assert_eq!(r.subject, subject);
    assert_eq!(
        r.descriptor
            .annotations
            .get(ANNOTATION_BUNDLE_PREDICATE_TYPE)
            .map(String::as_str),
        Some("https://cyclonedx.org/bom")
    );
    let (manifest, media_type, content) = fetch_referrer_layout(dir, r).unwrap();
    assert_eq!(media_type, ARTIFACT_SIGSTORE_BUNDLE);
    assert_eq!(content, bundle.content);
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(m["artifactType"], ARTIFACT_SIGSTORE_BUNDLE);
    assert_eq!(
        m["annotations"][ANNOTATION_BUNDLE_PREDICATE_TYPE],
        "https://cyclonedx.org/bom"
    );
    assert!(
        list_referrers_layout(dir, Some("single"), Some(ARTIFACT_CYCLONEDX))
            .unwrap()
            .is_empty()
    );
}
