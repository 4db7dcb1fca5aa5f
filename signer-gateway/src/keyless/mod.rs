//! Keyless signing certificates, as Fulcio issues them: a short-lived (typically 10-minute) X.509 leaf
//! for an ephemeral P-256 key, naming a CI workflow (URI) or a person (e-mail) in a critical
//! subjectAltName, carrying the OIDC token's claims in the Fulcio extensions
//! (`1.3.6.1.4.1.57264.1.*`), and an SCT from a Certificate Transparency log embedded as RFC 6962
//! §3.3 describes.
//!
//! The leaf has the shape sigstore clients expect from Fulcio: X.509 v3, a random positive 20-byte
//! serial, ecdsa-with-SHA256, the CA's subject as issuer, an empty subject, and the extensions in
//! Fulcio's order — keyUsage digitalSignature (critical), extKeyUsage codeSigning, subjectKeyIdentifier,
//! authorityKeyIdentifier, subjectAltName (critical), the Fulcio identity extensions, and last the
//! SCT list.
//!
//! Identity extensions: `1.3.6.1.4.1.57264.1.8` (Issuer V2) to `.22` hold a DER UTF8String each, as
//! Fulcio's `docs/oid-info.md` specifies. The deprecated `.1` (Issuer, the raw string without DER) is
//! written too, as Fulcio still does, because verifiers (sigstore-python's `Identity` policy among them)
//! match the issuer on `.1`. The deprecated GitHub-specific `.2`–`.6` are not written. Optional values
//! that are empty are left out, as Fulcio leaves them out.
//!
//! Key identifiers are the leftmost 160 bits of SHA-256 of the subjectPublicKey bits (RFC 7093 §2,
//! method 1) rather than RFC 5280's SHA-1; the authorityKeyIdentifier copies the CA certificate's own
//! subjectKeyIdentifier when it has one.
//!
//! Issuance is sans-IO like the rest of the crate: keys come in as PKCS#8, time as Unix seconds,
//! randomness as a [`SecureRandom`]. The CT "log" here is a key that signs SCTs for our own
//! certificates; submitting precertificates to a public log is not done here.

mod der;
mod sct;
#[cfg(test)]
mod tests;

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::SecureRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use sha2::{Digest, Sha256};
use yasna::Tag;

pub use sct::{
    encode_sct_list, parse_sct_list, precert_signed_data, verify_embedded_sct, CtLog,
    SignedCertificateTimestamp,
};

use crate::dsse::{hex, p256_point_from_spki, p256_spki_der};
use der::{
    oid, oid_der, read_one, time_der, write_ecdsa_sha256, write_extension, CertParts, MAX_TIME,
    OID_AKI, OID_BASIC_CONSTRAINTS, OID_CN, OID_EXT_KEY_USAGE, OID_KEY_USAGE, OID_KP_CODE_SIGNING,
    OID_O, OID_SAN, OID_SCT_LIST, OID_SKI, TAG_OCTET_STRING,
};

/// Longest subjectAltName or identity extension value accepted.
pub const MAX_VALUE_LEN: usize = 4096;

/// Longest CA common name or organization (RFC 5280 `ub-common-name`, `ub-organization-name`).
pub const MAX_NAME_LEN: usize = 64;

/// The Sigstore Fulcio arc, `1.3.6.1.4.1.57264.1`; the identity extensions are `.8` to `.22` below it.
const FULCIO_ARC: [u64; 8] = [1, 3, 6, 1, 4, 1, 57264, 1];

/// What went wrong issuing or checking a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeylessError {
    /// A key is not a usable P-256 key.
    #[error("not a usable P-256 key: {0}")]
    BadKey(String),
    /// The CA's private key is not the key its certificate names.
    #[error("the CA private key does not match the certificate's public key")]
    KeyMismatch,
    /// A certificate is not the DER X.509 v3 this module reads.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// The subjectAltName value is refused.
    #[error("invalid subjectAltName: {0}")]
    InvalidSan(String),
    /// An identity extension value is refused.
    #[error("invalid identity value {field}: {reason}")]
    InvalidIdentity {
        /// The [`FulcioIdentity`] field.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The CA's subject name is refused.
    #[error("invalid CA name: {0}")]
    InvalidName(String),
    /// The validity window is refused.
    #[error("invalid validity: {0}")]
    InvalidValidity(String),
    /// A key refused to sign.
    #[error("signing with the {0} key failed")]
    Signing(String),
    /// An SCT or SCT list is malformed or missing.
    #[error("bad SCT: {0}")]
    BadSct(String),
    /// The SCT's signature does not verify with the log's key.
    #[error("the SCT signature does not verify with the CT log key")]
    SctSignature,
}

/// The identity a certificate is issued to: the subjectAltName.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum San<'a> {
    /// A URI (`uniformResourceIdentifier`), e.g. the CI workflow
    /// `https://github.com/OWNER/REPO/.github/workflows/build.yml@refs/heads/main`.
    Uri(&'a str),
    /// An e-mail address (`rfc822Name`).
    Email(&'a str),
}

/// The values of the Fulcio identity extensions (`1.3.6.1.4.1.57264.1.8` to `.22`), taken from the
/// verified OIDC token. `None` and empty strings are left out of the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulcioIdentity {
    /// `.8` Issuer (V2), and `.1`: the token's `iss`. Required.
    pub issuer: String,
    /// `.9` Build Signer URI.
    pub build_signer_uri: Option<String>,
    /// `.10` Build Signer Digest.
    pub build_signer_digest: Option<String>,
    /// `.11` Runner Environment (`github-hosted`, `self-hosted`).
    pub runner_environment: Option<String>,
    /// `.12` Source Repository URI.
    pub source_repository_uri: Option<String>,
    /// `.13` Source Repository Digest.
    pub source_repository_digest: Option<String>,
    /// `.14` Source Repository Ref.
    pub source_repository_ref: Option<String>,
    /// `.15` Source Repository Identifier.
    pub source_repository_identifier: Option<String>,
    /// `.16` Source Repository Owner URI.
    pub source_repository_owner_uri: Option<String>,
    /// `.17` Source Repository Owner Identifier.
    pub source_repository_owner_identifier: Option<String>,
    /// `.18` Build Config URI.
    pub build_config_uri: Option<String>,
    /// `.19` Build Config Digest.
    pub build_config_digest: Option<String>,
    /// `.20` Build Trigger.
    pub build_trigger: Option<String>,
    /// `.21` Run Invocation URI.
    pub run_invocation_uri: Option<String>,
    /// `.22` Source Repository Visibility At Signing.
    pub source_repository_visibility_at_signing: Option<String>,
}

impl FulcioIdentity {
    /// An identity with only the issuer set.
    pub fn new(issuer: impl Into<String>) -> FulcioIdentity {
        FulcioIdentity {
            issuer: issuer.into(),
            ..FulcioIdentity::default()
        }
    }

    /// Every extension as (last OID arc, field name, value), in OID order, `.8` first.
    pub fn entries(&self) -> [(u64, &'static str, Option<&str>); 15] {
        [
            (8, "issuer", Some(self.issuer.as_str())),
            (9, "build_signer_uri", self.build_signer_uri.as_deref()),
            (
                10,
                "build_signer_digest",
                self.build_signer_digest.as_deref(),
            ),
            (11, "runner_environment", self.runner_environment.as_deref()),
            (
                12,
                "source_repository_uri",
                self.source_repository_uri.as_deref(),
            ),
            (
                13,
                "source_repository_digest",
                self.source_repository_digest.as_deref(),
            ),
            (
                14,
                "source_repository_ref",
                self.source_repository_ref.as_deref(),
            ),
            (
                15,
                "source_repository_identifier",
                self.source_repository_identifier.as_deref(),
            ),
            (
                16,
                "source_repository_owner_uri",
                self.source_repository_owner_uri.as_deref(),
            ),
            (
                17,
                "source_repository_owner_identifier",
                self.source_repository_owner_identifier.as_deref(),
            ),
            (18, "build_config_uri", self.build_config_uri.as_deref()),
            (
                19,
                "build_config_digest",
                self.build_config_digest.as_deref(),
            ),
            (20, "build_trigger", self.build_trigger.as_deref()),
            (21, "run_invocation_uri", self.run_invocation_uri.as_deref()),
            (
                22,
                "source_repository_visibility_at_signing",
                self.source_repository_visibility_at_signing.as_deref(),
            ),
        ]
    }
}

/// What to certify.
#[derive(Debug, Clone, Copy)]
pub struct CertRequest<'a> {
    /// The public key the certificate certifies, as P-256 SubjectPublicKeyInfo DER.
    pub subject_public_key_spki_der: &'a [u8],
    /// The identity, written to the critical subjectAltName.
    pub san: San<'a>,
    /// The Fulcio extension values.
    pub identity: &'a FulcioIdentity,
    /// Start of validity, Unix seconds; also the SCT timestamp.
    pub not_before: u64,
    /// Length of validity in seconds (600 for Fulcio's 10-minute certificates): notAfter is
    /// `not_before + validity_secs`, as Fulcio sets it.
    pub validity_secs: u64,
}

/// An issued leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The certificate DER.
    pub der: Vec<u8>,
    /// The SCT embedded in it, when a CT log signed one.
    pub sct: Option<SignedCertificateTimestamp>,
}

impl IssuedCert {
    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        pem("CERTIFICATE", &self.der)
    }
}

/// PEM (RFC 7468): standard base64 in 64-column lines between `BEGIN`/`END` lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A certificate authority: a P-256 key and its certificate (a self-signed root here).
pub struct CertificateAuthority {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    subject_der: Vec<u8>,
    spki_der: Vec<u8>,
    key_id: Vec<u8>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("key_id", &hex(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new self-signed root CA named `O = organization, CN = common_name`, valid from `not_before`
    /// through `not_after`, with basicConstraints CA:TRUE and keyUsage keyCertSign | cRLSign (both
    /// critical) and a subjectKeyIdentifier.
    pub fn create_root(
        pkcs8: &[u8],
        common_name: &str,
        organization: &str,
        not_before: u64,
        not_after: u64,
        rng: &dyn SecureRandom,
    ) -> Result<CertificateAuthority, KeylessError> {
        let key = load_key(pkcs8, rng)?;
        for (what, value) in [("common name", common_name), ("organization", organization)] {
            if value.is_empty() || value.len() > MAX_NAME_LEN {
                return Err(KeylessError::InvalidName(format!(
                    "the {what} must have 1 to {MAX_NAME_LEN} bytes"
                )));
            }
            if value.chars().any(char::is_control) {
                return Err(KeylessError::InvalidName(format!(
                    "the {what} holds a control character"
                )));
            }
        }
        if not_after <= not_before {
            return Err(KeylessError::InvalidValidity(
                "not_after must be later than not_before".into(),
            ));
        }
        let validity = validity_der(not_before, not_after)?;
        let spki_der = p256_spki_der(key.public_key().as_ref())
            .map_err(|e| KeylessError::BadKey(e.to_string()))?;
        let key_id = key_identifier(key.public_key().as_ref());
        let subject_der = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for (id, value) in [(OID_O, organization), (OID_CN, common_name)] {
                    w.next().write_set(|w| {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&oid(id));
                            w.next().write_utf8_string(value);
                        })
                    });
                }
            })
        });
        let extensions = vec![
            extension(OID_KEY_USAGE, true, &key_usage(&[5, 6])),
            extension(
                OID_BASIC_CONSTRAINTS,
                true,
                &yasna::construct_der(|w| w.write_sequence(|w| w.next().write_bool(true))),
            ),
            extension(OID_SKI, false, &octet_string(&key_id)),
        ];
        let tbs = tbs_der(
            &random_serial(rng)?,
            &subject_der,
            &validity,
            &subject_der,
            &spki_der,
            &extensions,
        );
        let cert_der = sign_certificate(&key, &tbs, rng)?;
        Ok(CertificateAuthority {
            key,
            cert_der,
            subject_der,
            spki_der,
            key_id,
        })
    }

    /// A CA from its PKCS#8 key and certificate; refuses a key that is not the certificate's.
    pub fn from_parts(
        pkcs8: &[u8],
        cert_der: Vec<u8>,
        rng: &dyn SecureRandom,
    ) -> Result<CertificateAuthority, KeylessError> {
        let key = load_key(pkcs8, rng)?;
        let parts = CertParts::parse(&cert_der)?;
        let spki_der = parts.spki()?.to_vec();
        let point = p256_point_from_spki(&spki_der)
            .map_err(|e| KeylessError::BadKey(format!("CA certificate: {e}")))?;
        if point != key.public_key().as_ref() {
            return Err(KeylessError::KeyMismatch);
        }
        let subject_der = parts.subject()?.to_vec();
        let ski_oid = oid_der(OID_SKI);
        let key_id = match parts.extensions()?.iter().find(|e| e.oid == ski_oid) {
            Some(ext) => read_one(ext.value, TAG_OCTET_STRING, "subjectKeyIdentifier")?
                .content
                .to_vec(),
            None => key_identifier(point),
        };
        Ok(CertificateAuthority {
            key,
            cert_der,
            subject_der,
            spki_der,
            key_id,
        })
    }

    /// The CA certificate DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA's public key as SubjectPublicKeyInfo DER (its SHA-256 is the SCT `issuer_key_hash`).
    pub fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Issues a leaf certificate for `req`; with `ct`, the log signs an SCT over the precertificate
    /// TBSCertificate and the SCT list is embedded as the last extension.
    pub fn issue(
        &self,
        req: &CertRequest<'_>,
        ct: Option<&CtLog>,
        rng: &dyn SecureRandom,
    ) -> Result<IssuedCert, KeylessError> {
        let subject_point = p256_point_from_spki(req.subject_public_key_spki_der)
            .map_err(|e| KeylessError::BadKey(format!("subject key: {e}")))?;
        if req.validity_secs == 0 {
            return Err(KeylessError::InvalidValidity(
                "validity must be at least one second".into(),
            ));
        }
        let not_after = req
            .not_before
            .checked_add(req.validity_secs)
            .filter(|t| *t <= MAX_TIME)
            .ok_or_else(|| {
                KeylessError::InvalidValidity("not_after is after the year 9999".into())
            })?;
        let validity = validity_der(req.not_before, not_after)?;
        let mut extensions = vec![
            extension(OID_KEY_USAGE, true, &key_usage(&[0])),
            extension(
                OID_EXT_KEY_USAGE,
                false,
                &yasna::construct_der(|w| {
                    w.write_sequence(|w| w.next().write_oid(&oid(OID_KP_CODE_SIGNING)))
                }),
            ),
            extension(
                OID_SKI,
                false,
                &octet_string(&key_identifier(subject_point)),
            ),
            extension(
                OID_AKI,
                false,
                &yasna::construct_der(|w| {
                    w.write_sequence(|w| {
                        w.next()
                            .write_tagged_implicit(Tag::context(0), |w| w.write_bytes(&self.key_id))
                    })
                }),
            ),
            extension(OID_SAN, true, &san_der(req.san)?),
        ];
        extensions.extend(identity_extensions(req.identity)?);
        let serial = random_serial(rng)?;
        let subject_empty = yasna::construct_der(|w| w.write_sequence(|_| {}));
        let spki = req.subject_public_key_spki_der;
        let tbs = |exts: &[Vec<u8>]| {
            tbs_der(
                &serial,
                &self.subject_der,
                &validity,
                &subject_empty,
                spki,
                exts,
            )
        };
        let sct = match ct {
            None => None,
            Some(log) => {
                let precert_tbs = tbs(&extensions);
                let issuer_key_hash: [u8; 32] = Sha256::digest(&self.spki_der).into();
                let sct = log.sign_precert(
                    &issuer_key_hash,
                    &precert_tbs,
                    req.not_before.saturating_mul(1000),
                    rng,
                )?;
                let list = encode_sct_list(std::slice::from_ref(&sct))?;
                extensions.push(extension(OID_SCT_LIST, false, &octet_string(&list)));
                Some(sct)
            }
        };
        let der = sign_certificate(&self.key, &tbs(&extensions), rng)?;
        Ok(IssuedCert { der, sct })
    }
}

fn load_key(pkcs8: &[u8], rng: &dyn SecureRandom) -> Result<EcdsaKeyPair, KeylessError> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, rng)
        .map_err(|e| KeylessError::BadKey(format!("CA key: {e}")))
}

/// RFC 7093 §2 method 1: the leftmost 160 bits of SHA-256 of the subjectPublicKey bits.
fn key_identifier(point: &[u8]) -> Vec<u8> {
    Sha256::digest(point).get(..20).unwrap_or_default().to_vec()
}

/// A positive serial of exactly 20 bytes (RFC 5280 §4.1.2.2): the top bit cleared so it is positive,
/// the next set so no byte is dropped by DER's minimal encoding; 158 random bits.
fn random_serial(rng: &dyn SecureRandom) -> Result<[u8; 20], KeylessError> {
    let mut serial = [0u8; 20];
    rng.fill(&mut serial)
        .map_err(|_| KeylessError::Signing("random serial".into()))?;
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    Ok(serial)
}

fn validity_der(not_before: u64, not_after: u64) -> Result<Vec<u8>, KeylessError> {
    let (nb, na) = (time_der(not_before)?, time_der(not_after)?);
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&nb);
            w.next().write_der(&na);
        })
    }))
}

fn extension(id: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| write_extension(w, id, critical, value))
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

fn san_der(san: San<'_>) -> Result<Vec<u8>, KeylessError> {
    let (tag, value, kind) = match san {
        San::Uri(v) => (6, v, "URI"),
        San::Email(v) => (1, v, "e-mail"),
    };
    let bad = |why: &str| KeylessError::InvalidSan(format!("{kind} {value:?}: {why}"));
    if value.is_empty() {
        return Err(bad("empty"));
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(bad(&format!("longer than {MAX_VALUE_LEN} bytes")));
    }
    if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(bad(&format!(
            "holds {c:?}; only printable ASCII without spaces is allowed (IA5String)"
        )));
    }
    match san {
        San::Uri(v) => {
            let scheme = v.split_once(':').map(|(s, _)| s).unwrap_or_default();
            let scheme_ok = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if !scheme_ok {
                return Err(bad("not an absolute URI (no scheme)"));
            }
        }
        San::Email(v) => match v.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {}
            _ => return Err(bad("not of the form local@domain")),
        },
    }
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_tagged_implicit(Tag::context(tag), |w| w.write_ia5_string(value))
        })
    }))
}

/// The deprecated `.1` issuer, then `.8`–`.22` as DER UTF8Strings.
fn identity_extensions(identity: &FulcioIdentity) -> Result<Vec<Vec<u8>>, KeylessError> {
    let mut out = Vec::new();
    for (arc, field, value) in identity.entries() {
        let value = value.unwrap_or_default();
        if value.is_empty() {
            if arc == 8 {
                return Err(KeylessError::InvalidIdentity {
                    field,
                    reason: "required, and empty".into(),
                });
            }
            continue;
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(KeylessError::InvalidIdentity {
                field,
                reason: format!("longer than {MAX_VALUE_LEN} bytes"),
            });
        }
        if value.chars().any(char::is_control) {
            return Err(KeylessError::InvalidIdentity {
                field,
                reason: format!("{value:?} holds a control character"),
            });
        }
        if arc == 8 {
            out.push(extension(&fulcio_oid(1), false, value.as_bytes()));
        }
        let utf8 = yasna::construct_der(|w| w.write_utf8_string(value));
        out.push(extension(&fulcio_oid(arc), false, &utf8));
    }
    Ok(out)
}

fn fulcio_oid(arc: u64) -> Vec<u64> {
    let mut id = FULCIO_ARC.to_vec();
    id.push(arc);
    id
}

fn tbs_der(
    serial: &[u8],
    issuer: &[u8],
    validity: &[u8],
    subject: &[u8],
    spki: &[u8],
    extensions: &[Vec<u8>],
) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_tagged(Tag::context(0), |w| w.write_u8(2));
            w.next().write_bigint_bytes(serial, true);
            write_ecdsa_sha256(w.next());
            w.next().write_der(issuer);
            w.next().write_der(validity);
            w.next().write_der(subject);
            w.next().write_der(spki);
            w.next().write_tagged(Tag::context(3), |w| {
                w.write_sequence(|w| {
                    for ext in extensions {
                        w.next().write_der(ext);
                    }
                })
            });
        })
    })
}

fn sign_certificate(
    key: &EcdsaKeyPair,
    tbs: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, KeylessError> {
    let sig = key
        .sign(rng, tbs)
        .map_err(|_| KeylessError::Signing("CA".into()))?;
    let sig = sig.as_ref();
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(tbs);
            write_ecdsa_sha256(w.next());
            w.next().write_bitvec_bytes(sig, sig.len() * 8);
        })
    }))
}
