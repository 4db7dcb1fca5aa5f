//! Sigstore trust documents (`dev.sigstore.trustroot.v1`): the `TrustedRoot` (`trusted_root.json`:
//! transparency-log keys, Fulcio CA chains, CT log keys, timestamp-authority chains), the v0.2
//! `SigningConfig` (which CA, OIDC provider, Rekor and TSA a signer should use) and the
//! `ClientTrustConfig` that bundles both for sigstore-python and cosign (`--trust-config`).
//!
//! Parsing follows sigstore-python 4.5 (sigstore_models): protobuf JSON mapping, unknown members
//! refused (except `operator` on log and CA entries, which is accepted and dropped), the media types
//! it knows. Parsing checks shapes, encodings, enum names, RFC 3339 times and that every CA
//! certificate is DER X.509; it does *not* check keys against `keyDetails`, validity against a clock,
//! or chains. Output is deterministic (protobuf field order, no clock): the caller passes the times.
//!
//! ```
//! use attestor::trust_root::rfc3339;
//! assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
//! ```

use serde_json::{json, Map, Value};

use crate::rekor::{b64, FieldError, KeyDetails, Obj};

/// The TrustedRoot media type we write (the only one sigstore-python 4.5 accepts).
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// TrustedRoot media types [`TrustedRoot::parse`] accepts.
pub const TRUSTED_ROOT_MEDIA_TYPES: &[&str] = &[
    TRUSTED_ROOT_MEDIA_TYPE,
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];
/// The SigningConfig media type (v0.2) we read and write.
pub const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
/// The ClientTrustConfig media type.
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// Largest trust document the parsers read.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Most logs, authorities, services or chain certificates one list may hold.
const MAX_ITEMS: usize = 256;

/// Hash algorithm names (`dev.sigstore.common.v1.HashAlgorithm`).
const HASH_ALGORITHMS: &[&str] = &["SHA2_256", "SHA2_384", "SHA2_512", "SHA3_256", "SHA3_384"];

/// Why a trust document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustRootError {
    #[error("document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("document is not JSON: {0}")]
    Json(String),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("`{path}`: unsupported media type `{found}`")]
    MediaType { path: String, found: String },
    #[error("`{path}`: unknown keyDetails `{name}`")]
    UnknownKeyDetails { path: String, name: String },
    #[error("`{path}`: unknown hash algorithm `{name}`")]
    UnknownHashAlgorithm { path: String, name: String },
    #[error("`{path}`: `{value}` is not an RFC 3339 time")]
    BadTime { path: String, value: String },
    #[error("`{path}`: not a DER X.509 certificate: {reason}")]
    BadCertificate { path: String, reason: String },
    #[error("`{path}`: empty certificate chain")]
    EmptyChain { path: String },
    #[error("`{path}`: unknown service selector `{name}` (ALL, ANY or EXACT)")]
    UnknownSelector { path: String, name: String },
}

/// A closed validity period `[start, end]`; no `end` means still valid. Times are RFC 3339 text,
/// kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidFor {
    pub start: String,
    pub end: Option<String>,
}

/// A transparency log (Rekor) or a CT log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransparencyLogInstance {
    pub base_url: String,
    /// `SHA2_256` for every Rekor and CT log.
    pub hash_algorithm: String,
    /// The log's public key (SubjectPublicKeyInfo DER; PKCS#1 for the deprecated
    /// `PKCS1_RSA_PKCS1V5`).
    pub public_key_der: Vec<u8>,
    pub key_details: KeyDetails,
    /// When the key signs (the `publicKey.validFor` period).
    pub valid_for: ValidFor,
    /// The log id (`logId.keyId`): for Rekor v2 and CT, the SHA-256 of the key's DER.
    pub log_id: Vec<u8>,
    /// The checkpoint key id of a signed-note log, when it differs from `log_id`.
    pub checkpoint_key_id: Option<Vec<u8>>,
}

/// A certificate authority (Fulcio) or a timestamp authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateAuthority {
    pub organization: String,
    pub common_name: String,
    /// Empty when absent.
    pub uri: String,
    /// DER certificates, leaf-most first, root last.
    pub cert_chain_der: Vec<Vec<u8>>,
    pub valid_for: ValidFor,
}

/// `trusted_root.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustedRoot {
    pub tlogs: Vec<TransparencyLogInstance>,
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub ctlogs: Vec<TransparencyLogInstance>,
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

/// One service endpoint of a [`SigningConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub url: String,
    /// 1 for Fulcio, OIDC and TSA; 1 or 2 for Rekor.
    pub major_api_version: u32,
    pub valid_for: ValidFor,
    /// Who runs it (`sigstore.dev`); clients pick one service per operator.
    pub operator: String,
}

/// How many of the listed services a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceSelector {
    All,
    Any,
    Exact,
}

impl ServiceSelector {
    /// The protobuf enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceSelector::All => "ALL",
            ServiceSelector::Any => "ANY",
            ServiceSelector::Exact => "EXACT",
        }
    }
}

/// A selector and, for `EXACT`, the count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfiguration {
    pub selector: ServiceSelector,
    pub count: Option<u32>,
}

/// `signing_config.json` v0.2 (`application/vnd.dev.sigstore.signingconfig.v0.2+json`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SigningConfig {
    pub ca_urls: Vec<Service>,
    pub oidc_urls: Vec<Service>,
    pub rekor_tlog_urls: Vec<Service>,
    pub tsa_urls: Vec<Service>,
    pub rekor_tlog_config: Option<ServiceConfiguration>,
    pub tsa_config: Option<ServiceConfiguration>,
}

/// A parsed ClientTrustConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTrustConfig {
    pub trusted_root: TrustedRoot,
    pub signing_config: SigningConfig,
}

fn parse_json(bytes: &[u8]) -> Result<Value, TrustRootError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(TrustRootError::TooLarge);
    }
    serde_json::from_slice(bytes).map_err(|e| TrustRootError::Json(e.to_string()))
}

fn check_media_type(o: &Obj<'_>, allowed: &[&str]) -> Result<(), TrustRootError> {
    let mt = o.str("mediaType")?;
    if allowed.contains(&mt) {
        Ok(())
    } else {
        Err(TrustRootError::MediaType {
            path: o.path("mediaType"),
            found: mt.to_owned(),
        })
    }
}

impl TrustedRoot {
    /// Reads `trusted_root.json`.
    pub fn parse(bytes: &[u8]) -> Result<TrustedRoot, TrustRootError> {
        TrustedRoot::from_json(&parse_json(bytes)?, "")
    }

    fn from_json(v: &Value, path: &str) -> Result<TrustedRoot, TrustRootError> {
        let o = Obj::new(
            v,
            path,
            &[
                "mediaType",
                "tlogs",
                "certificateAuthorities",
                "ctlogs",
                "timestampAuthorities",
            ],
        )?;
        check_media_type(&o, TRUSTED_ROOT_MEDIA_TYPES)?;
        let logs = |name: &str| -> Result<Vec<TransparencyLogInstance>, TrustRootError> {
            o.arr(name, MAX_ITEMS)?
                .into_iter()
                .map(|(p, v)| read_log(v, &p))
                .collect()
        };
        let cas = |name: &str| -> Result<Vec<CertificateAuthority>, TrustRootError> {
            o.arr(name, MAX_ITEMS)?
                .into_iter()
                .map(|(p, v)| read_ca(v, &p))
                .collect()
        };
        Ok(TrustedRoot {
            tlogs: logs("tlogs")?,
            certificate_authorities: cas("certificateAuthorities")?,
            ctlogs: logs("ctlogs")?,
            timestamp_authorities: cas("timestampAuthorities")?,
        })
    }

    /// The protobuf JSON form (media type [`TRUSTED_ROOT_MEDIA_TYPE`]).
    pub fn to_json(&self) -> Value {
        json!({
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": self.tlogs.iter().map(log_json).collect::<Vec<_>>(),
            "certificateAuthorities":
                self.certificate_authorities.iter().map(ca_json).collect::<Vec<_>>(),
            "ctlogs": self.ctlogs.iter().map(log_json).collect::<Vec<_>>(),
            "timestampAuthorities":
                self.timestamp_authorities.iter().map(ca_json).collect::<Vec<_>>(),
        })
    }
}

fn read_valid_for(o: &Obj<'_>, name: &str) -> Result<ValidFor, TrustRootError> {
    let vf = o.obj(name, &["start", "end"])?;
    let time = |n: &str, t: &str| {
        if is_rfc3339(t) {
            Ok(t.to_owned())
        } else {
            Err(TrustRootError::BadTime {
                path: vf.path(n),
                value: t.to_owned(),
            })
        }
    };
    Ok(ValidFor {
        start: time("start", vf.str("start")?)?,
        end: vf.opt_str("end")?.map(|t| time("end", t)).transpose()?,
    })
}

fn valid_for_json(vf: &ValidFor) -> Value {
    let mut m = Map::new();
    m.insert("start".into(), json!(vf.start));
    if let Some(end) = &vf.end {
        m.insert("end".into(), json!(end));
    }
    Value::Object(m)
}

fn read_log(v: &Value, path: &str) -> Result<TransparencyLogInstance, TrustRootError> {
    let o = Obj::new(
        v,
        path,
        &[
            "baseUrl",
            "hashAlgorithm",
            "publicKey",
            "logId",
            "checkpointKeyId",
            "operator",
        ],
    )?;
    o.opt_str("operator")?;
    let hash_algorithm = o.str("hashAlgorithm")?;
    if !HASH_ALGORITHMS.contains(&hash_algorithm) {
        return Err(TrustRootError::UnknownHashAlgorithm {
            path: o.path("hashAlgorithm"),
            name: hash_algorithm.to_owned(),
        });
    }
    let pk = o.obj("publicKey", &["rawBytes", "keyDetails", "validFor"])?;
    let details = pk.str("keyDetails")?;
    let key_details =
        KeyDetails::parse(details).ok_or_else(|| TrustRootError::UnknownKeyDetails {
            path: pk.path("keyDetails"),
            name: details.to_owned(),
        })?;
    Ok(TransparencyLogInstance {
        base_url: o.str("baseUrl")?.to_owned(),
        hash_algorithm: hash_algorithm.to_owned(),
        public_key_der: pk.bytes("rawBytes")?,
        key_details,
        valid_for: read_valid_for(&pk, "validFor")?,
        log_id: o.obj("logId", &["keyId"])?.bytes("keyId")?,
        checkpoint_key_id: o
            .opt_obj("checkpointKeyId", &["keyId"])?
            .map(|k| k.bytes("keyId"))
            .transpose()?,
    })
}

fn log_json(l: &TransparencyLogInstance) -> Value {
    let mut m = Map::new();
    m.insert("baseUrl".into(), json!(l.base_url));
    m.insert("hashAlgorithm".into(), json!(l.hash_algorithm));
    m.insert(
        "publicKey".into(),
        json!({
            "rawBytes": b64(&l.public_key_der),
            "keyDetails": l.key_details.as_str(),
            "validFor": valid_for_json(&l.valid_for),
        }),
    );
    m.insert("logId".into(), json!({"keyId": b64(&l.log_id)}));
    if let Some(id) = &l.checkpoint_key_id {
        m.insert("checkpointKeyId".into(), json!({"keyId": b64(id)}));
    }
    Value::Object(m)
}

fn read_ca(v: &Value, path: &str) -> Result<CertificateAuthority, TrustRootError> {
    let o = Obj::new(
        v,
        path,
        &["subject", "uri", "certChain", "validFor", "operator"],
    )?;
    o.opt_str("operator")?;
    let subject = o.obj("subject", &["organization", "commonName"])?;
    let chain = o.obj("certChain", &["certificates"])?;
    let mut cert_chain_der = Vec::new();
    for (p, c) in chain.arr("certificates", MAX_ITEMS)? {
        let der = Obj::new(c, &p, &["rawBytes"])?.bytes("rawBytes")?;
        match x509_parser::parse_x509_certificate(&der) {
            Ok(([], _)) => {}
            Ok((rest, _)) => {
                return Err(TrustRootError::BadCertificate {
                    path: p,
                    reason: format!("{} bytes after the certificate", rest.len()),
                })
            }
            Err(e) => {
                return Err(TrustRootError::BadCertificate {
                    path: p,
                    reason: e.to_string(),
                })
            }
        }
        cert_chain_der.push(der);
    }
    if cert_chain_der.is_empty() {
        return Err(TrustRootError::EmptyChain {
            path: chain.path("certificates"),
        });
    }
    Ok(CertificateAuthority {
        organization: subject
            .opt_str("organization")?
            .unwrap_or_default()
            .to_owned(),
        common_name: subject
            .opt_str("commonName")?
            .unwrap_or_default()
            .to_owned(),
        uri: o.opt_str("uri")?.unwrap_or_default().to_owned(),
        cert_chain_der,
        valid_for: read_valid_for(&o, "validFor")?,
    })
}

fn ca_json(ca: &CertificateAuthority) -> Value {
    let mut m = Map::new();
    m.insert(
        "subject".into(),
        json!({"organization": ca.organization, "commonName": ca.common_name}),
    );
    if !ca.uri.is_empty() {
        m.insert("uri".into(), json!(ca.uri));
    }
    let certs: Vec<Value> = ca
        .cert_chain_der
        .iter()
        .map(|c| json!({"rawBytes": b64(c)}))
        .collect();
    m.insert("certChain".into(), json!({"certificates": certs}));
    m.insert("validFor".into(), valid_for_json(&ca.valid_for));
    Value::Object(m)
}

impl SigningConfig {
    /// Reads `signing_config.json` (v0.2).
    pub fn parse(bytes: &[u8]) -> Result<SigningConfig, TrustRootError> {
        SigningConfig::from_json(&parse_json(bytes)?, "")
    }

    fn from_json(v: &Value, path: &str) -> Result<SigningConfig, TrustRootError> {
        let o = Obj::new(
            v,
            path,
            &[
                "mediaType",
                "caUrls",
                "oidcUrls",
                "rekorTlogUrls",
                "tsaUrls",
                "rekorTlogConfig",
                "tsaConfig",
            ],
        )?;
        check_media_type(&o, &[SIGNING_CONFIG_MEDIA_TYPE])?;
        let services = |name: &str| -> Result<Vec<Service>, TrustRootError> {
            o.arr(name, MAX_ITEMS)?
                .into_iter()
                .map(|(p, v)| read_service(v, &p))
                .collect()
        };
        Ok(SigningConfig {
            ca_urls: services("caUrls")?,
            oidc_urls: services("oidcUrls")?,
            rekor_tlog_urls: services("rekorTlogUrls")?,
            tsa_urls: services("tsaUrls")?,
            rekor_tlog_config: read_service_config(&o, "rekorTlogConfig")?,
            tsa_config: read_service_config(&o, "tsaConfig")?,
        })
    }

    /// The protobuf JSON form (media type [`SIGNING_CONFIG_MEDIA_TYPE`]).
    pub fn to_json(&self) -> Value {
        let list = |s: &[Service]| Value::Array(s.iter().map(service_json).collect());
        let mut m = Map::new();
        m.insert("mediaType".into(), json!(SIGNING_CONFIG_MEDIA_TYPE));
        m.insert("caUrls".into(), list(&self.ca_urls));
        m.insert("oidcUrls".into(), list(&self.oidc_urls));
        m.insert("rekorTlogUrls".into(), list(&self.rekor_tlog_urls));
        m.insert("tsaUrls".into(), list(&self.tsa_urls));
        if let Some(c) = &self.rekor_tlog_config {
            m.insert("rekorTlogConfig".into(), service_config_json(c));
        }
        if let Some(c) = &self.tsa_config {
            m.insert("tsaConfig".into(), service_config_json(c));
        }
        Value::Object(m)
    }
}

fn read_service(v: &Value, path: &str) -> Result<Service, TrustRootError> {
    let o = Obj::new(v, path, &["url", "majorApiVersion", "validFor", "operator"])?;
    let version = o.req("majorApiVersion")?;
    let major_api_version = version
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| FieldError::WrongType {
            path: o.path("majorApiVersion"),
            expected: "an unsigned 32-bit integer",
        })?;
    Ok(Service {
        url: o.str("url")?.to_owned(),
        major_api_version,
        valid_for: read_valid_for(&o, "validFor")?,
        operator: o.str("operator")?.to_owned(),
    })
}

fn service_json(s: &Service) -> Value {
    json!({
        "url": s.url,
        "majorApiVersion": s.major_api_version,
        "validFor": valid_for_json(&s.valid_for),
        "operator": s.operator,
    })
}

fn read_service_config(
    o: &Obj<'_>,
    name: &str,
) -> Result<Option<ServiceConfiguration>, TrustRootError> {
    let Some(c) = o.opt_obj(name, &["selector", "count"])? else {
        return Ok(None);
    };
    let sel = c.str("selector")?;
    let selector = match sel {
        "ALL" => ServiceSelector::All,
        "ANY" => ServiceSelector::Any,
        "EXACT" => ServiceSelector::Exact,
        other => {
            return Err(TrustRootError::UnknownSelector {
                path: c.path("selector"),
                name: other.to_owned(),
            })
        }
    };
    let count = match c.opt("count") {
        None => None,
        Some(n) => Some(
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| FieldError::WrongType {
                    path: c.path("count"),
                    expected: "an unsigned 32-bit integer",
                })?,
        ),
    };
    Ok(Some(ServiceConfiguration { selector, count }))
}

fn service_config_json(c: &ServiceConfiguration) -> Value {
    let mut m = Map::new();
    m.insert("selector".into(), json!(c.selector.as_str()));
    if let Some(n) = c.count {
        m.insert("count".into(), json!(n));
    }
    Value::Object(m)
}

impl ClientTrustConfig {
    /// Reads a ClientTrustConfig (`application/vnd.dev.sigstore.clienttrustconfig.v0.1+json`).
    pub fn parse(bytes: &[u8]) -> Result<ClientTrustConfig, TrustRootError> {
        let v = parse_json(bytes)?;
        let o = Obj::new(&v, "", &["mediaType", "trustedRoot", "signingConfig"])?;
        check_media_type(&o, &[CLIENT_TRUST_CONFIG_MEDIA_TYPE])?;
        Ok(ClientTrustConfig {
            trusted_root: TrustedRoot::from_json(o.req("trustedRoot")?, "trustedRoot")?,
            signing_config: SigningConfig::from_json(o.req("signingConfig")?, "signingConfig")?,
        })
    }

    /// The protobuf JSON form (see [`client_trust_config`]).
    pub fn to_json(&self) -> Value {
        client_trust_config(&self.trusted_root, &self.signing_config)
    }
}

/// The ClientTrustConfig document (`application/vnd.dev.sigstore.clienttrustconfig.v0.1+json`) of a
/// trusted root and a signing config: what `sigstore-python --trust-config` and cosign read.
pub fn client_trust_config(root: &TrustedRoot, signing: &SigningConfig) -> Value {
    json!({
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": root.to_json(),
        "signingConfig": signing.to_json(),
    })
}

/// Latest time [`rfc3339`] writes (9999-12-31T23:59:59Z); later times are clamped to it.
const MAX_RFC3339_SECS: u64 = 253_402_300_799;

/// A Unix time as RFC 3339 UTC with a `Z` and whole seconds (`2025-09-22T00:00:00Z`).
pub fn rfc3339(unix_secs: u64) -> String {
    let secs = unix_secs.min(MAX_RFC3339_SECS);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An RFC 3339 time as Unix seconds (fractions dropped, offsets applied); `None` if it is not
/// RFC 3339.
pub fn parse_rfc3339(t: &str) -> Option<i64> {
    if !is_rfc3339(t) {
        return None;
    }
    let n = |from: usize, len: usize| -> Option<i64> { t.get(from..from + len)?.parse().ok() };
    let (y, m, d) = (n(0, 4)?, n(5, 2)?, n(8, 2)?);
    let secs = n(11, 2)? * 3600 + n(14, 2)? * 60 + n(17, 2)?;
    let mut i = 19;
    if t.as_bytes().get(i) == Some(&b'.') {
        i += 1;
        while t.as_bytes().get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match t.as_bytes().get(i) {
        Some(b'+') => n(i + 1, 2)? * 3600 + n(i + 4, 2)? * 60,
        Some(b'-') => -(n(i + 1, 2)? * 3600 + n(i + 4, 2)? * 60),
        _ => 0,
    };
    Some(days_from_civil(y, m, d) * 86_400 + secs - offset)
}

/// Howard Hinnant's civil-to-days conversion (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` with fields in range (RFC 3339 §5.6).
fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let num = |from: usize, len: usize, max: u32| -> bool {
        b.get(from..from + len)
            .filter(|s| s.iter().all(u8::is_ascii_digit))
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u32>().ok())
            .is_some_and(|n| n <= max)
    };
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    let positive = |from: usize, len: usize| {
        b.get(from..from + len)
            .is_some_and(|s| s.iter().any(|d| *d != b'0'))
    };
    if !(num(0, 4, 9999)
        && at(4, b"-")
        && num(5, 2, 12)
        && positive(5, 2)
        && at(7, b"-")
        && num(8, 2, 31)
        && positive(8, 2)
        && at(10, b"Tt")
        && num(11, 2, 23)
        && at(13, b":")
        && num(14, 2, 59)
        && at(16, b":")
        && num(17, 2, 60))
    {
        return false;
    }
    let mut i = 19;
    if at(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            num(i + 1, 2, 23) && at(i + 3, b":") && num(i + 4, 2, 59) && i + 6 == b.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parse_round_trips() {
        for secs in [0u64, 951_782_400, 1_700_000_000, 253_402_300_799] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs as i64));
        }
        assert_eq!(
            parse_rfc3339("2025-09-22T02:00:00.5+02:00"),
            Some(1_758_499_200)
        );
        assert_eq!(parse_rfc3339("2025-09-22"), None);
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_758_499_200), "2025-09-22T00:00:00Z");
        assert_eq!(rfc3339(1_764_787_003), "2025-12-03T18:36:43Z");
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn rfc3339_syntax() {
        for ok in [
            "2021-01-12T11:53:27Z",
            "2022-12-31T23:59:59.999Z",
            "2025-01-01T00:00:00+01:00",
            "2025-01-01t00:00:00z",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2021-01-12",
            "2021-13-12T11:53:27Z",
            "2021-00-12T11:53:27Z",
            "2021-01-12 11:53:27Z",
            "2021-01-12T11:53:27",
            "2021-01-12T11:53:27.Z",
            "2021-01-12T11:53:27Zjunk",
            "２021-01-12T11:53:27Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
