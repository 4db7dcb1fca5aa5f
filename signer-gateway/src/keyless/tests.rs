//! Keyless issuance: the certificate structure read back with x509-parser (not our reader), the SCT
//! round trip, and every refusal.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;

const NOW: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z
const WORKFLOW: &str = "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main";

fn pkcs8() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec()
}

fn root() -> CertificateAuthority {
    CertificateAuthority::create_root(
        &pkcs8(),
        "stella-keyless",
        "stella-ops",
        NOW - 3600,
        NOW + 365 * 86_400,
        &SystemRandom::new(),
    )
    .unwrap()
}

fn ct_log() -> CtLog {
    CtLog::from_pkcs8(&pkcs8(), &SystemRandom::new()).unwrap()
}

/// A fresh subject key's SPKI.
fn subject_spki() -> Vec<u8> {
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &pkcs8(),
        &SystemRandom::new(),
    )
    .unwrap();
    p256_spki_der(key.public_key().as_ref()).unwrap()
}

fn github_identity() -> FulcioIdentity {
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
        build_config_uri: s(WORKFLOW),
        build_config_digest: s("0123456789abcdef0123456789abcdef01234567"),
        build_trigger: s("push"),
        run_invocation_uri: s("https://github.com/octo/app/actions/runs/42/attempts/1"),
        source_repository_visibility_at_signing: s("public"),
    }
}

fn request<'a>(spki: &'a [u8], identity: &'a FulcioIdentity) -> CertRequest<'a> {
    CertRequest {
        subject_public_key_spki_der: spki,
        san: San::Uri(WORKFLOW),
        identity,
        not_before: NOW,
        validity_secs: 600,
    }
}

fn issue(ca: &CertificateAuthority, log: Option<&CtLog>, identity: &FulcioIdentity) -> IssuedCert {
    let spki = subject_spki();
    ca.issue(&request(&spki, identity), log, &SystemRandom::new())
        .unwrap()
}

fn fulcio(arc: u64) -> String {
    format!("1.3.6.1.4.1.57264.1.{arc}")
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

fn ecdsa_verifies(spki: &[u8], message: &[u8], sig: &[u8]) -> bool {
    let point = p256_point_from_spki(spki).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(message, sig)
        .is_ok()
}

#[test]
fn leaf_has_fulcios_shape() {
    let (ca, log, identity) = (root(), ct_log(), github_identity());
    let spki = subject_spki();
    let issued = ca
        .issue(&request(&spki, &identity), Some(&log), &SystemRandom::new())
        .unwrap();
    let (rest, cert) = X509Certificate::from_der(&issued.der).unwrap();
    assert!(rest.is_empty());
    let (_, ca_cert) = X509Certificate::from_der(ca.cert_der()).unwrap();

    assert_eq!(cert.version().0, 2, "X.509 v3");
    let serial = cert.raw_serial();
    assert_eq!(serial.len(), 20);
    assert!(serial[0] & 0x80 == 0 && serial[0] != 0, "positive, minimal");
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.10045.4.3.2"
    );
    assert_eq!(cert.issuer().as_raw(), ca_cert.subject().as_raw());
    assert_eq!(cert.subject().as_raw(), &[0x30, 0x00], "empty subject");
    let validity = cert.validity();
    assert_eq!(validity.not_before.timestamp(), NOW as i64);
    assert_eq!(
        validity.not_after.timestamp() - validity.not_before.timestamp(),
        600
    );
    assert_eq!(cert.public_key().raw, spki.as_slice());
    // Signed by the CA.
    assert!(ecdsa_verifies(
        ca.public_key_spki_der(),
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data
    ));

    let exts = cert.extensions();
    let oids: Vec<String> = exts.iter().map(|e| e.oid.to_id_string()).collect();
    let mut expected: Vec<String> = [
        "2.5.29.15",
        "2.5.29.37",
        "2.5.29.14",
        "2.5.29.35",
        "2.5.29.17",
    ]
    .map(String::from)
    .to_vec();
    expected.push(fulcio(1));
    expected.extend((8..=22).map(fulcio));
    expected.push("1.3.6.1.4.1.11129.2.4.2".into());
    assert_eq!(oids, expected, "Fulcio's extension order, SCT list last");

    let critical: Vec<String> = exts
        .iter()
        .filter(|e| e.critical)
        .map(|e| e.oid.to_id_string())
        .collect();
    assert_eq!(critical, ["2.5.29.15", "2.5.29.17"]);

    let mut ski = None;
    for ext in exts {
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) => {
                assert!(ku.digital_signature());
                assert_eq!(ku.flags, 1, "digitalSignature only");
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                assert!(eku.code_signing);
                assert!(!(eku.any || eku.server_auth || eku.client_auth) && eku.other.is_empty());
            }
            ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                let ca_ski = ca_cert
                    .extensions()
                    .iter()
                    .find_map(|e| match e.parsed_extension() {
                        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
                        _ => None,
                    })
                    .unwrap();
                assert_eq!(aki.key_identifier.as_ref().unwrap().0, ca_ski);
                assert!(aki.authority_cert_issuer.is_none());
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                assert_eq!(san.general_names, [GeneralName::URI(WORKFLOW)]);
            }
            ParsedExtension::SCT(scts) => {
                assert_eq!(scts.len(), 1);
                let sct = &scts[0];
                assert_eq!(sct.version.0, 0);
                assert_eq!(sct.id.key_id, &log.log_id());
                assert_eq!(sct.timestamp, NOW * 1000);
                assert_eq!(
                    (sct.signature.hash_alg_id, sct.signature.sign_alg_id),
                    (4, 3)
                );
                assert_eq!(sct.signature.data, issued.sct.as_ref().unwrap().signature);
            }
            _ => {}
        }
    }
    // SKI: leftmost 160 bits of SHA-256 of the key bits.
    let point = p256_point_from_spki(&spki).unwrap();
    assert_eq!(ski.unwrap(), Sha256::digest(point)[..20]);

    // Fulcio values: `.1` raw, `.8`–`.22` a DER UTF8String each.
    let value = |oid: &str| {
        exts.iter()
            .find(|e| e.oid.to_id_string() == oid)
            .unwrap()
            .value
            .to_vec()
    };
    assert_eq!(value(&fulcio(1)), identity.issuer.as_bytes());
    for (arc, field, expected) in identity.entries() {
        let expected = expected.unwrap();
        let mut der = vec![0x0c, expected.len() as u8];
        der.extend_from_slice(expected.as_bytes());
        assert_eq!(value(&fulcio(arc)), der, "{field}");
    }
}

#[test]
fn root_ca_is_a_self_signed_ca() {
    let ca = root();
    let (_, cert) = X509Certificate::from_der(ca.cert_der()).unwrap();
    assert_eq!(cert.version().0, 2);
    assert_eq!(cert.subject().as_raw(), cert.issuer().as_raw());
    assert_eq!(
        cert.subject().to_string(),
        "O=stella-ops, CN=stella-keyless"
    );
    assert_eq!(cert.public_key().raw, ca.public_key_spki_der());
    assert!(ecdsa_verifies(
        ca.public_key_spki_der(),
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data
    ));
    let exts = cert.extensions();
    let summary: Vec<(String, bool)> = exts
        .iter()
        .map(|e| (e.oid.to_id_string(), e.critical))
        .collect();
    assert_eq!(
        summary,
        [
            ("2.5.29.15".to_owned(), true),
            ("2.5.29.19".to_owned(), true),
            ("2.5.29.14".to_owned(), false)
        ]
    );
    for ext in exts {
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) => {
                assert!(ku.key_cert_sign() && ku.crl_sign());
                assert!(!ku.digital_signature());
            }
            ParsedExtension::BasicConstraints(bc) => assert!(bc.ca),
            ParsedExtension::SubjectKeyIdentifier(id) => assert_eq!(id.0.len(), 20),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn embedded_sct_verifies() {
    let (ca, log, identity) = (root(), ct_log(), github_identity());
    let issued = issue(&ca, Some(&log), &identity);
    let sct = verify_embedded_sct(
        &issued.der,
        ca.public_key_spki_der(),
        &log.public_key_spki_der(),
    )
    .unwrap();
    assert_eq!(Some(&sct), issued.sct.as_ref());
    assert_eq!(sct.log_id, log.log_id());
    assert_eq!(
        log.log_id().as_slice(),
        Sha256::digest(log.public_key_spki_der()).as_slice()
    );
    assert_eq!(sct.timestamp_ms, NOW * 1000);
}

#[test]
fn flipped_sct_signature_fails() {
    let (ca, log) = (root(), ct_log());
    let issued = issue(&ca, Some(&log), &github_identity());
    let sig = &issued.sct.as_ref().unwrap().signature;
    let mut der = issued.der.clone();
    let at = find(&der, sig) + sig.len() - 1;
    der[at] ^= 0x01;
    assert_eq!(
        verify_embedded_sct(&der, ca.public_key_spki_der(), &log.public_key_spki_der()),
        Err(KeylessError::SctSignature)
    );
}

#[test]
fn changed_tbs_fails() {
    let (ca, log) = (root(), ct_log());
    let issued = issue(&ca, Some(&log), &github_identity());
    let ok =
        |der: &[u8]| verify_embedded_sct(der, ca.public_key_spki_der(), &log.public_key_spki_der());
    assert!(ok(&issued.der).is_ok());
    // One byte of the SAN: `octo` -> `ocTo` in the critical subjectAltName (its first occurrence).
    let mut der = issued.der.clone();
    let at = find(&der, WORKFLOW.as_bytes()) + "https://github.com/oc".len();
    der[at] = b'T';
    assert_eq!(ok(&der), Err(KeylessError::SctSignature));
    // A Fulcio value: `push` -> `pusH`.
    let mut der = issued.der.clone();
    let at = find(&der, b"push") + 3;
    der[at] = b'H';
    assert_eq!(ok(&der), Err(KeylessError::SctSignature));
}

#[test]
fn other_ct_key_or_issuer_fails() {
    let (ca, log) = (root(), ct_log());
    let issued = issue(&ca, Some(&log), &github_identity());
    let other = ct_log();
    let err = verify_embedded_sct(
        &issued.der,
        ca.public_key_spki_der(),
        &other.public_key_spki_der(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, KeylessError::BadSct(m) if m.contains("no SCT from the log")),
        "{err}"
    );
    // The right log but another issuer key: the issuer_key_hash differs.
    let other_ca = root();
    assert_eq!(
        verify_embedded_sct(
            &issued.der,
            other_ca.public_key_spki_der(),
            &log.public_key_spki_der()
        ),
        Err(KeylessError::SctSignature)
    );
    // Not a P-256 SPKI at all.
    assert!(matches!(
        verify_embedded_sct(&issued.der, ca.public_key_spki_der(), b"junk"),
        Err(KeylessError::BadSct(_))
    ));
}

#[test]
fn no_ct_log_means_no_sct() {
    let ca = root();
    let issued = issue(&ca, None, &github_identity());
    assert!(issued.sct.is_none());
    let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
    assert!(cert
        .extensions()
        .iter()
        .all(|e| e.oid.to_id_string() != "1.3.6.1.4.1.11129.2.4.2"));
    let err = verify_embedded_sct(
        &issued.der,
        ca.public_key_spki_der(),
        &ct_log().public_key_spki_der(),
    )
    .unwrap_err();
    assert!(matches!(err, KeylessError::BadSct(m) if m.contains("no SCT list")));
}

#[test]
fn absent_and_empty_values_are_left_out() {
    let ca = root();
    let mut identity = FulcioIdentity::new("https://accounts.example.com");
    identity.build_trigger = Some(String::new());
    identity.runner_environment = Some("self-hosted".into());
    let spki = subject_spki();
    let req = CertRequest {
        san: San::Email("dev@example.com"),
        ..request(&spki, &identity)
    };
    let issued = ca.issue(&req, None, &SystemRandom::new()).unwrap();
    let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
    let fulcio_oids: Vec<String> = cert
        .extensions()
        .iter()
        .map(|e| e.oid.to_id_string())
        .filter(|o| o.starts_with("1.3.6.1.4.1.57264."))
        .collect();
    assert_eq!(fulcio_oids, [fulcio(1), fulcio(8), fulcio(11)]);
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical);
    assert_eq!(
        san.value.general_names,
        [GeneralName::RFC822Name("dev@example.com")]
    );
}

#[test]
fn times_from_2050_are_generalized() {
    let ca = CertificateAuthority::create_root(
        &pkcs8(),
        "ca",
        "org",
        NOW,
        3_000_000_000,
        &SystemRandom::new(),
    )
    .unwrap();
    let identity = github_identity();
    let spki = subject_spki();
    let req = CertRequest {
        not_before: 2_524_607_700, // 2049-12-31T23:55:00Z
        ..request(&spki, &identity)
    };
    let issued = ca.issue(&req, None, &SystemRandom::new()).unwrap();
    // UTCTime then GeneralizedTime, as RFC 5280 §4.1.2.5 wants.
    assert!(find(&issued.der, b"\x17\x0d491231235500Z") > 0);
    assert!(find(&issued.der, b"\x18\x0f20500101000500Z") > 0);
    let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
    assert_eq!(cert.validity().not_after.timestamp(), 2_524_608_300);
}

#[test]
fn from_parts_checks_the_key() {
    let key = pkcs8();
    let ca = CertificateAuthority::create_root(
        &key,
        "ca",
        "org",
        NOW - 60,
        NOW + 86_400,
        &SystemRandom::new(),
    )
    .unwrap();
    let again =
        CertificateAuthority::from_parts(&key, ca.cert_der().to_vec(), &SystemRandom::new())
            .unwrap();
    assert_eq!(again.public_key_spki_der(), ca.public_key_spki_der());
    // It issues the same chain (same issuer name and AKI).
    let log = ct_log();
    let issued = issue(&again, Some(&log), &github_identity());
    verify_embedded_sct(
        &issued.der,
        ca.public_key_spki_der(),
        &log.public_key_spki_der(),
    )
    .unwrap();
    let (_, leaf) = X509Certificate::from_der(&issued.der).unwrap();
    let (_, ca_cert) = X509Certificate::from_der(ca.cert_der()).unwrap();
    assert_eq!(leaf.issuer().as_raw(), ca_cert.subject().as_raw());

    assert_eq!(
        CertificateAuthority::from_parts(&pkcs8(), ca.cert_der().to_vec(), &SystemRandom::new())
            .unwrap_err(),
        KeylessError::KeyMismatch
    );
    assert!(matches!(
        CertificateAuthority::from_parts(
            &key,
            b"\x30\x03\x02\x01\x00".to_vec(),
            &SystemRandom::new()
        ),
        Err(KeylessError::Malformed(_))
    ));
    assert!(matches!(
        CertificateAuthority::from_parts(
            b"not a key",
            ca.cert_der().to_vec(),
            &SystemRandom::new()
        ),
        Err(KeylessError::BadKey(_))
    ));
}

#[test]
fn bad_sans_are_refused() {
    let (ca, identity, spki) = (root(), github_identity(), subject_spki());
    let cases: &[(San<'_>, &str)] = &[
        (San::Uri(""), "empty"),
        (San::Email(""), "empty"),
        (San::Uri("https://example.com/\n"), "'\\n'"),
        (San::Uri("https://example.com/\u{0}x"), "'\\0'"),
        (San::Uri("https://example.com/a b"), "' '"),
        (San::Uri("https://exämple.com/"), "'ä'"),
        (San::Uri("example.com/workflow"), "no scheme"),
        (San::Uri("://example.com"), "no scheme"),
        (San::Email("dev\r@example.com"), "'\\r'"),
        (San::Email("dev.example.com"), "local@domain"),
        (San::Email("@example.com"), "local@domain"),
        (San::Email("a@b@c"), "local@domain"),
    ];
    let long = format!("https://example.com/{}", "a".repeat(MAX_VALUE_LEN));
    let cases = cases
        .iter()
        .copied()
        .chain([(San::Uri(long.as_str()), "longer than")]);
    for (san, why) in cases {
        let req = CertRequest {
            san,
            ..request(&spki, &identity)
        };
        match ca.issue(&req, None, &SystemRandom::new()) {
            Err(KeylessError::InvalidSan(msg)) => {
                assert!(msg.contains(why), "{san:?}: {msg} lacks {why}")
            }
            other => panic!("{san:?} gave {other:?}"),
        }
    }
}

#[test]
fn bad_identity_values_are_refused() {
    let (ca, spki) = (root(), subject_spki());
    let check = |identity: FulcioIdentity, field: &str| match ca.issue(
        &request(&spki, &identity),
        None,
        &SystemRandom::new(),
    ) {
        Err(KeylessError::InvalidIdentity { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{field}: {other:?}"),
    };
    check(FulcioIdentity::new(""), "issuer");
    check(FulcioIdentity::new("https://x\n"), "issuer");
    let mut identity = github_identity();
    identity.source_repository_ref = Some("refs/heads/main\u{1b}[31m".into());
    check(identity, "source_repository_ref");
    let mut identity = github_identity();
    identity.build_trigger = Some("p".repeat(MAX_VALUE_LEN + 1));
    check(identity, "build_trigger");
    // Non-ASCII is fine in a UTF8String.
    let mut identity = github_identity();
    identity.source_repository_ref = Some("refs/heads/été".into());
    ca.issue(&request(&spki, &identity), None, &SystemRandom::new())
        .unwrap();
}

#[test]
fn bad_validity_and_keys_are_refused() {
    let (ca, identity, spki) = (root(), github_identity(), subject_spki());
    for (not_before, validity_secs) in [(NOW, 0), (u64::MAX - 10, 600), (der::MAX_TIME, 1)] {
        let req = CertRequest {
            not_before,
            validity_secs,
            ..request(&spki, &identity)
        };
        assert!(
            matches!(
                ca.issue(&req, None, &SystemRandom::new()),
                Err(KeylessError::InvalidValidity(_))
            ),
            "{not_before} + {validity_secs}"
        );
    }
    let req = CertRequest {
        subject_public_key_spki_der: b"\x30\x00",
        ..request(&spki, &identity)
    };
    assert!(matches!(
        ca.issue(&req, None, &SystemRandom::new()),
        Err(KeylessError::BadKey(_))
    ));
    let root = |cn: &str, o: &str, nb: u64, na: u64| {
        CertificateAuthority::create_root(&pkcs8(), cn, o, nb, na, &SystemRandom::new())
    };
    assert!(matches!(
        root("ca", "o", NOW, NOW),
        Err(KeylessError::InvalidValidity(_))
    ));
    assert!(matches!(
        root("", "o", NOW, NOW + 1),
        Err(KeylessError::InvalidName(_))
    ));
    assert!(matches!(
        root("ca", "o\n", NOW, NOW + 1),
        Err(KeylessError::InvalidName(_))
    ));
    assert!(matches!(
        root(&"c".repeat(MAX_NAME_LEN + 1), "o", NOW, NOW + 1),
        Err(KeylessError::InvalidName(_))
    ));
    assert!(matches!(
        CtLog::from_pkcs8(b"junk", &SystemRandom::new()),
        Err(KeylessError::BadKey(_))
    ));
}

#[test]
fn sct_encodings() {
    let log = ct_log();
    let sct = log
        .sign_precert(&[7; 32], b"\x30\x00", 1234, &SystemRandom::new())
        .unwrap();
    let bytes = sct.to_bytes().unwrap();
    assert_eq!(bytes[0], 0);
    assert_eq!(&bytes[1..33], log.log_id());
    assert_eq!(&bytes[33..41], 1234u64.to_be_bytes());
    assert_eq!(&bytes[41..45], [0, 0, 4, 3]);
    assert_eq!(
        usize::from(u16::from_be_bytes([bytes[45], bytes[46]])),
        sct.signature.len()
    );
    assert_eq!(SignedCertificateTimestamp::parse(&bytes).unwrap(), sct);

    let list = encode_sct_list(&[sct.clone(), sct.clone()]).unwrap();
    assert_eq!(
        usize::from(u16::from_be_bytes([list[0], list[1]])),
        list.len() - 2
    );
    assert_eq!(parse_sct_list(&list).unwrap(), [sct.clone(), sct.clone()]);
    let mut trailing = list.clone();
    trailing.push(0);
    assert!(parse_sct_list(&trailing).is_err());
    assert!(parse_sct_list(&[0, 0]).is_err(), "empty list");
    assert!(
        parse_sct_list(&list[..list.len() - 1]).is_err(),
        "truncated"
    );
    let mut v2 = bytes.clone();
    v2[0] = 1;
    assert!(SignedCertificateTimestamp::parse(&v2).is_err());

    // The signed structure, byte for byte.
    let signed = precert_signed_data(1234, &[7; 32], b"\x30\x00", &[]).unwrap();
    let mut expected = vec![0, 0];
    expected.extend_from_slice(&1234u64.to_be_bytes());
    expected.extend_from_slice(&[0, 1]);
    expected.extend_from_slice(&[7; 32]);
    expected.extend_from_slice(&[0, 0, 2, 0x30, 0x00, 0, 0]);
    assert_eq!(signed, expected);
    sct.verify_precert(&log.public_key_spki_der(), &[7; 32], b"\x30\x00")
        .unwrap();
    assert_eq!(
        sct.verify_precert(&log.public_key_spki_der(), &[8; 32], b"\x30\x00"),
        Err(KeylessError::SctSignature)
    );
}

#[test]
fn pem_has_64_column_lines() {
    let der: Vec<u8> = (0..=255).collect();
    let text = pem("CERTIFICATE", &der);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
    assert_eq!(*lines.last().unwrap(), "-----END CERTIFICATE-----");
    assert!(text.ends_with("-----\n"));
    let body = &lines[1..lines.len() - 1];
    assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
    assert!(body.last().unwrap().len() <= 64);
    assert_eq!(STANDARD.decode(body.concat()).unwrap(), der);
}

#[test]
fn debug_does_not_print_keys() {
    let ca = root();
    let text = format!("{ca:?} {:?}", ct_log());
    assert!(text.contains("key_id") && text.contains("log_id"));
    assert!(text.len() < 200, "{text}");
}
