//! Verifying a Sigstore bundle that carries a DSSE-signed in-toto statement, against a
//! `trusted_root.json` — what `stella verify` runs for every attestation, online or offline, and
//! what sigstore-python's `verify_dsse` checks, plus our policy hooks:
//!
//! 1. **Trusted time**: every RFC 3161 timestamp in the bundle verifies over the envelope's
//!    signature against a timestamp authority of the trusted root valid at its time. Rekor v2 gives
//!    no integrated time, so a certificate-signed bundle needs at least one.
//! 2. **Certificate** (keyless): the leaf is a code-signing certificate valid at the trusted time,
//!    chains to a certificate authority of the trusted root valid at that time, and carries an
//!    embedded SCT from one of its CT logs. Or **key**: the bundle's key is one the caller trusts.
//! 3. **Identity**: the certificate's OIDC issuer (Fulcio extension) and subject (SAN) match one of
//!    the allowed identities (glob patterns, `*` matching any run of characters).
//! 4. **Signature**: the DSSE signature verifies over PAE(payloadType, payload) with that key.
//! 5. **Transparency log**: the entry's body is exactly this signature, key and digest; its leaf
//!    hash is included (RFC 9162 proof) in the tree the checkpoint commits to; the checkpoint is a
//!    signed note from the log's key (whose id binds the checkpoint's origin line), the log's key
//!    was valid at the trusted time; and, when witnesses are configured, enough of them cosigned.
//! 6. **Statement**: an in-toto statement v1 (or v0.1) whose subjects include the expected digest.
//!
//! Every failure is one [`VerifyError`] naming what was wrong. No clock, file or network is used:
//! the caller passes the bundle, the trusted root and the expectations.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::Value;
use sha2::{Digest, Sha256};
use signer_gateway::dsse::{hex, pae, Envelope};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::bundle::{Bundle, BundleContent, BundleError, VerificationContent};
use crate::merkle::{self, Hash};
use crate::note::{Checkpoint, NoteVerifier};
use crate::rekor::{HashedRekordV002, TlogEntry, Verifier};
use crate::trust_root::{parse_rfc3339, rfc3339, CertificateAuthority, TrustedRoot, ValidFor};
use crate::tsa::{chain_to_root, verify_timestamp};

/// The DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement types accepted.
pub const STATEMENT_TYPES: &[&str] = &[
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];

/// The Fulcio identity extensions (`1.3.6.1.4.1.57264.1.*`), by name, as `docs/oid-info.md` names
/// them; `.1` is the deprecated raw Issuer, `.8` the DER Issuer (V2).
const FULCIO_EXTENSIONS: &[(u64, &str)] = &[
    (8, "issuer"),
    (9, "build_signer_uri"),
    (10, "build_signer_digest"),
    (11, "runner_environment"),
    (12, "source_repository_uri"),
    (13, "source_repository_digest"),
    (14, "source_repository_ref"),
    (15, "source_repository_identifier"),
    (16, "source_repository_owner_uri"),
    (17, "source_repository_owner_identifier"),
    (18, "build_config_uri"),
    (19, "build_config_digest"),
    (20, "build_trigger"),
    (21, "run_invocation_uri"),
    (22, "source_repository_visibility_at_signing"),
];
const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1";

/// Why a bundle does not verify. Each names the step and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a Sigstore bundle: {0}")]
    Bundle(#[from] BundleError),
    #[error("the bundle signs a bare message, not a DSSE envelope (an attestation is DSSE)")]
    NotDsse,
    #[error("the DSSE envelope has {0} signatures; exactly one is verified")]
    SignatureCount(usize),
    #[error("RFC 3161 timestamp #{index} does not verify against any timestamp authority of the trusted root: {reason}")]
    Timestamp { index: usize, reason: String },
    #[error("no trusted time: the bundle has no RFC 3161 timestamp, and a short-lived certificate needs one (Rekor v2 gives no integrated time)")]
    NoTrustedTime,
    #[error("the signing certificate does not parse: {0}")]
    BadCertificate(String),
    #[error("the signing certificate is not valid at the signing time {at} (valid {not_before} to {not_after})")]
    CertificateNotValidAtTime {
        at: String,
        not_before: String,
        not_after: String,
    },
    #[error("the signing certificate is not for code signing (extKeyUsage lacks codeSigning)")]
    NotCodeSigning,
    #[error("the signing certificate does not chain to a certificate authority of the trusted root valid at {at}: {reason}")]
    UntrustedCertificate { at: String, reason: String },
    #[error("no valid SCT from a CT log of the trusted root is embedded in the certificate: {0}")]
    Sct(String),
    #[error("signer identity (issuer `{issuer}`, subject `{subject}`) is not allowed by the policy (allowed: {allowed})")]
    IdentityNotAllowed {
        issuer: String,
        subject: String,
        allowed: String,
    },
    #[error("the bundle is signed by a key, and key `{hint}` is not among the trusted keys")]
    UntrustedKey { hint: String },
    #[error("the DSSE signature does not verify: {0}")]
    Signature(String),
    #[error("the bundle has no transparency-log entry")]
    NoLogEntry,
    #[error("the log entry names log {log_id}, which is not in the trusted root")]
    UnknownLog { log_id: String },
    #[error("the log entry does not match the bundle: {0}")]
    EntryMismatch(String),
    #[error("the inclusion proof does not verify: {0}")]
    Inclusion(String),
    #[error("the checkpoint's origin `{origin}` and the trusted root's key for log {log_id} do not make that log id: a wrong origin or a wrong log key")]
    CheckpointOrigin { origin: String, log_id: String },
    #[error("the checkpoint is not signed by the log's key: {0}")]
    CheckpointSignature(String),
    #[error("the checkpoint does not commit to the proof's tree: {0}")]
    CheckpointMismatch(String),
    #[error("the log's key was not valid at the signing time {at} (valid {valid})")]
    LogKeyNotValid { at: String, valid: String },
    #[error(
        "{valid} of the configured witnesses cosigned the checkpoint; the policy needs {threshold}"
    )]
    WitnessThreshold { valid: usize, threshold: usize },
    #[error("the DSSE payload is not an in-toto statement: {0}")]
    Statement(String),
    #[error("the statement is for {found}, not for {expected}")]
    SubjectMismatch { expected: String, found: String },
}

/// An allowed signer identity: glob patterns (`*` = any run of characters) over the certificate's
/// OIDC issuer and subject (its SAN URI or e-mail).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct IdentityRule {
    pub issuer: String,
    pub subject: String,
}

impl IdentityRule {
    /// Whether `issuer` and `subject` match.
    pub fn matches(&self, issuer: &str, subject: &str) -> bool {
        glob(&self.issuer, issuer) && glob(&self.subject, subject)
    }
}

/// A witness whose cosignature (C2SP `cosignature/v1`) on the checkpoint counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub name: String,
    pub public_key: [u8; 32],
}

impl Witness {
    /// Reads a C2SP verifier key `name+hash+base64(0x04 ‖ Ed25519 key)`.
    pub fn from_vkey(vkey: &str) -> Result<Witness, String> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(_hash), Some(key)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("witness key `{vkey}` is not name+hash+key"));
        };
        let raw = STANDARD
            .decode(key)
            .map_err(|_| format!("witness key `{name}`: key is not base64"))?;
        match raw.split_first() {
            Some((0x04, k)) => Ok(Witness {
                name: name.to_owned(),
                public_key: <[u8; 32]>::try_from(k)
                    .map_err(|_| format!("witness key `{name}`: not a 32-byte Ed25519 key"))?,
            }),
            _ => Err(format!(
                "witness key `{name}`: not a cosignature/v1 key (type 0x04)"
            )),
        }
    }

    fn key_hash(&self) -> [u8; 4] {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        h.update([0x0A, 0x04]);
        h.update(self.public_key);
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }
}

/// What the caller expects of an attestation.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// Allowed keyless identities; empty = any identity the trusted CA certified.
    pub identities: Vec<IdentityRule>,
    /// Keys (SubjectPublicKeyInfo DER) trusted for key-signed bundles.
    pub keys: Vec<Vec<u8>>,
    /// The digest a statement subject must carry (`sha256:<hex>`), e.g. the image manifest's.
    pub subject_digest: Option<String>,
    /// Witnesses, and how many of them must have cosigned the checkpoint (0 = none needed).
    pub witnesses: Vec<Witness>,
    pub witness_threshold: usize,
}

/// Who signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// A keyless certificate: its OIDC issuer, subject, validity and Fulcio extensions.
    Certificate {
        issuer: String,
        subject: String,
        not_before: i64,
        not_after: i64,
        extensions: BTreeMap<String, String>,
    },
    /// A trusted key, by its id (hex SHA-256 of the SubjectPublicKeyInfo).
    Key { key_id: String },
}

/// The log entry that was proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogProof {
    pub index: u64,
    pub origin: String,
    pub tree_size: u64,
    pub root: Hash,
    pub log_id: String,
    /// Names of the configured witnesses whose cosignature verified.
    pub witnesses: Vec<String>,
}

/// A statement subject: its name and digests (`sha256` → hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub digests: BTreeMap<String, String>,
}

/// A verified attestation.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub statement: Value,
    pub predicate_type: String,
    pub subjects: Vec<Subject>,
    pub signed_by: SignedBy,
    pub log: LogProof,
    /// The earliest verified RFC 3161 time (Unix seconds), if any.
    pub signed_at: Option<i64>,
}

/// Verifies a bundle's bytes (see the module docs).
pub fn verify_bundle(
    bytes: &[u8],
    root: &TrustedRoot,
    exp: &Expectations,
) -> Result<Verified, VerifyError> {
    let bundle = Bundle::parse(bytes)?;
    verify(&bundle, root, exp)
}

/// Verifies a parsed bundle (see the module docs).
pub fn verify(
    bundle: &Bundle,
    root: &TrustedRoot,
    exp: &Expectations,
) -> Result<Verified, VerifyError> {
    let BundleContent::Dsse(env) = &bundle.body else {
        return Err(VerifyError::NotDsse);
    };
    let [signature] = env.signatures.as_slice() else {
        return Err(VerifyError::SignatureCount(env.signatures.len()));
    };

    // 1. Trusted times, over the signature.
    let mut times = Vec::new();
    for (index, ts) in bundle.rfc3161_timestamps.iter().enumerate() {
        times.push(verify_one_timestamp(index, ts, &signature.sig, root)?);
    }
    times.sort_unstable();

    // 2–3. Who signed.
    // A key bundle's hint is unauthenticated and its format varies between producers: when it names
    // none of the trusted keys and there is exactly one, that key is tried, and a signature it does
    // not verify is reported as the untrusted key it most likely is.
    let mut guessed_key = None;
    let (verifier, signed_by) = match &bundle.content {
        VerificationContent::Certificate(der) => {
            let by = verify_certificate(der, &[], root, &times)?;
            check_identity(&by, exp)?;
            (Verifier::X509Certificate { der: der.clone() }, by)
        }
        VerificationContent::X509Chain(chain) => {
            let (leaf, rest) = chain
                .split_first()
                .ok_or_else(|| VerifyError::BadCertificate("empty certificate chain".into()))?;
            let by = verify_certificate(leaf, rest, root, &times)?;
            check_identity(&by, exp)?;
            (Verifier::X509Certificate { der: leaf.clone() }, by)
        }
        VerificationContent::PublicKey { hint } => {
            let named = exp
                .keys
                .iter()
                .find(|k| hint.is_empty() || key_id(k) == *hint);
            if named.is_none() {
                guessed_key = Some(hint.clone());
            }
            let spki = named
                .or_else(|| exp.keys.first().filter(|_| exp.keys.len() == 1))
                .ok_or_else(|| VerifyError::UntrustedKey { hint: hint.clone() })?;
            (
                Verifier::PublicKey {
                    spki_der: spki.clone(),
                },
                SignedBy::Key {
                    key_id: key_id(spki),
                },
            )
        }
    };
    let signed_at = times.first().copied();

    // 4–5. The signature, through the log entry that records it.
    let entry = bundle.tlog_entries.first().ok_or(VerifyError::NoLogEntry)?;
    let guessed = |e: VerifyError| match &guessed_key {
        Some(hint) => VerifyError::UntrustedKey { hint: hint.clone() },
        None => e,
    };
    let logged = check_entry(entry, env, &signature.sig, &verifier).map_err(guessed)?;
    logged
        .validate()
        .map_err(|e| guessed(VerifyError::Signature(e.to_string())))?;
    let log = verify_inclusion(entry, root, signed_at, exp)?;

    // 6. The statement.
    let (statement, predicate_type, subjects) = statement(env)?;
    if let Some(want) = &exp.subject_digest {
        let (alg, hexd) = want.split_once(':').unwrap_or(("sha256", want));
        let found = subjects.iter().any(|s| {
            s.digests
                .get(alg)
                .is_some_and(|d| d.eq_ignore_ascii_case(hexd))
        });
        if !found {
            let listed: Vec<String> = subjects
                .iter()
                .flat_map(|s| s.digests.iter().map(|(a, d)| format!("{a}:{d}")))
                .collect();
            return Err(VerifyError::SubjectMismatch {
                expected: want.clone(),
                found: if listed.is_empty() {
                    "no subject".into()
                } else {
                    listed.join(", ")
                },
            });
        }
    }
    Ok(Verified {
        statement,
        predicate_type,
        subjects,
        signed_by,
        log,
        signed_at,
    })
}

/// The id of a key: hex SHA-256 of its SubjectPublicKeyInfo DER.
pub fn key_id(spki_der: &[u8]) -> String {
    hex(&Sha256::digest(spki_der))
}

fn within(valid: &ValidFor, at: i64) -> bool {
    let start = parse_rfc3339(&valid.start).unwrap_or(i64::MIN);
    let end = valid
        .end
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or(i64::MAX);
    start <= at && at <= end
}

fn show(valid: &ValidFor) -> String {
    format!(
        "{} to {}",
        valid.start,
        valid.end.as_deref().unwrap_or("(no end)")
    )
}

fn at(secs: i64) -> String {
    rfc3339(u64::try_from(secs).unwrap_or(0))
}

fn verify_one_timestamp(
    index: usize,
    ts: &[u8],
    signature: &[u8],
    root: &TrustedRoot,
) -> Result<i64, VerifyError> {
    let mut reason = String::from("the trusted root has no timestamp authority");
    for tsa in &root.timestamp_authorities {
        // Every certificate of the trusted root's chain is trusted material (the document is
        // authenticated as a whole, by TUF or by the operator), so each is a trust anchor; its
        // validity at the token's time is still checked. This saves re-verifying the
        // intermediate's signature, as RFC 5280 §6 allows for any trust anchor.
        if tsa.cert_chain_der.is_empty() {
            continue;
        }
        match verify_timestamp(ts, signature, &tsa.cert_chain_der, &[]) {
            Ok(v) => {
                let secs = i64::try_from(v.gen_time_millis / 1000).unwrap_or(i64::MAX);
                if within(&tsa.valid_for, secs) {
                    return Ok(secs);
                }
                reason = format!(
                    "its time {} is outside the authority's validity {}",
                    at(secs),
                    show(&tsa.valid_for)
                );
            }
            Err(e) => reason = e.to_string(),
        }
    }
    Err(VerifyError::Timestamp { index, reason })
}

fn verify_certificate(
    der: &[u8],
    extra: &[Vec<u8>],
    root: &TrustedRoot,
    times: &[i64],
) -> Result<SignedBy, VerifyError> {
    let cert = match X509Certificate::from_der(der) {
        Ok(([], c)) => c,
        Ok(_) => {
            return Err(VerifyError::BadCertificate(
                "bytes after the certificate".into(),
            ))
        }
        Err(e) => return Err(VerifyError::BadCertificate(e.to_string())),
    };
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if times.is_empty() {
        return Err(VerifyError::NoTrustedTime);
    }
    for &t in times {
        if !(not_before <= t && t <= not_after) {
            return Err(VerifyError::CertificateNotValidAtTime {
                at: at(t),
                not_before: at(not_before),
                not_after: at(not_after),
            });
        }
    }
    match cert.extended_key_usage() {
        Ok(Some(eku)) if eku.value.code_signing => {}
        _ => return Err(VerifyError::NotCodeSigning),
    }

    // The chain, at every trusted time, to a CA valid then; and the issuer's key for the SCT.
    let mut issuer_spki: Option<Vec<u8>> = None;
    let mut last_reason = String::from("the trusted root has no certificate authority");
    for &t in times {
        let mut ok = false;
        let mut reasons = Vec::new();
        for ca in &root.certificate_authorities {
            if !within(&ca.valid_for, t) {
                continue;
            }
            match chain_through(&cert, extra, ca, t) {
                Ok(spki) => {
                    issuer_spki = Some(spki);
                    ok = true;
                    break;
                }
                Err(r) => reasons.push(r),
            }
        }
        if !ok {
            last_reason = if reasons.is_empty() {
                format!("no authority of the trusted root is valid at {}", at(t))
            } else {
                reasons.join("; ")
            };
        }
        if !ok {
            return Err(VerifyError::UntrustedCertificate {
                at: at(t),
                reason: last_reason,
            });
        }
    }
    let issuer_spki = issuer_spki.ok_or_else(|| VerifyError::UntrustedCertificate {
        at: String::new(),
        reason: last_reason.clone(),
    })?;

    // The SCT, from a CT log of the trusted root valid at the SCT's time.
    let mut sct_reason = String::from("the trusted root has no CT log");
    let mut sct_ok = false;
    for log in &root.ctlogs {
        match signer_gateway::keyless::verify_embedded_sct(der, &issuer_spki, &log.public_key_der) {
            Ok(sct) => {
                let secs = i64::try_from(sct.timestamp_ms / 1000).unwrap_or(i64::MAX);
                if within(&log.valid_for, secs) && not_before <= secs && secs <= not_after {
                    sct_ok = true;
                    break;
                }
                sct_reason = format!(
                    "the SCT's time {} is outside the CT log's validity or the certificate's",
                    at(secs)
                );
            }
            Err(e) => {
                // "No SCT from this log" only explains the failure if no log did better.
                let msg = e.to_string();
                if !msg.contains("no SCT from the log")
                    || sct_reason.starts_with("the trusted root")
                {
                    sct_reason = msg;
                }
            }
        }
    }
    if !sct_ok {
        return Err(VerifyError::Sct(sct_reason));
    }

    let (issuer, extensions) = fulcio_extensions(&cert);
    Ok(SignedBy::Certificate {
        issuer,
        subject: san(&cert),
        not_before,
        not_after,
        extensions,
    })
}

/// A path from `leaf` to `ca`'s root at `t`; returns the SubjectPublicKeyInfo of the leaf's issuer.
fn chain_through(
    leaf: &X509Certificate<'_>,
    extra: &[Vec<u8>],
    ca: &CertificateAuthority,
    t: i64,
) -> Result<Vec<u8>, String> {
    // Every certificate of the trusted root's chain is a trust anchor (see
    // `verify_one_timestamp`); certificates the bundle carries are only path candidates.
    let anchors: Vec<X509Certificate<'_>> =
        ca.cert_chain_der.iter().filter_map(|d| parse(d)).collect();
    let Some(top) = anchors.last() else {
        return Err("empty or unparsable chain in the trusted root".into());
    };
    let pool: Vec<X509Certificate<'_>> = extra.iter().filter_map(|d| parse(d)).collect();
    chain_to_root(leaf, &pool, &anchors, t).map_err(|_| {
        format!(
            "no path with valid signatures from the certificate (issuer `{}`) to the authority `{}`",
            leaf.issuer(),
            top.subject()
        )
    })?;
    // The path exists, so the leaf's issuer is among these; pick it by name (checking its
    // signature again would cost a second verification). A same-named impostor cannot pass: the
    // SCT is verified over this issuer's key hash.
    let issuer = pool
        .iter()
        .chain(anchors.iter())
        .find(|c| c.subject().as_raw() == leaf.issuer().as_raw())
        .ok_or("no issuer of the leaf in the chain")?;
    Ok(issuer.public_key().raw.to_vec())
}

fn parse(d: &[u8]) -> Option<X509Certificate<'_>> {
    match X509Certificate::from_der(d) {
        Ok(([], c)) => Some(c),
        _ => None,
    }
}

fn fulcio_extensions(cert: &X509Certificate<'_>) -> (String, BTreeMap<String, String>) {
    let mut out = BTreeMap::new();
    let mut legacy_issuer = None;
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        let Some(last) = oid
            .strip_prefix(FULCIO_ARC)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if last == 1 {
            legacy_issuer = std::str::from_utf8(ext.value).ok().map(str::to_owned);
            continue;
        }
        let Some((_, name)) = FULCIO_EXTENSIONS.iter().find(|(n, _)| *n == last) else {
            continue;
        };
        // DER UTF8String (tag 12), short or long length.
        let value = match ext.value {
            [12, len, rest @ ..] if usize::from(*len) == rest.len() => {
                std::str::from_utf8(rest).ok()
            }
            [12, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => {
                std::str::from_utf8(rest).ok()
            }
            [12, 0x82, hi, lo, rest @ ..]
                if (usize::from(*hi) << 8 | usize::from(*lo)) == rest.len() =>
            {
                std::str::from_utf8(rest).ok()
            }
            _ => None,
        };
        if let Some(v) = value {
            out.insert((*name).to_owned(), v.to_owned());
        }
    }
    let issuer = out
        .get("issuer")
        .cloned()
        .or(legacy_issuer)
        .unwrap_or_default();
    (issuer, out)
}

fn san(cert: &X509Certificate<'_>) -> String {
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(u) => return (*u).to_owned(),
                GeneralName::RFC822Name(e) => return (*e).to_owned(),
                _ => {}
            }
        }
    }
    String::new()
}

fn check_identity(by: &SignedBy, exp: &Expectations) -> Result<(), VerifyError> {
    let SignedBy::Certificate {
        issuer, subject, ..
    } = by
    else {
        return Ok(());
    };
    if exp.identities.is_empty() || exp.identities.iter().any(|r| r.matches(issuer, subject)) {
        return Ok(());
    }
    Err(VerifyError::IdentityNotAllowed {
        issuer: issuer.clone(),
        subject: subject.clone(),
        allowed: exp
            .identities
            .iter()
            .map(|r| format!("{} / {}", r.issuer, r.subject))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// The logged entry must be this envelope's signature, by this verifier, over H(PAE).
fn check_entry(
    entry: &TlogEntry,
    env: &Envelope,
    sig: &[u8],
    verifier: &Verifier,
) -> Result<HashedRekordV002, VerifyError> {
    if entry.kind != "hashedrekord" || entry.version != "0.0.2" {
        return Err(VerifyError::EntryMismatch(format!(
            "entry kind {} {} (expected hashedrekord 0.0.2, Rekor v2)",
            entry.kind, entry.version
        )));
    }
    let logged = HashedRekordV002::from_body(&entry.canonicalized_body)
        .map_err(|e| VerifyError::EntryMismatch(format!("entry body: {e}")))?;
    if &logged.verifier != verifier {
        return Err(VerifyError::EntryMismatch(
            "the entry's certificate or key is not the bundle's".into(),
        ));
    }
    if logged.signature != sig {
        return Err(VerifyError::EntryMismatch(
            "the entry's signature is not the envelope's".into(),
        ));
    }
    let alg = logged.key_details.hash_algorithm().ok_or_else(|| {
        VerifyError::EntryMismatch(format!("keyDetails {} has no hash", logged.key_details))
    })?;
    if logged.digest != alg.digest(&pae(&env.payload_type, &env.payload)) {
        return Err(VerifyError::EntryMismatch(
            "the entry's digest is not the hash of the envelope's PAE".into(),
        ));
    }
    Ok(logged)
}

fn verify_inclusion(
    entry: &TlogEntry,
    root: &TrustedRoot,
    signed_at: Option<i64>,
    exp: &Expectations,
) -> Result<LogProof, VerifyError> {
    let log = root
        .tlogs
        .iter()
        .find(|l| l.log_id == entry.log_id)
        .ok_or_else(|| VerifyError::UnknownLog {
            log_id: hex(&entry.log_id),
        })?;
    if let Some(t) = signed_at {
        if !within(&log.valid_for, t) {
            return Err(VerifyError::LogKeyNotValid {
                at: at(t),
                valid: show(&log.valid_for),
            });
        }
    }
    let p = &entry.inclusion_proof;
    if p.log_index != entry.log_index {
        return Err(VerifyError::Inclusion(format!(
            "proof index {} is not the entry's index {}",
            p.log_index, entry.log_index
        )));
    }
    let to_hash = |b: &[u8], what: &str| {
        Hash::try_from(b)
            .map_err(|_| VerifyError::Inclusion(format!("{what} is not a 32-byte hash")))
    };
    let root_hash = to_hash(&p.root_hash, "rootHash")?;
    let hashes = p
        .hashes
        .iter()
        .map(|h| to_hash(h, "a proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = merkle::leaf_hash(&entry.canonicalized_body);
    merkle::verify_inclusion(p.log_index, p.tree_size, &leaf, &hashes, &root_hash)
        .map_err(|e| VerifyError::Inclusion(e.to_string()))?;

    // The checkpoint: origin bound by the log id, signed by the log's key.
    let origin = p
        .checkpoint
        .split('\n')
        .next()
        .unwrap_or_default()
        .to_owned();
    let note_key = NoteVerifier::from_spki(&origin, &log.public_key_der)
        .map_err(|e| VerifyError::CheckpointSignature(e.to_string()))?;
    if note_key.log_id().as_slice() != log.log_id.as_slice() {
        return Err(VerifyError::CheckpointOrigin {
            origin,
            log_id: hex(&log.log_id),
        });
    }
    let note = note_key
        .verify(&p.checkpoint)
        .map_err(|e| VerifyError::CheckpointSignature(e.to_string()))?;
    let cp = Checkpoint::parse(&note.text)
        .map_err(|e| VerifyError::CheckpointMismatch(e.to_string()))?;
    if cp.size != p.tree_size || cp.root != root_hash {
        return Err(VerifyError::CheckpointMismatch(format!(
            "checkpoint says size {} root {}, the proof size {} root {}",
            cp.size,
            hex(&cp.root),
            p.tree_size,
            hex(&root_hash)
        )));
    }
    let witnesses = cosigners(&p.checkpoint, &note.text, &exp.witnesses);
    if witnesses.len() < exp.witness_threshold {
        return Err(VerifyError::WitnessThreshold {
            valid: witnesses.len(),
            threshold: exp.witness_threshold,
        });
    }
    Ok(LogProof {
        index: entry.log_index,
        origin,
        tree_size: p.tree_size,
        root: root_hash,
        log_id: hex(&log.log_id),
        witnesses,
    })
}

/// Names of `witnesses` with a valid C2SP `cosignature/v1` line on the note.
fn cosigners(signed: &str, text: &str, witnesses: &[Witness]) -> Vec<String> {
    let Some(split) = signed.rfind("\n\n") else {
        return Vec::new();
    };
    let sigs = signed.get(split + 2..).unwrap_or_default();
    let mut out = Vec::new();
    for w in witnesses {
        let want = w.key_hash();
        let good = sigs.split_terminator('\n').any(|line| {
            let Some((name, b64)) = line
                .strip_prefix("\u{2014} ")
                .and_then(|r| r.split_once(' '))
            else {
                return false;
            };
            let Ok(blob) = STANDARD.decode(b64) else {
                return false;
            };
            if name != w.name || blob.len() != 4 + 8 + 64 || blob.get(..4) != Some(&want[..]) {
                return false;
            }
            let (ts, sig) = blob.split_at(12);
            let Ok(ts) = <[u8; 8]>::try_from(&ts[4..]) else {
                return false;
            };
            let msg = format!("cosignature/v1\ntime {}\n{text}", u64::from_be_bytes(ts));
            UnparsedPublicKey::new(&ED25519, &w.public_key)
                .verify(msg.as_bytes(), sig)
                .is_ok()
        });
        if good && !out.contains(&w.name) {
            out.push(w.name.clone());
        }
    }
    out
}

type Statement = (Value, String, Vec<Subject>);

fn statement(env: &Envelope) -> Result<Statement, VerifyError> {
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(VerifyError::Statement(format!(
            "payload type `{}` (expected {IN_TOTO_PAYLOAD_TYPE})",
            env.payload_type
        )));
    }
    let v: Value = serde_json::from_slice(&env.payload)
        .map_err(|e| VerifyError::Statement(format!("not JSON: {e}")))?;
    let ty = v.get("_type").and_then(Value::as_str).unwrap_or_default();
    if !STATEMENT_TYPES.contains(&ty) {
        return Err(VerifyError::Statement(format!("`_type` is `{ty}`")));
    }
    let predicate_type = v
        .get("predicateType")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| VerifyError::Statement("no `predicateType`".into()))?
        .to_owned();
    let subjects = v
        .get("subject")
        .and_then(Value::as_array)
        .ok_or_else(|| VerifyError::Statement("no `subject` list".into()))?
        .iter()
        .map(|s| {
            let digests = s
                .get("digest")
                .and_then(Value::as_object)
                .map(|d| {
                    d.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            Subject {
                name: s
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                digests,
            }
        })
        .collect();
    Ok((v, predicate_type, subjects))
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::{cosigners, glob, Witness};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};

    /// A witness key and its C2SP vkey, and a cosignature line it makes on `text` at `time`.
    fn witness(name: &str) -> (Ed25519KeyPair, String) {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut raw = vec![0x04];
        raw.extend_from_slice(key.public_key().as_ref());
        let w = Witness {
            name: name.into(),
            public_key: key.public_key().as_ref().try_into().unwrap(),
        };
        let vkey = format!(
            "{name}+{}+{}",
            super::hex(&w.key_hash()),
            STANDARD.encode(raw)
        );
        (key, vkey)
    }

    fn cosign(key: &Ed25519KeyPair, w: &Witness, text: &str, time: u64) -> String {
        let msg = format!("cosignature/v1\ntime {time}\n{text}");
        let mut blob = w.key_hash().to_vec();
        blob.extend_from_slice(&time.to_be_bytes());
        blob.extend_from_slice(key.sign(msg.as_bytes()).as_ref());
        format!("\u{2014} {} {}\n", w.name, STANDARD.encode(blob))
    }

    #[test]
    fn witness_cosignatures_count_only_when_they_verify() {
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let (k1, v1) = witness("w1.example");
        let (k2, v2) = witness("w2.example");
        let (_k3, v3) = witness("w3.example");
        let w1 = Witness::from_vkey(&v1).unwrap();
        let w2 = Witness::from_vkey(&v2).unwrap();
        let w3 = Witness::from_vkey(&v3).unwrap();
        let log_line = "\u{2014} example.com/log AAAAAAAA\n";
        let signed = format!(
            "{text}\n{log_line}{}{}",
            cosign(&k1, &w1, text, 1_700_000_000),
            // w2's key signs under w3's name: does not count for either.
            cosign(
                &k2,
                &Witness {
                    name: w3.name.clone(),
                    ..w2.clone()
                },
                text,
                1_700_000_000
            )
        );
        let all = [w1.clone(), w2.clone(), w3.clone()];
        assert_eq!(
            cosigners(&signed, text, &all),
            vec!["w1.example".to_owned()]
        );
        // A cosignature over another text does not count.
        let other = text.replace('5', "6");
        assert!(cosigners(&signed, &other, &all).is_empty());
        assert!(Witness::from_vkey("no-plus").is_err());
        assert!(Witness::from_vkey("n+h+AQID").is_err());
    }

    #[test]
    fn glob_matches_runs() {
        assert!(glob(
            "https://github.com/org/*",
            "https://github.com/org/repo/.github/x@refs/heads/main"
        ));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b", "aXXc"));
        assert!(!glob("exact", "exact2"));
        assert!(glob("exact", "exact"));
    }
}
