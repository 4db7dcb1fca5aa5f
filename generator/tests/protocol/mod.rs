//! The BuildKit SBOM generator protocol, run the way BuildKit runs it.
//!
//! BuildKit runs the generator in a container: the final stage's rootfs read-only at
//! `/run/src/core/sbom`, each extra target read-only at `/run/src/extras/sbom-<name>`, an empty
//! writable `/run/out/`, a tmpfs `/tmp`, maybe no network, and an environment of exactly
//! `BUILDKIT_SCAN_SOURCE=/run/src/core/sbom`, `BUILDKIT_SCAN_DESTINATION=/run/out/`,
//! `BUILDKIT_SCAN_SOURCE_EXTRAS=/run/src/extras` (only with extras; BuildKit's `path.Join` drops the
//! trailing slash) and one `BUILDKIT_SCAN_<key>=<value>` per extra `--attest` parameter, key case
//! kept (frontend/attestations/sbom/sbom.go). We lay out exactly that with `unshare`: a private
//! mount namespace where `/run` and `/tmp` are fresh tmpfs, the corpus rootfs are read-only bind
//! mounts at BuildKit's paths, and a new network namespace (no network at all), then run the real
//! binary. Every statement is checked by tools we did not write (`tests/validate/validate_statement.py`:
//! the in-toto attestation library and `pyspdxtools`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_stella-generator");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// A requirement of the test: skipped locally when missing, a failure under CI.
fn require<T>(v: Option<T>, what: &str) -> Option<T> {
    if v.is_none() {
        assert!(
            !ci(),
            "{what} is required under CI (tests/run.sh provides it)"
        );
        eprintln!("skipped: {what} missing (tests/run.sh provides it)");
    }
    v
}

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/corpus"));
    let ok =
        dir.join("rootfs/app/.done").exists() && dir.join("rootfs/debian-minbase/.done").exists();
    require(ok.then_some(dir), "the corpus rootfs (CORPUS_DIR)")
}

fn python() -> Option<PathBuf> {
    let py = std::env::var_os("STELLA_PYTHON").map(PathBuf::from);
    let ok = py.filter(|p| {
        Command::new(p)
            .args(["-c", "import in_toto_attestation, spdx_tools"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    require(ok, "STELLA_PYTHON with in-toto-attestation and spdx-tools")
}

/// Whether this machine can make mount and network namespaces (root, or CAP_SYS_ADMIN).
fn namespaces() -> Option<()> {
    let ok = Command::new("unshare")
        .args(["--mount", "--net", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    require(ok.then_some(()), "unshare --mount --net (run as root)")
}

/// What BuildKit mounts: the core rootfs, the extras (`None`: no extras directory at all), and
/// the `BUILDKIT_SCAN_SOURCE_EXTRAS` value (`None`: unset).
struct Layout<'a> {
    core: Option<&'a Path>,
    extras: Option<Vec<(&'a str, &'a Path)>>,
    extras_env: Option<&'a str>,
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> Layout<'a> {
    fn core(core: &'a Path) -> Self {
        Layout {
            core: Some(core),
            extras: None,
            extras_env: None,
            params: Vec::new(),
        }
    }
}

/// Runs the generator as BuildKit does; returns its output and the files it wrote.
fn run(layout: &Layout<'_>, out: &Path) -> Output {
    let q = |p: &Path| format!("'{}'", p.display());
    let mut script =
        String::from("set -e\nmount -t tmpfs stella-run /run\nmkdir -p /run/src/core /run/out\n");
    if let Some(core) = layout.core {
        script += &format!(
            "mkdir /run/src/core/sbom\nmount --bind {} /run/src/core/sbom\n\
             mount -o remount,bind,ro /run/src/core/sbom\n",
            q(core)
        );
    }
    if let Some(extras) = &layout.extras {
        script += "mkdir -p /run/src/extras\n";
        for (name, root) in extras {
            script += &format!(
                "mkdir /run/src/extras/sbom-{name}\nmount --bind {} /run/src/extras/sbom-{name}\n\
                 mount -o remount,bind,ro /run/src/extras/sbom-{name}\n",
                q(root)
            );
        }
    }
    script += &format!("mount --bind {} /run/out\n", q(out));
    // Last, since the output directory may live under the host's /tmp.
    script += "mount -t tmpfs stella-tmp /tmp\n";
    let mut env = vec![
        "BUILDKIT_SCAN_DESTINATION=/run/out/".to_owned(),
        "BUILDKIT_SCAN_SOURCE=/run/src/core/sbom".to_owned(),
    ];
    if let Some(v) = layout.extras_env {
        env.push(format!("BUILDKIT_SCAN_SOURCE_EXTRAS={v}"));
    }
    for (k, v) in &layout.params {
        env.push(format!("BUILDKIT_SCAN_{k}={v}"));
    }
    let env: Vec<String> = env.into_iter().map(|e| format!("'{e}'")).collect();
    script += &format!("exec env -i {} '{BIN}'\n", env.join(" "));
    Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "bash", "-c"])
        .arg(&script)
        .output()
        .expect("run unshare")
}

fn written(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn validate(python: &Path, files: &[PathBuf]) {
    let o = Command::new(python)
        .arg(repo().join("tests/validate/validate_statement.py"))
        .args(files)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "validate_statement.py: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&o.stdout));
}

fn predicate(path: &Path) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["predicate"].clone()
}

fn package_names(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn core_and_extras_full_mode_unknown_keys_validate() {
    let (Some(corpus), Some(py), Some(())) = (corpus(), python(), namespaces()) else {
        return;
    };
    let app = corpus.join("rootfs/app");
    let base = corpus.join("rootfs/debian-minbase");
    let out = tempfile::tempdir().unwrap();
    let layout = Layout {
        extras: Some(vec![("build", base.as_path())]),
        extras_env: Some("/run/src/extras"),
        params: vec![("mode", "full"), ("frobnicate", "1"), ("FUTURE_KEY", "x=y")],
        ..Layout::core(&app)
    };
    let o = run(&layout, out.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        written(out.path()),
        ["sbom-build.spdx.json", "sbom.spdx.json"],
        "{}",
        stderr(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains("BUILDKIT_SCAN_frobnicate: unknown parameter, ignored"),
        "{err}"
    );
    assert!(
        err.contains("BUILDKIT_SCAN_FUTURE_KEY: unknown parameter, ignored"),
        "{err}"
    );

    let core = out.path().join("sbom.spdx.json");
    let extra = out.path().join("sbom-build.spdx.json");
    validate(&py, &[core.clone(), extra.clone()]);

    // The core is the app rootfs (Python, npm, Java on Debian), the extra the minimal base: full
    // mode lists the files the packages own, with digests matching the rootfs.
    let doc = predicate(&core);
    let names = package_names(&doc);
    assert!(names.len() > 300, "{}", names.len());
    for want in ["python3.11", "dpkg", "requests", "express"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from the core SBOM"
        );
    }
    let files = doc["files"].as_array().unwrap();
    assert!(files.len() > 5000, "{}", files.len());
    let dpkg = files
        .iter()
        .find(|f| f["fileName"] == "./usr/bin/dpkg")
        .expect("/usr/bin/dpkg listed in full mode");
    let on_disk = std::fs::read(app.join("usr/bin/dpkg")).unwrap();
    use sha2::Digest as _;
    let sha256 = sha2::Sha256::digest(&on_disk)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    assert!(
        dpkg["checksums"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["algorithm"] == "SHA256" && c["checksumValue"] == sha256.as_str()),
        "{dpkg}"
    );
    let base_doc = predicate(&extra);
    let base_names = package_names(&base_doc);
    assert!(base_names.len() > 80 && base_names.len() < names.len());
    assert!(!base_names.iter().any(|n| n == "requests"));
}

#[test]
fn extras_unset_empty_or_missing_mean_no_extras_and_no_error() {
    let (Some(corpus), Some(py), Some(())) = (corpus(), python(), namespaces()) else {
        return;
    };
    let base = corpus.join("rootfs/debian-minbase");
    let mut first: Option<Vec<u8>> = None;
    for (what, extras_env) in [
        ("unset", None),
        ("empty", Some("")),
        ("missing directory", Some("/run/src/extras")),
    ] {
        let out = tempfile::tempdir().unwrap();
        let layout = Layout {
            extras_env,
            ..Layout::core(&base)
        };
        let o = run(&layout, out.path());
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        assert_eq!(written(out.path()), ["sbom.spdx.json"], "{what}");
        let bytes = std::fs::read(out.path().join("sbom.spdx.json")).unwrap();
        // Compact (the default): every package, no files.
        let doc = predicate(&out.path().join("sbom.spdx.json"));
        assert!(doc.get("files").is_none(), "{what}");
        assert!(doc["packages"].as_array().unwrap().len() > 80, "{what}");
        match &first {
            None => {
                validate(&py, &[out.path().join("sbom.spdx.json")]);
                first = Some(bytes);
            }
            // The same rootfs gives the same bytes, whatever the extras variable said.
            Some(f) => assert!(f == &bytes, "{what}: output differs"),
        }
        if what == "missing directory" {
            assert!(
                stderr(&o).contains("scanning no extra targets"),
                "{}",
                stderr(&o)
            );
        }
    }
}

#[test]
fn a_failing_target_still_writes_the_others() {
    let (Some(corpus), Some(()), Some(py)) = (corpus(), namespaces(), python()) else {
        return;
    };
    let base = corpus.join("rootfs/debian-minbase");
    let out = tempfile::tempdir().unwrap();
    // No core mount at all: the core fails, the extra is still written, exit 0.
    let layout = Layout {
        core: None,
        extras: Some(vec![("build", base.as_path())]),
        extras_env: Some("/run/src/extras"),
        params: Vec::new(),
    };
    let o = run(&layout, out.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(written(out.path()), ["sbom-build.spdx.json"]);
    assert!(
        stderr(&o).contains("error: sbom: /run/src/core/sbom"),
        "{}",
        stderr(&o)
    );
    validate(&py, &[out.path().join("sbom-build.spdx.json")]);
}

#[test]
fn nothing_written_is_a_failure_and_bad_parameters_are_named() {
    let (Some(corpus), Some(())) = (corpus(), namespaces()) else {
        return;
    };
    let base = corpus.join("rootfs/debian-minbase");
    let out = tempfile::tempdir().unwrap();
    let o = run(
        &Layout {
            core: None,
            ..Layout::core(&base)
        },
        out.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no statement could be written"));
    assert!(written(out.path()).is_empty());

    let o = run(
        &Layout {
            params: vec![("mode", "huge")],
            ..Layout::core(&base)
        },
        out.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("BUILDKIT_SCAN_mode=\"huge\": mode is compact or full"));
    assert!(written(out.path()).is_empty());

    // Outside BuildKit: a clear message, not a panic.
    let o = Command::new(BIN).env_clear().output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("BUILDKIT_SCAN_SOURCE is not set"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_view_keeps_only_what_the_entrypoint_uses() {
    let (Some(corpus), Some(()), Some(py)) = (corpus(), namespaces(), python()) else {
        return;
    };
    let app = corpus.join("rootfs/app");
    let out = tempfile::tempdir().unwrap();
    let o = run(
        &Layout {
            params: vec![
                ("view", "usage"),
                ("entrypoint", r#"["python3","-c","import requests"]"#),
            ],
            ..Layout::core(&app)
        },
        out.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let path = out.path().join("sbom.spdx.json");
    validate(&py, std::slice::from_ref(&path));
    let names = package_names(&predicate(&path));
    // The interpreter and what it links, not the rest of the image (300+ packages).
    for want in ["python3.11-minimal", "libc6", "zlib1g"] {
        assert!(names.iter().any(|n| n == want), "{want}: {names:?}");
    }
    assert!(names.len() < 30, "{names:?}");
    assert!(
        !names.iter().any(|n| n == "express"),
        "npm packages are not used: {names:?}"
    );
}
