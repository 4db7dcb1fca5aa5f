//! The Sigstore formats against real documents (shared/testdata/sigstore), hostile inputs, and
//! sigstore-python.

// Helpers outside `#[test]` functions panic on setup failures by design; clippy.toml's test allowances
// only cover the test functions themselves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use attestor::bundle::{Bundle, BundleContent, VerificationContent, BUNDLE_V03_MEDIA_TYPE};
use attestor::jcs::{self, JcsError};
use attestor::rekor::{
    parse_create_request, EntryError, FieldError, HashedRekordV002, InclusionProof, KeyDetails,
    TlogEntry, Verifier,
};
use attestor::trust_root::{
    client_trust_config, rfc3339, CertificateAuthority, ClientTrustConfig, Service,
    ServiceConfiguration, ServiceSelector, SigningConfig, TransparencyLogInstance, TrustRootError,
    TrustedRoot, ValidFor,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha384};

fn testdata(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("STELLA_SIGSTORE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/sigstore")
        });
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

const CONDA: &str = "conda-attestation-rekor2.sigstore.json";
const COSIGN: &str = "cosign-v3-blob.sigstore.json";

fn conda_bundle() -> Bundle {
    Bundle::parse(&testdata(CONDA)).unwrap()
}

fn conda_cert(b: &Bundle) -> Vec<u8> {
    match &b.content {
        VerificationContent::Certificate(der) => der.clone(),
        other => panic!("conda bundle has {other:?}"),
    }
}

fn conda_envelope(b: &Bundle) -> signer_gateway::dsse::Envelope {
    match &b.body {
        BundleContent::Dsse(env) => env.clone(),
        other => panic!("conda bundle has {other:?}"),
    }
}

/// The conda bundle's entry, rebuilt from its certificate and DSSE envelope.
fn conda_entry() -> HashedRekordV002 {
    let b = conda_bundle();
    HashedRekordV002::for_dsse(
        &conda_envelope(&b),
        Verifier::X509Certificate {
            der: conda_cert(&b),
        },
    )
    .unwrap()
}

// ----------------------------------------------------------------------------------------------
// Bundles.

#[test]
fn real_bundles_parse_and_reserialise_to_the_same_json() {
    for name in [CONDA, COSIGN] {
        let bytes = testdata(name);
        let b = Bundle::parse(&bytes).unwrap();
        assert_eq!(b.media_type, BUNDLE_V03_MEDIA_TYPE);
        assert_eq!(b.tlog_entries.len(), 1, "{name}");
        assert_eq!(b.rfc3161_timestamps.len(), 1, "{name}");
        assert_eq!(b.to_json(), json_of(&bytes), "{name}");
        // The bytes we write read back to the same bundle, and are stable.
        let again = Bundle::parse(&b.to_json_bytes()).unwrap();
        assert_eq!(again, b);
        assert_eq!(again.to_json_bytes(), b.to_json_bytes());
    }
}

#[test]
fn conda_bundle_fields() {
    let b = conda_bundle();
    let e = &b.tlog_entries[0];
    assert_eq!(e.log_index, 4_197_416);
    assert_eq!(e.kind, "hashedrekord");
    assert_eq!(e.version, "0.0.2");
    assert_eq!(e.integrated_time, None);
    assert_eq!(e.inclusion_promise, None);
    assert_eq!(e.inclusion_proof.tree_size, 4_197_418);
    assert_eq!(e.inclusion_proof.hashes.len(), 6);
    assert!(e
        .inclusion_proof
        .checkpoint
        .starts_with("log2025-alpha3.rekor.sigstage.dev\n4197418\n"));
    let env = conda_envelope(&b);
    assert_eq!(env.payload_type, "application/vnd.in-toto+json");

    let cosign = Bundle::parse(&testdata(COSIGN)).unwrap();
    let e = &cosign.tlog_entries[0];
    assert_eq!(e.integrated_time, Some(1_764_787_003));
    assert!(e.inclusion_promise.is_some());
    match &cosign.body {
        BundleContent::MessageSignature {
            algorithm, digest, ..
        } => {
            assert_eq!(algorithm, "SHA2_256");
            assert_eq!(
                digest.as_slice(),
                Sha256::digest(testdata("cosign-v3-blob.txt")).as_slice()
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bundle_bad_inputs_are_refused_with_what_is_wrong() {
    let good = json_of(&testdata(CONDA));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        Bundle::parse(v.to_string().as_bytes()).unwrap_err()
    };
    assert!(matches!(
        Bundle::parse(b"{\"mediaType\":"),
        Err(attestor::bundle::BundleError::Json(_))
    ));
    use attestor::bundle::BundleError as E;
    assert_eq!(
        with(&|v| v["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v9+json")),
        E::MediaType("application/vnd.dev.sigstore.bundle.v9+json".into())
    );
    assert_eq!(
        with(&|v| v["verificationMaterial"]["publicKey"] = json!({"hint": "k"})),
        E::MaterialOneOf
    );
    assert_eq!(
        with(&|v| v["messageSignature"] = json!({"signature": "AAAA"})),
        E::ContentOneOf
    );
    assert_eq!(
        with(&|v| v["extra"] = json!(1)),
        E::Field(FieldError::Unknown("extra".into()))
    );
    assert_eq!(
        with(&|v| v["verificationMaterial"]["tlogEntries"][0]["logIndex"] = json!("-4")),
        E::Field(FieldError::Integer {
            path: "verificationMaterial.tlogEntries[0].logIndex".into()
        })
    );
    assert!(matches!(
        with(&|v| v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["treeSize"] = json!("4197416")),
        E::Field(FieldError::Invalid { path, .. }) if path == "verificationMaterial.tlogEntries[0].inclusionProof.logIndex"
    ));
    assert!(matches!(
        with(&|v| v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][2] = json!("AAAA")),
        E::Field(FieldError::Invalid { path, .. }) if path == "verificationMaterial.tlogEntries[0].inclusionProof.hashes[2]"
    ));
    assert_eq!(
        with(&|v| {
            v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
                .as_object_mut()
                .unwrap()
                .remove("checkpoint");
        }),
        E::Field(FieldError::Missing(
            "verificationMaterial.tlogEntries[0].inclusionProof.checkpoint".into()
        ))
    );
    assert!(matches!(
        with(&|v| v["dsseEnvelope"]["signatures"][0]["sig"] = json!("not base64!")),
        E::Field(FieldError::Base64 { path, .. }) if path == "dsseEnvelope.signatures[0].sig"
    ));
    assert!(matches!(
        with(&|v| v["verificationMaterial"]["certificate"]["rawBytes"] = json!(7)),
        E::Field(FieldError::WrongType { path, .. }) if path == "verificationMaterial.certificate.rawBytes"
    ));
}

#[test]
fn tlog_entry_round_trips_alone() {
    let entry = TlogEntry {
        log_index: 3,
        log_id: vec![7; 32],
        kind: "hashedrekord".into(),
        version: "0.0.2".into(),
        integrated_time: None,
        inclusion_promise: None,
        inclusion_proof: InclusionProof {
            log_index: 3,
            root_hash: vec![1; 32],
            tree_size: 4,
            hashes: vec![vec![2; 32], vec![3; 32]],
            checkpoint: "stella.example/log\n4\nAQEB\n\n— stella.example/log abcd\n".into(),
        },
        canonicalized_body: b"{}".to_vec(),
    };
    let v = entry.to_json();
    assert_eq!(v["logIndex"], json!("3"));
    assert_eq!(v["inclusionProof"]["treeSize"], json!("4"));
    assert!(v.get("integratedTime").is_none());
    assert_eq!(TlogEntry::from_json(&v).unwrap(), entry);
}

// ----------------------------------------------------------------------------------------------
// hashedrekord v0.0.2.

#[test]
fn canonical_body_reproduces_the_conda_entry_byte_for_byte() {
    let b = conda_bundle();
    let entry = conda_entry();
    assert_eq!(entry.key_details, KeyDetails::PkixEcdsaP256Sha256);
    let env = conda_envelope(&b);
    let pae = signer_gateway::dsse::pae(&env.payload_type, &env.payload);
    assert_eq!(entry.digest, Sha256::digest(&pae).to_vec());
    assert_eq!(
        entry.canonical_body().unwrap(),
        b.tlog_entries[0].canonicalized_body,
        "our canonical body differs from Rekor v2's"
    );
    // And the stored body reads back to the same entry.
    assert_eq!(
        HashedRekordV002::from_body(&b.tlog_entries[0].canonicalized_body).unwrap(),
        entry
    );
}

#[test]
fn a_request_built_from_the_conda_entry_validates() {
    let entry = conda_entry();
    let req = entry.request_json();
    assert_eq!(
        req["hashedRekordRequestV002"]["signature"]["verifier"]["keyDetails"],
        json!("PKIX_ECDSA_P256_SHA_256")
    );
    let parsed = parse_create_request(req.to_string().as_bytes()).unwrap();
    assert_eq!(parsed, entry);
    // protobuf JSON readers accept the proto field names too.
    let snake = req
        .to_string()
        .replace("hashedRekordRequestV002", "hashed_rekord_request_v002")
        .replace("x509Certificate", "x509_certificate")
        .replace("rawBytes", "raw_bytes")
        .replace("keyDetails", "key_details");
    assert_eq!(parse_create_request(snake.as_bytes()).unwrap(), entry);
}

/// A P-256 key pair (ring) and its SPKI.
fn p256_key() -> (EcdsaKeyPair, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .unwrap();
    let key = EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    let spki = signer_gateway::dsse::p256_spki_der(key.public_key().as_ref()).unwrap();
    (key, spki)
}

/// A fresh Ed25519 public key as SubjectPublicKeyInfo DER.
fn ed25519_spki() -> Vec<u8> {
    let rng = SystemRandom::new();
    let ed = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = ring::signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(ed.public_key().as_ref());
    spki
}

#[test]
fn p256_and_p384_public_key_entries_verify_over_the_prehashed_digest() {
    let rng = SystemRandom::new();
    let msg = b"stella artifact";

    let (key, spki) = p256_key();
    let sig = key.sign(&rng, msg).unwrap().as_ref().to_vec();
    let entry = HashedRekordV002 {
        digest: Sha256::digest(msg).to_vec(),
        signature: sig,
        verifier: Verifier::PublicKey { spki_der: spki },
        key_details: KeyDetails::PkixEcdsaP256Sha256,
    };
    assert_eq!(
        parse_create_request(entry.request_json().to_string().as_bytes()).unwrap(),
        entry
    );

    // P-384 through an rcgen certificate.
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["signer.example".to_owned()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let signer = EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        &kp.serialize_der(),
        &rng,
    )
    .unwrap();
    let verifier = Verifier::X509Certificate {
        der: cert.der().to_vec(),
    };
    assert_eq!(
        verifier.default_key_details().unwrap(),
        KeyDetails::PkixEcdsaP384Sha384
    );
    let entry = HashedRekordV002 {
        digest: Sha384::digest(msg).to_vec(),
        signature: signer.sign(&rng, msg).unwrap().as_ref().to_vec(),
        verifier,
        key_details: KeyDetails::PkixEcdsaP384Sha384,
    };
    assert_eq!(
        parse_create_request(entry.request_json().to_string().as_bytes()).unwrap(),
        entry
    );
    let body: Value = serde_json::from_slice(&entry.canonical_body().unwrap()).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["data"]["algorithm"],
        json!("SHA2_384")
    );
}

#[test]
fn for_dsse_logs_our_own_envelopes() {
    let (mem, _) = signer_gateway::dsse::MemoryKey::generate(&SystemRandom::new()).unwrap();
    use signer_gateway::dsse::KeySource as _;
    let spki = mem.public_key_spki_der();
    let env = signer_gateway::dsse::Envelope::sign(
        signer_gateway::dsse::PAYLOAD_TYPE_IN_TOTO,
        br#"{"_type":"https://in-toto.io/Statement/v1"}"#.to_vec(),
        &mem,
        "",
    )
    .unwrap();
    let entry = HashedRekordV002::for_dsse(
        &env,
        Verifier::PublicKey {
            spki_der: spki.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        entry.digest,
        Sha256::digest(signer_gateway::dsse::pae(&env.payload_type, &env.payload)).to_vec()
    );
    assert_eq!(entry.signature, env.signatures[0].sig);

    // Two signatures cannot be one hashedrekord; a signature by another key does not verify.
    let mut two = env.clone();
    two.signatures.push(env.signatures[0].clone());
    assert_eq!(
        HashedRekordV002::for_dsse(&two, Verifier::PublicKey { spki_der: spki }),
        Err(EntryError::DsseSignatureCount(2))
    );
    let (_, other) = p256_key();
    assert_eq!(
        HashedRekordV002::for_dsse(&env, Verifier::PublicKey { spki_der: other }),
        Err(EntryError::BadSignature)
    );
}

#[test]
fn create_request_bad_inputs_each_get_their_own_error() {
    let good = conda_entry().request_json();
    let run = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        parse_create_request(v.to_string().as_bytes()).unwrap_err()
    };
    let req = "hashedRekordRequestV002";

    // Malformed JSON, oversize, not an object.
    assert!(matches!(
        parse_create_request(b"{\"hashedRekordRequestV002\": "),
        Err(EntryError::Json(_))
    ));
    assert!(matches!(
        parse_create_request(b""),
        Err(EntryError::Json(_))
    ));
    assert_eq!(
        parse_create_request(&vec![b' '; 2 * 1024 * 1024]),
        Err(EntryError::TooLarge)
    );
    assert!(matches!(
        parse_create_request(b"[1]"),
        Err(EntryError::Field(FieldError::WrongType { .. }))
    ));
    assert_eq!(parse_create_request(b"{}"), Err(EntryError::NoEntry));

    // Missing members.
    assert_eq!(
        run(&|v| {
            v[req].as_object_mut().unwrap().remove("digest");
        }),
        EntryError::Field(FieldError::Missing("hashedRekordRequestV002.digest".into()))
    );
    assert_eq!(
        run(&|v| {
            v[req]["signature"]
                .as_object_mut()
                .unwrap()
                .remove("content");
        }),
        EntryError::Field(FieldError::Missing(
            "hashedRekordRequestV002.signature.content".into()
        ))
    );
    assert_eq!(
        run(&|v| {
            v[req]["signature"]["verifier"]
                .as_object_mut()
                .unwrap()
                .remove("keyDetails");
        }),
        EntryError::Field(FieldError::Missing(
            "hashedRekordRequestV002.signature.verifier.keyDetails".into()
        ))
    );
    assert_eq!(
        run(&|v| {
            v[req]["signature"]["verifier"]
                .as_object_mut()
                .unwrap()
                .remove("x509Certificate");
        }),
        EntryError::VerifierOneOf {
            path: "hashedRekordRequestV002.signature.verifier".into()
        }
    );
    assert_eq!(
        run(&|v| v[req]["signature"]["verifier"]["publicKey"] = json!({"rawBytes": "AAAA"})),
        EntryError::VerifierOneOf {
            path: "hashedRekordRequestV002.signature.verifier".into()
        }
    );
    assert_eq!(
        run(&|v| v[req]["extra"] = json!(true)),
        EntryError::Field(FieldError::Unknown("hashedRekordRequestV002.extra".into()))
    );

    // Bad base64.
    assert!(matches!(
        run(&|v| v[req]["digest"] = json!("***")),
        EntryError::Field(FieldError::Base64 { path, .. }) if path == "hashedRekordRequestV002.digest"
    ));
    assert!(matches!(
        run(&|v| v[req]["signature"]["content"] = json!("%%%%")),
        EntryError::Field(FieldError::Base64 { path, .. }) if path == "hashedRekordRequestV002.signature.content"
    ));

    // keyDetails: unknown, pure Ed25519, not matching the certificate's P-256 key.
    assert_eq!(
        run(&|v| v[req]["signature"]["verifier"]["keyDetails"] = json!("PKIX_ECDSA_P256")),
        EntryError::UnknownKeyDetails("PKIX_ECDSA_P256".into())
    );
    assert_eq!(
        run(&|v| v[req]["signature"]["verifier"]["keyDetails"] = json!("PKIX_ECDSA_P384_SHA_384")),
        EntryError::KeyDetailsMismatch {
            details: KeyDetails::PkixEcdsaP384Sha384,
            key: "ECDSA P-256".into()
        }
    );
    let ed_spki = ed25519_spki();
    let ed_req = |details: &str| {
        json!({req: {
            "digest": STANDARD.encode([0u8; 64]),
            "signature": {
                "content": STANDARD.encode([1u8; 64]),
                "verifier": {"publicKey": {"rawBytes": STANDARD.encode(&ed_spki)}, "keyDetails": details},
            },
        }})
        .to_string()
    };
    assert_eq!(
        parse_create_request(ed_req("PKIX_ED25519").as_bytes()),
        Err(EntryError::PureEd25519)
    );
    assert_eq!(
        parse_create_request(ed_req("PKIX_ED25519_PH").as_bytes()),
        Err(EntryError::UnsupportedVerification(
            KeyDetails::PkixEd25519Ph
        ))
    );
    assert_eq!(
        parse_create_request(ed_req("PKIX_ECDSA_P256_SHA_256").as_bytes()),
        Err(EntryError::KeyDetailsMismatch {
            details: KeyDetails::PkixEcdsaP256Sha256,
            key: "Ed25519".into()
        })
    );

    // Digest length: 48 bytes with P-256.
    assert_eq!(
        run(&|v| v[req]["digest"] = json!(STANDARD.encode([0u8; 48]))),
        EntryError::DigestLength {
            details: KeyDetails::PkixEcdsaP256Sha256,
            expected: 32,
            actual: 48
        }
    );

    // A signature that does not verify over the digest (one bit of the digest flipped), an empty
    // one, one that is not DER.
    let mut digest = conda_entry().digest;
    digest[0] ^= 1;
    assert_eq!(
        run(&|v| v[req]["digest"] = json!(STANDARD.encode(&digest))),
        EntryError::BadSignature
    );
    assert_eq!(
        run(&|v| v[req]["signature"]["content"] = json!("")),
        EntryError::EmptySignature
    );
    assert!(matches!(
        run(&|v| v[req]["signature"]["content"] = json!(STANDARD.encode([0x30, 0x02, 0x01]))),
        EntryError::MalformedSignature(_)
    ));

    // DSSE request type.
    let dsse = json!({"dsseRequestV002": {"envelope": {}, "verifiers": []}}).to_string();
    assert!(matches!(
        parse_create_request(dsse.as_bytes()),
        Err(EntryError::UnsupportedEntryType(m)) if m.contains("dsseRequestV002") && m.contains("hashedrekord")
    ));
    assert!(parse_create_request(dsse.as_bytes())
        .unwrap_err()
        .to_string()
        .starts_with("unsupported entry type: "));

    // Garbage certificate and public key.
    assert!(matches!(
        run(
            &|v| v[req]["signature"]["verifier"]["x509Certificate"]["rawBytes"] =
                json!(STANDARD.encode(b"not a certificate"))
        ),
        EntryError::BadCertificate(_)
    ));
    assert!(matches!(
        run(&|v| {
            let sv = &mut v[req]["signature"]["verifier"];
            sv.as_object_mut().unwrap().remove("x509Certificate");
            sv["publicKey"] = json!({"rawBytes": STANDARD.encode(b"\x30\x03\x02\x01\x01")});
        }),
        EntryError::BadPublicKey(_)
    ));

    // Every error says what is wrong in its message.
    for e in [
        EntryError::PureEd25519,
        EntryError::BadSignature,
        EntryError::DigestLength {
            details: KeyDetails::PkixEcdsaP256Sha256,
            expected: 32,
            actual: 48,
        },
    ] {
        assert!(!e.to_string().is_empty());
    }
}

// ----------------------------------------------------------------------------------------------
// Trust roots.

#[test]
fn real_trusted_roots_and_client_trust_config_parse_and_round_trip() {
    for name in ["trusted_root.json", "trusted_root_staging.json"] {
        let bytes = testdata(name);
        let root = TrustedRoot::parse(&bytes).unwrap();
        assert!(!root.tlogs.is_empty() && !root.certificate_authorities.is_empty());
        assert_eq!(root.to_json(), json_of(&bytes), "{name}");
    }
    let prod = TrustedRoot::parse(&testdata("trusted_root.json")).unwrap();
    assert_eq!(prod.tlogs[1].key_details, KeyDetails::PkixEd25519);
    assert_eq!(
        prod.tlogs[1].base_url,
        "https://log2025-1.rekor.sigstore.dev"
    );
    assert_eq!(
        prod.certificate_authorities[0].valid_for.end.as_deref(),
        Some("2022-12-31T23:59:59.999Z")
    );
    let staging = TrustedRoot::parse(&testdata("trusted_root_staging.json")).unwrap();
    assert_eq!(staging.ctlogs[0].key_details, KeyDetails::Pkcs1RsaPkcs1v5);

    let bytes = testdata("client_trust_config_staging.json");
    let ctc = ClientTrustConfig::parse(&bytes).unwrap();
    assert_eq!(ctc.trusted_root, staging);
    assert_eq!(
        ctc.signing_config.rekor_tlog_config,
        Some(ServiceConfiguration {
            selector: ServiceSelector::Any,
            count: None
        })
    );
    assert_eq!(ctc.to_json(), json_of(&bytes));
    assert_eq!(
        client_trust_config(&ctc.trusted_root, &ctc.signing_config),
        json_of(&bytes)
    );
}

#[test]
fn trust_root_bad_inputs() {
    let good = json_of(&testdata("trusted_root.json"));
    let run = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        TrustedRoot::parse(v.to_string().as_bytes()).unwrap_err()
    };
    assert!(matches!(
        TrustedRoot::parse(b"nope"),
        Err(TrustRootError::Json(_))
    ));
    assert!(matches!(
        run(&|v| v["mediaType"] = json!("application/json")),
        TrustRootError::MediaType { .. }
    ));
    assert_eq!(
        run(&|v| v["tlogs"][0]["publicKey"]["keyDetails"] = json!("PKIX_FOO")),
        TrustRootError::UnknownKeyDetails {
            path: "tlogs[0].publicKey.keyDetails".into(),
            name: "PKIX_FOO".into()
        }
    );
    assert_eq!(
        run(&|v| v["tlogs"][0]["hashAlgorithm"] = json!("MD5")),
        TrustRootError::UnknownHashAlgorithm {
            path: "tlogs[0].hashAlgorithm".into(),
            name: "MD5".into()
        }
    );
    assert_eq!(
        run(&|v| v["ctlogs"][1]["publicKey"]["validFor"]["start"] = json!("yesterday")),
        TrustRootError::BadTime {
            path: "ctlogs[1].publicKey.validFor.start".into(),
            value: "yesterday".into()
        }
    );
    assert!(matches!(
        run(&|v| v["certificateAuthorities"][1]["certChain"]["certificates"][0]["rawBytes"] = json!("AAAA")),
        TrustRootError::BadCertificate { path, .. } if path == "certificateAuthorities[1].certChain.certificates[0]"
    ));
    assert_eq!(
        run(&|v| v["timestampAuthorities"][0]["certChain"]["certificates"] = json!([])),
        TrustRootError::EmptyChain {
            path: "timestampAuthorities[0].certChain.certificates".into()
        }
    );
    assert_eq!(
        run(&|v| {
            v["tlogs"][0].as_object_mut().unwrap().remove("logId");
        }),
        TrustRootError::Field(FieldError::Missing("tlogs[0].logId".into()))
    );
}

/// A trusted root and signing config for a stack of our own: an Ed25519 Rekor v2 log, a P-256 CT
/// log, a Fulcio-like CA and a TSA, all with freshly generated keys.
fn our_trust_config() -> (TrustedRoot, SigningConfig) {
    let log_spki = ed25519_spki();
    let (_, ct_spki) = p256_key();
    let ca = |cn: &str| {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.self_signed(&kp).unwrap().der().to_vec()
    };
    let start = rfc3339(1_700_000_000);
    let valid = ValidFor {
        start: start.clone(),
        end: None,
    };
    let root = TrustedRoot {
        tlogs: vec![TransparencyLogInstance {
            base_url: "https://attestor.stella.example".into(),
            hash_algorithm: "SHA2_256".into(),
            log_id: Sha256::digest(&log_spki).to_vec(),
            public_key_der: log_spki,
            key_details: KeyDetails::PkixEd25519,
            valid_for: valid.clone(),
            checkpoint_key_id: None,
        }],
        certificate_authorities: vec![CertificateAuthority {
            organization: "Stella Ops".into(),
            common_name: "stella keyless CA".into(),
            uri: "https://signer.stella.example".into(),
            cert_chain_der: vec![ca("stella keyless CA")],
            valid_for: valid.clone(),
        }],
        ctlogs: vec![TransparencyLogInstance {
            base_url: "https://ct.stella.example".into(),
            hash_algorithm: "SHA2_256".into(),
            log_id: Sha256::digest(&ct_spki).to_vec(),
            public_key_der: ct_spki,
            key_details: KeyDetails::PkixEcdsaP256Sha256,
            valid_for: ValidFor {
                start: start.clone(),
                end: Some(rfc3339(4_102_444_800)),
            },
            checkpoint_key_id: None,
        }],
        timestamp_authorities: vec![CertificateAuthority {
            organization: "Stella Ops".into(),
            common_name: "stella TSA".into(),
            uri: "https://attestor.stella.example/api/v1/timestamp".into(),
            cert_chain_der: vec![ca("stella TSA")],
            valid_for: valid.clone(),
        }],
    };
    let service = |url: &str, v: u32| Service {
        url: url.into(),
        major_api_version: v,
        valid_for: valid.clone(),
        operator: "stella.example".into(),
    };
    let signing = SigningConfig {
        ca_urls: vec![service("https://signer.stella.example", 1)],
        oidc_urls: vec![service("https://authority.stella.example", 1)],
        rekor_tlog_urls: vec![service("https://attestor.stella.example", 2)],
        tsa_urls: vec![service(
            "https://attestor.stella.example/api/v1/timestamp",
            1,
        )],
        rekor_tlog_config: Some(ServiceConfiguration {
            selector: ServiceSelector::Any,
            count: None,
        }),
        tsa_config: Some(ServiceConfiguration {
            selector: ServiceSelector::Exact,
            count: Some(1),
        }),
    };
    (root, signing)
}

#[test]
fn our_client_trust_config_round_trips() {
    let (root, signing) = our_trust_config();
    let doc = client_trust_config(&root, &signing);
    assert_eq!(
        doc["mediaType"],
        json!("application/vnd.dev.sigstore.clienttrustconfig.v0.1+json")
    );
    assert_eq!(
        doc["signingConfig"]["mediaType"],
        json!("application/vnd.dev.sigstore.signingconfig.v0.2+json")
    );
    let back = ClientTrustConfig::parse(doc.to_string().as_bytes()).unwrap();
    assert_eq!(back.trusted_root, root);
    assert_eq!(back.signing_config, signing);
    assert_eq!(
        SigningConfig::parse(signing.to_json().to_string().as_bytes()).unwrap(),
        signing
    );
}

/// sigstore-python (the reference client) loads the ClientTrustConfig we write, its keyrings and
/// CA chains, and picks our Rekor v2, CA, OIDC and TSA services from the signing config; it also
/// loads a bundle as we write it.
#[test]
fn sigstore_python_loads_our_client_trust_config() {
    let Some(python) = std::env::var_os("STELLA_PYTHON") else {
        eprintln!(
            "SKIPPED sigstore_python_loads_our_client_trust_config: set STELLA_PYTHON to a Python \
             with sigstore 4.5 (e.g. target/venv/bin/python)"
        );
        return;
    };
    let (root, signing) = our_trust_config();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trust_config.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&client_trust_config(&root, &signing)).unwrap(),
    )
    .unwrap();
    let bundle_path = dir.path().join("bundle.sigstore.json");
    std::fs::write(&bundle_path, conda_bundle().to_json_bytes()).unwrap();
    let script = r#"
import sys
from sigstore.models import Bundle, ClientTrustConfig
from sigstore._internal.trust import KeyringPurpose
from sigstore._internal.rekor.client_v2 import RekorV2Client
cfg = ClientTrustConfig.from_json(open(sys.argv[1]).read())
root = cfg.trusted_root
root.rekor_keyring(KeyringPurpose.VERIFY)
root.ct_keyring(KeyringPurpose.VERIFY)
assert len(root.get_fulcio_certs()) == 1
assert len(root.get_timestamp_authorities()) == 1
sc = cfg.signing_config
tlogs = sc.get_tlogs()
assert len(tlogs) == 1 and isinstance(tlogs[0], RekorV2Client), tlogs
assert sc.get_fulcio().url.startswith("https://signer.stella.example"), sc.get_fulcio().url
assert sc.get_oidc_url() == "https://authority.stella.example"
assert len(sc.get_tsas()) == 1
b = Bundle.from_json(open(sys.argv[2], "rb").read())
assert b.log_entry._inner.kind_version.version == "0.0.2"
print("ok")
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(&bundle_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sigstore-python refused our trust config:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");

    // And it refuses a broken one, so the check above means something.
    let mut broken = client_trust_config(&root, &signing);
    broken["trustedRoot"]["tlogs"][0]["publicKey"]["keyDetails"] = json!("PKIX_NOPE");
    std::fs::write(&path, broken.to_string()).unwrap();
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(&bundle_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

// ----------------------------------------------------------------------------------------------
// JCS (RFC 8785).

fn canon(v: &Value) -> String {
    String::from_utf8(jcs::canonicalize(v).unwrap()).unwrap()
}

#[test]
fn jcs_sorts_keys_by_utf16_code_units() {
    // RFC 8785 §3.2.3's sorting example: "\u20ac" (€), "\r", "\ufb33", "1", "\ud83d\ude00" (😀),
    // "\u0080", "\u00f6" (ö) sort as \r, 1, \u0080, ö, €, 😀, \ufb33 (a surrogate pair sorts
    // before U+FB33 in UTF-16, though not in UTF-8 or by code point).
    let v: Value = serde_json::from_str(
        r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
    )
    .unwrap();
    assert_eq!(
        canon(&v),
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
    );
}

#[test]
#[allow(clippy::excessive_precision)] // RFC 8785's own number, written as the RFC writes it
fn jcs_rfc8785_example_and_escapes() {
    // RFC 8785 §3.2.2's example. The numbers are built from Rust literals: serde_json's parser
    // (without its `float_roundtrip` feature) may land one ULP off for long fractions, and we only
    // print the double we are given.
    let mut v: Value = serde_json::from_str(
        r#"{"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]}"#,
    )
    .unwrap();
    v["numbers"] = json!([
        333333333.33333329_f64,
        1E30,
        4.50,
        2e-3,
        0.000000000000000000000000001
    ]);
    assert_eq!(
        canon(&v),
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
    // Control characters: the short escapes, the rest as \u00xx; DEL and U+2028 literal.
    assert_eq!(
        canon(&json!("\u{8}\u{9}\u{a}\u{c}\u{d}\u{1}\u{1f}\u{7f}\u{2028}")),
        "\"\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}\u{2028}\""
    );
}

#[test]
fn jcs_integers_and_limits() {
    assert_eq!(
        canon(&json!([
            0,
            -0,
            1,
            -1,
            9_007_199_254_740_992_u64,
            -9_007_199_254_740_992_i64,
            1e21,
            1e-7,
            123456789012345680000.0
        ])),
        "[0,0,1,-1,9007199254740992,-9007199254740992,1e+21,1e-7,123456789012345680000]"
    );
    assert_eq!(
        jcs::canonicalize(&json!(9_007_199_254_740_993_u64)),
        Err(JcsError::UnsafeInteger("9007199254740993".into()))
    );
    assert_eq!(
        jcs::canonicalize(&json!(i64::MIN)),
        Err(JcsError::UnsafeInteger(i64::MIN.to_string()))
    );
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    assert_eq!(jcs::canonicalize(&deep), Err(JcsError::TooDeep));
    // Whitespace and member order of the input do not matter.
    let a: Value = serde_json::from_str(r#"{ "b" : [ 1 , 2 ], "a" : { "d":1, "c":2 } }"#).unwrap();
    assert_eq!(canon(&a), r#"{"a":{"c":2,"d":1},"b":[1,2]}"#);
}

// ----------------------------------------------------------------------------------------------
// Golden files: the bytes we write for the conda bundle and its create-entry request. A change
// in member order, spacing or encoding shows up here; `STELLA_UPDATE_GOLDEN=1` rewrites them.

fn golden(name: &str, actual: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("STELLA_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        expected == actual,
        "{} differs from what we write now:\n{}",
        path.display(),
        String::from_utf8_lossy(actual)
    );
}

#[test]
fn golden_outputs() {
    let mut compact = conda_bundle().to_json_bytes();
    compact.push(b'\n');
    golden("conda-bundle.compact.json", &compact);
    let mut request = serde_json::to_vec_pretty(&conda_entry().request_json()).unwrap();
    request.push(b'\n');
    golden("conda-create-request.json", &request);
}

/// Runs openssl (a signer we did not write), asserting success.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rsa_and_p521_entries_signed_by_openssl_verify_over_the_prehashed_digest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let msg = b"artifact signed by openssl";
    /// Keygen options, keyDetails, digest, pkeyutl signing options.
    type Case<'a> = (&'a [&'a str], &'a str, Vec<u8>, &'a [&'a str]);
    let cases: [Case<'_>; 5] = [
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            "PKIX_RSA_PKCS1V15_2048_SHA256",
            Sha256::digest(msg).to_vec(),
            &["-pkeyopt", "digest:sha256"],
        ),
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
            "PKIX_RSA_PSS_3072_SHA256",
            Sha256::digest(msg).to_vec(),
            &[
                "-pkeyopt",
                "digest:sha256",
                "-pkeyopt",
                "rsa_padding_mode:pss",
                "-pkeyopt",
                "rsa_pss_saltlen:digest",
            ],
        ),
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            "PKIX_RSA_PSS_2048_SHA256",
            Sha256::digest(msg).to_vec(),
            // OpenSSL's default salt length for signing: the largest.
            &[
                "-pkeyopt",
                "digest:sha256",
                "-pkeyopt",
                "rsa_padding_mode:pss",
                "-pkeyopt",
                "rsa_pss_saltlen:max",
            ],
        ),
        (
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            "PKIX_ECDSA_P521_SHA_512",
            sha2::Sha512::digest(msg).to_vec(),
            &["-pkeyopt", "digest:sha512"],
        ),
        (
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "PKIX_ECDSA_P384_SHA_384",
            Sha384::digest(msg).to_vec(),
            &["-pkeyopt", "digest:sha384"],
        ),
    ];
    for (i, (keygen, details, digest, sign)) in cases.iter().enumerate() {
        let (key, public, dg, sig) = (
            format!("k{i}.pem"),
            format!("k{i}.der"),
            format!("d{i}.bin"),
            format!("s{i}.bin"),
        );
        let mut args = vec!["genpkey"];
        args.extend_from_slice(keygen);
        args.extend_from_slice(&["-out", &key]);
        openssl(d, &args);
        openssl(
            d,
            &[
                "pkey", "-in", &key, "-pubout", "-outform", "DER", "-out", &public,
            ],
        );
        std::fs::write(d.join(&dg), digest).unwrap();
        let mut args = vec!["pkeyutl", "-sign", "-inkey", &key, "-in", &dg, "-out", &sig];
        args.extend_from_slice(sign);
        openssl(d, &args);
        let spki = std::fs::read(d.join(&public)).unwrap();
        let signature = std::fs::read(d.join(&sig)).unwrap();
        let request = |details: &str, digest: &[u8], signature: &[u8]| {
            json!({"hashedRekordRequestV002": {
                "digest": STANDARD.encode(digest),
                "signature": {
                    "content": STANDARD.encode(signature),
                    "verifier": {"publicKey": {"rawBytes": STANDARD.encode(&spki)}, "keyDetails": details},
                },
            }})
            .to_string()
        };
        let entry = parse_create_request(request(details, digest, &signature).as_bytes())
            .unwrap_or_else(|e| panic!("{details}: {e}"));
        assert_eq!(entry.key_details.as_str(), *details);
        // One bit of the digest flipped: refused.
        let mut other = digest.clone();
        other[0] ^= 1;
        assert_eq!(
            parse_create_request(request(details, &other, &signature).as_bytes()),
            Err(EntryError::BadSignature),
            "{details}"
        );
    }
    // A PSS signature is not a PKCS#1 v1.5 one.
    let spki = std::fs::read(d.join("k1.der")).unwrap();
    let signature = std::fs::read(d.join("s1.bin")).unwrap();
    let req = json!({"hashedRekordRequestV002": {
        "digest": STANDARD.encode(Sha256::digest(msg)),
        "signature": {
            "content": STANDARD.encode(&signature),
            "verifier": {"publicKey": {"rawBytes": STANDARD.encode(&spki)}, "keyDetails": "PKIX_RSA_PKCS1V15_3072_SHA256"},
        },
    }});
    assert_eq!(
        parse_create_request(req.to_string().as_bytes()),
        Err(EntryError::BadSignature)
    );
}

// ---------------------------------------------------------------------------------------------
// The verifier against the real Rekor v2 bundle from the public-good staging instance.

mod verify_staging {
    use super::*;
    use attestor::verify::{verify_bundle, Expectations, IdentityRule, SignedBy, VerifyError};

    const CONDA_DIGEST: &str =
        "sha256:54303491a8418fbed24344b513546182c29b43bf282ceb433af65e2299f9271f";

    fn staging_root() -> TrustedRoot {
        TrustedRoot::parse(&testdata("trusted_root_staging.json")).unwrap()
    }

    fn expect() -> Expectations {
        Expectations {
            subject_digest: Some(CONDA_DIGEST.into()),
            ..Expectations::default()
        }
    }

    fn verify_json(
        v: &Value,
        exp: &Expectations,
    ) -> Result<attestor::verify::Verified, VerifyError> {
        verify_bundle(&serde_json::to_vec(v).unwrap(), &staging_root(), exp)
    }

    /// Flips one bit of the base64 field at `pointer` (decoded byte `at`, counted from the end when
    /// negative).
    fn flip_b64(v: &mut Value, pointer: &str, at: isize) {
        let field = v
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer}"));
        let mut bytes = STANDARD.decode(field.as_str().unwrap()).unwrap();
        let i = if at < 0 {
            bytes.len() - at.unsigned_abs()
        } else {
            at as usize
        };
        bytes[i] ^= 0x01;
        *field = Value::String(STANDARD.encode(bytes));
    }

    #[test]
    fn the_staging_bundle_verifies_offline_against_the_staging_root() {
        let v = json_of(&testdata(CONDA));
        let ok = verify_json(&v, &expect()).unwrap();
        assert_eq!(
            ok.predicate_type,
            "https://schemas.conda.org/attestations-publish-1.schema.json"
        );
        assert_eq!(ok.log.index, 4_197_416);
        assert_eq!(ok.log.origin, "log2025-alpha3.rekor.sigstage.dev");
        let SignedBy::Certificate {
            issuer, subject, ..
        } = &ok.signed_by
        else {
            panic!("{:?}", ok.signed_by)
        };
        assert!(
            !issuer.is_empty() && !subject.is_empty(),
            "{issuer} {subject}"
        );
        assert!(ok.signed_at.is_some());

        // The identity policy: the real signer passes, another is named in the refusal.
        let mut exp = expect();
        exp.identities = vec![IdentityRule {
            issuer: issuer.clone(),
            subject: format!("{}*", &subject[..subject.len() / 2]),
        }];
        verify_json(&v, &exp).unwrap();
        exp.identities = vec![IdentityRule {
            issuer: issuer.clone(),
            subject: "https://github.com/someone-else/*".into(),
        }];
        let err = verify_json(&v, &exp).unwrap_err();
        assert!(
            matches!(err, VerifyError::IdentityNotAllowed { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(subject.as_str()), "{err}");

        // Another image's digest.
        let mut exp = expect();
        exp.subject_digest = Some(format!("sha256:{}", "ab".repeat(32)));
        let err = verify_json(&v, &exp).unwrap_err();
        assert!(matches!(err, VerifyError::SubjectMismatch { .. }), "{err}");
        assert!(err.to_string().contains(CONDA_DIGEST), "{err}");

        // The production root does not know the staging log, CA or TSA.
        let prod = TrustedRoot::parse(&testdata("trusted_root.json")).unwrap();
        let err = verify_bundle(&testdata(CONDA), &prod, &expect()).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Timestamp { .. } | VerifyError::UntrustedCertificate { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn any_one_byte_change_is_rejected_with_its_reason() {
        let good = json_of(&testdata(CONDA));
        type Check = fn(&VerifyError) -> bool;
        let cases: Vec<(&str, isize, Check)> = vec![
            // Certificate: a byte of the signature over it, then of the TBS (the public key).
            ("/verificationMaterial/certificate/rawBytes", -3, |e| {
                matches!(e, VerifyError::UntrustedCertificate { .. } | VerifyError::EntryMismatch(_))
            }),
            ("/verificationMaterial/certificate/rawBytes", 300, |e| {
                matches!(e, VerifyError::UntrustedCertificate { .. } | VerifyError::BadCertificate(_) | VerifyError::EntryMismatch(_))
            }),
            ("/dsseEnvelope/signatures/0/sig", -2, |e| {
                matches!(e, VerifyError::Timestamp { .. })
            }),
            ("/dsseEnvelope/payload", 40, |e| matches!(e, VerifyError::EntryMismatch(_))),
            ("/verificationMaterial/tlogEntries/0/inclusionProof/hashes/2", 5, |e| {
                matches!(e, VerifyError::Inclusion(_))
            }),
            ("/verificationMaterial/tlogEntries/0/inclusionProof/rootHash", 0, |e| {
                matches!(e, VerifyError::Inclusion(_))
            }),
            ("/verificationMaterial/tlogEntries/0/canonicalizedBody", 60, |e| {
                matches!(e, VerifyError::EntryMismatch(_) | VerifyError::Inclusion(_))
            }),
            ("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp", -5, |e| {
                matches!(e, VerifyError::Timestamp { .. })
            }),
        ];
        for (pointer, at, check) in cases {
            let mut v = good.clone();
            flip_b64(&mut v, pointer, at);
            match verify_json(&v, &expect()) {
                Ok(_) => panic!("{pointer}[{at}] flipped: still verifies"),
                Err(VerifyError::Bundle(_)) => {} // the change broke the encoding itself
                Err(e) => {
                    eprintln!("{pointer}[{at}]: {e}");
                    assert!(check(&e), "{pointer}[{at}]: unexpected error {e}")
                }
            }
        }

        // The checkpoint: its root line, its signature, its origin.
        let cp_ptr = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope";
        let cp = good.pointer(cp_ptr).unwrap().as_str().unwrap().to_owned();
        let lines: Vec<&str> = cp.split('\n').collect();
        // A changed root (one base64 character).
        let mut root_line = lines[2].to_owned();
        let c = if root_line.starts_with('A') { "B" } else { "A" };
        root_line.replace_range(0..1, c);
        let changed_root = cp.replacen(lines[2], &root_line, 1);
        // A changed signature byte in the log's line.
        let log_line = lines[4];
        let (name, sig) = log_line.rsplit_once(' ').unwrap();
        let mut raw = STANDARD.decode(sig).unwrap();
        raw[10] ^= 1;
        let changed_sig = cp.replacen(log_line, &format!("{name} {}", STANDARD.encode(raw)), 1);
        let changed_origin = cp.replacen(
            "log2025-alpha3.rekor.sigstage.dev\n",
            "log2025-alpha4.rekor.sigstage.dev\n",
            1,
        );
        for (what, text, check) in [
            (
                "root",
                changed_root,
                (|e| matches!(e, VerifyError::CheckpointSignature(_))) as fn(&VerifyError) -> bool,
            ),
            ("signature", changed_sig, |e| {
                matches!(e, VerifyError::CheckpointSignature(_))
            }),
            ("origin", changed_origin, |e| {
                matches!(e, VerifyError::CheckpointOrigin { .. })
            }),
        ] {
            let mut v = good.clone();
            *v.pointer_mut(cp_ptr).unwrap() = Value::String(text);
            let err = verify_json(&v, &expect()).unwrap_err();
            assert!(check(&err), "checkpoint {what}: {err}");
        }

        // The trusted root with another key for the log (same log id): a wrong log key.
        let mut root = json_of(&testdata("trusted_root_staging.json"));
        let other_key = {
            let mut k = STANDARD
                .decode(root["tlogs"][3]["publicKey"]["rawBytes"].as_str().unwrap())
                .unwrap();
            let last = k.len() - 1;
            k[last] ^= 1;
            STANDARD.encode(k)
        };
        for tlog in root["tlogs"].as_array_mut().unwrap() {
            if tlog["baseUrl"] == "https://log2025-alpha3.rekor.sigstage.dev" {
                tlog["publicKey"]["rawBytes"] = Value::String(other_key.clone());
            }
        }
        let wrong_key = TrustedRoot::parse(&serde_json::to_vec(&root).unwrap()).unwrap();
        let err = verify_bundle(&testdata(CONDA), &wrong_key, &expect()).unwrap_err();
        assert!(matches!(err, VerifyError::CheckpointOrigin { .. }), "{err}");
        assert!(err.to_string().contains("wrong log key"), "{err}");
        // And without that log at all.
        root["tlogs"]
            .as_array_mut()
            .unwrap()
            .retain(|t| t["baseUrl"] != "https://log2025-alpha3.rekor.sigstage.dev");
        let no_log = TrustedRoot::parse(&serde_json::to_vec(&root).unwrap()).unwrap();
        let err = verify_bundle(&testdata(CONDA), &no_log, &expect()).unwrap_err();
        assert!(matches!(err, VerifyError::UnknownLog { .. }), "{err}");

        // No timestamp: a short-lived certificate long expired, with nothing to prove when it signed.
        let mut v = good.clone();
        v["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("timestampVerificationData");
        let err = verify_json(&v, &expect()).unwrap_err();
        assert_eq!(err, VerifyError::NoTrustedTime);
    }
}
