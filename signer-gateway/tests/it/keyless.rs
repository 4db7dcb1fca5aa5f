//! Keyless certificates, checked by tools we did not write.
//!
//! - OpenSSL (`openssl x509 -text`, `openssl verify`) reads the keyless leaf and chains it to the root.
//! - Python's `cryptography` (the library sigstore-python verifies with) rebuilds the precertificate
//!   TBS itself (`tbs_precertificate_bytes`), verifies the embedded SCT with the CT log key, and
//!   validates the chain with its own path builder.
//!
//! A missing `openssl`, or a Python (`STELLA_PYTHON`, else `python3`) without `cryptography`, skips with
//! a message — except under CI, where it fails (`support::require`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use signer_gateway::dsse::{hex, p256_spki_der};
use signer_gateway::keyless::{
    pem, CertRequest, CertificateAuthority, CtLog, FulcioIdentity, IssuedCert, San,
};

use crate::support::require;

/// 2023-11-14T22:13:20Z.
const NOW: u64 = 1_700_000_000;
const WORKFLOW: &str = "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main";

fn pkcs8() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec()
}

fn root(cn: &str) -> CertificateAuthority {
    CertificateAuthority::create_root(
        &pkcs8(),
        cn,
        "stella-ops",
        NOW - 3600,
        NOW + 365 * 86_400,
        &SystemRandom::new(),
    )
    .unwrap()
}

fn identity() -> FulcioIdentity {
    let s = |v: &str| Some(v.to_owned());
    FulcioIdentity {
        issuer: "https://token.actions.githubusercontent.com".into(),
        build_signer_uri: s(WORKFLOW),
        build_signer_digest: s("0123456789abcdef0123456789abcdef01234567"),
        runner_environment: s("github-hosted"),
        source_repository_uri: s("https://github.com/octo/app"),
        source_repository_digest: s("89abcdef0123456789abcdef0123456789abcdef"),
        source_repository_ref: s("refs/heads/main"),
        source_repository_identifier: s("123456"),
        source_repository_owner_uri: s("https://github.com/octo"),
        source_repository_owner_identifier: s("7890"),
        build_config_uri: s("https://github.com/octo/app/.github/workflows/ci.yml@refs/heads/main"),
        build_config_digest: s("fedcba9876543210fedcba9876543210fedcba98"),
        build_trigger: s("push"),
        run_invocation_uri: s("https://github.com/octo/app/actions/runs/42/attempts/1"),
        source_repository_visibility_at_signing: s("public"),
    }
}

fn issue(ca: &CertificateAuthority, log: &CtLog, identity: &FulcioIdentity) -> IssuedCert {
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &pkcs8(),
        &SystemRandom::new(),
    )
    .unwrap();
    let spki = p256_spki_der(key.public_key().as_ref()).unwrap();
    let req = CertRequest {
        subject_public_key_spki_der: &spki,
        san: San::Uri(WORKFLOW),
        identity,
        not_before: NOW,
        validity_secs: 600,
    };
    ca.issue(&req, Some(log), &SystemRandom::new()).unwrap()
}

/// A fresh directory under the test target dir.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("keyless-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Root, leaf (from the root), a leaf from another CA, the leaf with a broken SCT signature, and the CT
/// log key, as PEM files.
struct Fixture {
    dir: PathBuf,
    identity: FulcioIdentity,
    log_id: [u8; 32],
}

fn fixture(name: &str) -> Fixture {
    let dir = workdir(name);
    let (ca, other_ca) = (root("stella-keyless"), root("someone-else"));
    let log = CtLog::from_pkcs8(&pkcs8(), &SystemRandom::new()).unwrap();
    let identity = identity();
    let leaf = issue(&ca, &log, &identity);
    let foreign = issue(&other_ca, &log, &identity);
    let write = |file: &str, text: String| std::fs::write(dir.join(file), text).unwrap();
    write("root.pem", pem("CERTIFICATE", ca.cert_der()));
    write("leaf.pem", leaf.pem());
    write("foreign.pem", foreign.pem());
    // The leaf with the last byte of its SCT signature flipped.
    let sig = &leaf.sct.as_ref().unwrap().signature;
    let mut tampered = leaf.der.clone();
    let at = tampered
        .windows(sig.len())
        .position(|w| w == sig.as_slice())
        .unwrap();
    tampered[at + sig.len() - 1] ^= 1;
    write("tampered.pem", pem("CERTIFICATE", &tampered));
    write("ctlog.pem", pem("PUBLIC KEY", &log.public_key_spki_der()));
    Fixture {
        dir,
        identity,
        log_id: log.log_id(),
    }
}

fn run(cmd: &mut Command) -> Option<Output> {
    cmd.output().ok()
}

fn openssl() -> Option<()> {
    let found = run(Command::new("openssl").arg("version")).filter(|o| o.status.success());
    require(found.map(|_| ()), "openssl")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn openssl_reads_the_leaf() {
    if openssl().is_none() {
        return;
    }
    let fx = fixture("x509");
    let out = run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(fx.dir.join("leaf.pem")))
    .unwrap();
    let dump = text(&out);
    assert!(out.status.success(), "{dump}");
    let lines: Vec<&str> = dump.lines().map(str::trim).collect();
    let after = |header: &str| -> String {
        let at = lines
            .iter()
            .position(|l| l.starts_with(header))
            .unwrap_or_else(|| panic!("no {header:?} in\n{dump}"));
        lines.get(at + 1).copied().unwrap_or_default().to_owned()
    };

    // Exactly 600 s, both in UTCTime.
    assert!(
        lines.contains(&"Not Before: Nov 14 22:13:20 2023 GMT"),
        "{dump}"
    );
    assert!(
        lines.contains(&"Not After : Nov 14 22:23:20 2023 GMT"),
        "{dump}"
    );
    assert!(lines.contains(&"Subject:"), "empty subject: {dump}");
    assert!(lines.contains(&"Signature Algorithm: ecdsa-with-SHA256"));

    assert!(lines.contains(&"X509v3 Key Usage: critical"));
    assert_eq!(after("X509v3 Key Usage: critical"), "Digital Signature");
    assert_eq!(after("X509v3 Extended Key Usage"), "Code Signing");
    assert!(lines.contains(&"X509v3 Subject Alternative Name: critical"));
    assert_eq!(
        after("X509v3 Subject Alternative Name: critical"),
        format!("URI:{WORKFLOW}")
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with("X509v3 Authority Key Identifier")));

    // The deprecated .1 holds the raw issuer; .8–.22 a UTF8String each (OpenSSL dumps the tag and
    // length as two characters, `..`, before the text).
    assert_eq!(after("1.3.6.1.4.1.57264.1.1:"), fx.identity.issuer);
    for (arc, field, value) in fx.identity.entries() {
        let value = value.unwrap();
        let shown = after(&format!("1.3.6.1.4.1.57264.1.{arc}:"));
        assert!(
            shown.len() == value.len() + 2 && shown.ends_with(value),
            "{field}: {shown:?} is not {value:?}"
        );
    }

    // The SCT, with our log id, v1, ecdsa-with-SHA256.
    assert!(lines.contains(&"CT Precertificate SCTs:"), "{dump}");
    assert!(lines.contains(&"Version   : v1 (0x0)"), "{dump}");
    assert!(lines.contains(&"Signature : ecdsa-with-SHA256"), "{dump}");
    assert!(
        lines.contains(&"Timestamp : Nov 14 22:13:20.000 2023 GMT"),
        "{dump}"
    );
    let log_id = hex(&fx.log_id).to_uppercase();
    let pairs: Vec<String> = (0..32)
        .map(|i| log_id.get(2 * i..2 * i + 2).unwrap().to_owned())
        .collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Log ID    :"))
        .expect("Log ID");
    let shown: String = lines[at..at + 2]
        .join("")
        .trim_start_matches("Log ID    :")
        .replace(' ', "");
    assert_eq!(shown, pairs.join(":"), "{dump}");
}

#[test]
fn openssl_verifies_the_chain() {
    if openssl().is_none() {
        return;
    }
    let fx = fixture("verify");
    let verify = |leaf: &str, at: u64| {
        let out = run(Command::new("openssl")
            .args([
                "verify",
                "-purpose",
                "any",
                "-attime",
                &at.to_string(),
                "-CAfile",
            ])
            .arg(fx.dir.join("root.pem"))
            .arg(fx.dir.join(leaf)))
        .unwrap();
        (out.status.success(), text(&out))
    };
    let (ok, out) = verify("leaf.pem", NOW + 60);
    assert!(ok, "{out}");
    assert!(out.contains(": OK"), "{out}");
    // Still valid a second before notAfter, expired a second after it: the window is 600 s. (At
    // notAfter itself OpenSSL already says expired, though RFC 5280 counts that second in.)
    assert!(verify("leaf.pem", NOW + 599).0);
    let (ok, out) = verify("leaf.pem", NOW + 601);
    assert!(!ok && out.contains("expired"), "{out}");
    let (ok, out) = verify("leaf.pem", NOW - 1);
    assert!(!ok && out.contains("not yet valid"), "{out}");
    // A leaf from another CA does not chain to our root.
    let (ok, out) = verify("foreign.pem", NOW + 60);
    assert!(!ok, "{out}");
    assert!(
        out.contains("unable to get local issuer certificate"),
        "{out}"
    );
}

/// Rebuilds the RFC 6962 digitally-signed struct from what `cryptography` parses and verifies the SCT,
/// then validates the chain with `cryptography`'s own path builder at a time inside the window.
const SCT_CHECK: &str = r#"
import calendar, datetime, hashlib, struct, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import LogEntryType, Version
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store

d = sys.argv[1]
def read(name):
    return open(f"{d}/{name}", "rb").read()
leaf = x509.load_pem_x509_certificate(read(sys.argv[2]))
root = x509.load_pem_x509_certificate(read("root.pem"))
ct_key = serialization.load_pem_public_key(read("ctlog.pem"))
expect_log_id, expect_ms = bytes.fromhex(sys.argv[3]), int(sys.argv[4])

spki = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
assert not scts.critical
scts = list(scts.value)
assert len(scts) == 1, scts
sct = scts[0]
assert sct.version == Version.v1
assert sct.entry_type == LogEntryType.PRE_CERTIFICATE
assert sct.log_id == hashlib.sha256(spki(ct_key)).digest() == expect_log_id, sct.log_id.hex()
assert isinstance(sct.signature_hash_algorithm, hashes.SHA256)
ts = sct.timestamp.replace(tzinfo=datetime.timezone.utc)
ms = calendar.timegm(ts.timetuple()) * 1000 + ts.microsecond // 1000
assert ms == expect_ms, (ms, expect_ms)

tbs = leaf.tbs_precertificate_bytes
assert len(tbs) < len(leaf.tbs_certificate_bytes)
issuer_key_hash = hashlib.sha256(spki(root.public_key())).digest()
signed = (struct.pack(">BBQH", 0, 0, ms, 1) + issuer_key_hash
          + len(tbs).to_bytes(3, "big") + tbs
          + struct.pack(">H", len(sct.extension_bytes)) + sct.extension_bytes)
ct_key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))

when = datetime.datetime.fromtimestamp(expect_ms // 1000 + 60, datetime.timezone.utc)
chain = (PolicyBuilder().store(Store([root])).time(when)
         .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                             ee_policy=ExtensionPolicy.permit_all())
         .build_client_verifier().verify(leaf, []))
assert chain.chain[-1] == root
print("ok")
"#;

fn python() -> Option<PathBuf> {
    let py = std::env::var_os("STELLA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let has_it = run(Command::new(&py).args([
        "-c",
        "import cryptography.x509.verification as v; v.ExtensionPolicy",
    ]))
    .is_some_and(|o| o.status.success());
    require(
        has_it.then_some(py),
        "a Python (STELLA_PYTHON or python3) with cryptography >= 45 (tests/requirements.txt)",
    )
}

#[test]
fn python_cryptography_verifies_the_sct() {
    let Some(py) = python() else {
        return;
    };
    let fx = fixture("sct");
    let check = |leaf: &str, log_id: &[u8; 32]| {
        let out = run(Command::new(&py)
            .args(["-c", SCT_CHECK])
            .arg(&fx.dir)
            .args([leaf, &hex(log_id), &(NOW * 1000).to_string()]))
        .unwrap();
        (out.status.success(), text(&out))
    };
    let (ok, out) = check("leaf.pem", &fx.log_id);
    assert!(ok && out.trim() == "ok", "{out}");

    // The same script refuses what it must: a flipped SCT signature byte, a leaf from another CA
    // (its SCT was signed over that CA's key hash), and another log id.
    let (ok, out) = check("tampered.pem", &fx.log_id);
    assert!(!ok && out.contains("InvalidSignature"), "{out}");
    let (ok, out) = check("foreign.pem", &fx.log_id);
    assert!(!ok && out.contains("InvalidSignature"), "{out}");
    let (ok, out) = check("leaf.pem", &[0; 32]);
    assert!(!ok && out.contains("AssertionError"), "{out}");
}
