//! `stella sbom submit-github` against a loopback stand-in for GitHub's Dependency Submission API:
//! the real binary, a real HTTP request, the recorded path, headers and body checked against the
//! snapshot schema.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{corpus, tempdir};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// What the stand-in server saw.
#[derive(Debug)]
struct Recorded {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Serves one request on 127.0.0.1, answering `status` with `answer`; gives up after 60 s.
fn one_shot(status: u16, answer: Value) -> (String, JoinHandle<Option<Recorded>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(_) => return None,
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next()?.split_whitespace();
        let method = request_line.next()?.to_owned();
        let path = request_line.next()?.to_owned();
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers.get("content-length")?.parse().ok()?;
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let answer = answer.to_string();
        let reason = if status == 201 {
            "Created"
        } else {
            "Forbidden"
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        let _ = stream.flush();
        Some(Recorded {
            method,
            path,
            headers,
            body,
        })
    });
    (url, handle)
}

/// `stella ARGS…` with only the given GITHUB_* variables and no proxy.
fn stella_gh(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_") || k.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run stella")
}

/// The environment of a GitHub Actions job pointed at `api`.
fn actions_env(api: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_API_URL", api.to_owned()),
        ("GITHUB_REPOSITORY", "octo-org/app".to_owned()),
        ("GITHUB_SHA", SHA.to_owned()),
        ("GITHUB_REF", "refs/heads/main".to_owned()),
        ("GITHUB_RUN_ID", "4242".to_owned()),
        ("GITHUB_WORKFLOW", "build".to_owned()),
        ("GITHUB_JOB", "sbom".to_owned()),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_TOKEN", "ghs_test_token".to_owned()),
        ("SOURCE_DATE_EPOCH", "1700000000".to_owned()),
    ]
}

fn run(args: &[&str], env: &[(&'static str, String)]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    stella_gh(args, &env)
}

/// Checks every field the API requires, with its type, and returns the manifest.
fn check_snapshot(s: &Value, manifest: &str) -> Value {
    assert_eq!(s["version"], json!(0));
    assert_eq!(s["sha"], json!(SHA));
    assert_eq!(s["ref"], json!("refs/heads/main"));
    assert_eq!(s["job"]["correlator"], json!("build_sbom"));
    assert_eq!(s["job"]["id"], json!("4242"));
    assert_eq!(
        s["job"]["html_url"],
        json!("https://github.com/octo-org/app/actions/runs/4242")
    );
    assert_eq!(s["detector"]["name"], json!("stella"));
    assert!(s["detector"]["version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    assert!(s["detector"]["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://")));
    assert_eq!(s["scanned"], json!("2023-11-14T22:13:20Z"));
    let manifests = s["manifests"].as_object().expect("manifests object");
    assert_eq!(manifests.len(), 1, "{:?}", manifests.keys());
    let m = manifests
        .get(manifest)
        .expect("manifest named after the image")
        .clone();
    assert_eq!(m["name"], json!(manifest));
    assert!(m["file"]["source_location"].is_string());
    let meta = m["metadata"].as_object().expect("metadata object");
    assert!(meta.len() <= 8 && meta.values().all(|v| !v.is_object() && !v.is_array()));
    let resolved = m["resolved"].as_object().expect("resolved object");
    assert!(!resolved.is_empty());
    for (key, r) in resolved {
        assert_eq!(r["package_url"].as_str(), Some(key.as_str()));
        assert!(key.starts_with("pkg:"), "{key}");
        assert!(matches!(
            r["relationship"].as_str(),
            Some("direct" | "indirect")
        ));
        assert_eq!(r["scope"], json!("runtime"));
        for d in r["dependencies"].as_array().expect("dependencies array") {
            let d = d.as_str().expect("dependency is a string");
            assert!(resolved.contains_key(d), "{key} depends on unknown {d}");
        }
    }
    m
}

fn synthetic_sbom(dir: &Path) -> std::path::PathBuf {
    let sbom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"component": {"type": "container", "bom-ref": "image", "name": "ghcr.io/octo-org/app",
                                   "purl": "pkg:oci/app@sha256%3A00"}},
        "components": [
            {"type": "library", "bom-ref": "a", "name": "express", "purl": "pkg:npm/express@4.21.1"},
            {"type": "library", "bom-ref": "b", "name": "debug", "purl": "pkg:npm/debug@2.6.9"},
            {"type": "library", "bom-ref": "c", "name": "flask", "purl": "pkg:pypi/flask@3.0.3"},
            {"type": "operating-system", "bom-ref": "os", "name": "debian"}
        ],
        "dependencies": [
            {"ref": "image", "dependsOn": ["a", "c", "os"]},
            {"ref": "a", "dependsOn": ["b"]}
        ]
    });
    let path = dir.join("app.cdx.json");
    std::fs::write(&path, serde_json::to_vec(&sbom).unwrap()).unwrap();
    path
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "stella failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn github_submit_synthetic_sbom_to_loopback() {
    let dir = tempdir();
    let sbom = synthetic_sbom(dir.path());
    let (url, server) = one_shot(
        201,
        json!({"id": 7, "created_at": "2023-11-14T22:13:21Z", "result": "SUCCESS",
               "message": "Dependency results for the repo have been successfully updated."}),
    );
    let out = run(
        &["sbom", "submit-github", sbom.to_str().unwrap()],
        &actions_env(&url),
    );
    ok(&out);
    let seen = server.join().unwrap().expect("the request arrived");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/repos/octo-org/app/dependency-graph/snapshots");
    let h = |k: &str| seen.headers.get(k).map(String::as_str);
    assert_eq!(h("authorization"), Some("Bearer ghs_test_token"));
    assert_eq!(h("accept"), Some("application/vnd.github+json"));
    assert_eq!(h("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(h("content-type"), Some("application/json"));
    assert!(h("user-agent").is_some_and(|u| u.starts_with("stella/")));
    let body: Value = serde_json::from_slice(&seen.body).expect("body is JSON");
    let m = check_snapshot(&body, "ghcr.io/octo-org/app");
    assert_eq!(m["file"]["source_location"], json!("ghcr.io/octo-org/app"));
    let r = &m["resolved"];
    assert_eq!(r.as_object().unwrap().len(), 3);
    assert_eq!(r["pkg:npm/express@4.21.1"]["relationship"], json!("direct"));
    assert_eq!(
        r["pkg:npm/express@4.21.1"]["dependencies"],
        json!(["pkg:npm/debug@2.6.9"])
    );
    assert_eq!(r["pkg:npm/debug@2.6.9"]["relationship"], json!("indirect"));
    assert_eq!(r["pkg:pypi/flask@3.0.3"]["relationship"], json!("direct"));
    // GitHub's answer on stdout, a summary on stderr; the token is never printed.
    let answer: Value = serde_json::from_slice(&out.stdout).expect("answer on stdout");
    assert_eq!(answer["id"], json!(7));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("snapshot 7"), "{stderr}");
    assert!(!stderr.contains("ghs_test_token"));
}

#[test]
fn github_submit_forbidden_names_the_permission() {
    let dir = tempdir();
    let sbom = synthetic_sbom(dir.path());
    let (url, server) = one_shot(
        403,
        json!({"message": "Resource not accessible by integration",
               "documentation_url": "https://docs.github.com/rest"}),
    );
    let out = run(
        &["sbom", "submit-github", sbom.to_str().unwrap()],
        &actions_env(&url),
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(server.join().unwrap().is_some());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert!(
        stderr.contains("Resource not accessible by integration"),
        "{stderr}"
    );
    assert!(stderr.contains("contents: write"), "{stderr}");
    assert!(!stderr.contains("ghs_test_token"));
}

#[test]
fn github_submit_missing_settings_and_bad_sbom() {
    let dir = tempdir();
    let sbom = synthetic_sbom(dir.path());
    let sbom = sbom.to_str().unwrap();
    let mut env = actions_env("http://127.0.0.1:9");
    env.retain(|(k, _)| *k != "GITHUB_TOKEN");
    let out = run(&["sbom", "submit-github", sbom], &env);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GITHUB_TOKEN") && stderr.contains("contents: write"),
        "{stderr}"
    );
    env.retain(|(k, _)| *k != "GITHUB_SHA");
    let out = run(&["sbom", "submit-github", sbom], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITHUB_SHA"));
    // Plain HTTP to anything but loopback would send the token in the clear.
    let mut env = actions_env("http://api.example.com");
    let out = run(&["sbom", "submit-github", sbom], &env);
    assert_eq!(out.status.code(), Some(2));
    env.retain(|(k, _)| *k != "GITHUB_API_URL");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, br#"{"hello": "world"}"#).unwrap();
    let out = run(&["sbom", "submit-github", bad.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither CycloneDX"));
}

/// The corpus app image's SBOMs, CycloneDX and SPDX, give the same packages; --dry-run writes the
/// snapshot the loopback run sends.
#[test]
fn github_submit_corpus_app_image() {
    let Some(corpus) = corpus() else { return };
    let dir = tempdir();
    let source = format!("oci:{}:app", corpus.join("oci").display());
    let cdx = dir.path().join("app.cdx.json");
    let spdx = dir.path().join("app.spdx.json");
    for (format, path) in [("cyclonedx-json", &cdx), ("spdx-json", &spdx)] {
        let out = stella_gh(
            &[
                "scan",
                &source,
                "--format",
                format,
                "--quiet",
                "--output",
                path.to_str().unwrap(),
            ],
            &[],
        );
        ok(&out);
    }
    let (url, server) = one_shot(
        201,
        json!({"id": 8, "created_at": "2023-11-14T22:13:21Z", "result": "ACCEPTED",
               "message": "The snapshot was accepted."}),
    );
    let out = run(
        &["sbom", "submit-github", cdx.to_str().unwrap()],
        &actions_env(&url),
    );
    ok(&out);
    let seen = server.join().unwrap().expect("the request arrived");
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    let m = check_snapshot(&body, "app");
    let resolved = m["resolved"].as_object().unwrap();
    for purl in [
        "pkg:npm/express@4.21.1",
        "pkg:pypi/flask@3.0.3",
        "pkg:maven/com.google.guava/guava@31.1-jre",
    ] {
        assert!(resolved.contains_key(purl), "{purl} missing");
    }
    assert!(resolved
        .keys()
        .any(|k| k.starts_with("pkg:deb/debian/curl@")));
    // Every component with a purl is there, and nothing else.
    let doc: Value = serde_json::from_slice(&std::fs::read(&cdx).unwrap()).unwrap();
    let purls: std::collections::BTreeSet<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    let keys: std::collections::BTreeSet<&str> = resolved.keys().map(String::as_str).collect();
    assert_eq!(keys, purls);

    // The SPDX document gives the same manifest; --dry-run sends nothing and needs no token.
    let snapshot = dir.path().join("snapshot.json");
    let mut env = actions_env("http://127.0.0.1:9");
    env.retain(|(k, _)| *k != "GITHUB_TOKEN" && *k != "GITHUB_REPOSITORY");
    env.push(("GITHUB_REPOSITORY", "octo-org/app".to_owned()));
    let out = run(
        &[
            "sbom",
            "submit-github",
            spdx.to_str().unwrap(),
            "--dry-run",
            "--output",
            snapshot.to_str().unwrap(),
        ],
        &env,
    );
    ok(&out);
    let from_spdx: Value = serde_json::from_slice(&std::fs::read(&snapshot).unwrap()).unwrap();
    let m2 = check_snapshot(&from_spdx, "app");
    assert_eq!(m2["resolved"], m["resolved"]);
}
