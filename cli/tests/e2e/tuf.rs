//! `stella trust init | update | status` and `stella trust repo …`: a repository made with the
//! CLI, a client cache filled from it (local directory and over `stella serve`'s `/tuf/`), key
//! rotations, and attacks refused with exit code 8.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::common::{stella, tempdir};

const TRUSTED_ROOT: &str = r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"baseUrl":"http://127.0.0.1:8440","publicKey":{"rawBytes":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE","keyDetails":"PKIX_ECDSA_P256_SHA_256"}}],"certificateAuthorities":[{"certChain":{"certificates":[{"rawBytes":"MIIB"},{"rawBytes":"MIIC"}]}}],"ctlogs":[{"publicKey":{"rawBytes":"MFkw"}}],"timestampAuthorities":[{"certChain":{"certificates":[{"rawBytes":"MIID"}]}}]}"#;

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A repository in DIR/repo with keys in DIR/keys, made by `stella trust repo init`.
fn make_repo(dir: &Path) {
    std::fs::write(dir.join("trusted_root.json"), TRUSTED_ROOT).unwrap();
    std::fs::write(
        dir.join("services.json"),
        r#"{"rekor":"http://127.0.0.1:8440"}"#,
    )
    .unwrap();
    std::fs::write(dir.join("org1.pub"), "org key 1\n").unwrap();
    let (repo, keys) = (dir.join("repo"), dir.join("keys"));
    ok(&stella(&[
        "trust",
        "repo",
        "init",
        s(&repo),
        "--keys",
        s(&keys),
        "--root-keys",
        "3",
        "--root-threshold",
        "2",
        "--trusted-root",
        s(&dir.join("trusted_root.json")),
        "--service-map",
        s(&dir.join("services.json")),
        "--org-key",
        s(&dir.join("org1.pub")),
    ]));
}

fn status(cache: &Path) -> Value {
    let out = stella(&[
        "trust",
        "status",
        "--trust-dir",
        s(cache),
        "--format",
        "json",
    ]);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn target<'a>(st: &'a Value, name: &str) -> Option<&'a Value> {
    st["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
}

#[test]
fn tuf_repo_and_client_with_key_rotations() {
    let tmp = tempdir();
    let d = tmp.path();
    make_repo(d);
    let (repo, keys, cache) = (d.join("repo"), d.join("keys"), d.join("cache"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for e in std::fs::read_dir(keys.join("root")).unwrap() {
            let mode = e.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "root key files are 0600");
        }
        assert_eq!(std::fs::read_dir(keys.join("root")).unwrap().count(), 3);
    }
    let out = stella(&["trust", "status", "--trust-dir", s(&cache)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no pinned root; run `stella trust init`")
    );
    ok(&stella(&[
        "trust",
        "init",
        s(&repo.join("1.root.json")),
        "--repo",
        s(&repo),
        "--trust-dir",
        s(&cache),
    ]));
    let out = ok(&stella(&["trust", "update", "--trust-dir", s(&cache)]));
    assert!(
        out.contains("root v1, timestamp v2, snapshot v2, targets v2; 7 target(s)"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(cache.join("targets/trusted_root.json")).unwrap(),
        TRUSTED_ROOT
    );
    let pem = std::fs::read_to_string(cache.join("targets/fulcio-chain.pem")).unwrap();
    assert_eq!(
        pem.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "{pem}"
    );
    let st = status(&cache);
    assert_eq!(st["verified"], true, "{st}");
    assert_eq!(st["expired"], false);
    for (name, usage) in [
        ("trusted_root.json", "trusted-root"),
        ("rekor-key-v1.pub", "rekor-key"),
        ("fulcio-chain.pem", "fulcio-chain"),
        ("ctfe-key-v1.pub", "ctfe-key"),
        ("tsa-chain.pem", "tsa-chain"),
        ("sigstore-services-v1.json", "sigstore-services"),
        ("org-signing-key-v1.pub", "org-signing-key"),
    ] {
        let t = target(&st, name).unwrap_or_else(|| panic!("{name} missing: {st}"));
        assert_eq!(t["usage"], usage);
        assert_eq!(t["status"], "active");
        assert_eq!(t["cached"], true);
    }
    let text = ok(&stella(&["trust", "status", "--trust-dir", s(&cache)]));
    assert!(
        text.contains("verified:   yes") && text.contains("root keys (2 of 3)"),
        "{text}"
    );

    // Dual-key rotation: v1 in grace, v2 active; then v1 retired.
    std::fs::write(d.join("org-signing-key-v2.pub"), "org key 2\n").unwrap();
    ok(&stella(&[
        "trust",
        "repo",
        "rotate-key",
        s(&repo),
        "--keys",
        s(&keys),
        "--usage",
        "org-signing-key",
        "--new",
        s(&d.join("org-signing-key-v2.pub")),
        "--grace-days",
        "14",
    ]));
    ok(&stella(&["trust", "update", "--trust-dir", s(&cache)]));
    let st = status(&cache);
    assert_eq!(
        target(&st, "org-signing-key-v1.pub").unwrap()["status"],
        "grace"
    );
    assert!(target(&st, "org-signing-key-v1.pub").unwrap()["grace_until"].is_string());
    assert_eq!(
        target(&st, "org-signing-key-v2.pub").unwrap()["status"],
        "active"
    );
    ok(&stella(&[
        "trust",
        "repo",
        "retire-key",
        s(&repo),
        "--keys",
        s(&keys),
        "--usage",
        "org-signing-key",
        "--name",
        "org-signing-key-v1.pub",
    ]));
    // Root key rotation: a new root version revoking one root key.
    let revoke = st["roles"]["root"]["roles"]["root"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let new_id = ok(&stella(&[
        "trust",
        "repo",
        "rotate-root-key",
        s(&repo),
        "--keys",
        s(&keys),
        "--revoke",
        &revoke,
    ]));
    assert_eq!(new_id.trim().len(), 64);
    ok(&stella(&[
        "trust",
        "repo",
        "timestamp",
        s(&repo),
        "--keys",
        s(&keys),
    ]));
    let out = ok(&stella(&["trust", "update", "--trust-dir", s(&cache)]));
    assert!(
        out.starts_with("root v2, timestamp v5, snapshot v4, targets v4"),
        "{out}"
    );
    let st = status(&cache);
    assert!(target(&st, "org-signing-key-v1.pub").is_none());
    let root_ids = st["roles"]["root"]["roles"]["root"]["keyids"].to_string();
    assert!(
        !root_ids.contains(&revoke) && root_ids.contains(new_id.trim()),
        "{root_ids}"
    );
}

#[test]
fn tuf_update_refuses_tampered_target_and_rollback_with_exit_8() {
    let tmp = tempdir();
    let d = tmp.path();
    make_repo(d);
    let (repo, keys) = (d.join("repo"), d.join("keys"));
    // A tampered target file (every copy of it) is refused.
    let cache = d.join("cache1");
    ok(&stella(&[
        "trust",
        "init",
        s(&repo.join("root.json")),
        "--repo",
        s(&repo),
        "--trust-dir",
        s(&cache),
    ]));
    let mut tampered = Vec::new();
    for e in std::fs::read_dir(repo.join("targets")).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".trusted_root.json") {
            let orig = std::fs::read(&p).unwrap();
            std::fs::write(&p, TRUSTED_ROOT.replace("8440", "6666")).unwrap();
            tampered.push((p, orig));
        }
    }
    let out = stella(&["trust", "update", "--trust-dir", s(&cache)]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("trusted_root.json: length or hash mismatch")
    );
    for (p, orig) in tampered {
        std::fs::write(p, orig).unwrap();
    }
    // Rollback: the client saw timestamp v3; the repository serves v2 again.
    let cache = d.join("cache2");
    ok(&stella(&[
        "trust",
        "init",
        s(&repo.join("root.json")),
        "--repo",
        s(&repo),
        "--trust-dir",
        s(&cache),
    ]));
    let old = std::fs::read(repo.join("timestamp.json")).unwrap();
    ok(&stella(&[
        "trust",
        "repo",
        "timestamp",
        s(&repo),
        "--keys",
        s(&keys),
    ]));
    ok(&stella(&["trust", "update", "--trust-dir", s(&cache)]));
    std::fs::write(repo.join("timestamp.json"), old).unwrap();
    let out = stella(&["trust", "update", "--trust-dir", s(&cache)]);
    assert_eq!(out.status.code(), Some(8));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("timestamp: rollback attack: trusted version 3, got version 2"),
        "{err}"
    );
}

/// `stella serve` publishes DATA_DIR/tuf under /tuf/; the client updates over HTTP from it.
#[test]
fn tuf_repository_served_by_stella_serve() {
    let tmp = tempdir();
    let d = tmp.path();
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(d.join("hello.txt"), "hello\n").unwrap();
    ok(&stella(&[
        "trust",
        "repo",
        "init",
        s(&data.join("tuf")),
        "--keys",
        s(&d.join("keys")),
        "--root-keys",
        "1",
        "--root-threshold",
        "1",
    ]));
    ok(&stella(&[
        "trust",
        "repo",
        "add-target",
        s(&data.join("tuf")),
        "--keys",
        s(&d.join("keys")),
        s(&d.join("hello.txt")),
        "--custom",
        r#"{"x":1}"#,
    ]));
    let served = crate::serve::serve(&data);
    let cache = d.join("cache");
    let url = format!("{}/tuf/", served.url.trim_end_matches('/'));
    ok(&stella(&[
        "trust",
        "init",
        s(&data.join("tuf/1.root.json")),
        "--repo",
        &url,
        "--trust-dir",
        s(&cache),
    ]));
    let out = ok(&stella(&["trust", "update", "--trust-dir", s(&cache)]));
    assert!(out.contains("targets v2; 1 target(s)"), "{out}");
    assert_eq!(
        std::fs::read_to_string(cache.join("targets/hello.txt")).unwrap(),
        "hello\n"
    );
    // Path traversal is refused by the route: a file beside tuf/ is not served.
    std::fs::write(data.join("secret.txt"), "secret\n").unwrap();
    let host = served
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    for path in [
        "/tuf/../secret.txt",
        "/tuf/%2e%2e/secret.txt",
        "/tuf//etc/passwd",
    ] {
        use std::io::{Read as _, Write as _};
        let mut conn = std::net::TcpStream::connect(&host).unwrap();
        write!(conn, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
        let mut resp = String::new();
        let _ = conn.read_to_string(&mut resp);
        let status = resp
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        assert!(
            status != "200" && !resp.contains("secret"),
            "{path}: {resp}"
        );
    }
    let mut conn = std::net::TcpStream::connect(&host).unwrap();
    {
        use std::io::{Read as _, Write as _};
        write!(
            conn,
            "GET /tuf/timestamp.json HTTP/1.0\r\nHost: {host}\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        let _ = conn.read_to_string(&mut resp);
        assert!(
            resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
            "{resp}"
        );
    }
}
