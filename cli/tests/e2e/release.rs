//! `stella release keygen`, `sign`, `verify` on an OCI layout: the key files, the signature attached
//! as a referrer, and each exit code a release gate relies on.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::common::*;
use crate::support::build_test_layout;

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails(out: &Output, code: i32, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    stderr
}

/// The manifest digest tagged `tag` in the layout's index.json.
fn tagged_digest(layout: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The platform manifest digests of the index with `digest`.
fn platform_digests(layout: &Path, digest: &str) -> Vec<String> {
    let blob = layout.join("blobs/sha256").join(&digest[7..]);
    let index: Value = serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn keygen_sign_verify_on_an_oci_layout() {
    let tmp = tempdir();
    let key = tmp.path().join("release.key");
    let key_s = key.to_str().unwrap();
    let public = tmp.path().join("release.key.pub");
    let public_s = public.to_str().unwrap();

    // keygen: private key 0600, public key next to it and on stdout, never overwritten.
    let printed = ok(&stella(&["release", "keygen", "--out", key_s]), "keygen");
    assert!(
        printed.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{printed}"
    );
    assert_eq!(std::fs::read_to_string(&public).unwrap(), printed);
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(
        private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{private}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "private key mode {mode:o}");
    }
    let e = fails(
        &stella(&["release", "keygen", "--out", key_s]),
        5,
        "keygen again",
    );
    assert!(e.contains("exists"), "{e}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), private, "kept");
    let other = tmp.path().join("other.key");
    ok(
        &stella(&["release", "keygen", "--out", other.to_str().unwrap()]),
        "keygen other",
    );
    let other_pub = format!("{}.pub", other.display());

    let layout = tmp.path().join("layout");
    build_test_layout(&layout);
    let single = tagged_digest(&layout, "single");
    let pinned = format!("oci:{}:{single}", layout.display());

    // Before signing: no release signature (7).
    let e = fails(
        &stella(&["release", "verify", &pinned, "--key", public_s]),
        7,
        "verify unsigned",
    );
    assert!(e.contains("no release signature"), "{e}");

    // sign by tag; stdout is the signature manifest digest.
    let tagged = format!("oci:{}:single", layout.display());
    let out = ok(
        &stella(&[
            "release",
            "sign",
            &tagged,
            "--key",
            key_s,
            "--version",
            "1.2.3",
            "--release-year",
            "2026",
        ]),
        "sign",
    );
    let sig = out.trim();
    assert!(sig.starts_with("sha256:") && sig.len() == 71, "{out}");
    assert!(layout.join("blobs/sha256").join(&sig[7..]).is_file());

    // verify by digest: the claims.
    let out = ok(
        &stella(&["release", "verify", &pinned, "--key", public_s]),
        "verify",
    );
    assert_eq!(
        out,
        format!("image_digest: {single}\nversion: 1.2.3\nrelease_year: 2026\n")
    );
    let out = ok(
        &stella(&[
            "release", "verify", &pinned, "--key", public_s, "--format", "json",
        ]),
        "verify json",
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["image_digest"], single.as_str());
    assert_eq!(v["version"], "1.2.3");
    assert_eq!(v["release_year"], 2026);

    // A tag is refused (2); another key is not trusted (7); both keys (a rotation) are.
    let e = fails(
        &stella(&["release", "verify", &tagged, "--key", public_s]),
        2,
        "verify by tag",
    );
    assert!(e.contains("not pinned by digest"), "{e}");
    let e = fails(
        &stella(&["release", "verify", &pinned, "--key", &other_pub]),
        7,
        "verify with another key",
    );
    assert!(e.contains("not by a trusted release key"), "{e}");
    ok(
        &stella(&[
            "release", "verify", &pinned, "--key", &other_pub, "--key", public_s,
        ]),
        "verify during a rotation",
    );

    // A multi-platform image, the year defaulting to the clock's: each platform manifest verifies.
    let multi = format!("oci:{}:multi", layout.display());
    let out = ok(
        &stella(&[
            "release",
            "sign",
            &multi,
            "--key",
            key_s,
            "--version",
            "2.0.0-rc.1",
        ]),
        "sign multi",
    );
    assert_eq!(out.lines().count(), 3, "one signature per platform: {out}");
    for d in platform_digests(&layout, &tagged_digest(&layout, "multi")) {
        let out = ok(
            &stella(&[
                "release",
                "verify",
                &format!("oci:{}:{d}", layout.display()),
                "--key",
                public_s,
                "--format",
                "json",
            ]),
            "verify platform manifest",
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["image_digest"], d.as_str());
        assert_eq!(v["version"], "2.0.0-rc.1");
        assert!(v["release_year"].as_u64().unwrap() >= 2025, "{v}");
    }

    // Bad input: a version that is not one (2), a key that is not a key (3), no layout (3).
    fails(
        &stella(&[
            "release",
            "sign",
            &tagged,
            "--key",
            key_s,
            "--version",
            "latest",
        ]),
        2,
        "sign a non-version",
    );
    fails(
        &stella(&[
            "release",
            "sign",
            &tagged,
            "--key",
            public_s,
            "--version",
            "1.0.0",
        ]),
        3,
        "sign with a public key",
    );
    let missing = format!("oci:{}:{single}", tmp.path().join("nope").display());
    fails(
        &stella(&["release", "verify", &missing, "--key", public_s]),
        3,
        "verify in a missing layout",
    );
}
