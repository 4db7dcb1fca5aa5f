//! Sigstore bundles (`dev.sigstore.bundle.v1.Bundle`, media type
//! `application/vnd.dev.sigstore.bundle.v0.3+json`): the signature or DSSE envelope, the signer's
//! certificate or key, the transparency-log entries with inclusion proofs, and RFC 3161 timestamps,
//! in one JSON file that standard Sigstore clients verify.
//!
//! [`Bundle::parse`] reads bundles v0.1 to v0.3 as sigstore-python does (the protobuf JSON mapping,
//! unknown members refused, exactly one verification material and one content); it checks shapes and
//! encodings only. It does *not* verify anything: signatures, inclusion proofs, checkpoints and
//! timestamps are the verifier's job. [`Bundle::to_json_bytes`] writes compact JSON with members in
//! protobuf field order, so the same bundle always gives the same bytes.
//!
//! ```no_run
//! # fn f(bytes: &[u8]) -> Result<(), attestor::bundle::BundleError> {
//! let bundle = attestor::bundle::Bundle::parse(bytes)?;
//! assert_eq!(attestor::bundle::Bundle::parse(&bundle.to_json_bytes())?, bundle);
//! # Ok(()) }
//! ```

use serde_json::{json, Map, Value};
use signer_gateway::dsse::{DsseError, Envelope};

use crate::rekor::{b64, decode_b64, read_tlog_entry, FieldError, Obj, TlogEntry};

/// The bundle v0.3 media type we write.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Media types [`Bundle::parse`] accepts (the ones sigstore-python accepts).
pub const BUNDLE_MEDIA_TYPES: &[&str] = &[
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    BUNDLE_V03_MEDIA_TYPE,
];

/// Largest bundle [`Bundle::parse`] reads (a DSSE envelope may be 16 MiB, base64 makes it larger).
pub const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;

/// Most log entries, timestamps or chain certificates one bundle may carry.
const MAX_ITEMS: usize = 32;

/// Why a bundle (or a log entry in one) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("bundle is larger than {MAX_BUNDLE_BYTES} bytes")]
    TooLarge,
    #[error("bundle is not JSON: {0}")]
    Json(String),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("unsupported bundle media type `{0}`")]
    MediaType(String),
    #[error("`verificationMaterial` must hold exactly one of `publicKey`, `x509CertificateChain` or `certificate`")]
    MaterialOneOf,
    #[error("bundle must hold exactly one of `messageSignature` or `dsseEnvelope`")]
    ContentOneOf,
    #[error("`dsseEnvelope` is not valid: {0}")]
    Dsse(DsseError),
}

/// Who signed, as the bundle says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationContent {
    /// The signing certificate, DER (what v0.3 bundles carry).
    Certificate(Vec<u8>),
    /// A key delivered out of band, named by an unauthenticated hint.
    PublicKey { hint: String },
    /// v0.1/v0.2 bundles: the signing certificate first, then any intermediates, DER.
    X509Chain(Vec<Vec<u8>>),
}

/// What was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleContent {
    Dsse(Envelope),
    /// A signature over an artifact's digest. `algorithm` (`SHA2_256`) and `digest` come from the
    /// optional `messageDigest`; both are empty when it is absent.
    MessageSignature {
        algorithm: String,
        digest: Vec<u8>,
        signature: Vec<u8>,
    },
}

/// A Sigstore bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub media_type: String,
    pub content: VerificationContent,
    pub tlog_entries: Vec<TlogEntry>,
    /// DER `TimeStampResp`s (RFC 3161).
    pub rfc3161_timestamps: Vec<Vec<u8>>,
    pub body: BundleContent,
}

impl Bundle {
    /// Reads a bundle (see the module docs for what is checked).
    pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge);
        }
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
        Bundle::from_json(&v)
    }

    /// Reads a bundle from a parsed JSON value.
    pub fn from_json(v: &Value) -> Result<Bundle, BundleError> {
        let top = Obj::new(
            v,
            "",
            &[
                "mediaType",
                "verificationMaterial",
                "messageSignature",
                "dsseEnvelope",
            ],
        )?;
        let media_type = top.str("mediaType")?;
        if !BUNDLE_MEDIA_TYPES.contains(&media_type) {
            return Err(BundleError::MediaType(media_type.to_owned()));
        }
        let vm = top.obj(
            "verificationMaterial",
            &[
                "publicKey",
                "x509CertificateChain",
                "certificate",
                "tlogEntries",
                "timestampVerificationData",
            ],
        )?;
        let content = match (
            vm.opt_obj("publicKey", &["hint"])?,
            vm.opt_obj("x509CertificateChain", &["certificates"])?,
            vm.opt_obj("certificate", &["rawBytes"])?,
        ) {
            (Some(pk), None, None) => VerificationContent::PublicKey {
                hint: pk.opt_str("hint")?.unwrap_or_default().to_owned(),
            },
            (None, Some(chain), None) => {
                let mut certs = Vec::new();
                for (path, c) in chain.arr("certificates", MAX_ITEMS)? {
                    certs.push(Obj::new(c, &path, &["rawBytes"])?.bytes("rawBytes")?);
                }
                VerificationContent::X509Chain(certs)
            }
            (None, None, Some(cert)) => VerificationContent::Certificate(cert.bytes("rawBytes")?),
            _ => return Err(BundleError::MaterialOneOf),
        };
        let mut tlog_entries = Vec::new();
        for (path, e) in vm.arr("tlogEntries", MAX_ITEMS)? {
            tlog_entries.push(read_tlog_entry(e, &path)?);
        }
        let mut rfc3161_timestamps = Vec::new();
        if let Some(tvd) = vm.opt_obj("timestampVerificationData", &["rfc3161Timestamps"])? {
            for (path, t) in tvd.arr("rfc3161Timestamps", MAX_ITEMS)? {
                rfc3161_timestamps
                    .push(Obj::new(t, &path, &["signedTimestamp"])?.bytes("signedTimestamp")?);
            }
        }
        let body = match (top.opt("messageSignature"), top.opt("dsseEnvelope")) {
            (Some(_), None) => {
                let ms = top.obj("messageSignature", &["messageDigest", "signature"])?;
                let (algorithm, digest) =
                    match ms.opt_obj("messageDigest", &["algorithm", "digest"])? {
                        Some(md) => (md.str("algorithm")?.to_owned(), md.bytes("digest")?),
                        None => (String::new(), Vec::new()),
                    };
                BundleContent::MessageSignature {
                    algorithm,
                    digest,
                    signature: ms.bytes("signature")?,
                }
            }
            (None, Some(env)) => {
                let e = Obj::new(
                    env,
                    "dsseEnvelope",
                    &["payload", "payloadType", "signatures"],
                )?;
                decode_b64(e.str("payload")?, &e.path("payload"))?;
                e.str("payloadType")?;
                for (path, s) in e.arr("signatures", MAX_ITEMS)? {
                    let sig = Obj::new(s, &path, &["sig", "keyid"])?;
                    // Check the encodings here so the error names the member.
                    decode_b64(sig.str("sig")?, &sig.path("sig"))?;
                    sig.opt_str("keyid")?;
                }
                BundleContent::Dsse(Envelope::from_json(env).map_err(BundleError::Dsse)?)
            }
            _ => return Err(BundleError::ContentOneOf),
        };
        Ok(Bundle {
            media_type: media_type.to_owned(),
            content,
            tlog_entries,
            rfc3161_timestamps,
            body,
        })
    }

    /// The protobuf JSON form, members in proto field order. `timestampVerificationData` is
    /// written only when there are timestamps; `messageDigest` only when known.
    pub fn to_json(&self) -> Value {
        let mut vm = Map::new();
        match &self.content {
            VerificationContent::PublicKey { hint } => {
                vm.insert("publicKey".into(), json!({"hint": hint}));
            }
            VerificationContent::X509Chain(certs) => {
                let certs: Vec<Value> = certs.iter().map(|c| json!({"rawBytes": b64(c)})).collect();
                vm.insert(
                    "x509CertificateChain".into(),
                    json!({"certificates": certs}),
                );
            }
            VerificationContent::Certificate(der) => {
                vm.insert("certificate".into(), json!({"rawBytes": b64(der)}));
            }
        }
        vm.insert(
            "tlogEntries".into(),
            Value::Array(self.tlog_entries.iter().map(TlogEntry::to_json).collect()),
        );
        if !self.rfc3161_timestamps.is_empty() {
            let ts: Vec<Value> = self
                .rfc3161_timestamps
                .iter()
                .map(|t| json!({"signedTimestamp": b64(t)}))
                .collect();
            vm.insert(
                "timestampVerificationData".into(),
                json!({"rfc3161Timestamps": ts}),
            );
        }
        let mut top = Map::new();
        top.insert("mediaType".into(), json!(self.media_type));
        top.insert("verificationMaterial".into(), Value::Object(vm));
        match &self.body {
            BundleContent::Dsse(env) => {
                top.insert("dsseEnvelope".into(), env.to_json());
            }
            BundleContent::MessageSignature {
                algorithm,
                digest,
                signature,
            } => {
                let mut ms = Map::new();
                if !algorithm.is_empty() || !digest.is_empty() {
                    ms.insert(
                        "messageDigest".into(),
                        json!({"algorithm": algorithm, "digest": b64(digest)}),
                    );
                }
                ms.insert("signature".into(), json!(b64(signature)));
                top.insert("messageSignature".into(), Value::Object(ms));
            }
        }
        Value::Object(top)
    }

    /// [`Bundle::to_json`] as compact JSON bytes (no whitespace; members in protobuf field order),
    /// the same bytes for the same bundle.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serialising a `Value` to a Vec cannot fail (string keys, no I/O).
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }
}
