//! `stella image build generator|frontend`: the images assembled without a container engine, read by
//! tools we did not write — skopeo (`inspect`, `inspect --config`, from the layout and from a real
//! registry), umoci (`unpack` into a runtime bundle) and goblin (the binary is static) — and the
//! binary in the image runs.
//!
//! The generator image is built once per test run by the real command, which self-builds the static
//! binary (`cargo build --release` into `target/static`, or `$CARGO_TARGET_DIR/static`): slow the
//! first time, a no-op for cargo afterwards. The tests share that build through a `OnceLock`.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::support::{have, registry_tools, Registry};

const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// `stella ARGS…` run from the repository root (where the self-build finds the workspace), with no
/// SOURCE_DATE_EPOCH, an empty docker config and no proxy, then `env`.
fn stella_image(args: &[&str], env: &[(&str, &str)]) -> Output {
    let config = scratch().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), "{}").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(args)
        .current_dir(repo_root())
        .env_remove("SOURCE_DATE_EPOCH")
        .env("DOCKER_CONFIG", &config);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run stella")
}

/// `stella image build ARGS…` (see [`stella_image`]).
fn image_build(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["image", "build"];
    all.extend_from_slice(args);
    stella_image(&all, env)
}

/// Asserts that a command failed with `code`, said `needle` on stderr and printed nothing on stdout.
fn refused(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(out.stdout.is_empty());
}

/// The manifest digest `stella image build` printed: exactly one `sha256:` line on stdout.
fn printed_digest(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: stdout must be one line: {stdout:?}"
    );
    assert!(
        lines[0].starts_with("sha256:") && lines[0].len() == 71,
        "{what}: {stdout:?}"
    );
    lines[0].to_owned()
}

/// A scratch directory for this test process under cargo's per-target tmp dir; stale ones of
/// earlier runs (whose process is gone) are removed. It lives as long as the shared build.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        if let Ok(entries) = std::fs::read_dir(base) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let stale = name
                    .strip_prefix("image-e2e-")
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                if stale {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("image-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// The generator image, built once by the real command (self-build of the static binary).
struct Built {
    layout: PathBuf,
    digest: String,
    /// The static binary the self-build made (for the `--binary` cases).
    binary: PathBuf,
}

fn generator() -> &'static Built {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let layout = scratch().join("generator-layout");
        let start = Instant::now();
        let out = image_build(
            &[
                "generator",
                "--oci-layout",
                &format!("{}:gen", layout.display()),
            ],
            &[],
        );
        let took = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(format!(
                "stella image build generator failed ({:?}):\n{stderr}",
                out.status.code()
            ));
        }
        eprintln!(
            "stella image build generator (self-build) took {:.1} s",
            took.as_secs_f64()
        );
        let digest = printed_digest(&out, "stella image build generator");
        // Where the command said it built: "building stella-generator (...) in DIR with cargo".
        let target = stderr
            .lines()
            .find_map(|l| {
                l.split_once(" in ")?
                    .1
                    .rsplit_once(" with ")
                    .map(|(d, _)| d)
            })
            .map(PathBuf::from)
            .ok_or_else(|| format!("no build directory in the output:\n{stderr}"))?;
        let binary = target.join("x86_64-unknown-linux-gnu/release/stella-generator");
        Ok(Built {
            layout,
            digest,
            binary,
        })
    });
    match built {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

fn skopeo(args: &[&str]) -> Value {
    let mut cmd = Command::new("skopeo");
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    let out = cmd.args(args).output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

const LABELS: [&str; 4] = [
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
];

#[test]
fn generator_image_is_read_by_skopeo_and_umoci_and_its_binary_runs() {
    if !have("skopeo") {
        return;
    }
    let built = generator();
    let image = format!("oci:{}:gen", built.layout.display());

    let inspect = skopeo(&["inspect", &image]);
    assert_eq!(inspect["Digest"], built.digest.as_str());
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Created"], "1970-01-01T00:00:00Z");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1);
    let labels = &inspect["Labels"];
    for l in LABELS {
        assert!(
            labels[l].as_str().is_some_and(|v| !v.is_empty()),
            "label {l} missing: {labels}"
        );
    }
    assert_eq!(labels["org.opencontainers.image.title"], "stella-generator");
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert!(labels.get("moby.buildkit.frontend.caps").is_none());

    let config = skopeo(&["inspect", "--config", &image]);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/stella-generator"])
    );
    assert!(config["config"].get("Cmd").is_none(), "Cmd must be unset");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
    assert_eq!(config["history"].as_array().unwrap().len(), 1);

    if !have("umoci") {
        return;
    }
    if !is_root() {
        // umoci unpack keeps owners, which needs root; tests run as root here and in CI.
        require(None::<()>, "root, for umoci unpack");
        return;
    }
    let bundle = scratch().join("generator-bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:gen", built.layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rootfs = bundle.join("rootfs");
    let entries: Vec<String> = std::fs::read_dir(&rootfs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        ["stella-generator"],
        "the rootfs holds only the binary"
    );
    let binary = rootfs.join("stella-generator");
    let meta = std::fs::metadata(&binary).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));

    // Static: no program interpreter, no shared libraries (goblin, not our own ELF reader).
    let bytes = std::fs::read(&binary).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    assert_eq!(elf.interpreter, None, "PT_INTERP present");
    assert!(elf.libraries.is_empty(), "NEEDED: {:?}", elf.libraries);
    assert_eq!(elf.header.e_machine, goblin::elf::header::EM_X86_64);

    // The extracted binary runs: it names itself, and speaks the generator protocol on a tiny rootfs.
    let out = Command::new(&binary).arg("--version").output().unwrap();
    assert!(
        out.status.success(),
        "the extracted binary failed to run: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("stella-generator {}\n", env!("CARGO_PKG_VERSION"))
    );
    let rootfs = scratch().join("generator-rootfs");
    let dest = scratch().join("generator-out");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(
        rootfs.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    let out = Command::new(&binary)
        .env_clear()
        .env("BUILDKIT_SCAN_SOURCE", &rootfs)
        .env("BUILDKIT_SCAN_DESTINATION", &dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let statement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("sbom.spdx.json")).unwrap()).unwrap();
    assert_eq!(statement["predicateType"], "https://spdx.dev/Document");
    assert_eq!(statement["predicate"]["spdxVersion"], "SPDX-2.3");
}

#[test]
fn the_same_binary_gives_the_same_manifest_digest() {
    let built = generator();
    let index = || std::fs::read(built.layout.join("index.json")).unwrap();
    let before = index();

    // Built again by the command (cargo has nothing to do), into a new layout.
    let again = scratch().join("generator-again");
    let out = image_build(
        &[
            "generator",
            "--oci-layout",
            &format!("{}:gen", again.display()),
        ],
        &[],
    );
    assert_eq!(printed_digest(&out, "second build"), built.digest);
    assert_eq!(
        std::fs::read(again.join("index.json")).unwrap(),
        before,
        "same image, same tag: same index.json"
    );

    // The prebuilt binary through --binary: the same image, byte for byte.
    let binary = built.binary.display().to_string();
    let out = image_build(
        &[
            "generator",
            "--binary",
            &binary,
            "--oci-layout",
            &format!("{}:gen", built.layout.display()),
        ],
        &[],
    );
    assert_eq!(printed_digest(&out, "--binary build"), built.digest);
    assert_eq!(index(), before, "rewriting the same tag changes nothing");

    // SOURCE_DATE_EPOCH sets `created`; a second tag in the same layout keeps the first.
    let out = image_build(
        &[
            "generator",
            "--binary",
            &binary,
            "--oci-layout",
            &format!("{}:dated", again.display()),
        ],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    let dated = printed_digest(&out, "dated build");
    assert_ne!(dated, built.digest);
    if have("skopeo") {
        let inspect = skopeo(&["inspect", &format!("oci:{}:dated", again.display())]);
        assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z");
        assert_eq!(inspect["Digest"], dated.as_str());
        let first = skopeo(&["inspect", &format!("oci:{}:gen", again.display())]);
        assert_eq!(first["Digest"], built.digest.as_str());
    }
}

#[test]
fn frontend_image_declares_buildkit_frontend_caps() {
    if !have("skopeo") {
        return;
    }
    let layout = scratch().join("frontend-layout");
    let out = image_build(
        &[
            "frontend",
            "--oci-layout",
            &format!("{}:fe", layout.display()),
        ],
        &[],
    );
    let digest = printed_digest(&out, "stella image build frontend");
    let image = format!("oci:{}:fe", layout.display());
    assert_eq!(skopeo(&["inspect", &image])["Digest"], digest.as_str());
    let config = skopeo(&["inspect", "--config", &image]);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/stella-frontend"])
    );
    assert!(config["config"].get("Cmd").is_none());
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["moby.buildkit.frontend.network.none"], "true");
    assert_eq!(
        labels["moby.buildkit.frontend.caps"],
        "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
    );
    assert_eq!(labels["org.opencontainers.image.title"], "stella-frontend");
    for l in LABELS {
        assert!(labels[l].as_str().is_some_and(|v| !v.is_empty()), "{l}");
    }
}

#[test]
fn push_to_a_real_registry_is_seen_by_skopeo() {
    if !registry_tools() {
        return;
    }
    let built = generator();
    let reg = Registry::start("");
    let reference = format!("{}/stella/generator:test", reg.host());
    let layout = scratch().join("pushed-layout");
    let start = Instant::now();
    let out = image_build(
        &[
            "generator",
            "--insecure",
            "--push",
            &reference,
            "--oci-layout",
            &layout.display().to_string(),
        ],
        &[],
    );
    assert!(start.elapsed() < Duration::from_secs(300));
    let digest = printed_digest(&out, "stella image build --push");
    assert_eq!(digest, built.digest);

    let remote = format!("docker://{reference}");
    let common = ["--tls-verify=false", "--no-creds", "--retry-times", "0"];
    let mut args = vec!["inspect"];
    args.extend(common);
    args.push(&remote);
    let inspect = skopeo(&args);
    assert_eq!(inspect["Digest"], digest.as_str());
    let mut args = vec!["inspect", "--config"];
    args.extend(common);
    args.push(&remote);
    let config = skopeo(&args);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/stella-generator"])
    );
    // The default tag of a layout without :TAG is `latest`.
    let local = skopeo(&["inspect", &format!("oci:{}:latest", layout.display())]);
    assert_eq!(local["Digest"], digest.as_str());

    // Plain HTTP is refused without --insecure (the loopback registry speaks only HTTP).
    let out = image_build(&["generator", "--push", &reference], &[]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = tempdir();
    let layout = dir.path().join("never");
    let target = format!("{}:x", layout.display());
    let out_args = ["--oci-layout", target.as_str()];
    let with_binary = |binary: &str, extra: &[&str]| {
        let mut args = vec!["generator", "--binary", binary];
        args.extend_from_slice(extra);
        args.extend_from_slice(&out_args);
        image_build(&args, &[])
    };

    // A dynamic binary: exit 3 (the binary is unusable), with the reason, and no layout.
    let out = with_binary("/bin/true", &[]);
    refused(&out, 3, "dynamically linked");
    refused(&out, 3, "/bin/true");
    assert!(!layout.exists(), "nothing may be written");

    // Not an ELF at all, and a missing file: exit 3.
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let script = script.display().to_string();
    refused(&with_binary(&script, &[]), 3, "not an ELF");
    refused(&with_binary("/nonexistent/bin", &[]), 3, "/nonexistent/bin");

    // Unknown image, no output, a bad platform for the self-build, a bad tag or reference: exit 2.
    let cases: [(&[&str], &str); 6] = [
        (&["nope", "--oci-layout", &target], "invalid value 'nope'"),
        (&["generator"], "required"),
        (&["generator", "--binary", "/bin/true"], "required"),
        (
            &[
                "generator",
                "--platform",
                "linux/arm64",
                "--oci-layout",
                &target,
            ],
            "linux/amd64 only",
        ),
        (&["generator", "--oci-layout", "dir:-bad"], "tag"),
        (
            &["generator", "--push", "oci:./x"],
            "not a registry reference",
        ),
    ];
    for (args, needle) in cases {
        refused(&image_build(args, &[]), 2, needle);
    }
    assert!(!layout.exists());

    // A directory with other things in it and no oci-layout: refused (exit 5), left alone.
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let binary = generator().binary.display().to_string();
    let busy_arg = busy.display().to_string();
    let out = image_build(
        &["generator", "--binary", &binary, "--oci-layout", &busy_arg],
        &[],
    );
    refused(&out, 5, "not empty");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // The right binary for the wrong platform: exit 3.
    refused(
        &with_binary(&binary, &["--platform", "linux/arm64"]),
        3,
        "not for linux/arm64",
    );
    assert!(!layout.exists());
}
