//! The per-layer cache: `stella scan` cold, warm and with `--no-cache` writes byte-identical SBOMs; a
//! warm scan opens no layer blob; a corrupt cache entry is rescanned; a cache directory that cannot be
//! used only costs a warning.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::image::{dpkg_status, layer, oci_layout, Compression, E, OS_RELEASE};
use crate::common::{corpus, stella_env, tempdir};

fn scan(source: &str, cache: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["scan", source, "--quiet"];
    args.extend_from_slice(extra);
    stella_env(&args, &[("STELLA_CACHE_DIR", cache.to_str().unwrap())])
}

fn ok(out: Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "{what}: empty output");
    out.stdout
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "entry"))
        .collect();
    v.sort();
    v
}

/// A copy of the OCI layout at `src` whose blobs are symlinks to the originals (cheap for the corpus).
fn layout_copy(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst.join("blobs/sha256")).unwrap();
    for f in ["index.json", "oci-layout"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    for b in std::fs::read_dir(src.join("blobs/sha256")).unwrap() {
        let b = b.unwrap();
        std::os::unix::fs::symlink(
            std::fs::canonicalize(b.path()).unwrap(),
            dst.join("blobs/sha256").join(b.file_name()),
        )
        .unwrap();
    }
}

fn blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// The layer blob paths of the image tagged `tag`.
fn layer_blobs(dir: &Path, tag: &str) -> Vec<PathBuf> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(blob(dir, desc["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(dir, l["digest"].as_str().unwrap()))
        .collect()
}

/// Replaces every layer blob by zeros of the same size: the layout still resolves (config and
/// manifest remain), but reading any layer fails its digest check.
fn blank_layers(dir: &Path, tag: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut saved = Vec::new();
    for path in layer_blobs(dir, tag) {
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(bytes.len() as u64).unwrap();
        saved.push((path, bytes));
    }
    saved
}

fn assert_same(a: &[u8], b: &[u8], what: &str) {
    assert!(
        a == b,
        "{what}: output differs from the cold scan ({} vs {} bytes)",
        a.len(),
        b.len()
    );
}

#[test]
fn cache_corpus_app_cold_warm_and_no_cache_are_byte_identical_and_warm_reads_no_layer_blob() {
    let Some(corpus) = corpus() else { return };
    let work = tempdir();
    let layout = work.path().join("oci");
    layout_copy(&corpus.join("oci"), &layout);
    let cache = work.path().join("cache");
    let source = format!("oci:{}:app", layout.display());

    let cold = ok(scan(&source, &cache, &[]), "cold scan");
    assert!(!entries(&cache).is_empty(), "the cold scan stored no layer");
    let warm = ok(scan(&source, &cache, &[]), "warm scan");
    assert_same(&cold, &warm, "warm");
    let none = ok(scan(&source, &cache, &["--no-cache"]), "--no-cache scan");
    assert_same(&cold, &none, "--no-cache");
    let cold_spdx = ok(
        scan(&source, &cache, &["--no-cache", "--format", "spdx-json"]),
        "--no-cache spdx",
    );
    let warm_spdx = ok(
        scan(&source, &cache, &["--format", "spdx-json"]),
        "warm spdx",
    );
    assert_same(&cold_spdx, &warm_spdx, "warm spdx");

    // The proof a warm scan reads no layer: with every layer blob blanked a read would fail its
    // digest check, yet the warm scan succeeds with the same SBOM.
    blank_layers(&layout, "app");
    let blind = scan(&source, &cache, &["--no-cache"]);
    assert!(
        !blind.status.success(),
        "a cold scan must notice the blanked blobs"
    );
    let warm = ok(scan(&source, &cache, &[]), "warm scan without layer blobs");
    assert_same(&cold, &warm, "warm without layer blobs");
}

fn synthetic(dir: &Path) {
    let base = layer(
        &[
            E::Dir("etc"),
            E::File("etc/os-release", OS_RELEASE),
            E::Dir("var/lib/dpkg"),
            E::File(
                "var/lib/dpkg/status",
                &dpkg_status(&[
                    ("base-files", "12.4"),
                    ("bash", "5.2.15-2"),
                    ("zlib1g", "1.2"),
                ]),
            ),
            E::File(
                "usr/lib/node_modules/left-pad/package.json",
                br#"{"name":"left-pad","version":"1.3.0"}"#,
            ),
            E::File(
                "usr/lib/node_modules/lodash/package.json",
                br#"{"name":"lodash","version":"4.17.21"}"#,
            ),
            E::File("opt/app/a.txt", b"a"),
            E::Symlink("bin", "usr/bin"),
        ],
        Compression::Gzip,
    );
    let mid = layer(
        &[
            E::File("usr/lib/node_modules/.wh.left-pad", b""),
            E::File("opt/.wh..wh..opq", b""),
            E::File("opt/b.txt", b"b"),
            E::File(
                "var/lib/dpkg/status",
                &dpkg_status(&[
                    ("base-files", "12.4"),
                    ("bash", "5.2.21-1"),
                    ("curl", "8.5.0"),
                ]),
            ),
        ],
        Compression::Zstd,
    );
    let top = layer(
        &[
            E::File(
                "var/lib/dpkg/status",
                &dpkg_status(&[("base-files", "12.5")]),
            ),
            E::File("usr/lib/node_modules/.wh..wh..opq", b""),
            E::File(
                "usr/lib/node_modules/express/package.json",
                br#"{"name":"express","version":"4.19.2"}"#,
            ),
        ],
        Compression::None,
    );
    oci_layout(dir, "v1", &[base, mid, top]);
}

#[test]
fn cache_synthetic_image_is_identical_warm_and_a_corrupt_entry_is_rescanned() {
    let work = tempdir();
    let layout = work.path().join("oci");
    synthetic(&layout);
    let cache = work.path().join("cache");
    let source = format!("oci:{}:v1", layout.display());

    let cold = ok(scan(&source, &cache, &["--format", "json"]), "cold scan");
    let report: Value = serde_json::from_slice(&cold).unwrap();
    assert!(
        report.to_string().contains("express") && report.to_string().contains("base-files"),
        "the synthetic image's packages are found"
    );
    assert_eq!(entries(&cache).len(), 3, "one entry per layer");
    let warm = ok(scan(&source, &cache, &["--format", "json"]), "warm scan");
    assert_same(&cold, &warm, "warm");
    let none = ok(
        scan(&source, &cache, &["--format", "json", "--no-cache"]),
        "--no-cache",
    );
    assert_same(&cold, &none, "--no-cache");

    // Flip one payload byte in every entry: each is detected, deleted, its layer read again, and the
    // output is still the cold scan's; a warning says so.
    for e in entries(&cache) {
        let mut raw = std::fs::read(&e).unwrap();
        let at = raw.len() - 3;
        raw[at] ^= 0x40;
        std::fs::write(&e, &raw).unwrap();
    }
    let out = stella_env(
        &["scan", &source, "--format", "json"],
        &[("STELLA_CACHE_DIR", cache.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rescanned = ok(out, "scan over corrupt entries");
    assert_same(&cold, &rescanned, "rescanned");
    assert!(stderr.contains("corrupt"), "no warning: {stderr}");
    // Truncated entries too.
    for e in entries(&cache) {
        let raw = std::fs::read(&e).unwrap();
        std::fs::write(&e, &raw[..raw.len() / 2]).unwrap();
    }
    let rescanned = ok(scan(&source, &cache, &["--format", "json"]), "truncated");
    assert_same(&cold, &rescanned, "rescanned after truncation");

    // The rescans stored good entries again: with the layer blobs blanked, the warm scan still
    // gives the same SBOM, and a cold one fails.
    assert_eq!(entries(&cache).len(), 3);
    blank_layers(&layout, "v1");
    let warm = ok(
        scan(&source, &cache, &["--format", "json"]),
        "warm, blobs blanked",
    );
    assert_same(&cold, &warm, "warm, blobs blanked");
    let blind = scan(&source, &cache, &["--format", "json", "--no-cache"]);
    assert!(!blind.status.success());
}

#[test]
fn cache_warm_rescan_after_a_new_top_layer_reads_only_that_layer() {
    let work = tempdir();
    let cache = work.path().join("cache");
    let base = layer(
        &[
            E::Dir("etc"),
            E::File("etc/os-release", OS_RELEASE),
            E::Dir("var/lib/dpkg"),
            E::File(
                "var/lib/dpkg/status",
                &dpkg_status(&[
                    ("base-files", "12.4"),
                    ("bash", "5.2.15-2"),
                    ("zlib1g", "1.2"),
                ]),
            ),
        ],
        Compression::Gzip,
    );
    let top = |pkgs: &[(&str, &str)]| {
        layer(
            &[E::File("var/lib/dpkg/status", &dpkg_status(pkgs))],
            Compression::Gzip,
        )
    };
    // v2 warms the cache with the base layer.
    let v2 = work.path().join("v2");
    oci_layout(
        &v2,
        "v2",
        &[base.clone(), top(&[("base-files", "12.4"), ("jq", "1.6")])],
    );
    ok(scan(&format!("oci:{}:v2", v2.display()), &cache, &[]), "v2");

    // v3: the same base, a new top layer (the build changed only its last step).
    let v3 = work.path().join("v3");
    oci_layout(
        &v3,
        "v3",
        &[base, top(&[("base-files", "12.4"), ("curl", "8.5.0")])],
    );
    let source = format!("oci:{}:v3", v3.display());
    let cold = ok(scan(&source, &cache, &["--no-cache"]), "cold v3");
    assert!(String::from_utf8_lossy(&cold).contains("curl"));
    // Blank the base blob: the warm scan takes it from the cache and reads only the new top layer.
    let base_blob = layer_blobs(&v3, "v3").remove(0);
    let size = std::fs::metadata(&base_blob).unwrap().len();
    std::fs::remove_file(&base_blob).unwrap();
    std::fs::File::create(&base_blob)
        .unwrap()
        .set_len(size)
        .unwrap();
    let warm = ok(scan(&source, &cache, &[]), "warm v3, base blanked");
    assert_same(&cold, &warm, "warm v3");
    // Blank the top too: it was stored by the warm scan, so this works as well.
    blank_layers(&v3, "v3");
    let warm = ok(scan(&source, &cache, &[]), "warm v3, all blanked");
    assert_same(&cold, &warm, "warm v3, all blanked");
}

#[test]
fn cache_dir_that_cannot_be_used_warns_and_scans_uncached() {
    let work = tempdir();
    let layout = work.path().join("oci");
    synthetic(&layout);
    let source = format!("oci:{}:v1", layout.display());
    let file = work.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let bad = file.join("cache");
    let none = ok(
        scan(&source, &bad, &["--no-cache", "--format", "json"]),
        "--no-cache",
    );
    let out = stella_env(&["scan", &source, "--format", "json", "--cache-dir"], &[]);
    assert!(!out.status.success(), "--cache-dir needs a value");
    let out = stella_env(
        &[
            "scan",
            &source,
            "--format",
            "json",
            "--cache-dir",
            bad.to_str().unwrap(),
            "--cache-max-size",
            "64M",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let got = ok(out, "scan with an unusable cache dir");
    assert_same(&none, &got, "unusable cache");
    assert!(stderr.contains("layer cache"), "no warning: {stderr}");
    let out = stella_env(&["scan", &source, "--cache-max-size", "12X"], &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad --cache-max-size is a usage error"
    );
}
