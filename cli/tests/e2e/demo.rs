//! `stella demo`: the whole loop in one process — copy, scan, in-process stack, SBOM referrer,
//! attestation, online and offline verification, and a tampered copy refused — checked from the
//! outside: the referrers in the copied layout, the files it leaves, and `stella verify` run again
//! on them after the demo (and its stack) are gone.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::image::{self, Compression, E};
use crate::common::{corpus, stella, tempdir};

const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `stella demo ARGS…`, in an environment that carries a CI identity and a PoE the embedded stack
/// would refuse: the demo uses the stack's dev identity (`attest --dev-identity`) regardless.
fn demo(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.arg("demo").args(args);
    for var in [
        "SOURCE_DATE_EPOCH",
        "STELLA_KEY",
        "STELLA_SCANNER_IMAGE",
        "STELLA_SERVER",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("STELLA_ID_TOKEN", "not-a-token-this-stack-trusts")
        .env("STELLA_POE", "/nonexistent/poe.jwt")
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:9/token")
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "x");
    cmd.output().expect("run stella demo")
}

/// The referrers listed in a layout's index.json: (artifactType, subject digest).
fn referrers(layout: &Path) -> Vec<(String, String)> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let kind = m["artifactType"].as_str()?;
            let blob = layout
                .join("blobs/sha256")
                .join(m["digest"].as_str()?.trim_start_matches("sha256:"));
            let manifest: Value = serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
            Some((
                kind.to_owned(),
                manifest["subject"]["digest"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// The tagged image's manifest digest in a layout.
fn tagged(layout: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {index:#}"))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// What every successful demo leaves in OUT, checked again with the demo and its stack gone: the
/// SBOM and the bundle attached to the copied image, the bundle verifying online (trusted root)
/// and offline (trust bundle), the tampered copy refused. The image's manifest digest.
fn check_outputs(out: &Path, o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for n in 1..=9 {
        assert!(stdout.contains(&format!("[{n}/9] ")), "step {n}: {stdout}");
    }
    assert!(stdout.contains("all 9 steps passed"), "{stdout}");
    assert!(
        stdout.contains("refused, as it must be (exit 7)"),
        "{stdout}"
    );
    // The demo shows the commands it runs.
    assert!(stdout.contains("$ stella attest oci:"), "{stdout}");
    assert!(stdout.contains("$ stella verify oci:"), "{stdout}");

    for f in [
        "sbom.cdx.json",
        "attestation.sigstore.json",
        "trusted_root.json",
        "trust-bundle.tar.zst",
        "image/index.json",
        "tampered/index.json",
        "data/client/dpop-key.pem",
    ] {
        assert!(out.join(f).is_file(), "{f} missing in {}", out.display());
    }
    let layout = out.join("image");
    let manifest = tagged(&layout, "demo");
    let mut found = referrers(&layout);
    found.sort();
    assert_eq!(
        found,
        vec![
            (CYCLONEDX.to_owned(), manifest.clone()),
            (BUNDLE.to_owned(), manifest.clone()),
        ],
        "the copied image's referrers"
    );
    // The bundle attached is the one written.
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(out.join("attestation.sigstore.json")).unwrap())
            .unwrap();
    assert!(bundle["dsseEnvelope"]["payload"].is_string(), "{bundle:#}");

    let image = format!("oci:{}:demo", layout.display());
    let tampered = format!("oci:{}:demo", out.join("tampered").display());
    let root = out.join("trusted_root.json");
    let trust_bundle = out.join("trust-bundle.tar.zst");
    let (root, trust_bundle) = (root.to_str().unwrap(), trust_bundle.to_str().unwrap());
    for args in [
        vec!["verify", &image, "--trusted-root", root],
        vec![
            "verify",
            &image,
            "--offline",
            "--trust-bundle",
            trust_bundle,
        ],
    ] {
        let o = stella(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    }
    // The tampered copy: the same image, one bundle whose statement has one byte changed.
    assert_eq!(tagged(&out.join("tampered"), "demo"), manifest);
    assert_eq!(
        referrers(&out.join("tampered")),
        vec![(BUNDLE.to_owned(), manifest.clone())]
    );
    for args in [
        vec!["verify", &tampered, "--trusted-root", root],
        vec![
            "verify",
            &tampered,
            "--offline",
            "--trust-bundle",
            trust_bundle,
        ],
    ] {
        let o = stella(&args);
        assert_eq!(o.status.code(), Some(7), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("the log entry does not match the bundle"),
            "{args:?}: {}",
            text(&o)
        );
    }
    manifest
}

/// A row of the per-layer table: `INDEX  sha256:<12 hex>  COUNT`.
fn layer_row(stdout: &str, index: usize, diff_id_hex: &str, count: usize) -> bool {
    let short = format!("sha256:{}", &diff_id_hex[..12]);
    stdout.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f == [
            index.to_string().as_str(),
            short.as_str(),
            &count.to_string(),
        ]
    })
}

#[test]
fn demo_runs_the_whole_loop_on_a_synthetic_image() {
    let work = tempdir();
    let src = work.path().join("src");
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
    let app = image::layer(
        &[E::File(
            "var/lib/dpkg/status",
            &image::dpkg_status(&[
                ("base-files", "12.4"),
                ("libc6", "2.36-9"),
                ("hello", "2.10-3"),
            ]),
        )],
        Compression::Gzip,
    );
    let empty = image::layer(&[E::Dir("srv")], Compression::Gzip);
    let diff_ids: Vec<String> = [&base, &app, &empty]
        .iter()
        .map(|(_, raw)| image::sha256_hex(raw))
        .collect();
    image::oci_layout(&src, "app", &[base, app, empty]);
    let src_index = std::fs::read(src.join("index.json")).unwrap();

    let out = work.path().join("out");
    let image_ref = format!("oci:{}:app", src.display());
    let o = demo(&["--image", &image_ref, "--out", out.to_str().unwrap()]);
    check_outputs(&out, &o);
    // The per-layer table: each layer's diffID and the packages it introduced (the OS component
    // comes from no layer).
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(layer_row(&stdout, 0, &diff_ids[0], 2), "{stdout}");
    assert!(layer_row(&stdout, 1, &diff_ids[1], 1), "{stdout}");
    assert!(layer_row(&stdout, 2, &diff_ids[2], 0), "{stdout}");
    // The source is never modified.
    assert_eq!(std::fs::read(src.join("index.json")).unwrap(), src_index);
    assert!(referrers(&src).is_empty());

    // A second run on the same OUT starts afresh (a new stack, a new log) and passes again.
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let o = demo(&["--image", &image_ref, "--out", out.to_str().unwrap()]);
    check_outputs(&out, &o);
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"mine");
}

#[test]
fn demo_names_the_failing_step() {
    let work = tempdir();
    let out = work.path().join("out");
    let out_s = out.to_str().unwrap();

    // No such image: step 1 fails with the copy's own reason, and no panic.
    let missing = format!("oci:{}:app", work.path().join("nothing").display());
    let o = demo(&["--image", &missing, "--out", out_s]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("stella demo: step 1/9 (copy the image into a fresh OCI layout) failed"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // Not an image reference at all.
    let o = demo(&["--image", "oci:", "--out", out_s]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("step 1/9"), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));

    // The default image when the corpus is not built: how to build it, or what to pass instead.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    let o = cmd
        .args(["demo", "--out", out_s])
        .env("CORPUS_DIR", work.path().join("no-corpus"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("scripts/demo.sh"), "{}", text(&o));
    assert!(text(&o).contains("--image"), "{}", text(&o));

    // The image is the demo's own output, which the run would replace first: refused, kept.
    let own = out.join("image");
    image::oci_layout(
        &own,
        "app",
        &[image::layer(&[E::Dir("srv")], Compression::Gzip)],
    );
    let own_ref = format!("oci:{}:app", own.display());
    let o = demo(&["--image", &own_ref, "--out", out_s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is the demo's own output"),
        "{}",
        text(&o)
    );
    assert!(own.join("index.json").is_file());

    // OUT is a file: nothing can be written there.
    let file = work.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let o = demo(&["--image", &missing, "--out", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("step 1/9"), "{}", text(&o));
}

#[test]
fn demo_on_the_corpus_app_image() {
    let Some(corpus) = corpus() else { return };
    let layout = corpus.join("oci");
    let before = std::fs::read(layout.join("index.json")).unwrap();
    let work = tempdir();
    let out = work.path().join("out");
    let o = demo(&[
        "--image",
        &format!("oci:{}:app", layout.display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    let manifest = check_outputs(&out, &o);
    assert_eq!(
        manifest,
        tagged(&layout, "app"),
        "the copy keeps the digest"
    );
    // One table row per layer of the image, and components in the layers that install packages.
    let config: Value = {
        let m: Value = serde_json::from_slice(
            &std::fs::read(
                layout
                    .join("blobs/sha256")
                    .join(manifest.trim_start_matches("sha256:")),
            )
            .unwrap(),
        )
        .unwrap();
        let c = m["config"]["digest"].as_str().unwrap();
        serde_json::from_slice(
            &std::fs::read(
                layout
                    .join("blobs/sha256")
                    .join(c.trim_start_matches("sha256:")),
            )
            .unwrap(),
        )
        .unwrap()
    };
    let stdout = String::from_utf8_lossy(&o.stdout);
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let mut introduced = 0;
    for (i, d) in diff_ids.iter().enumerate() {
        let short = &d.as_str().unwrap()[..19];
        let row = stdout
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .take(2)
                    .eq([i.to_string().as_str(), short])
            })
            .unwrap_or_else(|| panic!("no row for layer {i} {short}: {stdout}"));
        introduced += row
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<usize>()
            .unwrap();
    }
    assert!(introduced > 100, "{stdout}");
    // The corpus is never modified.
    assert_eq!(std::fs::read(layout.join("index.json")).unwrap(), before);
}
