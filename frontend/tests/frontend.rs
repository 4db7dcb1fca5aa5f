//! The real `stella-frontend` binary against the in-test LLBBridge server (`stella_frontend::testing`),
//! its stdin/stdout as the one gRPC connection, as buildkitd runs a gateway frontend.
//!
//! Tests that need the corpus (`CORPUS_DIR`, built by tests/corpus/build-corpus.sh) or the Python
//! validators (`STELLA_PYTHON`) skip with a message when they are missing — except with CI=true,
//! where they fail.

// Test code: a panic is how a check fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use prost::Message as _;
use stella_frontend::proto::gw::{self, result};
use stella_frontend::proto::pb::{Definition, Op};
use stella_frontend::testing::{Bridge, Config, Counts, RefContent};

const BASE: &str = "docker.io/library/debian:bookworm";
const OURS: &str = "registry.test/stella/frontend:1";
const DOCKERFILE: &str =
    "# syntax=registry.test/stella/frontend:1\nFROM debian:bookworm\nCOPY app /srv/app\n";
const APP_CONFIG: &str = r#"{"created":"2024-05-06T07:08:09Z","architecture":"amd64","os":"linux","config":{"Entrypoint":["/usr/bin/node"],"Cmd":["/srv/app/index.js"],"WorkingDir":"/srv/app"}}"#;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `Some` as is; `None` skips the test (with a message), or fails it under CI=true.
fn require<T>(value: Option<T>, what: &str) -> Option<T> {
    if value.is_none() {
        assert!(!ci(), "CI=true and {what} is missing");
        eprintln!("SKIP: {what} is missing");
    }
    value
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The corpus app and minbase images unpacked (once per run) with `umoci raw unpack`.
fn corpus_roots() -> Option<(PathBuf, PathBuf)> {
    static ROOTS: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let dir = std::env::var_os("CORPUS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/corpus"));
        if !dir.join("oci/.done").is_file() {
            return None;
        }
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("frontend-corpus");
        let mut roots = Vec::new();
        for tag in ["app", "minbase"] {
            let root = out.join(tag);
            let done = out.join(format!("{tag}.done"));
            if !done.is_file() {
                let _ = std::fs::remove_dir_all(&root);
                std::fs::create_dir_all(&out).unwrap();
                let st = std::process::Command::new("umoci")
                    .args(["raw", "unpack", "--image"])
                    .arg(format!("{}:{tag}", dir.join("oci").display()))
                    .arg(&root)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .ok()?;
                assert!(st.success(), "umoci raw unpack {tag} failed");
                std::fs::write(&done, b"").unwrap();
            }
            roots.push(root);
        }
        Some((roots[0].clone(), roots[1].clone()))
    });
    require(roots.clone(), "the corpus (CORPUS_DIR) and umoci")
}

fn python() -> Option<PathBuf> {
    let py = std::env::var_os("STELLA_PYTHON")
        .map(PathBuf::from)
        .filter(|p| {
            std::process::Command::new(p)
                .args(["-c", "import cyclonedx, spdx_tools"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    require(py, "STELLA_PYTHON with cyclonedx-python-lib and spdx-tools")
}

fn validate(kind: &str, bytes: &[u8]) {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("doc.{kind}.json"));
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new(py)
        .arg(repo_root().join("tests/validate/validate_sbom.py"))
        .arg(kind)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{kind} validation failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fragment ExecOp as buildkitd would run it: the real binary with the ExecOp's arguments, the
/// mounts' paths mapped to the rootfs and a temporary output directory.
fn real_fragment(root: &Path, args: &[String]) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = dir.path().join("out/fragment.json");
    assert_eq!(args.first().map(String::as_str), Some("/stella-frontend"));
    let mapped: Vec<std::ffi::OsString> = args
        .iter()
        .skip(1)
        .map(|a| match a.as_str() {
            "/stella/base" => root.as_os_str().to_owned(),
            "/stella/out/fragment.json" => out.as_os_str().to_owned(),
            other => other.into(),
        })
        .collect();
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_stella-frontend"))
        .args(&mapped)
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("stella-frontend fragment exited {st}"));
    }
    std::fs::read(&out).map_err(|e| e.to_string())
}

fn app_config(app: &Path, minbase: &Path) -> Config {
    let mut c = Config::new(app.to_path_buf());
    c.images.insert(BASE.to_owned(), minbase.to_path_buf());
    c.dockerfile = Some(("Dockerfile".to_owned(), DOCKERFILE.to_owned()));
    c.configs
        .insert("linux/amd64".to_owned(), APP_CONFIG.to_owned());
    c.fragment = std::sync::Arc::new(real_fragment);
    c
}

fn base_opts() -> Vec<(String, String)> {
    [
        ("source", OURS),
        ("cmdline", OURS),
        ("filename", "Dockerfile"),
        ("build-arg:FOO", "bar=baz"),
        ("platform", "linux/amd64"),
        ("attest:provenance", "mode=min"),
        ("context:extra", "docker-image://busybox"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

struct Run {
    status: std::process::ExitStatus,
    stderr: String,
}

/// Runs the real binary with `opts` against `bridge`.
async fn run(bridge: &Bridge, opts: &[(String, String)]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stella-frontend"));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("BUILDKIT_SESSION_ID", "session-1")
        .env("BUILDKIT_EXPORTEDPRODUCT", "buildkit");
    for (i, (k, v)) in opts.iter().enumerate() {
        cmd.env(format!("BUILDKIT_FRONTEND_OPT_{i}"), format!("{k}={v}"));
    }
    let mut child = cmd.spawn().expect("spawn stella-frontend");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let io = tokio::io::join(stdout, stdin);
    let b = bridge.clone();
    let server = tokio::spawn(async move { stella_frontend::testing::serve(&b, io).await });
    let out = child.wait_with_output().await.unwrap();
    server.abort();
    Run {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn opts_with(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut o = base_opts();
    o.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    o
}

fn returned(bridge: &Bridge) -> gw::ReturnRequest {
    bridge
        .record(|r| r.returned.clone())
        .expect("the frontend called Return")
}

/// The attestation documents Returned for `platform`: (predicate type, path, bytes).
fn documents(bridge: &Bridge, platform: &str) -> Vec<(String, String, Vec<u8>)> {
    let ret = returned(bridge);
    let res = ret.result.expect("a result");
    let atts = res
        .attestations
        .get(platform)
        .expect("attestations for the platform");
    atts.attestation
        .iter()
        .filter(|a| a.in_toto_predicate_type != "https://slsa.dev/provenance/v0.2")
        .map(|a| {
            assert_eq!(a.kind, gw::AttestationKind::InToto as i32);
            assert_eq!(a.in_toto_subjects.len(), 1);
            assert_eq!(
                a.in_toto_subjects[0].kind,
                gw::InTotoSubjectKind::Self_ as i32
            );
            let r = a.r#ref.as_ref().expect("attestation ref");
            let Some(RefContent::Files(files)) = bridge.content(&r.id) else {
                panic!("attestation ref {} is not a files ref", r.id)
            };
            let bytes = files
                .get(a.path.trim_start_matches('/'))
                .unwrap_or_else(|| panic!("{} not in the attestation ref", a.path))
                .clone();
            (a.in_toto_predicate_type.clone(), a.path.clone(), bytes)
        })
        .collect()
}

fn counts(bridge: &Bridge, prefix: &str) -> Counts {
    bridge.record(|r| {
        r.counts.iter().filter(|(k, _)| k.starts_with(prefix)).fold(
            Counts::default(),
            |mut acc, (_, c)| {
                acc.read_dir += c.read_dir;
                acc.read_file += c.read_file;
                acc.stat_file += c.stat_file;
                acc
            },
        )
    })
}

fn spdx_of(docs: &[(String, String, Vec<u8>)]) -> Vec<u8> {
    docs.iter()
        .find(|(p, _, _)| p == "https://spdx.dev/Document")
        .expect("an SPDX attestation")
        .2
        .clone()
}

fn provenance() -> BTreeMap<String, gw::Attestations> {
    let mut m = BTreeMap::new();
    m.insert(
        "linux/amd64".to_owned(),
        gw::Attestations {
            attestation: vec![gw::Attestation {
                kind: gw::AttestationKind::InToto as i32,
                path: "/provenance.json".to_owned(),
                in_toto_predicate_type: "https://slsa.dev/provenance/v0.2".to_owned(),
                ..gw::Attestation::default()
            }],
        },
    );
    m
}

/// Options forwarded unchanged (less ours, `cmdline` kept), inputs forwarded, the inner result and
/// its provenance kept, and SPDX + CycloneDX attestations that validate — full path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_path_forwards_options_and_attaches_valid_sboms() {
    let Some((app, minbase)) = corpus_roots() else {
        return;
    };
    let mut config = app_config(&app, &minbase);
    let input = Definition {
        def: vec![Op::default().encode_to_vec()],
        ..Definition::default()
    };
    config.inputs.insert("extra".to_owned(), input.clone());
    config.inner_attestations = provenance();
    let bridge = Bridge::new(config);
    let opts = opts_with(&[
        ("build-arg:STELLA_FAST_PATH", "false"),
        ("build-arg:STELLA_CYCLONEDX", "true"),
        ("build-arg:SOURCE_DATE_EPOCH", "1700000000"),
    ]);
    let r = run(&bridge, &opts).await;
    assert!(r.status.success(), "frontend failed: {}", r.stderr);

    let solves = bridge.record(|r| r.solves.clone());
    let inner = &solves[0];
    assert_eq!(inner.frontend, "dockerfile.v0");
    let mut expected: BTreeMap<String, String> = base_opts().into_iter().collect();
    expected.insert(
        "build-arg:SOURCE_DATE_EPOCH".to_owned(),
        "1700000000".to_owned(),
    );
    assert_eq!(
        inner.frontend_opt, expected,
        "options forwarded unchanged, STELLA_* stripped"
    );
    assert_eq!(inner.frontend_inputs.get("extra"), Some(&input));
    assert!(inner.allow_result_return && inner.allow_result_array_ref);
    // Full path: no fragment ExecOp, no DiffOp.
    assert_eq!(bridge.record(|r| r.fragment_runs), 0);
    assert_eq!(counts(&bridge, "diff").read_dir, 0);
    assert!(counts(&bridge, "final").read_file > 0);

    let ret = returned(&bridge);
    assert!(ret.error.is_none());
    let res = ret.result.clone().unwrap();
    let Some(result::Result::Refs(refs)) = &res.result else {
        panic!("refs kept")
    };
    assert_eq!(refs.refs["linux/amd64"].id, "final:linux/amd64");
    assert!(res.metadata.contains_key("refs.platforms"));
    let atts = &res.attestations["linux/amd64"].attestation;
    assert_eq!(
        atts[0].in_toto_predicate_type, "https://slsa.dev/provenance/v0.2",
        "provenance kept"
    );
    let docs = documents(&bridge, "linux/amd64");
    let kinds: Vec<&str> = docs.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        kinds,
        ["https://spdx.dev/Document", "https://cyclonedx.org/bom"]
    );
    // BuildKit wraps an InToto attestation's file in the statement itself: the file is the predicate.
    let spdx: serde_json::Value = serde_json::from_slice(&spdx_of(&docs)).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert!(spdx.get("predicateType").is_none());
    assert_eq!(spdx["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let names: Vec<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for want in ["bash", "nodejs", "express"] {
        assert!(names.contains(&want), "{want} in the SBOM");
    }
    validate("spdx", &docs[0].2);
    validate("cyclonedx", &docs[1].2);
}

/// Warmed base: the base's fragment comes from the (cached) ExecOp, the diff's from an ExecOp over
/// `DiffOp(base, final)`, nothing but the two fragment files crosses the bridge, and the SBOM is
/// byte-identical to the full path's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_reads_two_fragments_and_matches_the_full_path() {
    let Some((app, minbase)) = corpus_roots() else {
        return;
    };
    let bridge = Bridge::new(app_config(&app, &minbase));

    let r = run(&bridge, &base_opts()).await;
    assert!(r.status.success(), "frontend failed: {}", r.stderr);
    assert!(!r.stderr.contains("fast path failed"), "{}", r.stderr);
    assert_eq!(
        bridge.record(|r| (r.fragment_runs, r.diff_fragment_runs)),
        (1, 1),
        "one fragment ExecOp over the base, one over the diff"
    );
    let fast = spdx_of(&documents(&bridge, "linux/amd64"));
    let solves = bridge.record(|r| r.solves.clone());
    let diff_solve = solves
        .iter()
        .find(|s| {
            s.definition.as_ref().is_some_and(|d| {
                d.def.iter().any(|b| {
                    matches!(
                        Op::decode(b.as_slice()).map(|o| o.op),
                        Ok(Some(stella_frontend::proto::pb::op::Op::Diff(_)))
                    )
                })
            })
        })
        .expect("a DiffOp was solved");
    assert!(diff_solve.frontend.is_empty());
    let final_counts = counts(&bridge, "final");
    let diff_counts = counts(&bridge, "diff");
    let fragment_counts = counts(&bridge, "fragment");
    assert_eq!(
        final_counts.read_file, 0,
        "nothing read from the final ref: {final_counts:?}"
    );
    assert_eq!(
        diff_counts,
        Default::default(),
        "the diff is read inside the ExecOp, never over the bridge"
    );
    assert_eq!(
        (fragment_counts.read_dir, fragment_counts.read_file),
        (0, 2),
        "each fragment file read once: {fragment_counts:?}"
    );
    let entries = |p: &Path| walkdir_count(p);
    assert!(
        final_counts.read_dir < entries(&minbase) / 10,
        "deletion check lists few directories: {final_counts:?}"
    );

    // Warmed: a second build reuses the cached ExecOp.
    bridge.reset_record();
    let r = run(&bridge, &base_opts()).await;
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        bridge.record(|r| (r.fragment_runs, r.diff_fragment_runs)),
        (0, 0),
        "cached fragments reused"
    );
    assert_eq!(spdx_of(&documents(&bridge, "linux/amd64")), fast);

    // A new build on the warmed base: only the diff's ExecOp runs again.
    bridge.forget_build_cache();
    bridge.reset_record();
    let r = run(&bridge, &base_opts()).await;
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        bridge.record(|r| (r.fragment_runs, r.diff_fragment_runs)),
        (0, 1)
    );
    assert_eq!(spdx_of(&documents(&bridge, "linux/amd64")), fast);

    // The same SBOM from the full path, byte for byte.
    let full_bridge = Bridge::new(app_config(&app, &minbase));
    let r = run(
        &full_bridge,
        &opts_with(&[("build-arg:STELLA_FAST_PATH", "false")]),
    )
    .await;
    assert!(r.status.success(), "{}", r.stderr);
    let full = spdx_of(&documents(&full_bridge, "linux/amd64"));
    if fast != full {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::write(dir.join("fast.spdx.json"), &fast).unwrap();
        std::fs::write(dir.join("full.spdx.json"), &full).unwrap();
        panic!("fast and full SBOMs differ (see {})", dir.display());
    }
    // The build deleted /usr/share/doc (from the base): the fast path saw it through whiteouts.
    assert!(
        !minbase.join("usr/share/doc").exists()
            || app.join("usr/share/doc").exists()
            || fast == full
    );
}

/// `STELLA_SBOM_MODE` means what the generator's `mode` means: compact (the default) keeps every
/// package — unowned binaries too — with no per-file entries; full adds each owned regular file with
/// digests matching the rootfs, the same on the fast and the full path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sbom_modes_match_the_generator() {
    let Some((app, minbase)) = corpus_roots() else {
        return;
    };
    let doc_for = |extra: &'static [(&'static str, &'static str)]| {
        let (app, minbase) = (app.clone(), minbase.clone());
        async move {
            let bridge = Bridge::new(app_config(&app, &minbase));
            let r = run(&bridge, &opts_with(extra)).await;
            assert!(r.status.success(), "{}", r.stderr);
            assert!(!r.stderr.contains("fast path failed"), "{}", r.stderr);
            assert!(!r.stderr.contains("writing it compact"), "{}", r.stderr);
            spdx_of(&documents(&bridge, "linux/amd64"))
        }
    };
    let compact = doc_for(&[]).await;
    let explicit = doc_for(&[("build-arg:STELLA_SBOM_MODE", "compact")]).await;
    assert_eq!(compact, explicit, "compact is the default");
    let full_fast = doc_for(&[("build-arg:STELLA_SBOM_MODE", "full")]).await;
    let full_walk = doc_for(&[
        ("build-arg:STELLA_SBOM_MODE", "full"),
        ("build-arg:STELLA_FAST_PATH", "false"),
    ])
    .await;
    assert!(
        full_fast == full_walk,
        "full mode: fast and full paths differ"
    );

    let compact: serde_json::Value = serde_json::from_slice(&compact).unwrap();
    let full: serde_json::Value = serde_json::from_slice(&full_fast).unwrap();
    assert!(compact.get("files").is_none(), "compact lists no files");
    let ids = |d: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = d["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["SPDXID"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&compact), ids(&full), "the same packages in both modes");
    let purls: Vec<&str> = compact["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().into_iter().flatten())
        .filter_map(|r| r["referenceLocator"].as_str())
        .collect();
    assert!(
        purls.iter().any(|p| p.starts_with("pkg:deb/debian/bash@")),
        "OS packages kept"
    );

    let files = full["files"].as_array().expect("full mode lists files");
    assert!(files.len() > 5000, "{}", files.len());
    let dpkg = files
        .iter()
        .find(|f| f["fileName"] == "./usr/bin/dpkg")
        .expect("/usr/bin/dpkg listed in full mode");
    use sha2::Digest as _;
    let on_disk = std::fs::read(app.join("usr/bin/dpkg")).unwrap();
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let sha256 = hex(&sha2::Sha256::digest(&on_disk));
    assert!(
        dpkg["checksums"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["algorithm"] == "SHA256" && c["checksumValue"] == sha256.as_str()),
        "{dpkg}"
    );
    // A path that is itself a symlink is not a file entry (as in the generator).
    let symlinked = files
        .iter()
        .filter_map(|f| f["fileName"].as_str())
        .filter(|n| {
            std::fs::symlink_metadata(app.join(n.trim_start_matches("./")))
                .is_ok_and(|m| m.file_type().is_symlink())
        })
        .count();
    assert_eq!(symlinked, 0);
    validate("spdx", &full_fast);
}

fn walkdir_count(p: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            n += 1;
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    n
}

/// A failing fragment ExecOp (or a garbage fragment) costs only speed: the full path runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_failure_falls_back_to_the_full_path() {
    let (root, base) = tiny_roots();
    for garbage in [false, true] {
        let mut c = tiny_config(&root, &base);
        c.faults.fragment_fails = !garbage;
        c.faults.garbage_fragment = garbage;
        let bridge = Bridge::new(c);
        let r = run(&bridge, &base_opts()).await;
        assert!(r.status.success(), "{}", r.stderr);
        assert!(r.stderr.contains("fast path failed"), "{}", r.stderr);
        assert!(
            counts(&bridge, "final").read_file > 0,
            "full path walked the final ref"
        );
        let docs = documents(&bridge, "linux/amd64");
        let spdx: serde_json::Value = serde_json::from_slice(&spdx_of(&docs)).unwrap();
        assert!(spdx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "tiny"));
    }
}

/// The fast path on a tiny rootfs: a base file deleted by the build is gone from the SBOM too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_sees_deletions_from_the_base() {
    let (root, base) = tiny_roots();
    let bridge = Bridge::new(tiny_config(&root, &base));
    let r = run(&bridge, &base_opts()).await;
    assert!(r.status.success(), "{}", r.stderr);
    assert!(!r.stderr.contains("fast path failed"), "{}", r.stderr);
    let fast = spdx_of(&documents(&bridge, "linux/amd64"));
    let full_bridge = Bridge::new(tiny_config(&root, &base));
    let r = run(
        &full_bridge,
        &opts_with(&[("build-arg:STELLA_FAST_PATH", "false")]),
    )
    .await;
    assert!(r.status.success(), "{}", r.stderr);
    let full = spdx_of(&documents(&full_bridge, "linux/amd64"));
    assert_eq!(
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&full)
    );
    let doc: serde_json::Value = serde_json::from_slice(&fast).unwrap();
    let names: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"tiny") && names.contains(&"kept") && !names.contains(&"gone"),
        "{names:?}"
    );
    use sha2::Digest as _;
    let tool = std::fs::read(root.join("usr/local/bin/tool")).unwrap();
    let sha256: String = sha2::Sha256::digest(&tool)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        String::from_utf8_lossy(&fast).contains(&sha256),
        "the unowned binary's SHA-256 is in the fast path's SBOM"
    );
}

/// An inner Solve failure is Returned as the build's error and the process exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inner_solve_failure_is_returned_as_an_error() {
    let (root, base) = tiny_roots();
    let mut c = tiny_config(&root, &base);
    c.faults.inner_error =
        Some("dockerfile parse error on line 3: unknown instruction: FORM".to_owned());
    let bridge = Bridge::new(c);
    let r = run(&bridge, &base_opts()).await;
    assert!(!r.status.success());
    let ret = returned(&bridge);
    assert!(ret.result.is_none());
    let err = ret.error.expect("an error Returned");
    assert!(
        err.message.contains("unknown instruction: FORM"),
        "{}",
        err.message
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// Bad server replies and bad options: an error Return or a diagnostic, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_replies_and_options_never_panic() {
    let (root, base) = tiny_roots();
    type Fault = fn(&mut Config);
    let cases: [(&str, Fault, bool); 4] = [
        ("no refs", |c| c.faults.no_refs = true, false),
        (
            "missing platform",
            |c| c.faults.missing_platform = true,
            false,
        ),
        ("hostile names", |c| c.faults.hostile_names = true, true),
        ("no definition on the ref", |c| c.faults.no_def = true, true),
    ];
    for (what, fault, ok) in cases {
        let mut c = tiny_config(&root, &base);
        fault(&mut c);
        let bridge = Bridge::new(c);
        let r = run(&bridge, &base_opts()).await;
        assert_eq!(r.status.success(), ok, "{what}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{what}: {}", r.stderr);
        let ret = returned(&bridge);
        assert_eq!(ret.error.is_none(), ok, "{what}");
    }
    // A typo in our build args is an error Returned, not ignored.
    let bridge = Bridge::new(tiny_config(&root, &base));
    let r = run(
        &bridge,
        &opts_with(&[("build-arg:STELLA_FASTPATH", "false")]),
    )
    .await;
    assert!(!r.status.success());
    assert!(returned(&bridge)
        .error
        .unwrap()
        .message
        .contains("STELLA_FASTPATH"));
    // A malformed option variable too.
    let bridge = Bridge::new(tiny_config(&root, &base));
    let mut opts = base_opts();
    opts.push(("novalue".to_owned(), String::new()));
    let r = run(&bridge, &opts).await;
    assert!(
        r.status.success() || returned(&bridge).error.is_some(),
        "{}",
        r.stderr
    );
    // Missing caps degrade with a warning, keeping the inner result.
    let mut c = tiny_config(&root, &base);
    c.llb_caps.retain(|x| x != "diffop");
    let bridge = Bridge::new(c);
    let r = run(&bridge, &base_opts()).await;
    assert!(r.status.success(), "{}", r.stderr);
    assert!(r.stderr.contains("diffop"), "{}", r.stderr);
    assert_eq!(bridge.record(|r| r.fragment_runs), 0);
}

/// `STELLA_DOCKERFILE_FRONTEND` runs another Dockerfile frontend image through gateway.v0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_dockerfile_frontend_via_gateway() {
    let (root, base) = tiny_roots();
    let bridge = Bridge::new(tiny_config(&root, &base));
    let mut opts: Vec<(String, String)> = base_opts()
        .into_iter()
        .filter(|(k, _)| k != "cmdline")
        .collect();
    opts.push((
        "build-arg:STELLA_DOCKERFILE_FRONTEND".to_owned(),
        "docker.io/docker/dockerfile:1.7".to_owned(),
    ));
    let r = run(&bridge, &opts).await;
    assert!(r.status.success(), "{}", r.stderr);
    let inner = bridge.record(|r| r.solves[0].clone());
    assert_eq!(inner.frontend, "gateway.v0");
    assert_eq!(
        inner.frontend_opt["source"],
        "docker.io/docker/dockerfile:1.7"
    );
    assert_eq!(
        inner.frontend_opt["cmdline"], OURS,
        "cmdline added so the Dockerfile is not forwarded to us again"
    );
    assert!(!inner
        .frontend_opt
        .contains_key("build-arg:STELLA_DOCKERFILE_FRONTEND"));
}

/// `--version` and the `fragment` subcommand.
#[test]
fn version_and_fragment_subcommand() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stella-frontend"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let (root, _) = tiny_roots();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec!["/stella-frontend".to_owned(), "fragment".to_owned()];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v.extend([
            "/stella/base".to_owned(),
            "/stella/out/fragment.json".to_owned(),
        ]);
        v
    };
    // The unowned binary's SHA-256 is in the fragment unless the ExecOp asks to leave it out.
    let tool_sha256 = |extra: &[&str]| {
        let bytes = real_fragment(&root, &args(extra)).unwrap();
        let changes =
            scanner_core::fragment::decode(&bytes, &scanner_core::layer::Limits::default())
                .unwrap();
        assert!(!changes.entries.is_empty());
        changes.entries.iter().find_map(|c| match c {
            scanner_core::layer::Change::Entry(e) if e.path == "usr/local/bin/tool" => {
                Some(e.facts.as_ref().expect("ELF facts").sha256.clone())
            }
            _ => None,
        })
    };
    assert!(matches!(tool_sha256(&[]), Some(Some(_))));
    assert_eq!(tool_sha256(&["--no-unowned-digests"]), Some(None));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stella-frontend"))
        .args(["fragment", "/nonexistent/rootfs", "/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// A small base (an npm package `gone` the build deletes, a shared `kept`) and the final rootfs
/// (adds `tiny`), with the shared files' mtimes equal, as layers keep them.
fn tiny_roots() -> (PathBuf, PathBuf) {
    static ROOTS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let top = Path::new(env!("CARGO_TARGET_TMPDIR")).join("frontend-tiny");
            let _ = std::fs::remove_dir_all(&top);
            let base = top.join("base");
            let fin = top.join("final");
            let pkg = |root: &Path, name: &str| {
                let d = root.join(format!("usr/lib/node_modules/{name}"));
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(
                    d.join("package.json"),
                    format!("{{\"name\":\"{name}\",\"version\":\"1.0.0\",\"license\":\"MIT\"}}"),
                )
                .unwrap();
            };
            for root in [&base, &fin] {
                std::fs::create_dir_all(root.join("etc")).unwrap();
                std::fs::write(
                    root.join("etc/os-release"),
                    "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
                )
                .unwrap();
                pkg(root, "kept");
            }
            pkg(&base, "gone");
            pkg(&fin, "tiny");
            // A native file no package owns, added by the build: the diff's capture leaves its
            // SHA-256 out and the scan reads it from the final ref.
            std::fs::create_dir_all(fin.join("usr/local/bin")).unwrap();
            std::fs::copy("/usr/bin/true", fin.join("usr/local/bin/tool")).unwrap();
            for rel in ["etc/os-release", "usr/lib/node_modules/kept/package.json"] {
                let t = std::fs::metadata(base.join(rel)).unwrap().modified().unwrap();
                std::fs::File::options()
                    .write(true)
                    .open(fin.join(rel))
                    .unwrap()
                    .set_modified(t)
                    .unwrap();
            }
            (fin, base)
        })
        .clone()
}

fn tiny_config(root: &Path, base: &Path) -> Config {
    let mut c = Config::new(root.to_path_buf());
    c.images.insert(BASE.to_owned(), base.to_path_buf());
    c.dockerfile = Some(("Dockerfile".to_owned(), DOCKERFILE.to_owned()));
    c.fragment = std::sync::Arc::new(real_fragment);
    c
}
