//! A keyless bundle from the Attestor verifies with sigstore-python 4.x against the exported
//! ClientTrustConfig, offline; changing one byte of the payload, signature, certificate, inclusion
//! proof or checkpoint makes it fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use attestor::bundle::VerificationContent;
use attestor::service::{Attestor, AttestorConfig, KeylessTrust};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use signer_gateway::dsse::{Envelope, KeySource, MemoryKey};
use signer_gateway::keyless::{CertRequest, CertificateAuthority, CtLog, FulcioIdentity, San};

const SAN: &str = "https://github.com/acme/app/.github/workflows/build.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const DIGEST: &str = "54303491a8418fbed24344b513546182c29b43bf282ceb433af65e2299f9271f";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The `sigstore` command of the venv `STELLA_PYTHON` belongs to; `None` (skip) outside CI.
fn sigstore_cli() -> Option<PathBuf> {
    match std::env::var_os("STELLA_PYTHON") {
        Some(py) => {
            let cli = Path::new(&py).with_file_name("sigstore");
            assert!(
                cli.exists(),
                "{} is missing: pip install sigstore",
                cli.display()
            );
            Some(cli)
        }
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "STELLA_PYTHON must be set under CI (tests/run.sh sets it)"
            );
            eprintln!("SKIPPED: STELLA_PYTHON is not set, sigstore-python interop not checked");
            None
        }
    }
}

struct Made {
    dir: tempfile::TempDir,
    bundle: Value,
    trust_config: PathBuf,
}

async fn keyless_bundle() -> Made {
    let rng = SystemRandom::new();
    let t = now();
    let ca_key = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let ca = CertificateAuthority::create_root(
        ca_key.as_ref(),
        "stella keyless CA",
        "Stella Ops",
        t - 3600,
        t + 10 * 365 * 86_400,
        &rng,
    )
    .unwrap();
    let ct_key = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let ct = CtLog::from_pkcs8(ct_key.as_ref(), &rng).unwrap();
    let (key, _) = MemoryKey::generate(&rng).unwrap();
    let spki = key.public_key_spki_der();
    let mut ident = FulcioIdentity::new(ISSUER);
    ident.source_repository_uri = Some("https://github.com/acme/app".into());
    let cert = ca
        .issue(
            &CertRequest {
                subject_public_key_spki_der: &spki,
                san: San::Uri(SAN),
                identity: &ident,
                not_before: t - 5,
                validity_secs: 600,
            },
            Some(&ct),
            &rng,
        )
        .unwrap();
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example/app", "digest": {"sha256": DIGEST}}],
        "predicateType": "https://cyclonedx.org/bom",
        "predicate": {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []},
    });
    let env = Envelope::sign(
        "application/vnd.in-toto+json",
        serde_json::to_vec(&statement).unwrap(),
        &key,
        "",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let att: Arc<Attestor> = Attestor::open(
        dir.path(),
        AttestorConfig::new("http://127.0.0.1:8440"),
        KeylessTrust {
            ca_chain_der: vec![ca.cert_der().to_vec()],
            ct_spki_der: ct.public_key_spki_der(),
        },
        attestor::service::system_clock_ms(),
    )
    .unwrap();
    // A few entries first, so the proof has hashes in it.
    for _ in 0..5 {
        let (k, _) = MemoryKey::generate(&rng).unwrap();
        let e = Envelope::sign("application/vnd.in-toto+json", b"{}".to_vec(), &k, "").unwrap();
        att.log_dsse_with_key(&e, &k.public_key_spki_der(), "k")
            .await
            .unwrap();
    }
    let logged = att
        .log_dsse(&env, VerificationContent::Certificate(cert.der.clone()))
        .await
        .unwrap();
    assert_eq!(logged.index, 5);
    let trust_config = dir.path().join("trust_config.json");
    std::fs::write(
        &trust_config,
        serde_json::to_vec_pretty(&att.client_trust_config()).unwrap(),
    )
    .unwrap();
    Made {
        bundle: logged.bundle.to_json(),
        dir,
        trust_config,
    }
}

fn verify(cli: &Path, made: &Made, bundle: &Value, name: &str) -> Result<(), String> {
    let path = made.dir.path().join(format!("{name}.sigstore.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(bundle).unwrap()).unwrap();
    let out = Command::new(cli)
        .arg("--trust-config")
        .arg(&made.trust_config)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(&path)
        .args(["--cert-identity", SAN, "--cert-oidc-issuer", ISSUER])
        .arg(format!("sha256:{DIGEST}"))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Flips one bit of the base64 bytes at `pointer` (byte `at`, from the end when negative).
fn flip_b64(bundle: &Value, pointer: &str, at: isize) -> Value {
    let mut b = bundle.clone();
    let s = b.pointer(pointer).unwrap().as_str().unwrap().to_owned();
    let mut bytes = B64.decode(&s).unwrap();
    let i = if at < 0 {
        (bytes.len() as isize + at) as usize
    } else {
        at as usize
    };
    bytes[i] ^= 0x01;
    *b.pointer_mut(pointer).unwrap() = json!(B64.encode(&bytes));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_bundle_verifies_with_sigstore_python_and_every_tamper_fails() {
    let Some(cli) = sigstore_cli() else {
        return;
    };
    let made = keyless_bundle().await;
    let b = &made.bundle;
    verify(&cli, &made, b, "good")
        .unwrap_or_else(|e| panic!("sigstore-python refused: {e}\n{b:#}"));

    let tl = "/verificationMaterial/tlogEntries/0";
    let mut cases: Vec<(&str, Value)> = vec![
        ("payload", flip_b64(b, "/dsseEnvelope/payload", 40)),
        ("signature", flip_b64(b, "/dsseEnvelope/signatures/0/sig", -3)),
        (
            "certificate",
            flip_b64(b, "/verificationMaterial/certificate/rawBytes", -20),
        ),
        (
            "inclusion proof hash",
            flip_b64(b, &format!("{tl}/inclusionProof/hashes/0"), 0),
        ),
        (
            "inclusion proof root",
            flip_b64(b, &format!("{tl}/inclusionProof/rootHash"), 5),
        ),
        (
            "timestamp",
            flip_b64(
                b,
                "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp",
                -10,
            ),
        ),
    ];
    // The checkpoint: one character of its root line, then one of its signature.
    for (what, line) in [("checkpoint root", 2usize), ("checkpoint signature", 4)] {
        let mut t = b.clone();
        let p = format!("{tl}/inclusionProof/checkpoint/envelope");
        let text = t.pointer(&p).unwrap().as_str().unwrap().to_owned();
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        let l = &mut lines[line];
        let k = l.len() - 6;
        let c = if &l[k..=k] == "A" { "B" } else { "A" };
        l.replace_range(k..=k, c);
        *t.pointer_mut(&p).unwrap() = json!(lines.join("\n"));
        cases.push((what, t));
    }
    for (what, tampered) in cases {
        assert!(
            verify(&cli, &made, &tampered, &what.replace(' ', "-")).is_err(),
            "sigstore-python accepted a bundle with a changed {what}"
        );
    }
}
