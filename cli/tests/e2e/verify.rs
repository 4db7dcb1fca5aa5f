//! `stella verify` and offline trust bundles, end to end: `stella serve` signs and logs, `stella
//! attest` pushes the bundle into an OCI layout, and `stella verify` judges the image online (with
//! the exported trusted root), offline inside a network namespace with no interfaces (`unshare -n`)
//! from a trust bundle, and refuses tampered inputs with precise reasons.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::common::{stella, tempdir};
use crate::serve::serve;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// An attested layout: the stack's data dir, the image reference and the trusted root file.
struct Attested {
    _work: tempfile::TempDir,
    data: tempfile::TempDir,
    srv: crate::serve::Served,
    dir: PathBuf,
    image: String,
    root: PathBuf,
}

fn attested() -> Attested {
    let data = tempdir();
    let work = tempdir();
    let srv = serve(data.path());
    let dir = work.path().to_path_buf();
    let layout = dir.join("layout");
    crate::support::build_test_layout(&layout);
    let image = format!("oci:{}:single", layout.display());
    let sbom = dir.join("sbom.cdx.json");
    std::fs::write(
        &sbom,
        serde_json::to_vec(&json!({
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "metadata": {"tools": {"components": [{"type": "application", "name": "stella", "version": "0.1.0"}]}},
            "components": [{"type": "library", "name": "hello", "version": "1.0"}],
        }))
        .unwrap(),
    )
    .unwrap();
    let key = dir.join("client.key");
    ok(stella(&[
        "attest",
        &image,
        "--sbom",
        sbom.to_str().unwrap(),
        "--server",
        &srv.url,
        "--key",
        key.to_str().unwrap(),
    ]));
    let root = dir.join("trusted_root.json");
    ok(stella(&[
        "trust",
        "export",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--url",
        &srv.url,
        "--trusted-root",
        root.to_str().unwrap(),
    ]));
    Attested {
        _work: work,
        data,
        srv,
        dir,
        image,
        root,
    }
}

fn verify_json(args: &[&str]) -> (Output, Value) {
    let mut all = vec!["verify", "--format", "json"];
    all.extend_from_slice(args);
    let out = stella(&all);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

#[test]
fn verify_online_with_the_trusted_root_and_the_policy() {
    let a = attested();
    let root = a.root.to_str().unwrap();
    let (out, v) = verify_json(&[&a.image, "--trusted-root", root]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(v["verified"], true, "{v:#}");
    let att = &v["subjects"][0]["attestations"][0];
    assert_eq!(att["verified"], true, "{v:#}");
    assert_eq!(att["predicateType"], "https://cyclonedx.org/bom");
    assert_eq!(att["discovery"], "layout");
    assert_eq!(att["claims"]["scanner"], "stella 0.1.0");
    // The license the Signer signed under, stamped by `stella attest` from the PoE.
    assert!(
        att["claims"]["license_id"]
            .as_str()
            .is_some_and(|l| l.starts_with("LIC-")),
        "{v:#}"
    );
    assert!(att["log"]["index"].is_u64(), "{v:#}");
    assert!(
        att["signer"]["issuer"].as_str().unwrap().ends_with("/dev"),
        "{v:#}"
    );

    // Text output names what was verified.
    let out = stella(&["verify", &a.image, "--trusted-root", root]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("verified https://cyclonedx.org/bom"), "{t}");

    // A policy the attestation meets, then one it does not: identity, predicate type, view.
    let policy = a.dir.join("policy.yaml");
    let write_policy = |s: &str| std::fs::write(&policy, s).unwrap();
    write_policy(&format!(
        "predicateTypes: [cyclonedx]\nidentities:\n  - issuer: \"{}/dev\"\n    subject: \"{}/dev/users/*\"\nmaxAge: 1d\nviews: [inventory]\n",
        a.srv.url, a.srv.url
    ));
    let p = policy.to_str().unwrap();
    let (out, v) = verify_json(&[&a.image, "--trusted-root", root, "--policy", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        v["policyDigest"].as_str().unwrap().starts_with("sha256:"),
        "{v:#}"
    );

    write_policy("identities:\n  - issuer: https://token.actions.githubusercontent.com\n    subject: https://github.com/acme/*\n");
    let (out, v) = verify_json(&[&a.image, "--trusted-root", root, "--policy", p]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let reason = v["subjects"][0]["attestations"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("is not allowed by the policy"), "{reason}");

    write_policy("predicateTypes: [spdx]\n");
    let (out, v) = verify_json(&[&a.image, "--trusted-root", root, "--policy", p]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(
        v["subjects"][0]["failures"][0],
        "no verified attestation of predicate type https://spdx.dev/Document"
    );

    write_policy("views: [usage]\n");
    let (out, _) = verify_json(&[&a.image, "--trusted-root", root, "--policy", p]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));

    write_policy("maxAge: 1y\n");
    let out = stella(&["verify", &a.image, "--trusted-root", root, "--policy", p]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("maxAge `1y`"), "{}", text(&out));
    write_policy("unknownKey: 1\n");
    let out = stella(&["verify", &a.image, "--trusted-root", root, "--policy", p]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("unknown field `unknownKey`"),
        "{}",
        text(&out)
    );

    // The other image in the layout carries no attestation.
    let multi = a.image.replace(":single", ":multi");
    let (out, v) = verify_json(&[&multi, "--trusted-root", root]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(v["subjects"][0]["failures"][0]
        .as_str()
        .unwrap()
        .contains("no attestation is attached"));
    drop(multi);

    // A valid bundle made for `single`, attached to `multi` as well: refused as another image's.
    let layout = a.dir.join("layout");
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap().clone();
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let bundle_desc = manifests
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json")
        .unwrap_or_else(|| panic!("no bundle referrer in {index:#}"));
    let multi_desc = manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "multi")
        .unwrap();
    // `multi` is an index: attach to its first platform manifest, a subject `verify` checks.
    let multi_index: Value = serde_json::from_slice(
        &std::fs::read(blob(multi_desc["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let multi_desc = &multi_index["manifests"][0];
    let mut moved: Value = serde_json::from_slice(
        &std::fs::read(blob(bundle_desc["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    moved["subject"] = json!({
        "mediaType": multi_desc["mediaType"], "digest": multi_desc["digest"], "size": multi_desc["size"],
    });
    let bytes = serde_json::to_vec(&moved).unwrap();
    let digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
    std::fs::write(blob(&digest), &bytes).unwrap();
    let mut desc = bundle_desc.clone();
    desc["digest"] = json!(digest);
    desc["size"] = json!(bytes.len());
    index["manifests"].as_array_mut().unwrap().push(desc);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let multi = a.image.replace(":single", ":multi");
    let (out, v) = verify_json(&[&multi, "--trusted-root", root]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let reasons: Vec<&str> = v["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["attestations"].as_array().unwrap())
        .filter_map(|a| a["reason"].as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("the statement is for sha256:")
                && r.contains(", not for sha256:")),
        "{v:#}"
    );

    // Another stack's trusted root: its log, CA and TSA are not this one's.
    let other = tempdir();
    let other_root = a.dir.join("other_root.json");
    ok(stella(&[
        "trust",
        "export",
        "--data-dir",
        other.path().to_str().unwrap(),
        "--trusted-root",
        other_root.to_str().unwrap(),
    ]));
    let (out, v) = verify_json(&[&a.image, "--trusted-root", other_root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let reason = v["subjects"][0]["attestations"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("timestamp") || reason.contains("trusted root"),
        "{reason}"
    );

    // The trusted root distributed by TUF: a repository made with our tooling, the client's
    // cache filled by `trust update`, and verify taking trusted_root.json from it.
    let (repo, keys, cache) = (
        a.dir.join("tuf"),
        a.dir.join("tuf-keys"),
        a.dir.join("tuf-cache"),
    );
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    ok(stella(&[
        "trust",
        "repo",
        "init",
        &s(&repo),
        "--keys",
        &s(&keys),
        "--trusted-root",
        root,
    ]));
    ok(stella(&[
        "trust",
        "init",
        &s(&repo.join("1.root.json")),
        "--repo",
        &s(&repo),
        "--trust-dir",
        &s(&cache),
    ]));
    ok(stella(&["trust", "update", "--trust-dir", &s(&cache)]));
    let (out, v) = verify_json(&[&a.image, "--trust-dir", &s(&cache)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(v["verified"], true, "{v:#}");
    // A cached trusted root changed behind TUF's back is refused (exit 8).
    let cached = cache.join("targets/trusted_root.json");
    let mut b = std::fs::read(&cached).unwrap();
    b.push(b' ');
    std::fs::write(&cached, b).unwrap();
    let out = stella(&["verify", &a.image, "--trust-dir", &s(&cache)]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));

    // No trust material, unreadable trust material.
    let empty = a.dir.join("no-trust");
    let out = stella(&["verify", &a.image, "--trust-dir", &s(&empty)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("stella trust init"), "{}", text(&out));
    let out = stella(&["verify", &a.image, "--trusted-root", p]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
}

/// Unpacks a trust bundle into (name, bytes), in order.
fn unpack(path: &Path) -> Vec<(String, Vec<u8>)> {
    let dec = zstd::stream::read::Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut ar = tar::Archive::new(dec);
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        out.push((name, b));
    }
    out
}

/// Repacks files into a trust bundle, rewriting manifest.json's checksums (so only the change
/// itself can be caught, not a stale checksum).
fn repack(path: &Path, mut files: Vec<(String, Vec<u8>)>) {
    let mut manifest: Value =
        serde_json::from_slice(&files.iter().find(|(n, _)| n == "manifest.json").unwrap().1)
            .unwrap();
    for (n, b) in &files {
        if n != "manifest.json" {
            manifest["files"][n] = json!({"sha256": hex(&Sha256::digest(b)), "size": b.len()});
        }
    }
    for (n, b) in files.iter_mut() {
        if n == "manifest.json" {
            *b = serde_json::to_vec(&manifest).unwrap();
        }
    }
    let f = std::fs::File::create(path).unwrap();
    let enc = zstd::stream::write::Encoder::new(f, 3).unwrap();
    let mut tar = tar::Builder::new(enc);
    for (n, b) in &files {
        let mut h = tar::Header::new_ustar();
        h.set_size(b.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, n, b.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `stella verify … --offline` inside a network namespace with no interfaces.
fn verify_offline(image: &str, bundle: &Path) -> Output {
    Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_stella"))
        .args([
            "verify",
            "--format",
            "json",
            image,
            "--offline",
            "--trust-bundle",
        ])
        .arg(bundle)
        .output()
        .unwrap()
}

fn unshare_works() -> bool {
    let ok = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "unshare -n must work under CI (root)"
        );
        eprintln!("SKIPPED: unshare -n does not work here (needs root)");
    }
    ok
}

#[test]
fn offline_verification_from_a_trust_bundle_opens_no_socket_and_catches_tampering() {
    if !unshare_works() {
        return;
    }
    let a = attested();
    let tb = a.dir.join("trust-bundle.tar.zst");
    let out = ok(stella(&[
        "trust",
        "bundle",
        "create",
        "--data-dir",
        a.data.path().to_str().unwrap(),
        "--url",
        &a.srv.url,
        "--image",
        &a.image,
        "--out",
        tb.to_str().unwrap(),
    ]));
    assert!(text(&out).contains("1 image(s)"), "{}", text(&out));
    let files = unpack(&tb);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "manifest.json");
    assert!(names.contains(&"targets/trusted_root.json"), "{names:?}");
    assert!(names.contains(&"tiles/checkpoint"), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("tiles/tile/0/")),
        "{names:?}"
    );

    // More entries after the attestation: the bundle's checkpoint is newer than the attestation's,
    // so the offline proof also checks consistency between the two.
    let sbom2 = a.dir.join("sbom2.cdx.json");
    std::fs::write(
        &sbom2,
        br#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1}"#,
    )
    .unwrap();
    let multi = a.image.replace(":single", ":multi");
    let key = a.dir.join("client.key");
    ok(stella(&[
        "attest",
        &multi,
        "--sbom",
        sbom2.to_str().unwrap(),
        "--server",
        &a.srv.url,
        "--key",
        key.to_str().unwrap(),
    ]));
    ok(stella(&[
        "trust",
        "bundle",
        "create",
        "--data-dir",
        a.data.path().to_str().unwrap(),
        "--url",
        &a.srv.url,
        "--image",
        &a.image,
        "--out",
        tb.to_str().unwrap(),
    ]));
    let files = unpack(&tb);

    // The stack is stopped: nothing answers, and the namespace has no network anyway.
    drop(a.srv);
    let out = verify_offline(&a.image, &tb);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true, "{v:#}");

    // A registry reference cannot be verified offline.
    let out = Command::new(env!("CARGO_BIN_EXE_stella"))
        .args([
            "verify",
            "127.0.0.1:5000/app:1",
            "--offline",
            "--trust-bundle",
        ])
        .arg(&tb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("stella cp"), "{}", text(&out));

    let bad = a.dir.join("bad.tar.zst");
    let reason_of = |out: &Output| -> String {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v["subjects"][0]["attestations"][0]["reason"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| text(out))
    };

    // A tampered tile (checksums rewritten to match): the proof from the tiles fails.
    let mut t = files.clone();
    let (_, tile) = t
        .iter_mut()
        .find(|(n, _)| n.starts_with("tiles/tile/0/"))
        .unwrap();
    tile[0] ^= 1;
    repack(&bad, t);
    let out = verify_offline(&a.image, &bad);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        reason_of(&out).contains("tampered tile"),
        "{}",
        reason_of(&out)
    );

    // A tampered tile with the manifest left alone: refused when the bundle is opened.
    let mut t = files.clone();
    t.iter_mut()
        .find(|(n, _)| n.starts_with("tiles/tile/0/"))
        .unwrap()
        .1[0] ^= 1;
    let f = std::fs::File::create(&bad).unwrap();
    let mut tar = tar::Builder::new(zstd::stream::write::Encoder::new(f, 3).unwrap());
    for (n, b) in &t {
        let mut h = tar::Header::new_ustar();
        h.set_size(b.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, n, b.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let out = verify_offline(&a.image, &bad);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    assert!(
        text(&out).contains("does not match manifest.json"),
        "{}",
        text(&out)
    );

    // The checkpoint's origin changed (its signature then fails, and the origin is named).
    let mut t = files.clone();
    let cp = t.iter_mut().find(|(n, _)| n == "tiles/checkpoint").unwrap();
    let s = String::from_utf8(cp.1.clone()).unwrap();
    let origin = s.lines().next().unwrap().to_owned();
    cp.1 = s.replacen(&origin, "elsewhere.example/log", 1).into_bytes();
    repack(&bad, t);
    let out = verify_offline(&a.image, &bad);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        reason_of(&out).contains("checkpoint is for `elsewhere.example/log`"),
        "{}",
        reason_of(&out)
    );

    // Another stack's trusted root in the bundle: the log key is not the one that signed.
    let other = tempdir();
    let other_root = a.dir.join("other_root.json");
    ok(stella(&[
        "trust",
        "export",
        "--data-dir",
        other.path().to_str().unwrap(),
        "--trusted-root",
        other_root.to_str().unwrap(),
    ]));
    let mut t = files.clone();
    t.iter_mut()
        .find(|(n, _)| n == "targets/trusted_root.json")
        .unwrap()
        .1 = std::fs::read(&other_root).unwrap();
    repack(&bad, t);
    let out = verify_offline(&a.image, &bad);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));

    // A bundle without tiles for the image.
    ok(stella(&[
        "trust",
        "bundle",
        "create",
        "--data-dir",
        a.data.path().to_str().unwrap(),
        "--out",
        bad.to_str().unwrap(),
    ]));
    let out = verify_offline(&a.image, &bad);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(reason_of(&out).contains("--image"), "{}", reason_of(&out));

    // Garbage and path escapes.
    std::fs::write(&bad, b"not a bundle").unwrap();
    let out = verify_offline(&a.image, &bad);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
}

#[test]
fn verify_from_a_registry_without_the_referrers_api() {
    if !crate::support::registry_tools() {
        return;
    }
    let data = tempdir();
    let work = tempdir();
    let srv = serve(data.path());
    let layout = work.path().join("layout");
    crate::support::build_test_layout(&layout);
    let reg = crate::support::Registry::start("");
    let image = format!("{}/test/app:1", reg.host());
    let digest = crate::support::skopeo_push(&layout, "single", &image, None, false);
    let sbom = work.path().join("sbom.spdx.json");
    std::fs::write(
        &sbom,
        serde_json::to_vec(&json!({
            "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "app",
            "dataLicense": "CC0-1.0", "documentNamespace": "https://example.com/app",
            "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: stella-0.1.0"]},
        }))
        .unwrap(),
    )
    .unwrap();
    let key = work.path().join("client.key");
    for _ in 0..3 {
        ok(stella(&[
            "attest",
            "--insecure",
            &image,
            "--sbom",
            sbom.to_str().unwrap(),
            "--server",
            &srv.url,
            "--key",
            key.to_str().unwrap(),
        ]));
    }
    let root = work.path().join("trusted_root.json");
    ok(stella(&[
        "trust",
        "export",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--url",
        &srv.url,
        "--trusted-root",
        root.to_str().unwrap(),
    ]));
    let policy = work.path().join("policy.yaml");
    std::fs::write(&policy, "predicateTypes: [spdx]\n").unwrap();
    let (out, v) = verify_json(&[
        "--insecure",
        &image,
        "--trusted-root",
        root.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = &v["subjects"][0];
    assert_eq!(s["digest"], digest.as_str());
    let atts = s["attestations"].as_array().unwrap();
    assert_eq!(atts.len(), 3, "{v:#}");
    for a in atts {
        assert_eq!(a["verified"], true, "{v:#}");
        assert_eq!(a["discovery"], "tag-fallback", "{v:#}");
        assert_eq!(a["claims"]["scanner"], "stella-0.1.0", "{v:#}");
    }
    // An unreachable registry is a registry error, not a verdict.
    drop(reg);
    let out = stella(&[
        "verify",
        "--insecure",
        &image,
        "--trusted-root",
        root.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

/// A static file server over `dir` on 127.0.0.1 (Python's http.server: a "tile proxy" we did not
/// write), killed on drop.
struct StaticFiles(std::process::Child, String);

impl Drop for StaticFiles {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn static_files(dir: &Path) -> StaticFiles {
    let port = crate::support::free_port();
    let server = StaticFiles(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        format!("http://127.0.0.1:{port}"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("http.server did not start");
}

#[test]
fn proof_refresh_goes_through_the_breaker_to_the_mirror_then_the_cache() {
    let a = attested();
    let root = a.root.to_str().unwrap();
    // More entries after the attestation, so the refreshed checkpoint is larger than the bundle's.
    let sbom2 = a.dir.join("sbom2.cdx.json");
    std::fs::write(
        &sbom2,
        br#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1}"#,
    )
    .unwrap();
    let key = a.dir.join("client.key");
    for _ in 0..2 {
        ok(stella(&[
            "attest",
            &a.image.replace(":single", ":multi"),
            "--sbom",
            sbom2.to_str().unwrap(),
            "--server",
            &a.srv.url,
            "--key",
            key.to_str().unwrap(),
        ]));
    }
    let refresh = |log: &str, mirror: Option<&str>, cache: &Path| {
        let mut args = vec![
            "verify",
            "--format",
            "json",
            &a.image,
            "--trusted-root",
            root,
            "--log-url",
            log,
            "--tile-cache",
            cache.to_str().unwrap(),
        ];
        if let Some(m) = mirror {
            args.extend(["--log-mirror", m]);
        }
        let out = stella(&args);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v["subjects"][0]["attestations"][0].clone())
    };
    // The primary answers.
    let c1 = a.dir.join("cache1");
    let (out, att) = refresh(&a.srv.url, None, &c1);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(att["refreshed"]["sources"], json!(["primary"]), "{att:#}");
    let bundle_size = att["log"]["treeSize"].as_u64().unwrap();
    let refreshed_size = att["refreshed"]["treeSize"].as_u64().unwrap();
    assert!(refreshed_size > bundle_size, "{att:#}");

    // The primary is down: the mirror (a plain static server over the log's files) answers.
    let mirror = static_files(&a.data.path().join("attestor/log"));
    let dead = format!("http://127.0.0.1:{}", crate::support::free_port());
    let c2 = a.dir.join("cache2");
    let (out, att) = refresh(&dead, Some(&mirror.1), &c2);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(att["refreshed"]["sources"], json!(["mirror"]), "{att:#}");
    assert_eq!(att["refreshed"]["treeSize"], refreshed_size);

    // Both down: the tiles cached by the last run prove it.
    drop(mirror);
    let (out, att) = refresh(&dead, Some(&dead), &c2);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(att["refreshed"]["sources"], json!(["cache"]), "{att:#}");

    // Both down and nothing cached: not verified, and the reason says why.
    let (out, att) = refresh(&dead, None, &a.dir.join("cache3"));
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let reason = att["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("proof refresh: no upstream log answered"),
        "{reason}"
    );

    // A cached tile tampered with while both are down.
    let tile = std::fs::read_dir(c2.join("tile/0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file() || p.is_dir())
        .unwrap();
    let tile = if tile.is_dir() {
        std::fs::read_dir(&tile)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    } else {
        tile
    };
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&tile, bytes).unwrap();
    let (out, att) = refresh(&dead, None, &c2);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        att["reason"].as_str().unwrap().contains("tampered tile"),
        "{att:#}"
    );
}

/// A BuildKit in-index attestation (an unsigned in-toto statement in the image index) is found and
/// listed with its predicate type, but never counts: alone it fails the gate (exit 7) with a reason
/// that says so; next to a signed, logged attestation of the same manifest it is still listed, and
/// the image verifies on the signed one.
#[test]
fn buildkit_in_index_attestations_are_reported_unsigned_and_never_count() {
    let data = tempdir();
    let work = tempdir();
    let srv = serve(data.path());
    let layout = work.path().join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    let made = crate::cp::attested_layout(&layout);
    let image = format!("oci:{}:app", layout.display());
    let root = work.path().join("trusted_root.json");
    ok(stella(&[
        "trust",
        "export",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--url",
        &srv.url,
        "--trusted-root",
        root.to_str().unwrap(),
    ]));
    let root = root.to_str().unwrap();
    let unsigned_entry = |v: &Value| -> Value {
        v["subjects"][0]["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["unsigned"] == true)
            .cloned()
            .unwrap_or_else(|| panic!("no unsigned entry: {v:#}"))
    };

    let platform = ["--platform", "linux/amd64"];
    let (out, v) = verify_json(&[&image, "--trusted-root", root, platform[0], platform[1]]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(v["verified"], false, "{v:#}");
    assert_eq!(v["subjects"][0]["digest"], made.amd64.as_str(), "{v:#}");
    let u = unsigned_entry(&v);
    assert_eq!(u["verified"], false, "{v:#}");
    assert_eq!(u["discovery"], "buildkit-index", "{v:#}");
    assert_eq!(
        u["predicateTypes"],
        json!(["https://spdx.dev/Document"]),
        "{v:#}"
    );
    let failures = v["subjects"][0]["failures"].to_string();
    assert!(failures.contains("unsigned BuildKit in-index"), "{v:#}");
    let out = stella(&[
        "verify",
        &image,
        "--trusted-root",
        root,
        platform[0],
        platform[1],
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains(&format!("unsigned {}", made.attestation)), "{t}");

    // The arm64 manifest has no attestation at all: the plain reason, no unsigned entry.
    let (out, v) = verify_json(&[&image, "--trusted-root", root, "--platform", "linux/arm64"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(v["subjects"][0]["digest"], made.arm64.as_str(), "{v:#}");
    assert_eq!(v["subjects"][0]["attestations"], json!([]), "{v:#}");

    // Signed and logged by our stack: verifies, and the unsigned one is still listed beside it.
    let sbom = work.path().join("sbom.spdx.json");
    std::fs::write(
        &sbom,
        serde_json::to_vec(&json!({
            "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
            "name": "app", "documentNamespace": "https://example.com/app",
            "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: stella-0.1.0"]},
            "packages": [],
        }))
        .unwrap(),
    )
    .unwrap();
    let key = work.path().join("client.key");
    ok(stella(&[
        "attest",
        &image,
        platform[0],
        platform[1],
        "--sbom",
        sbom.to_str().unwrap(),
        "--server",
        &srv.url,
        "--key",
        key.to_str().unwrap(),
    ]));
    let (out, v) = verify_json(&[&image, "--trusted-root", root, platform[0], platform[1]]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let atts = v["subjects"][0]["attestations"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{v:#}");
    assert!(
        atts.iter()
            .any(|a| a["verified"] == true && a["predicateType"] == "https://spdx.dev/Document"),
        "{v:#}"
    );
    assert_eq!(unsigned_entry(&v)["verified"], false, "{v:#}");
}

/// The organisation's signing key distributed by TUF: an attestation signed with the Signer's key
/// (`--signing key`) verifies only once the key is a TUF target of usage `org-signing-key` in the
/// client's cache; after a rotation it still verifies during the old key's grace period (reported
/// as such), and once the old key is retired and the cache updated it is refused as untrusted.
#[test]
fn org_signing_key_from_tuf_with_rotation_grace_and_retirement() {
    let data = tempdir();
    let work = tempdir();
    let srv = serve(data.path());
    let dir = work.path();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (image, root, signer) = key_signed(dir, data.path(), &srv.url);

    // The trusted root alone does not trust the Signer's key.
    let (out, v) = verify_json(&[&image, "--trusted-root", &s(&root)]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let reason = v["subjects"][0]["attestations"][0]["reason"].to_string();
    assert!(reason.contains("not among the trusted keys"), "{v:#}");

    // The stack's TUF repository (served at /tuf/) publishes the root and the org key.
    let (repo, keys, cache) = (
        data.path().join("tuf"),
        dir.join("tuf-keys"),
        dir.join("cache"),
    );
    tuf_repo_with_org_key(&repo, &keys, &root, &signer);
    let tuf_url = format!("{}/tuf/", srv.url.trim_end_matches('/'));
    ok(stella(&[
        "trust",
        "init",
        &s(&repo.join("1.root.json")),
        "--repo",
        &tuf_url,
        "--trust-dir",
        &s(&cache),
    ]));
    ok(stella(&["trust", "update", "--trust-dir", &s(&cache)]));
    let (out, v) = verify_json(&[&image, "--trust-dir", &s(&cache)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let src = &v["subjects"][0]["attestations"][0]["signer"]["keySource"];
    assert_eq!(src["tuf"], "org-signing-key-v1.pub", "{v:#}");
    assert_eq!(src["status"], "active", "{v:#}");
    // `stella attest --policy FILE` stamped the policy's digest; the claims show it.
    let gate = std::fs::read(dir.join("gate-policy.yaml")).unwrap();
    assert_eq!(
        v["subjects"][0]["attestations"][0]["claims"]["policy_digest"],
        format!("sha256:{}", hex(&Sha256::digest(&gate))),
        "{v:#}"
    );

    // Rotation: a new key becomes active, the old one is in grace for 14 days and still trusted.
    let new_pub = dir.join("org-signing-key-v2.pub");
    openssl_p256_public(dir, &new_pub);
    let repo_args = |sub: &str, extra: &[&str]| {
        let mut v = vec!["trust".to_owned(), "repo".into(), sub.into(), s(&repo)];
        v.extend(["--keys".to_owned(), s(&keys)]);
        v.extend(extra.iter().map(|x| (*x).to_owned()));
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        ok(stella(&refs));
    };
    repo_args(
        "rotate-key",
        &[
            "--usage",
            "org-signing-key",
            "--new",
            &s(&new_pub),
            "--grace-days",
            "14",
        ],
    );
    ok(stella(&["trust", "update", "--trust-dir", &s(&cache)]));
    let (out, v) = verify_json(&[&image, "--trust-dir", &s(&cache)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let src = &v["subjects"][0]["attestations"][0]["signer"]["keySource"];
    assert_eq!(src["status"], "grace", "{v:#}");
    assert!(src["graceUntil"].as_str().is_some(), "{v:#}");
    let out = stella(&["verify", &image, "--trust-dir", &s(&cache)]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("TUF org-signing-key-v1.pub, grace until"), "{t}");

    // Retirement: the old key leaves the metadata; the attestation it signed is refused.
    repo_args(
        "retire-key",
        &[
            "--usage",
            "org-signing-key",
            "--name",
            "org-signing-key-v1.pub",
        ],
    );
    ok(stella(&["trust", "update", "--trust-dir", &s(&cache)]));
    let (out, v) = verify_json(&[&image, "--trust-dir", &s(&cache)]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let reason = v["subjects"][0]["attestations"][0]["reason"].to_string();
    assert!(reason.contains("not among the trusted keys"), "{v:#}");
}

/// A layout image attested with the Signer's key (`--signing key`) by the stack serving `data`;
/// returns the image, the stack's trusted_root.json and the Signer's public key (PEM), in `dir`.
fn key_signed(dir: &Path, data: &Path, url: &str) -> (String, PathBuf, PathBuf) {
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let layout = dir.join("layout");
    crate::support::build_test_layout(&layout);
    let image = format!("oci:{}:single", layout.display());
    let sbom = dir.join("sbom.cdx.json");
    std::fs::write(
        &sbom,
        br#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[]}"#,
    )
    .unwrap();
    let gate = dir.join("gate-policy.yaml");
    std::fs::write(&gate, "predicateTypes: [cyclonedx]\n").unwrap();
    ok(stella(&[
        "attest",
        &image,
        "--signing",
        "key",
        "--sbom",
        &s(&sbom),
        "--server",
        url,
        "--key",
        &s(&dir.join("client.key")),
        "--policy",
        &s(&gate),
    ]));
    let (root, signer) = (dir.join("trusted_root.json"), dir.join("signer.pub"));
    ok(stella(&[
        "trust",
        "export",
        "--data-dir",
        &s(data),
        "--url",
        url,
        "--trusted-root",
        &s(&root),
        "--signing-key",
        &s(&signer),
    ]));
    assert!(std::fs::read_to_string(&signer)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    (image, root, signer)
}

/// `stella trust repo init REPO` (one root key) publishing the trusted root and the org key.
fn tuf_repo_with_org_key(repo: &Path, keys: &Path, root: &Path, org_key: &Path) {
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    ok(stella(&[
        "trust",
        "repo",
        "init",
        &s(repo),
        "--keys",
        &s(keys),
        "--root-keys",
        "1",
        "--root-threshold",
        "1",
        "--trusted-root",
        &s(root),
        "--org-key",
        &s(org_key),
    ]));
}

fn openssl_p256_public(dir: &Path, public: &Path) {
    let key = dir.join(format!(
        "{}.key",
        public.file_name().unwrap().to_str().unwrap()
    ));
    let st = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success(), "openssl genpkey");
    let st = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(public)
        .status()
        .unwrap();
    assert!(st.success(), "openssl pkey");
}

/// An offline trust bundle of a stack with a TUF repository seals its metadata and targets; offline
/// verification runs the TUF workflow against them — from the bundle's own root (trust on first
/// use, reported) or from the root pinned in the trust dir — and trusts the org key TUF publishes.
/// A trust dir pinned to another repository's root refuses the bundle (exit 8); a bundle made after
/// the key was retired no longer verifies what it signed. Bundles made from the data dir and from
/// the running server (`--server`) both carry TUF.
#[test]
fn offline_trust_bundle_seals_tuf_and_the_org_key() {
    let data = tempdir();
    let work = tempdir();
    let srv = serve(data.path());
    let dir = work.path();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (image, root, signer) = key_signed(dir, data.path(), &srv.url);
    let (repo, keys) = (data.path().join("tuf"), dir.join("tuf-keys"));
    tuf_repo_with_org_key(&repo, &keys, &root, &signer);
    let xdg = s(&dir.join("xdg"));
    let create = |out: &Path, from: &[&str]| {
        let out = s(out);
        let mut args = vec![
            "trust", "bundle", "create", "--image", &image, "--out", &out,
        ];
        args.extend_from_slice(from);
        let o = stella(&args);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("TUF root v1 with 6 target(s)"),
            "{}",
            text(&o)
        );
    };
    let offline = |bundle: &Path, extra: &[&str]| -> (Output, Value) {
        let b = s(bundle);
        let mut args = vec![
            "verify",
            "--format",
            "json",
            &image,
            "--offline",
            "--trust-bundle",
            &b,
        ];
        args.extend_from_slice(extra);
        let out = crate::common::stella_env(&args, &[("XDG_CONFIG_HOME", &xdg)]);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    };

    let b1 = dir.join("b1.tar.zst");
    create(&b1, &["--data-dir", &s(data.path()), "--url", &srv.url]);
    let (out, v) = offline(&b1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let tuf = &v["trustBundle"]["tuf"];
    assert_eq!(tuf["pinnedRoot"], "bundle (trust on first use)", "{v:#}");
    assert_eq!(tuf["orgKeys"], json!(["org-signing-key-v1.pub"]), "{v:#}");
    let src = &v["subjects"][0]["attestations"][0]["signer"]["keySource"];
    assert_eq!(src["tuf"], "org-signing-key-v1.pub", "{v:#}");

    // Pinned in a trust dir initialised from the same repository.
    let cache = dir.join("cache");
    ok(stella(&[
        "trust",
        "init",
        &s(&repo.join("1.root.json")),
        "--repo",
        &s(&repo),
        "--trust-dir",
        &s(&cache),
    ]));
    let (out, v) = offline(&b1, &["--trust-dir", &s(&cache)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        v["trustBundle"]["tuf"]["pinnedRoot"]["trustDir"].is_string(),
        "{v:#}"
    );

    // Pinned to another repository's root: refused.
    let other = dir.join("other");
    tuf_repo_with_org_key(&other.join("repo"), &other.join("keys"), &root, &signer);
    let other_cache = dir.join("other-cache");
    ok(stella(&[
        "trust",
        "init",
        &s(&other.join("repo/1.root.json")),
        "--repo",
        &s(&other.join("repo")),
        "--trust-dir",
        &s(&other_cache),
    ]));
    let (out, _) = offline(&b1, &["--trust-dir", &s(&other_cache)]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    assert!(text(&out).contains("TUF"), "{}", text(&out));

    // From the running server: the same TUF content.
    let b2 = dir.join("b2.tar.zst");
    create(&b2, &["--server", &srv.url]);
    let (out, _) = offline(&b2, &["--trust-dir", &s(&cache)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The key replaced and retired, then a new bundle: what the old key signed is refused.
    let new_pub = dir.join("org-signing-key-v2.pub");
    openssl_p256_public(dir, &new_pub);
    let (repo_s, keys_s, new_s) = (s(&repo), s(&keys), s(&new_pub));
    let usage = ["--usage", "org-signing-key"];
    let mut rotate = vec!["trust", "repo", "rotate-key", &repo_s, "--keys", &keys_s];
    rotate.extend_from_slice(&usage);
    rotate.extend_from_slice(&["--new", &new_s]);
    ok(stella(&rotate));
    let mut retire = vec!["trust", "repo", "retire-key", &repo_s, "--keys", &keys_s];
    retire.extend_from_slice(&usage);
    retire.extend_from_slice(&["--name", "org-signing-key-v1.pub"]);
    ok(stella(&retire));
    let b3 = dir.join("b3.tar.zst");
    create(&b3, &["--data-dir", &s(data.path()), "--url", &srv.url]);
    let (out, v) = offline(&b3, &["--trust-dir", &s(&cache)]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(
        v["trustBundle"]["tuf"]["orgKeys"],
        json!(["org-signing-key-v2.pub"]),
        "{v:#}"
    );
    let reason = v["subjects"][0]["attestations"][0]["reason"].to_string();
    assert!(reason.contains("not among the trusted keys"), "{v:#}");
}
