//! Release signatures: how the Signer knows that the scanner calling it is a genuine release.
//!
//! A release is signed by pushing, as an OCI 1.1 referrer of the scanner image manifest (artifact
//! type [`ARTIFACT_RELEASE_SIGNATURE`], the envelope JSON as the one layer), a DSSE envelope
//! (payload type `application/vnd.in-toto+json`) of an in-toto Statement v1:
//!
//! ```json
//! {"_type": "https://in-toto.io/Statement/v1",
//!  "subject": [{"name": "registry.example/stella/scanner", "digest": {"sha256": "<hex>"}}],
//!  "predicateType": "https://stella-ops.org/attestations/release/v1",
//!  "predicate": {"version": "1.2.3", "releaseYear": 2026}}
//! ```
//!
//! signed with ECDSA P-256 by the release key. A multi-platform image gets one statement naming every
//! platform manifest, attached to each of them.
//!
//! [`ReleaseVerifier::verify`] takes an image **pinned by digest** (a tag can move, so it is refused),
//! lists its release-signature referrers (through the referrers API, the `sha256-<hex>` tag fallback,
//! or an OCI layout on disk: whatever [`registry::target`] supports), and accepts the first whose
//! envelope verifies with a trusted key, whose statement names that very digest and has our predicate
//! type. Nothing in the statement is looked at before its signature verified. Results that verified
//! are cached (digest → claims, with a time to live and a size bound), so the Signer's hot path does not
//! reach the registry on every request; failures are never cached.
//!
//! Unlike the rest of this crate this module does I/O: it is the edge where the Signer meets the
//! registry. The checks themselves ([`check_envelope`]) are pure.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use registry::referrers::{Artifact, Referrer};
use registry::target::{self, Target};
use registry::{PushOptions, PushedReferrer, SourceError};
use serde_json::{json, Value};

use crate::dsse::{self, DsseError, Envelope, KeySource, PAYLOAD_TYPE_IN_TOTO};

/// The artifact type (and layer media type) of a release signature referrer.
pub const ARTIFACT_RELEASE_SIGNATURE: &str = "application/vnd.stella.release-signature.v1+json";
/// The predicate type of a release statement.
pub const PREDICATE_TYPE_RELEASE: &str = "https://stella-ops.org/attestations/release/v1";
/// The in-toto Statement v1 type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Release-signature referrers of one image examined before giving up.
pub const MAX_REFERRERS: usize = 16;
/// Largest release-signature envelope accepted.
pub const MAX_SIGNATURE_BYTES: usize = 64 * 1024;
/// Default time to live of a cached verification.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10 * 60);
/// Default number of cached verifications.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;
/// Default limit on the registry work of one verification.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a verified release signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseClaims {
    /// The image manifest digest the signature is for (`sha256:<hex>`).
    pub image_digest: String,
    /// The release version (`1.2.3`, `1.3.0-rc.1`).
    pub version: String,
    /// The release year (compared with the PoE's `valid_release_year`).
    pub release_year: u32,
}

/// Why a release could not be signed or verified. Every verification failure names the image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    #[error("`{image}` is not an image reference: {reason}")]
    InvalidImage { image: String, reason: String },
    #[error(
        "`{image}` is not pinned by digest: a tag can move, so name the image as REPO@sha256:<hex> \
         (or oci:DIR:sha256:<hex>)"
    )]
    NotPinned { image: String },
    #[error("`{image}` has no release signature (no {ARTIFACT_RELEASE_SIGNATURE} referrers)")]
    NoSignature { image: String },
    #[error(
        "the release signatures of `{image}` are not by a trusted release key ({count} examined)"
    )]
    UntrustedSignature { image: String, count: usize },
    #[error("the release signature of `{image}` was made for another image: it names {signed}")]
    SubjectMismatch { image: String, signed: String },
    #[error("the release signature of `{image}` is malformed: {reason}")]
    Malformed { image: String, reason: String },
    #[error("cannot read the release signatures of `{image}`: {source}")]
    Unreachable {
        image: String,
        #[source]
        source: Box<SourceError>,
    },
    #[error("cannot read the release signatures of `{image}`: no answer within {timeout:?}")]
    Timeout { image: String, timeout: Duration },
    #[error("cannot sign the release `{image}`: {source}")]
    Push {
        image: String,
        #[source]
        source: Box<SourceError>,
    },
    #[error("release key: {0}")]
    Key(#[source] DsseError),
    #[error("`{version}` is not a version (N[.N…][-PRERELEASE]): {reason}")]
    BadVersion { version: String, reason: String },
}

/// Signs the release `image` (pinned by digest or by tag; a registry reference or `oci:DIR[:TAG]`)
/// with `key` and pushes the signature as a referrer of its manifest (of each platform manifest of a
/// multi-platform image, or of `opts.platform`'s). Returns what was pushed.
pub async fn sign_release(
    image: &str,
    key: &dyn KeySource,
    version: &str,
    release_year: u32,
    opts: &PushOptions,
) -> Result<Vec<PushedReferrer>, ReleaseError> {
    parse_version(version)?;
    let target = Target::parse(image).map_err(|e| ReleaseError::InvalidImage {
        image: image.to_owned(),
        reason: e.to_string(),
    })?;
    let push_err = |source| ReleaseError::Push {
        image: image.to_owned(),
        source: Box::new(source),
    };
    let subjects = target::subjects(&target, opts).await.map_err(push_err)?;
    let name = match &target {
        Target::Remote(r) => r.name(),
        Target::Layout { .. } => target.to_string(),
    };
    let digests: Vec<String> = subjects.iter().map(|s| s.digest.clone()).collect();
    let statement = release_statement(&name, &digests, version, release_year)?;
    let envelope = sign_statement(&statement, key)?;
    let artifact = Artifact {
        artifact_type: ARTIFACT_RELEASE_SIGNATURE.to_owned(),
        content: envelope.to_json().to_string().into_bytes(),
        annotations: Default::default(),
    };
    target::push(&target, &artifact, opts)
        .await
        .map_err(push_err)
}

/// The in-toto statement of a release of the manifests `digests` (`sha256:<hex>`) of `name`.
pub fn release_statement(
    name: &str,
    digests: &[String],
    version: &str,
    release_year: u32,
) -> Result<Value, ReleaseError> {
    parse_version(version)?;
    let subject: Vec<Value> = digests
        .iter()
        .map(|d| {
            let hex = d.strip_prefix("sha256:").unwrap_or(d);
            json!({"name": name, "digest": {"sha256": hex}})
        })
        .collect();
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE_RELEASE,
        "predicate": {"version": version, "releaseYear": release_year},
    }))
}

/// A DSSE envelope of `statement` signed by `key` (key id: the hex SHA-256 of its SPKI).
pub fn sign_statement(statement: &Value, key: &dyn KeySource) -> Result<Envelope, ReleaseError> {
    let payload = statement.to_string().into_bytes();
    let keyid = dsse::key_id(&key.public_key_spki_der());
    Envelope::sign(PAYLOAD_TYPE_IN_TOTO, payload, key, &keyid).map_err(ReleaseError::Key)
}

/// Why one envelope was not accepted; the verifier turns the best of these into a [`ReleaseError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeRejection {
    /// Not an envelope, not a statement, or not a release statement.
    Malformed(String),
    /// No trusted key verifies it.
    Untrusted,
    /// Signed by a trusted key, for other digests (the first is named).
    OtherSubject(String),
}

/// Checks one release-signature envelope against the trusted keys (SPKI DER) and the image digest
/// (`sha256:<hex>`): the signature first, then, in the signed payload only, the statement type,
/// predicate type, subject and predicate.
pub fn check_envelope(
    bytes: &[u8],
    trusted: &[Vec<u8>],
    digest: &str,
) -> Result<ReleaseClaims, EnvelopeRejection> {
    use EnvelopeRejection::{Malformed, OtherSubject, Untrusted};
    if bytes.len() > MAX_SIGNATURE_BYTES {
        return Err(Malformed(format!(
            "{} bytes, more than the {MAX_SIGNATURE_BYTES} accepted",
            bytes.len()
        )));
    }
    let envelope = Envelope::parse(bytes).map_err(|e| Malformed(e.to_string()))?;
    if !trusted.iter().any(|k| envelope.verify_p256(k).is_ok()) {
        return Err(Untrusted);
    }
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(Malformed(format!(
            "payload type `{}`, expected `{PAYLOAD_TYPE_IN_TOTO}`",
            envelope.payload_type
        )));
    }
    let statement: Value = serde_json::from_slice(&envelope.payload)
        .map_err(|e| Malformed(format!("the statement is not JSON: {e}")))?;
    let str_at = |pointer: &str| statement.pointer(pointer).and_then(Value::as_str);
    if str_at("/_type") != Some(STATEMENT_TYPE) {
        return Err(Malformed(format!("`_type` is not `{STATEMENT_TYPE}`")));
    }
    if str_at("/predicateType") != Some(PREDICATE_TYPE_RELEASE) {
        return Err(Malformed(format!(
            "predicate type {:?}, expected `{PREDICATE_TYPE_RELEASE}`",
            str_at("/predicateType").unwrap_or("(none)")
        )));
    }
    let subjects = statement
        .get("subject")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Malformed("no `subject`".to_owned()))?;
    let signed: Vec<String> = subjects
        .iter()
        .filter_map(|s| s.pointer("/digest/sha256").and_then(Value::as_str))
        .map(|hex| format!("sha256:{hex}"))
        .collect();
    if !signed.iter().any(|s| s == digest) {
        return Err(OtherSubject(
            signed
                .first()
                .cloned()
                .unwrap_or_else(|| "no sha256 digest".to_owned()),
        ));
    }
    let version = str_at("/predicate/version")
        .ok_or_else(|| Malformed("no `predicate.version`".to_owned()))?;
    parse_version(version).map_err(|e| Malformed(e.to_string()))?;
    let release_year = statement
        .pointer("/predicate/releaseYear")
        .and_then(Value::as_u64)
        .and_then(|y| u32::try_from(y).ok())
        .ok_or_else(|| Malformed("`predicate.releaseYear` is not a year".to_owned()))?;
    Ok(ReleaseClaims {
        image_digest: digest.to_owned(),
        version: version.to_owned(),
        release_year,
    })
}

/// Verifies release signatures against trusted release keys, caching what verified.
pub struct ReleaseVerifier {
    keys: Vec<Vec<u8>>,
    opts: PushOptions,
    ttl: Duration,
    max_entries: usize,
    timeout: Duration,
    cache: Mutex<HashMap<String, (Instant, ReleaseClaims)>>,
}

impl fmt::Debug for ReleaseVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.keys.iter().map(|k| dsse::key_id(k)).collect();
        f.debug_struct("ReleaseVerifier")
            .field("key_ids", &ids)
            .field("ttl", &self.ttl)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl ReleaseVerifier {
    /// A verifier trusting the P-256 public keys `keys` (SubjectPublicKeyInfo DER; several while a
    /// key rotation overlaps), reaching registries with `opts`. The cache defaults to
    /// [`DEFAULT_CACHE_TTL`] and [`DEFAULT_CACHE_ENTRIES`].
    pub fn new(keys: Vec<Vec<u8>>, opts: PushOptions) -> Result<ReleaseVerifier, ReleaseError> {
        if keys.is_empty() {
            return Err(ReleaseError::Key(DsseError::BadKey(
                "no trusted release key".to_owned(),
            )));
        }
        for k in &keys {
            dsse::p256_point_from_spki(k).map_err(ReleaseError::Key)?;
        }
        Ok(ReleaseVerifier {
            keys,
            opts,
            ttl: DEFAULT_CACHE_TTL,
            max_entries: DEFAULT_CACHE_ENTRIES,
            timeout: DEFAULT_TIMEOUT,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Sets the cache's time to live and size; a zero TTL or size turns the cache off.
    pub fn with_cache(mut self, ttl: Duration, max_entries: usize) -> ReleaseVerifier {
        self.ttl = ttl;
        self.max_entries = max_entries;
        self
    }

    /// Sets the limit on the registry work of one verification.
    pub fn with_timeout(mut self, timeout: Duration) -> ReleaseVerifier {
        self.timeout = timeout;
        self
    }

    /// Verifies that `image` (`REPO@sha256:<hex>` or `oci:DIR:sha256:<hex>`) carries a release
    /// signature by a trusted key, and returns what it claims.
    pub async fn verify(&self, image: &str) -> Result<ReleaseClaims, ReleaseError> {
        let (target, digest) = pinned(image)?;
        if let Some(claims) = self.cached(&digest) {
            return Ok(claims);
        }
        let claims =
            tokio::time::timeout(self.timeout, self.fetch_and_check(image, &target, &digest))
                .await
                .map_err(|_| ReleaseError::Timeout {
                    image: image.to_owned(),
                    timeout: self.timeout,
                })??;
        self.remember(&digest, &claims);
        Ok(claims)
    }

    async fn fetch_and_check(
        &self,
        image: &str,
        target: &Target,
        digest: &str,
    ) -> Result<ReleaseClaims, ReleaseError> {
        let unreachable = |source| ReleaseError::Unreachable {
            image: image.to_owned(),
            source: Box::new(source),
        };
        let referrers: Vec<Referrer> =
            target::list(target, Some(ARTIFACT_RELEASE_SIGNATURE), &self.opts)
                .await
                .map_err(unreachable)?
                .into_iter()
                .filter(|r| r.subject == digest)
                .take(MAX_REFERRERS)
                .collect();
        if referrers.is_empty() {
            return Err(ReleaseError::NoSignature {
                image: image.to_owned(),
            });
        }
        // The most telling rejection is reported: a trusted signature for another image says more
        // than a malformed one, which says more than one by a key we do not trust.
        let mut worst: Option<EnvelopeRejection> = None;
        for r in &referrers {
            let (_, _, layer) = target::fetch(target, r, &self.opts)
                .await
                .map_err(unreachable)?;
            match check_envelope(&layer, &self.keys, digest) {
                Ok(claims) => return Ok(claims),
                Err(e) => {
                    let rank = |e: &EnvelopeRejection| match e {
                        EnvelopeRejection::Untrusted => 0,
                        EnvelopeRejection::Malformed(_) => 1,
                        EnvelopeRejection::OtherSubject(_) => 2,
                    };
                    if worst.as_ref().is_none_or(|w| rank(&e) > rank(w)) {
                        worst = Some(e);
                    }
                }
            }
        }
        let image = image.to_owned();
        Err(match worst {
            Some(EnvelopeRejection::OtherSubject(signed)) => {
                ReleaseError::SubjectMismatch { image, signed }
            }
            Some(EnvelopeRejection::Malformed(reason)) => ReleaseError::Malformed { image, reason },
            Some(EnvelopeRejection::Untrusted) | None => ReleaseError::UntrustedSignature {
                image,
                count: referrers.len(),
            },
        })
    }

    fn cached(&self, digest: &str) -> Option<ReleaseClaims> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(digest)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, c)| c.clone())
    }

    fn remember(&self, digest: &str, claims: &ReleaseClaims) {
        if self.ttl.is_zero() || self.max_entries == 0 {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = self.ttl;
        cache.retain(|_, (at, _)| at.elapsed() < ttl);
        while cache.len() >= self.max_entries {
            let oldest = cache
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => cache.remove(&k),
                None => break,
            };
        }
        cache.insert(digest.to_owned(), (Instant::now(), claims.clone()));
    }
}

/// The target and the digest of an image pinned by digest; a tag is refused.
fn pinned(image: &str) -> Result<(Target, String), ReleaseError> {
    let invalid = |reason: String| ReleaseError::InvalidImage {
        image: image.to_owned(),
        reason,
    };
    let target = Target::parse(image).map_err(|e| invalid(e.to_string()))?;
    let digest = match &target {
        Target::Remote(r) => r.digest().map(ToString::to_string),
        Target::Layout { tag, .. } => tag.clone().filter(|t| t.starts_with("sha256:")),
    };
    let digest = digest.ok_or_else(|| ReleaseError::NotPinned {
        image: image.to_owned(),
    })?;
    // A layout "tag" is only a string until here: make sure it is a well-formed digest.
    let parsed = registry::Digest::parse(&digest).map_err(|e| invalid(e.to_string()))?;
    if parsed.algorithm() != registry::Algorithm::Sha256 {
        return Err(invalid("release signatures name sha256 digests".to_owned()));
    }
    Ok((target, parsed.to_string()))
}

/// A parsed version: numeric dotted release part, optional pre-release identifiers.
#[derive(Debug, PartialEq, Eq)]
struct Version<'a> {
    release: Vec<u64>,
    pre: Option<Vec<&'a str>>,
}

fn parse_version(version: &str) -> Result<Version<'_>, ReleaseError> {
    let bad = |reason: &str| ReleaseError::BadVersion {
        version: version.to_owned(),
        reason: reason.to_owned(),
    };
    if version.len() > 128 {
        return Err(bad("longer than 128 characters"));
    }
    // Build metadata (`+…`) does not take part in ordering.
    let version_only = version.split_once('+').map_or(version, |(v, _)| v);
    let (release, pre) = match version_only.split_once('-') {
        Some((r, p)) => (r, Some(p)),
        None => (version_only, None),
    };
    let release = release
        .split('.')
        .map(|n| {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("the release part must be dot-separated numbers"));
            }
            n.parse::<u64>().map_err(|_| bad("a number is too large"))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    let pre = match pre {
        None => None,
        Some(p) => {
            let ids: Vec<&str> = p.split('.').collect();
            if ids
                .iter()
                .any(|i| i.is_empty() || !i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            {
                return Err(bad(
                    "the pre-release part must be dot-separated [0-9A-Za-z-] identifiers",
                ));
            }
            Some(ids)
        }
    };
    Ok(Version { release, pre })
}

fn compare_versions(a: &Version<'_>, b: &Version<'_>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let len = a.release.len().max(b.release.len());
    for i in 0..len {
        let x = a.release.get(i).copied().unwrap_or(0);
        let y = b.release.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (&a.pre, &b.pre) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => {
            // SemVer §11: numeric identifiers compare numerically and sort before alphanumeric
            // ones; a shorter list sorts first when it is a prefix of the longer.
            for (p, q) in x.iter().zip(y.iter()) {
                let ord = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            x.len().cmp(&y.len())
        }
    }
}

/// Whether `version` is at most `max` (the PoE's `max_version`): numeric dotted versions, missing
/// components count as 0 (`1.2` = `1.2.0`), a pre-release (`1.3.0-rc.1`) sorts before its release,
/// build metadata (`+…`) is ignored.
pub fn version_at_most(version: &str, max: &str) -> Result<bool, ReleaseError> {
    let v = parse_version(version)?;
    let m = parse_version(max)?;
    Ok(compare_versions(&v, &m) != std::cmp::Ordering::Greater)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::MemoryKey;

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const OTHER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn key() -> MemoryKey {
        MemoryKey::generate(&ring::rand::SystemRandom::new())
            .unwrap()
            .0
    }

    fn signed(statement: &Value, key: &MemoryKey) -> Vec<u8> {
        sign_statement(statement, key)
            .unwrap()
            .to_json()
            .to_string()
            .into_bytes()
    }

    #[test]
    fn versions_compare_numerically_with_prereleases_first() {
        for (v, max, at_most) in [
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", true),
            ("1.2.10", "1.2.9", false),
            ("1.10", "1.9.9", false),
            ("1.2", "1.2.0", true),
            ("1.2.0", "1.2", true),
            ("2.0.0-rc.1", "2.0.0", true),
            ("2.0.0", "2.0.0-rc.1", false),
            ("2.0.0-rc.2", "2.0.0-rc.10", true),
            ("2.0.0-rc.1", "2.0.0-beta", false),
            ("2.0.0-1", "2.0.0-alpha", true),
            ("2.0.0-rc", "2.0.0-rc.1", true),
            ("1.0.0+build.7", "1.0.0", true),
        ] {
            assert_eq!(version_at_most(v, max).unwrap(), at_most, "{v} <= {max}");
        }
        for bad in [
            "",
            "v1.2",
            "1..2",
            "1.2.x",
            "1.2-",
            "1.2-rc..1",
            "1.2-r c",
            "99999999999999999999",
        ] {
            assert!(
                matches!(
                    version_at_most(bad, "1"),
                    Err(ReleaseError::BadVersion { .. })
                ),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn envelope_checks_name_what_is_wrong() {
        let k = key();
        let trusted = vec![k.public_key_spki_der()];
        let statement =
            release_statement("r/scanner", &[DIGEST.to_owned()], "1.2.3", 2026).unwrap();
        let good = signed(&statement, &k);
        assert_eq!(
            check_envelope(&good, &trusted, DIGEST).unwrap(),
            ReleaseClaims {
                image_digest: DIGEST.to_owned(),
                version: "1.2.3".to_owned(),
                release_year: 2026
            }
        );
        assert_eq!(
            check_envelope(&good, &trusted, OTHER),
            Err(EnvelopeRejection::OtherSubject(DIGEST.to_owned()))
        );
        assert_eq!(
            check_envelope(&good, &[key().public_key_spki_der()], DIGEST),
            Err(EnvelopeRejection::Untrusted)
        );
        // Rotation: any trusted key will do.
        assert!(check_envelope(
            &good,
            &[key().public_key_spki_der(), trusted[0].clone()],
            DIGEST
        )
        .is_ok());

        let mut wrong_predicate = statement.clone();
        wrong_predicate["predicateType"] = json!("https://slsa.dev/provenance/v1");
        let mut wrong_type = statement.clone();
        wrong_type["_type"] = json!("https://in-toto.io/Statement/v0.1");
        let mut no_year = statement.clone();
        no_year["predicate"]["releaseYear"] = json!("2026");
        let mut bad_version = statement.clone();
        bad_version["predicate"]["version"] = json!("latest");
        for (doc, what) in [
            (wrong_predicate, "predicate type"),
            (wrong_type, "_type"),
            (no_year, "releaseYear"),
            (bad_version, "latest"),
        ] {
            match check_envelope(&signed(&doc, &k), &trusted, DIGEST) {
                Err(EnvelopeRejection::Malformed(m)) => assert!(m.contains(what), "{m} / {what}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        let other_type = Envelope::sign("text/plain", statement.to_string().into_bytes(), &k, "")
            .unwrap()
            .to_json()
            .to_string();
        assert!(matches!(
            check_envelope(other_type.as_bytes(), &trusted, DIGEST),
            Err(EnvelopeRejection::Malformed(m)) if m.contains("payload type")
        ));
        assert!(matches!(
            check_envelope(b"{not json", &trusted, DIGEST),
            Err(EnvelopeRejection::Malformed(_))
        ));
        assert!(matches!(
            check_envelope(&vec![b' '; MAX_SIGNATURE_BYTES + 1], &trusted, DIGEST),
            Err(EnvelopeRejection::Malformed(m)) if m.contains("accepted")
        ));
    }

    #[test]
    fn only_digests_are_pinned() {
        assert!(matches!(
            pinned("127.0.0.1:5000/stella/scanner:1.2.3"),
            Err(ReleaseError::NotPinned { .. })
        ));
        assert!(matches!(
            pinned("oci:/x:app"),
            Err(ReleaseError::NotPinned { .. })
        ));
        assert!(matches!(
            pinned("oci:/x"),
            Err(ReleaseError::NotPinned { .. })
        ));
        let (_, d) = pinned(&format!("127.0.0.1:5000/stella/scanner@{DIGEST}")).unwrap();
        assert_eq!(d, DIGEST);
        let (t, d) = pinned(&format!("oci:/x:{DIGEST}")).unwrap();
        assert_eq!(d, DIGEST);
        assert!(!t.is_remote());
        assert!(matches!(
            pinned("oci:/x:sha256:nothex"),
            Err(ReleaseError::InvalidImage { .. })
        ));
    }

    #[test]
    fn verifier_needs_p256_keys() {
        assert!(ReleaseVerifier::new(vec![], PushOptions::default()).is_err());
        assert!(ReleaseVerifier::new(vec![vec![1, 2, 3]], PushOptions::default()).is_err());
        let v = ReleaseVerifier::new(vec![key().public_key_spki_der()], PushOptions::default())
            .unwrap();
        assert!(format!("{v:?}").contains("key_ids"));
    }
}
