//! Hostile and broken inputs: a clear error naming what was wrong and a documented exit code, or a
//! warning and a correct SBOM, never a panic and never a write outside the scan's own temp area.

use crate::common::image::{self, Compression, E};
use crate::common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn missing_source_is_exit_3_naming_it() {
    let out = stella(&["scan", "/nonexistent/stella-test/image"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("/nonexistent/stella-test/image"));
    let out = stella(&["scan", "oci:/nonexistent/layout:tag"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn synthetic_layers_whiteouts_and_attribution() {
    let dir = tempdir();
    let layout = dir.path().join("img");
    let base = image::layer(
        &[
            E::Dir("etc/"),
            E::File("etc/os-release", image::OS_RELEASE),
            E::File(
                "var/lib/dpkg/status",
                &image::dpkg_status(&[("base-files", "12.4"), ("old", "1.0")]),
            ),
        ],
        Compression::Gzip,
    );
    // Upgrades `old`? No: removes it and adds `new`; base-files keeps its version, so it stays in layer 0.
    let upper = image::layer(
        &[E::File(
            "var/lib/dpkg/status",
            &image::dpkg_status(&[("base-files", "12.4"), ("new", "2.0")]),
        )],
        Compression::Zstd,
    );
    // Deletes the whole dpkg database of the lower layers, then writes a new one in the same layer.
    let last = image::layer(
        &[
            E::File("var/lib/.wh.dpkg", b""),
            E::File(
                "var/lib/dpkg/status",
                &image::dpkg_status(&[("base-files", "12.4"), ("new", "2.1")]),
            ),
        ],
        Compression::None,
    );
    image::oci_layout(&layout, "t", &[base, upper, last]);
    let report = scan_json(&format!("oci:{}:t", layout.display()));
    let got: Vec<(String, String, u64)> = report["inventory"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                p["layer"]["index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("base-files".into(), "12.4".into(), 0),
            ("new".into(), "2.1".into(), 2)
        ]
    );
    assert_eq!(report["inventory"]["distro"]["id"], "debian");
    // Time from the image config's `created`.
    let cdx = stella(&["scan", &format!("oci:{}:t", layout.display())]);
    assert!(String::from_utf8_lossy(&cdx.stdout).contains("2024-05-01T12:00:00Z"));
}

#[test]
fn corrupt_layer_blob_is_a_digest_mismatch() {
    let dir = tempdir();
    let layout = dir.path().join("img");
    let l = image::layer(
        &[E::File("etc/os-release", image::OS_RELEASE)],
        Compression::Gzip,
    );
    let blob_hex = image::sha256_hex(&l.0);
    image::oci_layout(&layout, "t", &[l]);
    let blob = layout.join("blobs/sha256").join(&blob_hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let out = stella(&["scan", &format!("oci:{}:t", layout.display())]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&blob_hex[..12]) || stderr(&out).contains("mismatch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn truncated_gzip_layer_names_the_layer() {
    let dir = tempdir();
    let file = dir.path().join("layer.tar.gz");
    let (gz, _) = image::layer(
        &[
            E::File("var/lib/dpkg/status", &image::dpkg_status(&[("a", "1")])),
            E::File("big", &[7u8; 100_000]),
        ],
        Compression::Gzip,
    );
    std::fs::write(&file, &gz[..gz.len() / 2]).unwrap();
    let out = stella(&["scan", &format!("layer:{}", file.display())]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("layer 0"), "{}", stderr(&out));
}

#[test]
fn every_layer_compression_is_detected_by_magic() {
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let dir = tempdir();
        let file = dir.path().join("layer");
        let (blob, _) = image::layer(
            &[
                E::File("etc/os-release", image::OS_RELEASE),
                E::File(
                    "var/lib/dpkg/status",
                    &image::dpkg_status(&[("a", "1"), ("b", "2")]),
                ),
            ],
            c,
        );
        std::fs::write(&file, blob).unwrap();
        let report = scan_json(&format!("layer:{}", file.display()));
        assert_eq!(report["inventory"]["packages"].as_array().unwrap().len(), 2);
        assert_eq!(report["subject"]["kind"], "layer");
    }
}

/// Names with `..`, absolute names and symlinks pointing out of the root: the scan reads only inside
/// the image and warns about the bad names; nothing is written anywhere.
#[test]
fn path_traversal_and_symlink_escapes_stay_inside_the_image() {
    let dir = tempdir();
    let file = dir.path().join("layer.tar");
    let (blob, _) = image::layer(
        &[
            E::RawName(b"../../../../tmp/stella-escape", b"x"),
            E::RawName(b"/etc/debian_version", b"12.99\n"),
            E::Symlink("etc/os-release", "../../../../../../etc/os-release-outside"),
            E::File("etc/os-release-outside", image::OS_RELEASE),
            E::Symlink("var/lib/dpkg/info/loop.list", "loop2.list"),
            E::Symlink(
                "var/lib/dpkg/info/loop2.list",
                "/var/lib/dpkg/info/loop.list",
            ),
            E::File(
                "var/lib/dpkg/status",
                &image::dpkg_status(&[("inside", "1"), ("loop", "2")]),
            ),
        ],
        Compression::None,
    );
    std::fs::write(&file, blob).unwrap();
    let out = stella(&[
        "scan",
        &format!("layer:{}", file.display()),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stella-escape"),
        "bad name not reported: {}",
        stderr(&out)
    );
    assert!(!std::path::Path::new("/tmp/stella-escape").exists());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The escaping symlinks resolve inside the image root (chroot semantics).
    assert_eq!(report["inventory"]["distro"]["id"], "debian");
    assert_eq!(report["inventory"]["distro"]["version"], "12.99");
    assert_eq!(report["inventory"]["packages"][0]["name"], "inside");
    // A symlink loop is a warning naming the file, not a hang or a crash.
    assert!(stderr(&out).contains("loop.list"), "{}", stderr(&out));
}

#[test]
fn garbage_and_empty_sources_fail_cleanly() {
    let dir = tempdir();
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"\x1f\x8b\x08\x00garbage that is not gzip at all").unwrap();
    let out = stella(&["scan", &format!("layer:{}", garbage.display())]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let out = stella(&["scan", &format!("docker-archive:{}", empty.display())]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn output_file_is_written_atomically_or_not_at_all() {
    let dir = tempdir();
    let out_path = dir.path().join("no-such-dir/sbom.json");
    let src = dir.path().join("rootfs");
    std::fs::create_dir_all(&src).unwrap();
    let out = stella(&[
        "scan",
        src.to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(!out_path.exists());
}

/// A gzip bomb and a zstd bomb (256 MiB of zeros each, well under 1 MiB compressed) stop at the layer
/// size limit with an error naming the limit and the layer, in bounded memory.
#[test]
fn decompression_bombs_stop_at_the_layer_limit() {
    let dir = tempdir();
    for c in [Compression::Gzip, Compression::Zstd] {
        let file = dir.path().join("bomb");
        let mut w: Box<dyn std::io::Write> = match c {
            Compression::Gzip => Box::new(flate2::write::GzEncoder::new(
                std::fs::File::create(&file).unwrap(),
                flate2::Compression::best(),
            )),
            _ => Box::new(
                zstd::Encoder::new(std::fs::File::create(&file).unwrap(), 9)
                    .unwrap()
                    .auto_finish(),
            ),
        };
        // A tar header for one 256 MiB file, then its zeros.
        let mut h = tar::Header::new_ustar();
        h.set_path("zeros").unwrap();
        h.set_size(256 << 20);
        h.set_mode(0o644);
        h.set_cksum();
        w.write_all(h.as_bytes()).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            w.write_all(&zeros).unwrap();
        }
        drop(w);
        assert!(std::fs::metadata(&file).unwrap().len() < 1 << 20);
        let out = stella(&[
            "scan",
            &format!("layer:{}", file.display()),
            "--max-layer-size",
            "32M",
        ]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("layer 0") && err.contains("max_layer_bytes"),
            "{err}"
        );
    }
}

#[test]
fn output_file_is_world_readable_like_any_build_output() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let out_path = dir.path().join("sbom.json");
    let src = dir.path().join("rootfs");
    std::fs::create_dir_all(&src).unwrap();
    let out = stella(&[
        "scan",
        src.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&out_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
}

/// A registry that is not there: exit 4, quickly, and the message says why (the OS error), not only
/// that a request failed.
#[test]
fn unreachable_registry_is_exit_4_with_the_cause() {
    // Port 1 on loopback: nothing listens there.
    let out = stella(&["scan", "--insecure", "127.0.0.1:1/team/app:1"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );
}
