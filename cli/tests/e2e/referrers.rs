//! `stella sbom push`, `stella referrers`, `stella sbom pull` on an OCI layout: what `stella scan`
//! wrote comes back byte for byte, with no registry at all.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::common::image::{self, Compression, E};
use crate::common::*;

const CDX: &str = "application/vnd.cyclonedx+json";
const SPDX: &str = "application/spdx+json";

/// A small Debian-like image tagged `app` (config created 2024-05-01T12:00:00Z).
fn small_layout(dir: &Path) {
    let base = image::layer(
        &[
            E::Dir("etc"),
            E::File("etc/os-release", image::OS_RELEASE),
            E::Dir("var/lib/dpkg"),
            E::File(
                "var/lib/dpkg/status",
                &image::dpkg_status(&[("base-files", "12.4"), ("libc6", "2.36-9")]),
            ),
        ],
        Compression::Gzip,
    );
    image::oci_layout(dir, "app", &[base]);
}

fn ok(out: &Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.clone()
}

fn fails(out: &Output, code: i32, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    stderr
}

fn referrers_json(image: &str) -> Vec<Value> {
    let out = stella(&["referrers", image, "--format", "json"]);
    let v: Value = serde_json::from_slice(&ok(&out, "stella referrers")).unwrap();
    assert_eq!(v["image"], image);
    v["referrers"].as_array().unwrap().clone()
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn scan_push_discover_pull_round_trip_on_an_oci_layout() {
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    small_layout(&dir);
    let image = format!("oci:{}:app", dir.display());
    let cdx = tmp.path().join("app.cdx.json");
    let spdx = tmp.path().join("app.spdx.json");
    ok(
        &stella(&["scan", &image, "--output", cdx.to_str().unwrap()]),
        "scan",
    );
    ok(
        &stella(&[
            "scan",
            &image,
            "--format",
            "spdx-json",
            "--output",
            spdx.to_str().unwrap(),
        ]),
        "scan spdx",
    );
    let subject = scan_json(&image)["subject"]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_owned();

    // Nothing attached yet: pull says so (exit 6), the listing is empty.
    let err = fails(&stella(&["sbom", "pull", &image]), 6, "pull before push");
    assert!(
        err.contains("no ") && err.contains("available referrers: (none)"),
        "{err}"
    );
    assert!(referrers_json(&image).is_empty());

    // Push: the referrer manifest digest on stdout.
    let out = ok(
        &stella(&["sbom", "push", &image, "--sbom", cdx.to_str().unwrap()]),
        "sbom push",
    );
    let pushed = String::from_utf8(out).unwrap();
    let digests: Vec<&str> = pushed.lines().collect();
    assert_eq!(digests.len(), 1, "{pushed}");
    let cdx_ref = digests[0].to_owned();
    assert!(is_digest(&cdx_ref), "{cdx_ref}");

    // Discover it: JSON and tree.
    let found = referrers_json(&image);
    assert_eq!(found.len(), 1);
    let r = &found[0];
    assert_eq!(r["subject"], subject.as_str());
    assert_eq!(r["discovery"], "layout");
    assert_eq!(r["descriptor"]["digest"], cdx_ref.as_str());
    assert_eq!(r["descriptor"]["artifactType"], CDX);
    // The time is the SBOM's own (from the image config), not the clock.
    assert_eq!(
        r["descriptor"]["annotations"]["org.opencontainers.image.created"],
        "2024-05-01T12:00:00Z"
    );
    let tree = String::from_utf8(ok(&stella(&["referrers", &image]), "tree")).unwrap();
    assert!(
        tree.starts_with(&format!("{image}\n"))
            && tree.contains(&format!("└── {subject}\n"))
            && tree.contains(&format!(
                "└── {CDX} {cdx_ref} created=2024-05-01T12:00:00Z discovery=layout"
            )),
        "{tree}"
    );

    // Pull: byte-identical, to a file and to stdout.
    let pulled = tmp.path().join("pulled.cdx.json");
    ok(
        &stella(&["sbom", "pull", &image, "--output", pulled.to_str().unwrap()]),
        "pull",
    );
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&cdx).unwrap()
    );
    let stdout = ok(
        &stella(&["sbom", "pull", &image, "--type", "cyclonedx"]),
        "pull",
    );
    assert_eq!(stdout, std::fs::read(&cdx).unwrap());

    // SPDX next to it; the type chooses; the JSON output names subject and manifest.
    let out = ok(
        &stella(&[
            "sbom",
            "push",
            &image,
            "--sbom",
            spdx.to_str().unwrap(),
            "--format",
            "json",
        ]),
        "push spdx",
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["pushed"][0]["subject"]["digest"], subject.as_str());
    assert_eq!(v["pushed"][0]["manifest"]["artifactType"], SPDX);
    assert_eq!(
        ok(
            &stella(&["sbom", "pull", &image, "--type", "spdx"]),
            "pull spdx"
        ),
        std::fs::read(&spdx).unwrap()
    );
    let only_spdx = stella(&[
        "referrers",
        &image,
        "--artifact-type",
        SPDX,
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&ok(&only_spdx, "filter")).unwrap();
    assert_eq!(v["referrers"].as_array().unwrap().len(), 1);
    assert_eq!(referrers_json(&image).len(), 2);

    // The newest wins: a later SBOM (time from SOURCE_DATE_EPOCH) is what pull returns.
    let later = tmp.path().join("later.cdx.json");
    std::fs::write(
        &later,
        br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#,
    )
    .unwrap();
    ok(
        &stella_env(
            &["sbom", "push", &image, "--sbom", later.to_str().unwrap()],
            &[("SOURCE_DATE_EPOCH", "1800000000")],
        ),
        "push later",
    );
    assert_eq!(
        ok(
            &stella(&["sbom", "pull", &image, "--type", "cyclonedx"]),
            "pull newest"
        ),
        std::fs::read(&later).unwrap()
    );

    // Scanning the image is not disturbed by the referrers next to it: same bytes as before.
    let rescanned = ok(&stella(&["scan", &image]), "rescan");
    assert_eq!(rescanned, std::fs::read(&cdx).unwrap());
    let untagged = format!("oci:{}", dir.display());
    assert_eq!(
        ok(&stella(&["scan", &untagged]), "rescan untagged"),
        rescanned
    );

    // Errors: a document that is no SBOM (exit 3, says --type), an unknown tag (exit 3, lists tags),
    // an archive as the target.
    let junk = tmp.path().join("junk.json");
    std::fs::write(&junk, b"{\"hello\":1}").unwrap();
    let err = fails(
        &stella(&["sbom", "push", &image, "--sbom", junk.to_str().unwrap()]),
        3,
        "not an SBOM",
    );
    assert!(err.contains("--type") && err.contains("junk.json"), "{err}");
    let err = fails(
        &stella(&["referrers", &format!("oci:{}:nope", dir.display())]),
        3,
        "unknown tag",
    );
    assert!(err.contains("'nope'") && err.contains("app"), "{err}");
    let err = fails(
        &stella(&["referrers", &format!("docker-archive:{}", cdx.display())]),
        3,
        "archive",
    );
    assert!(err.contains("cannot hold referrers"), "{err}");
}

/// Eight `stella sbom push` processes at once on one layout: every referrer is in index.json.
#[test]
fn concurrent_stella_processes_lose_no_referrer() {
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    small_layout(&dir);
    let image = format!("oci:{}:app", dir.display());
    let children: Vec<_> = (0..8)
        .map(|i| {
            let sbom = tmp.path().join(format!("{i}.json"));
            std::fs::write(
                &sbom,
                format!(r#"{{"bomFormat":"CycloneDX","serialNumber":"urn:uuid:{i}"}}"#),
            )
            .unwrap();
            std::process::Command::new(env!("CARGO_BIN_EXE_stella"))
                .args(["sbom", "push", &image, "--sbom", sbom.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut pushed = std::collections::BTreeSet::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        pushed.insert(
            String::from_utf8(ok(&out, "push"))
                .unwrap()
                .trim()
                .to_owned(),
        );
    }
    assert_eq!(pushed.len(), 8);
    let listed: std::collections::BTreeSet<String> = referrers_json(&image)
        .iter()
        .map(|r| r["descriptor"]["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, pushed);
}

/// umoci (a layout tool we did not write) accepts the layout after a push: `umoci ls` still lists only
/// the image's tag (the referrer entry is untagged), and `umoci gc` keeps the referrer's blobs because
/// index.json reaches them — while it does delete a stray blob, so the collection really ran.
#[test]
fn umoci_lists_and_garbage_collects_the_layout_after_a_push() {
    if !crate::support::have("umoci") {
        return;
    }
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    small_layout(&dir);
    let image = format!("oci:{}:app", dir.display());
    let sbom = tmp.path().join("app.cdx.json");
    ok(
        &stella(&["scan", &image, "--output", sbom.to_str().unwrap()]),
        "scan",
    );
    ok(
        &stella(&["sbom", "push", &image, "--sbom", sbom.to_str().unwrap()]),
        "push",
    );
    let stray = dir.join(format!(
        "blobs/sha256/{}",
        image::sha256_hex(b"unreferenced")
    ));
    std::fs::write(&stray, b"unreferenced").unwrap();

    let umoci = |args: &[&str]| {
        let out = std::process::Command::new("umoci")
            .args(args)
            .arg("--layout")
            .arg(&dir)
            .output()
            .unwrap();
        String::from_utf8(ok(&out, &format!("umoci {args:?}"))).unwrap()
    };
    assert_eq!(umoci(&["ls"]).trim(), "app");
    umoci(&["gc"]);
    assert!(!stray.exists(), "umoci gc ran");
    assert_eq!(
        ok(&stella(&["sbom", "pull", &image]), "pull after gc"),
        std::fs::read(&sbom).unwrap()
    );
    assert_eq!(referrers_json(&image).len(), 1);
}

/// A multi-platform index: a push attaches to every platform manifest (or `--platform`'s), and pull
/// wants to know which platform's SBOM when they differ.
#[test]
fn multi_platform_push_and_pull() {
    let tmp = tempdir();
    let t = crate::support::build_test_layout(&tmp.path().join("layout"));
    let image = format!("oci:{}:multi", t.path.display());
    let all = tmp.path().join("all.json");
    let arm = tmp.path().join("arm.json");
    std::fs::write(
        &all,
        br#"{"bomFormat":"CycloneDX","metadata":{"timestamp":"2024-01-01T00:00:00Z"}}"#,
    )
    .unwrap();
    std::fs::write(
        &arm,
        br#"{"bomFormat":"CycloneDX","metadata":{"timestamp":"2024-06-01T00:00:00Z"},"arm":1}"#,
    )
    .unwrap();
    let out = ok(
        &stella(&["sbom", "push", &image, "--sbom", all.to_str().unwrap()]),
        "push all",
    );
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
    let out = ok(
        &stella(&[
            "sbom",
            "push",
            &image,
            "--sbom",
            arm.to_str().unwrap(),
            "--platform",
            "linux/arm64",
            "--format",
            "json",
        ]),
        "push arm64",
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    let arm_subject = v["pushed"][0]["subject"]["digest"].as_str().unwrap();
    assert_eq!(v["pushed"].as_array().unwrap().len(), 1);

    let found = referrers_json(&image);
    assert_eq!(found.len(), 4);
    let tree = String::from_utf8(ok(&stella(&["referrers", &image]), "tree")).unwrap();
    assert_eq!(tree.matches("discovery=layout").count(), 4, "{tree}");
    assert_eq!(
        tree.matches("── sha256:").count(),
        3,
        "three subjects: {tree}"
    );

    let err = fails(&stella(&["sbom", "pull", &image]), 2, "which platform");
    assert!(
        err.contains("--platform") && err.contains(arm_subject),
        "{err}"
    );
    let pulled = ok(
        &stella(&["sbom", "pull", &image, "--platform", "linux/arm64"]),
        "pull arm64",
    );
    assert_eq!(pulled, std::fs::read(&arm).unwrap(), "the newest for arm64");
    let pulled = ok(
        &stella(&["sbom", "pull", &image, "--platform", "linux/arm/v7"]),
        "pull arm/v7",
    );
    assert_eq!(pulled, std::fs::read(&all).unwrap());
    let err = fails(
        &stella(&[
            "sbom",
            "pull",
            &image,
            "--platform",
            "linux/arm64",
            "--type",
            "spdx",
        ]),
        6,
        "no spdx",
    );
    assert!(err.contains(CDX), "lists what is there: {err}");
    let err = fails(
        &stella(&["referrers", &image, "--platform", "linux/s390x"]),
        3,
        "no such platform",
    );
    assert!(
        err.contains("linux/s390x") && err.contains("linux/arm/v7"),
        "{err}"
    );
}

/// The corpus `minbase` image (real Debian, one ~90 MB layer), copied into a layout of its own (only
/// its blobs): scan → push → pull gives back the SBOM byte for byte, SPDX too.
#[test]
fn corpus_minbase_round_trip() {
    let Some(corpus) = corpus() else { return };
    let src = corpus.join("oci");
    let index: Value =
        serde_json::from_slice(&std::fs::read(src.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "minbase")
        .unwrap()
        .clone();
    let tmp = tempdir();
    let dir = tmp.path().join("minbase");
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let copy = |digest: &str| {
        let rel = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
        std::fs::copy(src.join(&rel), dir.join(&rel)).unwrap();
    };
    let manifest_digest = entry["digest"].as_str().unwrap();
    copy(manifest_digest);
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            src.join("blobs/sha256")
                .join(manifest_digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    copy(manifest["config"]["digest"].as_str().unwrap());
    for l in manifest["layers"].as_array().unwrap() {
        copy(l["digest"].as_str().unwrap());
    }
    std::fs::copy(src.join("oci-layout"), dir.join("oci-layout")).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [entry]})).unwrap(),
    )
    .unwrap();

    let image = format!("oci:{}:minbase", dir.display());
    for (format, kind) in [("cyclonedx-json", "cyclonedx"), ("spdx-json", "spdx")] {
        let sbom = tmp.path().join(format!("minbase.{kind}.json"));
        ok(
            &stella(&[
                "scan",
                &image,
                "--quiet",
                "--format",
                format,
                "--output",
                sbom.to_str().unwrap(),
            ]),
            "scan",
        );
        ok(
            &stella(&["sbom", "push", &image, "--sbom", sbom.to_str().unwrap()]),
            "push",
        );
        assert_eq!(
            ok(&stella(&["sbom", "pull", &image, "--type", kind]), "pull"),
            std::fs::read(&sbom).unwrap(),
            "{kind}"
        );
    }
    let found = referrers_json(&image);
    assert_eq!(found.len(), 2);
    assert!(found
        .iter()
        .all(|r| r["subject"] == manifest_digest && r["discovery"] == "layout"));
}
