//! Release signatures end to end: signed with `sign_release`, pushed as referrers to an OCI layout
//! and to a real CNCF distribution 2.8 registry (no referrers API: the `sha256-<hex>` tag fallback),
//! and checked with `ReleaseVerifier` — the genuine release passes, each way of faking one fails with
//! its own error, and verified digests are served from the cache when the registry is gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use registry::referrers::Artifact;
use registry::target::{self, Target};
use registry::PushOptions;
use serde_json::Value;
use signer_gateway::dsse::{KeySource, MemoryKey};
use signer_gateway::release::{
    release_statement, sign_release, sign_statement, ReleaseClaims, ReleaseError, ReleaseVerifier,
    ARTIFACT_RELEASE_SIGNATURE,
};

use crate::support::{
    layer_tar, registry_tools, skopeo_push, write_image, write_index, write_layout, Registry,
};

/// One single-platform image per way a release check can go.
const SINGLE: [&str; 7] = [
    "signed", "unsigned", "otherkey", "copied", "corrupt", "tampered", "rotated",
];

fn key() -> MemoryKey {
    MemoryKey::generate(&ring::rand::SystemRandom::new())
        .unwrap()
        .0
}

fn opts() -> PushOptions {
    PushOptions {
        insecure: true,
        ..PushOptions::default()
    }
}

fn verifier(keys: &[&MemoryKey]) -> ReleaseVerifier {
    ReleaseVerifier::new(
        keys.iter().map(|k| k.public_key_spki_der()).collect(),
        opts(),
    )
    .unwrap()
    .with_timeout(Duration::from_secs(30))
}

/// A layout holding every image of [`SINGLE`] (tagged by name, distinct contents) and `multi`, an
/// index over linux/amd64 and linux/arm64/v8. Returns the manifest digests by name (the platform
/// manifests of `multi` as `multi/amd64`, `multi/arm64`).
fn build_layout(dir: &Path) -> BTreeMap<String, String> {
    let digest = |d: &Value| d["digest"].as_str().unwrap().to_owned();
    let mut digests = BTreeMap::new();
    let mut entries = Vec::new();
    for name in SINGLE {
        let (desc, _) = write_image(
            dir,
            "linux",
            "amd64",
            None,
            &[layer_tar(&[("release", name.as_bytes())])],
        );
        digests.insert(name.to_owned(), digest(&desc));
        entries.push((name, desc));
    }
    let (amd, _) = write_image(
        dir,
        "linux",
        "amd64",
        None,
        &[layer_tar(&[("arch", b"amd64")])],
    );
    let (arm, _) = write_image(
        dir,
        "linux",
        "arm64",
        Some("v8"),
        &[layer_tar(&[("arch", b"arm64")])],
    );
    digests.insert("multi/amd64".to_owned(), digest(&amd));
    digests.insert("multi/arm64".to_owned(), digest(&arm));
    let index = write_index(dir, vec![amd, arm]);
    digests.insert("multi".to_owned(), digest(&index));
    entries.push(("multi", index));
    write_layout(dir, entries);
    digests
}

/// Where the images are: how to name one by tag and by digest.
enum Place {
    Layout(PathBuf),
    Registry(String),
}

impl Place {
    fn tagged(&self, name: &str) -> String {
        match self {
            Place::Layout(p) => format!("oci:{}:{name}", p.display()),
            Place::Registry(host) => format!("{host}/stella/{name}:1"),
        }
    }

    /// `name` is the repository (`multi` for its platform manifests too).
    fn pinned(&self, name: &str, digest: &str) -> String {
        match self {
            Place::Layout(p) => format!("oci:{}:{digest}", p.display()),
            Place::Registry(host) => format!("{host}/stella/{name}@{digest}"),
        }
    }
}

/// The release-signature envelope pushed for `image` (the first one).
async fn signature_of(image: &str) -> Vec<u8> {
    let t = Target::parse(image).unwrap();
    let found = target::list(&t, Some(ARTIFACT_RELEASE_SIGNATURE), &opts())
        .await
        .unwrap();
    assert!(!found.is_empty(), "{image} has no release signature");
    target::fetch(&t, &found[0], &opts()).await.unwrap().2
}

async fn push_signature(image: &str, content: Vec<u8>) {
    let artifact = Artifact {
        artifact_type: ARTIFACT_RELEASE_SIGNATURE.to_owned(),
        content,
        annotations: BTreeMap::new(),
    };
    target::push(&Target::parse(image).unwrap(), &artifact, &opts())
        .await
        .unwrap();
}

/// Every check, the same on a layout and on a registry. Returns a verifier whose cache holds the
/// digest of `signed` (and only verified digests).
async fn exercise(place: &Place, digests: &BTreeMap<String, String>) -> ReleaseVerifier {
    let release = key();
    let other = key();
    let next = key();
    let d = |name: &str| digests[name].clone();

    // The genuine release: signed by tag, verified by digest.
    let pushed = sign_release(&place.tagged("signed"), &release, "1.2.3", 2026, &opts())
        .await
        .unwrap();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].subject.digest, d("signed"));
    assert_eq!(
        pushed[0].manifest.artifact_type.as_deref(),
        Some(ARTIFACT_RELEASE_SIGNATURE)
    );
    if let Place::Registry(_) = place {
        // distribution 2.8 has no referrers API: the signature must be findable through the
        // fallback tag, and is (verification below lists through it).
        assert_eq!(
            pushed[0].fallback_tag.as_deref(),
            Some(format!("sha256-{}", &d("signed")[7..]).as_str())
        );
    }
    let v = verifier(&[&release]);
    let signed = place.pinned("signed", &d("signed"));
    assert_eq!(
        v.verify(&signed).await.unwrap(),
        ReleaseClaims {
            image_digest: d("signed"),
            version: "1.2.3".to_owned(),
            release_year: 2026,
        }
    );

    // A tag can move: refused before anything is read.
    let by_tag = place.tagged("signed");
    let e = v.verify(&by_tag).await.unwrap_err();
    assert!(matches!(e, ReleaseError::NotPinned { .. }), "{e:?}");
    assert!(e.to_string().contains(&by_tag), "{e}");

    // Nothing attached.
    let unsigned = place.pinned("unsigned", &d("unsigned"));
    let e = v.verify(&unsigned).await.unwrap_err();
    assert!(matches!(e, ReleaseError::NoSignature { .. }), "{e:?}");
    assert!(e.to_string().contains(&unsigned), "{e}");

    // Signed, by a key we do not trust.
    sign_release(&place.tagged("otherkey"), &other, "1.2.3", 2026, &opts())
        .await
        .unwrap();
    let otherkey = place.pinned("otherkey", &d("otherkey"));
    let e = v.verify(&otherkey).await.unwrap_err();
    assert!(
        matches!(e, ReleaseError::UntrustedSignature { count: 1, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains(&otherkey), "{e}");

    // The genuine signature of `signed`, copied onto another image.
    push_signature(&place.tagged("copied"), signature_of(&signed).await).await;
    let copied = place.pinned("copied", &d("copied"));
    match v.verify(&copied).await.unwrap_err() {
        ReleaseError::SubjectMismatch { image, signed } => {
            assert_eq!(image, copied);
            assert_eq!(signed, d("signed"));
        }
        e => panic!("{e:?}"),
    }

    // Not an envelope at all.
    push_signature(&place.tagged("corrupt"), b"{\"payload\": 42".to_vec()).await;
    let corrupt = place.pinned("corrupt", &d("corrupt"));
    let e = v.verify(&corrupt).await.unwrap_err();
    assert!(matches!(e, ReleaseError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains(&corrupt), "{e}");

    // A genuine envelope for `tampered` whose statement was edited (claims a newer version) before
    // it was pushed: the signature no longer verifies.
    let statement = release_statement("stella/tampered", &[d("tampered")], "1.2.3", 2026).unwrap();
    let mut env = sign_statement(&statement, &release).unwrap().to_json();
    let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let edited = String::from_utf8(payload)
        .unwrap()
        .replace("1.2.3", "9.9.9");
    assert!(edited.contains("9.9.9"));
    env["payload"] = STANDARD.encode(edited).into();
    push_signature(&place.tagged("tampered"), env.to_string().into_bytes()).await;
    let tampered = place.pinned("tampered", &d("tampered"));
    let e = v.verify(&tampered).await.unwrap_err();
    assert!(
        matches!(e, ReleaseError::UntrustedSignature { .. }),
        "{e:?}"
    );

    // Rotation: the old and the new key overlap.
    sign_release(&place.tagged("rotated"), &next, "1.3.0", 2026, &opts())
        .await
        .unwrap();
    let rotated = place.pinned("rotated", &d("rotated"));
    let e = v.verify(&rotated).await.unwrap_err();
    assert!(
        matches!(e, ReleaseError::UntrustedSignature { .. }),
        "{e:?}"
    );
    let both = verifier(&[&release, &next]);
    assert_eq!(both.verify(&signed).await.unwrap().version, "1.2.3");
    assert_eq!(both.verify(&rotated).await.unwrap().version, "1.3.0");
    let only_next = verifier(&[&next]);
    assert!(matches!(
        only_next.verify(&signed).await.unwrap_err(),
        ReleaseError::UntrustedSignature { .. }
    ));

    // A multi-platform release: one statement naming both platform manifests, attached to each.
    let pushed = sign_release(&place.tagged("multi"), &release, "1.2.3", 2026, &opts())
        .await
        .unwrap();
    let mut subjects: Vec<String> = pushed.iter().map(|p| p.subject.digest.clone()).collect();
    subjects.sort();
    let mut want = vec![d("multi/amd64"), d("multi/arm64")];
    want.sort();
    assert_eq!(subjects, want);
    for platform in ["multi/amd64", "multi/arm64"] {
        let claims = v
            .verify(&place.pinned("multi", &d(platform)))
            .await
            .unwrap();
        assert_eq!(claims.image_digest, d(platform));
    }
    // The index itself carries no signature: the scanner names the manifest it runs.
    assert!(matches!(
        v.verify(&place.pinned("multi", &d("multi")))
            .await
            .unwrap_err(),
        ReleaseError::NoSignature { .. }
    ));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_release_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let digests = build_layout(&layout);
    let place = Place::Layout(layout.clone());
    let v = exercise(&place, &digests).await;

    // Cache: with the layout gone, the verified digest is still accepted; one never verified is not.
    let uncached = verifier(&[&key()]).with_cache(Duration::ZERO, 0);
    std::fs::rename(&layout, dir.path().join("moved")).unwrap();
    let signed = place.pinned("signed", &digests["signed"]);
    assert_eq!(
        v.verify(&signed).await.unwrap().image_digest,
        digests["signed"]
    );
    let unsigned = place.pinned("unsigned", &digests["unsigned"]);
    let e = v.verify(&unsigned).await.unwrap_err();
    assert!(matches!(e, ReleaseError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&unsigned), "{e}");
    assert!(matches!(
        uncached.verify(&signed).await.unwrap_err(),
        ReleaseError::Unreachable { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_release_signatures() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    build_layout(&layout);
    let reg = Registry::start("");
    let host = reg.host();
    // skopeo may re-encode what it copies: the registry's digests are the ones to sign and pin.
    let mut digests = BTreeMap::new();
    for name in SINGLE.iter().copied().chain(["multi"]) {
        let digest = skopeo_push(
            &layout,
            name,
            &format!("{host}/stella/{name}:1"),
            None,
            name == "multi",
        );
        digests.insert(name.to_owned(), digest);
    }
    let multi = Target::parse(&format!("{host}/stella/multi:1")).unwrap();
    for m in target::subjects(&multi, &opts()).await.unwrap() {
        let arch = m.platform.as_ref().unwrap().architecture.clone();
        digests.insert(format!("multi/{arch}"), m.digest);
    }
    let place = Place::Registry(host);
    let v = exercise(&place, &digests).await;

    // Cache: the registry stops; the verified digest is served from the cache, an unverified one
    // reports the registry unreachable.
    drop(reg);
    let signed = place.pinned("signed", &digests["signed"]);
    assert_eq!(
        v.verify(&signed).await.unwrap(),
        ReleaseClaims {
            image_digest: digests["signed"].clone(),
            version: "1.2.3".to_owned(),
            release_year: 2026,
        }
    );
    let unsigned = place.pinned("unsigned", &digests["unsigned"]);
    let e = v.verify(&unsigned).await.unwrap_err();
    assert!(matches!(e, ReleaseError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&unsigned), "{e}");
}
