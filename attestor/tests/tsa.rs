//! The TSA against tools we did not write: `openssl ts` (reply parsing, verification against our
//! root, answering openssl's own queries), `rfc3161-client` the way sigstore-python 4.x calls it,
//! and a real Sigstore staging timestamp that our verifier must accept (and refuse once touched).
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers, outside #[test] fns; loud skips

use std::path::{Path, PathBuf};
use std::process::Command;

use attestor::tsa::{
    request_for, verify_timestamp, TimestampAuthority, TsaError, TsaMaterial, STELLA_TSA_POLICY,
};
use base64::Engine as _;
use ring::rand::SystemRandom;

/// 2026-12-03T00:00:00Z.
const NOT_BEFORE: u64 = 1_796_256_000;
/// A genTime with milliseconds: 2026-12-03T14:50:36.250Z.
const GEN_TIME: u64 = (NOT_BEFORE + 14 * 3600 + 50 * 60 + 36) * 1000 + 250;

fn new_tsa() -> (TimestampAuthority, TsaMaterial) {
    TimestampAuthority::create("Stella Ops Test TSA", NOT_BEFORE, &SystemRandom::new()).unwrap()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

const OPENSSL: &str = "/usr/bin/openssl";

fn openssl() -> Option<&'static str> {
    if Path::new(OPENSSL).exists() {
        Some(OPENSSL)
    } else {
        eprintln!("SKIPPED: {OPENSSL} is absent, the openssl interop tests did not run");
        None
    }
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Writes the TSA's root and leaf as PEM; returns their paths.
fn write_chain(dir: &Path, m: &TsaMaterial) -> (PathBuf, PathBuf) {
    (
        write(dir, "root.pem", pem("CERTIFICATE", &m.root_cert_der)),
        write(dir, "leaf.pem", pem("CERTIFICATE", &m.leaf_cert_der)),
    )
}

fn openssl_verify(
    dir: &Path,
    data: &Path,
    resp: &Path,
    root: &Path,
    leaf: &Path,
) -> (bool, String) {
    run(Command::new(OPENSSL)
        .current_dir(dir)
        .args(["ts", "-verify", "-data"])
        .arg(data)
        .arg("-in")
        .arg(resp)
        .arg("-CAfile")
        .arg(root)
        .arg("-untrusted")
        .arg(leaf))
}

#[test]
fn openssl_parses_and_verifies_our_timestamp() {
    let Some(openssl) = openssl() else { return };
    let rng = SystemRandom::new();
    let (tsa, m) = new_tsa();
    let dir = tempfile::tempdir().unwrap();
    let msg = write(dir.path(), "msg", b"a DSSE signature, say");
    let resp = tsa
        .timestamp_message(b"a DSSE signature, say", GEN_TIME, 42, &rng)
        .unwrap();
    let resp_path = write(dir.path(), "resp.der", &resp);
    let (root, leaf) = write_chain(dir.path(), &m);

    let (ok, text) = run(Command::new(openssl)
        .args(["ts", "-reply", "-text", "-in"])
        .arg(&resp_path));
    assert!(ok, "{text}");
    assert!(text.contains("Status: Granted."), "{text}");
    assert!(
        text.contains(&format!("Policy OID: {STELLA_TSA_POLICY}")),
        "{text}"
    );
    assert!(text.contains("Hash Algorithm: sha256"), "{text}");
    assert!(text.contains("Serial number: 0x2A"), "{text}");
    assert!(
        text.contains("Time stamp: Dec  3 14:50:36.25 2026 GMT"),
        "{text}"
    );
    assert!(
        text.contains("TSA: DirName:/CN=Stella Ops Test TSA"),
        "{text}"
    );

    let (ok, text) = openssl_verify(dir.path(), &msg, &resp_path, &root, &leaf);
    assert!(ok && text.contains("Verification: OK"), "{text}");

    // The same check refuses another message, a flipped byte and another root.
    let other = write(dir.path(), "other", b"another signature");
    let (ok, text) = openssl_verify(dir.path(), &other, &resp_path, &root, &leaf);
    assert!(!ok && !text.contains("Verification: OK"), "{text}");
    let mut bad = resp.clone();
    let at = bad.len() - 10;
    bad[at] ^= 1;
    let bad_path = write(dir.path(), "bad.der", &bad);
    let (ok, text) = openssl_verify(dir.path(), &msg, &bad_path, &root, &leaf);
    assert!(!ok, "{text}");
    let (_, m2) = new_tsa();
    let other_root = write(
        dir.path(),
        "root2.pem",
        pem("CERTIFICATE", &m2.root_cert_der),
    );
    let (ok, text) = openssl_verify(dir.path(), &msg, &resp_path, &other_root, &leaf);
    assert!(!ok, "{text}");
}

#[test]
fn we_answer_openssl_queries_and_openssl_checks_the_reply_against_them() {
    let Some(openssl) = openssl() else { return };
    let rng = SystemRandom::new();
    let (tsa, m) = new_tsa();
    let dir = tempfile::tempdir().unwrap();
    let msg = write(dir.path(), "msg", b"hello, timestamp");
    let (root, leaf) = write_chain(dir.path(), &m);
    let cases: [(&str, &[&str]); 4] = [
        (
            "sha256, certReq, no nonce",
            &["-sha256", "-cert", "-no_nonce"],
        ),
        ("sha256, certReq, nonce", &["-sha256", "-cert"]),
        ("sha512, nonce, no certReq", &["-sha512"]),
        (
            "sha384, certReq, our policy",
            &["-sha384", "-cert", "-tspolicy", STELLA_TSA_POLICY],
        ),
    ];
    for (i, (name, args)) in cases.iter().enumerate() {
        let query = dir.path().join(format!("q{i}.tsq"));
        let (ok, text) = run(Command::new(openssl)
            .args(["ts", "-query", "-data"])
            .arg(&msg)
            .args(*args)
            .arg("-out")
            .arg(&query));
        assert!(ok, "{name}: {text}");
        let resp = tsa
            .respond(
                &std::fs::read(&query).unwrap(),
                GEN_TIME,
                1000 + i as u128,
                &rng,
            )
            .unwrap();
        let resp_path = write(dir.path(), &format!("r{i}.tsr"), &resp);
        // -queryfile: openssl checks the imprint and the nonce against its own query.
        let (ok, text) = run(Command::new(openssl)
            .args(["ts", "-verify", "-queryfile"])
            .arg(&query)
            .arg("-in")
            .arg(&resp_path)
            .arg("-CAfile")
            .arg(&root)
            .arg("-untrusted")
            .arg(&leaf));
        assert!(ok && text.contains("Verification: OK"), "{name}: {text}");
        // Our verifier agrees, whatever the imprint hash.
        let v = verify_timestamp(
            &resp,
            b"hello, timestamp",
            std::slice::from_ref(&m.root_cert_der),
            std::slice::from_ref(&m.leaf_cert_der),
        )
        .unwrap();
        assert_eq!(v.gen_time_millis, GEN_TIME, "{name}");
        assert_eq!(v.policy, STELLA_TSA_POLICY, "{name}");
    }
    // A reply to one query does not pass for another (different nonce).
    let (ok, text) = run(Command::new(openssl)
        .args(["ts", "-verify", "-queryfile"])
        .arg(dir.path().join("q2.tsq"))
        .arg("-in")
        .arg(dir.path().join("r1.tsr"))
        .arg("-CAfile")
        .arg(&root)
        .arg("-untrusted")
        .arg(&leaf));
    assert!(!ok, "{text}");
}

#[test]
fn our_verifier_accepts_our_timestamp_and_refuses_tampering() {
    let rng = SystemRandom::new();
    let (tsa, m) = new_tsa();
    let msg = b"signature bytes";
    let resp = tsa.timestamp_message(msg, GEN_TIME, 7, &rng).unwrap();
    let roots = [m.root_cert_der.clone()];
    let v = verify_timestamp(&resp, msg, &roots, &[]).unwrap();
    assert_eq!(v.gen_time_millis, GEN_TIME);
    assert_eq!(v.serial, vec![7]);
    assert_eq!(v.imprint_alg, "sha256");
    assert_eq!(v.tsa_chain_leaf_der, m.leaf_cert_der);
    assert!(matches!(
        verify_timestamp(&resp, b"signature bytez", &roots, &[]),
        Err(TsaError::ImprintMismatch)
    ));
    for i in 0..resp.len() {
        let mut bad = resp.clone();
        bad[i] ^= 0x01;
        assert!(
            verify_timestamp(&bad, msg, &roots, &[]).is_err(),
            "byte {i} flipped and still accepted"
        );
    }
    let (_, m2) = new_tsa();
    assert!(matches!(
        verify_timestamp(&resp, msg, &[m2.root_cert_der], &[]),
        Err(TsaError::UntrustedChain(_))
    ));
    // A request without certReq gives a token without the leaf: the caller supplies it.
    let resp = tsa
        .respond(&request_for(msg, Some(99), false), GEN_TIME, 8, &rng)
        .unwrap();
    assert!(matches!(
        verify_timestamp(&resp, msg, &roots, &[]),
        Err(TsaError::SignerNotFound)
    ));
    verify_timestamp(&resp, msg, &roots, std::slice::from_ref(&m.leaf_cert_der)).unwrap();
    // The material brings the same TSA back.
    let again = TimestampAuthority::from_material(&m).unwrap();
    assert_eq!(
        again.chain_der(),
        vec![m.leaf_cert_der.clone(), m.root_cert_der.clone()]
    );
}
