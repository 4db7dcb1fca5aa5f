//! RFC 6962 signed certificate timestamps for precertificates: the log key, the TLS encodings, the
//! signed structure, and the check of an SCT embedded in a certificate.

use std::fmt;

use ring::rand::SecureRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING,
};
use sha2::{Digest, Sha256};

use super::der::{oid_der, read_one, CertParts, OID_SCT_LIST, TAG_OCTET_STRING};
use super::KeylessError;
use crate::dsse::{hex, p256_point_from_spki, p256_spki_der};

/// `Version.v1`.
const SCT_V1: u8 = 0;
/// `SignatureType.certificate_timestamp`.
const CERTIFICATE_TIMESTAMP: u8 = 0;
/// `LogEntryType.precert_entry`.
const PRECERT_ENTRY: u16 = 1;
/// `HashAlgorithm.sha256` (RFC 5246 §7.4.1.4.1).
const HASH_SHA256: u8 = 4;
/// `SignatureAlgorithm.ecdsa`.
const SIG_ECDSA: u8 = 3;
/// The largest value a TLS `opaque<1..2^24-1>` holds.
const MAX_U24: usize = 0xff_ffff;

/// A Certificate Transparency log's signing key (ECDSA P-256), held to sign SCTs for the
/// certificates this crate issues.
pub struct CtLog {
    key: EcdsaKeyPair,
    spki_der: Vec<u8>,
    log_id: [u8; 32],
}

impl fmt::Debug for CtLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtLog")
            .field("log_id", &hex(&self.log_id))
            .finish_non_exhaustive()
    }
}

impl CtLog {
    /// Loads the log's PKCS#8 P-256 private key.
    pub fn from_pkcs8(pkcs8: &[u8], rng: &dyn SecureRandom) -> Result<CtLog, KeylessError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, rng)
            .map_err(|e| KeylessError::BadKey(format!("CT log key: {e}")))?;
        let spki_der = p256_spki_der(key.public_key().as_ref())
            .map_err(|e| KeylessError::BadKey(e.to_string()))?;
        let log_id = Sha256::digest(&spki_der).into();
        Ok(CtLog {
            key,
            spki_der,
            log_id,
        })
    }

    /// The log's public key as SubjectPublicKeyInfo DER (what verifiers put in their trusted root).
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        self.spki_der.clone()
    }

    /// The log id: SHA-256 of the SubjectPublicKeyInfo DER (RFC 6962 §3.2).
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// Signs an SCT for a precertificate: `issuer_key_hash` is SHA-256 of the issuing CA's
    /// SubjectPublicKeyInfo DER, `precert_tbs` the TBSCertificate DER without the SCT list extension.
    pub fn sign_precert(
        &self,
        issuer_key_hash: &[u8; 32],
        precert_tbs: &[u8],
        timestamp_ms: u64,
        rng: &dyn SecureRandom,
    ) -> Result<SignedCertificateTimestamp, KeylessError> {
        let signed = precert_signed_data(timestamp_ms, issuer_key_hash, precert_tbs, &[])?;
        let signature = self
            .key
            .sign(rng, &signed)
            .map_err(|_| KeylessError::Signing("CT log".into()))?;
        Ok(SignedCertificateTimestamp {
            log_id: self.log_id,
            timestamp_ms,
            extensions: Vec::new(),
            signature: signature.as_ref().to_vec(),
        })
    }
}

/// A v1 signed certificate timestamp (RFC 6962 §3.2) signed with ECDSA P-256 / SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCertificateTimestamp {
    /// SHA-256 of the log's SubjectPublicKeyInfo DER.
    pub log_id: [u8; 32],
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// `CtExtensions` (empty in v1 practice).
    pub extensions: Vec<u8>,
    /// ASN.1 DER ECDSA signature over [`precert_signed_data`].
    pub signature: Vec<u8>,
}

impl SignedCertificateTimestamp {
    /// The TLS encoding: `version | log_id | timestamp | extensions<0..2^16-1> |
    /// digitally-signed(hash, signature, signature<0..2^16-1>)`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, KeylessError> {
        let mut out = Vec::with_capacity(48 + self.extensions.len() + self.signature.len());
        out.push(SCT_V1);
        out.extend_from_slice(&self.log_id);
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        put_u16_prefixed(&mut out, &self.extensions, "SCT extensions")?;
        out.push(HASH_SHA256);
        out.push(SIG_ECDSA);
        put_u16_prefixed(&mut out, &self.signature, "SCT signature")?;
        Ok(out)
    }

    /// Parses the TLS encoding of one SCT; only v1 with SHA-256 / ECDSA is accepted.
    pub fn parse(bytes: &[u8]) -> Result<SignedCertificateTimestamp, KeylessError> {
        let mut r = Reader(bytes);
        if r.u8()? != SCT_V1 {
            return Err(KeylessError::BadSct("not a v1 SCT".into()));
        }
        let log_id: [u8; 32] = r
            .take(32)?
            .try_into()
            .map_err(|_| KeylessError::BadSct("truncated".into()))?;
        let timestamp_ms = r.u64()?;
        let extensions = r.u16_prefixed()?.to_vec();
        let (hash, sig) = (r.u8()?, r.u8()?);
        if (hash, sig) != (HASH_SHA256, SIG_ECDSA) {
            return Err(KeylessError::BadSct(format!(
                "signature algorithm ({hash}, {sig}) is not (sha256, ecdsa)"
            )));
        }
        let signature = r.u16_prefixed()?.to_vec();
        r.end()?;
        Ok(SignedCertificateTimestamp {
            log_id,
            timestamp_ms,
            extensions,
            signature,
        })
    }

    /// Checks the signature for a precertificate entry with the log's P-256 key.
    pub fn verify_precert(
        &self,
        ct_log_spki_der: &[u8],
        issuer_key_hash: &[u8; 32],
        precert_tbs: &[u8],
    ) -> Result<(), KeylessError> {
        let point = p256_point_from_spki(ct_log_spki_der)
            .map_err(|e| KeylessError::BadKey(format!("CT log key: {e}")))?;
        let signed = precert_signed_data(
            self.timestamp_ms,
            issuer_key_hash,
            precert_tbs,
            &self.extensions,
        )?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .verify(&signed, &self.signature)
            .map_err(|_| KeylessError::SctSignature)
    }
}

/// The structure an SCT for a precertificate signs (RFC 6962 §3.2): `sct_version | signature_type |
/// timestamp | entry_type = precert_entry | issuer_key_hash | tbs_certificate<1..2^24-1> |
/// extensions<0..2^16-1>`.
pub fn precert_signed_data(
    timestamp_ms: u64,
    issuer_key_hash: &[u8; 32],
    precert_tbs: &[u8],
    extensions: &[u8],
) -> Result<Vec<u8>, KeylessError> {
    if precert_tbs.is_empty() || precert_tbs.len() > MAX_U24 {
        return Err(KeylessError::BadSct(
            "TBSCertificate length out of range".into(),
        ));
    }
    let mut out = Vec::with_capacity(50 + precert_tbs.len() + extensions.len());
    out.push(SCT_V1);
    out.push(CERTIFICATE_TIMESTAMP);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&PRECERT_ENTRY.to_be_bytes());
    out.extend_from_slice(issuer_key_hash);
    let len = (precert_tbs.len() as u32).to_be_bytes();
    out.extend_from_slice(len.get(1..).unwrap_or_default());
    out.extend_from_slice(precert_tbs);
    put_u16_prefixed(&mut out, extensions, "SCT extensions")?;
    Ok(out)
}

/// A `SignedCertificateTimestampList` (RFC 6962 §3.3): `u16` total length, then each SCT with a `u16`
/// length.
pub fn encode_sct_list(scts: &[SignedCertificateTimestamp]) -> Result<Vec<u8>, KeylessError> {
    let mut body = Vec::new();
    for sct in scts {
        put_u16_prefixed(&mut body, &sct.to_bytes()?, "SCT")?;
    }
    let mut out = Vec::with_capacity(body.len() + 2);
    put_u16_prefixed(&mut out, &body, "SCT list")?;
    Ok(out)
}

/// Parses a `SignedCertificateTimestampList`; it must hold at least one SCT.
pub fn parse_sct_list(bytes: &[u8]) -> Result<Vec<SignedCertificateTimestamp>, KeylessError> {
    let mut outer = Reader(bytes);
    let mut list = Reader(outer.u16_prefixed()?);
    outer.end()?;
    let mut out = Vec::new();
    while !list.0.is_empty() {
        out.push(SignedCertificateTimestamp::parse(list.u16_prefixed()?)?);
    }
    if out.is_empty() {
        return Err(KeylessError::BadSct("empty SCT list".into()));
    }
    Ok(out)
}

/// Checks the SCT embedded in `leaf_der` (RFC 6962 §3.3): rebuilds the precertificate TBSCertificate
/// by removing the SCT list extension, and verifies the SCT of the log `ct_log_spki_der` over it for the
/// issuer `issuer_spki_der`. Returns the SCT that verified.
///
/// This checks the timestamp's signature only; the leaf's own signature, its chain and how the SCT
/// time relates to the validity window are the caller's checks.
pub fn verify_embedded_sct(
    leaf_der: &[u8],
    issuer_spki_der: &[u8],
    ct_log_spki_der: &[u8],
) -> Result<SignedCertificateTimestamp, KeylessError> {
    let cert = CertParts::parse(leaf_der)?;
    let sct_oid = oid_der(OID_SCT_LIST);
    let exts = cert.extensions()?;
    let mut found = exts
        .iter()
        .enumerate()
        .filter(|(_, e)| e.oid == sct_oid.as_slice());
    let Some((index, ext)) = found.next() else {
        return Err(KeylessError::BadSct(
            "the certificate has no SCT list extension".into(),
        ));
    };
    if found.next().is_some() {
        return Err(KeylessError::BadSct(
            "the certificate has two SCT list extensions".into(),
        ));
    }
    let list = read_one(ext.value, TAG_OCTET_STRING, "SCT list extension")?;
    let scts = parse_sct_list(list.content)?;
    let precert_tbs = cert.tbs_without(index)?;
    let issuer_key_hash: [u8; 32] = Sha256::digest(issuer_spki_der).into();
    let log_id: [u8; 32] = Sha256::digest(ct_log_spki_der).into();
    let mut from_log = scts.into_iter().filter(|s| s.log_id == log_id).peekable();
    if from_log.peek().is_none() {
        return Err(KeylessError::BadSct(format!(
            "no SCT from the log {}",
            hex(&log_id)
        )));
    }
    let mut last = KeylessError::SctSignature;
    for sct in from_log {
        match sct.verify_precert(ct_log_spki_der, &issuer_key_hash, &precert_tbs) {
            Ok(()) => return Ok(sct),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn put_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8], what: &str) -> Result<(), KeylessError> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| KeylessError::BadSct(format!("{what} longer than 65535 bytes")))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// A TLS-presentation-language reader over untrusted bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], KeylessError> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| KeylessError::BadSct("truncated".into()))?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, KeylessError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self) -> Result<u16, KeylessError> {
        let b = self.take(2)?;
        Ok(b.iter().fold(0u16, |acc, &x| (acc << 8) | u16::from(x)))
    }

    fn u64(&mut self) -> Result<u64, KeylessError> {
        let b = self.take(8)?;
        Ok(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn u16_prefixed(&mut self) -> Result<&'a [u8], KeylessError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn end(&self) -> Result<(), KeylessError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(KeylessError::BadSct("trailing bytes".into()))
        }
    }
}
