//! Verifying a TimeStampResp (or a bare TimeStampToken) over a message, against trusted roots: the
//! checks of RFC 3161 Appendix B / `sigstore-python` + `rfc3161-client` / `openssl ts -verify`,
//! with the time taken from the token itself (no clock).

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::alg::{
    self, HashAlg, OID_ATTR_CONTENT_TYPE, OID_ATTR_MESSAGE_DIGEST, OID_ATTR_SIGNING_CERT,
    OID_ATTR_SIGNING_CERT_V2, OID_CT_TST_INFO, OID_SIGNED_DATA,
};
use super::der::{
    self, oid_der, read_one, Reader, Tlv, TAG_BOOLEAN, TAG_CTX0, TAG_CTX0_PRIM, TAG_CTX1,
    TAG_GENERALIZED_TIME, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE, TAG_SET,
};
use super::TsaError;

/// Largest response accepted (tokens are a few KiB; a chain of certificates stays far below).
pub(crate) const MAX_RESPONSE_LEN: usize = 256 * 1024;
/// Most certificates between the signer and a root (intermediates), and most candidates read.
const MAX_CHAIN_DEPTH: usize = 8;
const MAX_CERTS: usize = 32;

/// What a verified timestamp says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// TSTInfo.genTime as Unix milliseconds (digits beyond milliseconds are dropped).
    pub gen_time_millis: u64,
    /// TSTInfo.serialNumber: the INTEGER's contents (big-endian two's complement, as encoded).
    pub serial: Vec<u8>,
    /// TSTInfo.policy in dotted form.
    pub policy: String,
    /// The message imprint's hash: "sha256", "sha384" or "sha512".
    pub imprint_alg: String,
    /// The message imprint's hash value (equal to the hash of the message).
    pub imprint: Vec<u8>,
    /// The certificate that signed the token (DER).
    pub tsa_chain_leaf_der: Vec<u8>,
}

/// A parsed TSTInfo.
#[derive(Debug)]
pub(crate) struct TstInfo<'a> {
    pub(crate) policy: String,
    pub(crate) imprint_alg: HashAlg,
    pub(crate) imprint: &'a [u8],
    pub(crate) serial: &'a [u8],
    pub(crate) gen_time_millis: u64,
    #[cfg_attr(not(test), allow(dead_code))] // read by the unit tests
    pub(crate) nonce: Option<&'a [u8]>,
}

/// Verifies a DER TimeStampResp (status granted) or a bare TimeStampToken ContentInfo over
/// `message`, trusting `roots_der`, building the path through the token's certificates and
/// `intermediates_der`. Checks, in order: status granted (0; grantedWithMods is refused, as
/// rfc3161-client does); a CMS SignedData v3 with id-ct-TSTInfo content and exactly one SignerInfo
/// (v1 issuerAndSerialNumber or v3 subjectKeyIdentifier) whose digest algorithm is listed;
/// signed attributes with content-type = id-ct-TSTInfo, message-digest = hash of the TSTInfo, and
/// an ESS signing-certificate-v2 (or v1) naming the signer's certificate by hash (and serial);
/// the ECDSA signature (P-256 or P-384 key, ecdsa-with-SHA256 or -SHA384) over the DER SET OF
/// signed attributes; the imprint (SHA-256/384/512) equals the hash of `message`; the signer has
/// a critical extKeyUsage of exactly id-kp-timeStamping; and every certificate from the signer to a
/// root (CA certificates only, at most 8 intermediates, signatures checked) is valid at genTime.
/// A root is a trust anchor (its own signature is not checked); the signer's certificate itself
/// may be given as a root (pinning). No clock is read: validity is judged at genTime.
pub fn verify_timestamp(
    resp_der: &[u8],
    message: &[u8],
    roots_der: &[Vec<u8>],
    intermediates_der: &[Vec<u8>],
) -> Result<VerifiedTimestamp, TsaError> {
    if resp_der.len() > MAX_RESPONSE_LEN {
        return Err(TsaError::Malformed(format!(
            "response larger than {MAX_RESPONSE_LEN} bytes"
        )));
    }
    let token = token_of(resp_der)?;
    let sd = signed_data(token)?;
    let si = signer_info(sd.signer_info)?;
    if !sd.digest_algs.contains(&si.digest_alg) {
        return Err(TsaError::Malformed(
            "the signer's digest algorithm is not among SignedData.digestAlgorithms".into(),
        ));
    }

    // The signed attributes: content type, digest of the TSTInfo, and ESS signing certificate.
    let attrs = attributes(si.signed_attrs.content)?;
    let content_type = attrs
        .get(OID_ATTR_CONTENT_TYPE)
        .ok_or_else(|| TsaError::SignedAttributes("no content-type attribute".into()))?;
    match content_type.as_slice() {
        [v] if v.raw == oid_der(OID_CT_TST_INFO).as_slice() => {}
        _ => {
            return Err(TsaError::SignedAttributes(
                "the content-type attribute is not exactly id-ct-TSTInfo".into(),
            ))
        }
    }
    let digest = attrs
        .get(OID_ATTR_MESSAGE_DIGEST)
        .ok_or_else(|| TsaError::SignedAttributes("no message-digest attribute".into()))?;
    match digest.as_slice() {
        [v] if v.tag == TAG_OCTET_STRING
            && v.content == si.digest_alg.digest(sd.tst_info).as_slice() => {}
        _ => return Err(TsaError::MessageDigestMismatch),
    }

    // The signer's certificate, among the token's and the caller's.
    let pool = parse_certs(
        sd.certs
            .iter()
            .copied()
            .chain(intermediates_der.iter().map(Vec::as_slice)),
    )?;
    let roots = parse_certs(roots_der.iter().map(Vec::as_slice))?;
    let signer = pool
        .iter()
        .chain(roots.iter())
        .find(|c| si.sid.matches(c))
        .ok_or(TsaError::SignerNotFound)?;
    check_ess(&attrs, signer)?;

    let key = alg::ec_key(signer.public_key().raw)?;
    let signed_bytes = der::tlv(TAG_SET, si.signed_attrs.content);
    alg::verify_ecdsa(
        &key,
        si.sig_alg_oid,
        &signed_bytes,
        si.signature,
        "timestamp token signature",
    )?;

    let tst = tst_info(sd.tst_info)?;
    if tst.imprint != tst.imprint_alg.digest(message).as_slice() {
        return Err(TsaError::ImprintMismatch);
    }

    check_timestamping_cert(signer)?;
    let gen_secs = i64::try_from(tst.gen_time_millis / 1000).unwrap_or(i64::MAX);
    if !valid_at(signer, gen_secs) {
        return Err(TsaError::OutsideValidity {
            gen_time_millis: tst.gen_time_millis,
        });
    }
    chain_to_root(signer, &pool, &roots, gen_secs)?;

    Ok(VerifiedTimestamp {
        gen_time_millis: tst.gen_time_millis,
        serial: tst.serial.to_vec(),
        policy: tst.policy,
        imprint_alg: tst.imprint_alg.name().to_string(),
        imprint: tst.imprint.to_vec(),
        tsa_chain_leaf_der: signer.as_raw().to_vec(),
    })
}

/// The TimeStampToken (a ContentInfo) of a granted TimeStampResp, or `input` if it is a bare token.
pub(crate) fn token_of(input: &[u8]) -> Result<&[u8], TsaError> {
    let outer = read_one(input, TAG_SEQUENCE, "TimeStampResp")?;
    let mut r = Reader::new(outer.content);
    let first = r.next("TimeStampResp")?;
    match first.tag {
        TAG_OID => Ok(input),
        TAG_SEQUENCE => {
            let mut status = Reader::new(first.content);
            let code = status.expect(TAG_INTEGER, "PKIStatusInfo.status")?;
            let code = der::small_uint(&code, "PKIStatusInfo.status")?;
            // sigstore-python (rfc3161-client) takes only granted (0), not grantedWithMods.
            if code != 0 {
                return Err(TsaError::NotGranted(code));
            }
            let token = r.expect(TAG_SEQUENCE, "TimeStampResp.timeStampToken")?;
            r.finish("TimeStampResp")?;
            Ok(token.raw)
        }
        _ => Err(TsaError::Malformed(
            "neither a TimeStampResp nor a ContentInfo".into(),
        )),
    }
}

/// What the verifier needs from a SignedData.
pub(crate) struct SignedData<'a> {
    pub(crate) tst_info: &'a [u8],
    pub(crate) certs: Vec<&'a [u8]>,
    digest_algs: Vec<HashAlg>,
    signer_info: Tlv<'a>,
}

/// `ContentInfo { id-signedData, [0] SignedData { version 3, digestAlgorithms,
/// encapContentInfo { id-ct-TSTInfo, [0] OCTET STRING }, certificates [0] OPT, crls [1] OPT,
/// signerInfos (exactly one) } }`.
pub(crate) fn signed_data(token: &[u8]) -> Result<SignedData<'_>, TsaError> {
    let ci = read_one(token, TAG_SEQUENCE, "ContentInfo")?;
    let mut r = Reader::new(ci.content);
    let ct = r.expect(TAG_OID, "ContentInfo.contentType")?;
    if ct.raw != oid_der(OID_SIGNED_DATA).as_slice() {
        return Err(TsaError::Malformed(
            "the token is not a CMS SignedData".into(),
        ));
    }
    let content = r.expect(TAG_CTX0, "ContentInfo.content")?;
    r.finish("ContentInfo")?;
    let sd = read_one(content.content, TAG_SEQUENCE, "SignedData")?;
    let mut r = Reader::new(sd.content);
    let version = r.expect(TAG_INTEGER, "SignedData.version")?;
    if der::small_uint(&version, "SignedData.version")? != 3 {
        return Err(TsaError::Malformed("SignedData version is not 3".into()));
    }
    let digest_algs = r.expect(TAG_SET, "SignedData.digestAlgorithms")?;
    let digest_algs = der::read_all(digest_algs.content, "SignedData.digestAlgorithms")?
        .iter()
        .map(|a| alg::hash_alg(a, "SignedData.digestAlgorithms"))
        .collect::<Result<Vec<_>, _>>()?;
    let encap = r.expect(TAG_SEQUENCE, "SignedData.encapContentInfo")?;
    let mut er = Reader::new(encap.content);
    let ect = er.expect(TAG_OID, "encapContentInfo.eContentType")?;
    if ect.raw != oid_der(OID_CT_TST_INFO).as_slice() {
        return Err(TsaError::Malformed(
            "the encapsulated content is not id-ct-TSTInfo".into(),
        ));
    }
    let econtent = er.expect(TAG_CTX0, "encapContentInfo.eContent")?;
    er.finish("encapContentInfo")?;
    let tst_info = read_one(econtent.content, TAG_OCTET_STRING, "eContent")?.content;
    let mut certs = Vec::new();
    if let Some(set) = r.optional(TAG_CTX0, "SignedData.certificates")? {
        for c in der::read_all(set.content, "SignedData.certificates")? {
            // Other CertificateChoices (attribute certificates...) are not ours to judge.
            if c.tag == TAG_SEQUENCE {
                certs.push(c.raw);
            }
        }
    }
    r.optional(TAG_CTX1, "SignedData.crls")?;
    let infos = r.expect(TAG_SET, "SignedData.signerInfos")?;
    r.finish("SignedData")?;
    let infos = der::read_all(infos.content, "SignedData.signerInfos")?;
    let [signer_info] = infos.as_slice() else {
        return Err(TsaError::Malformed(format!(
            "{} SignerInfos; a timestamp token has exactly one",
            infos.len()
        )));
    };
    Ok(SignedData {
        tst_info,
        certs,
        digest_algs,
        signer_info: *signer_info,
    })
}

/// How a SignerInfo names its certificate.
enum SignerId<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

impl SignerId<'_> {
    fn matches(&self, cert: &X509Certificate<'_>) -> bool {
        match self {
            SignerId::IssuerSerial { issuer, serial } => {
                cert.issuer().as_raw() == *issuer && cert.raw_serial() == *serial
            }
            SignerId::KeyId(id) => cert.iter_extensions().any(|e| {
                e.oid.as_bytes() == der_content(&oid_der(alg::OID_SKI))
                    && read_one(e.value, TAG_OCTET_STRING, "subjectKeyIdentifier")
                        .is_ok_and(|v| v.content == *id)
            }),
        }
    }
}

fn der_content(full: &[u8]) -> &[u8] {
    der::read_tlv(full, "OID").map_or(&[], |(t, _)| t.content)
}

struct SignerInfo<'a> {
    sid: SignerId<'a>,
    digest_alg: HashAlg,
    signed_attrs: Tlv<'a>,
    sig_alg_oid: &'a [u8],
    signature: &'a [u8],
}

/// `SignerInfo { version, sid, digestAlgorithm, signedAttrs [0], signatureAlgorithm, signature,
/// unsignedAttrs [1] OPT }`; signed attributes are required.
fn signer_info(tlv: Tlv<'_>) -> Result<SignerInfo<'_>, TsaError> {
    if tlv.tag != TAG_SEQUENCE {
        return Err(TsaError::Malformed("SignerInfo: not a SEQUENCE".into()));
    }
    let mut r = Reader::new(tlv.content);
    let version = r.expect(TAG_INTEGER, "SignerInfo.version")?;
    let version = der::small_uint(&version, "SignerInfo.version")?;
    let sid = match version {
        1 => {
            let ias = r.expect(TAG_SEQUENCE, "SignerInfo.sid")?;
            let mut ir = Reader::new(ias.content);
            let issuer = ir.expect(TAG_SEQUENCE, "issuerAndSerialNumber.issuer")?;
            let serial = ir.expect(TAG_INTEGER, "issuerAndSerialNumber.serialNumber")?;
            ir.finish("issuerAndSerialNumber")?;
            SignerId::IssuerSerial {
                issuer: issuer.raw,
                serial: der::integer(&serial, "issuerAndSerialNumber.serialNumber")?,
            }
        }
        3 => SignerId::KeyId(r.expect(TAG_CTX0_PRIM, "SignerInfo.sid")?.content),
        v => {
            return Err(TsaError::Malformed(format!(
                "SignerInfo version {v} (only 1 and 3)"
            )))
        }
    };
    let digest_alg = alg::hash_alg(
        &r.expect(TAG_SEQUENCE, "SignerInfo.digestAlgorithm")?,
        "SignerInfo.digestAlgorithm",
    )?;
    let signed_attrs = r
        .optional(TAG_CTX0, "SignerInfo.signedAttrs")?
        .ok_or_else(|| {
            TsaError::SignedAttributes("the SignerInfo has no signed attributes".into())
        })?;
    let sig_alg = r.expect(TAG_SEQUENCE, "SignerInfo.signatureAlgorithm")?;
    let sig_alg = alg::algorithm_id(sig_alg.content, "SignerInfo.signatureAlgorithm")?;
    let signature = r.expect(TAG_OCTET_STRING, "SignerInfo.signature")?.content;
    r.optional(TAG_CTX1, "SignerInfo.unsignedAttrs")?;
    r.finish("SignerInfo")?;
    Ok(SignerInfo {
        sid,
        digest_alg,
        signed_attrs,
        sig_alg_oid: sig_alg.oid.raw,
        signature,
    })
}

/// Signed attributes by type (the whole OID element); each type at most once.
struct Attributes<'a>(Vec<(&'a [u8], Vec<Tlv<'a>>)>);

impl<'a> Attributes<'a> {
    fn get(&self, id: &[u64]) -> Option<&Vec<Tlv<'a>>> {
        let want = oid_der(id);
        self.0
            .iter()
            .find(|(oid, _)| *oid == want.as_slice())
            .map(|(_, v)| v)
    }
}

fn attributes(contents: &[u8]) -> Result<Attributes<'_>, TsaError> {
    let mut out: Vec<(&[u8], Vec<Tlv<'_>>)> = Vec::new();
    for attr in der::read_all(contents, "signedAttrs")? {
        if attr.tag != TAG_SEQUENCE {
            return Err(TsaError::SignedAttributes(
                "an attribute is not a SEQUENCE".into(),
            ));
        }
        let mut r = Reader::new(attr.content);
        let oid = r.expect(TAG_OID, "Attribute.attrType")?;
        let values = r.expect(TAG_SET, "Attribute.attrValues")?;
        r.finish("Attribute")?;
        if out.iter().any(|(o, _)| *o == oid.raw) {
            return Err(TsaError::SignedAttributes(
                "an attribute type appears twice".into(),
            ));
        }
        out.push((
            oid.raw,
            der::read_all(values.content, "Attribute.attrValues")?,
        ));
    }
    Ok(Attributes(out))
}

/// ESS (RFC 2634 / RFC 5035): the signing-certificate(-v2) attribute must name the signer's
/// certificate by hash (and serial, when given), so the certificate cannot be swapped.
fn check_ess(attrs: &Attributes<'_>, signer: &X509Certificate<'_>) -> Result<(), TsaError> {
    let mismatch = || TsaError::SigningCertificateMismatch;
    let (values, v2) = match (
        attrs.get(OID_ATTR_SIGNING_CERT_V2),
        attrs.get(OID_ATTR_SIGNING_CERT),
    ) {
        (Some(v), _) => (v, true),
        (None, Some(v)) => (v, false),
        (None, None) => {
            return Err(TsaError::SignedAttributes(
                "no ESS signing-certificate(-v2) attribute (RFC 3161 §2.4.2)".into(),
            ))
        }
    };
    let [value] = values.as_slice() else {
        return Err(mismatch());
    };
    if value.tag != TAG_SEQUENCE {
        return Err(mismatch());
    }
    let mut r = Reader::new(value.content);
    let certs = r.expect(TAG_SEQUENCE, "SigningCertificate.certs")?;
    let first = Reader::new(certs.content).expect(TAG_SEQUENCE, "ESSCertID")?;
    let mut r = Reader::new(first.content);
    let hash = if v2 {
        match r.optional(TAG_SEQUENCE, "ESSCertIDv2.hashAlgorithm")? {
            Some(alg) => Some(alg::hash_alg(&alg, "ESSCertIDv2.hashAlgorithm")?),
            None => Some(HashAlg::Sha256),
        }
    } else {
        None
    };
    let cert_hash = r.expect(TAG_OCTET_STRING, "ESSCertID.certHash")?.content;
    let actual = match hash {
        Some(h) => h.digest(signer.as_raw()),
        None => ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, signer.as_raw())
            .as_ref()
            .to_vec(),
    };
    if cert_hash != actual.as_slice() {
        return Err(mismatch());
    }
    if let Some(issuer_serial) = r.optional(TAG_SEQUENCE, "ESSCertID.issuerSerial")? {
        let mut ir = Reader::new(issuer_serial.content);
        ir.expect(TAG_SEQUENCE, "IssuerSerial.issuer")?;
        let serial = ir.expect(TAG_INTEGER, "IssuerSerial.serialNumber")?;
        if der::integer(&serial, "IssuerSerial.serialNumber")? != signer.raw_serial() {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// Reads a TSTInfo (RFC 3161 §2.4.2).
pub(crate) fn tst_info(input: &[u8]) -> Result<TstInfo<'_>, TsaError> {
    let what = "TSTInfo";
    let seq = read_one(input, TAG_SEQUENCE, what)?;
    let mut r = Reader::new(seq.content);
    let version = r.expect(TAG_INTEGER, "TSTInfo.version")?;
    if der::small_uint(&version, "TSTInfo.version")? != 1 {
        return Err(TsaError::Malformed("TSTInfo version is not 1".into()));
    }
    let policy = r.expect(TAG_OID, "TSTInfo.policy")?;
    let policy = der::oid_to_string(policy.content, "TSTInfo.policy")?;
    let imprint = r.expect(TAG_SEQUENCE, "TSTInfo.messageImprint")?;
    let mut ir = Reader::new(imprint.content);
    let imprint_alg = alg::hash_alg(
        &ir.expect(TAG_SEQUENCE, "messageImprint.hashAlgorithm")?,
        "messageImprint.hashAlgorithm",
    )?;
    let hashed = ir.expect(TAG_OCTET_STRING, "messageImprint.hashedMessage")?;
    ir.finish("MessageImprint")?;
    let serial = r.expect(TAG_INTEGER, "TSTInfo.serialNumber")?;
    let serial = der::integer(&serial, "TSTInfo.serialNumber")?;
    let gen_time = r.expect(TAG_GENERALIZED_TIME, "TSTInfo.genTime")?;
    let gen_time_millis = der::parse_generalized_time_millis(gen_time.content)?;
    r.optional(TAG_SEQUENCE, "TSTInfo.accuracy")?;
    if let Some(ordering) = r.optional(TAG_BOOLEAN, "TSTInfo.ordering")? {
        der::boolean(&ordering, "TSTInfo.ordering")?;
    }
    let nonce = match r.optional(TAG_INTEGER, "TSTInfo.nonce")? {
        Some(n) => Some(der::integer(&n, "TSTInfo.nonce")?),
        None => None,
    };
    r.optional(TAG_CTX0, "TSTInfo.tsa")?;
    r.optional(TAG_CTX1, "TSTInfo.extensions")?;
    r.finish(what)?;
    Ok(TstInfo {
        policy,
        imprint_alg,
        imprint: hashed.content,
        serial,
        gen_time_millis,
        nonce,
    })
}

fn parse_certs<'a>(
    ders: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<X509Certificate<'a>>, TsaError> {
    let mut out = Vec::new();
    for der in ders {
        if out.len() >= MAX_CERTS {
            return Err(TsaError::Malformed(format!(
                "more than {MAX_CERTS} certificates"
            )));
        }
        // A certificate that does not parse cannot be on the path; it is left out, not fatal.
        if let Ok(([], cert)) = X509Certificate::from_der(der) {
            out.push(cert);
        }
    }
    Ok(out)
}

/// The signer must be a timestamping certificate (RFC 3161 §2.3): extKeyUsage critical with
/// id-kp-timeStamping as its only purpose; keyUsage, if present, allows signatures.
pub(crate) fn check_timestamping_cert(cert: &X509Certificate<'_>) -> Result<(), TsaError> {
    let subject = cert.subject().to_string();
    let eku = match cert.extended_key_usage() {
        Ok(Some(eku)) => eku,
        Ok(None) => {
            return Err(TsaError::NotATimestampingCert(format!(
                "{subject}: no extKeyUsage"
            )))
        }
        Err(e) => return Err(TsaError::NotATimestampingCert(format!("{subject}: {e}"))),
    };
    let v = eku.value;
    if !eku.critical {
        return Err(TsaError::NotATimestampingCert(format!(
            "{subject}: extKeyUsage is not critical"
        )));
    }
    let only_timestamping = v.time_stamping
        && !(v.any
            || v.server_auth
            || v.client_auth
            || v.code_signing
            || v.email_protection
            || v.ocsp_signing)
        && v.other.is_empty();
    if !only_timestamping {
        return Err(TsaError::NotATimestampingCert(format!(
            "{subject}: extKeyUsage is not exactly id-kp-timeStamping"
        )));
    }
    match cert.key_usage() {
        Ok(Some(ku)) if !(ku.value.digital_signature() || ku.value.non_repudiation()) => Err(
            TsaError::NotATimestampingCert(format!("{subject}: keyUsage forbids signatures")),
        ),
        Ok(_) => Ok(()),
        Err(e) => Err(TsaError::NotATimestampingCert(format!("{subject}: {e}"))),
    }
}

fn valid_at(cert: &X509Certificate<'_>, unix: i64) -> bool {
    let v = cert.validity();
    v.not_before.timestamp() <= unix && unix <= v.not_after.timestamp()
}

/// `child`'s signature verifies under `parent`'s key.
pub(crate) fn issued_by(
    child: &X509Certificate<'_>,
    parent: &X509Certificate<'_>,
) -> Result<(), TsaError> {
    if child.issuer().as_raw() != parent.subject().as_raw() {
        return Err(TsaError::UntrustedChain(
            "issuer name does not match".into(),
        ));
    }
    let key = alg::ec_key(parent.public_key().raw)?;
    let sig = &child.signature_value;
    if sig.unused_bits != 0 {
        return Err(TsaError::Malformed(
            "certificate signature BIT STRING".into(),
        ));
    }
    let sig_oid = der::tlv(TAG_OID, child.signature_algorithm.algorithm.as_bytes());
    alg::verify_ecdsa(
        &key,
        &sig_oid,
        child.tbs_certificate.as_ref(),
        &sig.data,
        "certificate signature",
    )
}

/// A path from `leaf` to one of `roots` through CA certificates of `pool`, every certificate on
/// it valid at `at` (the timestamp's time, as RFC 3161 Appendix B and sigstore-python do). A root
/// is a trust anchor: its own signature is not checked, its validity and CA flag are.
pub(crate) fn chain_to_root(
    leaf: &X509Certificate<'_>,
    pool: &[X509Certificate<'_>],
    roots: &[X509Certificate<'_>],
    at: i64,
) -> Result<(), TsaError> {
    if roots.iter().any(|r| r.as_raw() == leaf.as_raw()) {
        return Ok(());
    }
    let mut current = leaf;
    for _ in 0..MAX_CHAIN_DEPTH {
        let usable = |c: &&X509Certificate<'_>| {
            c.as_raw() != current.as_raw()
                && c.is_ca()
                && valid_at(c, at)
                && issued_by(current, c).is_ok()
        };
        if roots.iter().any(|r| usable(&r)) {
            return Ok(());
        }
        match pool.iter().find(usable) {
            Some(next) => current = next,
            None => break,
        }
    }
    Err(TsaError::UntrustedChain(format!(
        "no path from {} to a trusted root valid at the timestamp's time",
        leaf.subject()
    )))
}
