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
fn openssl_reads_our_rejections() {
    let Some(openssl) = openssl() else { return };
    let (tsa, _) = new_tsa();
    let dir = tempfile::tempdir().unwrap();
    let mut sha1_query = request_for(b"m", None, false);
    // Turn the SHA-256 imprint into a (wrongly long) SHA-1 one: badAlg comes before the length.
    let sha256_oid = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    let at = sha1_query
        .windows(11)
        .position(|w| w == sha256_oid)
        .unwrap();
    sha1_query.splice(at..at + 11, [0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a]);
    sha1_query[1] -= 4;
    sha1_query[6] -= 4;
    sha1_query[8] -= 4;
    let cases: [(&[u8], &str); 2] = [
        (b"garbage", "transaction not permitted or supported"),
        (&sha1_query, "unrecognized or unsupported algorithm"),
    ];
    for (query, want) in cases {
        let resp = tsa
            .respond(query, GEN_TIME, 1, &SystemRandom::new())
            .unwrap();
        let path = write(dir.path(), "rej.der", &resp);
        let (ok, text) = run(Command::new(openssl)
            .args(["ts", "-reply", "-text", "-in"])
            .arg(&path));
        assert!(ok, "{text}");
        assert!(text.contains("Status: Rejected."), "{text}");
        assert!(text.contains(want), "{want}: {text}");
    }
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

/// Checks a response the way sigstore-python 4.x does: rfc3161-client's `VerifierBuilder` with
/// the TSA leaf and root (as `_verify_signed_timestamp` builds it), then sigstore-python's own
/// `Verifier._verify_signed_timestamp` against a trusted root holding our chain; and that both
/// refuse another message. Prints what it read as JSON.
const SIGSTORE_PY: &str = r#"
import json, pathlib, sys
from cryptography import x509
from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response
from sigstore._internal.timestamp import TimestampSource
from sigstore.models import TrustedRoot
from sigstore.verify.verifier import Verifier

d = pathlib.Path(sys.argv[1])
resp = decode_timestamp_response((d / "resp.der").read_bytes())
msg = (d / "msg").read_bytes()
leaf = x509.load_der_x509_certificate((d / "leaf.der").read_bytes())
root = x509.load_der_x509_certificate((d / "root.der").read_bytes())

def rfc3161_client_verifier():
    return VerifierBuilder().tsa_certificate(leaf).add_root_certificate(root).build()

assert rfc3161_client_verifier().verify_message(resp, msg) is True

# sigstore-python's Verifier.__init__ wants Fulcio and Rekor material we do not need here;
# the TSA check only reads the trusted root.
verifier = object.__new__(Verifier)
verifier._trusted_root = TrustedRoot.from_file(str(d / "trusted_root.json"))
result = verifier._verify_signed_timestamp(resp, msg)
assert result is not None, "sigstore-python did not accept the timestamp"
assert result.source == TimestampSource.TIMESTAMP_AUTHORITY

try:
    rfc3161_client_verifier().verify_message(resp, msg + b"!")
    raise SystemExit("rfc3161-client accepted another message")
except VerificationError:
    pass
assert verifier._verify_signed_timestamp(resp, msg + b"!") is None

print(json.dumps({
    "time": result.time.isoformat(),
    "policy": resp.tst_info.policy.dotted_string,
    "serial": resp.tst_info.serial_number,
    "nonce": resp.tst_info.nonce,
    "certs": len(resp.signed_data.certificates),
}))
"#;

fn stella_python() -> Option<String> {
    match std::env::var("STELLA_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            eprintln!(
                "\n*** SKIPPED: STELLA_PYTHON is not set, so the sigstore-python / rfc3161-client \
                 interop test did NOT run. Point it at a python with sigstore 4.x installed, e.g. \
                 STELLA_PYTHON=/work/main/target/venv/bin/python ***\n"
            );
            None
        }
    }
}

/// A Sigstore trusted_root.json whose only TSA is ours (leaf first, then root).
fn trusted_root_json(m: &TsaMaterial) -> String {
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [{
            "subject": {"organization": "Stella Ops", "commonName": "Stella Ops Test TSA"},
            "uri": "https://tsa.stella.invalid/api/v1/timestamp",
            "certChain": {"certificates": [
                {"rawBytes": b64(&m.leaf_cert_der)},
                {"rawBytes": b64(&m.root_cert_der)}
            ]},
            "validFor": {"start": "2026-12-03T00:00:00Z"}
        }]
    })
    .to_string()
}

#[test]
fn sigstore_python_accepts_our_timestamps() {
    let Some(python) = stella_python() else {
        return;
    };
    let rng = SystemRandom::new();
    let (tsa, m) = new_tsa();
    let msg = b"MEUCIQD... a DSSE signature";
    let cases = [
        (
            "timestamp_message",
            tsa.timestamp_message(msg, GEN_TIME, 77, &rng).unwrap(),
            1,
            None,
        ),
        (
            "nonce, no certReq",
            tsa.respond(
                &request_for(msg, Some(0xfeed_f00d), false),
                GEN_TIME,
                78,
                &rng,
            )
            .unwrap(),
            0,
            Some(0xfeed_f00d_u64),
        ),
        (
            "whole seconds",
            tsa.timestamp_message(msg, GEN_TIME - 250, 79, &rng)
                .unwrap(),
            1,
            None,
        ),
    ];
    for (name, resp, certs, nonce) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "resp.der", &resp);
        write(dir.path(), "msg", msg);
        write(dir.path(), "leaf.der", &m.leaf_cert_der);
        write(dir.path(), "root.der", &m.root_cert_der);
        write(dir.path(), "trusted_root.json", trusted_root_json(&m));
        let out = Command::new(&python)
            .arg("-c")
            .arg(SIGSTORE_PY)
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name}: sigstore-python refused it:\n{stderr}"
        );
        let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // rfc3161-client reads the fractional genTime and keeps whole seconds.
        assert_eq!(seen["time"], "2026-12-03T14:50:36+00:00", "{name}");
        assert_eq!(seen["policy"], STELLA_TSA_POLICY, "{name}");
        assert_eq!(seen["certs"], certs, "{name}");
        assert_eq!(seen["nonce"].as_u64(), nonce, "{name}");
    }
}

// A real Sigstore staging timestamp and the staging trusted root's TSA chains, copied from
// conda-attestation-rekor2.sigstore.json and trusted_root_staging.json (sigstore-python test data).

/// verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp.
const STAGING_TIMESTAMP: &str = concat!(
    "MIIE6jADAgEAMIIE4QYJKoZIhvcNAQcCoIIE0jCCBM4CAQMxDTALBglghkgBZQMEAgEwgcMGCyqGSIb3DQEJEAEE",
    "oIGzBIGwMIGtAgEBBgkrBgEEAYO/MAIwMTANBglghkgBZQMEAgEFAAQgT+syEhwBsFJBzpGsTzmK/V+WYaRavslr",
    "WNcubLIJ98cCFQDtl/TBXCHg74U1iIASP+2TxLYC0xgPMjAyNjA1MjYwNzQyMjFaMAMCAQECCQC9rITQcfKU+KAy",
    "pDAwLjEVMBMGA1UEChMMc2lnc3RvcmUuZGV2MRUwEwYDVQQDEwxzaWdzdG9yZS10c2GgggITMIICDzCCAZagAwIB",
    "AgIUCjWhBmHV4kFzxomWp/J98n4DfKcwCgYIKoZIzj0EAwMwOTEVMBMGA1UEChMMc2lnc3RvcmUuZGV2MSAwHgYD",
    "VQQDExdzaWdzdG9yZS10c2Etc2VsZnNpZ25lZDAeFw0yNTAzMjgwOTE0MDZaFw0zNTAzMjYwODE0MDZaMC4xFTAT",
    "BgNVBAoTDHNpZ3N0b3JlLmRldjEVMBMGA1UEAxMMc2lnc3RvcmUtdHNhMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE",
    "x1v5F3HpD9egHuknpBFlRz7QBRDJu4aeVzt9zJLRY0lvmx1lF7WBM2c9AN8ZGPQsmDqHlJN2R/7+RxLkvlLzkc19",
    "IOx38t7mGGEcB7agUDdCF/Ky3RTLSK0Xo/0AgHQdo2owaDAOBgNVHQ8BAf8EBAMCB4AwHQYDVR0OBBYEFKj8ZPYo",
    "3i7mO3NPVIxSxOGc3VOlMB8GA1UdIwQYMBaAFDsgRlletTJNRzDObmPuc3RH8gR9MBYGA1UdJQEB/wQMMAoGCCsG",
    "AQUFBwMIMAoGCCqGSM49BAMDA2cAMGQCMESvVS6GGtF33+J19TfwENWJXjRv4i0/HQFwLUSkX6TfV7g0nG8VnqNH",
    "JLvEpAtOjQIwUD3uywTXorQP1DgbV09rF9Yen+CEqs/iEpieJWPst280SSOZ5Na+dyPVk9/8SFk6MYIB2zCCAdcC",
    "AQEwUTA5MRUwEwYDVQQKEwxzaWdzdG9yZS5kZXYxIDAeBgNVBAMTF3NpZ3N0b3JlLXRzYS1zZWxmc2lnbmVkAhQK",
    "NaEGYdXiQXPGiZan8n3yfgN8pzALBglghkgBZQMEAgGggfwwGgYJKoZIhvcNAQkDMQ0GCyqGSIb3DQEJEAEEMBwG",
    "CSqGSIb3DQEJBTEPFw0yNjA1MjYwNzQyMjFaMC8GCSqGSIb3DQEJBDEiBCBHrLMozugr1dBonLPKAI2buQFNZsq2",
    "vjxuZoLuTLnO7TCBjgYLKoZIhvcNAQkQAi8xfzB9MHsweQQgBvT/4Ef+s1mZtzOw16MjUBz8GOTAM2aoRdd1NudL",
    "J0QwVTA9pDswOTEVMBMGA1UEChMMc2lnc3RvcmUuZGV2MSAwHgYDVQQDExdzaWdzdG9yZS10c2Etc2VsZnNpZ25l",
    "ZAIUCjWhBmHV4kFzxomWp/J98n4DfKcwCgYIKoZIzj0EAwIEZzBlAjEAve6v8X5J0UdlqP03ZZS+rN6/DH2ylF2a",
    "ZLTGeeKh+pJF7Mcm6V0rNi1tVLPWmoL/AjARc8Q147M9jHMnJ6NkPUPfaeuGnebMb/cC/B9fYcSTSCaieugS+7EZ",
    "SHpIyhmOrHo=",
);

/// dsseEnvelope.signatures[0].sig: the timestamped message, base64.
const STAGING_DSSE_SIG: &str = concat!(
    "MEQCICa0brTkBBiIWRK8hSjQaVvtSfdYxTydkMSMFq/bSDAOAiB8TwVGeNGG6UWwJB/uvSg4jV6c/VLSV8snsILZ",
    "y2xBbg==",
);

/// timestampAuthorities[0].certChain.certificates[0] (valid from 2025-04-09T00:00:00Z).
const STAGING_TSA0_LEAF: &str = concat!(
    "MIICDzCCAZagAwIBAgIUCjWhBmHV4kFzxomWp/J98n4DfKcwCgYIKoZIzj0EAwMwOTEVMBMGA1UEChMMc2lnc3Rv",
    "cmUuZGV2MSAwHgYDVQQDExdzaWdzdG9yZS10c2Etc2VsZnNpZ25lZDAeFw0yNTAzMjgwOTE0MDZaFw0zNTAzMjYw",
    "ODE0MDZaMC4xFTATBgNVBAoTDHNpZ3N0b3JlLmRldjEVMBMGA1UEAxMMc2lnc3RvcmUtdHNhMHYwEAYHKoZIzj0C",
    "AQYFK4EEACIDYgAEx1v5F3HpD9egHuknpBFlRz7QBRDJu4aeVzt9zJLRY0lvmx1lF7WBM2c9AN8ZGPQsmDqHlJN2",
    "R/7+RxLkvlLzkc19IOx38t7mGGEcB7agUDdCF/Ky3RTLSK0Xo/0AgHQdo2owaDAOBgNVHQ8BAf8EBAMCB4AwHQYD",
    "VR0OBBYEFKj8ZPYo3i7mO3NPVIxSxOGc3VOlMB8GA1UdIwQYMBaAFDsgRlletTJNRzDObmPuc3RH8gR9MBYGA1Ud",
    "JQEB/wQMMAoGCCsGAQUFBwMIMAoGCCqGSM49BAMDA2cAMGQCMESvVS6GGtF33+J19TfwENWJXjRv4i0/HQFwLUSk",
    "X6TfV7g0nG8VnqNHJLvEpAtOjQIwUD3uywTXorQP1DgbV09rF9Yen+CEqs/iEpieJWPst280SSOZ5Na+dyPVk9/8",
    "SFk6",
);

/// timestampAuthorities[0].certChain.certificates[1] (valid from 2025-04-09T00:00:00Z).
const STAGING_TSA0_ROOT: &str = concat!(
    "MIIB9zCCAXygAwIBAgIUCPExEFKiQh0dP4sp5ltmSYSSkFUwCgYIKoZIzj0EAwMwOTEVMBMGA1UEChMMc2lnc3Rv",
    "cmUuZGV2MSAwHgYDVQQDExdzaWdzdG9yZS10c2Etc2VsZnNpZ25lZDAeFw0yNTAzMjgwOTE0MDZaFw0zNTAzMjYw",
    "ODE0MDZaMDkxFTATBgNVBAoTDHNpZ3N0b3JlLmRldjEgMB4GA1UEAxMXc2lnc3RvcmUtdHNhLXNlbGZzaWduZWQw",
    "djAQBgcqhkjOPQIBBgUrgQQAIgNiAATt0tIDWyo4ARfL9BaSo0W5bJQEbKJTU/u7llvdjSI5aTkOAJa8tixn2+LE",
    "fPG4dMFdsMPtsIuU1qn2OqFiuMk6vHv/c+az25RQVY1oo50iMb0jIL3N4FgwhPFpZnCbQPOjRTBDMA4GA1UdDwEB",
    "/wQEAwIBBjASBgNVHRMBAf8ECDAGAQH/AgEAMB0GA1UdDgQWBBQ7IEZZXrUyTUcwzm5j7nN0R/IEfTAKBggqhkjO",
    "PQQDAwNpADBmAjEA2MI1VXgbf3dUOSc95hSRypBKOab18eh2xzQtxUsHvWeY+1iFgyMluUuNR6taoSmFAjEA31m2",
    "czguZhKYX+4JSKu5pRYhBTXAd8KKQ3xdPRX/qCaLvT2qJAEQ1YQM3EJRrtI7",
);

/// timestampAuthorities[1].certChain.certificates[0] (valid from 2026-06-12T00:00:00Z).
const STAGING_TSA1_LEAF: &str = concat!(
    "MIIB9jCCAX2gAwIBAgITTP0hkp+x1+/mmEBLWOiqeGypHzAKBggqhkjOPQQDAzAtMQkwBwYDVQQKEwAxIDAeBgNV",
    "BAMTF3NpZ3N0b3JlLXRzYS1zZWxmc2lnbmVkMB4XDTI2MDYwOTIzMjAzOFoXDTI3MDYwOTIzMjAzOFowIjEJMAcG",
    "A1UEChMAMRUwEwYDVQQDEwxzaWdzdG9yZS10c2EwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAATpQMZ7nRZEFEdgNpbn",
    "TkzJLZYTEK/mfcaK2Z599gAKxUA491TclvFOFbdAd2J9Fje9ltnaC3vUteFKRD+Distjv3wRQkML6Egd1QW5ylik",
    "lOOyfsPOPH3hhzn3MTrsrWijajBoMA4GA1UdDwEB/wQEAwIHgDAdBgNVHQ4EFgQULgCD26lmo5+zJfBBhU0sASIj",
    "tiIwHwYDVR0jBBgwFoAUI6cr8xtGSBYaQD42ecwOGAiM4EIwFgYDVR0lAQH/BAwwCgYIKwYBBQUHAwgwCgYIKoZI",
    "zj0EAwMDZwAwZAIwYubMlZ3LLoXXRjBEv+D7GNbMVk7VBaQm30h9kdSXImuI5pRSttP35WLCYhTH5izIAjBX8qB8",
    "fdjKyGOewkeBap6aObAh//sAuUxbcoeG06U1f4Q4noS7wr1xktAp8rA64A4=",
);

/// timestampAuthorities[1].certChain.certificates[1] (valid from 2026-06-12T00:00:00Z).
const STAGING_TSA1_ROOT: &str = concat!(
    "MIIB3TCCAWSgAwIBAgIUeuz1txaqKQugtvTpF2igNs/fkw8wCgYIKoZIzj0EAwMwLTEJMAcGA1UEChMAMSAwHgYD",
    "VQQDExdzaWdzdG9yZS10c2Etc2VsZnNpZ25lZDAeFw0yNjA2MDkyMzIwMzhaFw0yNzA2MDkyMzIwMzhaMC0xCTAH",
    "BgNVBAoTADEgMB4GA1UEAxMXc2lnc3RvcmUtdHNhLXNlbGZzaWduZWQwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAASS",
    "wC2l89yeW+qpxMXmDu9gvtyutJrIsoUxRDm17leybov+t352Lxu6htNotY2rYFDUwNWQUtargkNQpLK+z3LQHCgh",
    "ERPmdhuUDiYt2B5yEJB9lZ+m2ws+ZWeoFS68QS+jRTBDMA4GA1UdDwEB/wQEAwIBBjASBgNVHRMBAf8ECDAGAQH/",
    "AgEAMB0GA1UdDgQWBBQjpyvzG0ZIFhpAPjZ5zA4YCIzgQjAKBggqhkjOPQQDAwNnADBkAjBPd9pAsZ/TBvuhunrL",
    "9g9kBTuDqkwh0SGem6S1GYHnIA9xFkCvMG5Z2SeplW866FoCMBXLO3NmXYhfsZLD2E2sAG/tDwee8OadoW2QpJMD",
    "8Q5qAXjEnCjPVUIlQuiq2FNFtg==",
);

fn b64d(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn the_real_sigstore_staging_timestamp_verifies_and_any_change_breaks_it() {
    let resp = b64d(STAGING_TIMESTAMP);
    let msg = b64d(STAGING_DSSE_SIG);
    let roots = [b64d(STAGING_TSA0_ROOT), b64d(STAGING_TSA1_ROOT)];
    let v = verify_timestamp(&resp, &msg, &roots, &[]).unwrap();
    // 2026-05-26T07:42:21Z, Sigstore's policy, SHA-256 imprint, signed by the P-384 leaf of the
    // first staging TSA (an ecdsa-with-SHA256 signature by a P-384 key, P-384/SHA-384 chain).
    assert_eq!(v.gen_time_millis, 1_779_781_341_000);
    assert_eq!(v.policy, "1.3.6.1.4.1.57264.2");
    assert_eq!(v.imprint_alg, "sha256");
    assert_eq!(
        v.imprint,
        ring::digest::digest(&ring::digest::SHA256, &msg).as_ref()
    );
    assert_eq!(v.serial[..3], [0x00, 0xed, 0x97]);
    assert_eq!(v.tsa_chain_leaf_der, b64d(STAGING_TSA0_LEAF));
    // With the leaf given out of band too, and with the first TSA's root alone.
    verify_timestamp(&resp, &msg, &roots[..1], &[b64d(STAGING_TSA0_LEAF)]).unwrap();

    // Another root (the second staging TSA's, or ours) is not trusted.
    let (_, ours) = new_tsa();
    for other in [vec![roots[1].clone()], vec![ours.root_cert_der], vec![]] {
        assert!(matches!(
            verify_timestamp(&resp, &msg, &other, &[b64d(STAGING_TSA1_LEAF)]),
            Err(TsaError::UntrustedChain(_))
        ));
    }
    // Pinning the leaf itself as the trust anchor is allowed (a trust decision of the caller's).
    verify_timestamp(&resp, &msg, &[b64d(STAGING_TSA0_LEAF)], &[]).unwrap();

    // Any byte of the message, any byte of the response.
    for i in 0..msg.len() {
        let mut bad = msg.clone();
        bad[i] ^= 0x80;
        assert!(matches!(
            verify_timestamp(&resp, &bad, &roots, &[]),
            Err(TsaError::ImprintMismatch)
        ));
    }
    for i in 0..resp.len() {
        for flip in [0x01, 0x80] {
            let mut bad = resp.clone();
            bad[i] ^= flip;
            assert!(
                verify_timestamp(&bad, &msg, &roots, &[]).is_err(),
                "byte {i} ^ {flip:#x} changed and the timestamp still verified"
            );
        }
    }
    // Truncations and trailing bytes.
    for n in 0..resp.len() {
        assert!(
            verify_timestamp(&resp[..n], &msg, &roots, &[]).is_err(),
            "truncated to {n}"
        );
    }
    let mut longer = resp.clone();
    longer.push(0);
    assert!(verify_timestamp(&longer, &msg, &roots, &[]).is_err());
}
