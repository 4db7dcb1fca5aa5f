//! Local sources: the real corpus (when present), hand-built layouts and archives.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use registry::{
    resolve_local, BlobLocation, LayerBlob, Platform, ResolvedImage, Source, SourceError,
};
use serde_json::json;

use crate::support::{build_test_layout, corpus, layer_tar, sha256};

fn read_at(loc: &BlobLocation, n: u64) -> Vec<u8> {
    let BlobLocation::File { path, offset, len } = loc;
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(*offset)).unwrap();
    let mut buf = Vec::new();
    f.take(n.min(*len)).read_to_end(&mut buf).unwrap();
    buf
}

fn blob_bytes(l: &LayerBlob) -> Vec<u8> {
    let BlobLocation::File { len, .. } = &l.location;
    read_at(&l.location, *len)
}

fn local(s: &str, platform: Option<&str>) -> Result<ResolvedImage, SourceError> {
    let p = platform.map(|p| Platform::parse(p).unwrap());
    resolve_local(&Source::parse(s).unwrap(), p.as_ref())
}

#[test]
fn corpus_oci_and_docker_archive_agree() {
    let Some(corpus) = corpus() else { return };
    let oci = local(&format!("oci:{}:app", corpus.join("oci").display()), None).unwrap();
    let archive_path = corpus.join("app.tar");
    // A plain path is sniffed as a docker archive.
    let sniffed = Source::parse(archive_path.to_str().unwrap()).unwrap();
    assert!(
        matches!(sniffed, Source::DockerArchive { .. }),
        "{sniffed:?}"
    );
    let docker = resolve_local(&sniffed, None).unwrap();

    assert_eq!(oci.layers.len(), 4);
    assert_eq!(docker.layers.len(), 4);
    let ids = |i: &ResolvedImage| {
        i.layers
            .iter()
            .map(|l| l.diff_id.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&oci), ids(&docker));
    assert_eq!(ids(&oci), oci.config.diff_ids);
    assert_eq!(oci.config_digest, docker.config_digest);
    assert_eq!(oci.config_digest, sha256(&oci.config_raw));
    assert_eq!(oci.tag.as_deref(), Some("app"));
    assert!(oci
        .manifest_digest
        .as_deref()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(docker.manifest_digest, None);
    assert_eq!(docker.name, "docker.io/corpus/app:latest");
    assert_eq!(docker.repository.as_deref(), Some("docker.io/corpus/app"));
    assert_eq!(docker.tag.as_deref(), Some("latest"));

    // Docker archive layers are uncompressed tars inside the outer tar: ustar magic at 257.
    for l in &docker.layers {
        let head = read_at(&l.location, 512);
        assert_eq!(head.len(), 512);
        assert_eq!(&head[257..262], b"ustar", "{:?}", l.location);
        // Named by the digest of their content, which for uncompressed layers is the diff_id.
        assert_eq!(l.digest, l.diff_id);
    }
    // OCI layers are gzip blobs of the declared size.
    for l in &oci.layers {
        assert_eq!(&read_at(&l.location, 2)[..], &[0x1f, 0x8b]);
        let BlobLocation::File { len, offset, .. } = &l.location;
        assert_eq!((Some(*len), *offset), (l.size, 0));
    }
    // The smallest layer, hashed in full, matches both its digest and (in the archive) its diff_id.
    assert_eq!(
        Some(sha256(&blob_bytes(&oci.layers[3]))),
        oci.layers[3].digest
    );
    assert_eq!(
        Some(sha256(&blob_bytes(&docker.layers[3]))),
        docker.layers[3].diff_id
    );

    // The same archive by explicit reference, normalized or not.
    for r in [
        "corpus/app:latest",
        "docker.io/corpus/app:latest",
        "corpus/app",
        "@0",
    ] {
        let img = local(
            &format!("docker-archive:{}:{r}", archive_path.display()),
            None,
        )
        .unwrap();
        assert_eq!(img.config_digest, docker.config_digest, "{r}");
    }
    let e = local(
        &format!("docker-archive:{}:corpus/other:1", archive_path.display()),
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("available: docker.io/corpus/app:latest"),
        "{e}"
    );

    let min = local(
        &format!("oci:{}:minbase", corpus.join("oci").display()),
        None,
    )
    .unwrap();
    assert_eq!(min.layers.len(), 1);
    assert_eq!(min.layers[0].digest, oci.layers[0].digest);
    let e = local(&format!("oci:{}", corpus.join("oci").display()), None).unwrap_err();
    assert!(matches!(e, SourceError::Ambiguous { .. }), "{e}");
    assert!(e.to_string().contains("minbase, app"), "{e}");
}

#[test]
fn oci_layout_tags_and_platforms() {
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let loc = format!("oci:{}", t.path.display());

    let single = local(&format!("{loc}:single"), None).unwrap();
    assert_eq!(single.layers.len(), 2);
    assert_eq!(single.config_digest, t.single_config);
    assert_eq!(single.name, "single");
    for l in &single.layers {
        assert_eq!(
            l.digest.as_deref(),
            l.diff_id.as_deref(),
            "uncompressed layers"
        );
        assert_eq!(Some(sha256(&blob_bytes(l))), l.digest);
        assert_eq!(
            l.media_type.as_deref(),
            Some("application/vnd.oci.image.layer.v1.tar")
        );
    }
    assert_eq!(single.config.cmd, Some(vec!["/bin/sh".to_owned()]));

    for p in ["linux/arm64", "linux/arm64/v8", "linux/aarch64"] {
        let img = local(&format!("{loc}:multi"), Some(p)).unwrap();
        assert_eq!(img.config_digest, t.arm64_config, "{p}");
        assert_eq!(img.config.architecture.as_deref(), Some("arm64"));
    }
    let arm = local(&format!("{loc}:multi"), Some("linux/arm")).unwrap();
    assert_eq!(arm.config.architecture.as_deref(), Some("arm"));
    let amd = local(&format!("{loc}:multi"), Some("linux/amd64")).unwrap();
    assert_eq!(amd.config.architecture.as_deref(), Some("amd64"));

    let e = local(&format!("{loc}:multi"), Some("linux/s390x")).unwrap_err();
    assert!(matches!(e, SourceError::NoMatchingPlatform { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("linux/amd64, linux/arm64/v8, linux/arm/v7"),
        "{msg}"
    );
    assert!(msg.contains("linux/s390x"), "{msg}");
    let e = local(&format!("{loc}:multi"), Some("linux/arm/v6")).unwrap_err();
    assert!(matches!(e, SourceError::NoMatchingPlatform { .. }), "{e:?}");

    let e = local(&format!("{loc}:nope"), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("tag 'nope' not found in {loc}; available: single, multi")
    );
    let e = local(&loc, None).unwrap_err();
    assert!(e.to_string().contains(&format!("{loc}:single")), "{e}");

    // Not a layout.
    let e = local(&format!("oci:{}", dir.path().display()), None).unwrap_err();
    assert!(matches!(e, SourceError::NotOciLayout { .. }), "{e}");
}

/// Regression: `--platform` was ignored for an image without an index, so an amd64-only image scanned
/// for linux/arm64 was reported as if it were the arm64 image.
#[test]
fn platform_is_checked_on_single_platform_images() {
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let single = format!("oci:{}:single", t.path.display());
    for ok in ["linux/amd64", "linux/x86_64", "linux/amd64/v1"] {
        let img = local(&single, Some(ok)).unwrap();
        assert_eq!(img.config_digest, t.single_config, "{ok}");
    }
    for wrong in ["linux/arm64", "windows/amd64", "linux/arm/v7"] {
        let e = local(&single, Some(wrong)).unwrap_err();
        assert!(matches!(e, SourceError::NoMatchingPlatform { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("available platforms: linux/amd64 (choose one with --platform)"),
            "{e}"
        );
    }
    // The check is on the image actually chosen, after an index too (arm/v7 config, variant named).
    let multi = format!("oci:{}:multi", t.path.display());
    assert!(local(&multi, Some("linux/arm/v7")).is_ok());
}

#[test]
fn untagged_multi_platform_index_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (amd, _) =
        crate::support::write_image(p, "linux", "amd64", None, &[layer_tar(&[("a", b"a")])]);
    let (arm, arm_cfg) =
        crate::support::write_image(p, "linux", "arm64", None, &[layer_tar(&[("b", b"b")])]);
    std::fs::write(p.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        p.join("index.json"),
        json!({"schemaVersion":2,"manifests":[amd, arm]}).to_string(),
    )
    .unwrap();
    let img = local(&format!("oci:{}", p.display()), Some("linux/arm64/v8")).unwrap();
    assert_eq!(img.config_digest, arm_cfg);
}

#[test]
fn corruption_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let loc = format!("oci:{}:single", t.path.display());
    let good = local(&loc, None).unwrap();
    let manifest = t.path.join("blobs/sha256").join(
        good.manifest_digest
            .as_deref()
            .unwrap()
            .trim_start_matches("sha256:"),
    );

    // One flipped byte in the manifest: same size, different digest.
    let orig = std::fs::read(&manifest).unwrap();
    let mut bad = orig.clone();
    let i = bad.iter().position(|b| *b == b'2').unwrap();
    bad[i] = b'3';
    std::fs::write(&manifest, &bad).unwrap();
    let e = local(&loc, None).unwrap_err();
    assert!(matches!(e, SourceError::DigestMismatch { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(good.manifest_digest.as_deref().unwrap()),
        "{e}"
    );
    std::fs::write(&manifest, &orig).unwrap();

    // A config with an extra byte: size mismatch.
    let config = t
        .path
        .join("blobs/sha256")
        .join(good.config_digest.trim_start_matches("sha256:"));
    let orig_config = std::fs::read(&config).unwrap();
    let mut longer = orig_config.clone();
    longer.push(b' ');
    std::fs::write(&config, &longer).unwrap();
    let e = local(&loc, None).unwrap_err();
    assert!(matches!(e, SourceError::SizeMismatch { .. }), "{e:?}");
    std::fs::write(&config, &orig_config).unwrap();

    // A truncated layer is caught by size; a missing one by name.
    let layer = t.path.join("blobs/sha256").join(
        good.layers[1]
            .digest
            .as_deref()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    let orig_layer = std::fs::read(&layer).unwrap();
    std::fs::write(&layer, &orig_layer[..100]).unwrap();
    let e = local(&loc, None).unwrap_err();
    assert!(matches!(e, SourceError::SizeMismatch { .. }), "{e:?}");
    std::fs::remove_file(&layer).unwrap();
    let e = local(&loc, None).unwrap_err();
    assert!(matches!(e, SourceError::MissingBlob { .. }), "{e:?}");
    assert!(e
        .to_string()
        .contains(good.layers[1].digest.as_deref().unwrap()));
}

fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap();
}

#[test]
fn oci_archive_reads_members_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let archive = dir.path().join("img.tar");
    tar_dir(&t.path, &archive);
    let s = Source::parse(archive.to_str().unwrap()).unwrap();
    assert!(matches!(s, Source::OciArchive { .. }), "{s:?}");

    let img = local(
        &format!("oci-archive:{}:multi", archive.display()),
        Some("linux/arm64"),
    )
    .unwrap();
    assert_eq!(img.config_digest, t.arm64_config);
    let img = local(&format!("oci-archive:{}:single", archive.display()), None).unwrap();
    for l in &img.layers {
        let BlobLocation::File { path, offset, .. } = &l.location;
        assert_eq!(path, &archive);
        assert!(*offset > 0);
        assert_eq!(Some(sha256(&blob_bytes(l))), l.digest);
        assert_eq!(&read_at(&l.location, 512)[257..262], b"ustar");
    }
}

#[test]
fn docker_archive_legacy_layout_and_selection() {
    let dir = tempfile::tempdir().unwrap();
    let l1 = layer_tar(&[("etc/a", b"a")]);
    let l2 = layer_tar(&[("etc/b", b"b")]);
    let hex = |b: &[u8]| sha256(b).trim_start_matches("sha256:").to_owned();
    let config = |ids: &[&Vec<u8>]| {
        json!({"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids": ids.iter().map(|l| sha256(l)).collect::<Vec<_>>()}})
            .to_string()
    };
    let (c1, c2) = (config(&[&l1]), config(&[&l1, &l2]));
    let manifest = json!([
        {"Config": format!("{}.json", hex(c1.as_bytes())), "RepoTags": ["one:1"], "Layers": ["aaa/layer.tar"]},
        {"Config": format!("{}.json", hex(c2.as_bytes())), "RepoTags": null, "Layers": ["aaa/layer.tar", "bbb/layer.tar"]},
    ])
    .to_string();
    let path = dir.path().join("save.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&format!("{}.tar", hex(&l1)), &l1);
    add("bbb/layer.tar", &l2);
    add(&format!("{}.json", hex(c1.as_bytes())), c1.as_bytes());
    add(&format!("{}.json", hex(c2.as_bytes())), c2.as_bytes());
    add("manifest.json", manifest.as_bytes());
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    b.append_link(&mut link, "aaa/layer.tar", format!("../{}.tar", hex(&l1)))
        .unwrap();
    b.into_inner().unwrap();

    let p = path.display();
    let e = local(&format!("docker-archive:{p}"), None).unwrap_err();
    assert!(matches!(e, SourceError::Ambiguous { .. }), "{e}");
    assert!(e.to_string().contains("one:1, @1"), "{e}");

    let one = local(&format!("docker-archive:{p}:one:1"), None).unwrap();
    assert_eq!(one.layers.len(), 1);
    assert_eq!(one.name, "one:1");
    assert_eq!(one.repository.as_deref(), Some("docker.io/library/one"));
    assert_eq!(sha256(&blob_bytes(&one.layers[0])), sha256(&l1));
    assert_eq!(
        one.layers[0].digest.as_deref(),
        Some(sha256(&l1).as_str()),
        "symlink resolved to a content-addressed name"
    );

    let two = local(&format!("docker-archive:{p}:@1"), None).unwrap();
    assert_eq!(two.layers.len(), 2);
    assert_eq!(two.name, "save.tar");
    assert_eq!(
        two.layers[1].digest, None,
        "bbb/layer.tar is not content-addressed"
    );
    assert_eq!(blob_bytes(&two.layers[1]), l2);
    assert_eq!(two.config_digest, sha256(c2.as_bytes()));

    let e = local(&format!("docker-archive:{p}:@7"), None).unwrap_err();
    assert!(matches!(e, SourceError::NotFound { .. }), "{e}");
}

#[tokio::test]
async fn dir_and_layer_are_not_images() {
    let opts = registry::ResolveOptions::new(std::env::temp_dir());
    let e = registry::resolve(&Source::Dir("/".into()), &opts)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::NotAnImage { .. }), "{e}");
}

#[test]
fn docker_25_save_format_oci_layout_with_manifest_json() {
    // Docker ≥ 25 writes an OCI layout plus a manifest.json whose paths are `blobs/sha256/<hex>`.
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let single = local(&format!("oci:{}:single", t.path.display()), None).unwrap();
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let manifest = json!([{
        "Config": blob(&single.config_digest),
        "RepoTags": ["example.com/app:v2"],
        "Layers": single.layers.iter().map(|l| blob(l.digest.as_deref().unwrap())).collect::<Vec<_>>(),
    }]);
    std::fs::write(t.path.join("manifest.json"), manifest.to_string()).unwrap();
    let archive = dir.path().join("save.tar");
    tar_dir(&t.path, &archive);
    let s = Source::parse(archive.to_str().unwrap()).unwrap();
    assert!(
        matches!(s, Source::DockerArchive { .. }),
        "manifest.json wins: {s:?}"
    );
    let img = resolve_local(&s, None).unwrap();
    assert_eq!(img.config_digest, single.config_digest);
    assert_eq!(img.name, "example.com/app:v2");
    for (a, b) in img.layers.iter().zip(&single.layers) {
        assert_eq!((&a.digest, &a.diff_id), (&b.digest, &b.diff_id));
        assert_eq!(Some(sha256(&blob_bytes(a))), a.digest);
    }
}

#[test]
fn skopeo_written_archives_interop() {
    if !crate::support::have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let want = local(&format!("oci:{}:single", t.path.display()), None).unwrap();
    let copy = |dest: &str| {
        let out = std::process::Command::new("skopeo")
            .args(["--insecure-policy", "copy"])
            .arg(format!("oci:{}:single", t.path.display()))
            .arg(dest)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let docker = dir.path().join("docker.tar");
    copy(&format!("docker-archive:{}:test/img:1", docker.display()));
    let oci = dir.path().join("oci.tar");
    copy(&format!("oci-archive:{}:single", oci.display()));

    let d = resolve_local(&Source::parse(docker.to_str().unwrap()).unwrap(), None).unwrap();
    let o = local(&format!("oci-archive:{}:single", oci.display()), None).unwrap();
    let ids = |i: &ResolvedImage| {
        i.layers
            .iter()
            .map(|l| l.diff_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&d), ids(&want));
    assert_eq!(ids(&o), ids(&want));
    assert_eq!(d.repository.as_deref(), Some("docker.io/test/img"));
    for l in d.layers.iter().chain(&o.layers) {
        // skopeo may gzip layers on the way into an OCI archive; the media type says so.
        if l.media_type
            .as_deref()
            .is_some_and(|m| m.ends_with("+gzip"))
        {
            assert_eq!(&read_at(&l.location, 2)[..], &[0x1f, 0x8b]);
        } else {
            assert_eq!(&read_at(&l.location, 512)[257..262], b"ustar");
        }
        assert_eq!(Some(sha256(&blob_bytes(l))), l.digest);
    }
    assert!(d.layers.iter().all(|l| l.media_type.is_none()));
}
