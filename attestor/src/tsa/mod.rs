//! An RFC 3161 Time-Stamp Authority: issues timestamp tokens that `sigstore-python` (through
//! `rfc3161-client`) and `openssl ts -verify` accept, and verifies tokens (ours and Sigstore's).
//!
//! Pure and synchronous: DER in, DER out. The caller supplies the time (`gen_time_millis`), the
//! serial number and the randomness; no clock, files or network here. The HTTP endpoint
//! (`POST application/timestamp-query`) and bundle assembly live elsewhere.
//!
//! What a token is: a CMS SignedData v3 (RFC 5652) over a TSTInfo {version 1, policy
//! [`STELLA_TSA_POLICY`], the request's messageImprint, serial, genTime (GeneralizedTime,
//! milliseconds only when not zero), nonce if asked, tsa = the leaf's name}, with the leaf
//! certificate embedded when the request has certReq, one SignerInfo v1 (issuerAndSerialNumber,
//! SHA-256) whose signed attributes are content-type, message-digest and the RFC 5035
//! signing-certificate-v2, signed with ecdsa-with-SHA256 by a P-256 key.
//!
//! Keys: [`TimestampAuthority::create`] makes a self-signed P-256 root (20 years) and a P-256
//! timestamping leaf (10 years) it issues, then drops the root key: nothing else is ever issued
//! under that root, so the root can be trusted for exactly this one leaf. Rotating the TSA means a
//! new root in `trusted_root.json`. [`TsaMaterial`] is what the caller stores.
//!
//! What it does not do: accuracy, ordering, TSA extensions, request extensions (refused with
//! unacceptedExtension), SHA-1 imprints (refused with badAlg), RSA, revocation.
//!
//! ```
//! use attestor::tsa::{verify_timestamp, TimestampAuthority};
//! let rng = ring::rand::SystemRandom::new();
//! let (tsa, material) = TimestampAuthority::create("Stella TSA", 1_700_000_000, &rng).unwrap();
//! let resp = tsa.timestamp_message(b"sig", 1_700_000_123_456, 1, &rng).unwrap();
//! let ok = verify_timestamp(&resp, b"sig", &[material.root_cert_der], &[]).unwrap();
//! assert_eq!(ok.gen_time_millis, 1_700_000_123_456);
//! ```

mod alg;
mod cert;
mod der;
mod request;
mod token;
mod verify;

#[cfg(test)]
mod tests;

use std::fmt;

use ring::rand::SecureRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

pub use alg::STELLA_TSA_POLICY;
pub use request::request_for;
pub(crate) use verify::chain_to_root;
pub use verify::{verify_timestamp, VerifiedTimestamp};

/// Lifetime of the TSA leaf certificate.
pub const LEAF_VALIDITY_SECS: u64 = 3653 * 86_400;
/// Lifetime of the TSA root certificate (outlives the leaf so tokens stay checkable).
pub const ROOT_VALIDITY_SECS: u64 = 2 * LEAF_VALIDITY_SECS;
/// Longest common name accepted (X.520 ub-common-name).
const MAX_NAME_LEN: usize = 64;

/// Everything that can go wrong creating the TSA, issuing a token, or verifying one. A bad
/// *request* is not an error: it gets a rejection TimeStampResp.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    #[error("invalid TSA name: {0}")]
    InvalidName(String),
    #[error("invalid time: {0}")]
    InvalidTime(String),
    #[error("the timestamp serial number must be positive (RFC 3161 §2.4.2)")]
    InvalidSerial,
    #[error("bad TSA key: {0}")]
    BadKey(String),
    #[error("the TSA key does not belong to the TSA certificate")]
    KeyMismatch,
    #[error("bad TSA certificate: {0}")]
    BadCertificate(String),
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("malformed timestamp: {0}")]
    Malformed(String),
    #[error("the timestamp was not granted (PKIStatus {0})")]
    NotGranted(u64),
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    #[error("signed attributes: {0}")]
    SignedAttributes(String),
    #[error("the message-digest attribute does not match the TSTInfo")]
    MessageDigestMismatch,
    #[error("the ESS signing-certificate attribute does not name the signer's certificate")]
    SigningCertificateMismatch,
    #[error("the certificate that signed the token is not in the token nor among the given certificates")]
    SignerNotFound,
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("the message imprint is not the hash of the message")]
    ImprintMismatch,
    #[error("not a timestamping certificate: {0}")]
    NotATimestampingCert(String),
    #[error(
        "the timestamp's time ({gen_time_millis} ms) is outside the signing certificate's validity"
    )]
    OutsideValidity { gen_time_millis: u64 },
    #[error("untrusted TSA certificate: {0}")]
    UntrustedChain(String),
}

/// PKIFailureInfo bits (RFC 3161 §2.4.2) a rejection can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureInfo {
    /// Unrecognized or unsupported hash algorithm.
    BadAlg,
    /// Transaction not permitted or supported (also: not DER, not a TimeStampReq).
    BadRequest,
    /// The data submitted has the wrong format (e.g. an imprint of the wrong length).
    BadDataFormat,
    /// The requested TSA policy is not supported.
    UnacceptedPolicy,
    /// The requested extension is not supported.
    UnacceptedExtension,
}

impl FailureInfo {
    /// The bit number in the PKIFailureInfo BIT STRING.
    pub fn bit(self) -> usize {
        match self {
            FailureInfo::BadAlg => 0,
            FailureInfo::BadRequest => 2,
            FailureInfo::BadDataFormat => 5,
            FailureInfo::UnacceptedPolicy => 15,
            FailureInfo::UnacceptedExtension => 16,
        }
    }
}

/// What the caller persists to bring the same TSA back with [`TimestampAuthority::from_material`].
/// The root key is not kept (see the module documentation). `Debug` does not show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct TsaMaterial {
    /// The self-signed root certificate (DER): the trust anchor for `trusted_root.json`.
    pub root_cert_der: Vec<u8>,
    /// The timestamping leaf certificate (DER).
    pub leaf_cert_der: Vec<u8>,
    /// The leaf's P-256 private key (PKCS#8 v1/v2 DER). Secret.
    pub leaf_pkcs8: Vec<u8>,
}

impl fmt::Debug for TsaMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsaMaterial")
            .field(
                "root_cert_der",
                &format_args!("{} bytes", self.root_cert_der.len()),
            )
            .field(
                "leaf_cert_der",
                &format_args!("{} bytes", self.leaf_cert_der.len()),
            )
            .field("leaf_pkcs8", &"<redacted>")
            .finish()
    }
}

/// A running TSA: the leaf key and what tokens say about the leaf.
pub struct TimestampAuthority {
    key: EcdsaKeyPair,
    root_cert_der: Vec<u8>,
    leaf_cert_der: Vec<u8>,
    leaf_subject_der: Vec<u8>,
    leaf_issuer_der: Vec<u8>,
    /// The leaf's serial as a whole INTEGER element.
    leaf_serial_der: Vec<u8>,
    leaf_sha256: Vec<u8>,
    policy_der: Vec<u8>,
}

impl fmt::Debug for TimestampAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimestampAuthority")
            .field("policy", &STELLA_TSA_POLICY)
            .finish_non_exhaustive()
    }
}

impl TimestampAuthority {
    /// A new TSA named `common_name`: a self-signed P-256 root "`common_name` Root" (CA,
    /// keyCertSign | cRLSign, [`ROOT_VALIDITY_SECS`]) and a P-256 leaf `common_name`
    /// (digitalSignature critical, extKeyUsage id-kp-timeStamping critical,
    /// [`LEAF_VALIDITY_SECS`]), both valid from `not_before` (Unix seconds). The root key is
    /// dropped once the leaf is signed.
    pub fn create(
        common_name: &str,
        not_before: u64,
        rng: &dyn SecureRandom,
    ) -> Result<(TimestampAuthority, TsaMaterial), TsaError> {
        if common_name.is_empty() || common_name.len() > MAX_NAME_LEN {
            return Err(TsaError::InvalidName(format!(
                "the common name must have 1 to {MAX_NAME_LEN} bytes"
            )));
        }
        if common_name.chars().any(char::is_control) {
            return Err(TsaError::InvalidName(
                "the common name holds a control character".into(),
            ));
        }
        let until = |secs: u64| {
            not_before
                .checked_add(secs)
                .filter(|t| *t <= der::MAX_TIME)
                .ok_or_else(|| TsaError::InvalidTime("validity ends after the year 9999".into()))
        };
        let (root_until, leaf_until) = (until(ROOT_VALIDITY_SECS)?, until(LEAF_VALIDITY_SECS)?);
        let root_key = generate(rng)?.1;
        let (leaf_pkcs8, leaf_key) = generate(rng)?;
        let root_point = cert::point(&root_key);
        let root_cn = format!("{common_name} Root");
        let root_cert_der = cert::root(
            &root_key,
            &cert::CertSpec {
                subject_cn: &root_cn,
                not_before,
                not_after: root_until,
                subject_point: &root_point,
            },
            rng,
        )?;
        let root_name = cert::name_der(&root_cn);
        let root_key_id = cert::key_identifier(&root_point);
        let leaf_point = cert::point(&leaf_key);
        let leaf_cert_der = cert::leaf(
            &cert::Issuer {
                key: &root_key,
                name_der: &root_name,
                key_id: &root_key_id,
            },
            &cert::CertSpec {
                subject_cn: common_name,
                not_before,
                not_after: leaf_until,
                subject_point: &leaf_point,
            },
            rng,
        )?;
        let material = TsaMaterial {
            root_cert_der,
            leaf_cert_der,
            leaf_pkcs8,
        };
        Ok((TimestampAuthority::from_material(&material)?, material))
    }

    /// The TSA from stored material. Checks that the key is the leaf's, that the leaf is a
    /// timestamping certificate and that the root signed it.
    pub fn from_material(m: &TsaMaterial) -> Result<TimestampAuthority, TsaError> {
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &m.leaf_pkcs8, &rng)
            .map_err(|e| TsaError::BadKey(format!("leaf key: {e}")))?;
        let leaf = parse_cert(&m.leaf_cert_der, "leaf")?;
        let root = parse_cert(&m.root_cert_der, "root")?;
        let leaf_key = alg::ec_key(leaf.public_key().raw)?;
        if leaf_key.point != cert::point(&key).as_slice() {
            return Err(TsaError::KeyMismatch);
        }
        verify::check_timestamping_cert(&leaf)?;
        verify::issued_by(&leaf, &root).map_err(|e| {
            TsaError::BadCertificate(format!("the root did not issue the leaf: {e}"))
        })?;
        let policy_der = der::oid_der_dotted(STELLA_TSA_POLICY)
            .ok_or_else(|| TsaError::Malformed("the TSA policy OID".into()))?;
        Ok(TimestampAuthority {
            key,
            root_cert_der: m.root_cert_der.clone(),
            leaf_cert_der: m.leaf_cert_der.clone(),
            leaf_subject_der: leaf.subject().as_raw().to_vec(),
            leaf_issuer_der: leaf.issuer().as_raw().to_vec(),
            leaf_serial_der: der::tlv(der::TAG_INTEGER, leaf.raw_serial()),
            leaf_sha256: alg::HashAlg::Sha256.digest(&m.leaf_cert_der),
            policy_der,
        })
    }

    /// The certificate chain, leaf first, then the root (the order of a Sigstore
    /// `trusted_root.json` `timestampAuthorities[].certChain`).
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        vec![self.leaf_cert_der.clone(), self.root_cert_der.clone()]
    }

    /// Answers a DER TimeStampReq (RFC 3161 §2.4.1) with a DER TimeStampResp (§2.4.2): granted
    /// with a token, or a rejection (badAlg, badRequest, badDataFormat, unacceptedPolicy,
    /// unacceptedExtension) with a statusString saying why. `Err` only for the TSA's own failures
    /// (a zero `serial`, a time past 9999, signing failure), never for a bad request.
    pub fn respond(
        &self,
        request_der: &[u8],
        gen_time_millis: u64,
        serial: u128,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, TsaError> {
        let req = match request::parse(request_der, &self.policy_der) {
            Ok(req) => req,
            Err(rejection) => return Ok(token::rejection(rejection.fail, &rejection.text)),
        };
        self.grant(
            &token::TokenInput {
                imprint_der: req.imprint_der,
                nonce_der: req.nonce_der,
                cert_req: req.cert_req,
                gen_time_millis,
                serial,
            },
            rng,
        )
    }

    /// A granted TimeStampResp over SHA-256(`message`), without nonce, with the leaf certificate
    /// embedded (what the Attestor puts in a Sigstore bundle).
    pub fn timestamp_message(
        &self,
        message: &[u8],
        gen_time_millis: u64,
        serial: u128,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, TsaError> {
        let digest = alg::HashAlg::Sha256.digest(message);
        let imprint =
            yasna::construct_der(|w| request::write_imprint(w, alg::HashAlg::Sha256, &digest));
        self.grant(
            &token::TokenInput {
                imprint_der: &imprint,
                nonce_der: None,
                cert_req: true,
                gen_time_millis,
                serial,
            },
            rng,
        )
    }

    fn grant(
        &self,
        input: &token::TokenInput<'_>,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, TsaError> {
        let tst = token::tst_info(self, input)?;
        let token = token::signed_token(self, &tst, input.cert_req, rng)?;
        Ok(token::granted(&token))
    }
}

fn generate(rng: &dyn SecureRandom) -> Result<(Vec<u8>, EcdsaKeyPair), TsaError> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, rng)
        .map_err(|_| TsaError::Signing("P-256 key generation".into()))?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), rng)
        .map_err(|e| TsaError::BadKey(e.to_string()))?;
    Ok((pkcs8.as_ref().to_vec(), key))
}

fn parse_cert<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, TsaError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(TsaError::BadCertificate(format!("{what}: trailing bytes"))),
        Err(e) => Err(TsaError::BadCertificate(format!("{what}: {e}"))),
    }
}
