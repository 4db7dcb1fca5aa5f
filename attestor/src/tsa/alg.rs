//! Object identifiers and the algorithms the TSA speaks: SHA-2 message imprints, ECDSA over P-256
//! and P-384.

use ring::digest;
use ring::signature::{self, VerificationAlgorithm};

use super::der::{self, oid_der, Reader, Tlv, TAG_NULL, TAG_OID, TAG_SEQUENCE};
use super::TsaError;

/// Our TSA policy (TSTInfo.policy), in dotted form. Stella Ops has no IANA enterprise number, so
/// the arc is a UUID OID (ITU-T X.667 / RFC 4122 §1: `2.25.<UUID as an integer>`, which anyone may
/// allocate without registration): UUID 969c25a1-6fcf-4eb9-94bd-af1dffd61178, then `.1` for
/// "timestamps from the Stella Ops TSA, first policy". Deliberately not Sigstore's
/// 1.3.6.1.4.1.57264.2.
pub const STELLA_TSA_POLICY: &str = "2.25.200194960917161769456766618646084981112.1";

/// id-signedData (RFC 5652 §5.1).
pub(crate) const OID_SIGNED_DATA: &[u64] = &[1, 2, 840, 113_549, 1, 7, 2];
/// id-ct-TSTInfo (RFC 3161 §2.4.2).
pub(crate) const OID_CT_TST_INFO: &[u64] = &[1, 2, 840, 113_549, 1, 9, 16, 1, 4];
/// id-contentType attribute (RFC 5652 §11.1).
pub(crate) const OID_ATTR_CONTENT_TYPE: &[u64] = &[1, 2, 840, 113_549, 1, 9, 3];
/// id-messageDigest attribute (RFC 5652 §11.2).
pub(crate) const OID_ATTR_MESSAGE_DIGEST: &[u64] = &[1, 2, 840, 113_549, 1, 9, 4];
/// id-aa-signingCertificate (RFC 2634 §5.4, ESSCertID with SHA-1).
pub(crate) const OID_ATTR_SIGNING_CERT: &[u64] = &[1, 2, 840, 113_549, 1, 9, 16, 2, 12];
/// id-aa-signingCertificateV2 (RFC 5035 §3).
pub(crate) const OID_ATTR_SIGNING_CERT_V2: &[u64] = &[1, 2, 840, 113_549, 1, 9, 16, 2, 47];
/// id-ecPublicKey (RFC 5480 §2.1.1).
pub(crate) const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
/// secp256r1 / prime256v1.
pub(crate) const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
/// secp384r1.
pub(crate) const OID_P384: &[u64] = &[1, 3, 132, 0, 34];
/// ecdsa-with-SHA256 (RFC 5758 §3.2).
pub(crate) const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
/// ecdsa-with-SHA384.
pub(crate) const OID_ECDSA_SHA384: &[u64] = &[1, 2, 840, 10045, 4, 3, 3];
/// id-at-commonName.
pub(crate) const OID_CN: &[u64] = &[2, 5, 4, 3];
/// id-ce-subjectKeyIdentifier.
pub(crate) const OID_SKI: &[u64] = &[2, 5, 29, 14];
/// id-ce-keyUsage.
pub(crate) const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
/// id-ce-basicConstraints.
pub(crate) const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
/// id-ce-authorityKeyIdentifier.
pub(crate) const OID_AKI: &[u64] = &[2, 5, 29, 35];
/// id-ce-extKeyUsage.
pub(crate) const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
/// id-kp-timeStamping (RFC 3161 §2.3).
pub(crate) const OID_KP_TIME_STAMPING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];

/// A SHA-2 hash a message imprint (or a CMS digest) may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub(crate) const ALL: [HashAlg; 3] = [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

    pub(crate) fn oid(self) -> &'static [u64] {
        match self {
            HashAlg::Sha256 => &[2, 16, 840, 1, 101, 3, 4, 2, 1],
            HashAlg::Sha384 => &[2, 16, 840, 1, 101, 3, 4, 2, 2],
            HashAlg::Sha512 => &[2, 16, 840, 1, 101, 3, 4, 2, 3],
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }

    pub(crate) fn len(self) -> usize {
        self.ring().output_len()
    }

    fn ring(self) -> &'static digest::Algorithm {
        match self {
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        }
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.ring(), data).as_ref().to_vec()
    }

    /// The hash named by an OBJECT IDENTIFIER element, if it is one of ours.
    pub(crate) fn from_oid(oid: &Tlv<'_>) -> Option<HashAlg> {
        HashAlg::ALL
            .into_iter()
            .find(|h| oid.raw == oid_der(h.oid()).as_slice())
    }
}

/// What an AlgorithmIdentifier names, for the caller to judge.
#[derive(Debug)]
pub(crate) struct AlgorithmId<'a> {
    pub(crate) oid: Tlv<'a>,
    /// The parameters, if any. Hashes may have absent or NULL parameters (RFC 5754 §2); for an
    /// ECDSA signature algorithm they are not looked at.
    pub(crate) params: Option<Tlv<'a>>,
}

/// Reads `AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }` from its
/// contents.
pub(crate) fn algorithm_id<'a>(
    contents: &'a [u8],
    what: &str,
) -> Result<AlgorithmId<'a>, TsaError> {
    let mut r = Reader::new(contents);
    let oid = r.expect(TAG_OID, what)?;
    let params = if r.is_empty() {
        None
    } else {
        Some(r.next(what)?)
    };
    r.finish(what)?;
    Ok(AlgorithmId { oid, params })
}

/// A hash AlgorithmIdentifier (with absent or NULL parameters).
pub(crate) fn hash_alg(tlv: &Tlv<'_>, what: &str) -> Result<HashAlg, TsaError> {
    if tlv.tag != TAG_SEQUENCE {
        return Err(TsaError::Malformed(format!(
            "{what}: not an AlgorithmIdentifier"
        )));
    }
    let id = algorithm_id(tlv.content, what)?;
    if id
        .params
        .is_some_and(|p| !(p.tag == TAG_NULL && p.content.is_empty()))
    {
        return Err(TsaError::Malformed(format!(
            "{what}: unexpected hash parameters"
        )));
    }
    HashAlg::from_oid(&id.oid).ok_or_else(|| {
        TsaError::UnsupportedAlgorithm(format!(
            "{what}: {}",
            der::oid_to_string(id.oid.content, what).unwrap_or_else(|_| "?".into())
        ))
    })
}

/// An elliptic curve we verify on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

/// An EC public key read from a SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EcKey<'a> {
    pub(crate) curve: Curve,
    pub(crate) point: &'a [u8],
}

/// Reads `SubjectPublicKeyInfo ::= SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve }, BIT STRING }`.
pub(crate) fn ec_key(spki_der: &[u8]) -> Result<EcKey<'_>, TsaError> {
    let what = "SubjectPublicKeyInfo";
    let spki = der::read_one(spki_der, TAG_SEQUENCE, what)?;
    let mut r = Reader::new(spki.content);
    let alg = r.expect(TAG_SEQUENCE, what)?;
    let bits = r.expect(der::TAG_BIT_STRING, what)?;
    r.finish(what)?;
    let id = algorithm_id(alg.content, what)?;
    if id.oid.raw != oid_der(OID_EC_PUBLIC_KEY).as_slice() {
        return Err(TsaError::UnsupportedAlgorithm(
            "public key: only EC keys (P-256, P-384) are supported".into(),
        ));
    }
    let curve = match id.params {
        Some(p) if p.raw == oid_der(OID_P256).as_slice() => Curve::P256,
        Some(p) if p.raw == oid_der(OID_P384).as_slice() => Curve::P384,
        _ => {
            return Err(TsaError::UnsupportedAlgorithm(
                "public key: only the named curves P-256 and P-384 are supported".into(),
            ))
        }
    };
    let point = match bits.content.split_first() {
        Some((0, point)) if !point.is_empty() => point,
        _ => return Err(TsaError::Malformed(format!("{what}: bad key BIT STRING"))),
    };
    Ok(EcKey { curve, point })
}

/// Verifies an ASN.1 (DER SEQUENCE { r, s }) ECDSA signature over `message`, made with the
/// algorithm `sig_alg_oid` names (the whole OBJECT IDENTIFIER element: ecdsa-with-SHA256 or -SHA384).
pub(crate) fn verify_ecdsa(
    key: &EcKey<'_>,
    sig_alg_oid: &[u8],
    message: &[u8],
    sig: &[u8],
    what: &str,
) -> Result<(), TsaError> {
    let sha256 = sig_alg_oid == oid_der(OID_ECDSA_SHA256).as_slice();
    let sha384 = sig_alg_oid == oid_der(OID_ECDSA_SHA384).as_slice();
    let alg: &dyn VerificationAlgorithm = match (key.curve, sha256, sha384) {
        (Curve::P256, true, _) => &signature::ECDSA_P256_SHA256_ASN1,
        (Curve::P256, _, true) => &signature::ECDSA_P256_SHA384_ASN1,
        (Curve::P384, true, _) => &signature::ECDSA_P384_SHA256_ASN1,
        (Curve::P384, _, true) => &signature::ECDSA_P384_SHA384_ASN1,
        _ => {
            let name = der::read_one(sig_alg_oid, TAG_OID, what)
                .and_then(|t| der::oid_to_string(t.content, what))
                .unwrap_or_else(|_| "?".into());
            return Err(TsaError::UnsupportedAlgorithm(format!(
                "{what}: signature algorithm {name} (only ecdsa-with-SHA256 / -SHA384)"
            )));
        }
    };
    signature::UnparsedPublicKey::new(alg, key.point)
        .verify(message, sig)
        .map_err(|_| TsaError::BadSignature(what.to_string()))
}
