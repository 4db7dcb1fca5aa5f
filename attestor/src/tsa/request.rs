//! TimeStampReq (RFC 3161 §2.4.1): reading one from untrusted bytes, and writing one.
//!
//! ```text
//! TimeStampReq ::= SEQUENCE {
//!    version          INTEGER { v1(1) },
//!    messageImprint   MessageImprint,
//!    reqPolicy        TSAPolicyId              OPTIONAL,
//!    nonce            INTEGER                  OPTIONAL,
//!    certReq          BOOLEAN                  DEFAULT FALSE,
//!    extensions       [0] IMPLICIT Extensions  OPTIONAL }
//! MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
//! ```

use super::alg::{self, HashAlg};
use super::der::{
    self, Reader, TAG_BOOLEAN, TAG_CTX0, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE,
};
use super::{FailureInfo, TsaError};

/// Largest request accepted: a SHA-512 imprint, a long nonce and a policy fit in a few hundred
/// bytes; anything near this is not a timestamp request.
pub(crate) const MAX_REQUEST_LEN: usize = 16 * 1024;
/// Longest nonce accepted (RFC 3161 sets no bound; clients send 64 to 160 bits).
pub(crate) const MAX_NONCE_LEN: usize = 64;

/// A request we can answer.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// The whole MessageImprint element, echoed into TSTInfo byte for byte (§2.4.2: "MUST have
    /// the same value as the similar field in TimeStampReq").
    pub(crate) imprint_der: &'a [u8],
    /// The nonce's whole INTEGER element, echoed likewise.
    pub(crate) nonce_der: Option<&'a [u8]>,
    pub(crate) cert_req: bool,
}

/// Why a request is refused: the PKIFailureInfo bit and a statusString for the client.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) fail: FailureInfo,
    pub(crate) text: String,
}

fn reject(fail: FailureInfo, text: impl Into<String>) -> Rejection {
    Rejection {
        fail,
        text: text.into(),
    }
}

fn bad_request(e: TsaError) -> Rejection {
    reject(FailureInfo::BadRequest, e.to_string())
}

/// Reads and judges a request; `policy_der` is our policy OID element.
pub(crate) fn parse<'a>(input: &'a [u8], policy_der: &[u8]) -> Result<Request<'a>, Rejection> {
    if input.len() > MAX_REQUEST_LEN {
        return Err(reject(
            FailureInfo::BadRequest,
            format!("request larger than {MAX_REQUEST_LEN} bytes"),
        ));
    }
    let what = "TimeStampReq";
    let req = der::read_one(input, TAG_SEQUENCE, what).map_err(bad_request)?;
    let mut r = Reader::new(req.content);
    let version = r
        .expect(TAG_INTEGER, "TimeStampReq.version")
        .map_err(bad_request)?;
    if der::small_uint(&version, "TimeStampReq.version").map_err(bad_request)? != 1 {
        return Err(reject(
            FailureInfo::BadRequest,
            "unsupported TimeStampReq version (only v1)",
        ));
    }
    let imprint = r
        .expect(TAG_SEQUENCE, "TimeStampReq.messageImprint")
        .map_err(bad_request)?;
    let mut ir = Reader::new(imprint.content);
    let alg_tlv = ir
        .expect(TAG_SEQUENCE, "messageImprint.hashAlgorithm")
        .map_err(bad_request)?;
    let hashed = ir
        .expect(TAG_OCTET_STRING, "messageImprint.hashedMessage")
        .map_err(bad_request)?;
    ir.finish("MessageImprint").map_err(bad_request)?;
    let hash = match alg::hash_alg(&alg_tlv, "messageImprint.hashAlgorithm") {
        Ok(h) => h,
        Err(e @ TsaError::UnsupportedAlgorithm(_)) => {
            return Err(reject(
                FailureInfo::BadAlg,
                format!("{e}; accepted: SHA-256, SHA-384, SHA-512"),
            ))
        }
        Err(e) => return Err(bad_request(e)),
    };
    if hashed.content.len() != hash.len() {
        return Err(reject(
            FailureInfo::BadDataFormat,
            format!(
                "the hashedMessage has {} bytes; {} gives {}",
                hashed.content.len(),
                hash.name(),
                hash.len()
            ),
        ));
    }
    if let Some(policy) = r
        .optional(TAG_OID, "TimeStampReq.reqPolicy")
        .map_err(bad_request)?
    {
        der::oid_to_string(policy.content, "TimeStampReq.reqPolicy").map_err(bad_request)?;
        if policy.raw != policy_der {
            return Err(reject(
                FailureInfo::UnacceptedPolicy,
                "the requested policy is not this TSA's",
            ));
        }
    }
    let nonce = r
        .optional(TAG_INTEGER, "TimeStampReq.nonce")
        .map_err(bad_request)?;
    if let Some(n) = &nonce {
        let content = der::integer(n, "TimeStampReq.nonce").map_err(bad_request)?;
        if content.len() > MAX_NONCE_LEN {
            return Err(reject(
                FailureInfo::BadRequest,
                format!("nonce longer than {MAX_NONCE_LEN} bytes"),
            ));
        }
    }
    // DER omits a DEFAULT FALSE, but clients do send `certReq FALSE`; both are read.
    let cert_req = match r
        .optional(TAG_BOOLEAN, "TimeStampReq.certReq")
        .map_err(bad_request)?
    {
        Some(b) => der::boolean(&b, "TimeStampReq.certReq").map_err(bad_request)?,
        None => false,
    };
    if r.optional(TAG_CTX0, "TimeStampReq.extensions")
        .map_err(bad_request)?
        .is_some()
    {
        return Err(reject(
            FailureInfo::UnacceptedExtension,
            "this TSA supports no request extensions",
        ));
    }
    r.finish(what).map_err(bad_request)?;
    Ok(Request {
        imprint_der: imprint.raw,
        nonce_der: nonce.map(|n| n.raw),
        cert_req,
    })
}

/// A DER TimeStampReq over SHA-256(`message`), with `nonce` if given and certReq as asked (omitted
/// when false, as DER wants), no policy and no extensions.
pub fn request_for(message: &[u8], nonce: Option<u64>, cert_req: bool) -> Vec<u8> {
    let digest = HashAlg::Sha256.digest(message);
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(1);
            write_imprint(w.next(), HashAlg::Sha256, &digest);
            if let Some(n) = nonce {
                w.next().write_u64(n);
            }
            if cert_req {
                w.next().write_bool(true);
            }
        })
    })
}

/// `MessageImprint { AlgorithmIdentifier { hash } (no parameters), hashedMessage }`.
pub(crate) fn write_imprint(w: yasna::DERWriter<'_>, hash: HashAlg, digest: &[u8]) {
    w.write_sequence(|w| {
        w.next()
            .write_sequence(|w| w.next().write_oid(&der::oid(hash.oid())));
        w.next().write_bytes(digest);
    });
}
