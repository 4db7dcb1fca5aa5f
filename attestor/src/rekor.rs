//! Rekor v2 `hashedrekord` v0.0.2 entries and the transparency-log entry (`TransparencyLogEntry`)
//! that Rekor v2 answers and Sigstore bundles embed.
//!
//! - [`parse_create_request`] reads a `POST /api/v2/log/entries` body and validates it as Rekor v2
//!   does: a known `keyDetails` that matches the key's type and curve, no pure Ed25519 (a hashedrekord
//!   signs a digest), a digest as long as the key's hash, and a signature that verifies over that
//!   prehashed digest.
//! - [`HashedRekordV002::canonical_body`] is the entry body the log stores and hashes: the RFC 8785
//!   canonical JSON of `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":…}}`,
//!   byte-identical to what Rekor v2 writes.
//! - [`HashedRekordV002::for_dsse`] logs a DSSE envelope the Rekor v2 way (rekor-v2-spec §6.1.4):
//!   `digest = H(PAE(payloadType, payload))`, the envelope's signature, the signer's key or certificate.
//!
//! What it does *not* do: verify Ed25519ph signatures (refused with
//! [`EntryError::UnsupportedVerification`]; ECDSA P-256/P-384/P-521 and RSA PKCS#1 v1.5 / PSS
//! 2048–4096 are verified), check a
//! certificate's validity period or chain (Rekor v2 does neither), or log `dsseRequestV002` entries
//! (Rekor v2 deprecates them; we log DSSE as hashedrekord).
//!
//! The protobuf JSON mapping applies throughout: camelCase members (the proto field names are
//! accepted too), `bytes` as base64, 64-bit integers as decimal strings, enums by name.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use signer_gateway::dsse::{pae, Envelope};

use crate::bundle::BundleError;
use crate::jcs::{self, JcsError};

/// Largest request body [`parse_create_request`] reads.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The entry kind and version this module writes.
pub const HASHEDREKORD_KIND: &str = "hashedrekord";
/// The hashedrekord version of Rekor v2.
pub const HASHEDREKORD_VERSION: &str = "0.0.2";

/// Most sibling hashes an inclusion proof may carry (a tree of at most 2^64 leaves).
const MAX_PROOF_HASHES: usize = 64;

// ---------------------------------------------------------------------------------------------
// JSON reading helpers shared by the format modules (crate-private).

/// What is wrong with one member of a JSON document; `path` is the dotted path to it
/// (`hashedRekordRequestV002.signature.content`, `tlogs[1].publicKey.rawBytes`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("missing member `{0}`")]
    Missing(String),
    #[error("`{path}` must be {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    #[error("`{path}` is not valid base64: {reason}")]
    Base64 { path: String, reason: String },
    #[error("`{path}` is not an unsigned 64-bit integer (a decimal string or number)")]
    Integer { path: String },
    #[error("unknown member `{0}`")]
    Unknown(String),
    #[error("`{path}` is not valid: {reason}")]
    Invalid { path: String, reason: String },
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// A JSON object being read, with its path for error messages.
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// `v` as an object whose members all appear in `allowed` (each given by its camelCase JSON
    /// name; its protobuf snake_case name is accepted too).
    pub(crate) fn new(v: &'a Value, path: &str, allowed: &[&str]) -> Result<Obj<'a>, FieldError> {
        let map = v.as_object().ok_or_else(|| FieldError::WrongType {
            path: if path.is_empty() {
                "(document)".to_owned()
            } else {
                path.to_owned()
            },
            expected: "a JSON object",
        })?;
        for key in map.keys() {
            if !allowed.iter().any(|a| *a == key || snake_case(a) == *key) {
                return Err(FieldError::Unknown(join(path, key)));
            }
        }
        Ok(Obj {
            map,
            path: path.to_owned(),
        })
    }

    pub(crate) fn path(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// The member `name` (or its snake_case spelling); JSON `null` counts as absent, as protobuf
    /// JSON says.
    pub(crate) fn opt(&self, name: &str) -> Option<&'a Value> {
        self.map
            .get(name)
            .or_else(|| self.map.get(&snake_case(name)))
            .filter(|v| !v.is_null())
    }

    pub(crate) fn req(&self, name: &str) -> Result<&'a Value, FieldError> {
        self.opt(name)
            .ok_or_else(|| FieldError::Missing(self.path(name)))
    }

    pub(crate) fn obj(&self, name: &str, allowed: &[&str]) -> Result<Obj<'a>, FieldError> {
        Obj::new(self.req(name)?, &self.path(name), allowed)
    }

    pub(crate) fn opt_obj(
        &self,
        name: &str,
        allowed: &[&str],
    ) -> Result<Option<Obj<'a>>, FieldError> {
        self.opt(name)
            .map(|v| Obj::new(v, &self.path(name), allowed))
            .transpose()
    }

    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        self.opt(name)
            .map(|v| {
                v.as_str().ok_or_else(|| FieldError::WrongType {
                    path: self.path(name),
                    expected: "a string",
                })
            })
            .transpose()
    }

    pub(crate) fn str(&self, name: &str) -> Result<&'a str, FieldError> {
        self.opt_str(name)?
            .ok_or_else(|| FieldError::Missing(self.path(name)))
    }

    pub(crate) fn bytes(&self, name: &str) -> Result<Vec<u8>, FieldError> {
        decode_b64(self.str(name)?, &self.path(name))
    }

    pub(crate) fn opt_u64(&self, name: &str) -> Result<Option<u64>, FieldError> {
        self.opt(name)
            .map(|v| proto_u64(v, &self.path(name)))
            .transpose()
    }

    pub(crate) fn u64(&self, name: &str) -> Result<u64, FieldError> {
        self.opt_u64(name)?
            .ok_or_else(|| FieldError::Missing(self.path(name)))
    }

    /// The array `name` (absent = empty, as protobuf JSON says), at most `max` items, each with
    /// its path.
    pub(crate) fn arr(
        &self,
        name: &str,
        max: usize,
    ) -> Result<Vec<(String, &'a Value)>, FieldError> {
        let Some(v) = self.opt(name) else {
            return Ok(Vec::new());
        };
        let path = self.path(name);
        let items = v.as_array().ok_or_else(|| FieldError::WrongType {
            path: path.clone(),
            expected: "an array",
        })?;
        if items.len() > max {
            return Err(FieldError::Invalid {
                path,
                reason: format!("{} items (at most {max} accepted)", items.len()),
            });
        }
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("{path}[{i}]"), item))
            .collect())
    }
}

/// The protobuf snake_case field name of a camelCase JSON name (`hashedRekordRequestV002` →
/// `hashed_rekord_request_v002`).
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Standard base64 (padding optional, as protobuf JSON readers accept).
pub(crate) fn decode_b64(text: &str, path: &str) -> Result<Vec<u8>, FieldError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).map_err(|e| FieldError::Base64 {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A protobuf (u)int64: a decimal string, or a JSON number that is a non-negative integer.
pub(crate) fn proto_u64(v: &Value, path: &str) -> Result<u64, FieldError> {
    let bad = || FieldError::Integer {
        path: path.to_owned(),
    };
    match v {
        Value::String(s) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        }
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------------------------
// Key details.

/// `dev.sigstore.common.v1.PublicKeyDetails`: a key's type and the signature algorithm used with
/// it. [`KeyDetails::as_str`] and [`KeyDetails::parse`] use the protobuf enum names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyDetails {
    /// Deprecated: PKCS#1 RSA key, PKCS#1 v1.5 signature (seen in old CT log entries).
    Pkcs1RsaPkcs1v5,
    /// Deprecated.
    Pkcs1RsaPss,
    /// Deprecated.
    PkixRsaPkcs1v5,
    /// Deprecated.
    PkixRsaPss,
    PkixRsaPkcs1v15_2048Sha256,
    PkixRsaPkcs1v15_3072Sha256,
    PkixRsaPkcs1v15_4096Sha256,
    PkixRsaPss2048Sha256,
    PkixRsaPss3072Sha256,
    PkixRsaPss4096Sha256,
    /// Deprecated (RFC 6979 deterministic ECDSA).
    PkixEcdsaP256HmacSha256,
    PkixEcdsaP256Sha256,
    PkixEcdsaP384Sha384,
    PkixEcdsaP521Sha512,
    /// Pure Ed25519: signs the message itself, so it cannot sign a hashedrekord digest.
    PkixEd25519,
    /// Ed25519ph (prehashed with SHA-512).
    PkixEd25519Ph,
    /// Deprecated.
    PkixEcdsaP384Sha256,
    /// Deprecated.
    PkixEcdsaP521Sha256,
    /// Deprecated (stateful hash-based signatures).
    LmsSha256,
    /// Deprecated.
    LmotsSha256,
    MlDsa65,
    MlDsa87,
}

const KEY_DETAILS_NAMES: &[(KeyDetails, &str)] = &[
    (KeyDetails::Pkcs1RsaPkcs1v5, "PKCS1_RSA_PKCS1V5"),
    (KeyDetails::Pkcs1RsaPss, "PKCS1_RSA_PSS"),
    (KeyDetails::PkixRsaPkcs1v5, "PKIX_RSA_PKCS1V5"),
    (KeyDetails::PkixRsaPss, "PKIX_RSA_PSS"),
    (
        KeyDetails::PkixRsaPkcs1v15_2048Sha256,
        "PKIX_RSA_PKCS1V15_2048_SHA256",
    ),
    (
        KeyDetails::PkixRsaPkcs1v15_3072Sha256,
        "PKIX_RSA_PKCS1V15_3072_SHA256",
    ),
    (
        KeyDetails::PkixRsaPkcs1v15_4096Sha256,
        "PKIX_RSA_PKCS1V15_4096_SHA256",
    ),
    (KeyDetails::PkixRsaPss2048Sha256, "PKIX_RSA_PSS_2048_SHA256"),
    (KeyDetails::PkixRsaPss3072Sha256, "PKIX_RSA_PSS_3072_SHA256"),
    (KeyDetails::PkixRsaPss4096Sha256, "PKIX_RSA_PSS_4096_SHA256"),
    (
        KeyDetails::PkixEcdsaP256HmacSha256,
        "PKIX_ECDSA_P256_HMAC_SHA_256",
    ),
    (KeyDetails::PkixEcdsaP256Sha256, "PKIX_ECDSA_P256_SHA_256"),
    (KeyDetails::PkixEcdsaP384Sha384, "PKIX_ECDSA_P384_SHA_384"),
    (KeyDetails::PkixEcdsaP521Sha512, "PKIX_ECDSA_P521_SHA_512"),
    (KeyDetails::PkixEd25519, "PKIX_ED25519"),
    (KeyDetails::PkixEd25519Ph, "PKIX_ED25519_PH"),
    (KeyDetails::PkixEcdsaP384Sha256, "PKIX_ECDSA_P384_SHA_256"),
    (KeyDetails::PkixEcdsaP521Sha256, "PKIX_ECDSA_P521_SHA_256"),
    (KeyDetails::LmsSha256, "LMS_SHA256"),
    (KeyDetails::LmotsSha256, "LMOTS_SHA256"),
    (KeyDetails::MlDsa65, "ML_DSA_65"),
    (KeyDetails::MlDsa87, "ML_DSA_87"),
];

/// A hash algorithm by its `dev.sigstore.common.v1.HashAlgorithm` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha2_256,
    Sha2_384,
    Sha2_512,
}

impl HashAlgorithm {
    /// The protobuf enum name (`SHA2_256`).
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Sha2_256 => "SHA2_256",
            HashAlgorithm::Sha2_384 => "SHA2_384",
            HashAlgorithm::Sha2_512 => "SHA2_512",
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha2_256 => 32,
            HashAlgorithm::Sha2_384 => 48,
            HashAlgorithm::Sha2_512 => 64,
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha2_256 => Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha2_384 => Sha384::digest(data).to_vec(),
            HashAlgorithm::Sha2_512 => Sha512::digest(data).to_vec(),
        }
    }
}

impl KeyDetails {
    /// The protobuf enum name (`PKIX_ECDSA_P256_SHA_256`).
    pub fn as_str(self) -> &'static str {
        KEY_DETAILS_NAMES
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("PUBLIC_KEY_DETAILS_UNSPECIFIED", |(_, n)| *n)
    }

    /// Reads a protobuf enum name; `None` for unknown names (and for `..._UNSPECIFIED`).
    pub fn parse(name: &str) -> Option<KeyDetails> {
        KEY_DETAILS_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(k, _)| *k)
    }

    /// The hash the signature algorithm applies to the message before signing, which is the hash
    /// of a hashedrekord digest; `None` when there is none (pure Ed25519, ML-DSA) or the variant is
    /// deprecated without a defined one.
    pub fn hash_algorithm(self) -> Option<HashAlgorithm> {
        use KeyDetails::*;
        match self {
            PkixRsaPkcs1v15_2048Sha256
            | PkixRsaPkcs1v15_3072Sha256
            | PkixRsaPkcs1v15_4096Sha256
            | PkixRsaPss2048Sha256
            | PkixRsaPss3072Sha256
            | PkixRsaPss4096Sha256
            | PkixEcdsaP256HmacSha256
            | PkixEcdsaP256Sha256
            | PkixEcdsaP384Sha256
            | PkixEcdsaP521Sha256
            | LmsSha256
            | LmotsSha256 => Some(HashAlgorithm::Sha2_256),
            PkixEcdsaP384Sha384 => Some(HashAlgorithm::Sha2_384),
            PkixEcdsaP521Sha512 | PkixEd25519Ph => Some(HashAlgorithm::Sha2_512),
            Pkcs1RsaPkcs1v5 | Pkcs1RsaPss | PkixRsaPkcs1v5 | PkixRsaPss | PkixEd25519 | MlDsa65
            | MlDsa87 => None,
        }
    }

    /// Length in bytes of a digest signed with this algorithm (see [`KeyDetails::hash_algorithm`]).
    pub fn hash_len(self) -> Option<usize> {
        self.hash_algorithm().map(HashAlgorithm::digest_len)
    }
}

impl fmt::Display for KeyDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// Why a hashedrekord request or entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("request body is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("request body is not JSON: {0}")]
    Json(String),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("unsupported entry type: {0}")]
    UnsupportedEntryType(String),
    #[error("request must hold exactly one of `hashedRekordRequestV002` or `dsseRequestV002`")]
    NoEntry,
    #[error("`{path}` must hold exactly one of `publicKey` or `x509Certificate`")]
    VerifierOneOf { path: String },
    #[error("unknown keyDetails `{0}`")]
    UnknownKeyDetails(String),
    #[error("keyDetails PKIX_ED25519 (pure Ed25519) cannot sign a hashedrekord digest; use PKIX_ED25519_PH or log the artifact as DSSE")]
    PureEd25519,
    #[error("keyDetails {details} does not match the verifier's {key} key")]
    KeyDetailsMismatch { details: KeyDetails, key: String },
    #[error("keyDetails {0} is deprecated or has no hash; not accepted for new entries")]
    KeyDetailsNotAccepted(KeyDetails),
    #[error("digest is {actual} bytes but {details} signs a {expected}-byte digest")]
    DigestLength {
        details: KeyDetails,
        expected: usize,
        actual: usize,
    },
    #[error("signature is empty")]
    EmptySignature,
    #[error("verifier certificate is not a valid X.509 DER certificate: {0}")]
    BadCertificate(String),
    #[error("verifier public key is not a valid SubjectPublicKeyInfo: {0}")]
    BadPublicKey(String),
    #[error("unsupported verifier key: {0}")]
    UnsupportedKey(String),
    #[error("signature is not a valid DER ECDSA signature: {0}")]
    MalformedSignature(String),
    #[error("signature does not verify over the digest with the verifier's key")]
    BadSignature,
    #[error("signature verification for {0} is not implemented yet (only ECDSA P-256 and P-384)")]
    UnsupportedVerification(KeyDetails),
    #[error("DSSE envelope has {0} signatures; exactly one can be logged as a hashedrekord")]
    DsseSignatureCount(usize),
    #[error("entry body has no canonical form: {0}")]
    Canonical(#[from] JcsError),
}

// ---------------------------------------------------------------------------------------------
// Verifiers and keys.

/// Who signed: a public key (SubjectPublicKeyInfo DER) or an X.509 certificate (DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verifier {
    PublicKey { spki_der: Vec<u8> },
    X509Certificate { der: Vec<u8> },
}

/// The kinds of public key we tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyKind {
    P256(Vec<u8>),
    P384(Vec<u8>),
    P521(Vec<u8>),
    Ed25519,
    /// Modulus size, modulus and exponent (big-endian).
    Rsa {
        bits: usize,
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::P256(_) => f.write_str("ECDSA P-256"),
            KeyKind::P384(_) => f.write_str("ECDSA P-384"),
            KeyKind::P521(_) => f.write_str("ECDSA P-521"),
            KeyKind::Ed25519 => f.write_str("Ed25519"),
            KeyKind::Rsa { bits, .. } => write!(f, "RSA-{bits}"),
        }
    }
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

fn classify_spki(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<KeyKind, EntryError> {
    let alg = spki.algorithm.algorithm.to_id_string();
    let point = spki.subject_public_key.data.to_vec();
    match alg.as_str() {
        OID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .ok_or_else(|| EntryError::UnsupportedKey("EC key without a named curve".into()))?;
            match curve.as_str() {
                OID_P256 => Ok(KeyKind::P256(point)),
                OID_P384 => Ok(KeyKind::P384(point)),
                OID_P521 => Ok(KeyKind::P521(point)),
                other => Err(EntryError::UnsupportedKey(format!("EC curve {other}"))),
            }
        }
        OID_ED25519 => {
            if point.len() != 32 {
                return Err(EntryError::BadPublicKey(format!(
                    "Ed25519 key of {} bytes",
                    point.len()
                )));
            }
            Ok(KeyKind::Ed25519)
        }
        OID_RSA => match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Ok(KeyKind::Rsa {
                bits: modulus_bits(rsa.modulus),
                n: rsa.modulus.to_vec(),
                e: rsa.exponent.to_vec(),
            }),
            _ => Err(EntryError::BadPublicKey("RSA key does not parse".into())),
        },
        other => Err(EntryError::UnsupportedKey(format!("algorithm {other}"))),
    }
}

fn modulus_bits(modulus: &[u8]) -> usize {
    let trimmed: &[u8] = match modulus.iter().position(|b| *b != 0) {
        Some(i) => modulus.get(i..).unwrap_or_default(),
        None => &[],
    };
    match trimmed.first() {
        Some(first) => (trimmed.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

impl Verifier {
    /// The key inside: parses the SubjectPublicKeyInfo or the certificate.
    fn key_kind(&self) -> Result<KeyKind, EntryError> {
        use x509_parser::prelude::FromDer as _;
        match self {
            Verifier::PublicKey { spki_der } => {
                let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
                    .map_err(|e| EntryError::BadPublicKey(e.to_string()))?;
                if !rest.is_empty() {
                    return Err(EntryError::BadPublicKey(format!(
                        "{} bytes after the SubjectPublicKeyInfo",
                        rest.len()
                    )));
                }
                classify_spki(&spki)
            }
            Verifier::X509Certificate { der } => {
                let (rest, cert) = x509_parser::parse_x509_certificate(der)
                    .map_err(|e| EntryError::BadCertificate(e.to_string()))?;
                if !rest.is_empty() {
                    return Err(EntryError::BadCertificate(format!(
                        "{} bytes after the certificate",
                        rest.len()
                    )));
                }
                classify_spki(cert.public_key())
            }
        }
    }

    /// The `keyDetails` a new entry with this verifier gets (what sigstore-python and cosign
    /// choose for the key): P-256 → `PKIX_ECDSA_P256_SHA_256`, P-384 → `PKIX_ECDSA_P384_SHA_384`,
    /// P-521 → `PKIX_ECDSA_P521_SHA_512`, RSA → `PKIX_RSA_PKCS1V15_<bits>_SHA256`, Ed25519 →
    /// `PKIX_ED25519_PH` (pure Ed25519 cannot sign a digest).
    pub fn default_key_details(&self) -> Result<KeyDetails, EntryError> {
        Ok(match self.key_kind()? {
            KeyKind::P256(_) => KeyDetails::PkixEcdsaP256Sha256,
            KeyKind::P384(_) => KeyDetails::PkixEcdsaP384Sha384,
            KeyKind::P521(_) => KeyDetails::PkixEcdsaP521Sha512,
            KeyKind::Ed25519 => KeyDetails::PkixEd25519Ph,
            KeyKind::Rsa { bits: 2048, .. } => KeyDetails::PkixRsaPkcs1v15_2048Sha256,
            KeyKind::Rsa { bits: 3072, .. } => KeyDetails::PkixRsaPkcs1v15_3072Sha256,
            KeyKind::Rsa { bits: 4096, .. } => KeyDetails::PkixRsaPkcs1v15_4096Sha256,
            KeyKind::Rsa { bits, .. } => {
                return Err(EntryError::UnsupportedKey(format!("RSA-{bits}")));
            }
        })
    }

    fn to_json(&self, key_details: KeyDetails) -> Value {
        match self {
            Verifier::PublicKey { spki_der } => json!({
                "keyDetails": key_details.as_str(),
                "publicKey": {"rawBytes": b64(spki_der)},
            }),
            Verifier::X509Certificate { der } => json!({
                "keyDetails": key_details.as_str(),
                "x509Certificate": {"rawBytes": b64(der)},
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// hashedrekord v0.0.2.

/// A Rekor v2 hashedrekord v0.0.2 entry: a signature over a digest, and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedRekordV002 {
    /// The signed digest, hashed with `key_details`' hash (SHA-256 for P-256).
    pub digest: Vec<u8>,
    /// The signature (ASN.1 DER for ECDSA).
    pub signature: Vec<u8>,
    pub verifier: Verifier,
    pub key_details: KeyDetails,
}

/// Parses a Rekor v2 `POST /api/v2/log/entries` body and validates it as Rekor v2 does (see the
/// module docs). Shape:
/// `{"hashedRekordRequestV002": {"digest": b64, "signature": {"content": b64, "verifier":
/// {"publicKey": {"rawBytes": b64}} | {"x509Certificate": {"rawBytes": b64}}, "keyDetails": NAME}}}}`.
pub fn parse_create_request(body: &[u8]) -> Result<HashedRekordV002, EntryError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(EntryError::TooLarge);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| EntryError::Json(e.to_string()))?;
    let top = Obj::new(&v, "", &["hashedRekordRequestV002", "dsseRequestV002"])?;
    let hashed = top.opt("hashedRekordRequestV002");
    let dsse = top.opt("dsseRequestV002");
    match (hashed, dsse) {
        (Some(_), Some(_)) | (None, None) => Err(EntryError::NoEntry),
        (None, Some(_)) => Err(EntryError::UnsupportedEntryType(
            "dsseRequestV002; log a DSSE envelope as hashedrekord (digest = SHA-256(PAE(payloadType, payload)))"
                .into(),
        )),
        (Some(req), None) => {
            let req = Obj::new(req, "hashedRekordRequestV002", &["digest", "signature"])?;
            let entry = read_request(&req)?;
            entry.validate()?;
            Ok(entry)
        }
    }
}

fn read_request(req: &Obj<'_>) -> Result<HashedRekordV002, EntryError> {
    let digest = req.bytes("digest")?;
    let sig = req.obj("signature", &["content", "verifier"])?;
    let signature = sig.bytes("content")?;
    let (verifier, key_details) =
        read_verifier(&sig.obj("verifier", &["publicKey", "x509Certificate", "keyDetails"])?)?;
    Ok(HashedRekordV002 {
        digest,
        signature,
        verifier,
        key_details,
    })
}

/// Reads a `dev.sigstore.rekor.v2.Verifier` object.
fn read_verifier(v: &Obj<'_>) -> Result<(Verifier, KeyDetails), EntryError> {
    let name = v.str("keyDetails")?;
    let key_details =
        KeyDetails::parse(name).ok_or_else(|| EntryError::UnknownKeyDetails(name.to_owned()))?;
    let pk = v.opt_obj("publicKey", &["rawBytes"])?;
    let cert = v.opt_obj("x509Certificate", &["rawBytes"])?;
    let verifier = match (pk, cert) {
        (Some(pk), None) => Verifier::PublicKey {
            spki_der: pk.bytes("rawBytes")?,
        },
        (None, Some(cert)) => Verifier::X509Certificate {
            der: cert.bytes("rawBytes")?,
        },
        _ => {
            return Err(EntryError::VerifierOneOf {
                path: v.path.clone(),
            })
        }
    };
    Ok((verifier, key_details))
}

impl HashedRekordV002 {
    /// Checks the entry as Rekor v2 does before logging it: a key type and curve matching
    /// `key_details`, no pure Ed25519, a digest of the key's hash length, and a signature that
    /// verifies over the digest (ECDSA P-256 / P-384 / P-521, RSA PKCS#1 v1.5 and PSS; Ed25519ph →
    /// [`EntryError::UnsupportedVerification`]).
    pub fn validate(&self) -> Result<(), EntryError> {
        use KeyDetails::*;
        if self.key_details == PkixEd25519 {
            return Err(EntryError::PureEd25519);
        }
        if self.signature.is_empty() {
            return Err(EntryError::EmptySignature);
        }
        let kind = self.verifier.key_kind()?;
        let matches = matches!(
            (&kind, self.key_details),
            (
                KeyKind::P256(_),
                PkixEcdsaP256Sha256 | PkixEcdsaP256HmacSha256
            ) | (KeyKind::P384(_), PkixEcdsaP384Sha384 | PkixEcdsaP384Sha256)
                | (KeyKind::P521(_), PkixEcdsaP521Sha512 | PkixEcdsaP521Sha256)
                | (KeyKind::Ed25519, PkixEd25519Ph)
                | (
                    KeyKind::Rsa { bits: 2048, .. },
                    PkixRsaPkcs1v15_2048Sha256 | PkixRsaPss2048Sha256
                )
                | (
                    KeyKind::Rsa { bits: 3072, .. },
                    PkixRsaPkcs1v15_3072Sha256 | PkixRsaPss3072Sha256
                )
                | (
                    KeyKind::Rsa { bits: 4096, .. },
                    PkixRsaPkcs1v15_4096Sha256 | PkixRsaPss4096Sha256
                )
        );
        if !matches {
            return Err(EntryError::KeyDetailsMismatch {
                details: self.key_details,
                key: kind.to_string(),
            });
        }
        if matches!(
            self.key_details,
            PkixEcdsaP256HmacSha256 | PkixEcdsaP384Sha256 | PkixEcdsaP521Sha256
        ) {
            return Err(EntryError::KeyDetailsNotAccepted(self.key_details));
        }
        let expected = self
            .key_details
            .hash_len()
            .ok_or(EntryError::KeyDetailsNotAccepted(self.key_details))?;
        if self.digest.len() != expected {
            return Err(EntryError::DigestLength {
                details: self.key_details,
                expected,
                actual: self.digest.len(),
            });
        }
        match kind {
            KeyKind::P256(point) => verify_p256_prehash(&point, &self.digest, &self.signature),
            KeyKind::P384(point) => verify_p384_prehash(&point, &self.digest, &self.signature),
            KeyKind::P521(point) => verify_p521_prehash(&point, &self.digest, &self.signature),
            KeyKind::Rsa { n, e, .. } => {
                verify_rsa_prehash(&n, &e, self.key_details, &self.digest, &self.signature)
            }
            KeyKind::Ed25519 => Err(EntryError::UnsupportedVerification(self.key_details)),
        }
    }

    /// The entry body as the log stores and hashes it, byte-identical to Rekor v2's: the RFC 8785
    /// canonical JSON of `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":
    /// {"data":{"algorithm":…,"digest":…},"signature":{"content":…,"verifier":…}}}}`.
    pub fn canonical_body(&self) -> Result<Vec<u8>, EntryError> {
        Ok(jcs::canonicalize(&self.body_json()?)?)
    }

    /// The entry body as a JSON value (see [`HashedRekordV002::canonical_body`]).
    pub fn body_json(&self) -> Result<Value, EntryError> {
        let alg = self.key_details.hash_algorithm().ok_or(
            if self.key_details == KeyDetails::PkixEd25519 {
                EntryError::PureEd25519
            } else {
                EntryError::KeyDetailsNotAccepted(self.key_details)
            },
        )?;
        Ok(json!({
            "apiVersion": HASHEDREKORD_VERSION,
            "kind": HASHEDREKORD_KIND,
            "spec": {
                "hashedRekordV002": {
                    "data": {"algorithm": alg.as_str(), "digest": b64(&self.digest)},
                    "signature": {
                        "content": b64(&self.signature),
                        "verifier": self.verifier.to_json(self.key_details),
                    },
                },
            },
        }))
    }

    /// The client request body (`POST /api/v2/log/entries`) that logs this entry.
    pub fn request_json(&self) -> Value {
        json!({
            "hashedRekordRequestV002": {
                "digest": b64(&self.digest),
                "signature": {
                    "content": b64(&self.signature),
                    "verifier": self.verifier.to_json(self.key_details),
                },
            },
        })
    }

    /// Reads a stored entry body back (the inverse of [`HashedRekordV002::canonical_body`]; the
    /// bytes need not be canonical). Does not verify the signature: see [`HashedRekordV002::validate`].
    pub fn from_body(body: &[u8]) -> Result<HashedRekordV002, EntryError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(EntryError::TooLarge);
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| EntryError::Json(e.to_string()))?;
        let top = Obj::new(&v, "", &["apiVersion", "kind", "spec"])?;
        let kind = top.str("kind")?;
        let version = top.str("apiVersion")?;
        if kind != HASHEDREKORD_KIND || version != HASHEDREKORD_VERSION {
            return Err(EntryError::UnsupportedEntryType(format!(
                "{kind} {version}"
            )));
        }
        let spec = top.obj("spec", &["hashedRekordV002", "dsseV002"])?;
        let entry = spec.obj("hashedRekordV002", &["data", "signature"])?;
        let data = entry.obj("data", &["algorithm", "digest"])?;
        let digest = data.bytes("digest")?;
        let sig = entry.obj("signature", &["content", "verifier"])?;
        let signature = sig.bytes("content")?;
        let (verifier, key_details) =
            read_verifier(&sig.obj("verifier", &["publicKey", "x509Certificate", "keyDetails"])?)?;
        let algorithm = data.str("algorithm")?;
        if key_details.hash_algorithm().map(HashAlgorithm::as_str) != Some(algorithm) {
            return Err(FieldError::Invalid {
                path: data.path("algorithm"),
                reason: format!("{algorithm} is not the hash of {key_details}"),
            }
            .into());
        }
        Ok(HashedRekordV002 {
            digest,
            signature,
            verifier,
            key_details,
        })
    }

    /// A DSSE envelope logged as hashedrekord (rekor-v2-spec §6.1.4, as sigstore-python does):
    /// `digest = H(PAE(payloadType, payload))` with the key's hash, `signature` = the envelope's
    /// signature, `key_details` from the verifier's key. The envelope must carry exactly one
    /// signature (sigstore-python refuses to verify any other), and it must verify.
    pub fn for_dsse(env: &Envelope, verifier: Verifier) -> Result<HashedRekordV002, EntryError> {
        let [sig] = env.signatures.as_slice() else {
            return Err(EntryError::DsseSignatureCount(env.signatures.len()));
        };
        let key_details = verifier.default_key_details()?;
        let alg = key_details
            .hash_algorithm()
            .ok_or(EntryError::KeyDetailsNotAccepted(key_details))?;
        let entry = HashedRekordV002 {
            digest: alg.digest(&pae(&env.payload_type, &env.payload)),
            signature: sig.sig.clone(),
            verifier,
            key_details,
        };
        entry.validate()?;
        Ok(entry)
    }
}

fn verify_p256_prehash(point: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), EntryError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| EntryError::BadPublicKey("not a point on P-256".into()))?;
    let sig = p256::ecdsa::Signature::from_der(sig)
        .map_err(|e| EntryError::MalformedSignature(e.to_string()))?;
    key.verify_prehash(digest, &sig)
        .map_err(|_| EntryError::BadSignature)
}

fn verify_p384_prehash(point: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), EntryError> {
    use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| EntryError::BadPublicKey("not a point on P-384".into()))?;
    let sig = p384::ecdsa::Signature::from_der(sig)
        .map_err(|e| EntryError::MalformedSignature(e.to_string()))?;
    key.verify_prehash(digest, &sig)
        .map_err(|_| EntryError::BadSignature)
}

fn verify_p521_prehash(point: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), EntryError> {
    use p521::ecdsa::signature::hazmat::PrehashVerifier as _;
    let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| EntryError::BadPublicKey("not a point on P-521".into()))?;
    let sig = p521::ecdsa::Signature::from_der(sig)
        .map_err(|e| EntryError::MalformedSignature(e.to_string()))?;
    key.verify_prehash(digest, &sig)
        .map_err(|_| EntryError::BadSignature)
}

/// RSA PKCS#1 v1.5 or PSS over a SHA-256 digest.
fn verify_rsa_prehash(
    n: &[u8],
    e: &[u8],
    details: KeyDetails,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), EntryError> {
    use rsa::traits::SignatureScheme as _;
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(n),
        rsa::BigUint::from_bytes_be(e),
    )
    .map_err(|e| EntryError::BadPublicKey(format!("RSA: {e}")))?;
    let ok = match details {
        KeyDetails::PkixRsaPss2048Sha256
        | KeyDetails::PkixRsaPss3072Sha256
        | KeyDetails::PkixRsaPss4096Sha256 => {
            // Go's verifier detects the salt length; clients sign with the hash's length (Go,
            // sigstore) or the largest (OpenSSL's default): accept those two.
            use rsa::traits::PublicKeyParts as _;
            let em_len = key.n().bits().saturating_sub(1).div_ceil(8);
            let max_salt = em_len.saturating_sub(32 + 2);
            rsa::Pss::new_with_salt::<sha2::Sha256>(32)
                .verify(&key, digest, sig)
                .or_else(|_| {
                    rsa::Pss::new_with_salt::<sha2::Sha256>(max_salt).verify(&key, digest, sig)
                })
        }
        _ => rsa::Pkcs1v15Sign::new::<sha2::Sha256>().verify(&key, digest, sig),
    };
    ok.map_err(|_| EntryError::BadSignature)
}

// ---------------------------------------------------------------------------------------------
// TransparencyLogEntry.

/// A Merkle inclusion proof with the signed checkpoint it is relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub log_index: u64,
    /// The tree root (32 bytes, SHA-256) at `tree_size`.
    pub root_hash: Vec<u8>,
    pub tree_size: u64,
    /// Sibling hashes from the leaf up (32 bytes each).
    pub hashes: Vec<Vec<u8>>,
    /// The C2SP signed note of the checkpoint (`origin\nsize\nroot\n\n— signatures…`).
    pub checkpoint: String,
}

/// `dev.sigstore.rekor.v1.TransparencyLogEntry`: what `POST /api/v2/log/entries` answers and what a
/// bundle embeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: u64,
    /// The log's id (`logId.keyId`).
    pub log_id: Vec<u8>,
    pub kind: String,
    pub version: String,
    /// Rekor v1 only; Rekor v2 gives no integrated time.
    pub integrated_time: Option<u64>,
    /// Rekor v1's signed entry timestamp (`inclusionPromise.signedEntryTimestamp`); Rekor v2 gives
    /// none. Kept so a v1 bundle re-serialises unchanged.
    pub inclusion_promise: Option<Vec<u8>>,
    pub inclusion_proof: InclusionProof,
    pub canonicalized_body: Vec<u8>,
}

impl TlogEntry {
    /// The protobuf JSON form, members in proto field order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("logIndex".into(), json!(self.log_index.to_string()));
        m.insert("logId".into(), json!({"keyId": b64(&self.log_id)}));
        m.insert(
            "kindVersion".into(),
            json!({"kind": self.kind, "version": self.version}),
        );
        if let Some(t) = self.integrated_time {
            m.insert("integratedTime".into(), json!(t.to_string()));
        }
        if let Some(set) = &self.inclusion_promise {
            m.insert(
                "inclusionPromise".into(),
                json!({"signedEntryTimestamp": b64(set)}),
            );
        }
        let p = &self.inclusion_proof;
        m.insert(
            "inclusionProof".into(),
            json!({
                "logIndex": p.log_index.to_string(),
                "rootHash": b64(&p.root_hash),
                "treeSize": p.tree_size.to_string(),
                "hashes": p.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": p.checkpoint},
            }),
        );
        m.insert(
            "canonicalizedBody".into(),
            json!(b64(&self.canonicalized_body)),
        );
        Value::Object(m)
    }

    /// Reads the protobuf JSON form. Requires an inclusion proof with a checkpoint (bundle v0.2+
    /// and Rekor v2 always have one), `logIndex < treeSize`, and 32-byte hashes.
    pub fn from_json(v: &Value) -> Result<TlogEntry, BundleError> {
        Ok(read_tlog_entry(v, "")?)
    }
}

pub(crate) fn read_tlog_entry(v: &Value, path: &str) -> Result<TlogEntry, FieldError> {
    let e = Obj::new(
        v,
        path,
        &[
            "logIndex",
            "logId",
            "kindVersion",
            "integratedTime",
            "inclusionPromise",
            "inclusionProof",
            "canonicalizedBody",
        ],
    )?;
    let log_index = e.u64("logIndex")?;
    let log_id = e.obj("logId", &["keyId"])?.bytes("keyId")?;
    let kv = e.obj("kindVersion", &["kind", "version"])?;
    let kind = kv.str("kind")?.to_owned();
    let version = kv.str("version")?.to_owned();
    let integrated_time = e.opt_u64("integratedTime")?;
    let inclusion_promise = e
        .opt_obj("inclusionPromise", &["signedEntryTimestamp"])?
        .map(|p| p.bytes("signedEntryTimestamp"))
        .transpose()?;
    let p = e.obj(
        "inclusionProof",
        &["logIndex", "rootHash", "treeSize", "hashes", "checkpoint"],
    )?;
    let proof_index = p.u64("logIndex")?;
    let tree_size = p.u64("treeSize")?;
    if proof_index >= tree_size {
        return Err(FieldError::Invalid {
            path: p.path("logIndex"),
            reason: format!("{proof_index} is not below treeSize {tree_size}"),
        });
    }
    let root_hash = sha256_len(p.bytes("rootHash")?, &p.path("rootHash"))?;
    let mut hashes = Vec::new();
    for (hpath, h) in p.arr("hashes", MAX_PROOF_HASHES)? {
        let text = h.as_str().ok_or_else(|| FieldError::WrongType {
            path: hpath.clone(),
            expected: "a base64 string",
        })?;
        hashes.push(sha256_len(decode_b64(text, &hpath)?, &hpath)?);
    }
    let checkpoint = p
        .obj("checkpoint", &["envelope"])?
        .str("envelope")?
        .to_owned();
    let canonicalized_body = e.bytes("canonicalizedBody")?;
    Ok(TlogEntry {
        log_index,
        log_id,
        kind,
        version,
        integrated_time,
        inclusion_promise,
        inclusion_proof: InclusionProof {
            log_index: proof_index,
            root_hash,
            tree_size,
            hashes,
            checkpoint,
        },
        canonicalized_body,
    })
}

fn sha256_len(bytes: Vec<u8>, path: &str) -> Result<Vec<u8>, FieldError> {
    if bytes.len() == 32 {
        Ok(bytes)
    } else {
        Err(FieldError::Invalid {
            path: path.to_owned(),
            reason: format!("{} bytes, not a 32-byte SHA-256 hash", bytes.len()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_names() {
        assert_eq!(
            snake_case("hashedRekordRequestV002"),
            "hashed_rekord_request_v002"
        );
        assert_eq!(snake_case("rawBytes"), "raw_bytes");
        assert_eq!(snake_case("x509Certificate"), "x509_certificate");
        assert_eq!(snake_case("digest"), "digest");
    }

    #[test]
    fn key_details_names_round_trip() {
        for (k, n) in KEY_DETAILS_NAMES {
            assert_eq!(KeyDetails::parse(n), Some(*k));
            assert_eq!(k.as_str(), *n);
        }
        assert_eq!(KeyDetails::parse("PUBLIC_KEY_DETAILS_UNSPECIFIED"), None);
        assert_eq!(KeyDetails::PkixEcdsaP256Sha256.hash_len(), Some(32));
        assert_eq!(KeyDetails::PkixEcdsaP384Sha384.hash_len(), Some(48));
        assert_eq!(KeyDetails::PkixEd25519.hash_len(), None);
    }

    #[test]
    fn u64_forms() {
        assert_eq!(proto_u64(&json!("42"), "x"), Ok(42));
        assert_eq!(proto_u64(&json!(42), "x"), Ok(42));
        assert!(proto_u64(&json!("-1"), "x").is_err());
        assert!(proto_u64(&json!("+1"), "x").is_err());
        assert!(proto_u64(&json!(""), "x").is_err());
        assert!(proto_u64(&json!("18446744073709551616"), "x").is_err());
        assert!(proto_u64(&json!(1.5), "x").is_err());
    }
}
