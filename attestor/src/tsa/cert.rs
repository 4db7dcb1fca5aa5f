//! The TSA's two certificates, written with yasna the way `signer_gateway::keyless` writes Fulcio's
//! (its helpers are crate-private, so the few needed are repeated here): a self-signed P-256 root
//! and a P-256 timestamping leaf it issues.

use ring::rand::SecureRandom;
use ring::signature::{EcdsaKeyPair, KeyPair};
use yasna::models::ObjectIdentifier;
use yasna::{DERWriter, Tag};

use super::alg::{
    OID_AKI, OID_BASIC_CONSTRAINTS, OID_CN, OID_ECDSA_SHA256, OID_EC_PUBLIC_KEY, OID_EXT_KEY_USAGE,
    OID_KEY_USAGE, OID_KP_TIME_STAMPING, OID_P256, OID_SKI,
};
use super::der::{self, oid};
use super::TsaError;

/// What one certificate says, apart from its key.
pub(crate) struct CertSpec<'a> {
    pub(crate) subject_cn: &'a str,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    /// The subject's uncompressed P-256 point.
    pub(crate) subject_point: &'a [u8],
}

/// The issuer of a certificate: its key, its name (DER) and its key identifier.
pub(crate) struct Issuer<'a> {
    pub(crate) key: &'a EcdsaKeyPair,
    pub(crate) name_der: &'a [u8],
    pub(crate) key_id: &'a [u8],
}

/// `Name ::= SEQUENCE { SET { SEQUENCE { id-at-commonName, UTF8String } } }`.
pub(crate) fn name_der(common_name: &str) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_set(|w| {
                w.next().write_sequence(|w| {
                    w.next().write_oid(&oid(OID_CN));
                    w.next().write_utf8_string(common_name);
                })
            })
        })
    })
}

/// RFC 7093 §2 method 1: the leftmost 160 bits of SHA-256 of the subjectPublicKey bits.
pub(crate) fn key_identifier(point: &[u8]) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, point);
    digest.as_ref().get(..20).unwrap_or_default().to_vec()
}

/// A self-signed CA: basicConstraints CA:TRUE, keyUsage keyCertSign | cRLSign (both critical),
/// subjectKeyIdentifier.
pub(crate) fn root(
    key: &EcdsaKeyPair,
    spec: &CertSpec<'_>,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, TsaError> {
    let name = name_der(spec.subject_cn);
    let key_id = key_identifier(spec.subject_point);
    let extensions = [
        extension(
            OID_BASIC_CONSTRAINTS,
            true,
            &yasna::construct_der(|w| w.write_sequence(|w| w.next().write_bool(true))),
        ),
        extension(OID_KEY_USAGE, true, &key_usage(&[5, 6])),
        extension(OID_SKI, false, &octet_string(&key_id)),
    ];
    let issuer = Issuer {
        key,
        name_der: &name,
        key_id: &key_id,
    };
    certificate(&issuer, spec, &extensions, rng)
}

/// A timestamping leaf: keyUsage digitalSignature (critical), extKeyUsage id-kp-timeStamping
/// (critical, RFC 3161 §2.3, and the only purpose), subject and authority key identifiers.
pub(crate) fn leaf(
    issuer: &Issuer<'_>,
    spec: &CertSpec<'_>,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, TsaError> {
    let extensions = [
        extension(OID_KEY_USAGE, true, &key_usage(&[0])),
        extension(
            OID_EXT_KEY_USAGE,
            true,
            &yasna::construct_der(|w| {
                w.write_sequence(|w| w.next().write_oid(&oid(OID_KP_TIME_STAMPING)))
            }),
        ),
        extension(
            OID_SKI,
            false,
            &octet_string(&key_identifier(spec.subject_point)),
        ),
        extension(
            OID_AKI,
            false,
            &yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_tagged_implicit(Tag::context(0), |w| w.write_bytes(issuer.key_id))
                })
            }),
        ),
    ];
    certificate(issuer, spec, &extensions, rng)
}

/// `SubjectPublicKeyInfo { id-ecPublicKey prime256v1, point }`.
pub(crate) fn p256_spki(point: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(OID_EC_PUBLIC_KEY));
                w.next().write_oid(&oid(OID_P256));
            });
            w.next().write_bitvec_bytes(point, point.len() * 8);
        })
    })
}

fn certificate(
    issuer: &Issuer<'_>,
    spec: &CertSpec<'_>,
    extensions: &[Vec<u8>],
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, TsaError> {
    if spec.not_after <= spec.not_before {
        return Err(TsaError::InvalidTime(
            "a certificate's not_after must be later than its not_before".into(),
        ));
    }
    let (nb, na) = (
        der::cert_time(spec.not_before)?,
        der::cert_time(spec.not_after)?,
    );
    let serial = random_serial(rng)?;
    let subject = name_der(spec.subject_cn);
    let spki = p256_spki(spec.subject_point);
    let tbs = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_tagged(Tag::context(0), |w| w.write_u8(2));
            w.next().write_bigint_bytes(&serial, true);
            write_ecdsa_sha256(w.next());
            w.next().write_der(issuer.name_der);
            w.next().write_sequence(|w| {
                w.next().write_der(&nb);
                w.next().write_der(&na);
            });
            w.next().write_der(&subject);
            w.next().write_der(&spki);
            w.next().write_tagged(Tag::context(3), |w| {
                w.write_sequence(|w| {
                    for ext in extensions {
                        w.next().write_der(ext);
                    }
                })
            });
        })
    });
    let sig = issuer
        .key
        .sign(rng, &tbs)
        .map_err(|_| TsaError::Signing("certificate".into()))?;
    let sig = sig.as_ref();
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            write_ecdsa_sha256(w.next());
            w.next().write_bitvec_bytes(sig, sig.len() * 8);
        })
    }))
}

/// The public point of a key pair.
pub(crate) fn point(key: &EcdsaKeyPair) -> Vec<u8> {
    key.public_key().as_ref().to_vec()
}

/// `AlgorithmIdentifier { ecdsa-with-SHA256 }` (no parameters, RFC 5758 §3.2).
pub(crate) fn write_ecdsa_sha256(w: DERWriter<'_>) {
    w.write_sequence(|w| {
        w.next()
            .write_oid(&ObjectIdentifier::from_slice(OID_ECDSA_SHA256))
    });
}

/// One extension: `SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }`.
fn extension(id: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_oid(&oid(id));
            if critical {
                w.next().write_bool(true);
            }
            w.next().write_bytes(value);
        })
    })
}

fn octet_string(bytes: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| w.write_bytes(bytes))
}

/// A KeyUsage BIT STRING with the given bits set (0 = digitalSignature, 5 = keyCertSign,
/// 6 = cRLSign; all below 8), trailing zero bits dropped as DER wants.
fn key_usage(bits: &[u8]) -> Vec<u8> {
    let byte = bits.iter().fold(0u8, |acc, b| acc | (0x80 >> b));
    let len = bits.iter().map(|b| usize::from(*b) + 1).max().unwrap_or(0);
    yasna::construct_der(|w| w.write_bitvec_bytes(&[byte], len))
}

/// A positive serial of exactly 20 bytes (RFC 5280 §4.1.2.2): top bit cleared, next bit set.
fn random_serial(rng: &dyn SecureRandom) -> Result<[u8; 20], TsaError> {
    let mut serial = [0u8; 20];
    rng.fill(&mut serial)
        .map_err(|_| TsaError::Signing("random certificate serial".into()))?;
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    Ok(serial)
}
