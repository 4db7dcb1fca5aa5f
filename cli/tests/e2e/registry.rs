//! `stella scan` against a real registry: Debian's `docker-registry` (CNCF distribution) on 127.0.0.1,
//! filled by skopeo, through the shared harness in registry/tests/it/support.rs. What comes out of the
//! registry must be what comes out of the OCI layout it was pushed from.
//!
//! No test talks to anything but 127.0.0.1: the non-loopback cases run behind a proxy trap on loopback
//! that records any request instead of forwarding it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::common::*;
use crate::support::{
    access_for, build_test_layout, docker_config, registry_tools, skopeo_push, Registry, Reply,
    TinyServer, TokenIssuer,
};

/// Proxy settings a developer's shell may carry; cleared so loopback traffic stays direct.
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

/// Runs `stella ARGS…` with `DOCKER_CONFIG=config_dir` (never the developer's ~/.docker), no proxy
/// from the environment, and then `env`.
fn stella_with(config_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("DOCKER_CONFIG", config_dir);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run stella")
}

/// A docker config directory whose `config.json` has no credentials.
fn no_credentials() -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    dir
}

fn success(out: &Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.clone()
}

fn json_of(out: &Output, what: &str) -> Value {
    serde_json::from_slice(&success(out, what)).expect("report is JSON")
}

/// Asserts the exit code and returns stderr.
fn failure(out: &Output, code: i32, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    assert!(out.stdout.is_empty(), "{what}: no document on failure");
    stderr
}

/// Package → (layer index, layer diffID).
fn attribution(report: &Value) -> BTreeMap<(String, String, String), (u64, String)> {
    report["inventory"]["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                (s(&p["name"]), s(&p["version"]), s(&p["arch"])),
                (
                    p["layer"]["index"].as_u64().expect("layer index"),
                    s(&p["layer"]["diff_id"]),
                ),
            )
        })
        .collect()
}

fn layer_field(report: &Value, field: &str) -> Vec<String> {
    report["subject"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l[field].as_str().expect(field).to_owned())
        .collect()
}

/// `skopeo inspect --tls-verify=false [--config] docker://REF` as JSON, anonymous.
fn skopeo_inspect(reference: &str, config: bool) -> Value {
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "inspect",
        "--tls-verify=false",
        "--no-creds",
        "--retry-times",
        "0",
    ]);
    if config {
        cmd.arg("--config");
    }
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    let out = cmd.arg(format!("docker://{reference}")).output().unwrap();
    serde_json::from_slice(&success(&out, "skopeo inspect")).unwrap()
}

/// The parts of a JSON report that name where the image came from, removed: `subject.name` (the
/// reference as typed), `subject.version` (the tag) and `subject.repository`. Everything else —
/// digests, platform, layers, inventory, time — describes the image itself.
fn without_source_names(mut report: Value) -> Value {
    let subject = report["subject"].as_object_mut().expect("subject");
    for k in ["name", "version", "repository"] {
        subject.remove(k);
    }
    report
}

/// A CycloneDX document with the fields that legitimately name the source removed, re-rendered:
///
/// - `metadata.component.name` / `.version`: the repository and tag (`app`/`app` from the layout,
///   `127.0.0.1:PORT/corpus/app`/`latest` from the registry);
/// - `metadata.component.bom-ref` / `.purl`: the image purl, whose `repository_url` qualifier is the
///   registry repository (an OCI layout has none); the same string is the subject's `ref` in
///   `dependencies`, which is replaced by a placeholder rather than dropped so the graph still compares;
/// - `serialNumber`: a UUID derived from the document's own bytes, so it follows the names above.
///
/// Every component, hash, licence, property (manifest, config and layer digests), the timestamp and
/// the dependency graph must match byte for byte.
fn cyclonedx_without_source_names(bytes: &[u8]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(bytes).expect("CycloneDX is JSON");
    let component = doc["metadata"]["component"]
        .as_object_mut()
        .expect("metadata.component");
    let subject_ref = component["bom-ref"].as_str().expect("bom-ref").to_owned();
    for k in ["name", "version", "bom-ref", "purl"] {
        component.remove(k);
    }
    doc.as_object_mut().unwrap().remove("serialNumber");
    let mut subject_refs = 0;
    for dep in doc["dependencies"].as_array_mut().expect("dependencies") {
        if dep["ref"] == subject_ref.as_str() {
            dep["ref"] = json!("<subject>");
            subject_refs += 1;
        }
    }
    assert_eq!(subject_refs, 1, "the subject has one dependencies entry");
    assert!(
        !serde_json::to_string(&doc).unwrap().contains(&subject_ref),
        "the subject ref appears only where it was normalized"
    );
    serde_json::to_vec_pretty(&doc).unwrap()
}

/// The corpus `app` image (4 layers, ~400 MB of Debian, PyPI and npm packages) pushed to an anonymous
/// registry gives the same report as the OCI layout it came from: by tag, by digest, with `docker://`.
#[test]
fn corpus_app_from_a_real_registry_equals_the_oci_layout() {
    let Some(corpus) = corpus() else { return };
    if !registry_tools() {
        return;
    }
    let layout = corpus.join("oci");
    let local_source = format!("oci:{}:app", layout.display());
    let reg = Registry::start("");
    let host = reg.host();
    let reference = format!("{host}/corpus/app:latest");
    let pushed = skopeo_push(&layout, "app", &reference, None, false);
    let cfg = no_credentials();

    let local = scan_json(&local_source);
    let inspected = skopeo_inspect(&reference, false);
    let config = skopeo_inspect(&reference, true);
    let manifest_digest = inspected["Digest"].as_str().expect("Digest").to_owned();
    assert_eq!(manifest_digest, pushed);
    // skopeo copies an OCI manifest unchanged: the registry serves the layout's own manifest.
    assert_eq!(
        local["subject"]["manifest_digest"],
        manifest_digest.as_str()
    );
    let skopeo_layers: Vec<String> = serde_json::from_value(inspected["Layers"].clone()).unwrap();
    let skopeo_diff_ids: Vec<String> =
        serde_json::from_value(config["rootfs"]["diff_ids"].clone()).unwrap();
    assert_eq!(skopeo_layers.len(), 4);

    let repository = format!("{host}/corpus/app");
    for (source, tag) in [
        (reference.clone(), Some("latest")),
        (format!("{repository}@{manifest_digest}"), None),
        (format!("docker://{reference}"), Some("latest")),
    ] {
        let out = stella_with(
            cfg.path(),
            &["scan", "--insecure", &source, "--format", "json", "--quiet"],
            &[],
        );
        let remote = json_of(&out, &source);
        let subject = &remote["subject"];
        assert_eq!(subject["kind"], "image", "{source}");
        assert_eq!(subject["manifest_digest"], manifest_digest.as_str());
        assert_eq!(subject["repository"], repository.as_str(), "{source}");
        assert_eq!(subject["version"].as_str(), tag, "{source}");
        assert_eq!(layer_field(&remote, "digest"), skopeo_layers, "{source}");
        assert_eq!(layer_field(&remote, "diff_id"), skopeo_diff_ids, "{source}");
        assert_eq!(package_set(&remote), package_set(&local), "{source}");
        assert_eq!(attribution(&remote), attribution(&local), "{source}");
        // And nothing else differs: inventory, files, time, layers' media types and history.
        assert_eq!(
            without_source_names(remote),
            without_source_names(local.clone()),
            "{source}"
        );
    }

    // CycloneDX: byte-identical but for the fields that name the source.
    let local_cdx = success(&stella(&["scan", &local_source]), "local CycloneDX");
    let remote_cdx = success(
        &stella_with(cfg.path(), &["scan", "--insecure", &reference], &[]),
        "remote CycloneDX",
    );
    let doc: Value = serde_json::from_slice(&remote_cdx).unwrap();
    let hex = manifest_digest.trim_start_matches("sha256:");
    let port = reg.port;
    assert_eq!(
        doc["metadata"]["component"]["purl"],
        format!(
            "pkg:oci/app@sha256%3A{hex}?arch=amd64&repository_url=127.0.0.1%3A{port}%2Fcorpus%2Fapp"
        )
        .as_str()
    );
    assert_eq!(doc["metadata"]["component"]["name"], repository.as_str());
    assert_eq!(doc["metadata"]["component"]["version"], "latest");
    assert_ne!(local_cdx, remote_cdx, "the documents name their sources");
    assert_eq!(
        String::from_utf8(cyclonedx_without_source_names(&remote_cdx)).unwrap(),
        String::from_utf8(cyclonedx_without_source_names(&local_cdx)).unwrap()
    );

    // Errors that name what is wrong: a missing tag (exit 4), and HTTPS to this plain-HTTP
    // registry, which suggests --insecure.
    let missing = format!("{repository}:no-such-tag");
    let err = failure(
        &stella_with(cfg.path(), &["scan", "--insecure", &missing], &[]),
        4,
        &missing,
    );
    assert!(
        err.contains("'no-such-tag'") && err.contains(&repository),
        "{err}"
    );
    let err = failure(
        &stella_with(cfg.path(), &["scan", &reference], &[]),
        4,
        "HTTPS to a plain-HTTP registry",
    );
    assert!(
        err.contains(&format!("https://{host}/v2/")) && err.contains("--insecure"),
        "{err}"
    );
}

/// A minimal image pushed to an htpasswd-protected registry: credentials come from DOCKER_CONFIG.
#[test]
fn basic_auth_credentials_from_docker_config() {
    if !registry_tools() {
        return;
    }
    let dir = tempdir();
    let t = build_test_layout(&dir.path().join("layout"));
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret-pw", 4).unwrap();
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let reg = Registry::start(&format!(
        "  htpasswd:\n    realm: stella-test\n    path: {}\n",
        htpasswd.display()
    ));
    let host = reg.host();
    let reference = format!("{host}/test/img:1");
    let pushed = skopeo_push(
        &t.path,
        "single",
        &reference,
        Some("alice:s3cret-pw"),
        false,
    );
    let args = ["scan", "--insecure", &reference, "--format", "json"];

    let good = tempdir();
    docker_config(good.path(), &host, "alice", "s3cret-pw");
    let report = json_of(&stella_with(good.path(), &args, &[]), "good credentials");
    assert_eq!(report["subject"]["manifest_digest"], pushed.as_str());
    assert_eq!(report["subject"]["config_digest"], t.single_config.as_str());
    // skopeo gzips the layout's uncompressed layers on the way in, so blob and manifest digests
    // change; the config, the diffIDs and what is found in them do not.
    let local = scan_json(&format!("oci:{}:single", t.path.display()));
    assert_eq!(
        layer_field(&report, "diff_id"),
        layer_field(&local, "diff_id")
    );
    assert_eq!(report["inventory"], local["inventory"]);
    assert_eq!(report["inventory"]["distro"]["id"], "test");

    let bad = tempdir();
    docker_config(bad.path(), &host, "alice", "wrong");
    let err = failure(&stella_with(bad.path(), &args, &[]), 4, "wrong password");
    assert!(
        err.contains(&host) && err.contains("rejected") && err.contains("alice"),
        "{err}"
    );

    let none = no_credentials();
    let err = failure(&stella_with(none.path(), &args, &[]), 4, "no credentials");
    assert!(err.contains(&host) && err.contains("docker login"), "{err}");
}

const ISSUER: &str = "stella-test-issuer";
const SERVICE: &str = "stella-test-registry";

/// The registry delegates to a token server (the distribution `token` auth): stella trades the
/// docker config's basic credentials for a pull-scoped bearer token.
#[test]
fn bearer_token_flow() {
    if !registry_tools() {
        return;
    }
    let dir = tempdir();
    let t = build_test_layout(&dir.path().join("layout"));
    let issuer = Arc::new(TokenIssuer::new());
    let bundle = dir.path().join("root.pem");
    std::fs::write(&bundle, &issuer.cert_pem).unwrap();
    let scopes_seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (iss, seen) = (issuer.clone(), scopes_seen.clone());
    let tokens = TinyServer::start(move |req| {
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:tok-pw")
        );
        if req.path != "/token" || req.header("authorization") != Some(expected.as_str()) {
            return Reply::new(401, r#"{"details":"bad credentials"}"#);
        }
        let scopes: Vec<&str> = req
            .query
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str())
            .collect();
        seen.lock()
            .unwrap()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
        let token = iss.token(ISSUER, SERVICE, "alice", access_for(&scopes));
        Reply::new(200, json!({ "token": token }).to_string())
            .header("Content-Type", "application/json")
    });
    let reg = Registry::start(&format!(
        "  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        tokens.port,
        bundle.display()
    ));
    let host = reg.host();
    let reference = format!("{host}/test/img:1");
    let pushed = skopeo_push(&t.path, "single", &reference, Some("alice:tok-pw"), false);
    scopes_seen.lock().unwrap().clear();
    let args = ["scan", "--insecure", &reference, "--format", "json"];

    let good = tempdir();
    docker_config(good.path(), &host, "alice", "tok-pw");
    let report = json_of(&stella_with(good.path(), &args, &[]), "bearer token");
    assert_eq!(report["subject"]["manifest_digest"], pushed.as_str());
    let scopes = scopes_seen.lock().unwrap().clone();
    assert!(
        !scopes.is_empty() && scopes.iter().all(|s| s == "repository:test/img:pull"),
        "stella asks for pull access to the one repository only: {scopes:?}"
    );

    let bad = tempdir();
    docker_config(bad.path(), &host, "alice", "nope");
    let err = failure(&stella_with(bad.path(), &args, &[]), 4, "token refused");
    assert!(err.contains(&host) && err.contains("token server"), "{err}");
}

/// `--insecure` to a host that is not loopback is refused before any network I/O. A proxy trap on
/// loopback records every request stella would send; the control run without `--insecure` shows the
/// trap does catch stella's traffic (it tunnels `registry.example.com:443` through it).
#[test]
fn insecure_is_refused_for_a_remote_host_before_any_request() {
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requests.clone();
    let trap = TinyServer::start(move |req| {
        seen.lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.path));
        Reply::new(403, "no traffic leaves this machine")
    });
    let proxy = format!("http://127.0.0.1:{}", trap.port);
    let env: Vec<(&str, &str)> = PROXY_VARS
        .iter()
        .filter(|v| !v.eq_ignore_ascii_case("no_proxy"))
        .map(|v| (*v, proxy.as_str()))
        .collect();
    let cfg = no_credentials();
    let reference = "registry.example.com/x:y";

    let err = failure(
        &stella_with(cfg.path(), &["scan", "--insecure", reference], &env),
        4,
        "--insecure to a remote host",
    );
    assert!(
        err.contains("refusing plain HTTP")
            && err.contains("registry.example.com")
            && err.contains("loopback"),
        "{err}"
    );
    assert_eq!(*requests.lock().unwrap(), Vec::<String>::new());

    // Control: the same reference over HTTPS reaches the trap (and only the trap).
    failure(
        &stella_with(cfg.path(), &["scan", reference], &env),
        4,
        "HTTPS through the trap",
    );
    let seen = requests.lock().unwrap().clone();
    assert!(
        seen.iter().any(|r| r == "CONNECT registry.example.com:443"),
        "{seen:?}"
    );
}

/// A multi-platform index (linux/amd64, linux/arm64/v8, linux/arm/v7) in the registry.
#[test]
fn platform_selection_from_a_registry_index() {
    if !registry_tools() {
        return;
    }
    let dir = tempdir();
    let t = build_test_layout(&dir.path().join("layout"));
    let reg = Registry::start("");
    let reference = format!("{}/test/multi:1", reg.host());
    let index_digest = skopeo_push(&t.path, "multi", &reference, None, true);
    let cfg = no_credentials();
    let scan = |platform: &str| {
        stella_with(
            cfg.path(),
            &[
                "scan",
                "--insecure",
                "--platform",
                platform,
                &reference,
                "--format",
                "json",
            ],
            &[],
        )
    };

    let arm64 = json_of(&scan("linux/arm64"), "linux/arm64");
    let subject = &arm64["subject"];
    assert_eq!(subject["architecture"], "arm64");
    assert_eq!(subject["variant"], "v8");
    assert_eq!(subject["config_digest"], t.arm64_config.as_str());
    assert_ne!(
        subject["manifest_digest"],
        index_digest.as_str(),
        "the platform's manifest, not the index"
    );
    let arm = json_of(&scan("linux/arm/v7"), "linux/arm/v7");
    assert_eq!(
        (&arm["subject"]["architecture"], &arm["subject"]["variant"]),
        (&json!("arm"), &json!("v7"))
    );

    let err = failure(&scan("linux/ppc64le"), 4, "a platform not in the index");
    assert!(
        err.contains("linux/ppc64le")
            && err.contains("linux/amd64, linux/arm64/v8, linux/arm/v7")
            && err.contains("--platform"),
        "{err}"
    );
    // Regression: --platform used to be ignored for an image without an index.
    let single = format!("{}/test/single:1", reg.host());
    skopeo_push(&t.path, "single", &single, None, false);
    let out = stella_with(
        cfg.path(),
        &["scan", "--insecure", "--platform", "linux/arm64", &single],
        &[],
    );
    let err = failure(&out, 4, "linux/arm64 of an amd64-only image");
    assert!(err.contains("available platforms: linux/amd64"), "{err}");
    let local = format!("oci:{}:single", t.path.display());
    let out = stella(&["scan", "--platform", "linux/arm64", &local]);
    let err = failure(&out, 3, "the same from the OCI layout");
    assert!(err.contains("available platforms: linux/amd64"), "{err}");

    for garbage in ["garbage", "linux/", "linux/arm64/v8/extra", "linux/amd 64"] {
        let err = failure(&scan(garbage), 2, garbage);
        assert!(err.contains("invalid platform"), "{garbage}: {err}");
    }
}

/// `skopeo copy` of the corpus app image into an OCI archive scans the same as the layout.
#[test]
fn oci_archive_written_by_skopeo_equals_the_oci_layout() {
    let Some(corpus) = corpus() else { return };
    if !crate::support::have("skopeo") {
        return;
    }
    let layout = format!("oci:{}:app", corpus.join("oci").display());
    let dir = tempdir();
    let archive = dir.path().join("app.oci.tar");
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--retry-times", "0"])
        .arg(&layout)
        .arg(format!("oci-archive:{}:app", archive.display()))
        .output()
        .unwrap();
    success(&out, "skopeo copy to oci-archive");

    let local = scan_json(&layout);
    for source in [
        format!("oci-archive:{}:app", archive.display()),
        format!("oci-archive:{}", archive.display()),
    ] {
        let report = scan_json(&source);
        assert_eq!(package_set(&report), package_set(&local), "{source}");
        assert_eq!(attribution(&report), attribution(&local), "{source}");
        assert_eq!(
            report["subject"]["manifest_digest"],
            local["subject"]["manifest_digest"]
        );
        assert_eq!(
            without_source_names(report),
            without_source_names(local.clone()),
            "{source}"
        );
    }
}
